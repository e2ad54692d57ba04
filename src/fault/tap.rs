//! The tap: the proxy's own count of what passed upstream and what it injected.
//!
//! It needs no cooperation from the service under test, so it is the witness that a
//! scheduled fault really fired, and the black-box view of the breaker: when the breaker
//! opens, upstream attempts collapse while client requests go on. Two resolutions: 100 ms
//! buckets with every count (in result.json), and 10 ms slots of attempts and outcomes as
//! the service under test saw them (for breaker inference).

use crate::series::AtomicSeries;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Width of one tap bucket.
pub const BUCKET: Duration = Duration::from_millis(100);

/// Counts for one 100 ms bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TapBucket {
    /// Bucket start, milliseconds from the run epoch.
    pub at_ms: u64,
    /// Requests that reached the proxy.
    pub received: u64,
    /// Requests forwarded upstream (counted when sent).
    pub forwarded: u64,
    /// Upstream answers by status class, counted when they arrive: 1xx-3xx.
    pub upstream_ok: u64,
    /// Upstream answers with a 4xx status.
    pub upstream_4xx: u64,
    /// Upstream answers with a 5xx status.
    pub upstream_5xx: u64,
    /// Forwarded requests that got no upstream answer (refused, reset, timeout).
    pub upstream_errors: u64,
    /// Of `upstream_errors`, those cut by the proxy's own upstream timeout.
    pub upstream_timeouts: u64,
    /// Upstream answers (counted above by status) whose body broke off before its end:
    /// the upstream died mid-response.
    #[serde(default)]
    pub upstream_cut: u64,
    /// Injections per scheduled fault id.
    pub injected: Vec<u64>,
}

/// What the proxy saw upstream of a request it forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamOutcome {
    /// The upstream answered with this status.
    Status(u16),
    /// No answer.
    Error,
    /// No answer within the proxy's upstream timeout.
    Timeout,
}

/// What happened to one call, in the call log (`"attempt"`, `"failed"`, `"succeeded"` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallEvent {
    /// A call reached the proxy.
    Attempt,
    /// A call ended in a 5xx, a reset or no answer.
    Failed,
    /// A call ended in any other answer.
    Succeeded,
}

/// Calls kept with microsecond times: enough for about 1.3 million calls (32 MiB); the
/// slot counts go on after that, at their 10 ms resolution.
const MAX_CALL_EVENTS: usize = 4 << 20;

/// Calls are logged from a failure until this long after the last one.
const LOG_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Upstream attempts and their outcomes per 10 ms slot, as the service under test saw
/// them: an injected 500 or reset is a failure, whether or not the real upstream was called.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamSeries {
    /// Calls that reached the proxy, by arrival slot.
    pub attempts: Vec<u32>,
    /// Calls that ended in a 5xx, a reset or no answer, by the slot the outcome was known.
    pub failed: Vec<u32>,
    /// Calls that ended in any other answer, by the slot the outcome was known.
    pub succeeded: Vec<u32>,
    /// Every attempt and outcome near failures (from a failure to 30 s after the last
    /// one) with its time, in time order: orders events closer than a slot. In JSON,
    /// `[[micros, "attempt"|"failed"|"succeeded"], ...]`.
    #[serde(with = "calls_as_micros")]
    pub calls: Vec<(Duration, CallEvent)>,
    /// Whether `calls` holds every call near failures (the log's cap was not reached).
    pub calls_complete: bool,
}

/// The call log as `[micros, event]` pairs: `Duration` has no plain JSON form.
mod calls_as_micros {
    use super::CallEvent;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(
        calls: &[(Duration, CallEvent)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(calls.iter().map(|(at, e)| (at.as_micros() as u64, *e)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(Duration, CallEvent)>, D::Error> {
        let raw = Vec::<(u64, CallEvent)>::deserialize(d)?;
        Ok(raw
            .into_iter()
            .map(|(micros, e)| (Duration::from_micros(micros), e))
            .collect())
    }
}

const ATTEMPTS: usize = 0;
const FAILED: usize = 1;
const SUCCEEDED: usize = 2;

/// Columns of a 100 ms bucket.
const RECEIVED: usize = 0;
const FORWARDED: usize = 1;
const UPSTREAM_OK: usize = 2;
const UPSTREAM_4XX: usize = 3;
const UPSTREAM_5XX: usize = 4;
const UPSTREAM_ERRORS: usize = 5;
const UPSTREAM_TIMEOUTS: usize = 6;
const UPSTREAM_CUT: usize = 7;
const COLUMNS: usize = 8;

/// Buckets kept past the planned end (requests draining, a late Ctrl-C).
const GRACE: Duration = Duration::from_secs(30);

/// Most buckets one tap holds (12 hours); later counts share the last bucket.
const MAX_BUCKETS: usize = 12 * 3600 * 10;

/// The log of calls near failures; only locked when a call is logged.
#[derive(Debug, Default)]
struct CallLog {
    /// Calls as `micros << 2 | kind`, in the order they were counted.
    calls: Vec<u64>,
    truncated: bool,
}

/// The proxy's counters: plain atomics, sized once for the planned run, so counting a
/// request takes no lock and no allocation.
#[derive(Debug)]
pub struct Tap {
    buckets: usize,
    counts: Box<[AtomicU32]>,
    /// Per fault id, its per-bucket injections, allocated on its first injection.
    injected: Box<[OnceLock<Box<[AtomicU32]>>]>,
    /// One more than the highest bucket counted into.
    touched: AtomicUsize,
    fine: AtomicSeries,
    /// Per fault id: 0 if never injected, else 1 + milliseconds of the first injection.
    first_injection: Vec<AtomicU64>,
    /// 0 before any failure, else 1 + microseconds of the last one.
    last_failure: AtomicU64,
    log: Mutex<CallLog>,
}

impl Tap {
    /// A tap for a schedule of `faults` entries on a run planned to last `span`.
    pub fn new(faults: usize, span: Duration) -> Self {
        let buckets =
            (((span + GRACE).as_millis() / BUCKET.as_millis()) as usize).clamp(1, MAX_BUCKETS);
        Tap {
            buckets,
            counts: (0..buckets * COLUMNS).map(|_| AtomicU32::new(0)).collect(),
            injected: (0..faults).map(|_| OnceLock::new()).collect(),
            touched: AtomicUsize::new(0),
            fine: AtomicSeries::new(3, span),
            first_injection: (0..faults).map(|_| AtomicU64::new(0)).collect(),
            last_failure: AtomicU64::new(0),
            log: Mutex::new(CallLog::default()),
        }
    }

    /// The bucket of `at` (clamped to the last), marked as counted into.
    fn bucket(&self, at: Duration) -> usize {
        let index = ((at.as_millis() / BUCKET.as_millis()) as usize).min(self.buckets - 1);
        self.touched.fetch_max(index + 1, Ordering::Relaxed);
        index
    }

    fn add(&self, at: Duration, column: usize) {
        let index = self.bucket(at);
        self.counts[index * COLUMNS + column].fetch_add(1, Ordering::Relaxed);
    }

    /// Logs `call` if it is near a failure: only calls near failures matter to the breaker
    /// (the failures that trip it, the probes after), so a healthy soak logs nothing.
    fn log(&self, at: Duration, call: CallEvent) {
        let micros = at.as_micros() as u64;
        if call == CallEvent::Failed {
            self.last_failure.fetch_max(micros + 1, Ordering::Relaxed);
        }
        let last = self.last_failure.load(Ordering::Relaxed);
        let near =
            last != 0 && at.saturating_sub(Duration::from_micros(last - 1)) < LOG_AFTER_FAILURE;
        if !near {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.calls.len() < MAX_CALL_EVENTS {
            let code = match call {
                CallEvent::Attempt => 0,
                CallEvent::Failed => 1,
                CallEvent::Succeeded => 2,
            };
            log.calls.push((micros << 2) | code);
        } else {
            log.truncated = true;
        }
    }

    /// Counts a request arriving at the proxy.
    pub fn received(&self, at: Duration) {
        self.fine.add(at, ATTEMPTS);
        self.add(at, RECEIVED);
        self.log(at, CallEvent::Attempt);
    }

    /// Counts the outcome of an injected answer, as the service under test saw it.
    pub fn outcome(&self, at: Duration, failed: bool) {
        let call = Self::count_outcome(&self.fine, at, failed);
        self.log(at, call);
    }

    fn count_outcome(fine: &AtomicSeries, at: Duration, failed: bool) -> CallEvent {
        fine.add(at, if failed { FAILED } else { SUCCEEDED });
        if failed {
            CallEvent::Failed
        } else {
            CallEvent::Succeeded
        }
    }

    /// Counts one injection of scheduled fault `id`.
    pub fn injected(&self, at: Duration, id: usize) {
        if let Some(first) = self.first_injection.get(id) {
            let ms = at.as_millis() as u64 + 1;
            let _ = first.compare_exchange(0, ms, Ordering::Relaxed, Ordering::Relaxed);
        }
        let index = self.bucket(at);
        if let Some(cells) = self.injected.get(id) {
            let cells =
                cells.get_or_init(|| (0..self.buckets).map(|_| AtomicU32::new(0)).collect());
            cells[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request sent upstream.
    pub fn forwarded(&self, at: Duration) {
        self.add(at, FORWARDED);
    }

    /// Counts how the upstream answered a forwarded request.
    pub fn answered(&self, at: Duration, outcome: UpstreamOutcome) {
        let failed = !matches!(outcome, UpstreamOutcome::Status(s) if s < 500);
        let call = Self::count_outcome(&self.fine, at, failed);
        self.add(
            at,
            match outcome {
                UpstreamOutcome::Status(s) if s >= 500 => UPSTREAM_5XX,
                UpstreamOutcome::Status(s) if s >= 400 => UPSTREAM_4XX,
                UpstreamOutcome::Status(_) => UPSTREAM_OK,
                UpstreamOutcome::Error | UpstreamOutcome::Timeout => UPSTREAM_ERRORS,
            },
        );
        if outcome == UpstreamOutcome::Timeout {
            self.add(at, UPSTREAM_TIMEOUTS);
        }
        self.log(at, call);
    }

    /// Counts an upstream answer whose body broke off after its headers were counted.
    pub fn cut(&self, at: Duration) {
        self.add(at, UPSTREAM_CUT);
    }

    /// How many fault ids it counts injections for.
    pub fn faults(&self) -> usize {
        self.first_injection.len()
    }

    /// When scheduled fault `id` was first applied, if it ever was.
    pub fn first_injection(&self, id: usize) -> Option<Duration> {
        match self.first_injection.get(id)?.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms - 1)),
        }
    }

    /// Attempts and outcomes per 10 ms slot so far, and the call log.
    pub fn upstream(&self) -> UpstreamSeries {
        let (mut raw, truncated) = {
            let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            (log.calls.clone(), log.truncated)
        };
        raw.sort_unstable();
        let calls = raw
            .into_iter()
            .map(|e| {
                let kind = match e & 3 {
                    0 => CallEvent::Attempt,
                    1 => CallEvent::Failed,
                    _ => CallEvent::Succeeded,
                };
                (Duration::from_micros(e >> 2), kind)
            })
            .collect();
        UpstreamSeries {
            attempts: self.fine.column(ATTEMPTS),
            failed: self.fine.column(FAILED),
            succeeded: self.fine.column(SUCCEEDED),
            calls,
            calls_complete: !truncated,
        }
    }

    /// A copy of every bucket up to the last one counted into.
    pub fn snapshot(&self) -> Vec<TapBucket> {
        let touched = self.touched.load(Ordering::Relaxed).min(self.buckets);
        (0..touched)
            .map(|i| {
                let count = |column: usize| {
                    u64::from(self.counts[i * COLUMNS + column].load(Ordering::Relaxed))
                };
                TapBucket {
                    at_ms: (i as u64) * BUCKET.as_millis() as u64,
                    received: count(RECEIVED),
                    forwarded: count(FORWARDED),
                    upstream_ok: count(UPSTREAM_OK),
                    upstream_4xx: count(UPSTREAM_4XX),
                    upstream_5xx: count(UPSTREAM_5XX),
                    upstream_errors: count(UPSTREAM_ERRORS),
                    upstream_timeouts: count(UPSTREAM_TIMEOUTS),
                    upstream_cut: count(UPSTREAM_CUT),
                    injected: self
                        .injected
                        .iter()
                        .map(|cells| {
                            cells
                                .get()
                                .map_or(0, |c| u64::from(c[i].load(Ordering::Relaxed)))
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_100ms_bucket() {
        let tap = Tap::new(2, Duration::from_secs(1));
        tap.received(Duration::from_millis(5));
        tap.forwarded(Duration::from_millis(5));
        tap.answered(Duration::from_millis(6), UpstreamOutcome::Status(200));
        tap.received(Duration::from_millis(250));
        tap.injected(Duration::from_millis(250), 1);
        tap.forwarded(Duration::from_millis(255));
        tap.forwarded(Duration::from_millis(256));
        tap.answered(Duration::from_millis(260), UpstreamOutcome::Status(503));
        tap.answered(Duration::from_millis(270), UpstreamOutcome::Error);
        let b = tap.snapshot();
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].received, b[0].forwarded, b[0].upstream_ok), (1, 1, 1));
        assert_eq!(b[1].received, 0);
        assert_eq!(b[2].at_ms, 200);
        assert_eq!(b[2].injected, vec![0, 1]);
        assert_eq!(b[2].forwarded, 2);
        assert_eq!((b[2].upstream_5xx, b[2].upstream_errors), (1, 1));
        assert_eq!(tap.first_injection(1), Some(Duration::from_millis(250)));
        assert_eq!(tap.first_injection(0), None);
        let up = tap.upstream();
        assert_eq!((up.attempts[0], up.succeeded[0]), (1, 1));
        assert_eq!((up.attempts[25], up.failed[26], up.failed[27]), (1, 1, 1));
        assert!(up.calls_complete);
        // Calls before the first failure are not logged; from it on, all are.
        assert_eq!(
            up.calls,
            vec![
                (Duration::from_millis(260), CallEvent::Failed),
                (Duration::from_millis(270), CallEvent::Failed),
            ]
        );
        let json = serde_json::to_value(&up).expect("serializes");
        assert_eq!(
            json["calls"],
            serde_json::json!([[260000, "failed"], [270000, "failed"]])
        );
        let back: UpstreamSeries = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, up);
    }
}
