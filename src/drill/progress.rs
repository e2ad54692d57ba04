//! A live view of a running drill: where the run is (phase n/m, elapsed, remaining), what
//! the last seconds looked like (requests/s, p95, errors by kind, fallbacks, cache hits),
//! what each breaker channel reads now and which faults are on.
//!
//! [`Progress`] is the handle the drill hands out; one [`Sampler`] made from it drains the
//! load engine's per-second ring once a second into [`SecondRow`]s (the NDJSON series) and
//! keeps the windows the live line, the periodic summaries and `/metrics` read.

use crate::breaker_state::{BreakerState, Channel};
use crate::clock::RunClock;
use crate::load::Live;
use crate::metrics::recent::{SecondCounts, ERROR_KINDS};
use crate::observe::BreakerTracker;
use crate::plan::Plan;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Seconds the rolling window (requests/s, p95) spans.
pub const WINDOW_SECONDS: usize = 5;

/// The breaker channels a run reads live, registered as the run starts them.
#[derive(Debug, Default)]
pub struct LiveChannels {
    list: Mutex<Vec<(Channel, Arc<BreakerTracker>)>>,
}

impl LiveChannels {
    /// Adds `channel`, read from `tracker`.
    pub fn register(&self, channel: Channel, tracker: Arc<BreakerTracker>) {
        self.list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((channel, tracker));
    }

    /// Each registered channel with its current state.
    pub fn states(&self) -> Vec<(Channel, Option<BreakerState>)> {
        self.list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(c, t)| (*c, t.current()))
            .collect()
    }

    /// Transitions each channel has seen so far.
    pub fn transitions(&self) -> Vec<(Channel, usize)> {
        self.list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(c, t)| (*c, t.transitions().len()))
            .collect()
    }
}

/// A phase as the live view needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpan {
    /// Phase name.
    pub name: String,
    /// Start, from the run epoch.
    pub start: Duration,
    /// Planned length.
    pub duration: Duration,
}

/// A fault window as the live view needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpan {
    /// The profile it comes from.
    pub profile: String,
    /// The fault kind (`latency`, `error`, `reset`, ...).
    pub kind: &'static str,
    /// Window start, from the run epoch.
    pub from: Duration,
    /// Window end (exclusive).
    pub until: Duration,
    /// On for `.1` at the start of every `.0`, when it flaps.
    pub cycle: Option<(Duration, Duration)>,
}

impl FaultSpan {
    /// Whether the fault is on at `at`.
    pub fn is_on(&self, at: Duration) -> bool {
        at >= self.from
            && at < self.until
            && self.cycle.is_none_or(|(period, on_for)| {
                let into = (at - self.from).as_nanos();
                into % period.as_nanos().max(1) < on_for.as_nanos()
            })
    }
}

/// A handle on a running drill for live displays.
#[derive(Debug, Clone)]
pub struct Progress {
    pub(super) live: Arc<Live>,
    pub(super) channels: Arc<LiveChannels>,
    pub(super) clock: RunClock,
    pub(super) phases: Vec<PhaseSpan>,
    pub(super) faults: Vec<FaultSpan>,
    pub(super) trust: Vec<Channel>,
    pub(super) total: Duration,
}

impl Progress {
    /// The handle for `plan`'s run, reading `live` and `channels` on `clock`.
    pub(super) fn new(
        plan: &Plan,
        live: Arc<Live>,
        channels: Arc<LiveChannels>,
        clock: RunClock,
    ) -> Self {
        Progress {
            live,
            channels,
            clock,
            phases: plan
                .phases
                .iter()
                .map(|p| PhaseSpan {
                    name: p.name.clone(),
                    start: p.start,
                    duration: p.duration,
                })
                .collect(),
            faults: plan
                .faults
                .iter()
                .map(|f| FaultSpan {
                    profile: f.profile.clone(),
                    kind: f.fault.kind_name(),
                    from: f.from,
                    until: f.until,
                    cycle: f.fault.cycle.map(|c| (c.period, c.on_for)),
                })
                .collect(),
            trust: plan.drill.observe.trust.clone(),
            total: plan.total_duration(),
        }
    }

    /// When the run started, once it has.
    pub fn started(&self) -> bool {
        self.clock.epoch().is_some()
    }

    /// Time since the run started (zero before).
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed().unwrap_or_default()
    }

    /// Planned length of the run.
    pub fn total(&self) -> Duration {
        self.total
    }

    /// The phases, in order.
    pub fn phases(&self) -> &[PhaseSpan] {
        &self.phases
    }

    /// The scheduled fault windows.
    pub fn faults(&self) -> &[FaultSpan] {
        &self.faults
    }

    /// A sampler that drains the per-second ring; make only one per run.
    pub fn sampler(&self) -> Sampler {
        Sampler {
            progress: self.clone(),
            next: 0,
            window: VecDeque::new(),
            since_start: SecondCounts::default(),
            interval: SecondCounts::default(),
            interval_seconds: 0,
        }
    }

    /// The faults on at `at`.
    fn active_faults(&self, at: Duration) -> Vec<ActiveFault> {
        self.faults
            .iter()
            .filter(|f| f.is_on(at))
            .map(|f| ActiveFault {
                profile: f.profile.clone(),
                kind: f.kind,
            })
            .collect()
    }

    /// Each channel's state now, most trusted first.
    fn breakers(&self) -> Vec<(Channel, Option<BreakerState>)> {
        let mut states = self.channels.states();
        states.sort_by_key(|(c, _)| self.trust.iter().position(|t| t == c).unwrap_or(usize::MAX));
        states
    }

    /// The phase planned to run at `at` (the last one past the end).
    fn phase_at(&self, at: Duration) -> usize {
        self.phases.iter().rposition(|p| p.start <= at).unwrap_or(0)
    }

    /// The phase running now: the load engine's, or the clock's if that is further on.
    fn phase_now(&self, now: Duration) -> usize {
        let current = self.live.phase.load(Ordering::Relaxed);
        current
            .max(self.phase_at(now))
            .min(self.phases.len().saturating_sub(1))
    }
}

/// A fault on now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveFault {
    /// The profile it comes from.
    pub profile: String,
    /// Its kind.
    pub kind: &'static str,
}

/// One second of the run, as the NDJSON series writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondRow {
    /// The second, from the run epoch (`t` covers `[t, t+1)`).
    pub t: u64,
    /// The phase running at its start.
    pub phase: String,
    /// Requests finished in it.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// Errors by kind (only the kinds seen).
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    /// Fallback responses.
    pub fallbacks: u64,
    /// Cache hits.
    pub cache_hits: u64,
    /// Median latency of its responses, milliseconds (coarse buckets).
    pub p50_ms: Option<f64>,
    /// 95th percentile, milliseconds.
    pub p95_ms: Option<f64>,
    /// 99th percentile, milliseconds.
    pub p99_ms: Option<f64>,
    /// Each live channel's breaker state when the second was drained.
    pub breaker: BTreeMap<&'static str, Option<BreakerState>>,
    /// Faults on at its start, as `profile/kind`.
    pub faults: Vec<String>,
}

/// One reading of a running drill.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgressSnapshot {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Planned length of the run.
    pub total: Duration,
    /// Index of the current phase (0-based).
    pub phase_index: usize,
    /// Number of phases.
    pub phase_count: usize,
    /// Current phase name.
    pub phase: String,
    /// Time into the current phase.
    pub phase_elapsed: Duration,
    /// Planned length of the current phase.
    pub phase_duration: Duration,
    /// Requests finished so far.
    pub requests: u64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// Errors so far.
    pub errors: u64,
    /// Errors so far by kind (drained seconds only; only the kinds seen).
    pub errors_by_kind: Vec<(&'static str, u64)>,
    /// Fallbacks so far.
    pub fallbacks: u64,
    /// Cache hits so far.
    pub cache_hits: u64,
    /// Requests per second over the rolling window.
    pub rps: f64,
    /// Errors per second over the rolling window.
    pub error_rate: f64,
    /// Fallbacks in the rolling window.
    pub window_fallbacks: u64,
    /// 95th percentile latency over the rolling window.
    pub p95: Option<Duration>,
    /// Each live breaker channel's state, most trusted first.
    pub breakers: Vec<(Channel, Option<BreakerState>)>,
    /// The most trusted channel's known state.
    pub breaker: Option<BreakerState>,
    /// Faults on now.
    pub faults: Vec<ActiveFault>,
}

impl ProgressSnapshot {
    /// Time left in the run.
    pub fn remaining(&self) -> Duration {
        self.total.saturating_sub(self.elapsed)
    }

    /// Time left in the current phase.
    pub fn phase_remaining(&self) -> Duration {
        self.phase_duration.saturating_sub(self.phase_elapsed)
    }
}

/// Drains the load engine's per-second ring and keeps the windows live displays read.
#[derive(Debug)]
pub struct Sampler {
    progress: Progress,
    /// The next second to drain.
    next: u64,
    window: VecDeque<SecondCounts>,
    since_start: SecondCounts,
    interval: SecondCounts,
    interval_seconds: u64,
}

impl Sampler {
    /// The progress handle this sampler reads.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Drains every second that is over by `now` (from the run epoch) and returns them.
    pub fn drain_until(&mut self, now: Duration) -> Vec<SecondRow> {
        let mut rows = Vec::new();
        while self.next < now.as_secs() {
            rows.push(self.drain_one());
        }
        rows
    }

    /// Drains the rest: every second up to and including the one `now` falls in (the
    /// run is over; its last, partial second counts too unless it saw nothing).
    pub fn finish(&mut self, now: Duration) -> Vec<SecondRow> {
        let mut rows = self.drain_until(now);
        if self.next == now.as_secs() && now.subsec_nanos() > 0 {
            let last = self.drain_one();
            if last.requests > 0 {
                rows.push(last);
            }
        }
        rows
    }

    /// Seconds drained so far.
    pub fn seconds(&self) -> u64 {
        self.next
    }

    fn drain_one(&mut self) -> SecondRow {
        let t = self.next;
        self.next += 1;
        let counts = self.progress.live.recent.drain(t);
        let at = Duration::from_secs(t);
        let phase = self
            .progress
            .phases
            .get(self.progress.phase_at(at))
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let ms = |q: f64| {
            counts
                .latency
                .quantile(q)
                .map(|d| (d.as_secs_f64() * 1e6).round() / 1e3)
        };
        let row = SecondRow {
            t,
            phase,
            requests: counts.requests,
            errors: counts.error_total(),
            errors_by_kind: ERROR_KINDS
                .iter()
                .zip(counts.errors)
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (*k, n))
                .collect(),
            fallbacks: counts.fallbacks,
            cache_hits: counts.cache_hits,
            p50_ms: ms(0.5),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            breaker: self
                .progress
                .breakers()
                .into_iter()
                .map(|(c, s)| (c.as_str(), s))
                .collect(),
            faults: self
                .progress
                .active_faults(at)
                .into_iter()
                .map(|f| format!("{}/{}", f.profile, f.kind))
                .collect(),
        };
        self.since_start.add(&counts);
        self.interval.add(&counts);
        self.interval_seconds += 1;
        self.window.push_back(counts);
        if self.window.len() > WINDOW_SECONDS {
            self.window.pop_front();
        }
        row
    }

    /// The rolling window's seconds added up.
    pub fn window(&self) -> SecondCounts {
        let mut window = SecondCounts::default();
        for s in &self.window {
            window.add(s);
        }
        window
    }

    /// Everything drained since the run started.
    pub fn since_start(&self) -> &SecondCounts {
        &self.since_start
    }

    /// What was drained since the last call, and over how many seconds; starts a new
    /// interval (for periodic summaries).
    pub fn take_interval(&mut self) -> (SecondCounts, u64) {
        let seconds = std::mem::take(&mut self.interval_seconds);
        (std::mem::take(&mut self.interval), seconds)
    }

    /// Each channel's transitions so far.
    pub fn transitions(&self) -> Vec<(Channel, usize)> {
        self.progress.channels.transitions()
    }

    /// Reads the run now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let p = &self.progress;
        let elapsed = p.elapsed();
        let index = p.phase_now(elapsed);
        let phase = p.phases.get(index);
        let window = self.window();
        let seconds = self.window.len().max(1) as f64;
        let breakers = p.breakers();
        ProgressSnapshot {
            elapsed,
            total: p.total,
            phase_index: index,
            phase_count: p.phases.len(),
            phase: phase.map(|p| p.name.clone()).unwrap_or_default(),
            phase_elapsed: phase.map_or(Duration::ZERO, |p| elapsed.saturating_sub(p.start)),
            phase_duration: phase.map_or(Duration::ZERO, |p| p.duration),
            requests: p.live.requests.load(Ordering::Relaxed),
            in_flight: p.live.in_flight.load(Ordering::Relaxed),
            errors: p.live.errors.load(Ordering::Relaxed),
            errors_by_kind: ERROR_KINDS
                .iter()
                .zip(self.since_start.errors)
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (*k, n))
                .collect(),
            fallbacks: p.live.fallbacks.load(Ordering::Relaxed),
            cache_hits: p.live.cache_hits.load(Ordering::Relaxed),
            rps: window.requests as f64 / seconds,
            error_rate: window.error_total() as f64 / seconds,
            window_fallbacks: window.fallbacks,
            p95: window.latency.quantile(0.95),
            breaker: breakers.iter().find_map(|(_, s)| *s),
            breakers,
            faults: p.active_faults(elapsed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Outcome, Sample};
    use crate::observe::Markers;

    fn progress() -> Progress {
        Progress {
            live: Arc::new(Live::default()),
            channels: Arc::new(LiveChannels::default()),
            clock: RunClock::new(),
            phases: vec![
                PhaseSpan {
                    name: "warm".into(),
                    start: Duration::ZERO,
                    duration: Duration::from_secs(2),
                },
                PhaseSpan {
                    name: "fault".into(),
                    start: Duration::from_secs(2),
                    duration: Duration::from_secs(3),
                },
            ],
            faults: vec![FaultSpan {
                profile: "down".into(),
                kind: "error",
                from: Duration::from_secs(2),
                until: Duration::from_secs(4),
                cycle: None,
            }],
            trust: Channel::ALL.to_vec(),
            total: Duration::from_secs(5),
        }
    }

    fn sample(ms: u64, outcome: Outcome, fallback: bool) -> Sample {
        Sample {
            at: Duration::from_millis(ms),
            latency: Duration::from_millis(10),
            service: Duration::from_millis(10),
            outcome,
            markers: Markers {
                fallback,
                ..Markers::default()
            },
            expected_interval: None,
        }
    }

    #[test]
    fn rows_carry_phase_counts_faults_and_breaker_state() {
        let p = progress();
        let header = Arc::new(BreakerTracker::new());
        p.channels.register(Channel::Header, header.clone());
        for i in 0..10 {
            p.live.record(&sample(100 + i, Outcome::Status(200), false));
        }
        p.live.record(&sample(2100, Outcome::Status(200), true));
        p.live
            .record(&sample(2200, Outcome::Failed("timeout"), false));
        header.observe(Duration::from_millis(2150), BreakerState::Open);
        let mut s = p.sampler();
        let rows = s.drain_until(Duration::from_millis(3100));
        assert_eq!(rows.iter().map(|r| r.t).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!((rows[0].requests, rows[0].phase.as_str()), (10, "warm"));
        assert!(rows[0].faults.is_empty());
        let p50 = rows[0].p50_ms.expect("latencies");
        assert!((9.0..=11.0).contains(&p50), "{p50}");
        assert_eq!(rows[1].requests, 0);
        assert_eq!(rows[1].p95_ms, None);
        let two = &rows[2];
        assert_eq!((two.phase.as_str(), two.requests), ("fault", 2));
        assert_eq!((two.errors, two.fallbacks), (1, 1));
        assert_eq!(two.errors_by_kind.get("timeout"), Some(&1));
        assert_eq!(two.faults, ["down/error"]);
        assert_eq!(two.breaker.get("header"), Some(&Some(BreakerState::Open)));
        // Nothing is drained twice; the partial last second comes with finish.
        assert!(s.drain_until(Duration::from_millis(3100)).is_empty());
        p.live.record(&sample(3050, Outcome::Status(200), false));
        assert_eq!(s.finish(Duration::from_millis(3100)).len(), 1);
        // An empty partial last second is left out.
        assert!(s.finish(Duration::from_millis(4100)).is_empty());
        let snap = s.snapshot();
        assert_eq!((snap.requests, snap.errors, snap.fallbacks), (13, 1, 1));
        assert_eq!(snap.breaker, Some(BreakerState::Open));
        assert_eq!(snap.errors_by_kind, [("timeout", 1)]);
        let (interval, seconds) = s.take_interval();
        assert_eq!((interval.requests, seconds), (13, 5));
        assert_eq!(s.take_interval().1, 0);
    }

    #[test]
    fn a_flapping_fault_is_on_only_in_its_on_part() {
        let f = FaultSpan {
            profile: "p".into(),
            kind: "reset",
            from: Duration::from_secs(10),
            until: Duration::from_secs(20),
            cycle: Some((Duration::from_secs(4), Duration::from_secs(1))),
        };
        assert!(!f.is_on(Duration::from_secs(9)));
        assert!(f.is_on(Duration::from_millis(10_500)));
        assert!(!f.is_on(Duration::from_millis(12_000)));
        assert!(f.is_on(Duration::from_millis(14_200)));
        assert!(!f.is_on(Duration::from_secs(20)));
    }
}
