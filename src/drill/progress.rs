//! A live view of a running drill, for the progress line.

use crate::breaker_state::BreakerState;
use crate::clock::RunClock;
use crate::load::Live;
use crate::observe::BreakerTracker;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A view of a running drill for a progress display.
#[derive(Debug, Clone)]
pub struct Progress {
    pub(super) live: Arc<Live>,
    pub(super) header: Arc<BreakerTracker>,
    pub(super) clock: RunClock,
    pub(super) phases: Vec<String>,
    pub(super) total: Duration,
}

/// One reading of [`Progress`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressSnapshot {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Planned length of the run.
    pub total: Duration,
    /// Current phase name.
    pub phase: String,
    /// Requests finished so far.
    pub requests: u64,
    /// Errors so far.
    pub errors: u64,
    /// Fallbacks so far.
    pub fallbacks: u64,
    /// Last breaker state a response header reported.
    pub breaker: Option<BreakerState>,
}

impl Progress {
    /// Reads the counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let phase = self.live.phase.load(Ordering::Relaxed);
        ProgressSnapshot {
            elapsed: self.clock.elapsed().unwrap_or_default(),
            total: self.total,
            phase: self.phases.get(phase).cloned().unwrap_or_default(),
            requests: self.live.requests.load(Ordering::Relaxed),
            errors: self.live.errors.load(Ordering::Relaxed),
            fallbacks: self.live.fallbacks.load(Ordering::Relaxed),
            breaker: self.header.current(),
        }
    }
}
