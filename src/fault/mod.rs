//! Fault injection: the decisions, as a tower layer, and the proxy that applies them.
//!
//! [`FaultLayer`] wraps any upstream-forwarding service. For each request it finds the
//! scheduled faults whose window is open and whose path matches, rolls each one's
//! probability (per request, seeded), and then delays, answers with an injected status,
//! or resets the connection. [`proxy`] is the HTTP server that puts the layer between a
//! service and its upstream; [`tap`] counts what happened.

pub mod proxy;
pub mod tap;

pub use proxy::{FaultProxy, ProxyError};
pub use tap::{CallEvent, Tap, TapBucket, UpstreamOutcome, UpstreamSeries};

use crate::clock::RunClock;
use crate::config::FaultAction;
use crate::plan::ScheduledFault;
use crate::rng;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The body type the proxy answers with.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Error a fault service returns to make the connection end without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by an injected fault")]
pub struct InjectedReset;

/// Shared state behind every clone of a [`FaultLayer`]'s services.
#[derive(Debug)]
struct Injector {
    schedule: Vec<ScheduledFault>,
    clock: RunClock,
    seed: u64,
    requests: AtomicU64,
    tap: Arc<Tap>,
}

/// What the injector decided for one request.
#[derive(Debug, Default, PartialEq)]
struct Decision {
    delay: Duration,
    terminal: Option<Terminal>,
}

#[derive(Debug, PartialEq)]
enum Terminal {
    Status(u16, Bytes),
    Reset,
}

impl Injector {
    fn decide(&self, path: &str) -> Decision {
        let mut decision = Decision::default();
        let Some(now) = self.clock.elapsed() else {
            return decision;
        };
        self.tap.received(now);
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        for scheduled in self.schedule.iter().filter(|s| s.applies(now, path)) {
            let fault = &scheduled.fault;
            let roll = rng::decision(self.seed, scheduled.id as u64, n);
            if roll >= fault.probability {
                continue;
            }
            match &fault.action {
                FaultAction::Latency { delay, jitter } => {
                    let spread = rng::decision(self.seed ^ 0x5eed, scheduled.id as u64, n);
                    decision.delay += jittered(*delay, *jitter, spread);
                }
                FaultAction::Status { code, body } if decision.terminal.is_none() => {
                    decision.terminal = Some(Terminal::Status(*code, Bytes::from(body.clone())));
                }
                FaultAction::Reset if decision.terminal.is_none() => {
                    decision.terminal = Some(Terminal::Reset);
                }
                _ => continue,
            }
            self.tap.injected(now, scheduled.id);
        }
        decision
    }
}

impl Injector {
    /// Counts the outcome of an injected answer, as the service under test sees it.
    fn outcome(&self, failed: bool) {
        if let Some(now) = self.clock.elapsed() {
            self.tap.outcome(now, failed);
        }
    }
}

/// `delay ± jitter`, with `unit` in [0, 1) choosing where in the band.
fn jittered(delay: Duration, jitter: Duration, unit: f64) -> Duration {
    let offset = jitter.as_secs_f64() * (2.0 * unit - 1.0);
    Duration::from_secs_f64((delay.as_secs_f64() + offset).max(0.0))
}

/// A tower layer applying a fault schedule in front of an upstream-forwarding service.
#[derive(Debug, Clone)]
pub struct FaultLayer {
    injector: Arc<Injector>,
}

impl FaultLayer {
    /// Applies `schedule` on `clock`, deciding with `seed`, counting into `tap`.
    pub fn new(schedule: Vec<ScheduledFault>, clock: RunClock, seed: u64, tap: Arc<Tap>) -> Self {
        FaultLayer {
            injector: Arc::new(Injector {
                schedule,
                clock,
                seed,
                requests: AtomicU64::new(0),
                tap,
            }),
        }
    }
}

impl<S> tower::Layer<S> for FaultLayer {
    type Service = FaultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FaultService {
            inner,
            injector: self.injector.clone(),
            reset: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The service [`FaultLayer`] produces; one per connection, so a reset ends the right one.
#[derive(Debug, Clone)]
pub struct FaultService<S> {
    inner: S,
    injector: Arc<Injector>,
    reset: Arc<AtomicBool>,
}

impl<S> FaultService<S> {
    /// A copy for a new connection, raising `reset` when a reset fault hits it.
    pub fn for_connection(&self, reset: Arc<AtomicBool>) -> Self
    where
        S: Clone,
    {
        FaultService {
            inner: self.inner.clone(),
            injector: self.injector.clone(),
            reset,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> tower::Service<http::Request<B>> for FaultService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ProxyBody>>
        + Clone
        + Send
        + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = http::Response<ProxyBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let decision = self.injector.decide(request.uri().path());
        // Take the service that was driven to readiness; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let reset = self.reset.clone();
        let injector = self.injector.clone();
        Box::pin(async move {
            if !decision.delay.is_zero() {
                tokio::time::sleep(decision.delay).await;
            }
            match decision.terminal {
                Some(Terminal::Reset) => {
                    injector.outcome(true);
                    reset.store(true, Ordering::Release);
                    Err(Box::new(InjectedReset) as BoxError)
                }
                Some(Terminal::Status(code, body)) => {
                    injector.outcome(code >= 500);
                    Ok(injected_response(code, body))
                }
                None => inner.call(request).await.map_err(Into::into),
            }
        })
    }
}

fn injected_response(code: u16, body: Bytes) -> http::Response<ProxyBody> {
    let mut response = http::Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *response.status_mut() =
        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        "x-breakerbox-fault",
        http::HeaderValue::from_static("status"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Fault;

    fn scheduled(
        id: usize,
        action: FaultAction,
        probability: f64,
        path: Option<&str>,
    ) -> ScheduledFault {
        ScheduledFault {
            id,
            phase: 0,
            profile: "p".into(),
            slot: id,
            fault: Fault {
                action,
                probability,
                path_prefix: path.map(str::to_string),
                start: Duration::ZERO,
                duration: None,
            },
            from: Duration::ZERO,
            until: Duration::from_secs(3600),
        }
    }

    fn injector(schedule: Vec<ScheduledFault>) -> Injector {
        let clock = RunClock::new();
        clock.start();
        Injector {
            tap: Arc::new(Tap::new(schedule.len(), Duration::from_secs(1))),
            schedule,
            clock,
            seed: 9,
            requests: AtomicU64::new(0),
        }
    }

    #[test]
    fn nothing_is_injected_before_the_run_starts() {
        let inj = Injector {
            clock: RunClock::new(),
            ..injector(vec![scheduled(0, FaultAction::Reset, 1.0, None)])
        };
        assert_eq!(inj.decide("/x"), Decision::default());
    }

    #[test]
    fn probability_is_per_request_and_seeded() {
        let inj = injector(vec![scheduled(
            0,
            FaultAction::Status {
                code: 503,
                body: String::new(),
            },
            0.3,
            None,
        )]);
        let hits = (0..2000)
            .filter(|_| inj.decide("/x").terminal.is_some())
            .count();
        assert!((500..700).contains(&hits), "{hits} of 2000");
        let again = injector(inj.schedule.clone());
        let first: Vec<bool> = (0..50)
            .map(|_| again.decide("/x").terminal.is_some())
            .collect();
        let replay = injector(inj.schedule.clone());
        let second: Vec<bool> = (0..50)
            .map(|_| replay.decide("/x").terminal.is_some())
            .collect();
        assert_eq!(first, second);
    }

    #[test]
    fn path_prefix_limits_faults_and_latency_adds_up() {
        let inj = injector(vec![
            scheduled(
                0,
                FaultAction::Latency {
                    delay: Duration::from_millis(100),
                    jitter: Duration::ZERO,
                },
                1.0,
                None,
            ),
            scheduled(1, FaultAction::Reset, 1.0, Some("/item/")),
            scheduled(
                2,
                FaultAction::Status {
                    code: 500,
                    body: String::new(),
                },
                1.0,
                None,
            ),
        ]);
        let d = inj.decide("/item/1");
        assert_eq!(d.delay, Duration::from_millis(100));
        assert_eq!(
            d.terminal,
            Some(Terminal::Reset),
            "first terminal fault wins"
        );
        let d = inj.decide("/other");
        assert!(matches!(d.terminal, Some(Terminal::Status(500, _))));
        let tap = inj.tap.snapshot();
        let injected: Vec<u64> = (0..3)
            .map(|i| tap.iter().map(|b| b.injected[i]).sum())
            .collect();
        assert_eq!(injected, vec![2, 1, 1]);
    }

    #[test]
    fn jitter_stays_in_band() {
        let d = Duration::from_millis(100);
        let j = Duration::from_millis(20);
        assert_eq!(jittered(d, j, 0.0), Duration::from_millis(80));
        assert_eq!(jittered(d, j, 0.5), Duration::from_millis(100));
        assert!(jittered(d, j, 0.999) <= Duration::from_millis(120));
    }
}
