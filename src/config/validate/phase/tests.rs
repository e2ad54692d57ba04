use crate::config::{parse_drill, EmbeddedProfiles, LoadShape, OpenPool, RateStage, Stage};
use std::time::Duration;

/// Parses a drill whose one phase is `phase` (its first line is line 5).
fn parse(phase: &str) -> Result<crate::config::Drill, Vec<String>> {
    let text = format!("[[requests]]\nname = \"r\"\npath = \"/\"\n[[phases]]\n{phase}\n");
    parse_drill("d.toml", &text, &EmbeddedProfiles(&[])).map_err(|e| {
        e.diagnostics()
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect()
    })
}

fn shape(phase: &str) -> (LoadShape, Duration) {
    let drill = parse(phase).unwrap_or_else(|e| panic!("valid: {e:#?}"));
    let p = &drill.phases[0];
    (p.load.clone(), p.duration)
}

fn problems(phase: &str) -> Vec<String> {
    parse(phase).err().unwrap_or_default()
}

#[test]
fn constant_vus_reads_vus_duration_and_think_time() {
    let (load, duration) = shape(
        "name = \"p\"\nexecutor = \"constant-vus\"\nvus = 8\nduration = \"30s\"\nthink_time = \"250ms\"",
    );
    assert_eq!(
        load,
        LoadShape::ConstantVus {
            vus: 8,
            think_time: crate::config::ThinkTime::Constant(Duration::from_millis(250))
        }
    );
    assert_eq!(duration, Duration::from_secs(30));
    assert_eq!(load.executor(), "constant-vus");
    assert_eq!(load.peak_workers(), 8);
}

#[test]
fn ramping_arrival_rate_takes_fractional_rates_and_its_length_from_the_stages() {
    let (load, duration) = shape(
        "name = \"p\"\nexecutor = \"ramping-arrival-rate\"\nstart_rate = 0.5\nmax_vus = 40\nstages = [{ duration = \"10s\", target = 50 }, { duration = \"5s\", target = 2.5 }]",
    );
    let stage = |secs, target| RateStage {
        duration: Duration::from_secs(secs),
        target,
    };
    assert_eq!(
        load,
        LoadShape::RampingArrivalRate {
            start_rate: 0.5,
            stages: vec![stage(10, 50.0), stage(5, 2.5)],
            // 50 ms of the opening 0.5/s rounds up to one worker.
            pool: OpenPool {
                pre_allocated_vus: 1,
                max_vus: 40
            }
        }
    );
    assert_eq!(duration, Duration::from_secs(15));
    assert_eq!(load.peak_workers(), 40);
    // start_rate defaults to 0 and max_vus to 100.
    let (load, _) = shape(
        "name = \"p\"\nexecutor = \"ramping-arrival-rate\"\nstages = [{ duration = \"1s\", target = 5 }]",
    );
    assert!(matches!(
        load,
        LoadShape::RampingArrivalRate { start_rate, pool: OpenPool { max_vus: 100, .. }, .. } if start_rate == 0.0
    ));
}

#[test]
fn open_pools_default_to_50_ms_of_arrivals_and_honour_what_is_given() {
    let pool = |phase: &str| match shape(phase).0 {
        LoadShape::ConstantArrivalRate { pool, .. }
        | LoadShape::RampingArrivalRate { pool, .. } => pool,
        other => panic!("open model expected: {other:?}"),
    };
    let car = "name = \"p\"\nexecutor = \"constant-arrival-rate\"\nduration = \"1s\"\n";
    let open = |pre_allocated_vus, max_vus| OpenPool {
        pre_allocated_vus,
        max_vus,
    };
    assert_eq!(pool(&format!("{car}rate = 1000")), open(50, 100));
    assert_eq!(
        pool(&format!("{car}rate = 1000\nmax_vus = 20")),
        open(20, 20)
    );
    assert_eq!(
        pool(&format!(
            "{car}rate = 10\npre_allocated_vus = 30\nmax_vus = 40"
        )),
        open(30, 40)
    );
    // Pre-allocating more than 100 raises the default maximum with it (as in k6).
    assert_eq!(
        pool(&format!("{car}rate = 10\npre_allocated_vus = 300")),
        open(300, 300)
    );
    assert_eq!(
        problems(&format!(
            "{car}rate = 10\npre_allocated_vus = 30\nmax_vus = 20"
        )),
        vec!["9:21: pre_allocated_vus (30) is more than max_vus (20)"]
    );
    assert_eq!(
        problems(&format!("{car}rate = 0\nmax_vus = 200000")),
        vec![
            "8:8: rate must be between 0.001 and 1000000 requests per second, not 0.0",
            "9:11: max_vus must be between 1 and 100000",
        ]
    );
}

#[test]
fn iteration_executors_read_vus_iterations_and_max_duration() {
    let (load, duration) = shape(
        "name = \"p\"\nexecutor = \"per-vu-iterations\"\nvus = 4\niterations = 5\nmax_duration = \"30s\"\nthink_time = \"1s\"",
    );
    assert_eq!(
        load,
        LoadShape::PerVuIterations {
            vus: 4,
            iterations: 5,
            think_time: crate::config::ThinkTime::Constant(Duration::from_secs(1))
        }
    );
    assert_eq!(duration, Duration::from_secs(30));
    assert_eq!(load.planned_iterations(), Some(20));
    let (load, _) = shape(
        "name = \"p\"\nexecutor = \"shared-iterations\"\nvus = 4\niterations = 10\nmax_duration = \"1m\"",
    );
    assert_eq!(load.executor(), "shared-iterations");
    assert_eq!(
        (load.planned_iterations(), load.peak_workers()),
        (Some(10), 4)
    );
}

#[test]
fn impossible_iteration_phases_are_refused_where_they_stand() {
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"per-vu-iterations\"\nduration = \"10s\""),
        vec![
            "7:12: `duration` does not apply to the per-vu-iterations executor",
            "6:12: per-vu-iterations needs `vus` (virtual users)",
            "6:12: per-vu-iterations needs `iterations` (at least 1)",
            "6:12: per-vu-iterations needs `max_duration`: the phase's slot on the run clock, which the next phase waits for even when the iterations finish sooner",
        ]
    );
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"shared-iterations\"\nvus = 5\niterations = 0\nmax_duration = \"0s\""),
        vec![
            "8:14: iterations must be between 1 and 1000000000",
            "9:16: max_duration must be longer than zero",
        ]
    );
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"shared-iterations\"\nvus = 5\niterations = 3\nmax_duration = \"1s\""),
        vec!["7:7: vus (5) is more than iterations (3): the extra users would have nothing to do"]
    );
}

#[test]
fn graceful_bounds_default_to_30_s_and_ramp_down_is_for_ramping_vus() {
    let drill = parse("name = \"p\"\nexecutor = \"ramping-vus\"\ngraceful_stop = \"2s\"\ngraceful_ramp_down = \"500ms\"\nstages = [{ duration = \"1s\", target = 5 }]")
        .unwrap_or_else(|e| panic!("valid: {e:#?}"));
    let phase = &drill.phases[0];
    assert_eq!(phase.graceful_stop, Duration::from_secs(2));
    assert!(matches!(
        phase.load,
        LoadShape::RampingVus { graceful_ramp_down, .. } if graceful_ramp_down == Duration::from_millis(500)
    ));
    let drill = parse("name = \"p\"\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"1s\"")
        .unwrap_or_else(|e| panic!("valid: {e:#?}"));
    assert_eq!(drill.phases[0].graceful_stop, Duration::from_secs(30));
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"1s\"\ngraceful_ramp_down = \"1s\"\ngraceful_stop = \"soon\""),
        vec![
            "9:22: `graceful_ramp_down` does not apply to the constant-vus executor",
            "10:17: invalid duration \"soon\" (expected number at 0); write e.g. \"250ms\", \"30s\", \"5m\"",
        ]
    );
}

#[test]
fn ramping_vus_still_counts_whole_users() {
    let (load, _) = shape(
        "name = \"p\"\nexecutor = \"ramping-vus\"\nstart_vus = 2\nstages = [{ duration = \"2s\", target = 6 }]",
    );
    let stages = vec![Stage {
        duration: Duration::from_secs(2),
        target: 6,
    }];
    assert_eq!(load.peak_workers(), 6);
    assert!(matches!(load, LoadShape::RampingVus { stages: s, .. } if s == stages));
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"ramping-vus\"\nstages = [{ duration = \"2s\", target = 2.5 }]"),
        vec!["7:39: a stage target must be a whole number of virtual users between 0 and 100000"]
    );
}

#[test]
fn keys_of_another_executor_are_refused_where_they_stand() {
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = 5\nduration = \"1s\"\nthink_time = \"1s\"\nvus = 3"),
        vec![
            "9:14: `think_time` does not apply to the constant-arrival-rate executor",
            "10:7: `vus` does not apply to the constant-arrival-rate executor",
        ]
    );
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"constant-vus\"\nvus = 3\nduration = \"1s\"\nrate = 5\nstages = []"),
        vec![
            "9:8: `rate` does not apply to the constant-vus executor",
            "10:10: `stages` does not apply to the constant-vus executor",
        ]
    );
}

#[test]
fn missing_and_out_of_range_values_point_at_the_phase() {
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"constant-vus\""),
        vec![
            "6:12: constant-vus needs `vus` (virtual users)",
            "6:12: constant-vus needs `duration`",
        ]
    );
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"constant-vus\"\nvus = 0\nduration = \"1s\""),
        vec!["7:7: vus must be between 1 and 100000"]
    );
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"ramping-arrival-rate\""),
        vec!["6:12: ramping-arrival-rate needs `stages`, e.g. [{ duration = \"10s\", target = 50 }] (requests per second)"]
    );
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"ramping-arrival-rate\"\nstart_rate = -1\nstages = [{ duration = \"1s\", target = 2e6 }]"),
        vec![
            "7:14: start_rate must be between 0 and 1000000 requests per second, not -1.0",
            "8:39: a stage target must be between 0 and 1000000 requests per second, not 2000000.0",
        ]
    );
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"ramping-arrival-rate\"\nstages = [{ duration = \"1s\", target = 0 }]"),
        vec!["6:12: every rate of this ramping-arrival-rate phase is 0: it would send nothing"]
    );
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"ramping-arrival-rate\"\nduration = \"3s\"\nstages = [{ duration = \"1s\", target = 5 }]"),
        vec!["7:12: duration 3s differs from the sum of the stages (1s); leave it out"]
    );
}

#[test]
fn an_unknown_executor_lists_all_six() {
    assert_eq!(
        problems("name = \"p\"\nexecutor = \"constant-users\"\nduration = \"1s\""),
        vec!["6:12: unknown executor \"constant-users\" (known: constant-arrival-rate, ramping-arrival-rate, constant-vus, ramping-vus, per-vu-iterations, shared-iterations)"]
    );
}
