//! A drill made concrete: each phase placed on the run's clock, each fault window turned
//! into an absolute interval, the target and seed settled. Still nothing touches the network.

use crate::config::{self, DemoBreaker, Drill, Fault, LoadShape};
use std::net::SocketAddr;
use std::time::Duration;

/// Why a drill cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Neither the drill, `--target`, `BREAKERBOX_TARGET` nor a demo part names a target.
    #[error("{drill}: no target: set `target` in the drill, pass --target (or BREAKERBOX_TARGET), or start the demo service ([parts] demo = true)")]
    NoTarget {
        /// The drill file.
        drill: String,
    },
    /// A `--target` override is not a usable base URL.
    #[error("--target: {0}")]
    BadTarget(String),
    /// The target is outside what the guard rails allow (see `config::guard`).
    #[error("{drill}: {why}")]
    Guarded {
        /// The drill file.
        drill: String,
        /// What is refused and what would allow it.
        why: String,
    },
    /// More fault windows than a run can track and report.
    #[error("{drill}: {windows} fault windows scheduled (profiles × phases); at most {MAX_FAULT_WINDOWS} can be tracked per run")]
    TooManyFaultWindows {
        /// The drill file.
        drill: String,
        /// Windows the drill schedules.
        windows: usize,
    },
    /// A fault window opens after its phase has ended, so the fault could never fire.
    #[error("{drill}: fault profile \"{profile}\" in phase \"{phase}\": a {kind} fault starts at {start:?}, after the phase ends ({phase_len:?})")]
    WindowOutsidePhase {
        /// The drill file.
        drill: String,
        /// The phase using the profile.
        phase: String,
        /// The profile.
        profile: String,
        /// The fault kind.
        kind: &'static str,
        /// Window start relative to the phase.
        start: Duration,
        /// Phase length.
        phase_len: Duration,
    },
}

/// Most fault windows one run schedules: the tap counts each per 100 ms bucket, so 20,000
/// windows would make a result of hundreds of megabytes in a minute.
pub const MAX_FAULT_WINDOWS: usize = 1_000;

/// Command-line settings that win over the drill file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Base URL of the service under test.
    pub target: Option<String>,
    /// Seed for every random choice.
    pub seed: Option<u64>,
    /// Where the fault proxy listens.
    pub proxy_listen: Option<SocketAddr>,
    /// Where the stub listens.
    pub stub_listen: Option<SocketAddr>,
    /// Replaces the demo service's breaker kind (or turns it off).
    pub demo_breaker: Option<DemoBreaker>,
    /// What the command line allows beyond the drill's `allow_targets`.
    pub permission: config::guard::Permission,
    /// `--memory-budget`: bytes the run may use, instead of the machine's default.
    pub memory_budget: Option<u64>,
    /// `--insecure`: accept any certificate an `https://` target presents.
    pub insecure: bool,
}

/// Where the load goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A running service at this base URL.
    Url(String),
    /// The built-in demo service, address known once it listens.
    Demo,
}

/// A phase placed on the run clock.
#[derive(Debug, Clone)]
pub struct PlannedPhase {
    /// Index in the drill.
    pub index: usize,
    /// Phase name.
    pub name: String,
    /// Offset of the phase start from the run epoch.
    pub start: Duration,
    /// Phase length: its slot on the clock (an iteration executor may finish sooner).
    pub duration: Duration,
    /// How load is made.
    pub load: LoadShape,
    /// How long iterations running at the phase end may finish before they are cut.
    pub graceful_stop: Duration,
    /// Names of the fault profiles active in the phase.
    pub profiles: Vec<String>,
}

impl PlannedPhase {
    /// Offset of the phase end from the run epoch.
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }

    /// Offset from the run epoch at which iterations still running are cut: the end plus
    /// the graceful stop.
    pub fn cut(&self) -> Duration {
        self.end() + self.graceful_stop
    }
}

/// One fault with its absolute window on the run clock.
#[derive(Debug, Clone)]
pub struct ScheduledFault {
    /// Position in the schedule; the tap counts injections under this id.
    pub id: usize,
    /// Index of the phase that applies it.
    pub phase: usize,
    /// The profile it comes from.
    pub profile: String,
    /// Position of the fault within its profile.
    pub slot: usize,
    /// What it does.
    pub fault: Fault,
    /// Window start, from the run epoch.
    pub from: Duration,
    /// Window end (exclusive), from the run epoch.
    pub until: Duration,
}

/// Everything a run needs, concrete and seeded.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The validated drill.
    pub drill: Drill,
    /// Where the load goes.
    pub target: Target,
    /// The seed in force (drill or `--seed`).
    pub seed: u64,
    /// Phases, back to back.
    pub phases: Vec<PlannedPhase>,
    /// Every fault window of the run.
    pub faults: Vec<ScheduledFault>,
}

impl Plan {
    /// What the load engine sends: it reads this, not the drill.
    pub fn workload(&self) -> config::Workload<'_> {
        self.drill.workload()
    }

    /// Places `drill` on the clock, applying `overrides`.
    pub fn new(mut drill: Drill, overrides: &Overrides) -> Result<Plan, PlanError> {
        let target = match (&overrides.target, &drill.target, &drill.parts.demo) {
            (Some(url), _, _) => {
                Target::Url(config::check_target_url(url).map_err(PlanError::BadTarget)?)
            }
            (None, Some(url), _) => Target::Url(url.clone()),
            (None, None, Some(_)) => Target::Demo,
            (None, None, None) => {
                return Err(PlanError::NoTarget {
                    drill: drill.source.clone(),
                })
            }
        };
        if let Target::Url(url) = &target {
            config::guard::check_target(url, &drill.allow_targets, overrides.permission).map_err(
                |why| PlanError::Guarded {
                    drill: drill.source.clone(),
                    why,
                },
            )?;
        }
        if let (Some(listen), Some(proxy)) = (overrides.proxy_listen, drill.parts.proxy.as_mut()) {
            proxy.listen = listen;
        }
        if let (Some(listen), Some(stub)) = (overrides.stub_listen, drill.parts.stub.as_mut()) {
            stub.listen = listen;
        }
        drill.insecure |= overrides.insecure;
        if let (Some(kind), Some(demo)) = (overrides.demo_breaker, drill.parts.demo.as_mut()) {
            demo.breaker = kind;
        }

        let mut phases = Vec::with_capacity(drill.phases.len());
        let mut faults = Vec::new();
        let mut start = Duration::ZERO;
        for (index, phase) in drill.phases.iter().enumerate() {
            for profile in &phase.faults {
                for (slot, fault) in profile.faults.iter().enumerate() {
                    if fault.start >= phase.duration {
                        return Err(PlanError::WindowOutsidePhase {
                            drill: drill.source.clone(),
                            phase: phase.name.clone(),
                            profile: profile.name.clone(),
                            kind: fault.kind_name(),
                            start: fault.start,
                            phase_len: phase.duration,
                        });
                    }
                    let from = start + fault.start;
                    let until = match fault.duration {
                        Some(d) => (from + d).min(start + phase.duration),
                        None => start + phase.duration,
                    };
                    faults.push(ScheduledFault {
                        id: faults.len(),
                        phase: index,
                        profile: profile.name.clone(),
                        slot,
                        fault: fault.clone(),
                        from,
                        until,
                    });
                }
            }
            phases.push(PlannedPhase {
                index,
                name: phase.name.clone(),
                start,
                duration: phase.duration,
                load: phase.load.clone(),
                graceful_stop: phase.graceful_stop,
                profiles: phase.faults.iter().map(|p| p.name.clone()).collect(),
            });
            start += phase.duration;
        }
        if faults.len() > MAX_FAULT_WINDOWS {
            return Err(PlanError::TooManyFaultWindows {
                drill: drill.source.clone(),
                windows: faults.len(),
            });
        }
        Ok(Plan {
            seed: overrides.seed.unwrap_or(drill.seed),
            drill,
            target,
            phases,
            faults,
        })
    }

    /// Length of the whole run.
    pub fn total_duration(&self) -> Duration {
        self.phases
            .last()
            .map(PlannedPhase::end)
            .unwrap_or_default()
    }
}
