//! The demo service: the SUT breakerbox drills when you have none of your own.
//!
//! `GET /api/item/{id}` serves an item from a TTL cache, else fetches it from the upstream
//! through a circuit breaker ([`super::breaker`]: `consecutive` or `rate`, or none), else
//! falls back (a stale cached copy or a placeholder). Responses carry the markers the
//! observer reads:
//!
//! - `x-circuit-state`: the breaker state when the response is sent (`closed`, `open`,
//!   `half_open`), or `half_open` on a probe (a trial call admitted while half-open), which
//!   is visible this way even though a successful probe may close the breaker at once;
//!   absent when the breaker is off;
//! - `x-cache`: `HIT`, `MISS` or `STALE`;
//! - `x-fallback: true` on fallbacks.
//!
//! Knobs in [`DemoSettings`] make deliberately broken variants: no fallback (503 instead),
//! a header that always says `closed` or no header, and pybreaker-style labels (the state
//! after the call, so a successful probe already says `closed`).
//!
//! `GET /breaker` returns the state and its transitions as JSON, `GET /metrics` the state
//! and counters in the Prometheus text format, `GET /health` answers `ok`.

use super::breaker::{Admission, Breaker, BreakerError, CallError, Transition};
use crate::breaker_state::BreakerState;
use crate::config::{DemoBreaker, DemoSettings, StateHeader};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Why the demo service could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The listen address is taken or not ours.
    #[error("demo service cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The upstream HTTP client could not be built.
    #[error("demo service upstream client: {0}")]
    Client(#[from] reqwest::Error),
    /// The breaker could not be set up (its transition log cannot be opened).
    #[error("demo service: {0}")]
    Breaker(#[from] BreakerError),
}

struct CachedItem {
    body: Bytes,
    fetched: Instant,
}

struct App {
    settings: DemoSettings,
    upstream: String,
    client: reqwest::Client,
    breaker: Option<Breaker>,
    cache: Mutex<HashMap<String, CachedItem>>,
    upstream_calls: AtomicU64,
    fallbacks: AtomicU64,
}

/// A running demo service; dropping it stops accepting connections.
#[derive(Debug)]
pub struct DemoService {
    addr: SocketAddr,
    accept_loop: JoinHandle<()>,
}

impl DemoService {
    /// Starts the service on `settings.listen`, calling `upstream` (a base URL).
    pub async fn start(settings: &DemoSettings, upstream: &str) -> Result<DemoService, DemoError> {
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| DemoError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| DemoError::Bind {
            addr: settings.listen,
            source,
        })?;
        let app = Arc::new(App::new(settings.clone(), upstream)?);
        let accept_loop = tokio::spawn(crate::accept::serve_http1(
            listener,
            "demo service",
            app,
            |app, request| async move { app.handle(request).await },
        ));
        crate::accept::warn_if_exposed("demo service", addr);
        tracing::info!(%addr, upstream, breaker = %settings.breaker, "demo service listening");
        Ok(DemoService { addr, accept_loop })
    }

    /// The service's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs until the accept loop ends (only on a panic in it); for `breakerbox demo-service`.
    pub async fn wait(self) {
        let handle = &mut { self }.accept_loop;
        let _ = handle.await;
    }
}

impl Drop for DemoService {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// Most items the demo's cache holds.
pub const CACHE_MAX_ITEMS: usize = 10_000;

/// How long past its TTL an item is kept as a stale fallback before it may be evicted.
const STALE_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Why an upstream fetch did not produce an item.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("upstream answered {0}")]
    Status(u16),
    #[error("upstream call failed: {0}")]
    Transport(reqwest::Error),
    #[error("rejected by the breaker")]
    Rejected,
}

type Reply = http::Response<Full<Bytes>>;

impl App {
    fn new(settings: DemoSettings, upstream: &str) -> Result<App, DemoError> {
        let client = reqwest::Client::builder()
            .timeout(settings.upstream_timeout)
            .connect_timeout(settings.upstream_timeout)
            .no_proxy()
            .retry(reqwest::retry::never())
            .build()?;
        let breaker = Breaker::from_settings(&settings)?;
        Ok(App {
            upstream: upstream.trim_end_matches('/').to_string(),
            settings,
            client,
            breaker,
            cache: Mutex::new(HashMap::new()),
            upstream_calls: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        })
    }

    async fn handle(&self, request: http::Request<Incoming>) -> Reply {
        let path = request.uri().path();
        if request.method() != http::Method::GET {
            return self.reply(405, "method not allowed");
        }
        if let Some(id) = path.strip_prefix("/api/item/").filter(|id| valid_id(id)) {
            return self.item(id).await;
        }
        match path {
            "/breaker" => self.breaker_json(),
            "/metrics" => self.metrics(),
            "/health" => self.reply(200, "ok"),
            _ => self.reply(404, "not found"),
        }
    }

    /// The breaker's state now; `None` when it is off.
    fn state(&self) -> Option<BreakerState> {
        self.breaker.as_ref().map(Breaker::state)
    }

    async fn item(&self, id: &str) -> Reply {
        let cached = self.cached(id);
        if let Some((body, true)) = &cached {
            return self.item_reply(body.clone(), self.state(), "HIT", false);
        }
        let (admission, result) = match &self.breaker {
            None => (None, self.fetch(id).await),
            Some(breaker) => match breaker.call(self.fetch(id)).await {
                Ok((admission, body)) => (Some(admission), Ok(body)),
                Err(CallError::Failed { admission, error }) => (Some(admission), Err(error)),
                Err(CallError::Rejected) => (None, Err(FetchError::Rejected)),
            },
        };
        let state = self.state_for(admission);
        match result {
            Ok(body) => {
                self.remember(id, &body);
                self.item_reply(body, state, "MISS", false)
            }
            Err(e) if !self.settings.fallback => {
                tracing::debug!(id, error = %e, "answering 503 (fallback off)");
                let mut reply = self.reply(503, r#"{"error":"upstream unavailable"}"#);
                self.set_state_header(&mut reply, state);
                if matches!(e, FetchError::Rejected) {
                    // A fast rejection by the open breaker, told apart from a failed call
                    // the way Envoy and HAProxy do: come back later.
                    let wait = self.settings.open_duration.as_secs().max(1);
                    if let Ok(v) = http::HeaderValue::from_str(&wait.to_string()) {
                        reply.headers_mut().insert(http::header::RETRY_AFTER, v);
                    }
                }
                reply.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                reply
            }
            Err(e) => {
                tracing::debug!(id, error = %e, "serving fallback");
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                match cached {
                    Some((stale, _)) => self.item_reply(stale, state, "STALE", true),
                    None => self.item_reply(
                        Bytes::from(format!(r#"{{"id":"{id}","name":null,"fallback":true}}"#)),
                        state,
                        "MISS",
                        true,
                    ),
                }
            }
        }
    }

    /// The truthful state to report for a call admitted as `admission` (`None`: rejected or
    /// no breaker). It is the state now — a slow call admitted while closed may finish after
    /// the breaker opened — except on a probe when `label_probe` is on: a successful probe
    /// may close the breaker at once, so the label is the only way half-open shows.
    fn state_for(&self, admission: Option<Admission>) -> Option<BreakerState> {
        let now = self.state()?;
        let probe = admission.is_some_and(|a| a.probe);
        Some(if probe && self.settings.label_probe {
            BreakerState::HalfOpen
        } else {
            now
        })
    }

    /// Caches `body` for `id`. The cache holds at most [`CACHE_MAX_ITEMS`]: when full, items
    /// past their stale grace go first, then the oldest tenth, so memory stays bounded
    /// however many ids a drill asks for.
    fn remember(&self, id: &str, body: &Bytes) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX_ITEMS && !cache.contains_key(id) {
            let keep = self.settings.cache_ttl + STALE_GRACE;
            cache.retain(|_, item| item.fetched.elapsed() < keep);
            if cache.len() >= CACHE_MAX_ITEMS {
                let mut ages: Vec<Instant> = cache.values().map(|i| i.fetched).collect();
                ages.sort_unstable();
                let cutoff = ages[ages.len() / 10];
                cache.retain(|_, item| item.fetched > cutoff);
            }
        }
        cache.insert(
            id.to_string(),
            CachedItem {
                // A copy sized to the item: the response's buffer may be much larger.
                body: Bytes::copy_from_slice(body),
                fetched: Instant::now(),
            },
        );
    }

    /// The cached body for `id` and whether it is still fresh.
    fn cached(&self, id: &str) -> Option<(Bytes, bool)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(id).map(|c| {
            (
                c.body.clone(),
                c.fetched.elapsed() < self.settings.cache_ttl,
            )
        })
    }

    async fn fetch(&self, id: &str) -> Result<Bytes, FetchError> {
        self.upstream_calls.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}/item/{id}", self.upstream);
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(FetchError::Transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        response.bytes().await.map_err(FetchError::Transport)
    }

    fn breaker_json(&self) -> Reply {
        #[derive(Serialize)]
        struct Rate {
            failure_rate: f64,
            minimum_calls: u32,
            window: u32,
            half_open_calls: u32,
        }
        #[derive(Serialize)]
        struct View {
            state: &'static str,
            breaker: &'static str,
            kind: DemoBreaker,
            failure_threshold: u32,
            open_duration_ms: u64,
            rate: Option<Rate>,
            rejected: u64,
            upstream_calls: u64,
            fallbacks: u64,
            transitions: Vec<Transition>,
        }
        let kind = self.settings.breaker;
        let view = View {
            state: self.state().map(BreakerState::as_str).unwrap_or("disabled"),
            breaker: if self.breaker.is_some() { "on" } else { "off" },
            kind,
            failure_threshold: self.settings.failure_threshold,
            open_duration_ms: u64::try_from(self.settings.open_duration.as_millis())
                .unwrap_or(u64::MAX),
            rate: (kind == DemoBreaker::Rate).then_some(Rate {
                failure_rate: self.settings.rate.failure_rate,
                minimum_calls: self.settings.rate.minimum_calls,
                window: self.settings.rate.window,
                half_open_calls: self.settings.rate.half_open_calls,
            }),
            rejected: self.rejected(),
            upstream_calls: self.upstream_calls.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            transitions: self
                .breaker
                .as_ref()
                .map(|b| b.log().transitions())
                .unwrap_or_default(),
        };
        let body = serde_json::to_vec(&view).unwrap_or_default();
        let mut reply = self.reply(200, "");
        *reply.body_mut() = Full::new(Bytes::from(body));
        reply.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        reply
    }

    fn rejected(&self) -> u64 {
        self.breaker.as_ref().map_or(0, |b| b.log().rejected())
    }

    fn metrics(&self) -> Reply {
        let text = metrics_text(
            self.state(),
            Counters {
                upstream_calls: self.upstream_calls.load(Ordering::Relaxed),
                fallbacks: self.fallbacks.load(Ordering::Relaxed),
                rejected: self.rejected(),
            },
        );
        let mut reply = self.reply(200, "");
        *reply.body_mut() = Full::new(Bytes::from(text));
        reply.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
        );
        reply
    }

    /// A plain reply carrying the state header (the state now).
    fn reply(&self, status: u16, text: &'static str) -> Reply {
        let mut reply = http::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *reply.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        self.set_state_header(&mut reply, self.state());
        reply
    }

    /// Sets `x-circuit-state` as the `state_header` knob says: `state` (the truth), always
    /// `closed`, or nothing.
    fn set_state_header(&self, reply: &mut Reply, state: Option<BreakerState>) {
        let shown = match self.settings.state_header {
            StateHeader::Truthful => state,
            StateHeader::Closed => Some(BreakerState::Closed),
            StateHeader::None => None,
        };
        if let Some(shown) = shown {
            reply
                .headers_mut()
                .insert(STATE_HEADER, http::HeaderValue::from_static(shown.as_str()));
        }
    }

    fn item_reply(
        &self,
        body: Bytes,
        state: Option<BreakerState>,
        cache: &'static str,
        fallback: bool,
    ) -> Reply {
        let mut reply = http::Response::new(Full::new(body));
        let headers = reply.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers.insert("x-cache", http::HeaderValue::from_static(cache));
        if fallback {
            headers.insert("x-fallback", http::HeaderValue::from_static("true"));
        }
        self.set_state_header(&mut reply, state);
        reply
    }
}

/// The header that carries the breaker state.
const STATE_HEADER: &str = "x-circuit-state";

/// The Prometheus text exposition format's content type.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The counters `/metrics` exposes.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    upstream_calls: u64,
    fallbacks: u64,
    rejected: u64,
}

/// The `/metrics` body in the Prometheus text format, resilience4j style: the state as a
/// one-hot gauge per state and as a code (absent when the breaker is off), and counters.
fn metrics_text(state: Option<BreakerState>, counters: Counters) -> String {
    let mut out = String::new();
    if let Some(state) = state {
        out.push_str(
            "# HELP demo_circuitbreaker_state The breaker's state: 1 for the current state, 0 for the others.\n\
             # TYPE demo_circuitbreaker_state gauge\n",
        );
        for s in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ] {
            let _ = writeln!(
                out,
                "demo_circuitbreaker_state{{name=\"upstream\",state=\"{}\"}} {}",
                s.as_str(),
                u8::from(s == state)
            );
        }
        let code = match state {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        let _ = write!(
            out,
            "# HELP demo_circuitbreaker_state_code The breaker's state: 0 closed, 1 open, 2 half_open.\n\
             # TYPE demo_circuitbreaker_state_code gauge\n\
             demo_circuitbreaker_state_code{{name=\"upstream\"}} {code}\n"
        );
    }
    for (name, help, value) in [
        (
            "demo_upstream_calls_total",
            "Calls the service made to its upstream.",
            counters.upstream_calls,
        ),
        (
            "demo_fallbacks_total",
            "Responses served as a fallback (stale copy or placeholder).",
            counters.fallbacks,
        ),
        (
            "demo_rejected_calls_total",
            "Upstream calls the breaker did not let through.",
            counters.rejected,
        ),
    ] {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_bounded_and_keeps_the_newest_items() {
        let app = App::new(DemoSettings::default(), "http://127.0.0.1:9").expect("app");
        for i in 0..(CACHE_MAX_ITEMS + 2_500) {
            app.remember(&format!("id{i}"), &Bytes::from_static(b"{}"));
        }
        let cache = app.cache.lock().expect("cache");
        assert!(cache.len() <= CACHE_MAX_ITEMS, "{}", cache.len());
        assert!(cache.len() >= CACHE_MAX_ITEMS * 8 / 10, "{}", cache.len());
        let newest = format!("id{}", CACHE_MAX_ITEMS + 2_499);
        assert!(cache.contains_key(&newest));
    }

    #[test]
    fn metrics_expose_a_one_hot_state_and_the_counters() {
        let text = metrics_text(
            Some(BreakerState::Open),
            Counters {
                upstream_calls: 12,
                fallbacks: 3,
                rejected: 5,
            },
        );
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                r#"demo_circuitbreaker_state{name="upstream",state="closed"} 0"#,
                r#"demo_circuitbreaker_state{name="upstream",state="open"} 1"#,
                r#"demo_circuitbreaker_state{name="upstream",state="half_open"} 0"#,
                r#"demo_circuitbreaker_state_code{name="upstream"} 1"#,
                "demo_upstream_calls_total 12",
                "demo_fallbacks_total 3",
                "demo_rejected_calls_total 5",
            ]
        );
        // Every metric has its HELP and TYPE before its first sample.
        for (name, kind) in [
            ("demo_circuitbreaker_state", "gauge"),
            ("demo_circuitbreaker_state_code", "gauge"),
            ("demo_upstream_calls_total", "counter"),
            ("demo_fallbacks_total", "counter"),
            ("demo_rejected_calls_total", "counter"),
        ] {
            let help = text.find(&format!("# HELP {name} ")).expect("HELP");
            let ty = text.find(&format!("# TYPE {name} {kind}\n")).expect("TYPE");
            let sample = text
                .lines()
                .position(|l| {
                    l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))
                })
                .expect("sample");
            let sample_at: usize = text.lines().take(sample).map(|l| l.len() + 1).sum();
            assert!(help < ty && ty < sample_at, "{name}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn metrics_without_a_breaker_have_no_state_gauges() {
        let text = metrics_text(None, Counters::default());
        assert!(!text.contains("circuitbreaker"), "{text}");
        assert!(text.contains("demo_upstream_calls_total 0\n"));
    }

    #[test]
    fn half_open_has_code_2() {
        let text = metrics_text(Some(BreakerState::HalfOpen), Counters::default());
        assert!(text.contains(r#"demo_circuitbreaker_state{name="upstream",state="half_open"} 1"#));
        assert!(text.contains(r#"demo_circuitbreaker_state_code{name="upstream"} 2"#));
    }
}
