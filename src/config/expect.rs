//! The validated model of `[expect]`: thresholds and breaker expectations.

use crate::breaker_state::BreakerState;
use std::time::Duration;

/// Every criterion of the drill.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// Metric bounds, each on the whole run or one phase / request group.
    pub thresholds: Vec<Threshold>,
    /// What the breaker must be seen to do.
    pub breaker: Option<BreakerExpectations>,
}

/// One metric bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// Phase it applies to; `None` is the whole run.
    pub phase: Option<String>,
    /// Request group it applies to; `None` is every request.
    pub request: Option<String>,
    /// User type it applies to; `None` is every user type.
    pub user: Option<String>,
    /// Only requests carrying this tag; `None` is every request.
    pub tag: Option<String>,
    /// What is measured.
    pub metric: Metric,
    /// The limits that separate pass, warn and fail.
    pub limits: Limits,
    /// Fewer requests than this in scope makes the criterion fail as unmeasurable.
    pub min_requests: u64,
    /// Judge the worst window of this length instead of the whole scope (rates only).
    pub window: Option<Duration>,
    /// Stop the run as soon as the threshold fails (rates only), after `grace`.
    pub abort: Option<AbortRule>,
}

/// When a failing threshold stops the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbortRule {
    /// How long the scope must have run before the threshold is checked.
    pub grace: Duration,
}

/// A measured quantity a threshold bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency statistic, bounded from above.
    Latency(LatencyStat),
    /// Failed requests (transport error or 5xx) over all requests, at most.
    ErrorRate,
    /// Cache hits over all responses, at least.
    MinCacheHitRate,
    /// Fallback responses over all responses, at least.
    MinFallbackRate,
    /// Fallback responses over all responses, at most.
    MaxFallbackRate,
    /// Passed per-request checks over all checks, at least.
    MinCheckRate,
}

impl Metric {
    /// Whether larger values are worse (latency, error rate), or better (hit rates).
    pub fn higher_is_worse(self) -> bool {
        !matches!(
            self,
            Metric::MinCacheHitRate | Metric::MinFallbackRate | Metric::MinCheckRate
        )
    }

    /// Whether the metric is counted per second, so windows and aborts can judge it.
    pub fn in_series(self) -> bool {
        self.is_rate() && self != Metric::MinCheckRate
    }

    /// Whether the metric is a rate (a fraction of requests).
    pub fn is_rate(self) -> bool {
        !matches!(self, Metric::Latency(_))
    }
}

/// Which latency statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyStat {
    /// A quantile in (0, 1), e.g. 0.999.
    Quantile(f64),
    /// The largest.
    Max,
    /// The mean.
    Mean,
}

/// The limits of a threshold, in the metric's unit (seconds for latency, a fraction for
/// rates). With only `fail`, the value passes or fails; with `target` too, a value past the
/// target but not past `fail` warns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Past this the value warns (the team's target).
    pub target: Option<f64>,
    /// Past this the value fails.
    pub fail: f64,
    /// Whether reaching `fail` exactly already fails (`failure = …`), or only passing it
    /// does (`acceptable = …` or a plain value).
    pub fail_inclusive: bool,
}

/// An inclusive range of counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRange {
    /// Smallest allowed.
    pub min: u64,
    /// Largest allowed.
    pub max: u64,
}

/// What the breaker must be seen to do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BreakerExpectations {
    /// States that must be observed in this order (others may come between).
    pub sequence: Vec<BreakerState>,
    /// How many times in a row `sequence` must be observed (flapping profiles).
    pub repeat: u32,
    /// Upstream failures the proxy saw before the open.
    pub opens_after: Option<CountRange>,
    /// The breaker must open no later than this after the first injected failure.
    pub opens_within: Option<Duration>,
    /// Measure `opens_within` from the first injection of this fault profile instead.
    pub opens_from: Option<String>,
    /// The first half-open must come this long after the open, within `tolerance`.
    pub half_open_after: Option<Duration>,
    /// Allowed deviation for `half_open_after`.
    pub tolerance: Duration,
    /// The breaker must be closed no later than this after the last fault window ends.
    pub closes_within: Option<Duration>,
    /// While open: upstream attempts and client latency.
    pub rejects_while_open: Option<RejectsWhileOpen>,
    /// Most upstream attempts during one half-open period.
    pub max_half_open_probes: Option<u64>,
    /// Every response seen while open must be a fallback or a cache hit.
    pub fallback_while_open: bool,
    /// The last observed state must be closed.
    pub closed_at_end: bool,
    /// Channels must not disagree for longer than their combined resolution; `None`
    /// judges it whenever two channels saw states.
    pub channels_agree: Option<bool>,
}

/// What "rejects while open" allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RejectsWhileOpen {
    /// Upstream attempts allowed per open period (the probe that ends it).
    pub allowed_probes: u64,
    /// Slowest client latency allowed for requests sent while open.
    pub max_latency: Option<Duration>,
}
