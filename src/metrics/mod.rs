//! Metrics: latency histograms and counts per (phase, request group), a per-second series,
//! and the run's timeline.
//!
//! A phase's workers record into one [`PhaseSink`] (a few lock-sharded [`Recorder`]s), so
//! memory does not grow with the number of workers; the shards are merged when the phase ends.

pub mod activity;
mod group;
pub mod recent;
mod second_latency;
pub mod sink;
pub mod timeline;

pub use activity::{ClientActivity, ClientSeries, Served};
pub use group::GroupStats;
pub use recent::RecentSeconds;
pub use second_latency::SecondLatency;
pub use sink::PhaseSink;
pub use timeline::{Event, EventKind, Timeline};

use crate::observe::Markers;
use serde::Serialize;
use std::time::Duration;

/// How one request ended, as the metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status.
    Status(u16),
    /// No response; the kind of transport failure.
    Failed(&'static str),
}

impl Outcome {
    /// Whether the request counts as an error: no response, or a 5xx.
    pub fn is_error(self) -> bool {
        match self {
            Outcome::Status(s) => s >= 500,
            Outcome::Failed(_) => true,
        }
    }
}

/// One finished request, as recorded.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When it finished, from the run epoch.
    pub at: Duration,
    /// Latency: from the intended start in open-model phases, from the send otherwise.
    pub latency: Duration,
    /// Service time: from the send to the last byte, whatever the schedule said.
    pub service: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// What its markers said (all default for failed requests).
    pub markers: Markers,
    /// Closed model with a think time: how often the user meant to start a request, for
    /// the coordinated-omission-corrected latency; `None` where there is no such schedule.
    pub expected_interval: Option<Duration>,
}

/// How one response fared against its request's checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckTally {
    /// Checks that passed.
    pub passed: u16,
    /// Checks that failed.
    pub failed: u16,
    /// Which kinds failed, as bits of [`CHECK_KINDS`].
    pub failed_kinds: u8,
}

/// The kinds of per-request checks, in the bit order of [`CheckTally::failed_kinds`].
pub const CHECK_KINDS: [&str; 4] = ["status", "body_contains", "body_pointer", "max_duration"];

/// Requests finished in one second of the run.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Second {
    /// Requests finished.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// Of which fallbacks.
    pub fallbacks: u64,
    /// Of which cache hits.
    pub cache_hits: u64,
    /// Errors by kind: responses with a 5xx status.
    #[serde(default)]
    pub errors_5xx: u64,
    /// Errors by kind: no response in time (`timeout`).
    #[serde(default)]
    pub errors_timeout: u64,
    /// Errors by kind: no connection (`connect`, `connect_refused`).
    #[serde(default)]
    pub errors_connect: u64,
    /// Errors by kind: the connection dropped (`reset`, `closed`).
    #[serde(default)]
    pub errors_reset: u64,
    /// Errors by kind: any other failure (`protocol`, `body`, `io`, TLS, …).
    #[serde(default)]
    pub errors_other: u64,
    /// Median latency of the second's responses, ms (±6%, see [`SecondLatency`]); absent
    /// without responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    /// 95th percentile latency, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    /// 99th percentile latency, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Slowest response, ms (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<f64>,
}

impl Second {
    /// Counts `outcome` under its error kind, if it is an error.
    fn count_error(&mut self, outcome: Outcome) {
        let kind = match outcome {
            Outcome::Status(s) if s >= 500 => &mut self.errors_5xx,
            Outcome::Status(_) => return,
            Outcome::Failed("timeout") => &mut self.errors_timeout,
            Outcome::Failed("connect" | "connect_refused") => &mut self.errors_connect,
            Outcome::Failed("reset" | "closed") => &mut self.errors_reset,
            Outcome::Failed(_) => &mut self.errors_other,
        };
        *kind += 1;
    }

    /// Fills the latency quantiles from `latency`.
    fn set_latency(&mut self, latency: &SecondLatency) {
        self.p50_ms = latency.quantile_ms(0.50);
        self.p95_ms = latency.quantile_ms(0.95);
        self.p99_ms = latency.quantile_ms(0.99);
        self.max_ms = latency.quantile_ms(1.0);
    }
}

/// What one phase (or one shard of it) recorded.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Stats per cell: one per (user type, request), at `user * requests + request`
    /// (with one user type, indexed like the drill's requests).
    pub groups: Vec<GroupStats>,
    /// Counts per second of the run, indexed by whole seconds from the epoch.
    pub seconds: Vec<Second>,
    /// Response latencies per second, indexed like `seconds`.
    pub latencies: Vec<SecondLatency>,
    /// Requests that were due but could not start on time (open model: no worker free).
    pub dropped: u64,
    /// Iterations cut short: still running when the graceful stop (or ramp-down) ran out,
    /// or when the run was stopped. Not errors; their requests in flight are not recorded.
    pub interrupted: u64,
    /// Iterations that ran to their end (a request each in the open model).
    pub iterations: u64,
    /// When an iteration executor had run every iteration, from the phase start; `None`
    /// when it did not (or for the executors that run to the phase end).
    pub finished: Option<Duration>,
    /// Most workers (virtual users, one connection each) alive at once.
    pub peak_vus: usize,
    /// Workers that ended in a panic; their samples are lost and the run is invalid.
    pub crashed_workers: u64,
}

impl Recorder {
    /// An empty recorder for `groups` request groups.
    pub fn new(groups: usize) -> Self {
        Recorder {
            groups: vec![GroupStats::default(); groups],
            seconds: Vec::new(),
            latencies: Vec::new(),
            dropped: 0,
            interrupted: 0,
            iterations: 0,
            finished: None,
            peak_vus: 0,
            crashed_workers: 0,
        }
    }

    /// Counts one sample for request group `group`.
    pub fn record(&mut self, group: usize, sample: &Sample) {
        if let Some(g) = self.groups.get_mut(group) {
            g.record(sample);
        }
        let second = sample.at.as_secs() as usize;
        if self.seconds.len() <= second {
            self.seconds.resize(second + 1, Second::default());
        }
        let s = &mut self.seconds[second];
        s.requests += 1;
        s.errors += u64::from(sample.outcome.is_error());
        s.fallbacks += u64::from(sample.markers.fallback);
        s.cache_hits += u64::from(sample.markers.cache_hit);
        s.count_error(sample.outcome);
        if let Outcome::Status(_) = sample.outcome {
            // As in the histograms: a failure has no latency worth charting.
            if self.latencies.len() <= second {
                self.latencies.resize(second + 1, SecondLatency::default());
            }
            self.latencies[second].record(sample.latency);
        }
    }

    /// Adds `other` into this recorder.
    pub fn merge(&mut self, other: &Recorder) {
        if self.groups.len() < other.groups.len() {
            self.groups
                .resize(other.groups.len(), GroupStats::default());
        }
        for (ours, theirs) in self.groups.iter_mut().zip(&other.groups) {
            ours.merge(theirs);
        }
        add_seconds(&mut self.seconds, &other.seconds);
        add_latencies(&mut self.latencies, &other.latencies);
        self.dropped += other.dropped;
        self.interrupted += other.interrupted;
        self.iterations += other.iterations;
        self.finished = self.finished.max(other.finished);
        self.peak_vus = self.peak_vus.max(other.peak_vus);
        self.crashed_workers += other.crashed_workers;
    }

    /// All groups merged into one.
    pub fn total(&self) -> GroupStats {
        let mut all = GroupStats::default();
        for g in &self.groups {
            all.merge(g);
        }
        all
    }
}

/// Everything recorded in one phase.
#[derive(Debug, Clone)]
pub struct PhaseRecord {
    /// Phase name.
    pub name: String,
    /// Offset of the phase start from the epoch.
    pub start: Duration,
    /// How long the phase ran (shorter than planned if the run was stopped).
    pub duration: Duration,
    /// The merged recorder of every worker of the phase.
    pub recorder: Recorder,
}

/// Which requests a scope holds: a request group, a user type, a tag, or any mix.
#[derive(Debug, Clone, Copy, Default)]
pub struct Select<'a> {
    /// Only this request group.
    pub request: Option<&'a str>,
    /// Only this user type.
    pub user: Option<&'a str>,
    /// Only requests carrying this tag.
    pub tag: Option<&'a str>,
}

/// Everything recorded in a run, by phase.
#[derive(Debug, Clone, Default)]
pub struct RunMetrics {
    /// Request group names, indexed like the drill's requests.
    pub groups: Vec<String>,
    /// User type names; a recorder's cell `user * groups.len() + request` holds that
    /// user type's requests of that group. Empty reads as one user type.
    pub users: Vec<String>,
    /// Each request group's tags, indexed like `groups`.
    pub tags: Vec<Vec<String>>,
    /// One record per phase that started.
    pub phases: Vec<PhaseRecord>,
    /// Whether the run was stopped before its planned end.
    pub stopped_early: bool,
}

impl RunMetrics {
    /// Stats for one phase (or all) and one request group (or all); `None` if the phase never ran.
    pub fn scope(&self, phase: Option<&str>, group: Option<&str>) -> Option<GroupStats> {
        self.select(
            phase,
            &Select {
                request: group,
                ..Select::default()
            },
        )
    }

    /// The (user type, request) cells `select` picks, as recorder indices; `None` if it
    /// names a request or user type the run does not have.
    pub fn cells(&self, select: &Select) -> Option<Vec<usize>> {
        let requests = self.groups.len().max(1);
        let users = self.users.len().max(1);
        let request = match select.request {
            Some(name) => Some(self.groups.iter().position(|g| g == name)?),
            None => None,
        };
        let user = match select.user {
            Some(name) => Some(self.users.iter().position(|u| u == name)?),
            None => None,
        };
        Some(
            (0..users * requests)
                .filter(|cell| {
                    let (u, r) = (cell / requests, cell % requests);
                    request.is_none_or(|want| want == r)
                        && user.is_none_or(|want| want == u)
                        && select.tag.is_none_or(|tag| {
                            self.tags.get(r).is_some_and(|t| t.iter().any(|t| t == tag))
                        })
                })
                .collect(),
        )
    }

    /// Stats for one phase (or all) and the cells `select` picks; `None` if the phase
    /// never ran or the selection names what the run does not have.
    pub fn select(&self, phase: Option<&str>, select: &Select) -> Option<GroupStats> {
        let cells = self.cells(select)?;
        let everything = select.request.is_none() && select.user.is_none() && select.tag.is_none();
        let mut stats = GroupStats::default();
        let mut any = false;
        for p in self
            .phases
            .iter()
            .filter(|p| phase.is_none_or(|name| p.name == name))
        {
            any = true;
            if everything {
                stats.merge(&p.recorder.total());
                continue;
            }
            for &cell in &cells {
                if let Some(g) = p.recorder.groups.get(cell) {
                    stats.merge(g);
                }
            }
        }
        any.then_some(stats)
    }

    /// Requests dropped in one phase (or all): due in an open-model phase but never started.
    pub fn dropped(&self, phase: Option<&str>) -> u64 {
        self.phases
            .iter()
            .filter(|p| phase.is_none_or(|name| p.name == name))
            .map(|p| p.recorder.dropped)
            .sum()
    }

    /// Iterations interrupted in one phase (or all): cut by a graceful stop or ramp-down.
    pub fn interrupted(&self, phase: Option<&str>) -> u64 {
        self.phases
            .iter()
            .filter(|p| phase.is_none_or(|name| p.name == name))
            .map(|p| p.recorder.interrupted)
            .sum()
    }

    /// Load workers that crashed, over the whole run.
    pub fn crashed_workers(&self) -> u64 {
        self.phases.iter().map(|p| p.recorder.crashed_workers).sum()
    }

    /// The whole run's per-second series.
    pub fn seconds(&self) -> Vec<Second> {
        let mut all = Vec::new();
        let mut latencies = Vec::new();
        for p in &self.phases {
            add_seconds(&mut all, &p.recorder.seconds);
            add_latencies(&mut latencies, &p.recorder.latencies);
        }
        for (second, latency) in all.iter_mut().zip(&latencies) {
            second.set_latency(latency);
        }
        all
    }
}

#[cfg(test)]
impl RunMetrics {
    /// A finished run of one 1 s phase `phase` with request groups `groups` (for tests).
    pub(crate) fn one_phase(phase: &str, groups: &[&str], recorder: Recorder) -> Self {
        RunMetrics {
            groups: groups.iter().map(|g| g.to_string()).collect(),
            users: Vec::new(),
            tags: Vec::new(),
            phases: vec![PhaseRecord {
                name: phase.into(),
                start: Duration::ZERO,
                duration: Duration::from_secs(1),
                recorder,
            }],
            stopped_early: false,
        }
    }
}

/// Adds per-second counts `theirs` into `ours`, second by second.
fn add_seconds(ours: &mut Vec<Second>, theirs: &[Second]) {
    if ours.len() < theirs.len() {
        ours.resize(theirs.len(), Second::default());
    }
    for (o, t) in ours.iter_mut().zip(theirs) {
        o.requests += t.requests;
        o.errors += t.errors;
        o.fallbacks += t.fallbacks;
        o.cache_hits += t.cache_hits;
        o.errors_5xx += t.errors_5xx;
        o.errors_timeout += t.errors_timeout;
        o.errors_connect += t.errors_connect;
        o.errors_reset += t.errors_reset;
        o.errors_other += t.errors_other;
    }
}

fn add_latencies(ours: &mut Vec<SecondLatency>, theirs: &[SecondLatency]) {
    if ours.len() < theirs.len() {
        ours.resize(theirs.len(), SecondLatency::default());
    }
    for (o, t) in ours.iter_mut().zip(theirs) {
        o.merge(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker_state::BreakerState;

    fn sample(ms: u64, outcome: Outcome, markers: Markers) -> Sample {
        Sample {
            at: Duration::from_millis(ms),
            latency: Duration::from_millis(ms),
            service: Duration::from_millis(ms),
            outcome,
            markers,
            expected_interval: None,
        }
    }

    #[test]
    fn counts_errors_markers_and_quantiles() {
        let mut r = Recorder::new(2);
        for ms in 1..=100 {
            r.record(0, &sample(ms, Outcome::Status(200), Markers::default()));
        }
        r.record(1, &sample(1500, Outcome::Status(503), Markers::default()));
        r.record(
            1,
            &sample(1600, Outcome::Failed("reset"), Markers::default()),
        );
        let open_fallback = Markers {
            breaker: Some(BreakerState::Open),
            fallback: true,
            ..Markers::default()
        };
        let open_plain = Markers {
            breaker: Some(BreakerState::Open),
            ..Markers::default()
        };
        r.record(1, &sample(5, Outcome::Status(200), open_fallback));
        r.record(1, &sample(5, Outcome::Status(200), open_plain));

        let g0 = &r.groups[0];
        assert_eq!((g0.requests, g0.errors), (100, 0));
        let p95 = g0.latency(0.95).expect("recorded").as_millis();
        assert!((94..=96).contains(&p95), "{p95}");
        let total = r.total();
        assert_eq!((total.requests, total.errors), (104, 2));
        assert_eq!(total.failures.get("reset"), Some(&1));
        assert_eq!(total.by_state.get(&BreakerState::Open), Some(&2));
        assert_eq!(total.open_not_degraded, 1);
        assert_eq!(r.seconds[1].requests, 2);
        assert_eq!(r.seconds[1].errors, 2);
        assert_eq!(
            (r.seconds[1].errors_5xx, r.seconds[1].errors_reset),
            (1, 1),
            "errors by kind"
        );
        assert_eq!(r.latencies[1].count(), 1, "a failure has no latency");
        let run = RunMetrics::one_phase("p", &["a", "b"], r);
        let series = run.seconds();
        let p99 = series[0].p99_ms.expect("responses in second 0");
        assert!((92.0..=101.0).contains(&p99), "{p99}");
        assert_eq!(series[0].max_ms, Some(100.0));
        assert_eq!(series[1].max_ms, Some(1500.0));
    }

    #[test]
    fn a_stall_in_the_closed_model_counts_the_requests_it_held_back() {
        // 99 fast responses and one 1 s stall, users meaning to start every 100 ms: the
        // stall also stands for the 9 requests not sent during it (900 ms, 800 ms, …).
        let mut r = Recorder::new(1);
        let mut s = sample(10, Outcome::Status(200), Markers::default());
        s.expected_interval = Some(Duration::from_millis(100));
        for _ in 0..99 {
            r.record(0, &s);
        }
        s.latency = Duration::from_secs(1);
        r.record(0, &s);
        let g = &r.groups[0];
        let raw_p95 = g.latency(0.95).expect("recorded");
        let corrected_p95 = g.corrected_latency(0.95).expect("corrected");
        assert!(raw_p95 < Duration::from_millis(11), "{raw_p95:?}");
        assert!(
            corrected_p95 >= Duration::from_millis(500),
            "{corrected_p95:?}"
        );
        // No schedule, no correction.
        let mut open = Recorder::new(1);
        open.record(0, &sample(10, Outcome::Status(200), Markers::default()));
        assert!(open.groups[0].corrected_latency(0.5).is_none());
    }

    #[test]
    fn merge_equals_recording_together() {
        let mut a = Recorder::new(1);
        let mut b = Recorder::new(1);
        let mut both = Recorder::new(1);
        for ms in [3, 7, 11, 2000] {
            let s = sample(
                ms,
                Outcome::Status(if ms > 1000 { 500 } else { 200 }),
                Markers::default(),
            );
            if ms % 2 == 0 {
                a.record(0, &s)
            } else {
                b.record(0, &s)
            }
            both.record(0, &s);
        }
        a.merge(&b);
        assert_eq!(a.groups[0].requests, both.groups[0].requests);
        assert_eq!(a.groups[0].errors, both.groups[0].errors);
        assert_eq!(a.groups[0].latency(0.5), both.groups[0].latency(0.5));
        assert_eq!(a.seconds, both.seconds);
    }

    #[test]
    fn scope_selects_phase_and_group() {
        let mut r = Recorder::new(2);
        r.record(0, &sample(1, Outcome::Status(200), Markers::default()));
        r.record(1, &sample(1, Outcome::Status(500), Markers::default()));
        let m = RunMetrics::one_phase("p", &["a", "b"], r);
        assert_eq!(m.scope(Some("p"), Some("b")).map(|g| g.errors), Some(1));
        assert_eq!(m.scope(None, None).map(|g| g.requests), Some(2));
        assert!(m.scope(Some("nope"), None).is_none());
        assert!(m.scope(None, Some("nope")).is_none());
    }
}
