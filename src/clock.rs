//! The one clock a run is measured on.
//!
//! Phases, fault windows, breaker transitions and latencies are all offsets from the run's
//! epoch, the instant the first phase starts. Parts started before that (the fault proxy)
//! share the clock and see "not started" until the epoch is set.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A shared, set-once run epoch.
#[derive(Debug, Clone, Default)]
pub struct RunClock {
    epoch: Arc<OnceLock<Instant>>,
}

impl RunClock {
    /// A clock whose epoch is not set yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the epoch to now (only the first call counts) and returns it.
    pub fn start(&self) -> Instant {
        *self.epoch.get_or_init(Instant::now)
    }

    /// The epoch, if the run has started.
    pub fn epoch(&self) -> Option<Instant> {
        self.epoch.get().copied()
    }

    /// Time since the epoch; `None` before the run starts.
    pub fn elapsed(&self) -> Option<Duration> {
        self.epoch().map(|e| e.elapsed())
    }
}

/// Serializes a run offset as seconds with millisecond precision, the unit of result.json.
pub fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}
