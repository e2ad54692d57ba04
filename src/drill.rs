//! One drill, end to end: start the parts, run the load, collect what was seen, judge it.
//!
//! This is the only module that knows every stage; each stage knows only the ones before
//! it. [`Drill::prepare`] starts the stub, proxy and demo service and checks the target
//! answers; [`PreparedDrill::execute`] runs the phases and returns the [`RunResult`].
//!
//! [`Drill::prepare`]: PreparedDrill::prepare

use crate::breaker_state::BreakerState;
use crate::clock::RunClock;
use crate::config::{Drill, LoadShape};
use crate::demo::{DemoError, DemoService};
use crate::fault::{FaultLayer, FaultProxy, ProxyError, Tap};
use crate::load::{self, Live, LoadError, Observers, Target};
use crate::metrics::{EventKind, RunMetrics, Timeline};
use crate::observe::{BreakerTracker, Classifier};
use crate::plan::{self, Plan, PlanError};
use crate::report::{FaultSummary, GroupSummary, PartsSummary, PhaseSummary, RunResult};
use crate::stub::{Stub, StubError};
use crate::verdict::{self, FaultWitness};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// Why a drill could not run.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The drill cannot be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The stub upstream did not start.
    #[error(transparent)]
    Stub(#[from] StubError),
    /// The fault proxy did not start.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The demo service did not start.
    #[error(transparent)]
    Demo(#[from] DemoError),
    /// The target is unusable or unreachable.
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl DrillError {
    /// Whether the error makes the run invalid (exit 4) rather than a usage error (exit 2).
    pub fn is_invalid_run(&self) -> bool {
        matches!(self, DrillError::Load(LoadError::Unreachable { .. }))
    }
}

/// A drill whose parts are running and whose target answered, ready to execute.
#[derive(Debug)]
pub struct PreparedDrill {
    plan: Plan,
    target: Target,
    clock: RunClock,
    stub: Option<Stub>,
    proxy: Option<FaultProxy>,
    demo: Option<DemoService>,
    live: Arc<Live>,
    tracker: Arc<BreakerTracker>,
}

/// A view of a running drill for a progress display.
#[derive(Debug, Clone)]
pub struct Progress {
    live: Arc<Live>,
    tracker: Arc<BreakerTracker>,
    clock: RunClock,
    phases: Vec<String>,
    total: Duration,
}

/// One reading of [`Progress`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressSnapshot {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Planned length of the run.
    pub total: Duration,
    /// Current phase name.
    pub phase: String,
    /// Requests finished so far.
    pub requests: u64,
    /// Errors so far.
    pub errors: u64,
    /// Last breaker state observed.
    pub breaker: Option<BreakerState>,
}

impl Progress {
    /// Reads the counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let phase = self.live.phase.load(Ordering::Relaxed);
        ProgressSnapshot {
            elapsed: self.clock.elapsed().unwrap_or_default(),
            total: self.total,
            phase: self.phases.get(phase).cloned().unwrap_or_default(),
            requests: self.live.requests.load(Ordering::Relaxed),
            errors: self.live.errors.load(Ordering::Relaxed),
            breaker: self.tracker.current(),
        }
    }
}

impl PreparedDrill {
    /// Plans `drill`, starts the parts it names and checks the target accepts connections.
    pub async fn prepare(
        drill: Drill,
        overrides: &plan::Overrides,
    ) -> Result<PreparedDrill, DrillError> {
        let plan = Plan::new(drill, overrides)?;
        let clock = RunClock::new();
        let parts = plan.drill.parts.clone();

        let stub = match &parts.stub {
            Some(settings) => Some(Stub::start(settings).await?),
            None => None,
        };
        let proxy = match &parts.proxy {
            Some(settings) => {
                let upstream = settings
                    .upstream
                    .clone()
                    .or_else(|| stub.as_ref().map(Stub::url))
                    .unwrap_or_default();
                let tap = Arc::new(Tap::new(plan.faults.len()));
                let layer =
                    FaultLayer::new(plan.faults.clone(), clock.clone(), plan.seed, tap.clone());
                Some(
                    FaultProxy::start(settings.listen, &upstream, layer, clock.clone(), tap)
                        .await?,
                )
            }
            None => None,
        };
        let demo = match &parts.demo {
            Some(settings) => {
                let upstream = proxy
                    .as_ref()
                    .map(FaultProxy::url)
                    .or_else(|| stub.as_ref().map(Stub::url))
                    .unwrap_or_default();
                Some(DemoService::start(settings, &upstream).await?)
            }
            None => None,
        };
        let target_url = match (&plan.target, &demo) {
            (plan::Target::Url(url), _) => url.clone(),
            (plan::Target::Demo, Some(demo)) => demo.url(),
            (plan::Target::Demo, None) => {
                return Err(PlanError::NoTarget {
                    drill: plan.drill.source.clone(),
                }
                .into())
            }
        };
        let target = Target::resolve(&target_url).await?;
        load::preflight(&target, Duration::from_secs(3)).await?;
        Ok(PreparedDrill {
            plan,
            target,
            clock,
            stub,
            proxy,
            demo,
            live: Arc::new(Live::default()),
            tracker: Arc::new(BreakerTracker::new()),
        })
    }

    /// The plan being run.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The fault proxy's base URL, if it runs (point an external SUT's dependency here).
    pub fn proxy_url(&self) -> Option<String> {
        self.proxy.as_ref().map(FaultProxy::url)
    }

    /// The target's base URL.
    pub fn target_url(&self) -> &str {
        &self.target.url
    }

    /// A handle for a live progress display.
    pub fn progress(&self) -> Progress {
        Progress {
            live: self.live.clone(),
            tracker: self.tracker.clone(),
            clock: self.clock.clone(),
            phases: self.plan.phases.iter().map(|p| p.name.clone()).collect(),
            total: self.plan.total_duration(),
        }
    }

    /// Runs every phase (until `stop` is cancelled) and judges the run.
    pub async fn execute(self, stop: CancellationToken) -> RunResult {
        let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let observers = Observers {
            classifier: Classifier::new(&self.plan.drill.observe),
            tracker: self.tracker.clone(),
        };
        let metrics = load::run(
            &self.plan,
            self.target.clone(),
            &self.clock,
            observers,
            self.live.clone(),
            stop.clone(),
        )
        .await;
        let ran = self.clock.elapsed().unwrap_or_default();
        let aborted = metrics.stopped_early;
        let run_end = if aborted {
            ran
        } else {
            self.plan.total_duration()
        };

        let tap = self
            .proxy
            .as_ref()
            .map(|p| p.tap().snapshot())
            .unwrap_or_default();
        let mut injections = vec![0u64; self.plan.faults.len()];
        for bucket in &tap {
            for (total, n) in injections.iter_mut().zip(&bucket.injected) {
                *total += n;
            }
        }
        let injected = |id: usize| injections.get(id).copied().unwrap_or(0);
        let timeline = self.timeline(&metrics, run_end, aborted);
        let mut witnesses: Vec<FaultWitness> = Vec::new();
        for f in self.plan.faults.iter().filter(|f| f.from < run_end) {
            let phase = self.plan.phases[f.phase].name.clone();
            match witnesses
                .iter_mut()
                .find(|w| w.profile == f.profile && w.slot == f.slot)
            {
                Some(w) => {
                    w.phases.push(phase);
                    w.injected += injected(f.id);
                }
                None => witnesses.push(FaultWitness {
                    profile: f.profile.clone(),
                    slot: f.slot,
                    kind: f.fault.action.kind().to_string(),
                    phases: vec![phase],
                    injected: injected(f.id),
                }),
            }
        }
        let verdicts = verdict::judge(&self.plan.drill.expect, &metrics, &timeline, &witnesses);
        let outcome = verdict::outcome(&verdicts, aborted);

        RunResult {
            breakerbox: env!("CARGO_PKG_VERSION").to_string(),
            drill: self.plan.drill.name.clone(),
            drill_file: self.plan.drill.source.clone(),
            seed: self.plan.seed,
            target: self.target.url.clone(),
            started_at,
            planned_duration_s: self.plan.total_duration().as_secs_f64(),
            duration_s: (ran.as_secs_f64() * 1e3).round() / 1e3,
            outcome,
            abort_reason: aborted.then(|| "interrupted (Ctrl-C)".to_string()),
            parts: PartsSummary {
                stub: self.stub.as_ref().map(Stub::url),
                proxy: self.proxy.as_ref().map(FaultProxy::url),
                demo: self.demo.as_ref().map(DemoService::url),
                demo_breaker: self
                    .demo
                    .as_ref()
                    .and(self.plan.drill.parts.demo.as_ref())
                    .map(|d| d.breaker),
            },
            phases: self.phase_summaries(&metrics),
            total: GroupSummary::from_stats("*", &metrics.scope(None, None).unwrap_or_default()),
            timeline,
            faults: self
                .plan
                .faults
                .iter()
                .map(|f| FaultSummary {
                    id: f.id,
                    phase: self.plan.phases[f.phase].name.clone(),
                    profile: f.profile.clone(),
                    kind: f.fault.action.kind().to_string(),
                    probability: f.fault.probability,
                    from_s: f.from.as_secs_f64(),
                    until_s: f.until.as_secs_f64(),
                    injected: injected(f.id),
                })
                .collect(),
            tap,
            series: metrics.seconds(),
            verdicts,
        }
    }

    fn timeline(&self, metrics: &RunMetrics, run_end: Duration, aborted: bool) -> Timeline {
        let mut timeline = Timeline::new();
        for p in &metrics.phases {
            timeline.push(
                p.start,
                EventKind::PhaseStart {
                    phase: p.name.clone(),
                },
            );
            timeline.push(
                p.start + p.duration,
                EventKind::PhaseEnd {
                    phase: p.name.clone(),
                },
            );
        }
        for f in self.plan.faults.iter().filter(|f| f.from < run_end) {
            let kind = f.fault.action.kind().to_string();
            timeline.push(
                f.from,
                EventKind::FaultOn {
                    fault: f.id,
                    profile: f.profile.clone(),
                    kind: kind.clone(),
                },
            );
            timeline.push(
                f.until.min(run_end),
                EventKind::FaultOff {
                    fault: f.id,
                    profile: f.profile.clone(),
                    kind,
                },
            );
        }
        for t in self.tracker.transitions() {
            timeline.push(
                t.at,
                EventKind::Breaker {
                    from: t.from,
                    to: t.to,
                    channel: t.channel,
                },
            );
        }
        if aborted {
            timeline.push(
                run_end,
                EventKind::Aborted {
                    reason: "interrupted (Ctrl-C)".into(),
                },
            );
        }
        timeline
    }

    fn phase_summaries(&self, metrics: &RunMetrics) -> Vec<PhaseSummary> {
        metrics
            .phases
            .iter()
            .zip(&self.plan.phases)
            .map(|(record, planned)| {
                let all = record.recorder.total();
                let secs = record.duration.as_secs_f64();
                PhaseSummary {
                    name: record.name.clone(),
                    executor: match planned.load {
                        LoadShape::ConstantArrivalRate { .. } => "constant-arrival-rate".into(),
                        LoadShape::RampingVus { .. } => "ramping-vus".into(),
                    },
                    start_s: record.start.as_secs_f64(),
                    duration_s: secs,
                    fault_profiles: planned.profiles.clone(),
                    rps: if secs > 0.0 {
                        ((all.requests as f64 / secs) * 10.0).round() / 10.0
                    } else {
                        0.0
                    },
                    dropped: record.recorder.dropped,
                    all: GroupSummary::from_stats("*", &all),
                    groups: metrics
                        .groups
                        .iter()
                        .zip(&record.recorder.groups)
                        .map(|(name, g)| GroupSummary::from_stats(name, g))
                        .collect(),
                }
            })
            .collect()
    }
}
