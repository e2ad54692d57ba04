//! Thresholds with `abort_on_fail`, checked once a second while the run goes on.
//!
//! Only rates can be checked live (error, cache-hit and fallback rates, from counters the
//! load engine keeps anyway); the check uses the same windows and grading as the verdict.

use super::Stop;
use crate::config::{Metric, Threshold};
use crate::load::Live;
use crate::metrics::Second;
use crate::plan::PlannedPhase;
use crate::verdict::{self, Status};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Watches the live counters until `done`, and stops the drill, saying why, when an abort
/// threshold fails.
pub(super) async fn watch(
    thresholds: Vec<Threshold>,
    phases: Vec<PlannedPhase>,
    live: Arc<Live>,
    epoch: Instant,
    stop: Stop,
    done: CancellationToken,
) {
    let mut seconds: Vec<Second> = Vec::new();
    let mut last = Second::default();
    let mut tick = 1u64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until((epoch + Duration::from_secs(tick)).into()) => {}
            _ = done.cancelled() => return,
            _ = stop.stopped() => return,
        }
        let now = Second {
            requests: live.requests.load(Ordering::Relaxed),
            errors: live.errors.load(Ordering::Relaxed),
            fallbacks: live.fallbacks.load(Ordering::Relaxed),
            cache_hits: live.cache_hits.load(Ordering::Relaxed),
            ..Second::default()
        };
        seconds.push(Second {
            requests: now.requests - last.requests,
            errors: now.errors - last.errors,
            fallbacks: now.fallbacks - last.fallbacks,
            cache_hits: now.cache_hits - last.cache_hits,
            ..Second::default()
        });
        last = now;
        let elapsed = Duration::from_secs(tick);
        for t in &thresholds {
            if let Some(reason) = check(t, &phases, &seconds, elapsed) {
                stop.stop(reason);
                return;
            }
        }
        tick += 1;
    }
}

/// Why `t` fails on the counts so far, if it does and its grace has passed.
fn check(
    t: &Threshold,
    phases: &[PlannedPhase],
    seconds: &[Second],
    elapsed: Duration,
) -> Option<String> {
    let grace = t.abort?.grace;
    let (from, until) = match &t.phase {
        Some(name) => {
            let p = phases.iter().find(|p| &p.name == name)?;
            (p.start, p.end().min(elapsed))
        }
        None => (Duration::ZERO, elapsed),
    };
    if until <= from || until - from < grace.max(Duration::from_secs(1)) {
        return None;
    }
    let (lo, hi) = (from.as_secs() as usize, until.as_secs() as usize);
    let window = t.window.map_or(hi - lo, |w| w.as_secs() as usize);
    let rates = verdict::window_rates(seconds, lo, hi, window, t.metric, t.min_requests);
    let higher_is_worse = t.metric.higher_is_worse();
    rates
        .into_iter()
        .find(|r| verdict::grade(r.rate, &t.limits, higher_is_worse) == Status::Fail)
        .map(|r| {
            let name = match t.metric {
                Metric::ErrorRate => "error rate",
                Metric::MinCacheHitRate => "cache-hit rate",
                _ => "fallback rate",
            };
            let scope = t
                .phase
                .as_deref()
                .map_or("the run".to_string(), |p| format!("phase {p}"));
            format!(
                "abort_on_fail: {name} of {scope} was {} ({} of {}) in {}–{}s, past {}",
                verdict::pct(r.rate),
                r.part,
                r.requests,
                r.start_s,
                r.start_s + window.min(hi - lo),
                verdict::pct(t.limits.fail)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AbortRule, Limits};

    #[test]
    fn fails_only_after_the_grace_and_names_the_numbers() {
        let t = Threshold {
            phase: None,
            request: None,
            user: None,
            tag: None,
            metric: Metric::ErrorRate,
            limits: Limits {
                target: None,
                fail: 0.1,
                fail_inclusive: false,
            },
            min_requests: 10,
            window: Some(Duration::from_secs(2)),
            abort: Some(AbortRule {
                grace: Duration::from_secs(3),
            }),
        };
        let s = |requests, errors| Second {
            requests,
            errors,
            ..Second::default()
        };
        let seconds = [s(50, 0), s(50, 40), s(50, 40)];
        assert_eq!(
            check(&t, &[], &seconds[..2], Duration::from_secs(2)),
            None,
            "inside the grace"
        );
        let why = check(&t, &[], &seconds, Duration::from_secs(3)).expect("fails");
        assert!(
            why.contains("error rate of the run was 40.00% (40 of 100) in 0–2s"),
            "{why}"
        );
        let calm = [s(50, 0), s(50, 1), s(50, 2)];
        assert_eq!(check(&t, &[], &calm, Duration::from_secs(3)), None);
    }
}
