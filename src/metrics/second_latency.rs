//! One second's latencies, for the per-second quantiles of the series (`p50_ms`, `p95_ms`,
//! `p99_ms`, `max_ms`).
//!
//! An HDR histogram per second would cost ~136 KiB each; this keeps a log-linear count (8
//! buckets per power of two, so a quantile is within ±6% of the truth) over only the range
//! of buckets the second used: a few hundred bytes, mergeable across shards and phases. The
//! per-phase quantiles still come from the exact HDR histograms.

use std::time::Duration;

/// Buckets per power of two (a power of two itself).
const SUB: u64 = 8;
/// log2 of [`SUB`].
const SUB_BITS: u32 = 3;
/// Longest latency counted, µs (60 s, as the HDR histograms); longer ones are clamped.
const MAX_US: u64 = 60_000_000;

/// Latency counts of one second, by log-linear bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecondLatency {
    /// Bucket index of `counts[0]`.
    first: u16,
    /// Counts of buckets `first..first + counts.len()`.
    counts: Vec<u32>,
    /// Slowest latency recorded, µs (exact).
    max_us: u64,
}

impl SecondLatency {
    /// Counts one latency.
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_US)
            .min(MAX_US);
        self.max_us = self.max_us.max(us);
        self.add(bucket(us), 1);
    }

    /// Adds `other`'s counts into these.
    pub fn merge(&mut self, other: &SecondLatency) {
        for (i, &c) in other.counts.iter().enumerate() {
            if c > 0 {
                self.add(other.first + i as u16, c);
            }
        }
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Latencies counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// The `q` quantile (0..=1) in milliseconds, to 3 decimals; `None` when empty. `q` = 1
    /// gives the exact maximum.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        if q >= 1.0 {
            return Some(round3(self.max_us as f64 / 1e3));
        }
        let rank = ((q.max(0.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                let us = midpoint(self.first + i as u16).min(self.max_us as f64);
                return Some(round3(us / 1e3));
            }
        }
        Some(round3(self.max_us as f64 / 1e3))
    }

    fn add(&mut self, index: u16, n: u32) {
        if self.counts.is_empty() {
            self.first = index;
        } else if index < self.first {
            let grow = usize::from(self.first - index);
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first = index;
        }
        let at = usize::from(index - self.first);
        if self.counts.len() <= at {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] = self.counts[at].saturating_add(n);
    }
}

/// The bucket of `us`: values below [`SUB`] have one each, then [`SUB`] per power of two.
fn bucket(us: u64) -> u16 {
    if us < SUB {
        return us as u16;
    }
    let octave = 63 - us.leading_zeros(); // >= SUB_BITS
    let sub = (us >> (octave - SUB_BITS)) - SUB;
    ((octave - SUB_BITS + 1) as u64 * SUB + sub) as u16
}

/// The middle of bucket `index`, µs.
fn midpoint(index: u16) -> f64 {
    let index = u64::from(index);
    if index < SUB {
        return index as f64;
    }
    let shift = index / SUB - 1;
    let low = (SUB + index % SUB) << shift;
    low as f64 + (1u64 << shift) as f64 / 2.0
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        let mut last = 0;
        for us in [1u64, 7, 8, 15, 16, 17, 31, 32, 1000, 999_999, MAX_US] {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            let mid = midpoint(b);
            assert!(
                (mid - us as f64).abs() <= us as f64 / 16.0 + 0.5,
                "{us} → {mid}"
            );
        }
        assert_eq!(bucket(8), 8);
        assert_eq!(bucket(16), 16);
    }

    #[test]
    fn quantiles_are_within_the_bucket_width_and_merge_like_one() {
        let mut a = SecondLatency::default();
        let mut b = SecondLatency::default();
        let mut both = SecondLatency::default();
        for ms in 1..=100u64 {
            let d = Duration::from_millis(ms);
            if ms % 2 == 0 { &mut a } else { &mut b }.record(d);
            both.record(d);
        }
        a.merge(&b);
        assert_eq!(a, both);
        assert_eq!(a.count(), 100);
        let p95 = a.quantile_ms(0.95).expect("recorded");
        assert!((89.0..=101.0).contains(&p95), "{p95}");
        let p50 = a.quantile_ms(0.50).expect("recorded");
        assert!((47.0..=53.0).contains(&p50), "{p50}");
        assert_eq!(a.quantile_ms(1.0), Some(100.0));
        assert_eq!(SecondLatency::default().quantile_ms(0.5), None);
    }

    #[test]
    fn a_lower_bucket_after_a_higher_one_grows_the_range_downwards() {
        let mut s = SecondLatency::default();
        s.record(Duration::from_millis(50));
        s.record(Duration::from_micros(3));
        assert_eq!(s.count(), 2);
        assert_eq!(s.quantile_ms(0.5), Some(0.003));
        assert_eq!(s.quantile_ms(1.0), Some(50.0));
        s.record(Duration::from_secs(3600));
        assert_eq!(
            s.quantile_ms(1.0),
            Some(60_000.0),
            "clamped like the HDR histograms"
        );
    }
}
