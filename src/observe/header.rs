//! The response-header channel: breaker state, cache and fallback markers on each response.

use crate::breaker_state::BreakerState;
use crate::config::ObserveSettings;
use http::header::{HeaderMap, HeaderName};

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
}
