//! The executors: how a phase turns its load shape into requests.

use super::client::Connection;
use super::Shared;
use crate::breaker_state::BreakerState;
use crate::config::{LoadShape, Stage};
use crate::metrics::{Outcome, Recorder, Sample, Served};
use crate::plan::PlannedPhase;
use crate::rng::Rng;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Runs one phase to its end (or the run's stop) and returns what its workers recorded.
pub(super) async fn run_phase(shared: Arc<Shared>, phase: PlannedPhase) -> Recorder {
    match phase.load.clone() {
        LoadShape::ConstantArrivalRate { rate, max_vus } => {
            open_model(shared, phase, rate, max_vus).await
        }
        LoadShape::RampingVus {
            start_vus,
            stages,
            think_time,
        } => closed_model(shared, phase, start_vus, stages, think_time).await,
    }
}

/// A worker's request loop state: its connection, random stream and recorder.
struct Worker {
    shared: Arc<Shared>,
    connection: Connection,
    rng: Rng,
    path: String,
    recorder: Recorder,
}

impl Worker {
    fn new(shared: Arc<Shared>, phase: usize, worker: usize) -> Self {
        let rng = Rng::new(shared.seed, ((phase as u64) << 32) | worker as u64);
        let recorder = Recorder::new(shared.requests.len());
        Worker {
            shared,
            connection: Connection::default(),
            rng,
            path: String::new(),
            recorder,
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
            path,
            recorder,
        } = self;
        let group = shared.pick(rng.next_u64());
        let spec = &shared.requests[group];
        spec.path.render(rng, path);
        let exchange = tokio::time::timeout(
            shared.timeout,
            connection.exchange(&shared.target, &spec.method, path, shared.keep_body),
        );
        let sent = Instant::now();
        let result = tokio::select! {
            r = exchange => r,
            _ = shared.stop.cancelled() => return false,
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
        recorder.record(group, &sample);
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

/// Open model: requests start on a timetable of `rate` per second whatever the latency.
///
/// The timetable runs on a blocking thread: tokio's timer rounds every deadline up to the
/// next whole millisecond, which would add up to 1 ms of dispatch lag to each latency
/// measured from the intended start; a thread sleep is accurate to tens of microseconds.
/// At each wake-up every request that has come due is released with its own intended
/// start. Workers start at about 50 ms worth of arrivals; whenever a request comes due and
/// no worker is idle, one more is started, up to `max_vus`.
async fn open_model(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    rate: f64,
    max_vus: usize,
) -> Recorder {
    let groups = shared.requests.len();
    let runtime = tokio::runtime::Handle::current();
    let timetable = tokio::task::spawn_blocking(move || {
        let phase_start = shared.epoch + phase.start;
        let phase_end = shared.epoch + phase.end();
        let due = |n: u64| phase_start + Duration::from_secs_f64(n as f64 / rate);
        let (tx, rx) = async_channel::bounded::<Instant>(max_vus);
        let idle = Arc::new(AtomicUsize::new(0));
        let mut workers = JoinSet::new();
        let mut spawn_worker = |index: usize| {
            let mut worker = Worker::new(shared.clone(), phase.index, index);
            let rx = rx.clone();
            let idle = idle.clone();
            let work = async move {
                loop {
                    idle.fetch_add(1, Ordering::AcqRel);
                    let next = rx.recv().await;
                    idle.fetch_sub(1, Ordering::AcqRel);
                    let Ok(intended) = next else { break };
                    if !worker.one_request(intended).await {
                        break;
                    }
                }
                worker.recorder
            };
            workers.spawn_on(work, &runtime);
        };
        let initial = ((rate * 0.05).ceil() as usize).clamp(1, max_vus);
        (0..initial).for_each(&mut spawn_worker);
        let mut spawned = initial;
        let mut dropped = 0u64;
        let mut n: u64 = 0;
        let mut woke = Instant::now();
        loop {
            let next = due(n);
            if next >= phase_end {
                break;
            }
            // Above 2,000 requests/s, release them in batches rather than waking per request:
            // each wake-up costs a thread switch (measured in docs/benchmarks.md).
            if !sleep_until(next.max(woke + DISPATCH_QUANTUM), &shared.stop) {
                break;
            }
            let now = Instant::now();
            woke = now;
            loop {
                let intended = due(n);
                if intended > now || intended >= phase_end {
                    break;
                }
                // Every queued request needs a worker of its own.
                if spawned < max_vus && idle.load(Ordering::Acquire) <= rx.len() {
                    spawn_worker(spawned);
                    spawned += 1;
                }
                if tx.try_send(intended).is_err() {
                    dropped += 1;
                }
                n += 1;
            }
        }
        tx.close();
        (workers, dropped)
    });
    match timetable.await {
        Ok((workers, dropped)) => {
            let mut recorder = collect(workers, groups).await;
            recorder.dropped += dropped;
            recorder
        }
        Err(e) => {
            tracing::error!(error = %e, "open-model scheduler failed");
            Recorder {
                crashed_workers: 1,
                ..Recorder::new(groups)
            }
        }
    }
}

/// Shortest pause between two wake-ups of the open-model timetable.
const DISPATCH_QUANTUM: Duration = Duration::from_micros(500);

/// Sleeps the thread until `deadline`; false if the run was stopped first.
fn sleep_until(deadline: Instant, stop: &tokio_util::sync::CancellationToken) -> bool {
    loop {
        if stop.is_cancelled() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        // Wake at least every 20 ms to notice a stop.
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}

/// Closed model: virtual users loop request → think time; their number follows the stages.
async fn closed_model(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    start_vus: usize,
    stages: Vec<Stage>,
    think_time: Duration,
) -> Recorder {
    let phase_start = shared.epoch + phase.start;
    let phase_end = shared.epoch + phase.end();
    let desired = Arc::new(AtomicUsize::new(start_vus));
    let mut workers = JoinSet::new();
    let mut spawned = 0usize;
    loop {
        let now = Instant::now();
        if now >= phase_end || shared.stop.is_cancelled() {
            break;
        }
        let want = vus_at(
            start_vus,
            &stages,
            now.saturating_duration_since(phase_start),
        );
        desired.store(want, Ordering::Relaxed);
        while spawned < want {
            let mut worker = Worker::new(shared.clone(), phase.index, spawned);
            let index = spawned;
            let desired = desired.clone();
            let stop = shared.stop.clone();
            workers.spawn(async move {
                while Instant::now() < phase_end && !stop.is_cancelled() {
                    if index >= desired.load(Ordering::Relaxed) {
                        // Ramped down: idle until ramped up again or the phase ends.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    if !worker.one_request(Instant::now()).await {
                        break;
                    }
                    if !think_time.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(think_time) => {}
                            _ = stop.cancelled() => break,
                        }
                    }
                }
                worker.recorder
            });
            spawned += 1;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = shared.stop.cancelled() => break,
        }
    }
    collect(workers, shared.requests.len()).await
}

/// Virtual users wanted `elapsed` into a phase ramping from `start_vus` through `stages`.
fn vus_at(start_vus: usize, stages: &[Stage], elapsed: Duration) -> usize {
    let mut from = start_vus as f64;
    let mut stage_start = Duration::ZERO;
    for stage in stages {
        let stage_end = stage_start + stage.duration;
        if elapsed < stage_end {
            let progress = (elapsed - stage_start).as_secs_f64() / stage.duration.as_secs_f64();
            return (from + (stage.target as f64 - from) * progress).round() as usize;
        }
        from = stage.target as f64;
        stage_start = stage_end;
    }
    from as usize
}

async fn collect(mut workers: JoinSet<Recorder>, groups: usize) -> Recorder {
    let mut all = Recorder::new(groups);
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(recorder) => all.merge(&recorder),
            Err(e) => {
                tracing::error!(error = %e, "load worker failed");
                all.crashed_workers += 1;
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vus_ramp_linearly_between_stages() {
        let s = |secs, target| Stage {
            duration: Duration::from_secs(secs),
            target,
        };
        let stages = [s(10, 10), s(10, 10), s(5, 0)];
        let at = |ms| vus_at(0, &stages, Duration::from_millis(ms));
        assert_eq!(at(0), 0);
        assert_eq!(at(5_000), 5);
        assert_eq!(at(15_000), 10);
        assert_eq!(at(22_500), 5);
        assert_eq!(at(60_000), 0);
        assert_eq!(vus_at(4, &[s(4, 0)], Duration::from_secs(1)), 3);
    }
}
