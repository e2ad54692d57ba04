//! Observation: what each response says about the breaker, the cache and the fallback,
//! and the breaker's transitions as the load engine sees them.
//!
//! The only channel built so far is response markers (headers); state endpoints,
//! Prometheus scrapes and inference from the proxy's tap come later and will feed the same
//! [`BreakerTracker`] with their own [`Channel`].

use crate::breaker_state::BreakerState;
use crate::config::ObserveSettings;
use http::header::{HeaderMap, HeaderName};
use serde::Serialize;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What one response's markers say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Markers {
    /// The breaker state the response reports, if it reports one.
    pub breaker: Option<BreakerState>,
    /// Served from cache.
    pub cache_hit: bool,
    /// A fallback, not the dependency's answer.
    pub fallback: bool,
}

/// Reads the configured marker headers from responses.
#[derive(Debug, Clone)]
pub struct Classifier {
    state: Option<HeaderName>,
    cache: Option<HeaderName>,
    cache_hit_values: Vec<String>,
    fallback: Option<HeaderName>,
}

impl Classifier {
    /// A classifier for `settings`; a header name that is not valid HTTP is never matched.
    pub fn new(settings: &ObserveSettings) -> Self {
        let name = |n: &str| HeaderName::from_bytes(n.trim().to_ascii_lowercase().as_bytes()).ok();
        Classifier {
            state: name(&settings.state_header),
            cache: name(&settings.cache_header),
            cache_hit_values: settings
                .cache_hit_values
                .iter()
                .map(|v| v.trim().to_ascii_lowercase())
                .collect(),
            fallback: name(&settings.fallback_header),
        }
    }

    /// Classifies one response by its headers.
    pub fn classify(&self, headers: &HeaderMap) -> Markers {
        let text = |name: &Option<HeaderName>| {
            name.as_ref()
                .and_then(|n| headers.get(n))
                .and_then(|v| v.to_str().ok())
        };
        Markers {
            breaker: text(&self.state).and_then(BreakerState::parse_lenient),
            cache_hit: text(&self.cache).is_some_and(|v| {
                let v = v.trim();
                self.cache_hit_values
                    .iter()
                    .any(|hit| v.eq_ignore_ascii_case(hit))
            }),
            fallback: text(&self.fallback).is_some_and(|v| {
                let v = v.trim();
                !(v.eq_ignore_ascii_case("false") || v == "0" || v.is_empty())
            }),
        }
    }
}

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

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn classifies_markers_case_insensitively() {
        let c = Classifier::new(&ObserveSettings::default());
        let m = c.classify(&headers(&[
            ("x-circuit-state", "HALF_OPEN"),
            ("x-cache", "hit"),
            ("x-fallback", "true"),
        ]));
        assert_eq!(
            m,
            Markers {
                breaker: Some(BreakerState::HalfOpen),
                cache_hit: true,
                fallback: true
            }
        );
        let m = c.classify(&headers(&[("x-cache", "MISS"), ("x-fallback", "false")]));
        assert_eq!(m, Markers::default());
    }

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
