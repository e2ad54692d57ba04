//! The tap: the proxy's own count of what passed upstream and what it injected, per 100 ms.
//!
//! It needs no cooperation from the service under test, so it is the witness that a
//! scheduled fault really fired, and (in later work) the black-box view of the breaker:
//! when the breaker opens, upstream attempts collapse while client requests go on.

use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;

/// Width of one tap bucket.
pub const BUCKET: Duration = Duration::from_millis(100);

/// Counts for one 100 ms bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
}

/// A thread-safe, growing series of tap buckets.
#[derive(Debug)]
pub struct Tap {
    faults: usize,
    buckets: Mutex<Vec<TapBucket>>,
}

impl Tap {
    /// A tap for a schedule of `faults` entries.
    pub fn new(faults: usize) -> Self {
        Tap {
            faults,
            buckets: Mutex::new(Vec::new()),
        }
    }

    fn with_bucket(&self, at: Duration, f: impl FnOnce(&mut TapBucket)) {
        let index = (at.as_millis() / BUCKET.as_millis()) as usize;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        while buckets.len() <= index {
            let at_ms = (buckets.len() as u64) * BUCKET.as_millis() as u64;
            buckets.push(TapBucket {
                at_ms,
                injected: vec![0; self.faults],
                ..TapBucket::default()
            });
        }
        f(&mut buckets[index]);
    }

    /// Counts a request arriving at the proxy.
    pub fn received(&self, at: Duration) {
        self.with_bucket(at, |b| b.received += 1);
    }

    /// Counts one injection of scheduled fault `id`.
    pub fn injected(&self, at: Duration, id: usize) {
        self.with_bucket(at, |b| {
            if let Some(n) = b.injected.get_mut(id) {
                *n += 1;
            }
        });
    }

    /// Counts a request sent upstream.
    pub fn forwarded(&self, at: Duration) {
        self.with_bucket(at, |b| b.forwarded += 1);
    }

    /// Counts how the upstream answered a forwarded request.
    pub fn answered(&self, at: Duration, outcome: UpstreamOutcome) {
        self.with_bucket(at, |b| match outcome {
            UpstreamOutcome::Status(s) if s >= 500 => b.upstream_5xx += 1,
            UpstreamOutcome::Status(s) if s >= 400 => b.upstream_4xx += 1,
            UpstreamOutcome::Status(_) => b.upstream_ok += 1,
            UpstreamOutcome::Error => b.upstream_errors += 1,
        });
    }

    /// A copy of every bucket so far.
    pub fn snapshot(&self) -> Vec<TapBucket> {
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_100ms_bucket() {
        let tap = Tap::new(2);
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
    }
}
