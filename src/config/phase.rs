//! The validated phases: a window on the run clock, its load shape and its fault profiles.

use super::{FaultProfile, ThinkTime};
use std::time::Duration;

/// A named time window with a load shape and the faults active in it.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Name used in reports, thresholds and the timeline.
    pub name: String,
    /// Length of the phase: its slot on the run clock (`max_duration` for the iteration
    /// executors, which may finish earlier).
    pub duration: Duration,
    /// How load is made during the phase.
    pub load: LoadShape,
    /// How long iterations still running at the phase end may take to finish before they
    /// are cut (and counted as interrupted); they overlap the next phase meanwhile.
    pub graceful_stop: Duration,
    /// Fault profiles applied during the phase.
    pub faults: Vec<FaultProfile>,
}

/// How a phase makes load.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadShape {
    /// Open model: requests start on a fixed schedule whatever the latency.
    ConstantArrivalRate {
        /// Requests started per second.
        rate: f64,
        /// Workers started with the phase (and never retired), as in [`OpenPool`].
        pool: OpenPool,
    },
    /// Open model whose arrival rate follows linear stages (a load ramp the target cannot
    /// slow down, unlike a ramp of virtual users).
    RampingArrivalRate {
        /// Requests started per second at the start of the phase.
        start_rate: f64,
        /// Linear ramps of the arrival rate, one after another.
        stages: Vec<RateStage>,
        /// The workers that send the requests.
        pool: OpenPool,
    },
    /// Closed model: a fixed number of virtual users loop request → think.
    ConstantVus {
        /// Virtual users for the whole phase.
        vus: usize,
        /// Pause after each iteration (a user type's own think time wins).
        think_time: ThinkTime,
    },
    /// Closed model: virtual users loop request → think, their number ramping by stages.
    RampingVus {
        /// Virtual users at the start of the phase.
        start_vus: usize,
        /// Linear ramps, one after another.
        stages: Vec<Stage>,
        /// Pause after each iteration (a user type's own think time wins).
        think_time: ThinkTime,
        /// How long a user above a falling target may take to finish its iteration before
        /// it is cut (and counted as interrupted).
        graceful_ramp_down: Duration,
    },
    /// Closed model: each of `vus` virtual users runs exactly `iterations` iterations.
    PerVuIterations {
        /// Virtual users.
        vus: usize,
        /// Iterations each user runs.
        iterations: u64,
        /// Pause after each iteration but the last.
        think_time: ThinkTime,
    },
    /// Closed model: `vus` virtual users share `iterations` iterations, each taking the
    /// next as soon as it is free.
    SharedIterations {
        /// Virtual users.
        vus: usize,
        /// Iterations in all.
        iterations: u64,
        /// Pause after each iteration but the last.
        think_time: ThinkTime,
    },
}

/// The workers of an open-model phase: one connection each, one request at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenPool {
    /// Workers started with the phase and kept however quiet it gets.
    pub pre_allocated_vus: usize,
    /// Most workers at once; a request no worker can take on time is dropped.
    pub max_vus: usize,
}

impl LoadShape {
    /// The executor's name as a drill file spells it (reports show it per phase).
    pub fn executor(&self) -> &'static str {
        match self {
            LoadShape::ConstantArrivalRate { .. } => "constant-arrival-rate",
            LoadShape::RampingArrivalRate { .. } => "ramping-arrival-rate",
            LoadShape::ConstantVus { .. } => "constant-vus",
            LoadShape::RampingVus { .. } => "ramping-vus",
            LoadShape::PerVuIterations { .. } => "per-vu-iterations",
            LoadShape::SharedIterations { .. } => "shared-iterations",
        }
    }

    /// Most workers (one connection each) the phase can run at once: what the resource
    /// budget must provide for.
    pub fn peak_workers(&self) -> usize {
        match self {
            LoadShape::ConstantArrivalRate { pool, .. }
            | LoadShape::RampingArrivalRate { pool, .. } => pool.max_vus,
            LoadShape::ConstantVus { vus, .. } | LoadShape::PerVuIterations { vus, .. } => *vus,
            LoadShape::SharedIterations {
                vus, iterations, ..
            } => (*vus).min(usize::try_from(*iterations).unwrap_or(usize::MAX)),
            LoadShape::RampingVus {
                start_vus, stages, ..
            } => stages.iter().map(|s| s.target).fold(*start_vus, usize::max),
        }
    }

    /// The iterations the phase is to run, for the executors that count them.
    pub fn planned_iterations(&self) -> Option<u64> {
        match self {
            LoadShape::PerVuIterations {
                vus, iterations, ..
            } => Some((*vus as u64).saturating_mul(*iterations)),
            LoadShape::SharedIterations { iterations, .. } => Some(*iterations),
            _ => None,
        }
    }
}

/// One linear ramp of a ramping-vus phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// How long the ramp takes.
    pub duration: Duration,
    /// Virtual users at the end of the ramp.
    pub target: usize,
}

/// One linear ramp of a ramping-arrival-rate phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    /// How long the ramp takes.
    pub duration: Duration,
    /// Requests started per second at the end of the ramp.
    pub target: f64,
}
