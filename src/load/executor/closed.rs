//! The closed model shared by the virtual-user executors: each virtual user loops
//! iteration → think time on its own connection, so the load it makes slows down when the
//! target does. Latency is measured from the send.

use super::super::worker::Worker;
use super::super::Shared;
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How often the number of virtual users is brought to what the schedule wants.
const ADJUST_EVERY: Duration = Duration::from_millis(50);

/// Runs the phase's virtual users until it ends or the run stops; `wanted(elapsed)` says
/// how many should be working that far into the phase.
///
/// Users are started as the count rises. When it falls, the highest-numbered users finish
/// their iteration and idle (keeping their connection) until it rises again.
pub(super) async fn run(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    sink: Arc<PhaseSink>,
    think_time: Duration,
    wanted: impl Fn(Duration) -> usize,
) {
    let phase_start = shared.epoch + phase.start;
    let phase_end = shared.epoch + phase.end();
    let desired = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    let mut spawned = 0usize;
    loop {
        let now = Instant::now();
        if now >= phase_end || shared.stop.is_cancelled() {
            break;
        }
        let want = wanted(now.saturating_duration_since(phase_start));
        desired.store(want, Ordering::Relaxed);
        while spawned < want {
            let mut worker = Worker::new(
                shared.clone(),
                phase.index,
                spawned,
                sink.clone(),
                think_time,
            );
            let index = spawned;
            let desired = desired.clone();
            let stop = shared.stop.clone();
            workers.spawn(async move {
                while Instant::now() < phase_end && !stop.is_cancelled() {
                    if index >= desired.load(Ordering::Relaxed) {
                        // Ramped down: idle until ramped up again or the phase ends.
                        tokio::time::sleep(ADJUST_EVERY).await;
                        continue;
                    }
                    if !worker.iterate(Instant::now()).await || !worker.think().await {
                        break;
                    }
                }
            });
            spawned += 1;
        }
        tokio::select! {
            _ = tokio::time::sleep(ADJUST_EVERY) => {}
            _ = shared.stop.cancelled() => break,
        }
    }
    super::join_all(workers, &sink).await;
}
