//! The demo service: the SUT breakerbox drills when you have none of your own.
//!
//! `GET /api/item/{id}` serves an item from a TTL cache, else fetches it from the upstream
//! through a `failsafe` circuit breaker, else falls back (a stale cached copy or a
//! placeholder). Responses carry the markers the observer reads:
//!
//! - `x-circuit-state`: the breaker state when the response is sent (`closed`, `open`), or
//!   `half_open` on the probe (the first call admitted after the breaker half-opened), which
//!   is visible this way even though its success closes the breaker at once; absent when
//!   the breaker is off;
//! - `x-cache`: `HIT`, `MISS` or `STALE`;
//! - `x-fallback: true` on fallbacks.
//!
//! `GET /breaker` returns the state and its transitions as JSON; `GET /health` answers `ok`.

use crate::breaker_state::BreakerState;
use crate::config::DemoSettings;
use bytes::Bytes;
use failsafe::futures::CircuitBreaker as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
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
}

type Breaker = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    StateRecorder,
>;

/// Tracks the breaker's state through failsafe's instrument hooks (it has no getter).
#[derive(Debug, Clone)]
struct StateRecorder {
    shared: Arc<BreakerLog>,
}

#[derive(Debug)]
struct BreakerLog {
    started: Instant,
    state: AtomicU8,
    /// Set by the first call admitted after each transition to half-open: the probe.
    probe_taken: AtomicBool,
    rejected: AtomicU64,
    transitions: Mutex<Vec<Transition>>,
}

#[derive(Debug, Clone, Serialize)]
struct Transition {
    at_ms: u64,
    to: BreakerState,
}

impl BreakerLog {
    fn set(&self, to: BreakerState) {
        self.state.store(to.to_code(), Ordering::Release);
        let at_ms = self.started.elapsed().as_millis() as u64;
        self.transitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Transition { at_ms, to });
    }

    fn state(&self) -> BreakerState {
        BreakerState::from_code(self.state.load(Ordering::Acquire)).unwrap_or(BreakerState::Closed)
    }
}

impl failsafe::Instrument for StateRecorder {
    fn on_call_rejected(&self) {
        self.shared.rejected.fetch_add(1, Ordering::Relaxed);
    }
    fn on_open(&self) {
        self.shared.set(BreakerState::Open);
    }
    fn on_half_open(&self) {
        self.shared.probe_taken.store(false, Ordering::Release);
        self.shared.set(BreakerState::HalfOpen);
    }
    fn on_closed(&self) {
        self.shared.set(BreakerState::Closed);
    }
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
    log: Arc<BreakerLog>,
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
        let accept_loop = tokio::spawn(accept_loop(listener, app));
        tracing::info!(%addr, upstream, breaker = settings.breaker, "demo service listening");
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

async fn accept_loop(listener: TcpListener, app: Arc<App>) {
    crate::accept::accept_forever(listener, "demo service", |stream| {
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.handle(req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "demo connection ended");
            }
        });
    })
    .await
}

/// Why an upstream fetch did not produce an item.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("upstream answered {0}")]
    Status(u16),
    #[error("upstream call failed: {0}")]
    Transport(reqwest::Error),
    #[error("rejected by the open breaker")]
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
        let log = Arc::new(BreakerLog {
            started: Instant::now(),
            state: AtomicU8::new(BreakerState::Closed.to_code()),
            probe_taken: AtomicBool::new(false),
            rejected: AtomicU64::new(0),
            transitions: Mutex::new(Vec::new()),
        });
        let breaker = settings.breaker.then(|| {
            let policy = failsafe::failure_policy::consecutive_failures(
                settings.failure_threshold,
                failsafe::backoff::constant(settings.open_duration),
            );
            failsafe::Config::new()
                .failure_policy(policy)
                .instrument(StateRecorder {
                    shared: log.clone(),
                })
                .build()
        });
        Ok(App {
            upstream: upstream.trim_end_matches('/').to_string(),
            settings,
            client,
            breaker,
            log,
            cache: Mutex::new(HashMap::new()),
            upstream_calls: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        })
    }

    async fn handle(&self, request: http::Request<Incoming>) -> Reply {
        let path = request.uri().path();
        if request.method() != http::Method::GET {
            return self.reply(405, "method not allowed", None);
        }
        if let Some(id) = path.strip_prefix("/api/item/").filter(|id| valid_id(id)) {
            return self.item(id).await;
        }
        match path {
            "/breaker" => self.breaker_json(),
            "/health" => self.reply(200, "ok", None),
            _ => self.reply(404, "not found", None),
        }
    }

    async fn item(&self, id: &str) -> Reply {
        let cached = self.cached(id);
        if let Some((body, true)) = &cached {
            let state = self.breaker.as_ref().map(|_| self.log.state());
            return item_reply(body.clone(), state, "HIT", false);
        }
        let (probe, result) = match &self.breaker {
            None => (false, self.fetch(id).await),
            Some(breaker) => {
                let call = breaker.call(async {
                    // failsafe polls this only once the call is permitted, so the state read
                    // here is the one the call was admitted under. The first call admitted
                    // while half-open is the probe.
                    let probe = self.log.state() == BreakerState::HalfOpen
                        && !self.log.probe_taken.swap(true, Ordering::AcqRel);
                    self.fetch(id)
                        .await
                        .map(|body| (probe, body))
                        .map_err(|e| (probe, e))
                });
                match call.await {
                    Ok((probe, body)) => (probe, Ok(body)),
                    Err(failsafe::Error::Inner((probe, e))) => (probe, Err(e)),
                    Err(failsafe::Error::Rejected) => (false, Err(FetchError::Rejected)),
                }
            }
        };
        // Report the state now (a slow call admitted while closed may finish after the
        // breaker opened), except on the probe: its success closes the breaker at once, so
        // labelling it is the only way half-open shows.
        let admitted = self.breaker.as_ref().map(|_| {
            if probe {
                BreakerState::HalfOpen
            } else {
                self.log.state()
            }
        });
        match result {
            Ok(body) => {
                self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(
                    id.to_string(),
                    CachedItem {
                        body: body.clone(),
                        fetched: Instant::now(),
                    },
                );
                item_reply(body, admitted, "MISS", false)
            }
            Err(e) => {
                tracing::debug!(id, error = %e, "serving fallback");
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                match cached {
                    Some((stale, _)) => item_reply(stale, admitted, "STALE", true),
                    None => item_reply(
                        Bytes::from(format!(r#"{{"id":"{id}","name":null,"fallback":true}}"#)),
                        admitted,
                        "MISS",
                        true,
                    ),
                }
            }
        }
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
        struct View {
            state: &'static str,
            breaker: &'static str,
            failure_threshold: u32,
            open_duration_ms: u64,
            rejected: u64,
            upstream_calls: u64,
            fallbacks: u64,
            transitions: Vec<Transition>,
        }
        let view = View {
            state: if self.breaker.is_some() {
                self.log.state().as_str()
            } else {
                "disabled"
            },
            breaker: if self.breaker.is_some() { "on" } else { "off" },
            failure_threshold: self.settings.failure_threshold,
            open_duration_ms: self.settings.open_duration.as_millis() as u64,
            rejected: self.log.rejected.load(Ordering::Relaxed),
            upstream_calls: self.upstream_calls.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            transitions: self
                .log
                .transitions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        let body = serde_json::to_vec(&view).unwrap_or_default();
        let mut reply = self.reply(200, "", self.breaker.as_ref().map(|_| self.log.state()));
        *reply.body_mut() = Full::new(Bytes::from(body));
        reply.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        reply
    }

    fn reply(&self, status: u16, text: &'static str, state: Option<BreakerState>) -> Reply {
        let mut reply = http::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *reply.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        let state = state.or_else(|| self.breaker.as_ref().map(|_| self.log.state()));
        if let Some(state) = state {
            reply.headers_mut().insert(
                "x-circuit-state",
                http::HeaderValue::from_static(state.as_str()),
            );
        }
        reply
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn item_reply(
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
    if let Some(state) = state {
        headers.insert(
            "x-circuit-state",
            http::HeaderValue::from_static(state.as_str()),
        );
    }
    if fallback {
        headers.insert("x-fallback", http::HeaderValue::from_static("true"));
    }
    reply
}
