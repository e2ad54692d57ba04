//! Comparing a result against a baseline: per-metric deltas, overall and per phase, with
//! regressions flagged against a tolerance.
//!
//! The rule: a metric regresses when it moved in its worse direction by more than
//! `max(tolerance × |baseline|, floor)`. The relative tolerance (default 10 %) keeps noise
//! out; the absolute floor per metric keeps tiny values out (1 ms → 2 ms is +100 % but under
//! the 1 ms latency floor). A breaker timing the baseline had and the result lacks (the
//! breaker no longer opens) is a regression too.

use super::{GroupSummary, RunResult};
use crate::breaker_state::BreakerState;
use serde::Serialize;
use std::fmt::Write as _;

/// Which way a metric gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Worse {
    /// Latencies, error rate, breaker timings.
    Higher,
    /// Throughput, cache-hit rate.
    Lower,
}

/// One comparable metric: its name, direction, absolute floor and how it is shown.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Name on the command line and in the table (`p95_ms`).
    pub name: &'static str,
    /// Which way is worse.
    pub worse: Worse,
    /// Smallest change (in the metric's unit) that can count as a regression.
    pub floor: f64,
    /// Unit, for display: `ms`, `ratio`, `rps`, `s`.
    pub unit: &'static str,
}

/// Every metric compare knows, in table order.
pub const METRICS: &[Metric] = &[
    Metric {
        name: "p50_ms",
        worse: Worse::Higher,
        floor: 1.0,
        unit: "ms",
    },
    Metric {
        name: "p95_ms",
        worse: Worse::Higher,
        floor: 1.0,
        unit: "ms",
    },
    Metric {
        name: "p99_ms",
        worse: Worse::Higher,
        floor: 1.0,
        unit: "ms",
    },
    Metric {
        name: "error_rate",
        worse: Worse::Higher,
        floor: 0.005,
        unit: "ratio",
    },
    Metric {
        name: "throughput_rps",
        worse: Worse::Lower,
        floor: 1.0,
        unit: "rps",
    },
    Metric {
        name: "cache_hit_rate",
        worse: Worse::Lower,
        floor: 0.01,
        unit: "ratio",
    },
    Metric {
        name: "fallback_rate",
        worse: Worse::Higher,
        floor: 0.01,
        unit: "ratio",
    },
    Metric {
        name: "breaker_open_s",
        worse: Worse::Higher,
        floor: 0.25,
        unit: "s",
    },
    Metric {
        name: "breaker_half_open_s",
        worse: Worse::Higher,
        floor: 0.25,
        unit: "s",
    },
    Metric {
        name: "breaker_close_s",
        worse: Worse::Higher,
        floor: 0.25,
        unit: "s",
    },
];

/// The metric called `name` (the unit suffix may be left off: `p95`, `breaker_open`).
pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS
        .iter()
        .find(|m| m.name == name || m.name.strip_suffix(&format!("_{}", m.unit)) == Some(name))
}

/// What to compare and how strictly.
#[derive(Debug, Clone)]
pub struct Options {
    /// Relative tolerance, a fraction (0.10 = 10 %).
    pub tolerance: f64,
    /// Metrics to compare; empty means all.
    pub metrics: Vec<&'static Metric>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tolerance: 0.10,
            metrics: Vec::new(),
        }
    }
}

/// One metric in one scope, before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta {
    /// `total` or `phase NAME`.
    pub scope: String,
    /// Metric name.
    pub metric: String,
    /// Unit of the values.
    pub unit: String,
    /// The baseline's value, if it has one.
    pub baseline: Option<f64>,
    /// The result's value, if it has one.
    pub current: Option<f64>,
    /// current − baseline.
    pub change: Option<f64>,
    /// change / baseline (absent for a zero baseline).
    pub relative: Option<f64>,
    /// Worse by more than the tolerance and the floor.
    pub regression: bool,
}

/// A whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The baseline's drill.
    pub baseline_drill: String,
    /// The result's drill.
    pub drill: String,
    /// The relative tolerance used.
    pub tolerance: f64,
    /// Every delta, total first, then phases in the result's order.
    pub deltas: Vec<Delta>,
    /// How many deltas regressed.
    pub regressions: usize,
    /// Things that make the comparison less meaningful (other drill, missing phases).
    pub notes: Vec<String>,
}

/// Compares `current` against `baseline`.
pub fn compare(baseline: &RunResult, current: &RunResult, options: &Options) -> Comparison {
    let wanted =
        |m: &Metric| options.metrics.is_empty() || options.metrics.iter().any(|w| w.name == m.name);
    let mut notes = Vec::new();
    if baseline.drill != current.drill {
        notes.push(format!(
            "different drills: baseline {:?}, result {:?}",
            baseline.drill, current.drill
        ));
    }
    let mut deltas = Vec::new();
    let mut scope = |name: String, b: Option<Values>, c: Option<Values>| {
        for m in METRICS.iter().filter(|m| wanted(m)) {
            let get = |v: &Option<Values>| v.as_ref().and_then(|v| v.get(m.name));
            let (bv, cv) = (get(&b), get(&c));
            if bv.is_none() && cv.is_none() {
                continue;
            }
            deltas.push(delta(&name, m, bv, cv, options.tolerance));
        }
    };
    scope(
        "total".into(),
        Some(Values::total(baseline)),
        Some(Values::total(current)),
    );
    for p in &current.phases {
        let base = baseline.phases.iter().find(|b| b.name == p.name);
        if base.is_none() {
            notes.push(format!("phase {} is not in the baseline", p.name));
        }
        scope(
            format!("phase {}", p.name),
            base.map(|b| Values::group(&b.all, b.rps)),
            Some(Values::group(&p.all, p.rps)),
        );
    }
    for b in &baseline.phases {
        if !current.phases.iter().any(|p| p.name == b.name) {
            notes.push(format!(
                "phase {} of the baseline is not in the result",
                b.name
            ));
        }
    }
    let regressions = deltas.iter().filter(|d| d.regression).count();
    Comparison {
        baseline_drill: baseline.drill.clone(),
        drill: current.drill.clone(),
        tolerance: options.tolerance,
        deltas,
        regressions,
        notes,
    }
}

fn delta(scope: &str, m: &Metric, b: Option<f64>, c: Option<f64>, tolerance: f64) -> Delta {
    let change = b.zip(c).map(|(b, c)| c - b);
    let relative = b
        .zip(change)
        .filter(|(b, _)| *b != 0.0)
        .map(|(b, ch)| ch / b.abs());
    let regression = match (b, c) {
        (Some(b), Some(c)) => {
            let worse_by = match m.worse {
                Worse::Higher => c - b,
                Worse::Lower => b - c,
            };
            worse_by > (tolerance * b.abs()).max(m.floor)
        }
        // A breaker timing that disappeared: the breaker no longer does it.
        (Some(_), None) => m.unit == "s",
        _ => false,
    };
    Delta {
        scope: scope.to_string(),
        metric: m.name.to_string(),
        unit: m.unit.to_string(),
        baseline: b,
        current: c,
        change,
        relative,
        regression,
    }
}

/// The comparable numbers of one scope.
struct Values(Vec<(&'static str, Option<f64>)>);

impl Values {
    fn group(g: &GroupSummary, rps: f64) -> Values {
        let has = g.requests > 0;
        let v = |x: f64| has.then_some(x);
        Values(vec![
            ("p50_ms", v(g.latency_ms.p50)),
            ("p95_ms", v(g.latency_ms.p95)),
            ("p99_ms", v(g.latency_ms.p99)),
            ("error_rate", v(g.error_rate)),
            ("throughput_rps", Some(rps)),
            ("cache_hit_rate", v(g.cache_hit_rate)),
            ("fallback_rate", v(g.fallback_rate)),
        ])
    }

    fn total(r: &RunResult) -> Values {
        let rps = if r.duration_s > 0.0 {
            r.total.requests as f64 / r.duration_s
        } else {
            0.0
        };
        let mut v = Values::group(&r.total, rps);
        let (open, half_open, close) = breaker_times(r);
        v.0.push(("breaker_open_s", open));
        v.0.push(("breaker_half_open_s", half_open));
        v.0.push(("breaker_close_s", close));
        v
    }

    fn get(&self, name: &str) -> Option<f64> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| *v)
    }
}

/// Seconds from the first fault window to the first open; from that open to the next
/// half-open; from that open to the next closed (best-estimate timeline).
fn breaker_times(r: &RunResult) -> (Option<f64>, Option<f64>, Option<f64>) {
    let best: Vec<(f64, BreakerState)> = r
        .observations
        .best
        .iter()
        .map(|t| (t.at.as_secs_f64(), t.to))
        .collect();
    let first_fault = r.faults.iter().map(|f| f.from_s).reduce(f64::min);
    let open = best
        .iter()
        .find(|(at, s)| *s == BreakerState::Open && first_fault.is_none_or(|f| *at >= f))
        .map(|(at, _)| *at);
    let after = |state: BreakerState| {
        let o = open?;
        best.iter()
            .find(|(at, s)| *s == state && *at >= o)
            .map(|(at, _)| round3(at - o))
    };
    (
        open.zip(first_fault).map(|(o, f)| round3(o - f)),
        after(BreakerState::HalfOpen),
        after(BreakerState::Closed),
    )
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

/// The comparison as a table (at most 99 columns), regressions marked, notes below.
pub fn render_table(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<19} {:>11} {:>11} {:>11} {:>8}",
        "scope", "metric", "baseline", "result", "change", "rel"
    );
    for d in &c.deltas {
        let num = |v: Option<f64>, signed: bool| match v {
            None => "-".to_string(),
            Some(v) => show(v, &d.unit, signed),
        };
        let rel = d
            .relative
            .map(|r| format!("{:+.1}%", r * 100.0))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<22} {:<19} {:>11} {:>11} {:>11} {:>8}{}",
            clip(&d.scope, 22),
            d.metric,
            num(d.baseline, false),
            num(d.current, false),
            num(d.change, true),
            rel,
            if d.regression { "  REGRESSION" } else { "" }
        );
    }
    for n in &c.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(
        out,
        "{} regression(s) at a tolerance of {:.1}% (and each metric's absolute floor)",
        c.regressions,
        c.tolerance * 100.0
    );
    out
}

fn show(v: f64, unit: &str, signed: bool) -> String {
    let (v, suffix, digits) = match unit {
        "ratio" => (v * 100.0, "%", 2),
        "ms" => (v, "ms", 2),
        "s" => (v, "s", 3),
        _ => (v, "/s", 1),
    };
    if signed {
        format!("{v:+.digits$}{suffix}")
    } else {
        format!("{v:.digits$}{suffix}")
    }
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{NotStarted, PhaseSummary};
    use crate::verdict::Outcome;

    fn result(p95: f64, error_rate: f64, rps: f64) -> RunResult {
        let mut r = RunResult::not_started(NotStarted {
            drill: "d".into(),
            drill_file: "d.toml".into(),
            description: String::new(),
            seed: 1,
            target: "http://127.0.0.1:1".into(),
            planned_duration_s: 10.0,
            outcome: Outcome::Passed,
            reason: String::new(),
        });
        let mut all = GroupSummary {
            name: "*".into(),
            requests: (rps * 10.0) as u64,
            error_rate,
            ..GroupSummary::default()
        };
        all.latency_ms.p50 = p95 / 2.0;
        all.latency_ms.p95 = p95;
        all.latency_ms.p99 = p95;
        r.duration_s = 10.0;
        r.total = all.clone();
        r.phases = vec![PhaseSummary {
            name: "steady".into(),
            executor: "constant_rate".into(),
            start_s: 0.0,
            duration_s: 10.0,
            fault_profiles: vec![],
            rps,
            dropped: 0,
            interrupted: 0,
            peak_vus: 1,
            not_run: false,
            iterations: 0,
            planned_iterations: None,
            done_s: None,
            all,
            groups: vec![],
            users: vec![],
            tags: vec![],
        }];
        r
    }

    fn regressed(c: &Comparison) -> Vec<(String, String)> {
        c.deltas
            .iter()
            .filter(|d| d.regression)
            .map(|d| (d.scope.clone(), d.metric.clone()))
            .collect()
    }

    #[test]
    fn identical_results_have_no_regression() {
        let r = result(50.0, 0.01, 100.0);
        let c = compare(&r, &r, &Options::default());
        assert_eq!(c.regressions, 0);
        assert!(c.deltas.iter().all(|d| d.change == Some(0.0)));
        assert!(c.notes.is_empty());
    }

    #[test]
    fn worse_past_tolerance_regresses_and_better_does_not() {
        let base = result(50.0, 0.01, 100.0);
        let slower = result(60.0, 0.01, 100.0); // +20 % > 10 %
        let c = compare(&base, &slower, &Options::default());
        assert!(regressed(&c).contains(&("total".into(), "p95_ms".into())));
        assert!(regressed(&c).contains(&("phase steady".into(), "p95_ms".into())));
        // Within a 25 % tolerance it is not.
        let loose = Options {
            tolerance: 0.25,
            ..Options::default()
        };
        assert_eq!(compare(&base, &slower, &loose).regressions, 0);
        // Faster is never a regression.
        assert_eq!(compare(&slower, &base, &Options::default()).regressions, 0);
        // Lower throughput regresses (lower is worse), higher does not.
        let fewer = result(50.0, 0.01, 50.0);
        let c = compare(&base, &fewer, &Options::default());
        assert!(regressed(&c).contains(&("total".into(), "throughput_rps".into())));
        assert_eq!(compare(&fewer, &base, &Options::default()).regressions, 0);
    }

    #[test]
    fn the_absolute_floor_keeps_tiny_values_out() {
        // 1 ms → 1.9 ms is +90 % but under the 1 ms floor.
        let c = compare(
            &result(1.0, 0.0, 100.0),
            &result(1.9, 0.0, 100.0),
            &Options::default(),
        );
        assert_eq!(c.regressions, 0, "{c:?}");
        // 0 % → 0.4 % errors is under the 0.5 point floor; 0 % → 1 % is not.
        let c = compare(
            &result(1.0, 0.0, 100.0),
            &result(1.0, 0.004, 100.0),
            &Options::default(),
        );
        assert_eq!(c.regressions, 0);
        let c = compare(
            &result(1.0, 0.0, 100.0),
            &result(1.0, 0.01, 100.0),
            &Options::default(),
        );
        assert!(regressed(&c).contains(&("total".into(), "error_rate".into())));
        assert_eq!(
            c.deltas
                .iter()
                .find(|d| d.metric == "error_rate")
                .and_then(|d| d.relative),
            None
        );
    }

    #[test]
    fn a_breaker_that_no_longer_opens_regresses() {
        use crate::breaker_state::Channel;
        use crate::observe::BestTransition;
        use crate::report::FaultSummary;
        use std::time::Duration;
        let mut base = result(50.0, 0.0, 100.0);
        base.faults = vec![FaultSummary {
            id: 0,
            phase: "steady".into(),
            profile: "p".into(),
            kind: "status".into(),
            probability: 1.0,
            from_s: 2.0,
            until_s: 5.0,
            injected: 10,
        }];
        let mut current = base.clone();
        let at = |s: f64, to| BestTransition {
            at: Duration::from_secs_f64(s),
            from: None,
            to,
            channel: Channel::Header,
            resolution: Duration::from_millis(10),
            corroborated_by: vec![],
        };
        base.observations.best = vec![
            at(0.0, BreakerState::Closed),
            at(2.5, BreakerState::Open),
            at(4.5, BreakerState::HalfOpen),
        ];
        let c = compare(&base, &base, &Options::default());
        let open = c.deltas.iter().find(|d| d.metric == "breaker_open_s");
        assert_eq!(open.and_then(|d| d.current), Some(0.5));
        let half = c.deltas.iter().find(|d| d.metric == "breaker_half_open_s");
        assert_eq!(half.and_then(|d| d.current), Some(2.0));
        current.observations.best = vec![at(0.0, BreakerState::Closed)];
        let c = compare(&base, &current, &Options::default());
        assert!(regressed(&c).contains(&("total".into(), "breaker_open_s".into())));
    }

    #[test]
    fn metric_filter_and_names() {
        assert_eq!(metric("p95").map(|m| m.name), Some("p95_ms"));
        assert_eq!(
            metric("breaker_open").map(|m| m.name),
            Some("breaker_open_s")
        );
        assert!(metric("p42").is_none());
        let options = Options {
            metrics: vec![metric("error_rate").expect("known")],
            ..Options::default()
        };
        let c = compare(
            &result(50.0, 0.0, 100.0),
            &result(90.0, 0.0, 100.0),
            &options,
        );
        assert!(c.deltas.iter().all(|d| d.metric == "error_rate"));
        assert_eq!(c.regressions, 0);
    }

    #[test]
    fn missing_phases_are_noted_and_the_table_fits() {
        let base = result(50.0, 0.0, 100.0);
        let mut other = result(50.0, 0.0, 100.0);
        other.phases[0].name = "a-very-long-phase-name-that-goes-on-and-on".into();
        let c = compare(&base, &other, &Options::default());
        assert_eq!(c.notes.len(), 2, "{:?}", c.notes);
        let table = render_table(&c);
        for line in table.lines() {
            assert!(line.chars().count() <= 100, "{line}");
        }
        assert!(table.contains("p95_ms"));
    }
}
