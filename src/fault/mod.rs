//! Fault injection: the decisions, as a tower layer, and the proxy that applies them.
//!
//! [`FaultLayer`] wraps any upstream-forwarding service. For each request it finds the rules
//! whose window is open and whose match accepts the request, rolls each one's probability
//! (seeded), and lets each hit fault kind add to the request's [`kind::Decision`]: hold it,
//! answer instead of the upstream, end the connection, or shape the body. [`proxy`] is the
//! HTTP server that puts the layer between a service and its upstream; [`tap`] counts what
//! happened.

pub mod admin;
pub mod body;
pub mod decisions;
mod h1;
pub mod kind;
pub mod proxy;
pub mod remote;
pub mod rules;
pub mod session;
pub mod tap;
pub mod tcp;
pub mod tls;
pub mod upstream;

pub use proxy::{Engine, FaultProxy, ProxyError, ProxyOptions};
pub use rules::{RequestView, Rule, RuleOutcome, RuleSet, Rules, Verdict};
pub use session::{LiveSession, Session};
pub use tap::{CallEvent, Tap, TapBucket, UpstreamOutcome, UpstreamSeries};
pub use tls::ListenTls;
pub use upstream::UpstreamTls;

use crate::clock::RunClock;
use crate::config::ConfigError;
use bytes::Bytes;
use decisions::LoggedRequest;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use kind::{ConnectionEnd, Decision, Terminal};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

/// Errors a proxied body or service may end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type the proxy answers with.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// Error a fault service returns to make the connection end without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection ended by an injected fault")]
pub struct InjectedClose;

/// How one connection must end, set by the first fault that takes it over.
pub type ConnectionFate = Arc<OnceLock<ConnectionEnd>>;

/// Shared state behind every clone of a [`FaultLayer`]'s services.
#[derive(Debug)]
pub(crate) struct Injector {
    live: Arc<LiveSession>,
}

impl Injector {
    pub(crate) fn decide(&self, request: &RequestView, connection: u64) -> Decision {
        let session = self.live.load();
        let Some(now) = session.elapsed() else {
            return Decision::default();
        };
        session.tap.received(now);
        let counters = (session.next_request(), session.connection(connection));
        // Built on the first rule that applies: a request no rule applies to costs nothing.
        let mut logged: Option<LoggedRequest> = None;
        session
            .rules
            .decide_explained(session.seed, now, request, counters, |outcome| {
                if outcome.verdict == Verdict::Injected {
                    session.tap.injected(now, outcome.id);
                }
                let entry = logged.get_or_insert_with(|| {
                    LoggedRequest::new(now, counters, request.method, request.path)
                });
                session.decisions.record(entry, outcome);
            })
    }

    /// Counts the outcome of an injected answer, as the service under test sees it.
    pub(crate) fn outcome(&self, failed: bool) {
        let session = self.live.load();
        if let Some(now) = session.elapsed() {
            session.tap.outcome(now, failed);
        }
    }
}

/// A tower layer applying a rule set in front of an upstream-forwarding service.
#[derive(Debug, Clone)]
pub struct FaultLayer {
    injector: Arc<Injector>,
}

impl FaultLayer {
    /// Applies `rules` on `clock`, deciding with `seed`, counting into `tap`.
    pub fn new(rules: Rules, clock: RunClock, seed: u64, tap: Arc<Tap>) -> Self {
        FaultLayer {
            injector: Arc::new(Injector {
                live: Arc::new(LiveSession::new(Session::new(rules, clock, seed, tap))),
            }),
        }
    }

    /// The live session: [`LiveSession::install`] changes the faults (with their clock,
    /// seed and tap) of a running proxy.
    pub fn live(&self) -> &Arc<LiveSession> {
        &self.injector.live
    }

    /// What decides for each request; the raw forwarder ([`h1`]) asks it directly.
    pub(crate) fn injector(&self) -> &Arc<Injector> {
        &self.injector
    }

    /// A layer applying a fault profile (TOML, as in `fault-profiles/`) inside a user's own
    /// service: its clock starts now (windows count from here), with a fresh tap.
    pub fn from_profile_str(profile: &str, seed: u64) -> Result<Self, ConfigError> {
        let profile = crate::config::parse_profile("profile", "<profile>", profile)?;
        Ok(Self::starting_now(
            Rules::from_start(profile.faults),
            seed,
            EMBEDDED_TAP_SPAN,
        ))
    }

    /// [`FaultLayer::from_profile_str`] with the profile read from a file.
    pub fn from_profile_file(path: &std::path::Path, seed: u64) -> Result<Self, ConfigError> {
        let profile = crate::config::load_profile(path)?;
        Ok(Self::starting_now(
            Rules::from_start(profile.faults),
            seed,
            EMBEDDED_TAP_SPAN,
        ))
    }

    /// Applies `rules` on a clock started now, with a fresh tap keeping `span` of buckets:
    /// a proxy or layer whose windows count from its own start.
    pub fn starting_now(rules: Rules, seed: u64, span: std::time::Duration) -> Self {
        let tap = Arc::new(Tap::new(rules.rules().len(), span));
        let clock = RunClock::new();
        clock.start();
        Self::new(rules, clock, seed, tap)
    }

    /// The layer's counters (requests seen, injections per fault, outcomes), shared by every
    /// service it made.
    pub fn tap(&self) -> Arc<Tap> {
        self.injector.live.load().tap.clone()
    }

    /// How many times each fault was injected so far, in profile order.
    pub fn injected(&self) -> Vec<u64> {
        let session = self.injector.live.load();
        let mut totals = vec![0; session.rules.rules().len()];
        for bucket in session.tap.snapshot() {
            for (total, n) in totals.iter_mut().zip(&bucket.injected) {
                *total += n;
            }
        }
        totals
    }
}

/// How long the tap of a layer built from a profile keeps its 100 ms buckets; later counts
/// go into the last one (totals stay right).
const EMBEDDED_TAP_SPAN: std::time::Duration = std::time::Duration::from_secs(600);

impl<S> tower::Layer<S> for FaultLayer {
    type Service = FaultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FaultService {
            inner,
            injector: self.injector.clone(),
            fate: ConnectionFate::default(),
            connection: 0,
        }
    }
}

/// The service [`FaultLayer`] produces; one per connection, so a fault ends the right one.
#[derive(Debug, Clone)]
pub struct FaultService<S> {
    inner: S,
    injector: Arc<Injector>,
    fate: ConnectionFate,
    /// The connection's number, in accept order (per-connection faults roll on it).
    connection: u64,
}

impl<S> FaultService<S> {
    /// A copy for a new connection, whose end a fault may decide through `fate`.
    pub fn for_connection(&self, fate: ConnectionFate) -> Self
    where
        S: Clone,
    {
        FaultService {
            inner: self.inner.clone(),
            injector: self.injector.clone(),
            fate,
            connection: self.injector.live.next_connection(),
        }
    }
}

/// Any HTTP service whose response body yields `Bytes`: the fault proxy's forwarder, or a
/// user's own (an axum `Router`, a `service_fn`); answers come back as a [`ProxyBody`].
/// Faults that end the connection fail the call with [`InjectedClose`] (docs/fault-layer.md).
impl<S, B, RB> tower::Service<http::Request<B>> for FaultService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    RB: hyper::body::Body<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = http::Response<ProxyBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let decision = self.injector.decide(
            &RequestView {
                method: request.method(),
                path: request.uri().path(),
                headers: request.headers(),
            },
            self.connection,
        );
        // Take the service that was driven to readiness; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let fate = self.fate.clone();
        let injector = self.injector.clone();
        Box::pin(async move {
            if !decision.hold.is_zero() {
                tokio::time::sleep(decision.hold).await;
            }
            let response = match decision.terminal {
                Some(Terminal::Close(end)) => {
                    injector.outcome(true);
                    let _ = fate.set(end);
                    return Err(Box::new(InjectedClose) as BoxError);
                }
                Some(Terminal::Blackhole { until }) => {
                    if let Some(now) = injector.live.elapsed() {
                        tokio::time::sleep(until.saturating_sub(now)).await;
                    }
                    injector.outcome(true);
                    let _ = fate.set(ConnectionEnd::Empty);
                    return Err(Box::new(InjectedClose) as BoxError);
                }
                Some(Terminal::Status {
                    code,
                    body,
                    headers,
                }) => {
                    injector.outcome(code >= 500);
                    injected_response(code, body, headers)
                }
                None => inner
                    .call(request)
                    .await
                    .map_err(Into::into)?
                    .map(body::boxed),
            };
            Ok(if decision.body.is_plain() {
                response
            } else {
                body::shape(response, decision.body)
            })
        })
    }
}

fn injected_response(
    code: u16,
    body: Bytes,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
) -> http::Response<ProxyBody> {
    let mut response = http::Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    let (status, h) = injected_head(code, headers);
    *response.status_mut() = status;
    *response.headers_mut() = h;
    response
}

/// The status and headers of an injected answer: JSON, marked as injected, with the fault's
/// extra headers.
pub(crate) fn injected_head(
    code: u16,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
) -> (http::StatusCode, http::HeaderMap) {
    let status =
        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        "x-breakerbox-fault",
        http::HeaderValue::from_static("status"),
    );
    for (name, value) in headers {
        h.insert(name, value);
    }
    (status, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_profile;
    use std::time::Duration;

    fn rules(profile: &str) -> Rules {
        let p = parse_profile("p", "p.toml", profile).expect("valid profile");
        Rules::all_in(p.faults, Duration::ZERO, Duration::from_secs(3600))
    }

    fn session(rules: Rules, clock: RunClock) -> Session {
        let tap = Arc::new(Tap::new(rules.rules().len(), Duration::from_secs(1)));
        Session::new(rules, clock, 9, tap)
    }

    fn injector(rules: Rules) -> Injector {
        let clock = RunClock::new();
        clock.start();
        Injector {
            live: Arc::new(LiveSession::new(session(rules, clock))),
        }
    }

    fn decide(inj: &Injector, path: &str) -> Decision {
        inj.decide(
            &RequestView {
                method: &http::Method::GET,
                path,
                headers: &http::HeaderMap::new(),
            },
            0,
        )
    }

    const RESET: &str = "[[faults]]\nkind = \"reset\"\n";

    #[test]
    fn nothing_is_injected_before_the_run_starts() {
        let inj = Injector {
            live: Arc::new(LiveSession::new(session(rules(RESET), RunClock::new()))),
        };
        assert_eq!(decide(&inj, "/x"), Decision::default());
    }

    #[test]
    fn probability_is_per_request_and_seeded() {
        let profile = "[[faults]]\nkind = \"status\"\nstatus = 503\nprobability = 0.3\n";
        let inj = injector(rules(profile));
        let hits = (0..2000)
            .filter(|_| decide(&inj, "/x").terminal.is_some())
            .count();
        assert!((500..700).contains(&hits), "{hits} of 2000");
        let run = || {
            let inj = injector(rules(profile));
            (0..50)
                .map(|_| decide(&inj, "/x").terminal.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn path_prefix_limits_faults_and_latency_adds_up() {
        let inj = injector(rules(
            r#"
[[faults]]
kind = "latency"
delay = "100ms"
[[faults]]
kind = "reset"
path = "/item/"
[[faults]]
kind = "status"
status = 500
"#,
        ));
        let d = decide(&inj, "/item/1");
        assert_eq!(d.hold, Duration::from_millis(100));
        assert_eq!(
            d.terminal,
            Some(Terminal::Close(ConnectionEnd::Reset)),
            "first terminal fault wins"
        );
        let d = decide(&inj, "/other");
        assert!(matches!(
            d.terminal,
            Some(Terminal::Status { code: 500, .. })
        ));
        let tap = inj.live.load().tap.snapshot();
        let injected: Vec<u64> = (0..3)
            .map(|i| tap.iter().map(|b| b.injected[i]).sum())
            .collect();
        assert_eq!(injected, vec![2, 1, 1]);
    }

    #[test]
    fn rules_swap_at_run_time() {
        let inj = injector(rules(RESET));
        assert!(decide(&inj, "/x").terminal.is_some());
        let clock = RunClock::new();
        clock.start();
        inj.live.install(session(Rules::default(), clock));
        assert_eq!(decide(&inj, "/x"), Decision::default());
    }

    #[test]
    fn the_decision_log_says_why() {
        let inj = injector(rules(
            "[[faults]]\nkind = \"status\"\nstatus = 503\n[[faults]]\nkind = \"reset\"\n[[faults]]\nkind = \"status\"\nstatus = 500\nprobability = 0.0\npath = \"/item\"\n",
        ));
        decide(&inj, "/x");
        let page = inj.live.load().decisions.page(0, 100);
        let reasons: Vec<(usize, bool, &str)> = page
            .decisions
            .iter()
            .map(|d| (d.rule, d.injected, d.reason.as_str()))
            .collect();
        assert_eq!(
            reasons.len(),
            2,
            "the path-limited rule does not apply: {reasons:?}"
        );
        assert!(reasons[0].1 && reasons[0].2.contains("< probability 1.0000"));
        assert!(!reasons[1].1 && reasons[1].2.contains("already answered by rule 0"));
    }
}
