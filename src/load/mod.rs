//! The load engine: runs a plan's phases back to back against the target.
//!
//! Each phase runs under its executor (`executor/`, one file per load shape). Each worker
//! (`worker.rs`) owns one connection and records into its phase's shared
//! [`PhaseSink`](crate::metrics::PhaseSink); responses are classified by the
//! [`observe`](crate::observe) stage as they arrive.

mod capture;
mod client;
mod data;
mod executor;
pub(crate) mod h1;
mod journey;
mod redirect;
mod setup;
mod timetable;
mod tls;
mod worker;

pub use capture::MAX_KEPT_BODY;
pub use client::Target;
pub use setup::{setup, teardown, SetupDone, SetupFailed, StepReport};

use crate::clock::RunClock;
use crate::config::RequestSpec;
use crate::metrics::{
    recent, ClientActivity, Outcome, PhaseRecord, RecentSeconds, Recorder, RunMetrics, Sample,
};
use crate::observe::{BreakerTracker, Classifier};
use crate::plan::Plan;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Why the load could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The target URL cannot be used.
    #[error("target {target}: {why}")]
    BadTarget {
        /// The target as given.
        target: String,
        /// What is wrong.
        why: String,
    },
    /// Nothing answers at the target.
    #[error("target {target} is unreachable: {cause}")]
    Unreachable {
        /// The target as given.
        target: String,
        /// The cause (refused, timed out, no such host).
        cause: String,
    },
}

/// Counters a progress display can read while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    /// Requests finished so far.
    pub requests: AtomicU64,
    /// Errors so far.
    pub errors: AtomicU64,
    /// Fallback responses so far.
    pub fallbacks: AtomicU64,
    /// Cache hits so far.
    pub cache_hits: AtomicU64,
    /// Index of the current phase.
    pub phase: AtomicUsize,
    /// Requests that have started and not finished.
    pub in_flight: AtomicU64,
    /// The last few seconds, for live quantiles and error kinds.
    pub recent: RecentSeconds,
}

impl Live {
    /// Counts a request as in flight until the returned guard is dropped.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Counts one finished request (a few relaxed atomic adds).
    pub fn record(&self, sample: &Sample) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let error = match sample.outcome {
            Outcome::Status(s) if s >= 500 => Some(0),
            Outcome::Status(_) => None,
            Outcome::Failed(kind) => Some(recent::error_kind_index(kind)),
        };
        if error.is_some() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if sample.markers.fallback {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        if sample.markers.cache_hit {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        self.recent.record(recent::Finished {
            at: sample.at,
            latency: matches!(sample.outcome, Outcome::Status(_)).then_some(sample.latency),
            error,
            fallback: sample.markers.fallback,
            cache_hit: sample.markers.cache_hit,
        });
    }
}

/// A request in flight; dropping it counts the request as finished.
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Checks the target accepts connections (and, for `https://`, its certificate), so a wrong
/// address fails in seconds, not after a whole drill of errors.
pub async fn preflight(target: &Target, within: Duration) -> Result<(), LoadError> {
    match tokio::time::timeout(within, target.handshake()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(cause)) => Err(LoadError::Unreachable {
            target: target.url.clone(),
            cause,
        }),
        Err(_) => Err(LoadError::Unreachable {
            target: target.url.clone(),
            cause: format!("no connection within {within:?}"),
        }),
    }
}

/// Asks `path` (relative to the target's base) once with the load engine's own client: the
/// health check of an `https://` target, which the control-plane client does not speak.
/// Returns the status, or the failure kind.
pub async fn probe(target: &Target, path: &str) -> Result<u16, &'static str> {
    let outgoing = client::Outgoing {
        path: path.to_string(),
        ..Default::default()
    };
    client::Connection::default()
        .exchange(target, &outgoing, client::Keep::default())
        .await
        .map(|head| head.status.as_u16())
}

/// What every worker of a run shares.
struct Shared {
    target: Target,
    requests: Vec<RequestSpec>,
    /// User types, data rows, setup's captures.
    journeys: journey::Journeys,
    timeout: Duration,
    seed: u64,
    epoch: Instant,
    classifier: Classifier,
    keep: client::Keep,
    header: Arc<BreakerTracker>,
    markers: Option<Arc<BreakerTracker>>,
    activity: Arc<ClientActivity>,
    live: Arc<Live>,
    stop: CancellationToken,
}

impl Shared {
    /// Metric cells: one per (user type, request).
    fn cells(&self) -> usize {
        self.journeys.users.len().max(1) * self.requests.len()
    }
}

/// Body bytes the classifier needs from every response.
pub fn classifier_body(classifier: &Classifier) -> usize {
    if classifier.needs_body() {
        crate::observe::header::MAX_MATCHED_BODY
    } else {
        0
    }
}

/// The observers a run's responses feed.
#[derive(Debug)]
pub struct Observers {
    /// Reads markers off each response.
    pub classifier: Classifier,
    /// Collects the state header's transitions.
    pub header: Arc<BreakerTracker>,
    /// Collects the rejection markers' transitions, when rejection markers are set.
    pub markers: Option<Arc<BreakerTracker>>,
    /// Counts client requests per 10 ms, for the tap channel and the while-open checks.
    pub activity: Arc<ClientActivity>,
}

/// Runs every phase of `plan` against `target`, virtual users starting from what `setup`
/// captured; stops early when `stop` is cancelled.
///
/// The returned metrics hold every phase that started, whole or cut short.
pub async fn run(
    plan: &Plan,
    target: Target,
    clock: &RunClock,
    observers: Observers,
    setup: &SetupDone,
    live: Arc<Live>,
    stop: CancellationToken,
) -> RunMetrics {
    let work = plan.workload();
    let requests = work.requests.to_vec();
    let keep_body = classifier_body(&observers.classifier);
    let journeys = setup::journeys(&work, plan.seed, setup, keep_body);
    let epoch = clock.start();
    let shared = Arc::new(Shared {
        target,
        requests,
        journeys,
        timeout: work.request_timeout,
        seed: plan.seed,
        epoch,
        keep: client::Keep {
            headers: observers.classifier.reads_headers(),
            body: if observers.classifier.needs_body() {
                crate::observe::header::MAX_MATCHED_BODY
            } else {
                0
            },
        },
        classifier: observers.classifier,
        header: observers.header,
        markers: observers.markers,
        activity: observers.activity,
        live: live.clone(),
        stop: stop.clone(),
    });

    let mut running = Vec::new();
    for phase in &plan.phases {
        let start = epoch + phase.start;
        tokio::select! {
            _ = tokio::time::sleep_until(start.into()) => {}
            _ = stop.cancelled() => break,
        }
        live.phase.store(phase.index, Ordering::Relaxed);
        tracing::info!(phase = %phase.name, "phase start");
        let task = tokio::spawn(executor::run_phase(shared.clone(), phase.clone()));
        running.push((phase.clone(), task));
        tokio::select! {
            _ = tokio::time::sleep_until((epoch + phase.end()).into()) => {}
            _ = stop.cancelled() => break,
        }
    }

    // Measured here, not later: a Ctrl-C while the last requests drain is not an abort.
    let stopped_at = stop
        .is_cancelled()
        .then(|| clock.elapsed().unwrap_or_default());
    let mut metrics = RunMetrics {
        groups: work.requests.iter().map(|r| r.name.clone()).collect(),
        users: shared
            .journeys
            .users
            .iter()
            .map(|u| u.name.clone())
            .collect(),
        tags: work.requests.iter().map(|r| r.tags.clone()).collect(),
        phases: Vec::new(),
        stopped_early: stopped_at.is_some(),
    };
    for (phase, task) in running {
        let recorder = task.await.unwrap_or_else(|e| {
            tracing::error!(phase = %phase.name, error = %e, "phase task failed");
            Recorder {
                crashed_workers: 1,
                ..Recorder::new(shared.cells())
            }
        });
        let duration = match stopped_at {
            Some(at) => at.saturating_sub(phase.start).min(phase.duration),
            None => phase.duration,
        };
        metrics.phases.push(PhaseRecord {
            name: phase.name.clone(),
            start: phase.start,
            duration,
            recorder,
        });
    }
    metrics
}
