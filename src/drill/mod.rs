//! One drill, end to end: start the parts, run the load, collect what was seen, judge it.
//!
//! This is the only module that knows every stage; each stage knows only the ones before
//! it. [`PreparedDrill::prepare`] starts the stub, proxy and demo service and checks the
//! target answers; [`PreparedDrill::execute`] runs the phases and returns the [`RunResult`].

mod abort;
mod assemble;
mod progress;
mod proxy;
mod stop;

pub use progress::{
    ActiveFault, FaultSpan, LiveChannels, PhaseSpan, Progress, ProgressSnapshot, Sampler, SecondRow,
};
pub use stop::{next_signal, Stop};

use crate::breaker_state::Channel;
use crate::clock::RunClock;
use crate::config::{Drill, PollSettings};
use crate::demo::{DemoError, DemoService};
use crate::fault::admin::AdminError;
use crate::fault::decisions::DecisionPage;
use crate::fault::remote::RemoteError;
use crate::fault::ProxyError;
use crate::load::{self, Live, LoadError, Observers, Target};
use crate::metrics::ClientActivity;
use crate::observe::poll::{Poller, Reader};
use crate::observe::{BreakerTracker, Classifier, Observations};
use crate::plan::{self, Plan, PlanError};
use crate::report::{PartsSummary, RunResult};
use crate::stub::{Stub, StubError};
use crate::verdict::{self, Evidence};
use proxy::ProxyPart;
use std::sync::Arc;
use std::time::Duration;
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
    /// The remote fault proxy (`[proxy] admin`) is unreachable or refused the schedule.
    #[error(transparent)]
    RemoteProxy(#[from] RemoteError),
    /// The remote proxy's token file is unusable.
    #[error(transparent)]
    ProxyToken(#[from] AdminError),
    /// The demo service did not start.
    #[error(transparent)]
    Demo(#[from] DemoError),
    /// The target is unusable or unreachable.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The drill would need more memory or descriptors than the run may use.
    #[error("{drill}: {why}")]
    OverBudget {
        /// The drill file.
        drill: String,
        /// What it needs, what is allowed, and what costs most.
        why: crate::budget::OverBudget,
    },
    /// A setup request failed, so the load never started.
    #[error(transparent)]
    Setup(#[from] load::SetupFailed),
    /// The health URL did not answer as required before the load started.
    #[error("preflight: {url} {why}; check that the service is up and healthy, and that the target (or --target) points at it")]
    Preflight {
        /// The health URL.
        url: String,
        /// What it did instead.
        why: String,
    },
}

impl DrillError {
    /// Whether the error makes the run invalid (exit 4) rather than a usage error (exit 2).
    pub fn is_invalid_run(&self) -> bool {
        matches!(
            self,
            DrillError::Load(LoadError::Unreachable { .. })
                | DrillError::Preflight { .. }
                | DrillError::Setup(_)
        )
    }
}

/// A drill whose parts are running and whose target answered, ready to execute.
#[derive(Debug)]
pub struct PreparedDrill {
    plan: Plan,
    target: Target,
    clock: RunClock,
    stub: Option<Stub>,
    proxy: Option<ProxyPart>,
    demo: Option<DemoService>,
    live: Arc<Live>,
    header: Arc<BreakerTracker>,
    channels: Arc<LiveChannels>,
    setup: load::SetupDone,
}

impl PreparedDrill {
    /// Plans `drill`, starts the parts it names and checks the target accepts connections.
    pub async fn prepare(
        drill: Drill,
        overrides: &plan::Overrides,
    ) -> Result<PreparedDrill, DrillError> {
        let plan = Plan::new(drill, overrides)?;
        check_budget(&plan, overrides)?;
        let clock = RunClock::new();
        let parts = plan.drill.parts.clone();

        let stub = match &parts.stub {
            Some(settings) => Some(Stub::start(settings).await?),
            None => None,
        };
        let proxy = match &parts.proxy {
            Some(settings) => {
                Some(ProxyPart::start(settings, &plan, &clock, stub.as_ref().map(Stub::url)).await?)
            }
            None => None,
        };
        let demo = match &parts.demo {
            Some(settings) => {
                let upstream = proxy
                    .as_ref()
                    .map(ProxyPart::url)
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
        let target = Target::resolve(&target_url, plan.drill.insecure).await?;
        load::preflight(&target, Duration::from_secs(3)).await?;
        if let Some(check) = &plan.drill.preflight {
            health_check(&target, check).await?;
        }
        let keep_body = load::classifier_body(&Classifier::new(&plan.drill.observe));
        let setup = load::setup(&plan.workload(), plan.seed, &target, keep_body).await?;
        Ok(PreparedDrill {
            plan,
            target,
            clock,
            stub,
            proxy,
            demo,
            live: Arc::new(Live::default()),
            header: Arc::new(BreakerTracker::new()),
            channels: Arc::new(LiveChannels::default()),
            setup,
        })
    }

    /// The plan being run.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The fault proxy's base URL, if it runs (point an external SUT's dependency here).
    pub fn proxy_url(&self) -> Option<String> {
        self.proxy.as_ref().map(ProxyPart::url)
    }

    /// The target's base URL.
    pub fn target_url(&self) -> &str {
        &self.target.url
    }

    /// A handle for a live progress display.
    pub fn progress(&self) -> Progress {
        Progress::new(
            &self.plan,
            self.live.clone(),
            self.channels.clone(),
            self.clock.clone(),
        )
    }

    /// Runs every phase (until `stop` is asked for or an abort threshold fails) and judges
    /// the run.
    pub async fn execute(self, stop: Stop) -> RunResult {
        self.run(stop, false).await.0
    }

    /// Runs as [`execute`](Self::execute) does, and also hands back the fault proxy's
    /// decision log (each rule's verdict on each request, with its reason; read before a
    /// remote proxy's faults are cleared). `None` when the drill has no proxy or no faults.
    pub async fn execute_with_decisions(self, stop: Stop) -> (RunResult, Option<DecisionPage>) {
        self.run(stop, true).await
    }

    async fn run(mut self, stop: Stop, keep_decisions: bool) -> (RunResult, Option<DecisionPage>) {
        let settings = &self.plan.drill.observe;
        let classifier = Classifier::new(settings);
        let markers = classifier
            .reads_rejections()
            .then(|| Arc::new(BreakerTracker::new()));
        let activity = Arc::new(ClientActivity::new(self.plan.total_duration()));
        let epoch = self.clock.start();
        let wall_epoch = self.clock.wall_epoch();
        if let Some(proxy) = &mut self.proxy {
            proxy.started(epoch).await;
        }

        let mut pollers = Vec::new();
        let polled = [
            settings
                .endpoint
                .as_ref()
                .map(|e| (Channel::Endpoint, &e.poll, Reader::json(e))),
            settings
                .prometheus
                .as_ref()
                .map(|p| (Channel::Prometheus, &p.poll, Reader::prometheus(p))),
        ];
        for (channel, poll, reader) in polled.into_iter().flatten() {
            let poll = PollSettings {
                url: relative_to(self.target.raw_url(), &poll.url),
                ..poll.clone()
            };
            match Poller::start(channel, &poll, reader, self.clock.clone()) {
                Ok(p) => {
                    self.channels.register(channel, p.tracker());
                    pollers.push(p)
                }
                Err(e) => tracing::error!(%channel, error = %e, "cannot start the poller"),
            }
        }
        let abort_thresholds: Vec<_> = self
            .plan
            .drill
            .expect
            .thresholds
            .iter()
            .filter(|t| t.abort.is_some())
            .cloned()
            .collect();
        let load_done = CancellationToken::new();
        let abort_watch = (!abort_thresholds.is_empty()).then(|| {
            tokio::spawn(abort::watch(
                abort_thresholds,
                self.plan.phases.clone(),
                self.live.clone(),
                epoch,
                stop.clone(),
                load_done.clone(),
            ))
        });

        if classifier.reads_state() {
            self.channels.register(Channel::Header, self.header.clone());
        }
        if let Some(m) = &markers {
            self.channels.register(Channel::Markers, m.clone());
        }
        let observers = Observers {
            classifier: classifier.clone(),
            header: self.header.clone(),
            markers: markers.clone(),
            activity: activity.clone(),
        };
        let metrics = load::run(
            &self.plan,
            self.target.clone(),
            &self.clock,
            observers,
            &self.setup,
            self.live.clone(),
            stop.token(),
        )
        .await;
        let ran = self.clock.elapsed().unwrap_or_default();
        load_done.cancel();
        let teardown = load::teardown(
            &self.plan.workload(),
            self.plan.seed,
            &self.target,
            load::classifier_body(&classifier),
            &self.setup,
        )
        .await;
        if let Some(task) = abort_watch {
            let _ = task.await;
        }
        let aborted = metrics.stopped_early;
        let abort_reason = aborted.then(|| stop.reason().unwrap_or_else(|| "interrupted".into()));
        let run_end = if aborted {
            ran
        } else {
            self.plan.total_duration()
        };

        let mut channels = Vec::new();
        for p in pollers {
            channels.push(p.finish().await);
        }
        let proxy::TapData {
            buckets: tap_buckets,
            upstream,
            first_injection: first_injections,
            decisions,
        } = match &self.proxy {
            Some(p) => {
                let keep = keep_decisions && !self.plan.faults.is_empty();
                p.finish(self.plan.faults.len(), keep).await
            }
            None => proxy::TapData::default(),
        };
        let client = activity.snapshot();
        let response_res = assemble::client_interval(&client) + crate::series::SLOT;
        if settings.tap.enabled && self.proxy.is_some() {
            channels.push(assemble::tap_channel(&upstream, &client, &settings.tap));
        }
        if classifier.reads_state() {
            channels.push(assemble::response_channel(
                Channel::Header,
                &self.header,
                response_res,
                &format!("the {} header of each response", settings.state_header),
            ));
        }
        if let Some(m) = &markers {
            channels.push(assemble::response_channel(
                Channel::Markers,
                m,
                response_res,
                "rejection markers on each response",
            ));
        }
        let observations =
            Observations::merge(&settings.trust, channels, run_end, &upstream, &client);

        let injected = assemble::injections(&tap_buckets, self.plan.faults.len());
        let first_injection = |id: usize| first_injections.get(id).copied().flatten();
        let faults = assemble::fault_windows(&self.plan, run_end, first_injection);
        let witnesses = assemble::witnesses(&self.plan, run_end, &injected);
        let timeline = assemble::timeline(
            &self.plan,
            &metrics,
            &observations,
            wall_epoch,
            run_end,
            abort_reason.as_deref(),
        );
        let evidence = Evidence {
            metrics: &metrics,
            observations: &observations,
            upstream: &upstream,
            client: &client,
            faults: &faults,
            witnesses: &witnesses,
            run_end,
        };
        let mut verdicts = verdict::judge(&self.plan.drill.expect, &evidence);
        verdicts.extend(verdict::teardown(&teardown));
        let outcome = verdict::outcome_of(&self.plan.drill.expect, &verdicts, aborted);

        let result = RunResult {
            breakerbox: env!("CARGO_PKG_VERSION").to_string(),
            drill: self.plan.drill.name.clone(),
            drill_file: self.plan.drill.source.clone(),
            description: self.plan.drill.description.clone(),
            seed: self.plan.seed,
            target: self.target.url.clone(),
            started_at: wall_epoch
                .map(|w| crate::clock::rfc3339_at(w, Duration::ZERO))
                .unwrap_or_default(),
            started_unix_ms: wall_epoch
                .map(|w| crate::clock::unix_ms_at(w, Duration::ZERO))
                .unwrap_or_default(),
            planned_duration_s: self.plan.total_duration().as_secs_f64(),
            duration_s: (ran.as_secs_f64() * 1e3).round() / 1e3,
            outcome,
            abort_reason,
            parts: PartsSummary {
                stub: self.stub.as_ref().map(Stub::url),
                proxy: self.proxy.as_ref().map(ProxyPart::url),
                demo: self.demo.as_ref().map(DemoService::url),
                demo_breaker: self
                    .demo
                    .as_ref()
                    .and(self.plan.drill.parts.demo.as_ref())
                    .map(|d| d.breaker),
            },
            phases: assemble::phase_summaries(&self.plan, &metrics),
            total: crate::report::GroupSummary::from_stats(
                "*",
                &metrics.scope(None, None).unwrap_or_default(),
            ),
            timeline,
            observations,
            faults: assemble::fault_summaries(&self.plan, &injected),
            tap: tap_buckets,
            series: metrics.seconds(),
            setup: self.setup.steps.clone(),
            teardown,
            verdicts,
        };
        (result, decisions)
    }
}

/// Refuses a plan whose estimated peak needs exceed this machine's limits (or
/// `--memory-budget`), before any part starts.
pub fn check_budget(plan: &Plan, overrides: &plan::Overrides) -> Result<(), DrillError> {
    let mut limits = crate::budget::Limits::of_this_machine();
    if let Some(memory) = overrides.memory_budget {
        limits.memory = memory;
    }
    crate::budget::check(&crate::budget::estimate(plan), limits).map_err(|why| {
        DrillError::OverBudget {
            drill: plan.drill.source.clone(),
            why,
        }
    })
}

/// `url` itself, or the target's base URL joined with `url` when it is a path.
fn relative_to(target: &str, url: &str) -> String {
    if url.starts_with('/') {
        format!("{target}{url}")
    } else {
        url.to_string()
    }
}

/// Asks the health URL until it answers as required or the check's time runs out.
async fn health_check(target: &Target, check: &crate::config::Preflight) -> Result<(), DrillError> {
    let url = relative_to(target.raw_url(), &check.health);
    // The control-plane client speaks http only; an https target's own path is asked with
    // the load engine's client.
    let own_client = target.is_https() && check.health.starts_with('/');
    let fail = |why: String| DrillError::Preflight {
        url: crate::config::guard::mask_credentials(&url),
        why,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2).min(check.timeout))
        .no_proxy()
        .retry(reqwest::retry::never())
        .build()
        .map_err(|e| fail(format!("cannot be asked ({e})")))?;
    let deadline = tokio::time::Instant::now() + check.timeout;
    let mut last: String;
    loop {
        if own_client {
            let asked =
                tokio::time::timeout(Duration::from_secs(2), load::probe(target, &check.health));
            match asked.await {
                Ok(Ok(status)) => {
                    let ok = match check.status {
                        Some(want) => status == want,
                        None => (200..300).contains(&status),
                    };
                    if ok {
                        return Ok(());
                    }
                    last = format!("answered {status}");
                }
                Ok(Err(kind)) => last = format!("failed ({kind})"),
                Err(_) => last = "timed out".into(),
            }
        } else {
            match client.get(&url).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let ok = match check.status {
                        Some(want) => status == want,
                        None => r.status().is_success(),
                    };
                    if ok {
                        return Ok(());
                    }
                    last = format!("answered {status}");
                }
                Err(e) if e.is_timeout() => last = "timed out".into(),
                Err(e) if e.is_connect() => last = "refused the connection".into(),
                Err(e) => last = format!("failed ({e})"),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let wanted = check
                .status
                .map_or("a 2xx".to_string(), |s| format!("status {s}"));
            return Err(fail(format!(
                "did not answer {wanted} within {:?} (last: {last})",
                check.timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
