//! `shared-iterations` (closed model): `vus` virtual users share `iterations` iterations,
//! each user taking the next as soon as it is free, so a fast user runs more of them than
//! a slow one (see [`closed`](super::closed)). The phase is done when the last iteration
//! finishes, or cut at `max_duration`, its slot on the run clock.

use super::super::Shared;
use super::closed::{Iterations, Users};
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Runs `iterations` iterations spread over `vus` users, until they are done, the phase
/// (`max_duration`) ends or the run stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    sink: Arc<PhaseSink>,
    vus: usize,
    iterations: u64,
    think_time: crate::config::ThinkTime,
) {
    let users = Users {
        wanted: |_| vus,
        think_time,
        iterations: Iterations::Shared(Arc::new(AtomicU64::new(iterations))),
        ramp_down: None,
    };
    super::closed::run(shared, phase, sink, users).await;
}
