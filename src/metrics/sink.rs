//! Where a phase's workers record: a few lock-sharded [`Recorder`]s shared by all of them.
//!
//! A recorder holds two HDR histograms per request group (~136 KiB each at 1 µs–60 s and
//! 3 digits). Giving every worker its own made memory grow with the worker count (3 GB at
//! 10,000 virtual users); sharding by worker keeps it to a handful of recorders whatever the
//! count, while two workers rarely contend for the same lock.

use super::{CheckTally, Recorder, Sample};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Most recorders one sink holds (two per core, for cores beyond 32 too).
pub const MAX_SHARDS: usize = 64;

/// A phase's shared recording point; cheap to record into from many tasks at once.
#[derive(Debug)]
pub struct PhaseSink {
    shards: Box<[Mutex<Recorder>]>,
}

impl PhaseSink {
    /// A sink for `groups` request groups, with one shard per expected concurrent writer.
    pub fn new(groups: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let shards = (cores * 2).clamp(2, MAX_SHARDS);
        PhaseSink {
            shards: (0..shards)
                .map(|_| Mutex::new(Recorder::new(groups)))
                .collect(),
        }
    }

    /// Records `sample` for request group `group`; `worker` picks the shard.
    pub fn record(&self, worker: usize, group: usize, sample: &Sample) {
        self.with_shard(worker, |r| r.record(group, sample));
    }

    /// Records `sample` and the response's `checks` for cell `group` under one lock.
    pub fn record_checked(&self, worker: usize, group: usize, sample: &Sample, checks: CheckTally) {
        self.with_shard(worker, |r| {
            r.record(group, sample);
            if let Some(g) = r.groups.get_mut(group) {
                g.record_checks(checks);
            }
        });
    }

    /// Counts a request of cell `group` that was not sent, for `reason`.
    pub fn skipped(&self, worker: usize, group: usize, reason: &str) {
        self.with_shard(worker, |r| {
            if let Some(g) = r.groups.get_mut(group) {
                g.record_skip(reason);
            }
        });
    }

    /// Counts a capture, `name`, of a cell-`group` request that found nothing.
    pub fn capture_missed(&self, worker: usize, group: usize, name: &str) {
        self.with_shard(worker, |r| {
            if let Some(g) = r.groups.get_mut(group) {
                g.record_capture_miss(name);
            }
        });
    }

    /// Adds `dropped` requests that were due but could not start.
    pub fn dropped(&self, dropped: u64) {
        self.with_shard(0, |r| r.dropped += dropped);
    }

    /// Adds one worker's counts, kept by the worker and handed over when it ends: the
    /// iterations it finished, the ones cut short, the requests it found too late to send.
    pub fn tally(&self, worker: usize, iterations: u64, interrupted: u64, dropped: u64) {
        self.with_shard(worker, |r| {
            r.iterations += iterations;
            r.interrupted += interrupted;
            r.dropped += dropped;
        });
    }

    /// Notes that the phase ran all its iterations `at` into the phase.
    pub fn finished(&self, at: Duration) {
        self.with_shard(0, |r| r.finished = Some(at));
    }

    /// Notes that `vus` workers were alive at once (the most is kept).
    pub fn peak_vus(&self, vus: usize) {
        self.with_shard(0, |r| r.peak_vus = r.peak_vus.max(vus));
    }

    /// Counts a worker that ended in a panic.
    pub fn crashed(&self) {
        self.with_shard(0, |r| r.crashed_workers += 1);
    }

    fn with_shard(&self, worker: usize, f: impl FnOnce(&mut Recorder)) {
        let shard = &self.shards[worker % self.shards.len()];
        // A panic while holding the lock leaves counts that are still counts.
        f(&mut shard.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Everything recorded, merged into one recorder.
    pub fn merged(&self) -> Recorder {
        let mut shards = self.shards.iter();
        let mut all = match shards.next() {
            Some(first) => first.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            None => return Recorder::new(0),
        };
        for shard in shards {
            all.merge(&shard.lock().unwrap_or_else(PoisonError::into_inner));
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Outcome;

    #[test]
    fn shards_merge_into_the_same_counts() {
        let sink = PhaseSink::new(2);
        for worker in 0..100 {
            let sample = Sample {
                at: Duration::from_millis(worker as u64 * 20),
                latency: Duration::from_millis(5),
                service: Duration::from_millis(5),
                outcome: Outcome::Status(if worker % 10 == 0 { 503 } else { 200 }),
                markers: Default::default(),
                expected_interval: None,
            };
            sink.record(worker, worker % 2, &sample);
        }
        sink.dropped(3);
        sink.tally(7, 40, 2, 1);
        sink.tally(8, 60, 0, 0);
        sink.finished(Duration::from_secs(2));
        let all = sink.merged();
        assert_eq!((all.iterations, all.interrupted), (100, 2));
        assert_eq!(all.finished, Some(Duration::from_secs(2)));
        assert_eq!(all.total().requests, 100);
        assert_eq!(all.total().errors, 10);
        assert_eq!(all.groups[1].requests, 50);
        assert_eq!(all.dropped, 4);
        assert_eq!(all.seconds.iter().map(|s| s.requests).sum::<u64>(), 100);
    }
}
