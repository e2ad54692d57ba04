//! A load worker: one virtual user on one connection, one request at a time.
//!
//! Executors decide *when* (`iterate` then `think`); the worker decides *what*: its user
//! type's on-start requests (once), then per iteration the whole ordered flow or one
//! weighted task, each request built from its templates, sent, and read for captures and
//! checks.

use super::client::{Connection, Keep, Outgoing};
use super::journey::{self, Skip};
use super::Shared;
use crate::breaker_state::BreakerState;
use crate::config::template::Context;
use crate::config::{CaptureSource, ThinkTime, Work};
use crate::metrics::{Outcome, PhaseSink, Sample, Served};
use crate::rng::Rng;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::WaitForCancellationFutureOwned;

/// A think time at least this long gives the connection's buffers back while it waits.
const GIVE_BACK_BUFFERS_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// The pause after an iteration whose every request was skipped.
const SKIPPED_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// A worker's request loop state: its connection, random stream and where it records.
pub(super) struct Worker {
    shared: Arc<Shared>,
    vu: Vu,
}

/// Everything a worker changes as it goes, apart from what it shares.
struct Vu {
    /// Resolves when the run stops; made once, so waiting on it costs no registration per
    /// request.
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
    connection: Connection,
    rng: Rng,
    /// The request being sent, reused so its buffers are allocated once.
    outgoing: Outgoing,
    /// A reused buffer for rendering header values.
    scratch: String,
    sink: Arc<PhaseSink>,
    index: usize,
    /// The virtual user's number, 1-based (`{{vu}}`).
    id: u64,
    /// Its user type (index into the run's user types).
    user: usize,
    /// Iterations finished (`{{iteration}}`).
    iteration: u64,
    /// Pause after each iteration.
    think_time: ThinkTime,
    /// When the current iteration started (for pacing).
    iteration_start: Instant,
    /// Whether the on-start requests have all succeeded.
    started: bool,
    /// Captured values by slot, starting from setup's.
    captures: Vec<Option<String>>,
    /// The current row of each data set.
    rows: Vec<Option<usize>>,
    /// The row held of each `unique` data set.
    leases: Vec<Option<usize>>,
}

/// How sending one request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// It got a response below 400 and captured every value.
    Ok,
    /// It failed, answered 400 or more, or missed a capture.
    NotOk,
    /// It was not sent (a placeholder had no value).
    Skipped,
    /// The run stopped while it was in flight (nothing recorded).
    Stopped,
}

impl Worker {
    /// Worker `index` of phase `phase`, recording into `sink`; `think_time` is the phase's
    /// (a user type's own think time wins).
    pub(super) fn new(
        shared: Arc<Shared>,
        phase: usize,
        index: usize,
        sink: Arc<PhaseSink>,
        think_time: ThinkTime,
    ) -> Self {
        let rng = Rng::new(shared.seed, ((phase as u64) << 32) | index as u64);
        let journeys = &shared.journeys;
        let user = journeys.user_for(index);
        let sets = journeys.data.sets.len();
        let vu = Vu {
            stopped: Box::pin(shared.stop.clone().cancelled_owned()),
            connection: Connection::default(),
            rng,
            outgoing: Outgoing::default(),
            scratch: String::new(),
            sink,
            index,
            id: index as u64 + 1,
            user,
            iteration: 0,
            think_time: journeys
                .users
                .get(user)
                .and_then(|u| u.think_time)
                .unwrap_or(think_time),
            iteration_start: Instant::now(),
            started: false,
            captures: journeys.globals.clone(),
            rows: vec![None; sets],
            leases: vec![None; sets],
        };
        Worker { shared, vu }
    }

    /// Runs one iteration of this virtual user's work: its on-start requests until they
    /// have succeeded once, then its flow in order or one of its tasks by weight. The
    /// first request's latency counts from `started` (the intended start in the open
    /// model). Returns false if the run was stopped mid-iteration.
    pub(super) async fn iterate(&mut self, started: Instant) -> bool {
        let Worker { shared, vu } = self;
        let shared: &Shared = shared;
        vu.iteration_start = started;
        vu.pick_rows(shared);
        let Some(user) = shared.journeys.users.get(vu.user) else {
            return !shared.stop.is_cancelled();
        };
        let mut first = Some(started);
        let mut sent_any = false;
        if !vu.started && !user.on_start.is_empty() {
            let mut all_ok = true;
            for &request in &user.on_start {
                let at = first.take().unwrap_or_else(Instant::now);
                match vu.send(shared, request, at).await {
                    Sent::Stopped => return false,
                    Sent::Ok => sent_any = true,
                    Sent::NotOk => {
                        sent_any = true;
                        all_ok = false;
                    }
                    Sent::Skipped => all_ok = false,
                }
            }
            vu.started = all_ok;
        }
        let task;
        let steps: &[usize] = match &user.work {
            Work::Flow(steps) => steps,
            Work::Tasks(_) => {
                let draw = vu.rng.next_u64();
                task = shared.journeys.task(vu.user, draw);
                task.as_slice()
            }
        };
        for &request in steps {
            let at = first.take().unwrap_or_else(Instant::now);
            match vu.send(shared, request, at).await {
                Sent::Stopped => return false,
                Sent::Skipped => {}
                Sent::Ok | Sent::NotOk => sent_any = true,
            }
        }
        vu.iteration += 1;
        if !sent_any {
            // Nothing went out (every request skipped): pause, so a user with no think
            // time whose requests all wait for a value does not spin on its thread.
            tokio::select! {
                _ = tokio::time::sleep(SKIPPED_PAUSE) => {}
                _ = shared.stop.cancelled() => return false,
            }
        }
        true
    }

    /// Pauses after an iteration as the think time says; false if the run stopped first.
    pub(super) async fn think(&mut self) -> bool {
        let vu = &mut self.vu;
        let pause = match vu.think_time {
            ThinkTime::Constant(d) => d,
            ThinkTime::Uniform { min, max } => min + (max - min).mul_f64(vu.rng.next_f64()),
            ThinkTime::Pacing(every) => {
                (vu.iteration_start + every).saturating_duration_since(Instant::now())
            }
        };
        if pause.is_zero() {
            return !self.shared.stop.is_cancelled();
        }
        if pause >= GIVE_BACK_BUFFERS_AFTER {
            // Thousands of thinking users should not each hold a connection's buffers.
            vu.connection.idle();
        }
        tokio::select! {
            biased;
            _ = self.shared.stop.cancelled() => false,
            _ = tokio::time::sleep(pause) => true,
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        for (set, lease) in self.vu.leases.iter().enumerate() {
            if let Some(row) = lease {
                self.shared.journeys.data.release(set, *row);
            }
        }
    }
}

impl Vu {
    /// Takes this iteration's row of every data set the user type reads.
    fn pick_rows(&mut self, shared: &Shared) {
        let journeys = &shared.journeys;
        let Some(sets) = journeys.user_data.get(self.user) else {
            return;
        };
        for &set in sets {
            self.rows[set] = journeys
                .data
                .pick(set, &mut self.rng, &mut self.leases[set]);
        }
    }

    /// Sends request `request`; latency counts from `started`.
    async fn send(&mut self, shared: &Shared, request: usize, started: Instant) -> Sent {
        let Some(spec) = shared.requests.get(request) else {
            return Sent::Skipped;
        };
        let journeys = &shared.journeys;
        let cell = self.user * shared.requests.len() + request;
        let mut cx = Context {
            rng: &mut self.rng,
            vu: self.id,
            iteration: self.iteration,
            data: &journeys.data.sets,
            rows: &self.rows,
            captures: &self.captures,
        };
        if let Err(skip) = journey::build(spec, &mut cx, &mut self.outgoing, &mut self.scratch) {
            let reason = journeys.reason(skip, spec);
            self.sink.skipped(self.index, cell, &reason);
            if let Skip::BadHeader(_) = skip {
                tracing::debug!(request = %spec.name, %reason, "request skipped");
            }
            return Sent::Skipped;
        }
        let keep = Keep {
            headers: shared.keep.headers
                || spec
                    .captures
                    .iter()
                    .any(|c| matches!(c.source, CaptureSource::Header(_))),
            body: journeys.keep_body.get(request).copied().unwrap_or(0),
        };
        let exchange = tokio::time::timeout(
            spec.timeout.unwrap_or(shared.timeout),
            journey::exchange(
                &mut self.connection,
                &shared.target,
                &mut self.outgoing,
                keep,
                spec.follow_redirects,
            ),
        );
        let sent = Instant::now();
        let in_flight = shared.live.start();
        let result = tokio::select! {
            // Biased: no random draw per request to pick a branch.
            biased;
            r = exchange => r,
            _ = &mut self.stopped => return Sent::Stopped,
        };
        let finished = Instant::now();
        drop(in_flight);
        let at = finished.saturating_duration_since(shared.epoch);
        let service = finished.saturating_duration_since(sent);
        let (outcome, markers, head) = match result {
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
                (Outcome::Status(status), markers, Some(head))
            }
            Ok(Err(kind)) => (Outcome::Failed(kind), Default::default(), None),
            Err(_) => {
                self.connection.discard();
                (Outcome::Failed("timeout"), Default::default(), None)
            }
        };
        let (sink, index) = (&self.sink, self.index);
        let read = journey::read(
            spec,
            head.as_ref().map(|h| (h, service)),
            &mut self.captures,
            |name| sink.capture_missed(index, cell, name),
        );
        let sample = Sample {
            at,
            latency: finished.saturating_duration_since(started),
            service,
            outcome,
            markers,
            expected_interval: self.think_time.expected_interval(),
        };
        if spec.checks.is_empty() {
            self.sink.record(self.index, cell, &sample);
        } else {
            self.sink
                .record_checked(self.index, cell, &sample, read.checks);
        }
        shared.activity.finished(
            sent.saturating_duration_since(shared.epoch),
            sample.latency,
            Served {
                degraded: markers.degraded(),
                rejected: markers.rejected,
                shed: markers.rejected || (markers.fallback && !markers.cache_hit),
            },
        );
        shared.live.record(&sample);
        match outcome {
            Outcome::Status(s) if s < 400 && read.captured => Sent::Ok,
            _ => Sent::NotOk,
        }
    }
}
