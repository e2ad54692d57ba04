//! `constant-arrival-rate` (open model): `rate` requests start every second for the whole
//! phase, whatever the latency (see [`open`](super::open)).

use super::super::timetable::Timetable;
use super::super::Shared;
use crate::config::OpenPool;
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::Arc;

/// Runs the phase at `rate` requests per second until it ends or the run stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    sink: Arc<PhaseSink>,
    rate: f64,
    pool: OpenPool,
) {
    let timetable = Timetable::constant(rate, phase.duration);
    super::open::run(shared, phase, sink, timetable, pool).await;
}
