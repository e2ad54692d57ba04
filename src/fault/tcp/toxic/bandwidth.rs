//! `bandwidth`: at most `rate` KB/s (1 KB = 1,000 bytes) go through; 0 lets nothing through.

use super::super::{Attributes, Flow, LinkState, Piece, Toxic};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
struct Bandwidth {
    /// Bytes per second.
    rate: u64,
}

/// Parses `rate` (KB/s).
pub fn parse(attrs: &Attributes) -> Result<Arc<dyn Toxic>, String> {
    Ok(Arc::new(Bandwidth {
        rate: attrs.int("rate")?.saturating_mul(1000),
    }))
}

impl Toxic for Bandwidth {
    fn shape(&self, pieces: &mut Vec<Piece>, state: &mut LinkState) -> Flow {
        if self.rate == 0 {
            // As in Toxiproxy, a zero rate passes nothing while the toxic is on.
            pieces.clear();
            return Flow::Continue;
        }
        // Slices of a tenth of a second's worth, each due when the link has sent the ones
        // before it: the stream never goes faster than the rate.
        let slice = usize::try_from((self.rate / 10).max(1)).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(pieces.len());
        for p in pieces.drain(..) {
            let mut rest = p.data.clone();
            while !rest.is_empty() {
                let part = rest.split_to(slice.min(rest.len()));
                let cost = Duration::from_secs_f64(part.len() as f64 / self.rate as f64);
                let start = state.free_at.map_or(p.due, |f| f.max(p.due));
                let due = start + cost;
                state.free_at = Some(due);
                out.push(Piece {
                    data: part,
                    read_at: p.read_at,
                    due,
                });
            }
        }
        *pieces = out;
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{json_attrs, piece, state};
    use super::*;
    use tokio::time::Instant;

    #[test]
    fn paces_the_stream_at_the_rate() {
        let now = Instant::now();
        let t = parse(&json_attrs(serde_json::json!({"rate": 10}))).expect("valid");
        let mut st = state(now);
        // 25,000 bytes at 10,000 B/s: slices of 1,000, the last one due at 2.5 s.
        let mut ps = vec![piece(now, 25_000)];
        t.shape(&mut ps, &mut st);
        assert_eq!(ps.len(), 25);
        assert_eq!(ps.iter().map(|p| p.data.len()).sum::<usize>(), 25_000);
        let last = ps.last().map(|p| p.due - now).unwrap_or_default();
        assert!((last.as_secs_f64() - 2.5).abs() < 1e-6, "{last:?}");
        // The next chunk queues behind the first.
        let mut ps = vec![piece(now, 1_000)];
        t.shape(&mut ps, &mut st);
        assert!((ps[0].due - now).as_secs_f64() > 2.59);
    }

    #[test]
    fn zero_rate_passes_nothing() {
        let now = Instant::now();
        let t = parse(&json_attrs(serde_json::json!({"rate": 0}))).expect("valid");
        let mut ps = vec![piece(now, 10)];
        t.shape(&mut ps, &mut state(now));
        assert!(ps.is_empty());
    }
}
