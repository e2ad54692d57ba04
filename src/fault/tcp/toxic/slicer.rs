//! `slicer`: each chunk is cut into slices of about `average_size` bytes (± up to
//! `size_variation`, seeded), written `delay` microseconds apart.

use super::super::{Attributes, Flow, LinkState, Piece, Toxic};
use crate::rng::Rng;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
struct Slicer {
    average: usize,
    variation: usize,
    delay: Duration,
}

/// Parses `average_size` (bytes, at least 1), `size_variation` (bytes) and `delay` (µs).
pub fn parse(attrs: &Attributes) -> Result<Arc<dyn Toxic>, String> {
    let average = attrs.int("average_size")?;
    if average == 0 {
        return Err("attribute average_size must be at least 1".into());
    }
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    Ok(Arc::new(Slicer {
        average: size(average),
        variation: size(attrs.int("size_variation")?),
        delay: attrs.micros("delay")?,
    }))
}

impl Slicer {
    /// Where a chunk of `len` bytes is cut: halved until the halves are within the
    /// variation of the average size (as Toxiproxy does), each cut moved by up to the
    /// variation, never onto an end, so every slice has at least one byte.
    fn cuts(&self, len: usize, rng: &mut Rng) -> Vec<usize> {
        let mut cuts = vec![0];
        let mut todo = vec![(0usize, len)];
        while let Some((start, end)) = todo.pop() {
            let size = end - start;
            if size.saturating_sub(self.average) <= self.variation || size < 2 {
                cuts.push(end);
                continue;
            }
            let mut mid = start + size / 2;
            if self.variation > 0 {
                let v = i64::try_from(self.variation).unwrap_or(i64::MAX / 2);
                let shifted = mid as i64 + rng.range_inclusive(-v, v - 1);
                mid =
                    usize::try_from(shifted.clamp(start as i64 + 1, end as i64 - 1)).unwrap_or(mid);
            }
            // Right half first on the stack, so the left one is cut first.
            todo.push((mid, end));
            todo.push((start, mid));
        }
        cuts
    }
}

impl Toxic for Slicer {
    fn shape(&self, pieces: &mut Vec<Piece>, state: &mut LinkState) -> Flow {
        let mut out = Vec::new();
        for p in pieces.drain(..) {
            let cuts = self.cuts(p.data.len(), &mut state.rng);
            let mut due = p.due;
            for (i, w) in cuts.windows(2).enumerate() {
                if i > 0 {
                    due += self.delay;
                }
                out.push(Piece {
                    data: p.data.slice(w[0]..w[1]),
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
    fn slices_around_the_average_in_order_and_spaced() {
        let now = Instant::now();
        let t = parse(&json_attrs(
            serde_json::json!({"average_size": 10, "size_variation": 3, "delay": 1000}),
        ))
        .expect("valid");
        let mut ps = vec![piece(now, 1000)];
        t.shape(&mut ps, &mut state(now));
        assert!(ps.len() >= 50, "{} slices", ps.len());
        assert_eq!(ps.iter().map(|p| p.data.len()).sum::<usize>(), 1000);
        assert!(ps.iter().all(|p| (1..=16).contains(&p.data.len())));
        assert_eq!(ps[1].due - ps[0].due, Duration::from_micros(1000));
    }

    #[test]
    fn small_or_wild_settings_still_end() {
        let now = Instant::now();
        let t = parse(&json_attrs(
            serde_json::json!({"average_size": 1, "size_variation": 50}),
        ))
        .expect("valid");
        let mut ps = vec![piece(now, 500)];
        t.shape(&mut ps, &mut state(now));
        assert_eq!(ps.iter().map(|p| p.data.len()).sum::<usize>(), 500);
        assert!(parse(&json_attrs(serde_json::json!({"average_size": 0}))).is_err());
    }
}
