//! The response channels: the state header, and markers (cache hit, fallback, fast
//! rejection) read from each response's status, headers and, when a rule needs it, body.

use crate::breaker_state::BreakerState;
use crate::config::{BodyMatch, MarkerRule, ObserveSettings};
use http::header::{HeaderMap, HeaderName};

/// Largest body prefix a body matcher looks at.
pub const MAX_MATCHED_BODY: usize = 64 << 10;

/// What one response's markers say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Markers {
    /// The breaker state the response reports, if it reports one.
    pub breaker: Option<BreakerState>,
    /// The state header was present but named no known state.
    pub state_unreadable: bool,
    /// Served from cache.
    pub cache_hit: bool,
    /// A fallback, not the dependency's answer.
    pub fallback: bool,
    /// A fast rejection by an open breaker (status, `Retry-After`, header or body marker).
    pub rejected: bool,
}

impl Markers {
    /// Whether the response was not the dependency's fresh answer: fallback or cache hit.
    pub fn degraded(&self) -> bool {
        self.fallback || self.cache_hit
    }
}

/// A [`MarkerRule`] with its header names parsed.
#[derive(Debug, Clone, Default)]
struct Rule {
    statuses: Vec<u16>,
    retry_after: bool,
    headers: Vec<HeaderName>,
    body: Option<BodyMatch>,
}

impl Rule {
    fn new(rule: &MarkerRule) -> Self {
        Rule {
            statuses: rule.statuses.clone(),
            retry_after: rule.retry_after,
            headers: rule
                .headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect(),
            body: rule.body.clone(),
        }
    }

    fn is_empty(&self) -> bool {
        self.statuses.is_empty()
            && !self.retry_after
            && self.headers.is_empty()
            && self.body.is_none()
    }

    fn matches(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> bool {
        self.statuses.contains(&status)
            || (self.retry_after && headers.contains_key(http::header::RETRY_AFTER))
            || self.headers.iter().any(|h| headers.contains_key(h))
            || self.body.as_ref().is_some_and(|m| body_matches(m, body))
    }
}

fn body_matches(m: &BodyMatch, body: &[u8]) -> bool {
    match m {
        BodyMatch::Contains(text) => {
            let needle = text.as_bytes();
            !needle.is_empty() && body.windows(needle.len()).any(|w| w == needle)
        }
        BodyMatch::Pointer { pointer, equals } => {
            let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
                return false;
            };
            match (doc.pointer(pointer), equals) {
                (None, _) => false,
                (Some(v), Some(want)) => v == want,
                (Some(v), None) => {
                    !matches!(v, serde_json::Value::Null | serde_json::Value::Bool(false))
                        && v != &serde_json::json!(0)
                        && v != &serde_json::json!("")
                }
            }
        }
    }
}

/// Reads the configured markers from responses.
#[derive(Debug, Clone)]
pub struct Classifier {
    state: Option<HeaderName>,
    cache: Option<HeaderName>,
    cache_hit_values: Vec<String>,
    fallback: Option<HeaderName>,
    fallback_rule: Rule,
    rejection: Rule,
}

impl Classifier {
    /// A classifier for `settings`; a header name that is not valid HTTP is never matched.
    pub fn new(settings: &ObserveSettings) -> Self {
        let name = |n: &str| {
            let n = n.trim().to_ascii_lowercase();
            (!n.is_empty())
                .then(|| HeaderName::from_bytes(n.as_bytes()).ok())
                .flatten()
        };
        Classifier {
            state: name(&settings.state_header),
            cache: name(&settings.cache_header),
            cache_hit_values: settings
                .cache_hit_values
                .iter()
                .map(|v| v.trim().to_ascii_lowercase())
                .collect(),
            fallback: name(&settings.fallback_header),
            fallback_rule: Rule::new(&settings.fallback),
            rejection: Rule::new(&settings.rejection),
        }
    }

    /// Whether some rule reads the body (so the load engine keeps a prefix of it).
    pub fn needs_body(&self) -> bool {
        self.fallback_rule.body.is_some() || self.rejection.body.is_some()
    }

    /// Whether anything reads response headers (so the load engine keeps them).
    pub fn reads_headers(&self) -> bool {
        self.state.is_some()
            || self.cache.is_some()
            || self.fallback.is_some()
            || [&self.fallback_rule, &self.rejection]
                .iter()
                .any(|r| r.retry_after || !r.headers.is_empty())
    }

    /// Whether rejection markers are configured (the `markers` channel).
    pub fn reads_rejections(&self) -> bool {
        !self.rejection.is_empty()
    }

    /// Whether a state header is read (the `header` channel).
    pub fn reads_state(&self) -> bool {
        self.state.is_some()
    }

    /// The raw state header value, for reporting a spelling no state maps onto.
    pub fn raw_state<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        self.state
            .as_ref()
            .and_then(|n| headers.get(n))
            .and_then(|v| v.to_str().ok())
    }

    /// Classifies one response by its status, headers and body prefix.
    pub fn classify(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Markers {
        let text = |name: &Option<HeaderName>| {
            name.as_ref()
                .and_then(|n| headers.get(n))
                .and_then(|v| v.to_str().ok())
        };
        let raw_state = self.raw_state(headers);
        let breaker = raw_state.and_then(BreakerState::parse_lenient);
        let header_fallback = text(&self.fallback).is_some_and(|v| {
            let v = v.trim();
            !(v.eq_ignore_ascii_case("false") || v == "0" || v.is_empty())
        });
        Markers {
            breaker,
            state_unreadable: raw_state.is_some() && breaker.is_none(),
            cache_hit: text(&self.cache).is_some_and(|v| {
                let v = v.trim();
                self.cache_hit_values
                    .iter()
                    .any(|hit| v.eq_ignore_ascii_case(hit))
            }),
            fallback: header_fallback
                || (!self.fallback_rule.is_empty()
                    && self.fallback_rule.matches(status, headers, body)),
            rejected: !self.rejection.is_empty() && self.rejection.matches(status, headers, body),
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
        let m = c.classify(
            200,
            &headers(&[
                ("x-circuit-state", "HALF_OPEN"),
                ("x-cache", "hit"),
                ("x-fallback", "true"),
            ]),
            b"",
        );
        assert_eq!(
            m,
            Markers {
                breaker: Some(BreakerState::HalfOpen),
                cache_hit: true,
                fallback: true,
                ..Markers::default()
            }
        );
        let m = c.classify(
            200,
            &headers(&[("x-cache", "MISS"), ("x-fallback", "false")]),
            b"",
        );
        assert_eq!(m, Markers::default());
        let m = c.classify(200, &headers(&[("x-circuit-state", "ajar")]), b"");
        assert!(m.state_unreadable && m.breaker.is_none());
        assert!(!c.needs_body() && !c.reads_rejections());
    }

    #[test]
    fn rejection_and_fallback_rules_read_status_headers_and_body() {
        let settings = ObserveSettings {
            rejection: MarkerRule {
                statuses: vec![503, 429],
                retry_after: true,
                headers: vec!["x-envoy-overloaded".into()],
                body: None,
            },
            fallback: MarkerRule {
                body: Some(BodyMatch::Pointer {
                    pointer: "/fallback".into(),
                    equals: None,
                }),
                ..MarkerRule::default()
            },
            ..ObserveSettings::default()
        };
        let c = Classifier::new(&settings);
        assert!(c.needs_body() && c.reads_rejections());
        assert!(c.classify(503, &HeaderMap::new(), b"").rejected);
        assert!(
            c.classify(200, &headers(&[("retry-after", "5")]), b"")
                .rejected
        );
        assert!(
            c.classify(200, &headers(&[("x-envoy-overloaded", "true")]), b"")
                .rejected
        );
        assert!(!c.classify(500, &HeaderMap::new(), b"").rejected);
        assert!(
            c.classify(200, &HeaderMap::new(), br#"{"fallback":true}"#)
                .fallback
        );
        assert!(
            !c.classify(200, &HeaderMap::new(), br#"{"fallback":false}"#)
                .fallback
        );
        assert!(!c.classify(200, &HeaderMap::new(), b"garbage").fallback);
        let contains = BodyMatch::Contains("circuit open".into());
        assert!(body_matches(&contains, b"error: circuit open, retry later"));
        assert!(!body_matches(&contains, b"fine"));
        let equals = BodyMatch::Pointer {
            pointer: "/error".into(),
            equals: Some(serde_json::json!("CIRCUIT_OPEN")),
        };
        assert!(body_matches(&equals, br#"{"error":"CIRCUIT_OPEN"}"#));
        assert!(!body_matches(&equals, br#"{"error":"TIMEOUT"}"#));
    }
}
