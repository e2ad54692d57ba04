//! `result.json`: the whole run in one document (schema in docs/result-json.md).

use crate::breaker_state::BreakerState;
use crate::config::DemoBreaker;
use crate::fault::TapBucket;
use crate::load::StepReport;
use crate::metrics::{GroupStats, Second, Timeline};
use crate::observe::Observations;
use crate::verdict::{Outcome, Verdict};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The one document a run produces.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunResult {
    /// Version of breakerbox that ran the drill.
    pub breakerbox: String,
    /// Drill name.
    pub drill: String,
    /// Drill file.
    pub drill_file: String,
    /// The drill's description, when it has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The seed in force.
    pub seed: u64,
    /// Target base URL.
    pub target: String,
    /// Wall-clock time of the run's epoch, RFC 3339 with milliseconds (UTC).
    pub started_at: String,
    /// The same instant in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// Planned run length, seconds.
    pub planned_duration_s: f64,
    /// Actual run length, seconds.
    pub duration_s: f64,
    /// Overall outcome.
    pub outcome: Outcome,
    /// Why the run stopped early, if it did.
    pub abort_reason: Option<String>,
    /// The built-in parts that ran.
    pub parts: PartsSummary,
    /// Per phase.
    pub phases: Vec<PhaseSummary>,
    /// The whole run.
    pub total: GroupSummary,
    /// Ordered events.
    pub timeline: Timeline,
    /// The breaker as each channel saw it, the best estimate, and disagreements.
    pub observations: Observations,
    /// Every scheduled fault and how often it fired.
    pub faults: Vec<FaultSummary>,
    /// The proxy's tap, per 100 ms bucket.
    pub tap: Vec<TapBucket>,
    /// Requests per second of the run.
    pub series: Vec<Second>,
    /// The setup requests run before the load, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<StepReport>,
    /// The teardown requests run after the load, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teardown: Vec<StepReport>,
    /// The judged expectations.
    pub verdicts: Vec<Verdict>,
}

/// What is known of a drill that never started its load: enough for a result that says why.
#[derive(Debug, Clone)]
pub struct NotStarted {
    /// Drill name.
    pub drill: String,
    /// Drill file.
    pub drill_file: String,
    /// The drill's description.
    pub description: String,
    /// The seed in force.
    pub seed: u64,
    /// Target base URL, as far as it is known.
    pub target: String,
    /// The planned run length.
    pub planned_duration_s: f64,
    /// How it ended: invalid (unreachable, unhealthy) or aborted.
    pub outcome: Outcome,
    /// Why, in one line.
    pub reason: String,
}

impl RunResult {
    /// The result of a drill that stopped before its load started, so every outcome leaves
    /// a result behind.
    pub fn not_started(n: NotStarted) -> RunResult {
        let now = std::time::SystemTime::now();
        RunResult {
            breakerbox: env!("CARGO_PKG_VERSION").to_string(),
            drill: n.drill,
            drill_file: n.drill_file,
            description: n.description,
            seed: n.seed,
            target: n.target,
            started_at: crate::clock::rfc3339_at(now, std::time::Duration::ZERO),
            started_unix_ms: crate::clock::unix_ms_at(now, std::time::Duration::ZERO),
            planned_duration_s: n.planned_duration_s,
            duration_s: 0.0,
            outcome: n.outcome,
            abort_reason: Some(n.reason.clone()),
            parts: PartsSummary::default(),
            phases: Vec::new(),
            total: GroupSummary::default(),
            timeline: Timeline::new(),
            observations: Observations::default(),
            faults: Vec::new(),
            tap: Vec::new(),
            series: Vec::new(),
            setup: Vec::new(),
            teardown: Vec::new(),
            verdicts: vec![Verdict {
                criterion: "the drill started its load".into(),
                expected: "target reachable and healthy; not interrupted".into(),
                measured: n.reason,
                status: match n.outcome {
                    Outcome::Aborted => crate::verdict::Status::Fail,
                    _ => crate::verdict::Status::Invalid,
                },
                evidence: Vec::new(),
                measured_value: None,
                bound: None,
                unit: None,
            }],
        }
    }
}

/// Addresses of the built-in parts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct PartsSummary {
    /// Stub upstream base URL.
    pub stub: Option<String>,
    /// Fault proxy base URL.
    pub proxy: Option<String>,
    /// Demo service base URL.
    pub demo: Option<String>,
    /// The demo service's breaker kind (`off`, `consecutive`, `rate`), if it ran.
    pub demo_breaker: Option<DemoBreaker>,
}

/// Latency quantiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct LatencySummary {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Counts and rates of a set of requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct GroupSummary {
    /// Request group name (`*` for all).
    pub name: String,
    /// Requests finished.
    pub requests: u64,
    /// Failed requests and 5xx responses.
    pub errors: u64,
    /// errors / requests.
    pub error_rate: f64,
    /// Latency quantiles, ms: from the intended start in open-model phases.
    pub latency_ms: LatencySummary,
    /// Service-time quantiles, ms: from the actual send.
    pub service_ms: LatencySummary,
    /// Closed-model phases with a think time: latency quantiles, ms, corrected for
    /// coordinated omission (each slow response also counts the requests its user would
    /// have started meanwhile). Absent where there is no schedule to correct against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrected_latency_ms: Option<LatencySummary>,
    /// Cache hits / requests.
    pub cache_hit_rate: f64,
    /// Fallbacks / requests.
    pub fallback_rate: f64,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Failures by kind.
    pub failures: BTreeMap<String, u64>,
    /// Responses by reported breaker state.
    pub breaker_states: BTreeMap<BreakerState, u64>,
    /// Open responses that were neither fallback nor cache hit.
    pub open_not_degraded: u64,
    /// Per-request checks, when any request has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<CheckSummary>,
    /// Requests not sent, by reason (a capture with no value, no free data row, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, u64>,
    /// Captures that found nothing, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub captures_missed: BTreeMap<String, u64>,
}

/// How responses fared against their requests' checks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct CheckSummary {
    /// Checks that passed.
    pub passed: u64,
    /// Checks that failed.
    pub failed: u64,
    /// passed / (passed + failed).
    pub rate: f64,
    /// Failed checks by kind: `status`, `body_contains`, `body_pointer`, `max_duration`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, u64>,
}

impl GroupSummary {
    /// Summarises `stats` under `name`.
    pub fn from_stats(name: &str, stats: &GroupStats) -> Self {
        let summary = |at: &dyn Fn(f64) -> Option<std::time::Duration>,
                       mean: Option<std::time::Duration>| {
            let ms = |d: Option<std::time::Duration>| {
                d.map(|d| round3(d.as_secs_f64() * 1e3)).unwrap_or(0.0)
            };
            LatencySummary {
                p50: ms(at(0.50)),
                p90: ms(at(0.90)),
                p95: ms(at(0.95)),
                p99: ms(at(0.99)),
                max: ms(at(1.0)),
                mean: ms(mean),
            }
        };
        GroupSummary {
            name: name.to_string(),
            requests: stats.requests,
            errors: stats.errors,
            error_rate: round6(stats.rate(stats.errors)),
            latency_ms: summary(&|q| stats.latency(q), stats.mean_latency()),
            service_ms: summary(&|q| stats.service_time(q), stats.mean_service_time()),
            corrected_latency_ms: stats.corrected_latency(0.5).map(|_| {
                summary(
                    &|q| stats.corrected_latency(q),
                    stats.mean_corrected_latency(),
                )
            }),
            cache_hit_rate: round6(stats.rate(stats.cache_hits)),
            fallback_rate: round6(stats.rate(stats.fallbacks)),
            statuses: stats.statuses.clone(),
            failures: stats
                .failures
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            breaker_states: stats.by_state.clone(),
            open_not_degraded: stats.open_not_degraded,
            checks: stats.check_rate().map(|rate| CheckSummary {
                passed: stats.checks_passed,
                failed: stats.checks_failed,
                rate: round6(rate),
                failures: stats
                    .check_failures
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect(),
            }),
            skipped: stats.skipped.clone(),
            captures_missed: stats.captures_missed.clone(),
        }
    }
}

/// One phase's results.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PhaseSummary {
    /// Phase name.
    pub name: String,
    /// Executor name.
    pub executor: String,
    /// Start offset, seconds.
    pub start_s: f64,
    /// How long it ran, seconds.
    pub duration_s: f64,
    /// Fault profiles active in it.
    pub fault_profiles: Vec<String>,
    /// Finished requests per second.
    pub rps: f64,
    /// Requests due but not started on time (open model), so never sent.
    pub dropped: u64,
    /// Iterations cut short by the graceful stop or ramp-down (or the run's stop); not
    /// errors.
    pub interrupted: u64,
    /// Most workers (virtual users, one connection each) alive at once: in the open model,
    /// how many `max_vus` allowed were needed.
    pub peak_vus: usize,
    /// Iterations that ran to their end (one request each in the open model).
    pub iterations: u64,
    /// The iterations the phase was to run (iteration executors), else `None`.
    pub planned_iterations: Option<u64>,
    /// When an iteration executor had run every iteration, seconds into the phase; `None`
    /// if it had not by the phase end (`max_duration`) or for other executors.
    pub done_s: Option<f64>,
    /// All requests of the phase.
    pub all: GroupSummary,
    /// Per request group.
    pub groups: Vec<GroupSummary>,
    /// Per user type, when the drill names user types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<GroupSummary>,
    /// Per tag, when requests carry tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<GroupSummary>,
    /// The run stopped (Ctrl-C, an abort threshold) before this phase began: every count
    /// is zero and `duration_s` is 0. Present only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_run: bool,
}

/// A scheduled fault and its witness count.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FaultSummary {
    /// Schedule id.
    pub id: usize,
    /// Phase applying it.
    pub phase: String,
    /// Profile.
    pub profile: String,
    /// Kind.
    pub kind: String,
    /// Probability per request.
    pub probability: f64,
    /// Window start, seconds.
    pub from_s: f64,
    /// Window end, seconds.
    pub until_s: f64,
    /// Injections the tap counted.
    pub injected: u64,
}

/// Rounds to 3 decimals (ms with µs precision).
pub(crate) fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}
