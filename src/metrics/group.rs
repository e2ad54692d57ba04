//! One (phase, request group) cell's counts and HDR latency histograms (1 µs to 60 s, 3
//! significant digits), mergeable across shards and phases.

use super::{CheckTally, Outcome, Sample, CHECK_KINDS};
use crate::breaker_state::BreakerState;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest latency the histograms hold, in microseconds (60 s); longer ones are clamped.
const HISTOGRAM_MAX_US: u64 = 60_000_000;

/// Counts and latencies of one (phase, request group), mergeable.
#[derive(Debug, Clone, Default)]
pub struct GroupStats {
    latency: Option<Histogram<u64>>,
    service: Option<Histogram<u64>>,
    /// Closed-model latency corrected for coordinated omission (see [`Sample::expected_interval`]).
    corrected: Option<Histogram<u64>>,
    /// Requests finished (responses and failures).
    pub requests: u64,
    /// Failed requests and 5xx responses.
    pub errors: u64,
    /// Responses by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Failures by kind (timeout, connect, reset, …).
    pub failures: BTreeMap<&'static str, u64>,
    /// Responses marked as cache hits.
    pub cache_hits: u64,
    /// Responses marked as fallbacks.
    pub fallbacks: u64,
    /// Responses that reported each breaker state.
    pub by_state: BTreeMap<BreakerState, u64>,
    /// Responses reporting `open` that were neither a fallback nor a cache hit.
    pub open_not_degraded: u64,
    /// Per-request checks that passed.
    pub checks_passed: u64,
    /// Per-request checks that failed.
    pub checks_failed: u64,
    /// Failed checks by kind (`status`, `body_contains`, `body_pointer`, `max_duration`).
    pub check_failures: BTreeMap<&'static str, u64>,
    /// Requests not sent, by reason (a capture with no value, no free data row, …).
    pub skipped: BTreeMap<String, u64>,
    /// Captures that found nothing in a response (or had no response), by name.
    pub captures_missed: BTreeMap<String, u64>,
}

impl GroupStats {
    /// Counts one sample.
    pub fn record(&mut self, sample: &Sample) {
        self.requests += 1;
        if sample.outcome.is_error() {
            self.errors += 1;
        }
        match sample.outcome {
            Outcome::Status(s) => *self.statuses.entry(s).or_default() += 1,
            Outcome::Failed(kind) => *self.failures.entry(kind).or_default() += 1,
        }
        if let Outcome::Status(_) = sample.outcome {
            // Failures are errors, not latencies: a timeout would only measure the timeout.
            record_micros(&mut self.latency, sample.latency);
            record_micros(&mut self.service, sample.service);
            if let Some(interval) = sample.expected_interval.filter(|i| !i.is_zero()) {
                record_corrected(&mut self.corrected, sample.latency, interval);
            }
        }
        let m = sample.markers;
        self.cache_hits += u64::from(m.cache_hit);
        self.fallbacks += u64::from(m.fallback);
        if let Some(state) = m.breaker {
            *self.by_state.entry(state).or_default() += 1;
            if state == BreakerState::Open && !(m.fallback || m.cache_hit) {
                self.open_not_degraded += 1;
            }
        }
    }

    /// Counts one response's checks.
    pub fn record_checks(&mut self, checks: CheckTally) {
        self.checks_passed += u64::from(checks.passed);
        self.checks_failed += u64::from(checks.failed);
        for (bit, kind) in CHECK_KINDS.iter().enumerate() {
            if checks.failed_kinds & (1 << bit) != 0 {
                *self.check_failures.entry(kind).or_default() += 1;
            }
        }
    }

    /// Counts one request not sent, for `reason`.
    pub fn record_skip(&mut self, reason: &str) {
        bump(&mut self.skipped, reason);
    }

    /// Counts one capture, `name`, that found nothing.
    pub fn record_capture_miss(&mut self, name: &str) {
        bump(&mut self.captures_missed, name);
    }

    /// Passed checks over all checks; `None` when nothing was checked.
    pub fn check_rate(&self) -> Option<f64> {
        let all = self.checks_passed + self.checks_failed;
        (all > 0).then(|| self.checks_passed as f64 / all as f64)
    }

    /// Requests skipped, whatever the reason.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Adds `other`'s counts and latencies into these.
    pub fn merge(&mut self, other: &GroupStats) {
        self.requests += other.requests;
        self.errors += other.errors;
        for (k, v) in &other.statuses {
            *self.statuses.entry(*k).or_default() += v;
        }
        for (k, v) in &other.failures {
            *self.failures.entry(k).or_default() += v;
        }
        self.cache_hits += other.cache_hits;
        self.fallbacks += other.fallbacks;
        for (k, v) in &other.by_state {
            *self.by_state.entry(*k).or_default() += v;
        }
        self.open_not_degraded += other.open_not_degraded;
        self.checks_passed += other.checks_passed;
        self.checks_failed += other.checks_failed;
        for (k, v) in &other.check_failures {
            *self.check_failures.entry(k).or_default() += v;
        }
        for (k, v) in &other.skipped {
            *self.skipped.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.captures_missed {
            *self.captures_missed.entry(k.clone()).or_default() += v;
        }
        merge_histogram(&mut self.latency, &other.latency);
        merge_histogram(&mut self.service, &other.service);
        merge_histogram(&mut self.corrected, &other.corrected);
    }

    /// The latency at `quantile` (0..=1); `None` when nothing was recorded.
    pub fn latency(&self, quantile: f64) -> Option<Duration> {
        quantile_of(&self.latency, quantile)
    }

    /// Mean latency; `None` when nothing was recorded.
    pub fn mean_latency(&self) -> Option<Duration> {
        mean_of(&self.latency)
    }

    /// The closed-model latency at `quantile` corrected for coordinated omission: each slow
    /// response also stands for the requests its user would have started meanwhile. `None`
    /// when no request had an expected interval (open model, or no think time).
    pub fn corrected_latency(&self, quantile: f64) -> Option<Duration> {
        quantile_of(&self.corrected, quantile)
    }

    /// Mean of the corrected closed-model latency; `None` when there is none.
    pub fn mean_corrected_latency(&self) -> Option<Duration> {
        mean_of(&self.corrected)
    }

    /// The service time at `quantile` (0..=1); `None` when nothing was recorded.
    pub fn service_time(&self, quantile: f64) -> Option<Duration> {
        quantile_of(&self.service, quantile)
    }

    /// Mean service time; `None` when nothing was recorded.
    pub fn mean_service_time(&self) -> Option<Duration> {
        mean_of(&self.service)
    }

    /// `part` over all requests; 0 when there were none.
    pub fn rate(&self, part: u64) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            part as f64 / self.requests as f64
        }
    }
}

/// Adds one to `key`'s count, allocating the key only the first time.
fn bump(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_string(), 1);
        }
    }
}

fn record_micros(histogram: &mut Option<Histogram<u64>>, value: Duration) {
    let micros = (value.as_micros() as u64).clamp(1, HISTOGRAM_MAX_US);
    histogram
        .get_or_insert_with(new_histogram)
        .saturating_record(micros);
}

/// Records `value` and, as HdrHistogram's `recordValueWithExpectedInterval` does, the
/// values `value - interval`, `value - 2·interval`, … above `interval`: the requests a user
/// stuck on a slow response did not send on its schedule.
fn record_corrected(histogram: &mut Option<Histogram<u64>>, value: Duration, interval: Duration) {
    let micros = (value.as_micros() as u64).clamp(1, HISTOGRAM_MAX_US);
    let interval = (interval.as_micros() as u64).max(1);
    let _ = histogram
        .get_or_insert_with(new_histogram)
        .record_correct(micros, interval);
}

fn merge_histogram(ours: &mut Option<Histogram<u64>>, theirs: &Option<Histogram<u64>>) {
    if let Some(theirs) = theirs {
        // Same bounds on both sides, so `add` cannot run out of range.
        let _ = ours.get_or_insert_with(new_histogram).add(theirs);
    }
}

fn quantile_of(histogram: &Option<Histogram<u64>>, quantile: f64) -> Option<Duration> {
    histogram
        .as_ref()
        .filter(|h| !h.is_empty())
        .map(|h| Duration::from_micros(h.value_at_quantile(quantile)))
}

fn mean_of(histogram: &Option<Histogram<u64>>) -> Option<Duration> {
    histogram
        .as_ref()
        .filter(|h| !h.is_empty())
        .map(|h| Duration::from_secs_f64(h.mean() / 1e6))
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 60 s at 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!("3 digits is valid")))
}
