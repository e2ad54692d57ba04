//! Reading a response for a request's captures and checks.
//!
//! Both work on the kept start of the body (at most [`MAX_KEPT_BODY`]); the JSON body is
//! parsed at most once per response, and only when a pointer asks for it.

use crate::config::{CaptureSource, CaptureSpec, Checks};
use crate::metrics::CheckTally;
use http::HeaderMap;
use serde_json::Value;
use std::time::Duration;

/// Most body bytes kept for captures and checks; a longer body is cut, so a JSON pointer
/// into it finds nothing.
pub const MAX_KEPT_BODY: usize = 1 << 20;

/// A response as captures and checks see it.
pub(super) struct Seen<'a> {
    pub status: u16,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// From the send to the last byte.
    pub service: Duration,
    json: Option<Option<Value>>,
}

impl<'a> Seen<'a> {
    pub fn new(status: u16, headers: &'a HeaderMap, body: &'a [u8], service: Duration) -> Self {
        Seen {
            status,
            headers,
            body,
            service,
            json: None,
        }
    }

    /// The body parsed as JSON (once), if it is JSON.
    fn json(&mut self) -> Option<&Value> {
        let body = self.body;
        self.json
            .get_or_insert_with(|| serde_json::from_slice(body).ok())
            .as_ref()
    }

    fn text(&self) -> std::borrow::Cow<'a, str> {
        String::from_utf8_lossy(self.body)
    }

    /// The value `capture` takes from this response; `None` when it finds nothing (or only
    /// an empty value, which is never sent).
    pub fn capture(&mut self, capture: &CaptureSpec) -> Option<String> {
        let found = match &capture.source {
            CaptureSource::Json(pointer) => match self.json()?.pointer(pointer)? {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            },
            CaptureSource::Header(name) => self
                .headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            CaptureSource::Regex(re) => {
                let text = self.text();
                re.captures(&text).and_then(|c| {
                    c.get(1)
                        .or_else(|| c.get(0))
                        .map(|m| m.as_str().to_string())
                })
            }
        };
        found.filter(|v| !v.is_empty())
    }

    /// How the response fares against `checks`.
    pub fn check(&mut self, checks: &Checks) -> CheckTally {
        let mut tally = CheckTally::default();
        let count = |tally: &mut CheckTally, bit: u8, passed: bool| {
            if passed {
                tally.passed += 1;
            } else {
                tally.failed += 1;
                tally.failed_kinds |= 1 << bit;
            }
        };
        if !checks.status.is_empty() {
            count(&mut tally, 0, checks.status.contains(&self.status));
        }
        if let Some(needle) = &checks.body_contains {
            let needle = needle.as_bytes();
            let found = !needle.is_empty() && self.body.windows(needle.len()).any(|w| w == needle);
            count(&mut tally, 1, found);
        }
        if let Some(pointer) = &checks.body_pointer {
            let want = checks.body_equals.as_ref();
            let passed = match self.json().and_then(|doc| doc.pointer(pointer)) {
                None | Some(Value::Null) => false,
                Some(found) => want.is_none_or(|want| same_json(found, want)),
            };
            count(&mut tally, 2, passed);
        }
        if let Some(max) = checks.max_duration {
            count(&mut tally, 3, self.service <= max);
        }
        tally
    }
}

/// Every check of `checks` failed: the request got no response.
pub(super) fn all_failed(checks: &Checks) -> CheckTally {
    let mut kinds = 0u8;
    for (bit, given) in [
        !checks.status.is_empty(),
        checks.body_contains.is_some(),
        checks.body_pointer.is_some(),
        checks.max_duration.is_some(),
    ]
    .into_iter()
    .enumerate()
    {
        if given {
            kinds |= 1 << bit;
        }
    }
    CheckTally {
        passed: 0,
        failed: checks.count(),
        failed_kinds: kinds,
    }
}

/// JSON equality where `1` and `1.0` are the same number.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(source: CaptureSource) -> CaptureSpec {
        CaptureSpec {
            name: "x".into(),
            slot: 0,
            source,
        }
    }

    #[test]
    fn captures_from_json_headers_and_regex() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", "abc".parse().expect("value"));
        let body = br#"{"token":"t-1","user":{"id":42,"tags":["a"]},"none":null,"empty":""}"#;
        let mut seen = Seen::new(200, &headers, body, Duration::ZERO);
        let json = |p: &str| spec(CaptureSource::Json(p.into()));
        assert_eq!(seen.capture(&json("/token")).as_deref(), Some("t-1"));
        assert_eq!(seen.capture(&json("/user/id")).as_deref(), Some("42"));
        assert_eq!(
            seen.capture(&json("/user/tags")).as_deref(),
            Some("[\"a\"]")
        );
        assert_eq!(seen.capture(&json("/none")), None, "null is nothing");
        assert_eq!(seen.capture(&json("/empty")), None, "empty is nothing");
        assert_eq!(seen.capture(&json("/missing")), None);
        let header = spec(CaptureSource::Header("x-request-id".parse().expect("name")));
        assert_eq!(seen.capture(&header).as_deref(), Some("abc"));
        let absent = spec(CaptureSource::Header("x-other".parse().expect("name")));
        assert_eq!(seen.capture(&absent), None);
        let group = spec(CaptureSource::Regex(
            regex::Regex::new(r#""id":(\d+)"#).expect("re"),
        ));
        assert_eq!(seen.capture(&group).as_deref(), Some("42"));
        let whole = spec(CaptureSource::Regex(
            regex::Regex::new(r"t-\d").expect("re"),
        ));
        assert_eq!(seen.capture(&whole).as_deref(), Some("t-1"));
        let none = spec(CaptureSource::Regex(regex::Regex::new(r"zzz").expect("re")));
        assert_eq!(seen.capture(&none), None);
        let mut not_json = Seen::new(200, &headers, b"<html>", Duration::ZERO);
        assert_eq!(not_json.capture(&json("/token")), None);
    }

    #[test]
    fn checks_count_each_condition() {
        let headers = HeaderMap::new();
        let body = br#"{"ok":true,"n":1.0}"#;
        let checks = Checks {
            status: vec![200, 201],
            body_contains: Some("\"ok\"".into()),
            body_pointer: Some("/n".into()),
            body_equals: Some(serde_json::json!(1)),
            max_duration: Some(Duration::from_millis(50)),
        };
        let fast = Seen::new(201, &headers, body, Duration::from_millis(10)).check(&checks);
        assert_eq!((fast.passed, fast.failed), (4, 0));
        let slow = Seen::new(500, &headers, b"nope", Duration::from_millis(80)).check(&checks);
        assert_eq!((slow.passed, slow.failed), (0, 4));
        assert_eq!(slow.failed_kinds, 0b1111);
        let none = all_failed(&checks);
        assert_eq!(
            (none.passed, none.failed, none.failed_kinds),
            (0, 4, 0b1111)
        );
        let exists = Checks {
            body_pointer: Some("/ok".into()),
            ..Checks::default()
        };
        let t = Seen::new(200, &headers, body, Duration::ZERO).check(&exists);
        assert_eq!((t.passed, t.failed), (1, 0));
    }
}
