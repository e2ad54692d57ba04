//! The timeline: ordered, timestamped events of a run.

use crate::breaker_state::BreakerState;
use crate::observe::Channel;
use serde::Serialize;
use std::time::Duration;

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// The observed breaker state changed.
    Breaker {
        /// Previous state; `None` for the first observation.
        from: Option<BreakerState>,
        /// New state.
        to: BreakerState,
        /// How it was observed.
        channel: Channel,
    },
    /// The run was stopped before its end.
    Aborted {
        /// Why.
        reason: String,
    },
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Offset from the run epoch.
    #[serde(serialize_with = "crate::clock::as_secs")]
    pub at: Duration,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Events ordered by time (ties keep insertion order).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Timeline {
    events: Vec<Event>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an event, keeping the order.
    pub fn push(&mut self, at: Duration, kind: EventKind) {
        let index = self.events.partition_point(|e| e.at <= at);
        self.events.insert(index, Event { at, kind });
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

    /// The earliest fault-on event.
    pub fn first_fault_on(&self) -> Option<Duration> {
        self.events
            .iter()
            .find(|e| matches!(e.kind, EventKind::FaultOn { .. }))
            .map(|e| e.at)
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
            },
        );
        let at: Vec<_> = t.events().iter().map(|e| e.at).collect();
        assert_eq!(at, vec![s(0), s(3), s(4), s(5)]);
        assert_eq!(t.first_fault_on(), Some(s(3)));
        assert_eq!(t.breaker_transitions().count(), 1);
    }
}
