//! The stub upstream: scripted responses standing in for the service's real dependency
//! when there is none to drill against.
//!
//! With no routes configured it serves `GET /item/{id}` with a small JSON item. It runs on
//! hyper with the accept loop the other parts share, not on wiremock: wiremock 0.6 keeps a
//! copy of every request a mounted mock matched, recording on or off, so its memory grows
//! with every call of a long drill (about 4.7 KB each), and it panics on a malformed chunked
//! body. Here memory does not grow with the number of calls, a connection that sends no
//! request headers for [`HEADER_READ_TIMEOUT`](crate::accept::HEADER_READ_TIMEOUT) is
//! closed, and a bad body ends only its own connection. wiremock remains in the test suite.

use crate::config::{StubRoute, StubSettings};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

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

/// A running stub upstream; dropping it stops accepting connections.
#[derive(Debug)]
pub struct Stub {
    addr: SocketAddr,
    served: Arc<AtomicU64>,
    accept_loop: JoinHandle<()>,
}

/// A route with its path pattern compiled.
#[derive(Debug)]
struct Compiled {
    route: StubRoute,
    pattern: PathPattern,
}

/// What every connection of the stub shares.
#[derive(Debug)]
struct Routes {
    routes: Vec<Compiled>,
    served: Arc<AtomicU64>,
}

impl Stub {
    /// Starts the stub with `settings`' routes (or the default item route).
    pub async fn start(settings: &StubSettings) -> Result<Stub, StubError> {
        let bind_err = |source| StubError::Bind {
            addr: settings.listen,
            source,
        };
        let listener = TcpListener::bind(settings.listen).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let served = Arc::new(AtomicU64::new(0));
        let routes = if settings.routes.is_empty() {
            vec![default_route()]
        } else {
            settings.routes.clone()
        };
        let routes = Arc::new(Routes {
            routes: routes
                .into_iter()
                .map(|route| Compiled {
                    pattern: PathPattern::new(&route.path),
                    route,
                })
                .collect(),
            served: served.clone(),
        });
        let accept_loop = tokio::spawn(crate::accept::serve_http1(
            listener,
            "stub upstream",
            routes,
            |routes, request| async move { routes.answer(&request).await },
        ));
        crate::accept::warn_if_exposed("stub upstream", addr);
        tracing::info!(%addr, "stub upstream listening");
        Ok(Stub {
            addr,
            served,
            accept_loop,
        })
    }

    /// The stub's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests answered by a scripted route so far (unmatched 404s are not counted).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl Routes {
    /// The scripted answer to `request` (its body is never read), or 404.
    async fn answer(&self, request: &http::Request<Incoming>) -> http::Response<Full<Bytes>> {
        let path = request.uri().path();
        let found = self.routes.iter().find_map(|c| {
            (c.route.method == request.method())
                .then(|| c.pattern.captures(path))
                .flatten()
                .map(|captures| (c, captures))
        });
        let Some((compiled, captures)) = found else {
            let mut reply = http::Response::new(Full::new(Bytes::from_static(b"no such route")));
            *reply.status_mut() = http::StatusCode::NOT_FOUND;
            return reply;
        };
        self.served.fetch_add(1, Ordering::Relaxed);
        let route = &compiled.route;
        let mut body = route.body.clone();
        for (name, value) in captures {
            body = body.replace(&format!("{{{name}}}"), value);
        }
        // A zero delay would still wait for the next timer tick (~1 ms): skip it.
        if !route.delay.is_zero() {
            tokio::time::sleep(route.delay).await;
        }
        let mut reply = http::Response::new(Full::new(Bytes::from(body)));
        *reply.status_mut() =
            http::StatusCode::from_u16(route.status).unwrap_or(http::StatusCode::OK);
        if let Ok(v) = http::HeaderValue::from_str(&route.content_type) {
            reply.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
        reply
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
