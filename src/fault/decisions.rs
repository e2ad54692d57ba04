//! The decision log: for every request, each rule whose window and match applied, whether
//! it fired, and why (roll against probability, off in its flapping cycle, already answered
//! by an earlier rule).
//!
//! It answers "why did this request get a 503 (or not)?" after the fact. It is a bounded
//! ring sharded by request number, so recording takes one uncontended lock and no global
//! one; entries that fall out of the ring before a reader saw them are counted as dropped.

use super::rules::{RuleOutcome, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Entries a log keeps in all, oldest dropped first.
pub const CAPACITY: usize = 100_000;

/// Independent rings; a request records into the one its number picks.
const SHARDS: usize = 16;

/// Longest path kept per entry (longer ones are cut at a character boundary).
const MAX_PATH: usize = 512;

/// One rule's verdict on one request, as recorded.
#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    at: Duration,
    request: u64,
    connection: u64,
    method: http::Method,
    path: Arc<str>,
    outcome: RuleOutcome,
}

/// One request as the log records it: what every entry about it shares.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// When it arrived, on the session's clock.
    pub at: Duration,
    /// Its number in the session (the roll's counter).
    pub request: u64,
    /// Its connection's number in the session.
    pub connection: u64,
    /// Its method.
    pub method: http::Method,
    /// Its path, without the query.
    pub path: Arc<str>,
}

impl LoggedRequest {
    /// A request's shared fields, with its path cut to a bounded length.
    pub fn new(
        at: Duration,
        (request, connection): (u64, u64),
        method: &http::Method,
        path: &str,
    ) -> Self {
        let mut end = path.len().min(MAX_PATH);
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        LoggedRequest {
            at,
            request,
            connection,
            method: method.clone(),
            path: Arc::from(&path[..end]),
        }
    }
}

/// A bounded, sharded log of rule decisions.
#[derive(Debug)]
pub struct DecisionLog {
    /// The next sequence number; only taken while holding a shard's lock, so a reader
    /// holding every shard sees every numbered entry.
    next: AtomicU64,
    shards: Box<[Mutex<VecDeque<Entry>>]>,
    per_shard: usize,
}

impl Default for DecisionLog {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

/// One page of the log, as `GET /http-proxies/{name}/decisions` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionPage {
    /// The `since` to ask for the page after this one.
    pub next: u64,
    /// Entries in `[since, next)` that fell out of the log before being read.
    pub dropped: u64,
    /// The entries, in sequence order.
    pub decisions: Vec<DecisionRecord>,
}

/// One rule's verdict on one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Position in the log, from 0 for each installed session.
    pub seq: u64,
    /// When the request arrived, milliseconds (microsecond precision) on the session clock.
    pub at_ms: f64,
    /// The request's number in the session.
    pub request: u64,
    /// Its connection's number in the session.
    pub connection: u64,
    /// Its method.
    pub method: String,
    /// Its path, without the query.
    pub path: String,
    /// The rule's id.
    pub rule: usize,
    /// The rule's fault kind.
    pub kind: String,
    /// The roll, in `[0, 1)`; the fault fires when it is under `probability`.
    pub roll: f64,
    /// The rule's probability at that moment.
    pub probability: f64,
    /// Whether the fault changed the request.
    pub injected: bool,
    /// Why, in words.
    pub reason: String,
}

impl DecisionLog {
    /// A log keeping about `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        DecisionLog {
            next: AtomicU64::new(0),
            shards: (0..SHARDS).map(|_| Mutex::new(VecDeque::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// Records `outcome` of one rule on `request`.
    pub fn record(&self, request: &LoggedRequest, outcome: RuleOutcome) {
        let shard = &self.shards[(request.request % SHARDS as u64) as usize];
        let mut ring = shard.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() >= self.per_shard {
            ring.pop_front();
        }
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        ring.push_back(Entry {
            seq,
            at: request.at,
            request: request.request,
            connection: request.connection,
            method: request.method.clone(),
            path: request.path.clone(),
            outcome,
        });
    }

    /// Up to `limit` entries from `since` on, in order, and how many of the ones in
    /// between were dropped.
    pub fn page(&self, since: u64, limit: usize) -> DecisionPage {
        let guards: Vec<_> = self
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()))
            .collect();
        let next = self.next.load(Ordering::Relaxed);
        let mut entries: Vec<&Entry> = guards
            .iter()
            .flat_map(|ring| ring.iter().filter(|e| e.seq >= since))
            .collect();
        entries.sort_unstable_by_key(|e| e.seq);
        entries.truncate(limit);
        let end = match entries.last() {
            Some(last) if entries.len() == limit => last.seq + 1,
            _ => next.max(since),
        };
        let dropped = (end - since.min(end)).saturating_sub(entries.len() as u64);
        DecisionPage {
            next: end,
            dropped,
            decisions: entries.into_iter().map(Entry::to_record).collect(),
        }
    }
}

impl Entry {
    fn to_record(&self) -> DecisionRecord {
        let o = &self.outcome;
        DecisionRecord {
            seq: self.seq,
            at_ms: (self.at.as_secs_f64() * 1e6).round() / 1e3,
            request: self.request,
            connection: self.connection,
            method: self.method.to_string(),
            path: self.path.to_string(),
            rule: o.id,
            kind: o.kind.to_string(),
            roll: o.roll,
            probability: o.probability,
            injected: o.verdict == Verdict::Injected,
            reason: reason(o, self.at),
        }
    }
}

/// The verdict in words, e.g. `rule 0 (status): roll 0.1234 < probability 0.5000 at
/// 12.345 s`.
pub fn reason(o: &RuleOutcome, at: Duration) -> String {
    let (id, kind, roll, p) = (o.id, o.kind, o.roll, o.probability);
    let at = at.as_secs_f64();
    match o.verdict {
        Verdict::Injected => {
            format!("rule {id} ({kind}): roll {roll:.4} < probability {p:.4} at {at:.3} s")
        }
        Verdict::RollMissed => format!(
            "rule {id} ({kind}): roll {roll:.4} >= probability {p:.4} at {at:.3} s: not injected"
        ),
        Verdict::CycleOff => {
            format!("rule {id} ({kind}): off in its flapping cycle at {at:.3} s: not injected")
        }
        Verdict::AlreadyAnswered(by) => format!(
            "rule {id} ({kind}): roll {roll:.4} < probability {p:.4} at {at:.3} s, but already answered by rule {by}: not injected"
        ),
        Verdict::NoEffect => format!(
            "rule {id} ({kind}): roll {roll:.4} < probability {p:.4} at {at:.3} s, but it had nothing left to change: not injected"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(id: usize, verdict: Verdict) -> RuleOutcome {
        RuleOutcome {
            id,
            kind: "status",
            roll: 0.25,
            probability: 0.5,
            verdict,
        }
    }

    fn request(n: u64) -> LoggedRequest {
        LoggedRequest::new(
            Duration::from_millis(n),
            (n, 0),
            &http::Method::GET,
            "/item/1",
        )
    }

    #[test]
    fn pages_in_order_and_counts_what_fell_out() {
        let log = DecisionLog::with_capacity(32);
        for n in 0..100 {
            log.record(&request(n), outcome(0, Verdict::Injected));
        }
        let page = log.page(0, 1000);
        assert_eq!(page.next, 100);
        assert_eq!(page.decisions.len(), 32, "two per shard kept");
        assert_eq!(page.dropped, 68);
        assert!(page.decisions.windows(2).all(|w| w[0].seq < w[1].seq));
        let page = log.page(96, 2);
        assert_eq!(
            page.decisions.iter().map(|d| d.seq).collect::<Vec<_>>(),
            vec![96, 97]
        );
        assert_eq!((page.next, page.dropped), (98, 0));
        let page = log.page(100, 10);
        assert_eq!((page.next, page.dropped, page.decisions.len()), (100, 0, 0));
    }

    #[test]
    fn reasons_say_why() {
        let at = Duration::from_millis(12_345);
        assert_eq!(
            reason(&outcome(0, Verdict::Injected), at),
            "rule 0 (status): roll 0.2500 < probability 0.5000 at 12.345 s"
        );
        assert!(reason(&outcome(1, Verdict::AlreadyAnswered(0)), at)
            .contains("already answered by rule 0"));
        assert!(reason(&outcome(1, Verdict::CycleOff), at).contains("off in its flapping cycle"));
        assert!(reason(&outcome(1, Verdict::RollMissed), at).contains(">= probability"));
    }

    #[test]
    fn long_paths_are_cut_at_a_character_boundary() {
        let path = "é".repeat(MAX_PATH);
        let r = LoggedRequest::new(Duration::ZERO, (0, 0), &http::Method::GET, &path);
        assert!(r.path.len() <= MAX_PATH && r.path.len() >= MAX_PATH - 1);
    }
}
