//! The breaker-state vocabulary every stage shares: drills name states and channels, the
//! demo service reports states, the observer reads them, the verdict compares them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A circuit breaker's state, in the canonical spelling of breakerbox.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls pass through to the dependency.
    Closed,
    /// Calls are rejected without touching the dependency.
    Open,
    /// A trial period: some calls probe the dependency to decide whether to close.
    HalfOpen,
}

impl BreakerState {
    /// The canonical name: `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// Reads the many spellings breaker libraries use (`HALF_OPEN`, `half-open`, `halfOpen`,
    /// `CIRCUIT_OPEN`, `forced_open`, …) as one of the three states. A disabled breaker
    /// (`DISABLED`, `METRICS_ONLY`) lets every call through, so it reads as closed.
    pub fn parse_lenient(text: &str) -> Option<BreakerState> {
        let folded: String = text
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let folded = folded
            .strip_prefix("circuit")
            .or_else(|| folded.strip_prefix("state"))
            .unwrap_or(&folded);
        match folded {
            // resilience4j's DISABLED and METRICS_ONLY let every call through: closed.
            "closed" | "close" | "disabled" | "metricsonly" => Some(BreakerState::Closed),
            "open" | "forcedopen" | "forceopen" => Some(BreakerState::Open),
            "halfopen" | "halfopened" => Some(BreakerState::HalfOpen),
            _ => None,
        }
    }

    /// A compact code for lock-free storage in an atomic.
    pub fn to_code(self) -> u8 {
        match self {
            BreakerState::Closed => 1,
            BreakerState::Open => 2,
            BreakerState::HalfOpen => 3,
        }
    }

    /// The inverse of [`BreakerState::to_code`]; `None` for "nothing seen yet" (0).
    pub fn from_code(code: u8) -> Option<BreakerState> {
        match code {
            1 => Some(BreakerState::Closed),
            2 => Some(BreakerState::Open),
            3 => Some(BreakerState::HalfOpen),
            _ => None,
        }
    }
}

/// A way of seeing the breaker's state; each keeps its own timeline and resolution.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A state endpoint polled for JSON (e.g. Spring Boot actuator `circuitbreakers`).
    Endpoint,
    /// A Prometheus exposition scraped for a state gauge.
    Prometheus,
    /// Inferred from the fault proxy's upstream attempts against the client's requests.
    Tap,
    /// A response header such as `x-circuit-state`.
    Header,
    /// Rejection markers on responses: a status, `Retry-After`, a header or a body match.
    Markers,
}

impl Channel {
    /// Every channel, in the default order of trust (most trusted first).
    pub const ALL: [Channel; 5] = [
        Channel::Endpoint,
        Channel::Prometheus,
        Channel::Tap,
        Channel::Header,
        Channel::Markers,
    ];

    /// The channel's name as drills write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Endpoint => "endpoint",
            Channel::Prometheus => "prometheus",
            Channel::Tap => "tap",
            Channel::Header => "header",
            Channel::Markers => "markers",
        }
    }

    /// The channel named `name`, if any.
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_spellings_map_to_canonical_states() {
        for (text, want) in [
            ("closed", BreakerState::Closed),
            ("CLOSED", BreakerState::Closed),
            ("HALF_OPEN", BreakerState::HalfOpen),
            ("half-open", BreakerState::HalfOpen),
            ("halfOpen", BreakerState::HalfOpen),
            ("CIRCUIT_OPEN", BreakerState::Open),
            ("FORCED_OPEN", BreakerState::Open),
            (" open ", BreakerState::Open),
        ] {
            assert_eq!(BreakerState::parse_lenient(text), Some(want), "{text}");
        }
        assert_eq!(
            BreakerState::parse_lenient("METRICS_ONLY"),
            Some(BreakerState::Closed)
        );
        assert_eq!(BreakerState::parse_lenient("ajar"), None);
        assert_eq!(BreakerState::parse_lenient(""), None);
    }

    #[test]
    fn codes_round_trip() {
        for s in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ] {
            assert_eq!(BreakerState::from_code(s.to_code()), Some(s));
        }
        assert_eq!(BreakerState::from_code(0), None);
    }
}
