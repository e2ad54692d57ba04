//! `constant-vus` (closed model): a fixed number of virtual users loop request → think
//! time for the whole phase (see [`closed`](super::closed)).

use super::super::Shared;
use super::closed::{Iterations, Users};
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::Arc;

/// Runs `vus` virtual users until the phase ends or the run stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    sink: Arc<PhaseSink>,
    vus: usize,
    think_time: crate::config::ThinkTime,
) {
    let users = Users {
        wanted: |_| vus,
        think_time,
        iterations: Iterations::Unlimited,
        ramp_down: None,
    };
    super::closed::run(shared, phase, sink, users).await;
}
