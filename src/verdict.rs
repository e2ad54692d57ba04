//! The verdict: each expectation judged against what was measured, with the evidence.
//!
//! A pure function of metrics, timeline, fault witnesses and expectations: it runs
//! nothing and reads no clock, so a result can be re-judged.

use crate::breaker_state::BreakerState;
use crate::config::{Bound, BreakerExpectations, Expectations, Threshold};
use crate::metrics::{RunMetrics, Timeline};
use serde::Serialize;
use std::time::Duration;

/// How one expectation came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The expectation holds.
    Pass,
    /// The expectation does not hold.
    Fail,
    /// The run cannot judge it: what it relies on never happened (e.g. a fault never fired).
    Invalid,
}

/// One judged expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// What was expected, in words (`p95 of phase baseline`).
    pub criterion: String,
    /// The bound (`<= 100ms`).
    pub expected: String,
    /// What was measured, beside the bound.
    pub measured: String,
    /// The outcome.
    pub status: Status,
}

/// What the tap saw of one fault of a profile, over every phase that applied it.
///
/// A fault counts as witnessed if it fired in any of its windows: once a breaker opens,
/// later windows may rightly see no upstream traffic at all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultWitness {
    /// Profile the fault belongs to.
    pub profile: String,
    /// Position of the fault in the profile.
    pub slot: usize,
    /// Fault kind.
    pub kind: String,
    /// Phases whose windows opened during the run.
    pub phases: Vec<String>,
    /// Times the proxy applied it, all windows together.
    pub injected: u64,
}

/// The run's overall outcome, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Stopped before its end (Ctrl-C).
    Aborted,
    /// Something the judgement relies on never happened.
    Invalid,
    /// At least one expectation failed.
    Failed,
    /// Every expectation held.
    Passed,
}

impl Outcome {
    /// The process exit code for this outcome (see docs/drill-reference.md).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Passed => 0,
            Outcome::Failed => 1,
            Outcome::Aborted => 3,
            Outcome::Invalid => 4,
        }
    }
}

/// Judges every expectation, plus one witness criterion per fault that should have fired.
pub fn judge(
    expect: &Expectations,
    metrics: &RunMetrics,
    timeline: &Timeline,
    witnesses: &[FaultWitness],
) -> Vec<Verdict> {
    let mut verdicts: Vec<Verdict> = witnesses.iter().map(witness).collect();
    let crashed = metrics.crashed_workers();
    if crashed > 0 {
        verdicts.push(Verdict {
            criterion: "every load worker finished".into(),
            expected: "0 crashed".into(),
            measured: format!("{crashed} crashed; their samples are lost"),
            status: Status::Invalid,
        });
    }
    verdicts.extend(expect.thresholds.iter().map(|t| threshold(t, metrics)));
    if let Some(b) = &expect.breaker {
        verdicts.extend(breaker(b, metrics, timeline));
    }
    verdicts
}

/// The outcome of a run with these verdicts.
pub fn outcome(verdicts: &[Verdict], aborted: bool) -> Outcome {
    if aborted {
        Outcome::Aborted
    } else if verdicts.iter().any(|v| v.status == Status::Invalid) {
        Outcome::Invalid
    } else if verdicts.iter().any(|v| v.status == Status::Fail) {
        Outcome::Failed
    } else {
        Outcome::Passed
    }
}

fn witness(w: &FaultWitness) -> Verdict {
    Verdict {
        criterion: format!(
            "fault {}/{} witnessed in {}",
            w.profile,
            w.kind,
            w.phases.join(", ")
        ),
        expected: ">= 1 injection".into(),
        measured: format!("{} injections", w.injected),
        status: if w.injected > 0 {
            Status::Pass
        } else {
            Status::Invalid
        },
    }
}

fn scope_name(t: &Threshold) -> String {
    match (&t.phase, &t.request) {
        (Some(p), Some(r)) => format!("phase {p}, request {r}"),
        (Some(p), None) => format!("phase {p}"),
        (None, Some(r)) => format!("request {r}"),
        (None, None) => "whole run".into(),
    }
}

fn threshold(t: &Threshold, metrics: &RunMetrics) -> Verdict {
    let (metric, expected) = match t.bound {
        Bound::LatencyAtMost { quantile, limit } => (
            format!("p{}", quantile_label(quantile)),
            format!("<= {}", ms(limit)),
        ),
        Bound::MaxErrorRate(r) => ("error rate".into(), format!("<= {}", pct(r))),
        Bound::MinCacheHitRate(r) => ("cache-hit rate".into(), format!(">= {}", pct(r))),
        Bound::MinFallbackRate(r) => ("fallback rate".into(), format!(">= {}", pct(r))),
        Bound::MaxFallbackRate(r) => ("fallback rate".into(), format!("<= {}", pct(r))),
    };
    let criterion = format!("{metric} of {}", scope_name(t));
    let fail = |measured: String| Verdict {
        criterion: criterion.clone(),
        expected: expected.clone(),
        measured,
        status: Status::Fail,
    };
    let Some(stats) = metrics.scope(t.phase.as_deref(), t.request.as_deref()) else {
        return fail("phase never ran".into());
    };
    if stats.requests < t.min_requests {
        return fail(format!(
            "{} requests, fewer than the {} needed to judge",
            stats.requests, t.min_requests
        ));
    }
    let (measured, holds) = match t.bound {
        Bound::LatencyAtMost { quantile, limit } => match stats.latency(quantile) {
            Some(v) => (ms(v), v <= limit),
            None => ("no latencies recorded".into(), false),
        },
        Bound::MaxErrorRate(r) => {
            // Requests dropped by the open model never got an answer: they count as errors.
            // Drops belong to no request group, so only group-less scopes include them.
            let dropped = match t.request {
                None => metrics.dropped(t.phase.as_deref()),
                Some(_) => 0,
            };
            let failed = stats.errors + dropped;
            let all = stats.requests + dropped;
            let v = if all == 0 {
                0.0
            } else {
                failed as f64 / all as f64
            };
            let detail = if dropped > 0 {
                format!("{} errors + {dropped} dropped of {all}", stats.errors)
            } else {
                format!("{failed} of {all}")
            };
            (format!("{} ({detail})", pct(v)), v <= r)
        }

        Bound::MinCacheHitRate(r) => {
            let v = stats.rate(stats.cache_hits);
            (
                format!("{} ({} of {})", pct(v), stats.cache_hits, stats.requests),
                v >= r,
            )
        }
        Bound::MinFallbackRate(r) | Bound::MaxFallbackRate(r) => {
            let v = stats.rate(stats.fallbacks);
            let holds = if matches!(t.bound, Bound::MinFallbackRate(_)) {
                v >= r
            } else {
                v <= r
            };
            (
                format!("{} ({} of {})", pct(v), stats.fallbacks, stats.requests),
                holds,
            )
        }
    };
    Verdict {
        criterion,
        expected,
        measured,
        status: if holds { Status::Pass } else { Status::Fail },
    }
}

fn breaker(b: &BreakerExpectations, metrics: &RunMetrics, timeline: &Timeline) -> Vec<Verdict> {
    let transitions: Vec<(Duration, BreakerState)> = timeline
        .breaker_transitions()
        .map(|(at, _, to)| (at, to))
        .collect();
    let observed: Vec<BreakerState> = transitions.iter().map(|(_, s)| *s).collect();
    let mut verdicts = Vec::new();
    let verdict = |criterion: &str, expected: String, measured: String, holds: bool| Verdict {
        criterion: criterion.to_string(),
        expected,
        measured,
        status: if holds { Status::Pass } else { Status::Fail },
    };

    if !b.sequence.is_empty() {
        let holds = is_subsequence(&b.sequence, &observed);
        verdicts.push(verdict(
            "breaker sequence",
            join_states(&b.sequence),
            if observed.is_empty() {
                "no breaker state observed".into()
            } else {
                join_states(&observed)
            },
            holds,
        ));
    }

    let fault_on = timeline.first_fault_on();
    let first_open = transitions
        .iter()
        .find(|(at, s)| *s == BreakerState::Open && fault_on.is_some_and(|f| *at >= f))
        .map(|(at, _)| *at);

    if let Some(bound) = b.opens_within {
        let (measured, holds) = match (fault_on, first_open) {
            (None, _) => ("no fault window in the run".into(), false),
            (Some(_), None) => ("never opened after the fault started".into(), false),
            (Some(f), Some(o)) => {
                let took = o - f;
                (
                    format!("opened {} after the fault started", secs(took)),
                    took <= bound,
                )
            }
        };
        verdicts.push(verdict(
            "breaker opens after the fault starts",
            format!("within {}", secs(bound)),
            measured,
            holds,
        ));
    }

    if let Some(wait) = b.half_open_after {
        let half_open = first_open.and_then(|o| {
            transitions
                .iter()
                .find(|(at, s)| *s == BreakerState::HalfOpen && *at >= o)
                .map(|(at, _)| *at - o)
        });
        let (measured, holds) = match (first_open, half_open) {
            (None, _) => ("never opened".into(), false),
            (Some(_), None) => ("never half-open after opening".into(), false),
            (Some(_), Some(took)) => {
                let off = took.abs_diff(wait);
                (
                    format!("half-open {} after opening", secs(took)),
                    off <= b.tolerance,
                )
            }
        };
        verdicts.push(verdict(
            "breaker half-opens after the open duration",
            format!("{} ± {}", secs(wait), secs(b.tolerance)),
            measured,
            holds,
        ));
    }

    if b.fallback_while_open {
        let all = metrics.scope(None, None).unwrap_or_default();
        let open = all.by_state.get(&BreakerState::Open).copied().unwrap_or(0);
        let (measured, holds) = if open == 0 {
            ("no response was served while open".into(), false)
        } else {
            (
                format!(
                    "{} of {open} open responses were neither fallback nor cache hit",
                    all.open_not_degraded
                ),
                all.open_not_degraded == 0,
            )
        };
        verdicts.push(verdict(
            "responses while open are fallbacks",
            "every open response is a fallback or cache hit".into(),
            measured,
            holds,
        ));
    }

    if b.closed_at_end {
        let last = observed.last().copied();
        verdicts.push(verdict(
            "breaker closed at the end",
            "closed".into(),
            last.map(|s| s.to_string())
                .unwrap_or_else(|| "no breaker state observed".into()),
            last == Some(BreakerState::Closed),
        ));
    }
    verdicts
}

fn is_subsequence(wanted: &[BreakerState], seen: &[BreakerState]) -> bool {
    let mut seen = seen.iter();
    wanted.iter().all(|w| seen.any(|s| s == w))
}

fn join_states(states: &[BreakerState]) -> String {
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" → ")
}

fn quantile_label(q: f64) -> String {
    let p = q * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{}", p.round() as u64)
    } else {
        format!("{p}")
    }
}

/// A duration as milliseconds with sensible precision (`0.84ms`, `12.3ms`, `1520ms`).
pub fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 10.0 {
        format!("{v:.2}ms")
    } else if v < 100.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.0}ms")
    }
}

/// A duration as seconds with millisecond precision (`0.105s`).
pub fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// A fraction as a percentage (`1.25%`).
pub fn pct(f: f64) -> String {
    format!("{:.2}%", f * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{EventKind, Outcome as Sent, Recorder, Sample};
    use crate::observe::{Channel, Markers};

    fn metrics_with(samples: &[(u64, u16, Markers)]) -> RunMetrics {
        let mut r = Recorder::new(1);
        for (ms, status, markers) in samples {
            r.record(
                0,
                &Sample {
                    at: Duration::from_millis(*ms),
                    latency: Duration::from_millis(*ms),
                    service: Duration::from_millis(*ms),
                    outcome: Sent::Status(*status),
                    markers: *markers,
                },
            );
        }
        RunMetrics::one_phase("p", &["item"], r)
    }

    fn bound(b: Bound) -> Threshold {
        Threshold {
            phase: Some("p".into()),
            request: None,
            bound: b,
            min_requests: 1,
        }
    }

    #[test]
    fn thresholds_pass_and_fail_on_the_measured_value() {
        let m = metrics_with(&[
            (10, 200, Markers::default()),
            (20, 200, Markers::default()),
            (300, 500, Markers::default()),
        ]);
        let p = |limit| {
            threshold(
                &bound(Bound::LatencyAtMost {
                    quantile: 0.5,
                    limit: Duration::from_millis(limit),
                }),
                &m,
            )
            .status
        };
        assert_eq!(p(25), Status::Pass);
        assert_eq!(p(15), Status::Fail);
        let e = threshold(&bound(Bound::MaxErrorRate(0.2)), &m);
        assert_eq!(e.status, Status::Fail);
        assert_eq!(e.measured, "33.33% (1 of 3)");
        assert_eq!(
            threshold(&bound(Bound::MaxErrorRate(0.5)), &m).status,
            Status::Pass
        );
        let missing = Threshold {
            phase: Some("nope".into()),
            ..bound(Bound::MaxErrorRate(1.0))
        };
        assert_eq!(threshold(&missing, &m).status, Status::Fail);
        let too_few = Threshold {
            min_requests: 10,
            ..bound(Bound::MaxErrorRate(1.0))
        };
        assert_eq!(threshold(&too_few, &m).status, Status::Fail);
    }

    fn timeline(events: &[(u64, BreakerState)], fault_on: u64) -> Timeline {
        let mut t = Timeline::new();
        t.push(
            Duration::from_millis(fault_on),
            EventKind::FaultOn {
                fault: 0,
                profile: "p".into(),
                kind: "status".into(),
            },
        );
        let mut from = None;
        for (ms, to) in events {
            t.push(
                Duration::from_millis(*ms),
                EventKind::Breaker {
                    from,
                    to: *to,
                    channel: Channel::Header,
                },
            );
            from = Some(*to);
        }
        t
    }

    fn expect() -> BreakerExpectations {
        BreakerExpectations {
            sequence: vec![
                BreakerState::Closed,
                BreakerState::Open,
                BreakerState::HalfOpen,
                BreakerState::Closed,
            ],
            opens_within: Some(Duration::from_secs(1)),
            half_open_after: Some(Duration::from_secs(5)),
            tolerance: Duration::from_millis(500),
            fallback_while_open: true,
            closed_at_end: true,
        }
    }

    #[test]
    fn a_healthy_breaker_cycle_passes_everything() {
        use BreakerState::*;
        let open = Markers {
            breaker: Some(Open),
            fallback: true,
            cache_hit: false,
        };
        let m = metrics_with(&[(5, 200, open)]);
        let t = timeline(
            &[
                (0, Closed),
                (10_300, Open),
                (15_400, HalfOpen),
                (15_410, Closed),
            ],
            10_000,
        );
        let v = breaker(&expect(), &m, &t);
        assert!(v.iter().all(|v| v.status == Status::Pass), "{v:#?}");
        assert_eq!(v[1].measured, "opened 0.300s after the fault started");
    }

    #[test]
    fn a_breaker_that_never_opens_fails_each_expectation() {
        let m = metrics_with(&[(5, 200, Markers::default())]);
        let t = timeline(&[], 10_000);
        let v = breaker(&expect(), &m, &t);
        assert_eq!(v.len(), 5);
        assert!(v.iter().all(|v| v.status == Status::Fail), "{v:#?}");
        assert_eq!(v[0].measured, "no breaker state observed");
    }

    #[test]
    fn late_half_open_and_plain_open_responses_fail() {
        use BreakerState::*;
        let open_plain = Markers {
            breaker: Some(Open),
            ..Markers::default()
        };
        let m = metrics_with(&[(5, 500, open_plain)]);
        let t = timeline(
            &[
                (0, Closed),
                (10_300, Open),
                (18_000, HalfOpen),
                (18_010, Open),
            ],
            10_000,
        );
        let v = breaker(&expect(), &m, &t);
        let status: Vec<Status> = v.iter().map(|v| v.status).collect();
        assert_eq!(
            status,
            vec![
                Status::Fail,
                Status::Pass,
                Status::Fail,
                Status::Fail,
                Status::Fail
            ]
        );
    }

    #[test]
    fn unwitnessed_faults_make_the_run_invalid() {
        let w = FaultWitness {
            profile: "x".into(),
            slot: 0,
            kind: "reset".into(),
            phases: vec!["p".into()],
            injected: 0,
        };
        let v = judge(
            &Expectations::default(),
            &RunMetrics::default(),
            &Timeline::new(),
            &[w],
        );
        assert_eq!(v[0].status, Status::Invalid);
        assert_eq!(outcome(&v, false), Outcome::Invalid);
        assert_eq!(outcome(&v, true), Outcome::Aborted);
        assert_eq!(outcome(&[], false), Outcome::Passed);
    }
}
