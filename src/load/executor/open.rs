//! The open model shared by the arrival-rate executors: requests start on a timetable
//! whatever the latency, and latency counts from each request's *intended* start, so a
//! slow target cannot hide its slowness by slowing the load (no coordinated omission).
//!
//! Each worker holds one connection and sends one request at a time. A request that no
//! worker can take on time is **dropped**, never sent late: see [`START_WITHIN`].

use super::super::timetable::Timetable;
use super::super::worker::Worker;
use super::super::Shared;
use super::Tally;
use crate::config::OpenPool;
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Shortest pause between two wake-ups of the timetable.
const DISPATCH_QUANTUM: Duration = Duration::from_micros(500);

/// A worker above the pre-allocated ones that waited this long for a request retires, so
/// a burst's extra workers (and their connections) do not stay for the rest of a soak.
const RETIRE_AFTER: Duration = Duration::from_secs(2);

/// How long a request may wait for a worker to free up before it is dropped.
///
/// The rule: a request due at `t` goes to an idle worker; with none idle, to a new worker
/// if fewer than `max_vus` are alive. Otherwise all `max_vus` are busy and it waits for
/// the first to free up: it is **dropped** (counted, never sent) if `max_vus` requests
/// already wait, or if no worker takes it by `t + START_WITHIN`. Every worker is one
/// connection, so "no worker free" is "no connection free". A new worker connects as part
/// of its first request, and a request that had a worker but left late because the load
/// generator itself was slow is sent, not dropped: both delays count in its latency,
/// measured from `t`.
pub(crate) const START_WITHIN: Duration = Duration::from_millis(100);

/// A request released by the timetable.
#[derive(Debug, Clone, Copy)]
struct Due {
    /// When it was due: its latency counts from here.
    intended: Instant,
    /// Whether it had to wait for a busy worker (every one of `max_vus` was), and so is
    /// dropped past [`START_WITHIN`].
    waits: bool,
}

/// Runs `timetable` over the phase until it ends or the run stops, then waits out the
/// graceful stop.
///
/// The timetable runs on a blocking thread: tokio's timer rounds every deadline up to the
/// next whole millisecond, which would add up to 1 ms of dispatch lag to each latency
/// measured from the intended start; a thread sleep is accurate to tens of microseconds.
/// At each wake-up every request that has come due is released with its own intended
/// start. `pool.pre_allocated_vus` workers start with the phase; whenever a request comes
/// due and no worker is idle, one more is started, up to `pool.max_vus`.
pub(super) async fn run(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    sink: Arc<PhaseSink>,
    timetable: Timetable,
    pool: OpenPool,
) {
    let runtime = tokio::runtime::Handle::current();
    let dispatcher_sink = sink.clone();
    let cut_at = shared.epoch + phase.cut();
    let max_vus = pool.max_vus.max(1);
    let dispatcher = tokio::task::spawn_blocking(move || {
        let sink = dispatcher_sink;
        let phase_start = shared.epoch + phase.start;
        let phase_end = shared.epoch + phase.end();
        let mut arrivals = timetable.arrivals().map(|t| phase_start + t).peekable();
        let (tx, rx) = async_channel::bounded::<Due>(max_vus);
        let pool = Pool {
            idle: Arc::new(AtomicUsize::new(0)),
            alive: Arc::new(AtomicUsize::new(0)),
            floor: pool.pre_allocated_vus.min(max_vus),
        };
        let mut workers = JoinSet::new();
        let mut started = 0usize;
        let mut peak = 0usize;
        let mut spawn_worker = |workers: &mut JoinSet<()>| {
            let worker = Worker::new(
                shared.clone(),
                phase.index,
                started,
                sink.clone(),
                crate::config::ThinkTime::NONE,
            );
            let tally = Tally::new(sink.clone(), started);
            started += 1;
            peak = peak.max(pool.alive.fetch_add(1, Ordering::AcqRel) + 1);
            workers.spawn_on(pool.clone().serve(worker, tally, rx.clone()), &runtime);
        };
        for _ in 0..pool.floor {
            spawn_worker(&mut workers);
        }
        let mut dropped = 0u64;
        let mut woke = Instant::now();
        while let Some(&next) = arrivals.peek() {
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
            while let Some(intended) = arrivals.next_if(|&due| due <= now && due < phase_end) {
                // Every request released needs a worker of its own.
                let mut waits = pool.idle.load(Ordering::Acquire) <= rx.len();
                if waits && pool.alive.load(Ordering::Acquire) < max_vus {
                    spawn_worker(&mut workers);
                    waits = false;
                }
                if tx.try_send(Due { intended, waits }).is_err() {
                    dropped += 1;
                }
            }
            // Reap retired workers so their task slots do not pile up over a long soak.
            while let Some(done) = workers.try_join_next() {
                super::joined(done, &sink);
            }
        }
        tx.close();
        sink.dropped(dropped);
        sink.peak_vus(peak);
        workers
    });
    match dispatcher.await {
        Ok(workers) => super::finish(workers, &sink, cut_at).await,
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
    /// Workers kept however quiet it gets (the pre-allocated ones).
    floor: usize,
}

impl Pool {
    /// One worker's loop: take the next due request, send it if it is not too late, until
    /// the timetable closes, the run stops, or it has been idle long enough to retire.
    async fn serve(self, mut worker: Worker, mut tally: Tally, rx: async_channel::Receiver<Due>) {
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            let next = tokio::time::timeout(RETIRE_AFTER, rx.recv()).await;
            self.idle.fetch_sub(1, Ordering::AcqRel);
            match next {
                Ok(Ok(due)) => {
                    if due.waits && due.intended.elapsed() > START_WITHIN {
                        tally.dropped += 1;
                        continue;
                    }
                    tally.begin();
                    let completed = worker.iterate(due.intended).await;
                    tally.end(completed);
                    if !completed {
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
