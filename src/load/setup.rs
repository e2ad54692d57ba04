//! Setup and teardown: requests run once, in order, before and after the load, on a
//! connection of their own. Setup's captures are seen by every virtual user; a setup
//! request that fails stops the run before any load. A teardown request that fails is
//! reported, and the rest of teardown still runs.

use super::client::{Connection, Outgoing, Target};
use super::journey::{self, Journeys, Skip};
use crate::config::template::Context;
use crate::config::{RequestSpec, Workload};
use crate::metrics::CHECK_KINDS;
use crate::rng::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The random stream of setup and teardown (virtual users use phase × worker streams).
const STREAM: u64 = u64::MAX - 1;

/// How one setup or teardown request went.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct StepReport {
    /// The request's name.
    pub name: String,
    /// The status it answered with, if it answered.
    pub status: Option<u16>,
    /// Milliseconds from the send to the last byte.
    pub ms: f64,
    /// Whether it answered below 400, passed its checks and captured every value.
    pub ok: bool,
    /// What went wrong, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What setup left for the run.
#[derive(Debug, Clone, Default)]
pub struct SetupDone {
    /// Captured values by slot, seen by every virtual user.
    pub captures: Vec<Option<String>>,
    /// Each setup request, in order.
    pub steps: Vec<StepReport>,
}

/// Why setup stopped the run.
#[derive(Debug, thiserror::Error)]
#[error("setup request \"{name}\" failed: {why}")]
pub struct SetupFailed {
    /// The request that failed.
    pub name: String,
    /// What it did.
    pub why: String,
    /// The setup requests run so far, the failed one last.
    pub steps: Vec<StepReport>,
}

/// Runs the drill's setup requests against `target`; the first one that fails stops it.
pub async fn setup(
    work: &Workload<'_>,
    seed: u64,
    target: &Target,
    keep_body: usize,
) -> Result<SetupDone, SetupFailed> {
    let mut done = SetupDone {
        captures: vec![None; work.journey.captures.len()],
        steps: Vec::new(),
    };
    let mut runner = Runner::new(work, seed);
    for spec in &work.journey.setup {
        let step = runner
            .send(spec, work, target, keep_body, &mut done.captures)
            .await;
        let failed = (!step.ok).then(|| step.problem.clone().unwrap_or_default());
        done.steps.push(step);
        if let Some(why) = failed {
            return Err(SetupFailed {
                name: spec.name.clone(),
                why,
                steps: done.steps,
            });
        }
    }
    Ok(done)
}

/// Runs the drill's teardown requests against `target`, all of them, whatever fails.
pub async fn teardown(
    work: &Workload<'_>,
    seed: u64,
    target: &Target,
    keep_body: usize,
    setup: &SetupDone,
) -> Vec<StepReport> {
    let mut captures = setup.captures.clone();
    captures.resize(work.journey.captures.len(), None);
    let mut runner = Runner::new(work, seed.wrapping_add(1));
    let mut steps = Vec::new();
    for spec in &work.journey.teardown {
        let step = runner
            .send(spec, work, target, keep_body, &mut captures)
            .await;
        if let Some(problem) = &step.problem {
            tracing::error!(request = %spec.name, %problem, "teardown request failed");
        }
        steps.push(step);
    }
    steps
}

struct Runner {
    connection: Connection,
    rng: Rng,
    outgoing: Outgoing,
    scratch: String,
    /// The first row of every data set: setup and teardown are no virtual user.
    rows: Vec<Option<usize>>,
    timeout: Duration,
}

impl Runner {
    fn new(work: &Workload<'_>, seed: u64) -> Self {
        Runner {
            connection: Connection::default(),
            rng: Rng::new(seed, STREAM),
            outgoing: Outgoing::default(),
            scratch: String::new(),
            rows: vec![Some(0); work.journey.data.len()],
            timeout: work.request_timeout,
        }
    }

    async fn send(
        &mut self,
        spec: &RequestSpec,
        work: &Workload<'_>,
        target: &Target,
        keep_body: usize,
        captures: &mut [Option<String>],
    ) -> StepReport {
        let report = |status, ms, problem: Option<String>| StepReport {
            name: spec.name.clone(),
            status,
            ms,
            ok: problem.is_none(),
            problem,
        };
        let mut cx = Context {
            rng: &mut self.rng,
            vu: 0,
            iteration: 0,
            data: &work.journey.data,
            rows: &self.rows,
            captures,
        };
        if let Err(skip) = journey::build(spec, &mut cx, &mut self.outgoing, &mut self.scratch) {
            let why = match skip {
                Skip::Missing(_) => "a placeholder has no value".to_string(),
                Skip::BadHeader(_) => "a header value is not valid in HTTP".to_string(),
            };
            return report(None, 0.0, Some(why));
        }
        // Setup runs once: keep every header, for its captures and checks.
        let keep = super::client::Keep {
            headers: true,
            body: if spec.needs_body() {
                super::capture::MAX_KEPT_BODY.max(keep_body)
            } else {
                keep_body
            },
        };
        let sent = Instant::now();
        let result = tokio::time::timeout(
            spec.timeout.unwrap_or(self.timeout),
            journey::exchange(
                &mut self.connection,
                target,
                &mut self.outgoing,
                keep,
                spec.follow_redirects,
            ),
        )
        .await;
        let service = sent.elapsed();
        let ms = (service.as_secs_f64() * 1e6).round() / 1e3;
        let head = match result {
            Ok(Ok(head)) => head,
            Ok(Err(kind)) => return report(None, ms, Some(format!("no response ({kind})"))),
            Err(_) => {
                self.connection.discard();
                return report(None, ms, Some("timed out".into()));
            }
        };
        let status = head.status.as_u16();
        let mut missed = Vec::new();
        let read = journey::read(spec, Some((&head, service)), captures, |name| {
            missed.push(name.to_string())
        });
        let mut problems = Vec::new();
        if status >= 400 {
            problems.push(format!("answered {status}"));
        }
        if read.checks.failed > 0 {
            let kinds: Vec<&str> = CHECK_KINDS
                .iter()
                .enumerate()
                .filter(|(bit, _)| read.checks.failed_kinds & (1 << bit) != 0)
                .map(|(_, k)| *k)
                .collect();
            problems.push(format!("failed its {} check", kinds.join(", ")));
        }
        if !missed.is_empty() {
            problems.push(format!("captured nothing for {}", missed.join(", ")));
        }
        let problem = (!problems.is_empty()).then(|| problems.join("; "));
        report(Some(status), ms, problem)
    }
}

/// The setup values a run's workers start from (none when setup captured nothing).
pub(super) fn journeys(
    work: &Workload<'_>,
    seed: u64,
    setup: &SetupDone,
    classifier_body: usize,
) -> Journeys {
    Journeys::new(work, seed, setup.captures.clone(), classifier_body)
}
