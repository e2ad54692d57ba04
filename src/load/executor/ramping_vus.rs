//! `ramping-vus` (closed model): virtual users loop request → think time (see
//! [`closed`](super::closed)), their number following linear stages. Users above a
//! falling target finish their iteration within `graceful_ramp_down`, then idle.

use super::super::Shared;
use super::closed::{Iterations, Users};
use crate::config::Stage;
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::Arc;
use std::time::Duration;

/// A ramping-vus schedule.
pub(super) struct Ramp {
    /// Users at the phase start.
    pub(super) start_vus: usize,
    /// Linear ramps from the previous target.
    pub(super) stages: Vec<Stage>,
    /// How long a user above a falling target may take to finish its iteration.
    pub(super) graceful_ramp_down: Duration,
}

impl Ramp {
    /// Whether the count of users ever falls (only then are users watched for it).
    fn falls(&self) -> bool {
        let mut level = self.start_vus;
        self.stages.iter().any(|s| {
            let falls = s.target < level;
            level = s.target;
            falls
        })
    }
}

/// Runs the phase's virtual users, ramping by `ramp`, until it ends or the run stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    sink: Arc<PhaseSink>,
    ramp: Ramp,
    think_time: crate::config::ThinkTime,
) {
    let ramp_down = ramp.falls().then_some(ramp.graceful_ramp_down);
    let users = Users {
        wanted: |elapsed| vus_at(ramp.start_vus, &ramp.stages, elapsed),
        think_time,
        iterations: Iterations::Unlimited,
        ramp_down,
    };
    super::closed::run(shared, phase, sink, users).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64, target: usize) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target,
        }
    }

    #[test]
    fn vus_ramp_linearly_between_stages() {
        let stages = [s(10, 10), s(10, 10), s(5, 0)];
        let at = |ms| vus_at(0, &stages, Duration::from_millis(ms));
        assert_eq!(at(0), 0);
        assert_eq!(at(5_000), 5);
        assert_eq!(at(15_000), 10);
        assert_eq!(at(22_500), 5);
        assert_eq!(at(60_000), 0);
        assert_eq!(vus_at(4, &[s(4, 0)], Duration::from_secs(1)), 3);
    }

    #[test]
    fn only_a_falling_ramp_watches_for_ramp_downs() {
        let ramp = |start_vus, stages: Vec<Stage>| Ramp {
            start_vus,
            stages,
            graceful_ramp_down: Duration::from_secs(1),
        };
        assert!(!ramp(0, vec![s(1, 10), s(1, 10), s(1, 20)]).falls());
        assert!(ramp(0, vec![s(1, 10), s(1, 5)]).falls());
        assert!(ramp(10, vec![s(1, 0)]).falls());
    }
}
