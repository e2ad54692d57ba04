//! A load worker: one connection, one random stream, one request at a time.

use super::client::{Connection, Outgoing};
use super::Shared;
use crate::breaker_state::BreakerState;
use crate::config::ThinkTime;
use crate::metrics::{Outcome, PhaseSink, Sample, Served};
use crate::rng::Rng;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::WaitForCancellationFutureOwned;

/// A worker's request loop state: its connection, random stream and where it records.
pub(super) struct Worker {
    shared: Arc<Shared>,
    connection: Connection,
    rng: Rng,
    /// The request being sent, reused so its buffers are allocated once.
    outgoing: Outgoing,
    /// The request entry `outgoing`'s method, headers and body were copied from.
    prepared: Option<usize>,
    sink: Arc<PhaseSink>,
    index: usize,
    /// Resolves when the run stops; made once, so waiting on it costs no registration per
    /// request.
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
    /// Pause after each iteration (closed-model executors; zero in the open model).
    think_time: ThinkTime,
}

impl Worker {
    /// Worker `index` of phase `phase`, recording into `sink`.
    pub(super) fn new(
        shared: Arc<Shared>,
        phase: usize,
        index: usize,
        sink: Arc<PhaseSink>,
        think_time: ThinkTime,
    ) -> Self {
        let rng = Rng::new(shared.seed, ((phase as u64) << 32) | index as u64);
        let stopped = Box::pin(shared.stop.clone().cancelled_owned());
        Worker {
            shared,
            connection: Connection::default(),
            rng,
            outgoing: Outgoing::default(),
            prepared: None,
            stopped,
            sink,
            index,
            think_time,
        }
    }

    /// Runs one iteration of this virtual user's work: today one request of the weighted
    /// mix. Latency counts from `started` (the intended start in the open model). Returns
    /// false if the run was stopped mid-iteration.
    pub(super) async fn iterate(&mut self, started: Instant) -> bool {
        self.one_request(started).await
    }

    /// Pauses after an iteration as the think time says; false if the run stopped first.
    pub(super) async fn think(&mut self) -> bool {
        if self.think_time.max.is_zero() {
            return !self.shared.stop.is_cancelled();
        }
        let pause = self.think_time.pick(self.rng.next_u64());
        if pause >= Duration::from_millis(100) {
            self.connection.idle();
        }
        tokio::select! {
            biased;
            _ = &mut self.stopped => false,
            _ = tokio::time::sleep(pause) => true,
        }
    }

    /// Sends one request; latency counts from `started` (the intended start in open model).
    /// Returns false if the run was stopped mid-request (nothing is recorded then).
    async fn one_request(&mut self, started: Instant) -> bool {
        // Split borrows: the shared state is read while the worker's own parts change.
        let Worker {
            shared,
            connection,
            rng,
            outgoing,
            sink,
            index,
            prepared,
            stopped,
            ..
        } = self;
        let group = shared.pick(rng.next_u64());
        let spec = &shared.requests[group];
        spec.path.render(rng, &mut outgoing.path);
        if *prepared != Some(group) {
            // Method, headers and body only change with the request entry.
            outgoing.method.clone_from(&spec.method);
            outgoing.headers.clone_from(&spec.headers);
            outgoing.body = spec.body.clone();
            *prepared = Some(group);
        }
        let exchange = tokio::time::timeout(
            shared.timeout,
            connection.exchange(&shared.target, outgoing, shared.keep),
        );
        let sent = Instant::now();
        let result = tokio::select! {
            biased;
            r = exchange => r,
            _ = stopped => return false,
        };
        let finished = Instant::now();
        let at = finished.saturating_duration_since(shared.epoch);
        let (outcome, markers) = match result {
            Ok(Ok(head)) => {
                let status = head.status.as_u16();
                let markers = shared
                    .classifier
                    .classify(status, &head.headers, &head.body);
                if let Some(state) = markers.breaker {
                    shared.header.observe(at, state);
                } else if markers.state_unreadable {
                    if let Some(raw) = shared.classifier.raw_state(&head.headers) {
                        shared.header.unknown(raw);
                    }
                }
                if let Some(tracker) = &shared.markers {
                    // A rejection says open; a fresh answer (neither fallback nor cache)
                    // says the call went through; a fallback or cache hit says nothing.
                    // Both are decided when the service admits the request, so they are
                    // dated at the send: a slow call let in before an open must not read
                    // as "closed" after it.
                    let admitted = sent.saturating_duration_since(shared.epoch);
                    if markers.rejected {
                        tracker.observe(admitted, BreakerState::Open);
                    } else if !markers.degraded() {
                        tracker.observe(admitted, BreakerState::Closed);
                    }
                }
                (Outcome::Status(status), markers)
            }
            Ok(Err(kind)) => (Outcome::Failed(kind), Default::default()),
            Err(_) => {
                connection.discard();
                (Outcome::Failed("timeout"), Default::default())
            }
        };
        let sample = Sample {
            at,
            latency: finished.saturating_duration_since(started),
            service: finished.saturating_duration_since(sent),
            outcome,
            markers,
        };
        sink.record(*index, group, &sample);
        shared.activity.finished(
            sent.saturating_duration_since(shared.epoch),
            sample.latency,
            Served {
                degraded: markers.degraded(),
                rejected: markers.rejected,
                shed: markers.rejected || (markers.fallback && !markers.cache_hit),
            },
        );
        shared.live.requests.fetch_add(1, Ordering::Relaxed);
        if outcome.is_error() {
            shared.live.errors.fetch_add(1, Ordering::Relaxed);
        }
        if markers.fallback {
            shared.live.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        if markers.cache_hit {
            shared.live.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        true
    }
}
