//! `constant-arrival-rate` (open model): requests start on a fixed timetable whatever the
//! latency, and latency counts from each request's *intended* start, so a slow target cannot
//! hide its slowness by slowing the load (no coordinated omission). A request due while
//! every worker is busy and the queue is full is counted as dropped.

use super::super::worker::Worker;
use super::super::Shared;
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Shortest pause between two wake-ups of the timetable.
const DISPATCH_QUANTUM: Duration = Duration::from_micros(500);

/// A worker above the initial pool that waited this long for a request retires, so a
/// burst's extra workers (and their connections) do not stay for the rest of a soak.
const RETIRE_AFTER: Duration = Duration::from_secs(2);

/// Runs the phase's timetable until it ends or the run stops.
///
/// The timetable runs on a blocking thread: tokio's timer rounds every deadline up to the
/// next whole millisecond, which would add up to 1 ms of dispatch lag to each latency
/// measured from the intended start; a thread sleep is accurate to tens of microseconds.
/// At each wake-up every request that has come due is released with its own intended
/// start. Workers start at about 50 ms worth of arrivals; whenever a request comes due and
/// no worker is idle, one more is started, up to `max_vus`.
pub(super) async fn run(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    sink: Arc<PhaseSink>,
    rate: f64,
    max_vus: usize,
) {
    let runtime = tokio::runtime::Handle::current();
    let timetable_sink = sink.clone();
    let timetable = tokio::task::spawn_blocking(move || {
        let sink = timetable_sink;
        let phase_start = shared.epoch + phase.start;
        let phase_end = shared.epoch + phase.end();
        let due = |n: u64| phase_start + Duration::from_secs_f64(n as f64 / rate);
        let (tx, rx) = async_channel::bounded::<Instant>(max_vus);
        let pool = Pool {
            idle: Arc::new(AtomicUsize::new(0)),
            alive: Arc::new(AtomicUsize::new(0)),
            floor: ((rate * 0.05).ceil() as usize).clamp(1, max_vus),
        };
        let mut workers = JoinSet::new();
        let mut started = 0usize;
        let mut spawn_worker = |workers: &mut JoinSet<()>| {
            let worker = Worker::new(
                shared.clone(),
                phase.index,
                started,
                sink.clone(),
                crate::config::ThinkTime::NONE,
            );
            started += 1;
            pool.alive.fetch_add(1, Ordering::AcqRel);
            workers.spawn_on(pool.clone().serve(worker, rx.clone()), &runtime);
        };
        for _ in 0..pool.floor {
            spawn_worker(&mut workers);
        }
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
            if !super::sleep_until(next.max(woke + DISPATCH_QUANTUM), &shared.stop) {
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
                if pool.alive.load(Ordering::Acquire) < max_vus
                    && pool.idle.load(Ordering::Acquire) <= rx.len()
                {
                    spawn_worker(&mut workers);
                }
                if tx.try_send(intended).is_err() {
                    dropped += 1;
                }
                n += 1;
            }
            // Reap retired workers so their task slots do not pile up over a long soak.
            while let Some(done) = workers.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "load worker failed");
                    sink.crashed();
                }
            }
        }
        tx.close();
        sink.dropped(dropped);
        workers
    });
    match timetable.await {
        Ok(workers) => super::join_all(workers, &sink).await,
        Err(e) => {
            tracing::error!(error = %e, "open-model scheduler failed");
            sink.crashed();
        }
    }
}

/// The open model's worker pool counts: who is waiting, who is alive, who never retires.
#[derive(Clone)]
struct Pool {
    idle: Arc<AtomicUsize>,
    alive: Arc<AtomicUsize>,
    /// Workers kept however quiet it gets.
    floor: usize,
}

impl Pool {
    /// One worker's loop: take the next due request, send it, until the timetable closes,
    /// the run stops, or it has been idle long enough to retire.
    async fn serve(self, mut worker: Worker, rx: async_channel::Receiver<Instant>) {
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            let next = tokio::time::timeout(RETIRE_AFTER, rx.recv()).await;
            self.idle.fetch_sub(1, Ordering::AcqRel);
            match next {
                Ok(Ok(intended)) => {
                    if !worker.iterate(intended).await {
                        break;
                    }
                }
                Ok(Err(_closed)) => break,
                Err(_quiet) => {
                    let retired = self
                        .alive
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                            (n > self.floor).then(|| n - 1)
                        })
                        .is_ok();
                    if retired {
                        return;
                    }
                }
            }
        }
        self.alive.fetch_sub(1, Ordering::AcqRel);
    }
}
