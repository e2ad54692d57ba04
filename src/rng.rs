//! A small, seeded, version-stable random number generator.
//!
//! Every random choice in a run (request mix, path values, fault decisions) derives from the
//! drill's one seed, so a run can be replayed. We keep our own generator rather than a crate's
//! so the sequence for a given seed never changes under a dependency upgrade.

/// SplitMix64: fast, statistically solid for load mixes, and trivially seedable per stream.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for one stream of decisions, e.g. one virtual user of one phase.
    pub fn new(seed: u64, stream: u64) -> Self {
        Rng {
            state: mix(seed ^ mix(stream.wrapping_add(0x9E37_79B9_7F4A_7C15))),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        unit_f64(self.next_u64())
    }

    /// A uniform integer in `[low, high]` (inclusive); `low` when the range is empty.
    pub fn range_inclusive(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        // i128: the span of the full i64 range does not fit in 64 bits.
        let span = (high as i128 - low as i128 + 1) as u128;
        (low as i128 + (self.next_u64() as u128 % span) as i128) as i64
    }
}

/// One stateless decision: a uniform float in `[0, 1)` for the `n`-th event of `stream`.
///
/// The fault proxy uses this so concurrent requests need no shared generator: decision `n`
/// depends only on the seed, the stream and `n`.
pub fn decision(seed: u64, stream: u64, n: u64) -> f64 {
    unit_f64(mix(seed ^ mix(stream ^ mix(n))))
}

fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7, 1);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7, 1);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7, 2);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn range_stays_inside_bounds_and_covers_them() {
        let mut r = Rng::new(1, 0);
        let mut seen = [false; 4];
        for _ in 0..1000 {
            let v = r.range_inclusive(3, 6);
            assert!((3..=6).contains(&v));
            seen[(v - 3) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        let extreme = r.range_inclusive(i64::MIN, i64::MAX);
        assert!((i64::MIN..=i64::MAX).contains(&extreme));
        assert_eq!(r.range_inclusive(i64::MAX, i64::MAX), i64::MAX);
    }

    #[test]
    fn decisions_are_roughly_uniform() {
        let hits = (0..10_000).filter(|n| decision(42, 3, *n) < 0.3).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
    }
}
