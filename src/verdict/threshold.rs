//! Metric thresholds: latency statistics and rates, with target/acceptable/failure tiers
//! and sliding windows.

use super::{ms, pct, Status, Unit, Verdict};
use crate::config::{LatencyStat, Limits, Metric, Threshold};
use crate::metrics::{GroupStats, RunMetrics, Second, Select};
use std::time::Duration;

/// Grades `value` against `limits`: pass, warn (past the target) or fail.
pub fn grade(value: f64, limits: &Limits, higher_is_worse: bool) -> Status {
    let worse = |a: f64, b: f64| if higher_is_worse { a > b } else { a < b };
    let failed = if limits.fail_inclusive {
        !worse(limits.fail, value)
    } else {
        worse(value, limits.fail)
    };
    if failed {
        Status::Fail
    } else if limits.target.is_some_and(|t| worse(value, t)) {
        Status::Warn
    } else {
        Status::Pass
    }
}

fn metric_name(metric: Metric) -> String {
    match metric {
        Metric::Latency(LatencyStat::Quantile(q)) => format!("p{}", quantile_label(q)),
        Metric::Latency(LatencyStat::Max) => "max latency".into(),
        Metric::Latency(LatencyStat::Mean) => "mean latency".into(),
        Metric::ErrorRate => "error rate".into(),
        Metric::MinCacheHitRate => "cache-hit rate".into(),
        Metric::MinFallbackRate | Metric::MaxFallbackRate => "fallback rate".into(),
        Metric::MinCheckRate => "check pass rate".into(),
    }
}

fn show(metric: Metric, v: f64) -> String {
    if metric.is_rate() {
        pct(v)
    } else {
        ms(Duration::from_secs_f64(v.max(0.0)))
    }
}

/// The bound in words: `<= 50ms`, or `target <= 50ms, fails > 100ms`.
fn expected(t: &Threshold) -> String {
    let (better, worse) = if t.metric.higher_is_worse() {
        ("<=", ">")
    } else {
        (">=", "<")
    };
    let fail_op = match (t.limits.fail_inclusive, t.metric.higher_is_worse()) {
        (false, _) => worse.to_string(),
        (true, true) => ">=".into(),
        (true, false) => "<=".into(),
    };
    let bound = match t.limits.target {
        None if !t.limits.fail_inclusive => format!("{better} {}", show(t.metric, t.limits.fail)),
        None => format!("fails {fail_op} {}", show(t.metric, t.limits.fail)),
        Some(target) => format!(
            "target {better} {}, fails {fail_op} {}",
            show(t.metric, target),
            show(t.metric, t.limits.fail)
        ),
    };
    match t.window {
        Some(w) => format!("{bound} in every {}s window", w.as_secs()),
        None => bound,
    }
}

fn scope_name(t: &Threshold) -> String {
    let parts: Vec<String> = [
        t.phase.as_ref().map(|p| format!("phase {p}")),
        t.user.as_ref().map(|u| format!("user {u}")),
        t.request.as_ref().map(|r| format!("request {r}")),
        t.tag.as_ref().map(|g| format!("tag {g}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "whole run".into()
    } else {
        parts.join(", ")
    }
}

/// Judges one threshold against the run's metrics.
pub(super) fn judge(t: &Threshold, metrics: &RunMetrics) -> Verdict {
    let criterion = format!("{} of {}", metric_name(t.metric), scope_name(t));
    let expected = expected(t);
    // Latencies are judged in seconds and reported in ms; rates are ratios.
    let (unit, scale) = if t.metric.is_rate() {
        (Unit::Ratio, 1.0)
    } else {
        (Unit::Ms, 1e3)
    };
    let bound = Some(t.limits.fail * scale);
    let fail = |measured: String| {
        Verdict::new(criterion.clone(), expected.clone(), measured, Status::Fail)
            .with_value(None, bound, unit)
    };
    let select = Select {
        request: t.request.as_deref(),
        user: t.user.as_deref(),
        tag: t.tag.as_deref(),
    };
    let Some(stats) = metrics.select(t.phase.as_deref(), &select) else {
        if let (true, Some(phase)) = (metrics.stopped_early, &t.phase) {
            let measured = format!("the run stopped before phase {phase} began");
            return Verdict::new(criterion, expected, measured, Status::NotRun);
        }
        return fail("phase never ran".into());
    };
    if stats.requests < t.min_requests {
        return fail(format!(
            "{} requests, fewer than the {} needed to judge",
            stats.requests, t.min_requests
        ));
    }
    let measured = match t.window {
        Some(window) => worst_window(t, metrics, window),
        None => whole_scope(t, metrics, &stats),
    };
    match measured {
        Some((value, text)) => Verdict::new(
            criterion,
            expected,
            text,
            grade(value, &t.limits, t.metric.higher_is_worse()),
        )
        .with_value(Some(value * scale), bound, unit),
        None if t.metric == Metric::MinCheckRate => fail("no checks in scope".into()),
        None => fail("no latencies recorded".into()),
    }
}

/// The metric over the whole scope, with its detail.
fn whole_scope(t: &Threshold, metrics: &RunMetrics, stats: &GroupStats) -> Option<(f64, String)> {
    let rate = |part: u64| {
        let v = stats.rate(part);
        (v, format!("{} ({part} of {})", pct(v), stats.requests))
    };
    Some(match t.metric {
        Metric::Latency(stat) => {
            let d = match stat {
                LatencyStat::Quantile(q) => stats.latency(q)?,
                LatencyStat::Max => stats.latency(1.0)?,
                LatencyStat::Mean => stats.mean_latency()?,
            };
            (d.as_secs_f64(), ms(d))
        }
        Metric::ErrorRate => {
            // Requests dropped by the open model never got an answer: they count as errors.
            // Drops belong to no request group, so only group-less scopes include them.
            let dropped = match (&t.request, &t.user, &t.tag) {
                (None, None, None) => metrics.dropped(t.phase.as_deref()),
                _ => 0,
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
            (v, format!("{} ({detail})", pct(v)))
        }
        Metric::MinCacheHitRate => rate(stats.cache_hits),
        Metric::MinFallbackRate | Metric::MaxFallbackRate => rate(stats.fallbacks),
        Metric::MinCheckRate => {
            let all = stats.checks_passed + stats.checks_failed;
            let v = stats.check_rate()?;
            (v, format!("{} ({} of {all})", pct(v), stats.checks_passed))
        }
    })
}

/// One window's rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowRate {
    /// First second of the window, from the epoch.
    pub start_s: usize,
    /// The rate.
    pub rate: f64,
    /// The counted part.
    pub part: u64,
    /// All requests of the window.
    pub requests: u64,
}

/// The metric's rate over every `window`-second span of `seconds[from..until]`, sliding
/// by a second; spans with fewer than `min_requests` requests are left out. A scope shorter
/// than the window is one span.
pub fn window_rates(
    seconds: &[Second],
    from: usize,
    until: usize,
    window: usize,
    metric: Metric,
    min_requests: u64,
) -> Vec<WindowRate> {
    let until = until.min(seconds.len());
    if from >= until {
        return Vec::new();
    }
    let window = window.clamp(1, until - from);
    (from..=until - window)
        .filter_map(|start| {
            let span = &seconds[start..start + window];
            let requests: u64 = span.iter().map(|s| s.requests).sum();
            let part: u64 = span
                .iter()
                .map(|s| match metric {
                    Metric::ErrorRate => s.errors,
                    Metric::MinCacheHitRate => s.cache_hits,
                    Metric::MinFallbackRate | Metric::MaxFallbackRate => s.fallbacks,
                    Metric::Latency(_) | Metric::MinCheckRate => 0,
                })
                .sum();
            (requests >= min_requests.max(1)).then(|| WindowRate {
                start_s: start,
                rate: part as f64 / requests as f64,
                part,
                requests,
            })
        })
        .collect()
}

/// The worst window of the scope.
fn worst_window(t: &Threshold, metrics: &RunMetrics, window: Duration) -> Option<(f64, String)> {
    let seconds = metrics.seconds();
    let (from, until) = match &t.phase {
        Some(name) => {
            let p = metrics.phases.iter().find(|p| &p.name == name)?;
            (
                p.start.as_secs() as usize,
                (p.start + p.duration).as_secs_f64().ceil() as usize,
            )
        }
        None => (0, seconds.len()),
    };
    let rates = window_rates(
        &seconds,
        from,
        until,
        window.as_secs() as usize,
        t.metric,
        t.min_requests,
    );
    let higher_is_worse = t.metric.higher_is_worse();
    let worst = rates.into_iter().reduce(|a, b| {
        let b_worse = if higher_is_worse {
            b.rate > a.rate
        } else {
            b.rate < a.rate
        };
        if b_worse {
            b
        } else {
            a
        }
    });
    match worst {
        Some(w) => Some((
            w.rate,
            format!(
                "worst {} ({} of {}) in {}–{}s",
                pct(w.rate),
                w.part,
                w.requests,
                w.start_s,
                w.start_s + window.as_secs() as usize
            ),
        )),
        None => Some((
            if higher_is_worse { f64::INFINITY } else { 0.0 },
            format!(
                "no {}s window had {} requests",
                window.as_secs(),
                t.min_requests
            ),
        )),
    }
}

fn quantile_label(q: f64) -> String {
    let p = q * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{}", p.round() as u64)
    } else {
        format!("{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Outcome as Sent, Recorder, Sample};
    use crate::observe::Markers;

    fn metrics_with(samples: &[(u64, u16)]) -> RunMetrics {
        let mut r = Recorder::new(1);
        for (ms, status) in samples {
            r.record(
                0,
                &Sample {
                    at: Duration::from_millis(*ms),
                    latency: Duration::from_millis(*ms),
                    service: Duration::from_millis(*ms),
                    outcome: Sent::Status(*status),
                    markers: Markers::default(),
                    expected_interval: None,
                },
            );
        }
        RunMetrics::one_phase("p", &["item"], r)
    }

    fn threshold(metric: Metric, fail: f64) -> Threshold {
        Threshold {
            phase: Some("p".into()),
            request: None,
            user: None,
            tag: None,
            metric,
            limits: Limits {
                target: None,
                fail,
                fail_inclusive: false,
            },
            min_requests: 1,
            window: None,
            abort: None,
        }
    }

    #[test]
    fn thresholds_pass_and_fail_on_the_measured_value() {
        let m = metrics_with(&[(10, 200), (20, 200), (300, 500)]);
        let p50 = |limit: f64| {
            judge(
                &threshold(Metric::Latency(LatencyStat::Quantile(0.5)), limit),
                &m,
            )
            .status
        };
        assert_eq!(p50(0.025), Status::Pass);
        assert_eq!(p50(0.015), Status::Fail);
        let e = judge(&threshold(Metric::ErrorRate, 0.2), &m);
        assert_eq!(e.status, Status::Fail);
        assert_eq!(e.measured, "33.33% (1 of 3)");
        assert_eq!(
            judge(&threshold(Metric::ErrorRate, 0.5), &m).status,
            Status::Pass
        );
        let max = judge(&threshold(Metric::Latency(LatencyStat::Max), 0.25), &m);
        assert_eq!((max.status, max.measured.as_str()), (Status::Fail, "300ms"));
        let missing = Threshold {
            phase: Some("nope".into()),
            ..threshold(Metric::ErrorRate, 1.0)
        };
        assert_eq!(judge(&missing, &m).status, Status::Fail);
        // After an abort, a phase the run never reached is not run, not failed.
        let mut stopped = metrics_with(&[(10, 200)]);
        stopped.stopped_early = true;
        let skipped = judge(&missing, &stopped);
        assert_eq!(skipped.status, Status::NotRun);
        assert_eq!(skipped.measured, "the run stopped before phase nope began");
        let whole_run = Threshold {
            phase: None,
            ..threshold(Metric::ErrorRate, 0.5)
        };
        assert_eq!(judge(&whole_run, &stopped).status, Status::Pass);
        let too_few = Threshold {
            min_requests: 10,
            ..threshold(Metric::ErrorRate, 1.0)
        };
        assert_eq!(judge(&too_few, &m).status, Status::Fail);
    }

    #[test]
    fn tiers_grade_pass_warn_fail() {
        let tiers = Limits {
            target: Some(0.1),
            fail: 0.2,
            fail_inclusive: false,
        };
        assert_eq!(grade(0.1, &tiers, true), Status::Pass);
        assert_eq!(grade(0.15, &tiers, true), Status::Warn);
        assert_eq!(grade(0.2, &tiers, true), Status::Warn);
        assert_eq!(grade(0.21, &tiers, true), Status::Fail);
        let inclusive = Limits {
            fail_inclusive: true,
            ..tiers
        };
        assert_eq!(grade(0.2, &inclusive, true), Status::Fail);
        let at_least = Limits {
            target: Some(0.8),
            fail: 0.5,
            fail_inclusive: false,
        };
        assert_eq!(grade(0.9, &at_least, false), Status::Pass);
        assert_eq!(grade(0.6, &at_least, false), Status::Warn);
        assert_eq!(grade(0.4, &at_least, false), Status::Fail);
    }

    #[test]
    fn windows_find_the_worst_stretch() {
        let sec = |requests, errors| Second {
            requests,
            errors,
            ..Second::default()
        };
        let seconds = [sec(10, 0), sec(10, 5), sec(10, 5), sec(10, 0), sec(10, 0)];
        let rates = window_rates(&seconds, 0, 5, 2, Metric::ErrorRate, 1);
        assert_eq!(rates.len(), 4);
        let worst = rates.iter().map(|r| r.rate).fold(0.0, f64::max);
        assert_eq!(worst, 0.5);
        assert_eq!(
            window_rates(&seconds, 0, 5, 10, Metric::ErrorRate, 1).len(),
            1
        );
        assert!(window_rates(&seconds, 0, 5, 2, Metric::ErrorRate, 100).is_empty());
    }
}
