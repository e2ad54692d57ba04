//! The last few seconds of requests, counted lock-free for live views (progress line,
//! `/metrics`, the NDJSON series): counts, errors by kind and a coarse latency histogram
//! per second of the run.
//!
//! Workers add into the slot of the second a request finished in (a handful of relaxed
//! atomic adds, no lock, no allocation); one reader drains each second once it is over,
//! which empties the slot for the second [`RING`] seconds later. The HDR histograms of the
//! result stay the exact record; these buckets are log-linear with 16 steps per power of
//! two, so a live quantile is within about 6 % of the true one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Seconds the ring holds: a reader more than `RING - 1` seconds late mixes seconds.
pub const RING: usize = 4;

/// The kinds errors are counted under: a 5xx answer, or the transport failure kinds of
/// the load engine (anything else counts as `other`).
pub const ERROR_KINDS: [&str; 8] = [
    "5xx", "timeout", "connect", "reset", "closed", "protocol", "tls", "other",
];

/// Steps per power of two.
const SUB: usize = 16;
/// Number of latency buckets: 16 µs exact, then 16 per power of two up to about 35 minutes.
pub const BUCKETS: usize = 28 * SUB;

/// The bucket a latency of `micros` falls in.
pub fn bucket_of(micros: u64) -> usize {
    if micros < SUB as u64 {
        return micros as usize;
    }
    let power = 63 - micros.leading_zeros() as usize;
    let shift = power - 4;
    let mantissa = ((micros >> shift) as usize) & (SUB - 1);
    ((shift + 1) * SUB + mantissa).min(BUCKETS - 1)
}

/// The latencies bucket `index` holds, `[low, high)` in microseconds.
pub fn bucket_bounds(index: usize) -> (u64, u64) {
    if index < SUB {
        return (index as u64, index as u64 + 1);
    }
    let shift = index / SUB - 1;
    let mantissa = (index % SUB) as u64;
    (
        (SUB as u64 + mantissa) << shift,
        (SUB as u64 + mantissa + 1) << shift,
    )
}

/// The index of `kind` in [`ERROR_KINDS`] (`other` when it is none of them).
pub fn error_kind_index(kind: &str) -> usize {
    ERROR_KINDS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(ERROR_KINDS.len() - 1)
}

/// One second's counters in the ring.
#[derive(Debug)]
struct Slot {
    requests: AtomicU64,
    errors: [AtomicU64; ERROR_KINDS.len()],
    fallbacks: AtomicU64,
    cache_hits: AtomicU64,
    latency: Box<[AtomicU64]>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            requests: AtomicU64::new(0),
            errors: Default::default(),
            fallbacks: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// The ring of per-second counters one run's workers share.
#[derive(Debug)]
pub struct RecentSeconds {
    slots: Box<[Slot]>,
}

impl Default for RecentSeconds {
    fn default() -> Self {
        RecentSeconds {
            slots: (0..RING).map(|_| Slot::default()).collect(),
        }
    }
}

/// One request as the ring counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Finished {
    /// When it finished, from the run epoch.
    pub at: Duration,
    /// Its latency, when it got a response (failures are errors, not latencies).
    pub latency: Option<Duration>,
    /// The index in [`ERROR_KINDS`] of its error, if it is one.
    pub error: Option<usize>,
    /// Answered with a fallback.
    pub fallback: bool,
    /// Answered from cache.
    pub cache_hit: bool,
}

impl RecentSeconds {
    /// Counts one finished request.
    pub fn record(&self, f: Finished) {
        let slot = &self.slots[f.at.as_secs() as usize % RING];
        slot.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(kind) = f.error {
            slot.errors[kind.min(ERROR_KINDS.len() - 1)].fetch_add(1, Ordering::Relaxed);
        }
        if f.fallback {
            slot.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        if f.cache_hit {
            slot.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(latency) = f.latency {
            let micros = latency.as_micros().min(u128::from(u64::MAX)) as u64;
            slot.latency[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes what second `second` of the run counted, leaving its slot empty for the
    /// second [`RING`] seconds later.
    pub fn drain(&self, second: u64) -> SecondCounts {
        let slot = &self.slots[second as usize % RING];
        let take = |a: &AtomicU64| a.swap(0, Ordering::Relaxed);
        SecondCounts {
            requests: take(&slot.requests),
            errors: std::array::from_fn(|i| take(&slot.errors[i])),
            fallbacks: take(&slot.fallbacks),
            cache_hits: take(&slot.cache_hits),
            latency: LatencyBuckets {
                counts: slot.latency.iter().map(take).collect(),
            },
        }
    }
}

/// What one second counted, drained from the ring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecondCounts {
    /// Requests finished.
    pub requests: u64,
    /// Errors, by [`ERROR_KINDS`].
    pub errors: [u64; ERROR_KINDS.len()],
    /// Fallback responses.
    pub fallbacks: u64,
    /// Cache hits.
    pub cache_hits: u64,
    /// Latencies of the responses.
    pub latency: LatencyBuckets,
}

impl SecondCounts {
    /// All errors, whatever their kind.
    pub fn error_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Adds `other` into these counts.
    pub fn add(&mut self, other: &SecondCounts) {
        self.requests += other.requests;
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        self.fallbacks += other.fallbacks;
        self.cache_hits += other.cache_hits;
        self.latency.add(&other.latency);
    }
}

/// A coarse latency histogram in the ring's buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyBuckets {
    /// Count per bucket (empty: nothing recorded).
    pub counts: Vec<u64>,
}

impl LatencyBuckets {
    /// Adds `other`'s counts into these.
    pub fn add(&mut self, other: &LatencyBuckets) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// Latencies counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The latency at `quantile` (0..=1), the middle of its bucket; `None` when empty.
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, high) = bucket_bounds(i);
                return Some(Duration::from_micros((low + high) / 2));
            }
        }
        None
    }

    /// Cumulative counts at each of `bounds` (upper bounds, ascending): how many latencies
    /// were at most each bound, as far as the buckets tell (a bucket counts under the
    /// first bound at or above its upper edge).
    pub fn cumulative(&self, bounds: &[Duration]) -> Vec<u64> {
        let mut out = vec![0; bounds.len()];
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let high = bucket_bounds(i).1;
            for (slot, bound) in out.iter_mut().zip(bounds) {
                if high <= bound.as_micros() as u64 {
                    *slot += n;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_their_values_and_are_narrow() {
        for micros in [0, 1, 15, 16, 17, 31, 32, 1000, 12_345, 999_999, 60_000_000] {
            let (low, high) = bucket_bounds(bucket_of(micros));
            assert!(low <= micros && micros < high, "{micros}: {low}..{high}");
            assert!(
                (high - low) as f64 <= (low.max(16) as f64) / 15.0,
                "{micros}"
            );
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn drain_takes_one_second_and_empties_its_slot() {
        let ring = RecentSeconds::default();
        for ms in 1..=100u64 {
            ring.record(Finished {
                at: Duration::from_millis(1000 + ms),
                latency: Some(Duration::from_millis(ms)),
                error: (ms > 90).then_some(0),
                fallback: ms % 10 == 0,
                cache_hit: ms % 20 == 0,
            });
        }
        ring.record(Finished {
            at: Duration::from_millis(2100),
            error: Some(error_kind_index("timeout")),
            ..Finished::default()
        });
        let one = ring.drain(1);
        assert_eq!(one.requests, 100);
        assert_eq!(one.error_total(), 10);
        assert_eq!((one.fallbacks, one.cache_hits), (10, 5));
        let p95 = one.latency.quantile(0.95).expect("latencies").as_millis();
        assert!((90..=100).contains(&p95), "{p95}");
        assert_eq!(ring.drain(1).requests, 0);
        let two = ring.drain(2);
        assert_eq!(two.errors[1], 1);
        assert_eq!(two.latency.total(), 0);
        assert_eq!(error_kind_index("weird"), ERROR_KINDS.len() - 1);
    }

    #[test]
    fn cumulative_counts_under_each_bound() {
        let mut b = LatencyBuckets {
            counts: vec![0; BUCKETS],
        };
        b.counts[bucket_of(1_000)] = 3;
        b.counts[bucket_of(100_000)] = 2;
        let c = b.cumulative(&[Duration::from_millis(10), Duration::from_secs(1)]);
        assert_eq!(c, vec![3, 5]);
    }
}
