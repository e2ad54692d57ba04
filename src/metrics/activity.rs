//! What the load engine sent, per 10 ms slot of the send time: the client half of the
//! evidence that breaker inference and the while-open expectations compare the proxy's
//! tap against.

use crate::series::AtomicSeries;
use std::time::Duration;

const SENT: usize = 0;
const DEGRADED: usize = 1;
const REJECTED: usize = 2;
const MAX_LATENCY_US: usize = 3;
const SHED: usize = 4;
/// Per slot: how early in the slot the first shed request was sent, as `SLOT_US - offset`
/// (0: none), so an atomic maximum keeps the earliest.
const SHED_EARLIEST: usize = 5;
const SLOT_US: u32 = crate::series::SLOT.as_micros() as u32;

/// Lock-free per-slot counts of client requests, shared by every load worker.
#[derive(Debug)]
pub struct ClientActivity {
    series: AtomicSeries,
}

/// How one client request came out, for [`ClientActivity::finished`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    /// Answered with a fallback or from cache.
    pub degraded: bool,
    /// Marked as a fast rejection.
    pub rejected: bool,
    /// Answered without a fresh call to the dependency and not from cache: a fallback or
    /// a rejection (after a failed call, or instead of one).
    pub shed: bool,
}

impl ClientActivity {
    /// Activity counters for a run planned to last `span`.
    pub fn new(span: Duration) -> Self {
        ClientActivity {
            series: AtomicSeries::new(6, span),
        }
    }

    /// Counts a request sent at `sent` that finished after `latency` as `served`.
    pub fn finished(&self, sent: Duration, latency: Duration, served: Served) {
        self.series.add(sent, SENT);
        if served.degraded {
            self.series.add(sent, DEGRADED);
        }
        if served.rejected {
            self.series.add(sent, REJECTED);
        }
        if served.shed {
            self.series.add(sent, SHED);
            let offset = (sent.as_micros() % u128::from(SLOT_US)) as u32;
            self.series.max(sent, SHED_EARLIEST, SLOT_US - offset);
        }
        let micros = latency.as_micros().min(u128::from(u32::MAX)) as u32;
        self.series.max(sent, MAX_LATENCY_US, micros);
    }

    /// A copy of the counts so far.
    pub fn snapshot(&self) -> ClientSeries {
        ClientSeries {
            sent: self.series.column(SENT),
            degraded: self.series.column(DEGRADED),
            rejected: self.series.column(REJECTED),
            max_latency_us: self.series.column(MAX_LATENCY_US),
            shed: self.series.column(SHED),
            shed_earliest: self.series.column(SHED_EARLIEST),
        }
    }
}

/// Client requests per 10 ms slot of their send time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSeries {
    /// Requests sent (and finished, in any way).
    pub sent: Vec<u32>,
    /// Of which answered with a fallback or from cache.
    pub degraded: Vec<u32>,
    /// Of which marked as fast rejections.
    pub rejected: Vec<u32>,
    /// Slowest latency among them, microseconds.
    pub max_latency_us: Vec<u32>,
    /// Of which answered with a fallback (not from cache) or a rejection.
    pub shed: Vec<u32>,
    /// Per slot, when its first shed request was sent (see [`ClientSeries::first_shed_after`]).
    pub shed_earliest: Vec<u32>,
}

impl ClientSeries {
    /// When the first request sent after `at` that the service shed was sent, to the
    /// microsecond: a request sent after the breaker's last admitted call and shed was
    /// rejected, so the breaker was open by then.
    pub fn first_shed_after(&self, at: Duration) -> Option<Duration> {
        let slot = crate::series::SLOT;
        let first = crate::series::slot_of(at);
        self.shed_earliest
            .iter()
            .enumerate()
            .skip(first)
            .filter(|(_, v)| **v > 0)
            .map(|(i, v)| slot * i as u32 + Duration::from_micros(u64::from(SLOT_US - v)))
            .find(|t| *t > at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_send_slot() {
        let a = ClientActivity::new(Duration::from_secs(1));
        let ms = Duration::from_millis;
        a.finished(ms(3), ms(150), Served::default());
        a.finished(
            ms(5),
            ms(2),
            Served {
                degraded: true,
                ..Served::default()
            },
        );
        a.finished(
            ms(21),
            ms(1),
            Served {
                rejected: true,
                shed: true,
                ..Served::default()
            },
        );
        let s = a.snapshot();
        assert_eq!(s.sent, vec![2, 0, 1]);
        assert_eq!(s.degraded, vec![1, 0, 0]);
        assert_eq!(s.rejected, vec![0, 0, 1]);
        assert_eq!(s.max_latency_us, vec![150_000, 0, 1_000]);
        assert_eq!(s.shed, vec![0, 0, 1]);
        assert_eq!(s.first_shed_after(Duration::ZERO), Some(ms(21)));
        assert_eq!(s.first_shed_after(ms(21)), None);
    }
}
