//! The closed model shared by the virtual-user executors: each virtual user loops
//! iteration → think time on its own connection, so the load it makes slows down when the
//! target does. Latency is measured from the send: a stalled target delays the next
//! send instead of showing up as latency (coordinated omission), which is why the open
//! model exists.

use super::super::worker::Worker;
use super::super::Shared;
use super::Tally;
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How often the number of virtual users is brought to what the schedule wants.
const ADJUST_EVERY: Duration = Duration::from_millis(50);

/// How many iterations the users of a phase run.
#[derive(Debug, Clone)]
pub(super) enum Iterations {
    /// As many as fit before the phase ends.
    Unlimited,
    /// This many per user.
    PerUser(u64),
    /// What is left of a count shared by all the users.
    Shared(Arc<AtomicU64>),
}

impl Iterations {
    /// Whether the users can run out of iterations before the phase ends.
    fn limited(&self) -> bool {
        !matches!(self, Iterations::Unlimited)
    }
}

/// One user's claim on the phase's iterations.
struct Tickets {
    iterations: Iterations,
    taken: u64,
}

impl Tickets {
    /// Takes the next iteration; false when none is left.
    fn take(&mut self) -> bool {
        let ok = match &self.iterations {
            Iterations::Unlimited => true,
            Iterations::PerUser(n) => self.taken < *n,
            Iterations::Shared(left) => left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| l.checked_sub(1))
                .is_ok(),
        };
        self.taken += u64::from(ok);
        ok
    }
}

/// What a closed-model phase runs: how many users when, and how much each does.
pub(super) struct Users<W> {
    /// Users wanted this far into the phase.
    pub(super) wanted: W,
    /// Pause after each iteration (none after a user's last).
    pub(super) think_time: crate::config::ThinkTime,
    /// How many iterations the users run.
    pub(super) iterations: Iterations,
    /// Set when the count of users can fall: how long a user above the new count may
    /// take to finish its iteration before it is cut.
    pub(super) ramp_down: Option<Duration>,
}

/// What every user of the phase reads.
struct Context {
    shared: Arc<Shared>,
    sink: Arc<PhaseSink>,
    phase: usize,
    phase_end: Instant,
    think_time: crate::config::ThinkTime,
    ramp_down: Option<Duration>,
    /// Users the schedule wants now; users numbered from it up idle.
    desired: AtomicUsize,
    /// Cancelled at the phase end (or the run's stop): pauses end then.
    ended: CancellationToken,
    /// Users that ran every iteration they could take.
    exhausted: AtomicUsize,
}

impl Context {
    /// A fresh virtual user (a new connection).
    fn worker(&self, index: usize) -> Worker {
        Worker::new(
            self.shared.clone(),
            self.phase,
            index,
            self.sink.clone(),
            self.think_time,
        )
    }

    /// Whether no iteration may start any more.
    fn over(&self) -> bool {
        Instant::now() >= self.phase_end || self.shared.stop.is_cancelled()
    }

    /// Whether user `index` is above the wanted count.
    fn ramped_down(&self, index: usize) -> bool {
        index >= self.desired.load(Ordering::Acquire)
    }
}

/// Runs the phase's virtual users until the phase ends, the run stops, or (iteration
/// executors) every iteration has run; then waits out the graceful stop.
///
/// Users are started as the count rises. When it falls, the highest-numbered users finish
/// their iteration (within `ramp_down`) and idle, connection kept, until it rises again.
pub(super) async fn run<W: Fn(Duration) -> usize>(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    sink: Arc<PhaseSink>,
    users: Users<W>,
) {
    let phase_start = shared.epoch + phase.start;
    let cut_at = shared.epoch + phase.cut();
    let ctx = Arc::new(Context {
        shared: shared.clone(),
        sink: sink.clone(),
        phase: phase.index,
        phase_end: shared.epoch + phase.end(),
        think_time: users.think_time,
        ramp_down: users.ramp_down,
        desired: AtomicUsize::new(0),
        ended: shared.stop.child_token(),
        exhausted: AtomicUsize::new(0),
    });
    let limited = users.iterations.limited();
    // One wake-up per user, for a ramp down.
    let mut lowered: Vec<Arc<Notify>> = Vec::new();
    let mut workers = JoinSet::new();
    let mut last_want = 0;
    loop {
        let now = Instant::now();
        if now >= ctx.phase_end || shared.stop.is_cancelled() {
            break;
        }
        let want = (users.wanted)(now.saturating_duration_since(phase_start));
        ctx.desired.store(want, Ordering::Release);
        if want < last_want && ctx.ramp_down.is_some() {
            for user in lowered.iter().take(last_want).skip(want) {
                user.notify_waiters();
            }
        }
        last_want = want;
        if lowered.len() < want {
            sink.peak_vus(want);
        }
        while lowered.len() < want {
            let wake = Arc::new(Notify::new());
            let tickets = Tickets {
                iterations: users.iterations.clone(),
                taken: 0,
            };
            workers.spawn(user(ctx.clone(), lowered.len(), wake.clone(), tickets));
            lowered.push(wake);
        }
        let next = (now + ADJUST_EVERY).min(ctx.phase_end);
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = shared.stop.cancelled() => break,
            done = workers.join_next(), if !workers.is_empty() => {
                if let Some(done) = done {
                    super::joined(done, &sink);
                }
                // Not when users ended for another reason (the run's stop, a crash).
                let all_done = ctx.exhausted.load(Ordering::Acquire) == lowered.len();
                if limited && workers.is_empty() && all_done {
                    // Every user has run its share: the phase is done early, though it
                    // keeps its slot on the run clock.
                    sink.finished(Instant::now().saturating_duration_since(phase_start));
                    return;
                }
            }
        }
    }
    ctx.ended.cancel();
    super::finish(workers, &sink, cut_at).await;
}

/// One virtual user: iteration → think time until the phase ends, the run stops or its
/// iterations run out; idle while ramped down.
async fn user(ctx: Arc<Context>, index: usize, lowered: Arc<Notify>, mut tickets: Tickets) {
    let mut tally = Tally::new(ctx.sink.clone(), index);
    let mut worker = ctx.worker(index);
    if !tickets.take() {
        ctx.exhausted.fetch_add(1, Ordering::AcqRel);
        return;
    }
    loop {
        while ctx.ramped_down(index) {
            if ctx.over() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(ADJUST_EVERY) => {}
                _ = ctx.ended.cancelled() => return,
            }
        }
        if ctx.over() {
            return;
        }
        let completed = match ctx.ramp_down {
            None => {
                tally.begin();
                let completed = worker.iterate(Instant::now()).await;
                tally.end(completed);
                completed
            }
            Some(grace) => {
                // Listening before the count is read again: a ramp down from here on
                // wakes this user.
                let notified = lowered.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if ctx.ramped_down(index) {
                    continue;
                }
                tally.begin();
                let outcome = {
                    let iteration = worker.iterate(Instant::now());
                    tokio::pin!(iteration);
                    tokio::select! {
                        completed = &mut iteration => Some(completed),
                        _ = &mut notified => {
                            match tokio::time::timeout(grace, &mut iteration).await {
                                Ok(completed) => Some(completed),
                                // Ramped up again meanwhile: no reason to cut it.
                                Err(_) if !ctx.ramped_down(index) => Some(iteration.await),
                                Err(_) => None,
                            }
                        }
                    }
                };
                match outcome {
                    Some(completed) => {
                        tally.end(completed);
                        completed
                    }
                    None => {
                        // Cut mid-request, its connection in an unknown state: the user
                        // starts afresh when it is wanted again.
                        tally.cut();
                        worker = ctx.worker(index);
                        continue;
                    }
                }
            }
        };
        if !completed {
            return;
        }
        if !tickets.take() {
            ctx.exhausted.fetch_add(1, Ordering::AcqRel);
            return;
        }
        // Biased, so that no pause (the common case) costs no wake-up registration.
        tokio::select! {
            biased;
            thought = worker.think() => {
                if !thought {
                    return;
                }
            }
            _ = ctx.ended.cancelled() => return,
        }
    }
}
