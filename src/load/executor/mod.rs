//! The executors: how a phase turns its load shape into requests, one file per shape.
//!
//! Every executor records into the phase's [`PhaseSink`]; [`run_phase`] picks the executor
//! for the phase's shape and returns what the phase recorded.

mod constant_arrival_rate;
mod ramping_vus;

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
    match phase.load.clone() {
        LoadShape::ConstantArrivalRate { rate, max_vus } => {
            constant_arrival_rate::run(shared, phase, sink.clone(), rate, max_vus).await
        }
        LoadShape::RampingVus {
            start_vus,
            stages,
            think_time,
        } => ramping_vus::run(shared, phase, sink.clone(), start_vus, stages, think_time).await,
    }
    sink.merged()
}

/// Waits for every worker; a worker that panicked is counted, its samples so far are kept.
async fn join_all(mut workers: JoinSet<()>, sink: &PhaseSink) {
    while let Some(done) = workers.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "load worker failed");
            sink.crashed();
        }
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
