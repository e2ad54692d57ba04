//! The open model's timetable: when each request of a phase is due, as a pure function of
//! its arrival rate, so a schedule is tested without a clock.
//!
//! The rate is piecewise linear over the phase (one piece for `constant-arrival-rate`, one
//! per stage for `ramping-arrival-rate`). Request `n` (from 0) is due when the arrivals so
//! far, the integral of the rate, reach `n`: at a constant rate that is `n / rate`, and a
//! phase of `rate × duration` arrivals sends `⌈rate × duration⌉` requests.

use crate::config::RateStage;
use std::time::Duration;

/// A phase's arrival rate over time, and the due times it gives.
#[derive(Debug, Clone)]
pub(super) struct Timetable {
    segments: Vec<Segment>,
}

/// One linear piece of the rate.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Seconds from the phase start.
    start: f64,
    /// Seconds long.
    length: f64,
    /// Requests per second at the start and at the end.
    from: f64,
    to: f64,
    /// Arrivals due before the segment starts.
    before: f64,
}

impl Segment {
    /// Arrivals over the whole segment.
    fn area(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.length
    }

    /// Seconds into the segment at which `a` of its arrivals have come due.
    ///
    /// Solves `from·t + k·t²/2 = a` for the rate's slope `k`, written as
    /// `2a / (from + √(from² + 2ka))`: the same formula for a flat rate (`a / from`), a ramp
    /// up from zero and a ramp down, without the cancellation of the textbook root.
    fn offset_of(&self, a: f64) -> f64 {
        if a <= 0.0 {
            return 0.0;
        }
        let slope = (self.to - self.from) / self.length;
        let root = (self.from * self.from + 2.0 * slope * a).max(0.0).sqrt();
        let denominator = self.from + root;
        if denominator <= 0.0 {
            return self.length;
        }
        (2.0 * a / denominator).clamp(0.0, self.length)
    }
}

impl Timetable {
    /// `rate` requests per second for `duration`.
    pub(super) fn constant(rate: f64, duration: Duration) -> Self {
        Self::ramping(
            rate,
            &[RateStage {
                duration,
                target: rate,
            }],
        )
    }

    /// From `start_rate`, each stage ramping linearly to its target.
    pub(super) fn ramping(start_rate: f64, stages: &[RateStage]) -> Self {
        let mut segments = Vec::with_capacity(stages.len());
        let (mut start, mut from, mut before) = (0.0, start_rate.max(0.0), 0.0);
        for stage in stages {
            let length = stage.duration.as_secs_f64();
            let to = stage.target.max(0.0);
            if length > 0.0 {
                let segment = Segment {
                    start,
                    length,
                    from,
                    to,
                    before,
                };
                before += segment.area();
                segments.push(segment);
            }
            start += length;
            from = to;
        }
        Timetable { segments }
    }

    /// Every request's due time, as an offset from the phase start, in order.
    pub(super) fn arrivals(&self) -> Arrivals<'_> {
        Arrivals {
            table: self,
            segment: 0,
            next: 0,
        }
    }
}

/// The due times of a [`Timetable`], one per request, in order.
#[derive(Debug, Clone)]
pub(super) struct Arrivals<'a> {
    table: &'a Timetable,
    /// The segment the next arrival falls in or after (arrivals only move forward).
    segment: usize,
    /// Index of the next arrival.
    next: u64,
}

impl Iterator for Arrivals<'_> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let n = self.next as f64;
        let segments = &self.table.segments;
        while let Some(s) = segments.get(self.segment) {
            if n < s.before + s.area() {
                self.next += 1;
                let t = s.start + s.offset_of(n - s.before);
                return Some(Duration::from_secs_f64(t));
            }
            self.segment += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(secs: f64, target: f64) -> RateStage {
        RateStage {
            duration: Duration::from_secs_f64(secs),
            target,
        }
    }

    fn secs(table: &Timetable) -> Vec<f64> {
        table.arrivals().map(|d| d.as_secs_f64()).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn a_constant_rate_is_due_every_interval() {
        let due = secs(&Timetable::constant(4.0, Duration::from_secs(1)));
        assert_eq!(due, vec![0.0, 0.25, 0.5, 0.75]);
        // A fraction of an arrival still starts one: 1.5/s for 1 s sends 2.
        assert_eq!(
            Timetable::constant(1.5, Duration::from_secs(1))
                .arrivals()
                .count(),
            2
        );
        // The slowest rate the validator allows.
        let slow = Timetable::constant(0.001, Duration::from_secs(1000));
        assert_eq!(slow.arrivals().count(), 1);
    }

    #[test]
    fn a_ramp_from_zero_sends_its_area_with_quadratic_spacing() {
        // 0 → 200/s over 1 s: 100 requests, the n-th due at √(n/100) s.
        let table = Timetable::ramping(0.0, &[stage(1.0, 200.0)]);
        let due = secs(&table);
        assert_eq!(due.len(), 100);
        for (n, t) in due.iter().enumerate() {
            assert!(close(*t, (n as f64 / 100.0).sqrt()), "{n}: {t}");
        }
        // A quarter of them in the first half.
        assert_eq!(due.iter().filter(|t| **t < 0.5).count(), 25);
    }

    #[test]
    fn a_ramp_down_mirrors_a_ramp_up() {
        let down = secs(&Timetable::ramping(200.0, &[stage(1.0, 0.0)]));
        assert_eq!(down.len(), 100);
        assert_eq!(down[0], 0.0);
        // 75 in the first half, and the gaps widen.
        assert_eq!(down.iter().filter(|t| **t < 0.5).count(), 75);
        let gaps: Vec<f64> = down.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.windows(2).all(|g| g[1] >= g[0] - 1e-9), "{gaps:?}");
        assert!(down.iter().all(|t| *t < 1.0));
    }

    #[test]
    fn stages_follow_each_other_and_idle_stretches_send_nothing() {
        // 10/s for 1 s, nothing for 2 s, then 0 → 20/s over 1 s (10 requests).
        let table = Timetable::ramping(
            10.0,
            &[
                stage(1.0, 10.0),
                stage(0.0, 0.0), // a zero-length stage is a step
                stage(2.0, 0.0),
                stage(1.0, 20.0),
            ],
        );
        let due = secs(&table);
        assert_eq!(due.len(), 20);
        assert!(close(due[9], 0.9));
        assert!(close(due[10], 3.0), "{}", due[10]);
        assert!(due.windows(2).all(|w| w[0] <= w[1]));
        assert!(due.iter().all(|t| *t < 4.0));
    }

    #[test]
    fn a_long_fast_phase_keeps_its_count() {
        // One hour at 1,000/s: f64 offsets keep every arrival in order and inside the phase.
        let table = Timetable::constant(1_000.0, Duration::from_secs(3_600));
        let mut last = Duration::ZERO;
        let mut count = 0u64;
        for t in table.arrivals() {
            assert!(t >= last);
            last = t;
            count += 1;
        }
        assert_eq!(count, 3_600_000);
        assert!(last < Duration::from_secs(3_600));
    }
}
