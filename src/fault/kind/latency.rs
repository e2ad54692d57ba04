//! `latency`: hold the request, then let it go on (forwarded, or answered by another fault).

use super::{ApplyContext, Decision, FaultKind};
use crate::config::KindTable;
use std::sync::Arc;
use std::time::Duration;

/// Adds `delay ± jitter` (uniform) before the response headers.
#[derive(Debug)]
pub struct Latency {
    delay: Duration,
    jitter: Duration,
}

/// Reads `delay` (required) and `jitter` (at most `delay`).
pub fn parse(t: &mut KindTable) -> Option<Arc<dyn FaultKind>> {
    let delay = t.positive_duration("delay");
    if delay.is_none() {
        t.missing("delay", "\"200ms\"");
    }
    let jitter = t.duration("jitter");
    let delay = *delay?.get_ref();
    let jitter = match jitter {
        Some(j) if *j.get_ref() > delay => {
            t.error(j.span(), "jitter must not exceed delay");
            return None;
        }
        Some(j) => *j.get_ref(),
        None => Duration::ZERO,
    };
    Some(Arc::new(Latency { delay, jitter }))
}

/// `delay ± jitter`, with `unit` in [0, 1) choosing where in the band.
fn jittered(delay: Duration, jitter: Duration, unit: f64) -> Duration {
    let offset = jitter.as_secs_f64() * (2.0 * unit - 1.0);
    Duration::from_secs_f64((delay.as_secs_f64() + offset).max(0.0))
}

impl FaultKind for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn injects_failure(&self) -> bool {
        false
    }

    fn apply(&self, decision: &mut Decision, cx: &mut ApplyContext) -> bool {
        decision.hold += jittered(self.delay, self.jitter, cx.rng.next_f64());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_band() {
        let d = Duration::from_millis(100);
        let j = Duration::from_millis(20);
        assert_eq!(jittered(d, j, 0.0), Duration::from_millis(80));
        assert_eq!(jittered(d, j, 0.5), Duration::from_millis(100));
        assert!(jittered(d, j, 0.999) <= Duration::from_millis(120));
    }
}
