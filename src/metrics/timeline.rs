//! The timeline: ordered, timestamped events of a run.

use crate::breaker_state::{BreakerState, Channel};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A phase began.
    PhaseStart {
        /// Phase name.
        phase: String,
    },
    /// A phase ended.
    PhaseEnd {
        /// Phase name.
        phase: String,
    },
    /// A fault window opened.
    FaultOn {
        /// Schedule id (the tap counts under it).
        fault: usize,
        /// Profile name.
        profile: String,
        /// Fault kind.
        kind: String,
    },
    /// A fault window closed.
    FaultOff {
        /// Schedule id.
        fault: usize,
        /// Profile name.
        profile: String,
        /// Fault kind.
        kind: String,
    },
    /// The breaker state changed (best estimate over every channel).
    Breaker {
        /// Previous state; `None` for the first observation.
        from: Option<BreakerState>,
        /// New state.
        to: BreakerState,
        /// The channel the change was taken from.
        channel: Channel,
        /// Other channels that saw the same change within their resolution.
        corroborated_by: Vec<Channel>,
    },
    /// The run was stopped before its end.
    Aborted {
        /// Why.
        reason: String,
    },
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// Offset from the run epoch.
    #[serde(
        serialize_with = "crate::clock::as_secs",
        deserialize_with = "crate::clock::from_secs"
    )]
    #[schemars(with = "f64")]
    pub at: Duration,
    /// Absolute time, RFC 3339 with milliseconds (when the run's wall-clock epoch is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Events ordered by time (ties keep insertion order).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Timeline {
    events: Vec<Event>,
    #[serde(skip)]
    wall_epoch: Option<SystemTime>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty timeline whose events also carry absolute times from `wall_epoch`.
    pub fn with_wall_epoch(wall_epoch: Option<SystemTime>) -> Self {
        Timeline {
            events: Vec::new(),
            wall_epoch,
        }
    }

    /// Adds an event, keeping the order.
    pub fn push(&mut self, at: Duration, kind: EventKind) {
        let index = self.events.partition_point(|e| e.at <= at);
        let time = self.wall_epoch.map(|w| crate::clock::rfc3339_at(w, at));
        self.events.insert(index, Event { at, time, kind });
    }

    /// Every event, oldest first.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Breaker transitions only, as `(at, from, to)`.
    pub fn breaker_transitions(
        &self,
    ) -> impl Iterator<Item = (Duration, Option<BreakerState>, BreakerState)> + '_ {
        self.events.iter().filter_map(|e| match &e.kind {
            EventKind::Breaker { from, to, .. } => Some((e.at, *from, *to)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_stay_ordered() {
        let mut t = Timeline::new();
        let s = Duration::from_secs;
        t.push(s(5), EventKind::PhaseEnd { phase: "a".into() });
        t.push(s(0), EventKind::PhaseStart { phase: "a".into() });
        t.push(
            s(3),
            EventKind::FaultOn {
                fault: 0,
                profile: "p".into(),
                kind: "status".into(),
            },
        );
        t.push(
            s(4),
            EventKind::Breaker {
                from: Some(BreakerState::Closed),
                to: BreakerState::Open,
                channel: Channel::Header,
                corroborated_by: vec![],
            },
        );
        let at: Vec<_> = t.events().iter().map(|e| e.at).collect();
        assert_eq!(at, vec![s(0), s(3), s(4), s(5)]);
        assert_eq!(t.breaker_transitions().count(), 1);
    }
}
