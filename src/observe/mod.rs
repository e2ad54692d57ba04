//! Observation: what the run saw of the breaker, the cache and the fallback.
//!
//! Each channel is one file and keeps its own timeline with its own time resolution:
//! - [`header`]: markers on each response (state header, cache, fallback, rejections);
//! - [`poll`]: a state endpoint (JSON pointer) or a Prometheus gauge, polled;
//! - [`tap`]: inferred from the fault proxy's upstream attempts, no cooperation needed.
//!
//! [`merge`] folds the channels into one best-estimate timeline and lists where they
//! disagree. Channels are evidence, not truth: a disagreement is a finding of its own.

pub mod header;
pub mod merge;
pub mod poll;
pub mod prometheus;
pub mod tap;

pub use crate::breaker_state::Channel;
pub use header::{Classifier, Markers};
pub use merge::{BestTransition, Disagreement, Observations};

use crate::breaker_state::BreakerState;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Distinct unknown state spellings kept per channel (the count of the rest still grows).
const MAX_UNKNOWN_SPELLINGS: usize = 16;

/// One change of a channel's observed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Transition {
    /// When it was seen, from the run epoch.
    #[serde(
        serialize_with = "crate::clock::as_secs",
        deserialize_with = "crate::clock::from_secs"
    )]
    #[schemars(with = "f64")]
    pub at: Duration,
    /// The state before; `None` for the first observation.
    pub from: Option<BreakerState>,
    /// The state now.
    pub to: BreakerState,
    /// When the state before was last seen, for channels that see it repeatedly: the
    /// change happened between then and `at`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::clock::as_secs_opt",
        deserialize_with = "crate::clock::from_secs_opt"
    )]
    #[schemars(with = "Option<f64>")]
    pub previous_seen_at: Option<Duration>,
}

/// Appends `to` at `at` to `transitions` unless it repeats the last state.
pub(crate) fn push_state(transitions: &mut Vec<Transition>, at: Duration, to: BreakerState) {
    let from = transitions.last().map(|t| t.to);
    if from != Some(to) {
        transitions.push(Transition {
            at,
            from,
            to,
            previous_seen_at: None,
        });
    }
}

/// Records one channel's sightings as transitions, from concurrent observers.
///
/// Most sightings repeat the current state; they cost one atomic load and one add. Only a
/// change takes the lock.
#[derive(Debug, Default)]
pub struct BreakerTracker {
    current: AtomicU8,
    /// Microseconds of the latest sighting of the current state.
    current_seen_us: AtomicU64,
    sightings: AtomicU64,
    transitions: Mutex<Vec<Transition>>,
    unknown: Mutex<BTreeMap<String, u64>>,
}

impl BreakerTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that `state` was seen at `at`.
    pub fn observe(&self, at: Duration, state: BreakerState) {
        self.sightings.fetch_add(1, Ordering::Relaxed);
        if self.current.load(Ordering::Acquire) == state.to_code() {
            self.current_seen_us
                .fetch_max(at.as_micros() as u64, Ordering::Relaxed);
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
        let previous_seen_at = from.map(|_| {
            Duration::from_micros(
                self.current_seen_us
                    .swap(at.as_micros() as u64, Ordering::Relaxed),
            )
        });
        self.current_seen_us
            .store(at.as_micros() as u64, Ordering::Relaxed);
        self.current.store(state.to_code(), Ordering::Release);
        transitions.push(Transition {
            at,
            from,
            to: state,
            previous_seen_at,
        });
    }

    /// Notes a state value that no spelling maps onto (reported with its raw text).
    pub fn unknown(&self, raw: &str) {
        let mut unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = unknown.get_mut(raw) {
            *n += 1;
        } else if unknown.len() < MAX_UNKNOWN_SPELLINGS {
            unknown.insert(raw.chars().take(80).collect(), 1);
        }
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

    /// How many sightings there were, including repeats.
    pub fn sightings(&self) -> u64 {
        self.sightings.load(Ordering::Relaxed)
    }

    /// Unknown spellings seen, with their counts.
    pub fn unknown_values(&self) -> BTreeMap<String, u64> {
        self.unknown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// How a polled channel's polls went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PollStats {
    /// Polls sent.
    pub polls: u64,
    /// Polls that yielded a state.
    pub matched: u64,
    /// Polls that failed, by cause (`timeout`, `connect`, `status 500`, `not json`,
    /// `pointer not found`, …).
    pub failed: BTreeMap<String, u64>,
    /// Slowest poll round trip, ms.
    pub max_round_trip_ms: u64,
}

/// One channel's view of the run, as it goes into result.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChannelTimeline {
    /// Which channel.
    pub channel: Channel,
    /// How far a transition time may be from the real one.
    #[serde(
        rename = "resolution_ms",
        serialize_with = "crate::clock::as_millis",
        deserialize_with = "crate::clock::from_millis"
    )]
    #[schemars(with = "f64")]
    pub resolution: Duration,
    /// How the resolution comes about, in a sentence.
    pub resolution_basis: String,
    /// Every change the channel saw, oldest first.
    pub transitions: Vec<Transition>,
    /// Whether the channel can tell half-open from closed (rejection markers cannot: a
    /// plain answer only says the call was let through).
    pub sees_half_open: bool,
    /// Observations that yielded a state (repeats included).
    pub sightings: u64,
    /// Polling statistics (polled channels only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polls: Option<PollStats>,
    /// Values no spelling maps onto, with their counts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown_values: BTreeMap<String, u64>,
    /// Problems worth a look (never matched, no upstream traffic, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ChannelTimeline {
    /// The channel's state at `at` (its last transition at or before it).
    pub fn state_at(&self, at: Duration) -> Option<BreakerState> {
        self.transitions
            .iter()
            .take_while(|t| t.at <= at)
            .last()
            .map(|t| t.to)
    }
}

#[cfg(test)]
impl ChannelTimeline {
    /// A channel that saw `states` at these milliseconds (for tests).
    pub(crate) fn for_test(
        channel: Channel,
        resolution_ms: u64,
        states: &[(u64, BreakerState)],
    ) -> Self {
        let mut transitions = Vec::new();
        for &(ms, s) in states {
            push_state(&mut transitions, Duration::from_millis(ms), s);
        }
        ChannelTimeline {
            channel,
            resolution: Duration::from_millis(resolution_ms),
            resolution_basis: String::new(),
            transitions,
            sees_half_open: true,
            sightings: states.len() as u64,
            polls: None,
            unknown_values: Default::default(),
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_records_only_changes_in_order() {
        let t = BreakerTracker::new();
        let s = |ms| Duration::from_millis(ms);
        t.observe(s(1), BreakerState::Closed);
        t.observe(s(2), BreakerState::Closed);
        t.observe(s(3), BreakerState::Open);
        assert_eq!(t.transitions()[1].previous_seen_at, Some(s(2)));
        t.observe(s(4), BreakerState::Open);
        t.observe(s(5), BreakerState::HalfOpen);
        t.observe(s(6), BreakerState::Closed);
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
        assert_eq!(t.sightings(), 6);
        t.observe(s(4), BreakerState::Open);
        assert_eq!(
            t.transitions().len(),
            4,
            "a late, stale observation is not a transition"
        );
    }

    #[test]
    fn unknown_spellings_are_counted_with_their_raw_text() {
        let t = BreakerTracker::new();
        t.unknown("DISABLED");
        t.unknown("DISABLED");
        t.unknown("METRICS_ONLY");
        let u = t.unknown_values();
        assert_eq!(u.get("DISABLED"), Some(&2));
        assert_eq!(u.len(), 2);
    }
}
