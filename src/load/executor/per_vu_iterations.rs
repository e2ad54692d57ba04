//! `per-vu-iterations` (closed model): `vus` virtual users, all started at the phase
//! start, each running exactly `iterations` iterations (see [`closed`](super::closed)).
//! The phase is done when the last user finishes, or cut at `max_duration`, its slot on
//! the run clock.

use super::super::Shared;
use super::closed::{Iterations, Users};
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::Arc;

/// Runs `vus` users of `iterations` iterations each, until they are done, the phase
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
        iterations: Iterations::PerUser(iterations),
        ramp_down: None,
    };
    super::closed::run(shared, phase, sink, users).await;
}
