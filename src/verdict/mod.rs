//! The verdict: each expectation judged against what was measured, with the evidence.
//!
//! A pure function of metrics, observations, the tap's and client's counts, fault facts and
//! expectations: it runs nothing and reads no clock, so a result can be re-judged.

mod breaker;
mod channels;
mod threshold;
mod trip;

pub use threshold::{grade, window_rates, WindowRate};

use crate::config::Expectations;
use crate::fault::UpstreamSeries;
use crate::metrics::{ClientSeries, RunMetrics};
use crate::observe::Observations;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How one expectation came out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The expectation holds.
    Pass,
    /// Past the target, within what is acceptable: reported, exit code unchanged.
    Warn,
    /// Not judged: the run stopped (Ctrl-C, an abort threshold) before what it is about ran.
    /// It fails nothing by itself; the aborted run's own exit code stands.
    NotRun,
    /// The expectation does not hold.
    Fail,
    /// The run cannot judge it: what it relies on never happened (e.g. a fault never fired).
    Invalid,
}

/// One judged expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// What was expected, in words (`p95 of phase baseline`).
    pub criterion: String,
    /// The bound (`<= 100ms`).
    pub expected: String,
    /// What was measured, beside the bound.
    pub measured: String,
    /// The outcome.
    pub status: Status,
    /// What decided it, when more than the measured value: times, counts, channels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// The measured number in `unit`, where the expectation has one, for tools that compare
    /// or chart results without parsing the prose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_value: Option<f64>,
    /// The number `measured_value` is judged against (the failing limit, or the expected
    /// value for "± tolerance" expectations), in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
    /// The unit of `measured_value` and `bound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
}

impl Status {
    /// The name as result.json spells it (`pass`, `warn`, `not_run`, `fail`, `invalid`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::NotRun => "not_run",
            Status::Fail => "fail",
            Status::Invalid => "invalid",
        }
    }
}

impl Unit {
    /// The name as result.json spells it (`ms`, `s`, `ratio`, `count`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::S => "s",
            Unit::Ratio => "ratio",
            Unit::Count => "count",
        }
    }
}

/// The unit of a verdict's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Milliseconds (latencies).
    Ms,
    /// Seconds (breaker timings).
    S,
    /// A fraction from 0 to 1 (error, cache-hit, fallback, check rates).
    Ratio,
    /// A count (failures, attempts, injections).
    Count,
}

impl Verdict {
    fn new(
        criterion: impl Into<String>,
        expected: impl Into<String>,
        measured: impl Into<String>,
        status: Status,
    ) -> Self {
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

    /// Sets the numbers beside the prose: what was measured and the bound, in `unit`.
    fn with_value(mut self, measured: Option<f64>, bound: Option<f64>, unit: Unit) -> Self {
        let round = |v: f64| (v * 1e6).round() / 1e6;
        self.measured_value = measured.map(round);
        self.bound = bound.map(round);
        self.unit = Some(unit);
        self
    }

    /// [`Verdict::with_value`] for durations, written in `unit` (`Ms` or `S`).
    fn with_duration(
        self,
        measured: Option<Duration>,
        bound: Option<Duration>,
        unit: Unit,
    ) -> Self {
        let scale = if unit == Unit::Ms { 1e3 } else { 1.0 };
        let f = |d: Duration| d.as_secs_f64() * scale;
        self.with_value(measured.map(f), bound.map(f), unit)
    }

    fn holds(
        criterion: impl Into<String>,
        expected: impl Into<String>,
        measured: impl Into<String>,
        holds: bool,
    ) -> Self {
        let status = if holds { Status::Pass } else { Status::Fail };
        Verdict::new(criterion, expected, measured, status)
    }

    fn with_evidence(mut self, evidence: Vec<String>) -> Self {
        self.evidence = evidence;
        self
    }
}

/// What the tap saw of one fault of a profile, over every phase that applied it.
///
/// A fault counts as witnessed if it fired in any of its windows: once a breaker opens,
/// later windows may rightly see no upstream traffic at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultWitness {
    /// Profile the fault belongs to.
    pub profile: String,
    /// Position of the fault in the profile.
    pub slot: usize,
    /// Fault kind.
    pub kind: String,
    /// Phases whose windows opened and in which the proxy applied it, with how often.
    pub phases: Vec<(String, u64)>,
    /// Phases whose windows opened but saw no injection (the breaker shielded them).
    pub phases_without: Vec<String>,
    /// Times the proxy applied it, all windows together.
    pub injected: u64,
}

/// One scheduled fault window, as the breaker expectations need it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultWindow {
    /// Profile name.
    pub profile: String,
    /// Fault kind.
    pub kind: String,
    /// Whether the fault makes calls fail (an error status, a reset), not only slow.
    pub injects_failure: bool,
    /// Window start.
    pub from: Duration,
    /// Window end.
    pub until: Duration,
    /// First time the proxy applied it.
    pub first_injection: Option<Duration>,
}

/// Everything the verdict judges against.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// Counts and latencies.
    pub metrics: &'a RunMetrics,
    /// The breaker as every channel saw it, and the best estimate.
    pub observations: &'a Observations,
    /// The tap's attempts and outcomes per 10 ms.
    pub upstream: &'a UpstreamSeries,
    /// The client's requests per 10 ms.
    pub client: &'a ClientSeries,
    /// Every fault window that opened.
    pub faults: &'a [FaultWindow],
    /// Witness counts per fault.
    pub witnesses: &'a [FaultWitness],
    /// When the run ended (planned end, or the abort).
    pub run_end: Duration,
}

/// The run's overall outcome, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Stopped before its end (Ctrl-C, SIGTERM or an abort threshold).
    Aborted,
    /// Something the judgement relies on never happened.
    Invalid,
    /// At least one expectation failed.
    Failed,
    /// Every expectation held (some may have warned).
    Passed,
    /// The drill states no expectations: the load ran and every fault was witnessed, but
    /// nothing was judged. Exit code 0, like `passed`, yet never reported as a pass.
    Unjudged,
}

impl Outcome {
    /// The process exit code for this outcome (see docs/drill-reference.md).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Passed | Outcome::Unjudged => 0,
            Outcome::Failed => 1,
            Outcome::Aborted => 3,
            Outcome::Invalid => 4,
        }
    }
}

/// Judges every expectation, plus one witness criterion per fault that should have fired.
pub fn judge(expect: &Expectations, evidence: &Evidence) -> Vec<Verdict> {
    let mut verdicts: Vec<Verdict> = evidence.witnesses.iter().map(witness).collect();
    let crashed = evidence.metrics.crashed_workers();
    if crashed > 0 {
        verdicts.push(
            Verdict::new(
                "every load worker finished",
                "0 crashed",
                format!("{crashed} crashed; their samples are lost"),
                Status::Invalid,
            )
            .with_value(Some(crashed as f64), Some(0.0), Unit::Count),
        );
    }
    verdicts.extend(
        expect
            .thresholds
            .iter()
            .map(|t| threshold::judge(t, evidence.metrics)),
    );
    if let Some(b) = &expect.breaker {
        verdicts.extend(breaker::judge(b, evidence));
    }
    verdicts
}

/// A warning when a teardown request failed (teardown is cleanup: the load's verdict
/// stands, but the report says the system may not be left as it was).
pub fn teardown(steps: &[crate::load::StepReport]) -> Option<Verdict> {
    if steps.is_empty() {
        return None;
    }
    let failed: Vec<String> = steps
        .iter()
        .filter(|s| !s.ok)
        .map(|s| format!("{}: {}", s.name, s.problem.as_deref().unwrap_or("failed")))
        .collect();
    Some(
        Verdict::new(
            "teardown requests succeeded",
            format!("{} of {} ok", steps.len(), steps.len()),
            if failed.is_empty() {
                format!("{} of {} ok", steps.len(), steps.len())
            } else {
                failed.join("; ")
            },
            if failed.is_empty() {
                Status::Pass
            } else {
                Status::Warn
            },
        )
        .with_value(Some(failed.len() as f64), Some(0.0), Unit::Count),
    )
}

/// The outcome of a run of a drill stating `expect`, with these verdicts: like [`outcome`],
/// but a drill with no expectations that would pass is [`Outcome::Unjudged`] instead.
pub fn outcome_of(expect: &Expectations, verdicts: &[Verdict], aborted: bool) -> Outcome {
    match outcome(verdicts, aborted) {
        Outcome::Passed if expect.thresholds.is_empty() && expect.breaker.is_none() => {
            Outcome::Unjudged
        }
        o => o,
    }
}

/// The outcome of a run with these verdicts (`not run` ones fail nothing by themselves).
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
    let per_phase: Vec<String> = w.phases.iter().map(|(p, n)| format!("{p} {n}")).collect();
    let measured = match per_phase.as_slice() {
        [] => format!("{} injections", w.injected),
        [_] => format!("{} injections in {}", w.injected, w.phases[0].0),
        _ => format!("{} injections: {}", w.injected, per_phase.join(", ")),
    };
    let mut v = Verdict::new(
        format!("fault {}/{} witnessed", w.profile, w.kind),
        ">= 1 injection",
        measured,
        if w.injected > 0 {
            Status::Pass
        } else {
            Status::Invalid
        },
    )
    .with_value(Some(w.injected as f64), Some(1.0), Unit::Count);
    if !w.phases_without.is_empty() {
        v.evidence.push(format!(
            "no injection in {} (no matching upstream call while the window was open)",
            w.phases_without.join(", ")
        ));
    }
    v
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

    #[test]
    fn unwitnessed_faults_make_the_run_invalid() {
        let w = FaultWitness {
            profile: "x".into(),
            slot: 0,
            kind: "reset".into(),
            phases: vec![],
            phases_without: vec!["p".into()],
            injected: 0,
        };
        let evidence = Evidence {
            metrics: &RunMetrics::default(),
            observations: &Observations::default(),
            upstream: &UpstreamSeries::default(),
            client: &ClientSeries::default(),
            faults: &[],
            witnesses: &[w],
            run_end: Duration::from_secs(1),
        };
        let v = judge(&Expectations::default(), &evidence);
        assert_eq!(v[0].status, Status::Invalid);
        assert_eq!(v[0].criterion, "fault x/reset witnessed");
        assert_eq!(outcome(&v, false), Outcome::Invalid);
        assert_eq!(outcome(&v, true), Outcome::Aborted);
        assert_eq!(outcome(&[], false), Outcome::Passed);
        let warn = Verdict::new("c", "e", "m", Status::Warn);
        assert_eq!(outcome(&[warn], false), Outcome::Passed);
    }

    #[test]
    fn not_run_fails_nothing_and_no_expectations_is_unjudged() {
        let not_run = Verdict::new("p95 of phase recovery", "<= 50ms", "-", Status::NotRun);
        let pass = Verdict::new("c", "e", "m", Status::Pass);
        assert_eq!(
            outcome(&[not_run.clone(), pass.clone()], false),
            Outcome::Passed
        );
        assert_eq!(outcome(&[not_run, pass.clone()], true), Outcome::Aborted);
        let none = Expectations::default();
        assert_eq!(
            outcome_of(&none, std::slice::from_ref(&pass), false),
            Outcome::Unjudged
        );
        assert_eq!(outcome_of(&none, &[], false), Outcome::Unjudged);
        assert_eq!(Outcome::Unjudged.exit_code(), 0);
        let fail = Verdict::new("c", "e", "m", Status::Invalid);
        assert_eq!(outcome_of(&none, &[fail], false), Outcome::Invalid);
        assert_eq!(outcome_of(&none, &[pass], true), Outcome::Aborted);
    }

    #[test]
    fn a_witness_names_only_the_phases_that_saw_injections() {
        let mut w = FaultWitness {
            profile: "upstream-500".into(),
            slot: 1,
            kind: "status".into(),
            phases: vec![("induce_failures".into(), 7)],
            phases_without: vec!["verify_open".into()],
            injected: 7,
        };
        let v = witness(&w);
        assert_eq!(v.status, Status::Pass);
        assert_eq!(v.criterion, "fault upstream-500/status witnessed");
        assert_eq!(v.measured, "7 injections in induce_failures");
        assert!(!v.measured.contains("verify_open"), "{v:?}");
        assert!(v.evidence[0].starts_with("no injection in verify_open"));
        w.phases.push(("verify_open".into(), 2));
        w.phases_without.clear();
        w.injected = 9;
        assert_eq!(
            witness(&w).measured,
            "9 injections: induce_failures 7, verify_open 2"
        );
    }
}
