//! The validated model of `[observe]`: response markers and the breaker channels.

use super::Channel;
use crate::breaker_state::BreakerState;
use std::time::Duration;

/// What the observer reads: response markers, and the channels that reveal breaker state.
#[derive(Debug, Clone)]
pub struct ObserveSettings {
    /// Header carrying the breaker state; empty means none is read.
    pub state_header: String,
    /// Header carrying cache status.
    pub cache_header: String,
    /// Values of the cache header that mean "hit" (case-insensitive).
    pub cache_hit_values: Vec<String>,
    /// Header whose presence (any value but `false`) marks a fallback response.
    pub fallback_header: String,
    /// Further ways a response is marked as a fallback (body matches).
    pub fallback: MarkerRule,
    /// What marks a fast rejection by an open breaker; a non-empty rule turns on the
    /// `markers` channel.
    pub rejection: MarkerRule,
    /// A state endpoint to poll, if any.
    pub endpoint: Option<EndpointSettings>,
    /// A Prometheus exposition to scrape, if any.
    pub prometheus: Option<PrometheusSettings>,
    /// Inference from the proxy's tap.
    pub tap: TapSettings,
    /// Channels in order of trust for the best-estimate timeline, most trusted first.
    pub trust: Vec<Channel>,
}

impl Default for ObserveSettings {
    fn default() -> Self {
        ObserveSettings {
            state_header: "x-circuit-state".into(),
            cache_header: "x-cache".into(),
            cache_hit_values: vec!["HIT".into()],
            fallback_header: "x-fallback".into(),
            fallback: MarkerRule::default(),
            rejection: MarkerRule::default(),
            endpoint: None,
            prometheus: None,
            tap: TapSettings::default(),
            trust: Channel::ALL.to_vec(),
        }
    }
}

/// Ways a response can be marked (as a fallback, or as a fast rejection).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarkerRule {
    /// Any of these statuses marks it.
    pub statuses: Vec<u16>,
    /// A `Retry-After` header marks it.
    pub retry_after: bool,
    /// The presence of any of these headers marks it.
    pub headers: Vec<String>,
    /// A match on the body marks it.
    pub body: Option<BodyMatch>,
}

impl MarkerRule {
    /// Whether the rule can mark anything at all.
    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty()
            && !self.retry_after
            && self.headers.is_empty()
            && self.body.is_none()
    }
}

/// A match on a response body.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyMatch {
    /// The body contains this text.
    Contains(String),
    /// The JSON body has a value at this pointer (RFC 6901): equal to `equals` when given,
    /// else anything but `null`, `false`, `0` or `""`.
    Pointer {
        /// The JSON pointer, e.g. `/fallback`.
        pointer: String,
        /// The value it must hold.
        equals: Option<serde_json::Value>,
    },
}

/// Spellings that override the built-in ones when reading a polled state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateSpellings {
    /// Values meaning closed.
    pub closed: Vec<String>,
    /// Values meaning open.
    pub open: Vec<String>,
    /// Values meaning half-open.
    pub half_open: Vec<String>,
}

impl StateSpellings {
    /// The state `raw` names: an override first (case-insensitive), else the built-in
    /// spellings.
    pub fn read(&self, raw: &str) -> Option<BreakerState> {
        let raw = raw.trim();
        let hit = |list: &[String]| list.iter().any(|v| v.eq_ignore_ascii_case(raw));
        if hit(&self.closed) {
            Some(BreakerState::Closed)
        } else if hit(&self.open) {
            Some(BreakerState::Open)
        } else if hit(&self.half_open) {
            Some(BreakerState::HalfOpen)
        } else {
            BreakerState::parse_lenient(raw)
        }
    }
}

/// How often and how patiently a URL is polled.
#[derive(Debug, Clone, PartialEq)]
pub struct PollSettings {
    /// The URL (http), or a path (`/breaker`) relative to the target.
    pub url: String,
    /// Time between polls.
    pub interval: Duration,
    /// Upper bound on one poll.
    pub timeout: Duration,
}

/// A JSON state endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSettings {
    /// Where and how often.
    pub poll: PollSettings,
    /// JSON pointer to the state value, e.g. `/circuitBreakers/backendA/state`.
    pub pointer: String,
    /// Spellings overriding the built-in ones.
    pub states: StateSpellings,
}

/// A Prometheus gauge that carries the breaker state.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSettings {
    /// Where and how often.
    pub poll: PollSettings,
    /// Metric name and the labels a sample must carry.
    pub metric: String,
    /// Label pairs the sample must carry.
    pub labels: Vec<(String, String)>,
    /// How a state is read from the selected samples.
    pub read: GaugeRead,
}

/// How a breaker state is read from Prometheus samples.
#[derive(Debug, Clone, PartialEq)]
pub enum GaugeRead {
    /// One sample per state, 1 for the current one (resilience4j): the state is the value
    /// of this label on the sample whose value is 1.
    OneHot {
        /// The label naming the state, usually `state`.
        label: String,
    },
    /// One sample whose value maps onto a state.
    Value {
        /// Value meaning closed.
        closed: Option<f64>,
        /// Value meaning open.
        open: Option<f64>,
        /// Value meaning half-open.
        half_open: Option<f64>,
    },
}

/// Inference of breaker states from the proxy's tap.
#[derive(Debug, Clone, PartialEq)]
pub struct TapSettings {
    /// Whether to infer at all (needs the proxy).
    pub enabled: bool,
    /// Shortest gap in upstream attempts that counts as the breaker shielding the upstream.
    pub quiet: Duration,
    /// Fewest client requests during that gap.
    pub min_client_requests: u32,
    /// Successful probes after which a half-open breaker counts as closed.
    pub probes_to_close: u32,
}

impl Default for TapSettings {
    fn default() -> Self {
        TapSettings {
            enabled: true,
            quiet: Duration::from_millis(250),
            min_client_requests: 5,
            probes_to_close: 1,
        }
    }
}
