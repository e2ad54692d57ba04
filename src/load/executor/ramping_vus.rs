//! `ramping-vus` (closed model): virtual users loop request → think time, their number
//! following linear stages.

use super::super::worker::Worker;
use super::super::Shared;
use crate::config::Stage;
use crate::metrics::PhaseSink;
use crate::plan::PlannedPhase;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Runs the phase's virtual users until it ends or the run stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    phase: PlannedPhase,
    sink: Arc<PhaseSink>,
    start_vus: usize,
    stages: Vec<Stage>,
    think_time: crate::config::ThinkTime,
) {
    let phase_start = shared.epoch + phase.start;
    let phase_end = shared.epoch + phase.end();
    let desired = Arc::new(AtomicUsize::new(start_vus));
    let mut workers = JoinSet::new();
    let mut spawned = 0usize;
    loop {
        let now = Instant::now();
        if now >= phase_end || shared.stop.is_cancelled() {
            break;
        }
        let want = vus_at(
            start_vus,
            &stages,
            now.saturating_duration_since(phase_start),
        );
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
                        tokio::time::sleep(Duration::from_millis(50)).await;
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
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = shared.stop.cancelled() => break,
        }
    }
    super::join_all(workers, &sink).await;
}

/// Virtual users wanted `elapsed` into a phase ramping from `start_vus` through `stages`.
fn vus_at(start_vus: usize, stages: &[Stage], elapsed: Duration) -> usize {
    let mut from = start_vus as f64;
    let mut stage_start = Duration::ZERO;
    for stage in stages {
        let stage_end = stage_start + stage.duration;
        if elapsed < stage_end {
            let progress = (elapsed - stage_start).as_secs_f64() / stage.duration.as_secs_f64();
            return (from + (stage.target as f64 - from) * progress).round() as usize;
        }
        from = stage.target as f64;
        stage_start = stage_end;
    }
    from as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vus_ramp_linearly_between_stages() {
        let s = |secs, target| Stage {
            duration: Duration::from_secs(secs),
            target,
        };
        let stages = [s(10, 10), s(10, 10), s(5, 0)];
        let at = |ms| vus_at(0, &stages, Duration::from_millis(ms));
        assert_eq!(at(0), 0);
        assert_eq!(at(5_000), 5);
        assert_eq!(at(15_000), 10);
        assert_eq!(at(22_500), 5);
        assert_eq!(at(60_000), 0);
        assert_eq!(vus_at(4, &[s(4, 0)], Duration::from_secs(1)), 3);
    }
}
