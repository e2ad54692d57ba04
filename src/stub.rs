//! The stub upstream: a wiremock server scripted from the drill, standing in for the
//! service's real dependency when there is none to drill against.
//!
//! With no routes configured it serves `GET /item/{id}` with a small JSON item. Request
//! recording is off (a long drill would grow it without bound) and no mock sets an
//! expectation (wiremock panics on drop when one is unmet).

use crate::config::{StubRoute, StubSettings};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Why the stub could not start.
#[derive(Debug, thiserror::Error)]
pub enum StubError {
    /// The listen address is taken or not ours.
    #[error("stub upstream cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// A running stub upstream.
#[derive(Debug)]
pub struct Stub {
    server: MockServer,
    served: Arc<AtomicU64>,
}

impl Stub {
    /// Starts the stub with `settings`' routes (or the default item route).
    pub async fn start(settings: &StubSettings) -> Result<Stub, StubError> {
        let bind_err = |source| StubError::Bind {
            addr: settings.listen,
            source,
        };
        let listener = std::net::TcpListener::bind(settings.listen).map_err(bind_err)?;
        let server = MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await;
        let served = Arc::new(AtomicU64::new(0));
        let routes = if settings.routes.is_empty() {
            vec![default_route()]
        } else {
            settings.routes.clone()
        };
        for route in routes {
            Mock::given(wiremock::matchers::method(route.method.as_str()))
                .and(PathPattern::new(&route.path))
                .respond_with(RouteResponder {
                    pattern: PathPattern::new(&route.path),
                    route,
                    served: served.clone(),
                })
                .mount(&server)
                .await;
        }
        crate::accept::warn_if_exposed("stub upstream", *server.address());
        tracing::info!(addr = %server.address(), "stub upstream listening");
        Ok(Stub { server, served })
    }

    /// The stub's base URL.
    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// Requests answered by a scripted route so far (unmatched 404s are not counted).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

/// The route served when a drill scripts none: a JSON item per id.
pub fn default_route() -> StubRoute {
    StubRoute {
        method: http::Method::GET,
        path: "/item/{id}".into(),
        status: 200,
        body: r#"{"id":"{id}","name":"item {id}","source":"stub"}"#.into(),
        content_type: "application/json".into(),
        delay: Duration::ZERO,
    }
}

/// A path with `{name}` segments that match any one segment.
#[derive(Debug, Clone)]
struct PathPattern {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Capture(String),
}

impl PathPattern {
    fn new(path: &str) -> Self {
        let segments = path
            .trim_start_matches('/')
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Capture(name.to_string()),
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        PathPattern { segments }
    }

    /// The captured `(name, value)` pairs if `path` matches.
    fn captures<'p>(&self, path: &'p str) -> Option<Vec<(&str, &'p str)>> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut captures = Vec::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Capture(_) if part.is_empty() => return None,
                Segment::Capture(name) => captures.push((name.as_str(), part)),
            }
        }
        Some(captures)
    }
}

impl wiremock::Match for PathPattern {
    fn matches(&self, request: &Request) -> bool {
        self.captures(request.url.path()).is_some()
    }
}

struct RouteResponder {
    route: StubRoute,
    pattern: PathPattern,
    served: Arc<AtomicU64>,
}

impl Respond for RouteResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.served.fetch_add(1, Ordering::Relaxed);
        let mut body = self.route.body.clone();
        for (name, value) in self
            .pattern
            .captures(request.url.path())
            .unwrap_or_default()
        {
            body = body.replace(&format!("{{{name}}}"), value);
        }
        let template = ResponseTemplate::new(self.route.status)
            .set_body_raw(body.into_bytes(), &self.route.content_type);
        // A zero delay would still wait for the next timer tick (~1 ms): skip it.
        if self.route.delay.is_zero() {
            template
        } else {
            template.set_delay(self.route.delay)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_captures_segments() {
        let p = PathPattern::new("/item/{id}");
        assert_eq!(p.captures("/item/42"), Some(vec![("id", "42")]));
        assert_eq!(p.captures("/item/"), None);
        assert_eq!(p.captures("/item/4/x"), None);
        assert_eq!(p.captures("/items/4"), None);
    }
}
