//! The executors: how a phase turns its load shape into requests, one file per shape.
//!
//! Every executor records into the phase's [`PhaseSink`]; [`run_phase`] picks the executor
//! for the phase's shape and returns what the phase recorded. The open-model executors
//! share `open` (a timetable feeding a worker pool), the closed-model ones `closed` (a
//! loop per virtual user); each executor's own file only says what its schedule is.
//!
//! Every executor ends its phase the same way ([`finish`]): no iteration starts after the
//! phase end; those still running get the phase's graceful stop to finish, then are cut
//! and counted as interrupted.

mod closed;
mod constant_arrival_rate;
mod constant_vus;
mod open;
mod per_vu_iterations;
mod ramping_arrival_rate;
mod ramping_vus;
mod shared_iterations;

use super::Shared;
use crate::config::LoadShape;
use crate::metrics::{PhaseSink, Recorder};
use crate::plan::PlannedPhase;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Runs one phase to its end (or the run's stop) and returns what its workers recorded.
pub(super) async fn run_phase(shared: Arc<Shared>, phase: PlannedPhase) -> Recorder {
    let sink = Arc::new(PhaseSink::new(shared.cells()));
    let sink_handle = sink.clone();
    match phase.load.clone() {
        LoadShape::ConstantArrivalRate { rate, pool } => {
            constant_arrival_rate::run(shared, phase, sink_handle, rate, pool).await
        }
        LoadShape::RampingArrivalRate {
            start_rate,
            stages,
            pool,
        } => ramping_arrival_rate::run(shared, phase, sink_handle, start_rate, &stages, pool).await,
        LoadShape::ConstantVus { vus, think_time } => {
            constant_vus::run(shared, phase, sink_handle, vus, think_time).await
        }
        LoadShape::RampingVus {
            start_vus,
            stages,
            think_time,
            graceful_ramp_down,
        } => {
            let ramp = ramping_vus::Ramp {
                start_vus,
                stages,
                graceful_ramp_down,
            };
            ramping_vus::run(shared, phase, sink_handle, ramp, think_time).await
        }
        LoadShape::PerVuIterations {
            vus,
            iterations,
            think_time,
        } => per_vu_iterations::run(shared, phase, sink_handle, vus, iterations, think_time).await,
        LoadShape::SharedIterations {
            vus,
            iterations,
            think_time,
        } => shared_iterations::run(shared, phase, sink_handle, vus, iterations, think_time).await,
    }
    sink.merged()
}

/// Waits for every worker until `cut_at` (the phase end plus its graceful stop), then cuts
/// those still running; their [`Tally`] counts the iteration each was in as interrupted. A
/// worker that panicked is counted; its samples so far are kept.
async fn finish(mut workers: JoinSet<()>, sink: &PhaseSink, cut_at: Instant) {
    let drained = tokio::time::timeout_at(cut_at.into(), drain(&mut workers, sink)).await;
    if drained.is_err() {
        workers.abort_all();
        drain(&mut workers, sink).await;
    }
}

/// Waits for every worker of `workers`, counting the ones that panicked.
async fn drain(workers: &mut JoinSet<()>, sink: &PhaseSink) {
    while let Some(done) = workers.join_next().await {
        joined(done, sink);
    }
}

/// Counts a worker that ended in a panic (one cut on purpose is not a crash).
fn joined(done: Result<(), tokio::task::JoinError>, sink: &PhaseSink) {
    if let Err(e) = done {
        if !e.is_cancelled() {
            tracing::error!(error = %e, "load worker failed");
            sink.crashed();
        }
    }
}

/// A worker's own counts, handed to the sink when the worker ends however it ends: cut
/// mid-iteration (its task dropped), the run stopped, or its work done. Counting in the
/// worker keeps shared counters off the hot path.
struct Tally {
    sink: Arc<PhaseSink>,
    worker: usize,
    iterations: u64,
    interrupted: u64,
    dropped: u64,
    /// An iteration has begun and not ended: if the worker is dropped now, it was cut.
    in_flight: bool,
}

impl Tally {
    fn new(sink: Arc<PhaseSink>, worker: usize) -> Self {
        Tally {
            sink,
            worker,
            iterations: 0,
            interrupted: 0,
            dropped: 0,
            in_flight: false,
        }
    }

    /// An iteration starts.
    fn begin(&mut self) {
        self.in_flight = true;
    }

    /// The iteration ended: ran to its end, or (`completed` false) the run stopped in it.
    fn end(&mut self, completed: bool) {
        self.in_flight = false;
        if completed {
            self.iterations += 1;
        } else {
            self.interrupted += 1;
        }
    }

    /// The iteration was cut short by the executor.
    fn cut(&mut self) {
        self.end(false);
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        let interrupted = self.interrupted + u64::from(self.in_flight);
        self.sink
            .tally(self.worker, self.iterations, interrupted, self.dropped);
    }
}

/// Sleeps the thread until `deadline`; false if the run was stopped first.
fn sleep_until(deadline: Instant, stop: &CancellationToken) -> bool {
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
