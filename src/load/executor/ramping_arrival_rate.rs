//! `ramping-arrival-rate` (open model): the arrival rate ramps linearly from `start_rate`
//! through the stages, whatever the latency (see [`open`](super::open)). Unlike a ramp of
//! virtual users, a target that slows down cannot slow the ramp.

use super::super::timetable::Timetable;
use super::super::Shared;
use crate::config::{OpenPool, RateStage};
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::Arc;

/// Runs the phase's ramp of arrival rates until it ends or the run stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    sink: Arc<PhaseSink>,
    start_rate: f64,
    stages: &[RateStage],
    pool: OpenPool,
) {
    let timetable = Timetable::ramping(start_rate, stages);
    super::open::run(shared, phase, sink, timetable, pool).await;
}
