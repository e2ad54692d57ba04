//! The console summary on handmade results: widths, colour, `not run`, the witness
//! wording, the timeline's joined fault windows and the no-expectations headline.

use super::layout::{strip_ansi, visible_width, WIDTH};
use super::{render_console, render_console_styled};
use crate::breaker_state::{BreakerState, Channel};
use crate::metrics::{EventKind, Timeline};
use crate::observe::{ChannelTimeline, Disagreement, Observations};
use crate::report::{
    CheckSummary, GroupSummary, LatencySummary, PartsSummary, PhaseSummary, RunResult,
};
use crate::verdict::{Outcome, Status, Verdict};
use std::time::Duration;

fn group(name: &str, requests: u64) -> GroupSummary {
    let latency = LatencySummary {
        p50: 1.84,
        p90: 9.1,
        p95: 18.2,
        p99: 152.0,
        max: 2100.0,
        mean: 4.0,
    };
    GroupSummary {
        name: name.into(),
        requests,
        errors: 55,
        error_rate: 0.0458,
        latency_ms: latency.clone(),
        service_ms: latency,
        cache_hit_rate: 0.31,
        fallback_rate: 0.125,
        statuses: [(200, 1145), (404, 2), (503, 40)].into(),
        failures: [("timeout".into(), 12), ("reset".into(), 3)].into(),
        ..GroupSummary::default()
    }
}

fn phase(name: &str, start_s: f64) -> PhaseSummary {
    PhaseSummary {
        name: name.into(),
        executor: "constant-arrival-rate".into(),
        start_s,
        duration_s: 4.0,
        fault_profiles: Vec::new(),
        rps: 12345.6,
        dropped: 3,
        interrupted: 0,
        peak_vus: 10,
        iterations: 1200,
        planned_iterations: None,
        done_s: None,
        all: group("*", 12_000_000),
        groups: vec![
            group("item", 11_000_000),
            GroupSummary {
                checks: Some(CheckSummary {
                    passed: 97,
                    failed: 3,
                    rate: 0.97,
                    failures: [("status".into(), 3)].into(),
                }),
                skipped: [("no free data row in users.csv".into(), 4)].into(),
                ..group("a_request_group_with_a_long_name", 1_000_000)
            },
        ],
        users: Vec::new(),
        tags: Vec::new(),
        not_run: false,
    }
}

fn fault(on: bool, id: usize, kind: &str) -> EventKind {
    let (profile, kind) = ("upstream-500".to_string(), kind.to_string());
    if on {
        EventKind::FaultOn {
            fault: id,
            profile,
            kind,
        }
    } else {
        EventKind::FaultOff {
            fault: id,
            profile,
            kind,
        }
    }
}

/// One profile (two faults) over two phases back to back: on at 12 s, off at 19 s, and an
/// off + on of each fault at 15 s where the windows meet.
fn timeline() -> Timeline {
    let s = Duration::from_secs;
    let mut t = Timeline::new();
    for (at, name) in [(0, "warmup"), (4, "baseline"), (12, "induce_failures")] {
        t.push(s(at), EventKind::PhaseStart { phase: name.into() });
    }
    t.push(
        s(15),
        EventKind::PhaseStart {
            phase: "verify_open".into(),
        },
    );
    for (id, kind) in [(0, "latency"), (1, "status")] {
        t.push(s(12), fault(true, id, kind));
        t.push(s(15), fault(false, id, kind));
    }
    for (id, kind) in [(2, "latency"), (3, "status")] {
        t.push(s(15), fault(true, id, kind));
        t.push(s(19), fault(false, id, kind));
    }
    t.push(
        Duration::from_millis(12_250),
        EventKind::Breaker {
            from: Some(BreakerState::Closed),
            to: BreakerState::Open,
            channel: Channel::Endpoint,
            corroborated_by: vec![Channel::Header, Channel::Tap],
        },
    );
    t
}

fn channel(channel: Channel, warnings: Vec<String>) -> ChannelTimeline {
    ChannelTimeline {
        channel,
        resolution: Duration::from_millis(110),
        resolution_basis: "10 ms slot + one client request interval".into(),
        transitions: Vec::new(),
        sees_half_open: true,
        sightings: 10,
        polls: None,
        unknown_values: Default::default(),
        warnings,
    }
}

fn verdict(criterion: &str, expected: &str, measured: &str, status: Status) -> Verdict {
    Verdict {
        criterion: criterion.into(),
        expected: expected.into(),
        measured: measured.into(),
        status,
        evidence: Vec::new(),
        measured_value: None,
        bound: None,
        unit: None,
    }
}

/// A busy result with long names everywhere a name can be long.
fn result() -> RunResult {
    let long = "word ".repeat(40);
    RunResult {
        breakerbox: "0.1.0".into(),
        drill: "a-drill-with-a-rather-long-name-for-a-drill".into(),
        drill_file: "drills/x.toml".into(),
        description: String::new(),
        seed: 18_446_744_073_709_551_615,
        target: format!("http://127.0.0.1:41234/{}", "very/long/path/".repeat(5)),
        started_at: "2026-01-01T00:00:00.000Z".into(),
        started_unix_ms: 0,
        planned_duration_s: 25.0,
        duration_s: 25.0,
        outcome: Outcome::Failed,
        abort_reason: None,
        parts: PartsSummary::default(),
        phases: vec![
            phase("warmup", 0.0),
            phase("a_phase_name_far_longer_than_sixteen", 4.0),
            phase("induce_failures", 12.0),
            phase("verify_open", 15.0),
        ],
        total: group("*", 48_000_000),
        timeline: timeline(),
        observations: Observations {
            trust: Vec::new(),
            channels: vec![
                channel(Channel::Endpoint, Vec::new()),
                channel(Channel::Tap, vec![long.clone()]),
            ],
            best: Vec::new(),
            disagreements: vec![Disagreement {
                channel: Channel::Endpoint,
                said: BreakerState::Open,
                other: Channel::Header,
                other_said: BreakerState::Closed,
                from: Duration::from_millis(12_300),
                until: Duration::from_millis(12_900),
                allowed: Duration::from_millis(200),
                client_requests: 30,
                upstream_attempts: 0,
                upstream_failures: 0,
            }],
        },
        faults: Vec::new(),
        tap: Vec::new(),
        series: Vec::new(),
        setup: Vec::new(),
        teardown: Vec::new(),
        verdicts: vec![
            verdict(
                "fault upstream-500/status witnessed",
                ">= 1 injection",
                "7 injections in induce_failures",
                Status::Pass,
            ),
            verdict(
                "p95 of phase baseline",
                "target <= 20ms, fails > 50ms",
                "18.2ms",
                Status::Pass,
            ),
            verdict(
                "p95 of phase verify_open",
                "<= 50ms",
                "152ms",
                Status::Fail,
            ),
            verdict(
                "error rate of phase a_phase_name_far_longer_than_sixteen, request a_request_group_with_a_long_name",
                "<= 1.00% in every 1s window",
                &format!("4.58% (55 of 1200) {long}"),
                Status::Warn,
            ),
            Verdict {
                evidence: vec![long.clone(), "short evidence".into()],
                ..verdict(
                    "breaker sequence",
                    "closed → open → half_open → closed",
                    "closed → open (endpoint, header, tap)",
                    Status::Fail,
                )
            },
        ],
    }
}

fn assert_fits(text: &str) {
    for line in text.lines() {
        assert!(
            visible_width(line) <= WIDTH,
            "{} columns: {line:?}\n{text}",
            visible_width(line)
        );
    }
}

#[test]
fn every_line_fits_100_columns_coloured_or_not() {
    let r = result();
    let plain = render_console(&r);
    assert_fits(&plain);
    let coloured = render_console_styled(&r, true);
    assert_fits(&coloured);
    assert!(plain.lines().count() > 30, "{plain}");
    // Long names are cut with an ellipsis, not wrapped into the next column.
    assert!(plain.contains("\n  a_phase_name_fa… 12000000 "), "{plain}");
    assert!(plain.contains("\n    a_request_gro…  1000000 "), "{plain}");
    // A long criterion puts its value on the next line, indented.
    let at = plain
        .find("WARN    error rate of phase")
        .expect("the warn row");
    let next = plain[at..].lines().nth(2).expect("a value line");
    assert!(
        next.starts_with("            4.58% (55 of 1200)"),
        "{plain}"
    );
    assert!(plain.contains(" vs ≤ 1.00% in every 1s window"), "{plain}");
    // A short one keeps measured and bound on its line.
    assert!(
        plain
            .lines()
            .any(|l| l.starts_with("  PASS    p95 of phase baseline")
                && l.ends_with("18.2ms vs target ≤ 20ms, fails > 50ms")),
        "{plain}"
    );
    // Evidence of what did not pass is wrapped under its verdict.
    assert!(plain.contains("          · short evidence"), "{plain}");
}

#[test]
fn colour_codes_only_when_asked() {
    let r = result();
    let plain = render_console(&r);
    assert!(!plain.contains('\x1b'), "{plain}");
    let coloured = render_console_styled(&r, true);
    assert!(coloured.contains("\x1b[32mPASS\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[31mFAIL\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[33mWARN\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[1;31mFAILED\x1b[0m"), "{coloured}");
    assert_eq!(
        strip_ansi(&coloured),
        plain,
        "colour adds nothing but colour"
    );
}

#[test]
fn the_phase_table_shows_groups_errors_and_totals() {
    let plain = render_console(&result());
    assert!(
        plain.contains("errors: 3 reset, 12 timeout, 40× 503 · 4xx (not errors): 2× 404"),
        "{plain}"
    );
    assert!(
        plain.contains("3 dropped (due but not started on time)"),
        "{plain}"
    );
    assert!(
        plain.contains("checks 97.0% passed (3 failed: 3 status)"),
        "{plain}"
    );
    assert!(
        plain.contains("4 skipped: no free data row in users.csv"),
        "{plain}"
    );
    let header = plain
        .lines()
        .find(|l| l.contains("requests"))
        .expect("header");
    for column in [
        "p50", "p95", "p99", "svc p95", "errors", "cache", "fallback",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let total = plain
        .lines()
        .find(|l| l.starts_with("  total"))
        .expect("total");
    assert!(total.contains("48000000"), "{total}");
    assert!(total.contains(" 1920000 "), "48M requests in 25 s: {total}");
}

#[test]
fn phases_an_abort_skipped_say_not_run() {
    let mut r = result();
    r.outcome = Outcome::Aborted;
    r.abort_reason = Some("interrupted (Ctrl-C)".into());
    r.duration_s = 13.2;
    r.phases[3] = PhaseSummary {
        not_run: true,
        all: GroupSummary::default(),
        groups: Vec::new(),
        rps: 0.0,
        ..phase("verify_open", 15.0)
    };
    r.verdicts[2].status = Status::NotRun;
    r.verdicts[2].measured = "the run stopped before phase verify_open began".into();
    let plain = render_console(&r);
    assert_fits(&plain);
    assert!(
        plain.lines().any(|l| l == "  verify_open      not run"),
        "{plain}"
    );
    assert!(
        plain.contains("  NOT RUN p95 of phase verify_open"),
        "{plain}"
    );
    assert!(
        !plain.contains("FAIL    p95 of phase verify_open"),
        "{plain}"
    );
    let last: Vec<&str> = plain.trim_end().lines().rev().take(2).collect();
    assert_eq!(
        last,
        [
            "  not run: verify_open · judged before the stop: 3 passed, 1 failed, 1 not run",
            "ABORTED after 13.2s: interrupted (Ctrl-C)",
        ],
        "{plain}"
    );
    assert!(plain.contains("ran 13.2s of 25.0s"), "{plain}");
    let coloured = render_console_styled(&r, true);
    assert!(coloured.contains("\x1b[2mNOT RUN\x1b[0m"), "{coloured}");
    assert!(
        coloured.contains("\x1b[2mverify_open      not run\x1b[0m"),
        "{coloured}"
    );
}

#[test]
fn a_witness_line_keeps_its_phases_apart_from_its_count() {
    let plain = render_console(&result());
    let line = plain
        .lines()
        .find(|l| l.contains("fault upstream-500/status witnessed"))
        .expect("witness row");
    assert!(line.contains("7 injections in induce_failures"), "{line}");
    assert!(!line.contains("verify_open"), "{line}");
    // The criterion column ends before the value starts.
    assert!(line.contains("witnessed  "), "{line}");
    assert!(
        line.ends_with("7 injections in induce_failures vs ≥ 1 injection"),
        "{line}"
    );
}

#[test]
fn a_fault_spanning_two_phases_is_one_window_on_the_timeline() {
    let plain = render_console(&result());
    let section: Vec<&str> = plain
        .split("\ntimeline\n")
        .nth(1)
        .expect("timeline")
        .lines()
        .take_while(|l| !l.is_empty())
        .collect();
    let faults: Vec<&&str> = section.iter().filter(|l| l.contains("fault")).collect();
    assert_eq!(
        faults,
        [
            &"    12.0s  fault on   upstream-500 (latency, status)",
            &"    19.0s  fault off  upstream-500 (latency, status)",
        ],
        "{plain}"
    );
    assert!(section
        .iter()
        .any(|l| l.starts_with("    15.0s  phase verify_open")));
    assert!(
        section
            .iter()
            .any(|l| l.starts_with("    12.2s  breaker closed → open")
                && l.ends_with("seen by endpoint, header, tap")),
        "{plain}"
    );
}

#[test]
fn a_drill_with_no_expectations_is_not_called_a_pass() {
    let mut r = result();
    r.outcome = Outcome::Unjudged;
    r.verdicts.clear();
    let plain = render_console(&r);
    assert!(!plain.contains("PASSED"), "{plain}");
    assert!(
        plain.contains("(none: the drill states no expectations)"),
        "{plain}"
    );
    let last = plain.trim_end().lines().last().expect("headline");
    assert_eq!(
        last,
        "NOT JUDGED: the drill states no expectations, so nothing was judged; exit 0"
    );
    assert!(plain.contains("outcome NOT JUDGED"), "{plain}");
}

#[test]
fn channels_and_their_disagreements_are_listed() {
    let plain = render_console(&result());
    assert!(plain.contains("\nbreaker channels\n  endpoint    0 transitions, ±110ms"));
    assert!(plain.contains("    ! word word"), "{plain}");
    assert!(
        plain.contains("1 disagreement beyond the combined resolution"),
        "{plain}"
    );
    assert!(
        plain.contains("12.3s–12.9s  endpoint said open, header said closed"),
        "{plain}"
    );
}
