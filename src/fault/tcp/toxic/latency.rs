//! `latency`: every chunk is delayed by `latency` ms, ± up to `jitter` ms (seeded).

use super::super::{Attributes, Flow, LinkState, Piece, Toxic};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
struct Latency {
    latency: Duration,
    jitter: Duration,
}

/// Parses `latency` and `jitter` (milliseconds).
pub fn parse(attrs: &Attributes) -> Result<Arc<dyn Toxic>, String> {
    Ok(Arc::new(Latency {
        latency: attrs.millis("latency")?,
        jitter: attrs.millis("jitter")?,
    }))
}

impl Toxic for Latency {
    fn shape(&self, pieces: &mut Vec<Piece>, state: &mut LinkState) -> Flow {
        // As Toxiproxy: latency + a uniform offset in [-jitter, jitter), never below zero.
        let mut delay = self.latency.as_millis() as i64;
        let jitter = self.jitter.as_millis() as i64;
        if jitter > 0 {
            delay += state.rng.range_inclusive(-jitter, jitter - 1);
        }
        let delay = Duration::from_millis(u64::try_from(delay).unwrap_or(0));
        for p in pieces.iter_mut() {
            p.due = p.due.max(p.read_at + delay);
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{json_attrs, piece, state};
    use super::*;
    use crate::fault::tcp::millis;
    use tokio::time::Instant;

    fn attrs(l: u64, j: u64) -> Attributes {
        json_attrs(serde_json::json!({"latency": l, "jitter": j}))
    }

    #[test]
    fn delays_from_the_read_time_within_the_jitter() {
        let now = Instant::now();
        let t = parse(&attrs(100, 20)).expect("valid");
        let mut st = state(now);
        for _ in 0..200 {
            let mut ps = vec![piece(now, 10)];
            assert_eq!(t.shape(&mut ps, &mut st), Flow::Continue);
            let d = ps[0].due - now;
            assert!(d >= millis(80) && d < millis(120), "{d:?}");
        }
        let t = parse(&attrs(50, 0)).expect("valid");
        let mut ps = vec![piece(now, 10)];
        t.shape(&mut ps, &mut st);
        assert_eq!(ps[0].due - now, millis(50));
    }

    #[test]
    fn rejects_negative_and_fractional_values() {
        let bad = json_attrs(serde_json::json!({"latency": -1}));
        assert!(parse(&bad).is_err());
        let bad = json_attrs(serde_json::json!({"latency": 1.5}));
        assert!(parse(&bad).is_err());
    }
}
