//! What a running drill shows outside the terminal: the per-second NDJSON series
//! ([`series`]), and a Prometheus/OpenMetrics endpoint ([`endpoint`]) that renders a
//! [`LiveBoard`] ([`exposition`]).
//!
//! One task (the command's live loop) owns the [`Sampler`](crate::drill::Sampler), drains
//! it once a second and updates the board; scrapes read the board under a short lock, never
//! the load engine.

pub mod endpoint;
pub mod exposition;
pub mod series;

pub use endpoint::MetricsEndpoint;
pub use series::SeriesWriter;

use crate::breaker_state::Channel;
use crate::drill::{ProgressSnapshot, Sampler, SecondRow};
use crate::metrics::recent::{LatencyBuckets, ERROR_KINDS};
use std::time::Duration;

/// Counts of one phase, from the drained seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhaseCounts {
    /// Phase name.
    pub phase: String,
    /// Requests finished.
    pub requests: u64,
    /// Errors by [`ERROR_KINDS`].
    pub errors: [u64; ERROR_KINDS.len()],
    /// Fallback responses.
    pub fallbacks: u64,
    /// Cache hits.
    pub cache_hits: u64,
}

/// A fault as the board shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultState {
    /// The profile it comes from.
    pub profile: String,
    /// Its kind.
    pub kind: &'static str,
    /// Whether it is on now.
    pub on: bool,
}

/// Everything `/metrics` shows, updated once a second.
#[derive(Debug, Clone, Default)]
pub struct LiveBoard {
    /// The latest reading.
    pub snapshot: ProgressSnapshot,
    /// Counts per phase, in phase order (phases that have not run have zeros).
    pub phases: Vec<PhaseCounts>,
    /// Latencies of every drained second.
    pub latency: LatencyBuckets,
    /// Median, 95th and 99th percentile over the rolling window.
    pub recent_quantiles: [Option<Duration>; 3],
    /// Transitions per live channel so far.
    pub transitions: Vec<(Channel, usize)>,
    /// Every scheduled fault, with whether it is on.
    pub faults: Vec<FaultState>,
    /// Whether the run is over.
    pub finished: bool,
}

impl LiveBoard {
    /// Takes in the seconds `rows` just drained by `sampler`, and its reading now.
    pub fn update(&mut self, sampler: &Sampler, rows: &[SecondRow]) {
        let progress = sampler.progress();
        if self.phases.is_empty() {
            self.phases = progress
                .phases()
                .iter()
                .map(|p| PhaseCounts {
                    phase: p.name.clone(),
                    ..PhaseCounts::default()
                })
                .collect();
        }
        for row in rows {
            let Some(p) = self.phases.iter_mut().find(|p| p.phase == row.phase) else {
                continue;
            };
            p.requests += row.requests;
            for (kind, n) in &row.errors_by_kind {
                let i = crate::metrics::recent::error_kind_index(kind);
                p.errors[i] += n;
            }
            p.fallbacks += row.fallbacks;
            p.cache_hits += row.cache_hits;
        }
        self.snapshot = sampler.snapshot();
        self.latency = sampler.since_start().latency.clone();
        let window = sampler.window();
        self.recent_quantiles = [0.5, 0.95, 0.99].map(|q| window.latency.quantile(q));
        self.transitions = sampler.transitions();
        let now = self.snapshot.elapsed;
        self.faults = progress
            .faults()
            .iter()
            .map(|f| FaultState {
                profile: f.profile.clone(),
                kind: f.kind,
                on: f.is_on(now),
            })
            .collect();
    }
}
