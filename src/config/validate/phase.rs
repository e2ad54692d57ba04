//! Phases: names, executors and their load shapes, fault profiles.

use super::fault::profile;
use super::{duration, opt_duration, positive_duration, Checker};
use super::{MAX_RATE, MAX_VUS, MIN_RATE};
use crate::config::raw;
use crate::config::*;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use toml::Spanned;

/// The executors a phase can use: the one list a new executor joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExecutorName {
    ConstantArrivalRate,
    RampingArrivalRate,
    ConstantVus,
    RampingVus,
}

impl ExecutorName {
    const ALL: [ExecutorName; 4] = [
        ExecutorName::ConstantArrivalRate,
        ExecutorName::RampingArrivalRate,
        ExecutorName::ConstantVus,
        ExecutorName::RampingVus,
    ];

    fn name(self) -> &'static str {
        match self {
            ExecutorName::ConstantArrivalRate => "constant-arrival-rate",
            ExecutorName::RampingArrivalRate => "ramping-arrival-rate",
            ExecutorName::ConstantVus => "constant-vus",
            ExecutorName::RampingVus => "ramping-vus",
        }
    }

    /// The load keys this executor reads (`name`, `executor` and `faults` apply to all).
    fn keys(self) -> &'static [&'static str] {
        match self {
            ExecutorName::ConstantArrivalRate => &["duration", "rate", "max_vus"],
            ExecutorName::RampingArrivalRate => &["duration", "start_rate", "stages", "max_vus"],
            ExecutorName::ConstantVus => &["duration", "vus", "think_time"],
            ExecutorName::RampingVus => &["duration", "start_vus", "stages", "think_time"],
        }
    }
}

pub(super) fn phases(
    c: &mut Checker,
    raw: &[raw::PhaseFile],
    profiles: &dyn ProfileSource,
) -> Vec<Phase> {
    if raw.is_empty() {
        c.whole_file("no [[phases]]: a drill needs at least one phase");
    }
    let mut names = HashSet::new();
    // Each profile is read and checked once, however many phases name it: a bad profile is
    // one set of problems, not one per phase.
    let mut loaded: HashMap<String, Option<FaultProfile>> = HashMap::new();
    raw.iter()
        .map(|p| {
            c.unique(&mut names, &p.name, "phase name");
            let (load, duration) = load_shape(c, p);
            let faults = p
                .faults
                .iter()
                .filter_map(|name| {
                    if let Some(known) = loaded.get(name.get_ref()) {
                        return known.clone();
                    }
                    let found = match profiles.read(name.get_ref()) {
                        Ok((shown, text)) => match profile(name.get_ref(), &shown, &text) {
                            Ok(profile) => Some(profile),
                            Err(mut problems) => {
                                c.problems.append(&mut problems);
                                None
                            }
                        },
                        Err(why) => {
                            c.at(name.span(), why);
                            None
                        }
                    };
                    loaded.insert(name.get_ref().clone(), found.clone());
                    found
                })
                .collect();
            Phase {
                name: p.name.get_ref().clone(),
                duration,
                load,
                faults,
            }
        })
        .collect()
}

fn load_shape(c: &mut Checker, p: &raw::PhaseFile) -> (LoadShape, Duration) {
    let given = p.executor.get_ref().as_str();
    let Some(executor) = ExecutorName::ALL.into_iter().find(|e| e.name() == given) else {
        let known: Vec<&str> = ExecutorName::ALL.iter().map(|e| e.name()).collect();
        c.at(
            p.executor.span(),
            format!("unknown executor \"{given}\" (known: {})", known.join(", ")),
        );
        let duration = opt_duration(c, &p.duration).unwrap_or(Duration::from_secs(1));
        let placeholder = LoadShape::ConstantArrivalRate {
            rate: 1.0,
            max_vus: 1,
        };
        return (placeholder, duration);
    };
    let name = executor.name();
    for (key, span) in load_keys_set(p) {
        if !executor.keys().contains(&key) {
            c.at(
                span,
                format!("`{key}` does not apply to the {name} executor"),
            );
        }
    }
    let default_max_vus = 100;
    match executor {
        ExecutorName::ConstantArrivalRate => {
            let rate = match &p.rate {
                None => {
                    c.at(
                        p.executor.span(),
                        "constant-arrival-rate needs `rate` (requests per second)",
                    );
                    1.0
                }
                Some(r) => rate(c, r, "rate", MIN_RATE),
            };
            let duration = required_duration(c, p, name);
            let max_vus = c.count(&p.max_vus, "max_vus", 1..=MAX_VUS, default_max_vus);
            (LoadShape::ConstantArrivalRate { rate, max_vus }, duration)
        }
        ExecutorName::RampingArrivalRate => {
            let start_rate = p
                .start_rate
                .as_ref()
                .map_or(0.0, |r| rate(c, r, "start_rate", 0.0));
            let example = "[{ duration = \"10s\", target = 50 }] (requests per second)";
            let stages: Vec<RateStage> = stages(c, p, name, example)
                .into_iter()
                .map(|(duration, target)| RateStage {
                    duration,
                    target: rate(c, target, "a stage target", 0.0),
                })
                .collect();
            let total = stages_duration(c, p, stages.iter().map(|s| s.duration));
            let all_zero = start_rate == 0.0 && stages.iter().all(|s| s.target == 0.0);
            if all_zero && !stages.is_empty() {
                c.at(
                    p.executor.span(),
                    "every rate of this ramping-arrival-rate phase is 0: it would send nothing",
                );
            }
            let max_vus = c.count(&p.max_vus, "max_vus", 1..=MAX_VUS, default_max_vus);
            let load = LoadShape::RampingArrivalRate {
                start_rate,
                stages,
                max_vus,
            };
            (load, total)
        }
        ExecutorName::ConstantVus => {
            let vus = match &p.vus {
                None => {
                    c.at(
                        p.executor.span(),
                        "constant-vus needs `vus` (virtual users)",
                    );
                    1
                }
                Some(_) => c.count(&p.vus, "vus", 1..=MAX_VUS, 1),
            };
            let duration = required_duration(c, p, name);
            let think_time = opt_duration(c, &p.think_time).unwrap_or_default();
            (LoadShape::ConstantVus { vus, think_time }, duration)
        }
        ExecutorName::RampingVus => {
            let start_vus = c.count(&p.start_vus, "start_vus", 0..=MAX_VUS, 0);
            let example = "[{ duration = \"10s\", target = 20 }]";
            let stages: Vec<Stage> = stages(c, p, name, example)
                .into_iter()
                .map(|(duration, target)| Stage {
                    duration,
                    target: vus_target(c, target),
                })
                .collect();
            let total = stages_duration(c, p, stages.iter().map(|s| s.duration));
            let think_time = opt_duration(c, &p.think_time).unwrap_or_default();
            let load = LoadShape::RampingVus {
                start_vus,
                stages,
                think_time,
            };
            (load, total)
        }
    }
}

/// The load keys a phase sets, with where each is, in file order.
fn load_keys_set(p: &raw::PhaseFile) -> Vec<(&'static str, Range<usize>)> {
    let span = |key, s: Option<Range<usize>>| s.map(|s| (key, s));
    let mut set = [
        span("duration", p.duration.as_ref().map(Spanned::span)),
        span("rate", p.rate.as_ref().map(Spanned::span)),
        span("start_rate", p.start_rate.as_ref().map(Spanned::span)),
        span("vus", p.vus.as_ref().map(Spanned::span)),
        span("max_vus", p.max_vus.as_ref().map(Spanned::span)),
        span("start_vus", p.start_vus.as_ref().map(Spanned::span)),
        span("stages", p.stages.as_ref().map(Spanned::span)),
        span("think_time", p.think_time.as_ref().map(Spanned::span)),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    set.sort_by_key(|(_, span)| span.start);
    set
}

/// A rate in requests per second between `low` and [`MAX_RATE`]; out of range is
/// reported and read as clamped.
fn rate(c: &mut Checker, r: &Spanned<f64>, what: &str, low: f64) -> f64 {
    let v = *r.get_ref();
    if !(low..=MAX_RATE).contains(&v) {
        c.at(
            r.span(),
            format!("{what} must be between {low} and {MAX_RATE} requests per second, not {v:?}"),
        );
        return if v.is_nan() {
            1.0
        } else {
            v.clamp(low.max(MIN_RATE), MAX_RATE)
        };
    }
    v
}

/// A ramping-vus stage target: a whole number of virtual users up to [`MAX_VUS`].
fn vus_target(c: &mut Checker, target: &Spanned<f64>) -> usize {
    let v = *target.get_ref();
    if !(0.0..=MAX_VUS as f64).contains(&v) || v.fract() != 0.0 {
        c.at(
            target.span(),
            format!(
                "a stage target must be a whole number of virtual users between 0 and {MAX_VUS}"
            ),
        );
        return if v.is_nan() {
            0
        } else {
            v.clamp(0.0, MAX_VUS as f64) as usize
        };
    }
    v as usize
}

/// `duration`, required by the executors that do not take it from stages.
fn required_duration(c: &mut Checker, p: &raw::PhaseFile, executor: &str) -> Duration {
    match &p.duration {
        None => {
            c.at(p.executor.span(), format!("{executor} needs `duration`"));
            Duration::from_secs(1)
        }
        Some(d) => positive_duration(c, d, "duration"),
    }
}

/// The stages of a ramping executor, each with its duration checked, and their targets
/// left to the executor to read.
fn stages<'p>(
    c: &mut Checker,
    p: &'p raw::PhaseFile,
    executor: &str,
    example: &str,
) -> Vec<(Duration, &'p Spanned<f64>)> {
    match &p.stages {
        None => {
            c.at(
                p.executor.span(),
                format!("{executor} needs `stages`, e.g. {example}"),
            );
            Vec::new()
        }
        Some(s) if s.get_ref().is_empty() => {
            c.at(s.span(), "stages must not be empty");
            Vec::new()
        }
        Some(s) => s
            .get_ref()
            .iter()
            .map(|st| {
                let duration = positive_duration(c, &st.duration, "a stage duration");
                (duration, &st.target)
            })
            .collect(),
    }
}

/// The phase length of a ramping executor: the sum of its stages. A stated `duration`
/// must agree with it.
fn stages_duration(
    c: &mut Checker,
    p: &raw::PhaseFile,
    stages: impl Iterator<Item = Duration>,
) -> Duration {
    let total: Duration = stages.sum();
    if let Some(d) = &p.duration {
        if let Some(stated) = duration(c, d).filter(|stated| *stated != total) {
            c.at(
                d.span(),
                format!(
                    "duration {} differs from the sum of the stages ({}); leave it out",
                    humantime::format_duration(stated),
                    humantime::format_duration(total)
                ),
            );
        }
    }
    if total > super::MAX_DURATION {
        c.at(p.executor.span(), "the stages add up to more than a year");
    }
    total
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_drill, EmbeddedProfiles, LoadShape, RateStage, Stage};
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
                think_time: Duration::from_millis(250)
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
                max_vus: 40
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
            LoadShape::RampingArrivalRate { start_rate, max_vus: 100, .. } if start_rate == 0.0
        ));
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
    fn an_unknown_executor_lists_all_four() {
        assert_eq!(
            problems("name = \"p\"\nexecutor = \"constant-users\"\nduration = \"1s\""),
            vec!["6:12: unknown executor \"constant-users\" (known: constant-arrival-rate, ramping-arrival-rate, constant-vus, ramping-vus)"]
        );
    }
}
