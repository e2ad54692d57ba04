//! Observation: what each response says about the breaker, the cache and the fallback,
//! and the breaker's transitions as the load engine sees them.
//!
//! One file per observation channel; this module holds what they share.

mod header;

pub use header::{Classifier, Markers};

use crate::breaker_state::BreakerState;
use serde::Serialize;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Where a breaker observation came from, most trusted last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A response header such as `x-circuit-state`.
    Header,
}

/// One change of the observed breaker state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// When it was seen, from the run epoch.
    #[serde(serialize_with = "crate::clock::as_secs")]
    pub at: Duration,
    /// The state before; `None` for the first observation.
    pub from: Option<BreakerState>,
    /// The state now.
    pub to: BreakerState,
    /// How it was seen.
    pub channel: Channel,
}

/// Records breaker transitions from concurrent observations, in the order seen.
///
/// Most observations repeat the current state; they cost one atomic load. Only a change
/// takes the lock.
#[derive(Debug, Default)]
pub struct BreakerTracker {
    current: AtomicU8,
    transitions: Mutex<Vec<Transition>>,
}

impl BreakerTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that `state` was observed at `at` through `channel`.
    pub fn observe(&self, at: Duration, state: BreakerState, channel: Channel) {
        if self.current.load(Ordering::Acquire) == state.to_code() {
            return;
        }
        let mut transitions = self.transitions.lock().unwrap_or_else(|e| e.into_inner());
        let from = BreakerState::from_code(self.current.load(Ordering::Acquire));
        if from == Some(state) {
            return;
        }
        // A response that finished before the last transition but arrives after it reports
        // a state already superseded: ignore it rather than record a phantom flip.
        if transitions.last().is_some_and(|last| at < last.at) {
            return;
        }
        self.current.store(state.to_code(), Ordering::Release);
        transitions.push(Transition {
            at,
            from,
            to: state,
            channel,
        });
    }

    /// The last state observed, if any.
    pub fn current(&self) -> Option<BreakerState> {
        BreakerState::from_code(self.current.load(Ordering::Acquire))
    }

    /// Every transition so far, oldest first.
    pub fn transitions(&self) -> Vec<Transition> {
        self.transitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_records_only_changes_in_order() {
        let t = BreakerTracker::new();
        let s = |ms| Duration::from_millis(ms);
        t.observe(s(1), BreakerState::Closed, Channel::Header);
        t.observe(s(2), BreakerState::Closed, Channel::Header);
        t.observe(s(3), BreakerState::Open, Channel::Header);
        t.observe(s(4), BreakerState::Open, Channel::Header);
        t.observe(s(5), BreakerState::HalfOpen, Channel::Header);
        t.observe(s(6), BreakerState::Closed, Channel::Header);
        let seen: Vec<_> = t
            .transitions()
            .iter()
            .map(|tr| (tr.at, tr.from, tr.to))
            .collect();
        assert_eq!(
            seen,
            vec![
                (s(1), None, BreakerState::Closed),
                (s(3), Some(BreakerState::Closed), BreakerState::Open),
                (s(5), Some(BreakerState::Open), BreakerState::HalfOpen),
                (s(6), Some(BreakerState::HalfOpen), BreakerState::Closed),
            ]
        );
        assert_eq!(t.current(), Some(BreakerState::Closed));
        t.observe(s(4), BreakerState::Open, Channel::Header);
        assert_eq!(
            t.transitions().len(),
            4,
            "a late, stale observation is not a transition"
        );
    }
}
