//! The demo service's circuit breakers: two kinds behind one [`Breaker`], so the service
//! has one call path.
//!
//! - `consecutive`: failsafe's `consecutive_failures` policy with a constant open time. It
//!   opens at the `threshold`th consecutive failure; OPEN → HALF_OPEN is lazy (on the first
//!   call after the wait); half-open admits every call and the first outcome decides.
//!   failsafe has no state getter, so the state is tracked through its `Instrument` hooks.
//! - `rate`: a resilience4j-like count-based breaker ([`RateBreaker`]): the failure rate
//!   over the last `window` outcomes opens it once at least `minimum_calls` are recorded;
//!   OPEN → HALF_OPEN is lazy; half-open admits `half_open_calls` calls and, once they have
//!   all completed, their failure rate decides open or closed.
//!
//! Every transition of either kind goes through one [`TransitionLog`]: it is timestamped
//! the moment the state machine transitions, kept in memory for `GET /breaker` and, if
//! configured, appended to a file as one JSON line — the ground truth that breakerbox's
//! observations can be checked against.

use super::transition_log::open_log_file;
pub use super::transition_log::{Transition, TransitionLog};
use crate::breaker_state::BreakerState;
use crate::config::{DemoBreaker, DemoSettings, RateSettings};
use failsafe::futures::CircuitBreaker as _;
use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Why a breaker could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BreakerError {
    /// The transition log file cannot be opened for appending.
    #[error("cannot open the transition log {}: {source}", path.display())]
    TransitionLog {
        /// The file as configured.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// How a call was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// A trial call of a half-open period: for `consecutive` the first call admitted after
    /// the breaker half-opened, for `rate` each of the `half_open_calls`.
    pub probe: bool,
}

/// Why a call through the breaker produced no value.
#[derive(Debug)]
pub enum CallError<E> {
    /// The breaker did not let the call through.
    Rejected,
    /// The call ran and failed (and counted as a failure).
    Failed {
        /// How it was admitted.
        admission: Admission,
        /// The call's own error.
        error: E,
    },
}

/// The demo service's breaker: one of the two kinds, with its transition log.
#[derive(Debug)]
pub struct Breaker {
    kind: Kind,
    log: Arc<TransitionLog>,
}

#[derive(Debug)]
enum Kind {
    Consecutive(Consecutive),
    Rate(RateBreaker),
}

impl Breaker {
    /// Builds the breaker `settings` asks for; `None` when it is off. The transition log
    /// file, if configured, is opened (and created) even then.
    pub fn from_settings(settings: &DemoSettings) -> Result<Option<Breaker>, BreakerError> {
        let file = match &settings.transition_log {
            Some(path) => Some((path.clone(), open_log_file(path)?)),
            None => None,
        };
        Ok(match settings.breaker {
            DemoBreaker::Off => None,
            DemoBreaker::Consecutive => Some(Breaker::consecutive(
                settings.failure_threshold,
                settings.open_duration,
                file,
            )),
            DemoBreaker::Rate => Some(Breaker::rate(settings.rate, settings.open_duration, file)),
        })
    }

    /// A failsafe consecutive-failures breaker: opens at the `threshold`th consecutive
    /// failure and stays open exactly `open_duration`.
    fn consecutive(
        threshold: u32,
        open_duration: Duration,
        file: Option<(PathBuf, File)>,
    ) -> Breaker {
        let log = Arc::new(TransitionLog::new(DemoBreaker::Consecutive, file));
        let probe_taken = Arc::new(AtomicBool::new(false));
        let policy = failsafe::failure_policy::consecutive_failures(
            threshold,
            failsafe::backoff::constant(open_duration),
        );
        // failsafe calls `on_closed` while building: that is the initial `closed`.
        let machine = failsafe::Config::new()
            .failure_policy(policy)
            .instrument(Hooks {
                log: log.clone(),
                probe_taken: probe_taken.clone(),
            })
            .build();
        Breaker {
            kind: Kind::Consecutive(Consecutive {
                machine,
                probe_taken,
            }),
            log,
        }
    }

    /// A count-based failure-rate breaker.
    fn rate(
        settings: RateSettings,
        open_duration: Duration,
        file: Option<(PathBuf, File)>,
    ) -> Breaker {
        let log = Arc::new(TransitionLog::new(DemoBreaker::Rate, file));
        Breaker {
            kind: Kind::Rate(RateBreaker::new(settings, open_duration, log.clone())),
            log,
        }
    }

    /// Which kind this is.
    pub fn kind(&self) -> DemoBreaker {
        self.log.kind
    }

    /// The state now (an open breaker whose wait is over still reads `open` until a call
    /// arrives: OPEN → HALF_OPEN is lazy).
    pub fn state(&self) -> BreakerState {
        self.log.state()
    }

    /// The state, transitions and rejection count.
    pub fn log(&self) -> &TransitionLog {
        &self.log
    }

    /// Runs `call` if the breaker admits it, recording its outcome (`Err` is a failure).
    pub async fn call<T, E, F>(&self, call: F) -> Result<(Admission, T), CallError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        match &self.kind {
            Kind::Consecutive(c) => {
                let guarded = c.machine.call(async {
                    // failsafe polls this only once the call is permitted (and after its
                    // hooks ran), so the state read here is the one the call was admitted
                    // under. The first call admitted while half-open is the probe.
                    let probe = self.log.state() == BreakerState::HalfOpen
                        && !c.probe_taken.swap(true, Ordering::AcqRel);
                    let admission = Admission { probe };
                    call.await
                        .map(|value| (admission, value))
                        .map_err(|error| (admission, error))
                });
                match guarded.await {
                    Ok(done) => Ok(done),
                    Err(failsafe::Error::Inner((admission, error))) => {
                        Err(CallError::Failed { admission, error })
                    }
                    Err(failsafe::Error::Rejected) => Err(CallError::Rejected),
                }
            }
            Kind::Rate(r) => {
                let Some(permit) = r.try_acquire() else {
                    return Err(CallError::Rejected);
                };
                let admission = Admission {
                    probe: permit.half_open,
                };
                let outcome = call.await;
                permit.record(outcome.is_err());
                outcome
                    .map(|value| (admission, value))
                    .map_err(|error| CallError::Failed { admission, error })
            }
        }
    }
}

type FailsafeMachine = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    Hooks,
>;

#[derive(Debug)]
struct Consecutive {
    machine: FailsafeMachine,
    /// Set by the first call admitted after each transition to half-open: the probe.
    probe_taken: Arc<AtomicBool>,
}

/// Tracks failsafe's state through its instrument hooks (it has no getter). failsafe calls
/// them right after its own transition, so the timestamps are the transitions'.
#[derive(Debug, Clone)]
struct Hooks {
    log: Arc<TransitionLog>,
    probe_taken: Arc<AtomicBool>,
}

impl failsafe::Instrument for Hooks {
    fn on_call_rejected(&self) {
        self.log.reject();
    }
    fn on_open(&self) {
        self.log.record(BreakerState::Open);
    }
    fn on_half_open(&self) {
        self.probe_taken.store(false, Ordering::Release);
        self.log.record(BreakerState::HalfOpen);
    }
    fn on_closed(&self) {
        self.log.record(BreakerState::Closed);
    }
}

/// A resilience4j-like count-based circuit breaker.
///
/// - CLOSED: the last `window` outcomes are kept; once at least `minimum_calls` are and
///   the failure rate among them is at least `failure_rate`, it opens.
/// - OPEN: every call is rejected for `open_duration`; the first call after that turns it
///   HALF_OPEN (lazily, as resilience4j does by default).
/// - HALF_OPEN: at most `half_open_calls` calls are admitted, the rest rejected; once all of
///   them have completed, a failure rate among them of at least `failure_rate` opens it
///   again, else it closes with an empty window.
///
/// An outcome of a call admitted before the latest transition is ignored (a slow call let
/// through while closed does not count against the half-open trial). A half-open call
/// dropped before it completes frees its slot.
#[derive(Debug)]
pub struct RateBreaker {
    settings: RateSettings,
    open_duration: Duration,
    machine: Mutex<Machine>,
    log: Arc<TransitionLog>,
}

#[derive(Debug)]
struct Machine {
    state: BreakerState,
    /// Bumped at every transition; outcomes of calls admitted earlier are ignored.
    generation: u64,
    /// Recent outcomes while closed, oldest first; `true` is a failure.
    window: VecDeque<bool>,
    /// Failures in `window`.
    failures: u32,
    /// When the breaker last opened.
    opened_at: Instant,
    /// Half-open slots taken (a dropped call gives its slot back).
    trial_admitted: u32,
    /// Half-open calls completed, and how many of them failed.
    trial_completed: u32,
    trial_failures: u32,
}

/// Permission to make one call through a [`RateBreaker`]; report the outcome with
/// [`RatePermit::record`]. Dropping it unrecorded frees a half-open slot.
#[derive(Debug)]
pub struct RatePermit<'a> {
    breaker: &'a RateBreaker,
    generation: u64,
    half_open: bool,
    recorded: bool,
}

impl RatePermit<'_> {
    /// Whether the call was admitted as a half-open trial.
    pub fn half_open(&self) -> bool {
        self.half_open
    }

    /// Records the call's outcome.
    pub fn record(self, failed: bool) {
        self.record_at(failed, Instant::now());
    }

    fn record_at(mut self, failed: bool, now: Instant) {
        self.recorded = true;
        self.breaker.complete(self.generation, Some(failed), now);
    }
}

impl Drop for RatePermit<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.complete(self.generation, None, Instant::now());
        }
    }
}

impl RateBreaker {
    /// A closed breaker; its initial `closed` is recorded in `log`.
    fn new(settings: RateSettings, open_duration: Duration, log: Arc<TransitionLog>) -> Self {
        log.record(BreakerState::Closed);
        RateBreaker {
            settings,
            open_duration,
            machine: Mutex::new(Machine {
                state: BreakerState::Closed,
                generation: 0,
                window: VecDeque::with_capacity(settings.window as usize),
                failures: 0,
                opened_at: Instant::now(),
                trial_admitted: 0,
                trial_completed: 0,
                trial_failures: 0,
            }),
            log,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks to make a call; `None` means rejected (counted in the log).
    pub fn try_acquire(&self) -> Option<RatePermit<'_>> {
        self.try_acquire_at(Instant::now())
    }

    fn try_acquire_at(&self, now: Instant) -> Option<RatePermit<'_>> {
        let mut m = self.lock();
        if m.state == BreakerState::Open {
            if now.saturating_duration_since(m.opened_at) < self.open_duration {
                drop(m);
                self.log.reject();
                return None;
            }
            self.transition(&mut m, BreakerState::HalfOpen, now);
        }
        let half_open = m.state == BreakerState::HalfOpen;
        if half_open {
            if m.trial_admitted >= self.settings.half_open_calls {
                drop(m);
                self.log.reject();
                return None;
            }
            m.trial_admitted += 1;
        }
        Some(RatePermit {
            breaker: self,
            generation: m.generation,
            half_open,
            recorded: false,
        })
    }

    /// A call admitted in `generation` ended: `Some(failed)`, or `None` when it was dropped.
    fn complete(&self, generation: u64, outcome: Option<bool>, now: Instant) {
        let mut m = self.lock();
        if m.generation != generation {
            return;
        }
        let rate = self.settings.failure_rate;
        match (m.state, outcome) {
            (BreakerState::Closed, Some(failed)) => {
                m.window.push_back(failed);
                m.failures += u32::from(failed);
                if m.window.len() > self.settings.window as usize {
                    let oldest_failed = m.window.pop_front().unwrap_or(false);
                    m.failures -= u32::from(oldest_failed);
                }
                let calls = m.window.len();
                if calls >= self.settings.minimum_calls as usize
                    && f64::from(m.failures) / calls as f64 >= rate
                {
                    self.transition(&mut m, BreakerState::Open, now);
                }
            }
            (BreakerState::HalfOpen, Some(failed)) => {
                m.trial_completed += 1;
                m.trial_failures += u32::from(failed);
                if m.trial_completed >= self.settings.half_open_calls {
                    let failed_share = f64::from(m.trial_failures) / f64::from(m.trial_completed);
                    let to = if failed_share >= rate {
                        BreakerState::Open
                    } else {
                        BreakerState::Closed
                    };
                    self.transition(&mut m, to, now);
                }
            }
            (BreakerState::HalfOpen, None) => {
                m.trial_admitted = m.trial_admitted.saturating_sub(1);
            }
            _ => {}
        }
    }

    /// Moves to `to`, resetting what the new state counts, and records it (under the
    /// machine's lock, so the log's order is the machine's).
    fn transition(&self, m: &mut Machine, to: BreakerState, now: Instant) {
        m.state = to;
        m.generation += 1;
        match to {
            BreakerState::Open => m.opened_at = now,
            BreakerState::HalfOpen => {
                m.trial_admitted = 0;
                m.trial_completed = 0;
                m.trial_failures = 0;
            }
            BreakerState::Closed => {
                m.window.clear();
                m.failures = 0;
            }
        }
        self.log.record(to);
    }
}

#[cfg(test)]
mod tests;
