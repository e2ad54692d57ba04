//! The tap channel: the breaker's states inferred from the fault proxy's count of upstream
//! attempts, set against the client's requests. It needs no cooperation from the service.
//!
//! Rules, applied to 10 ms slots (see docs/observe.md):
//! - **closed** from the first upstream attempt;
//! - **open** when, after a failed upstream call, attempts stop for at least `quiet` while at
//!   least `min_client_requests` client requests go on. It is dated at the first failure
//!   answered at or after the last attempt that got through (the call whose failure tripped
//!   the breaker), so in-flight calls that fail after the trip are not counted;
//! - **half_open** at the first attempt after such a quiet period: the probe. This holds
//!   even when the probe succeeds and the breaker closes before the response is written;
//! - **closed** again when a probe succeeds; a failed probe is followed either by another
//!   quiet period (open again) or by traffic that goes on (closed, failing).
//!
//! Resolution: one slot, plus one client request interval for breakers whose half-open is
//! timer-driven (the probe waits for the next request) or that need several probes to close.

use super::{push_state, Transition};
use crate::breaker_state::BreakerState;
use crate::fault::UpstreamSeries;
use crate::metrics::ClientSeries;
use crate::series::SLOT;
use std::time::Duration;

/// What counts as a quiet period (the breaker shielding the upstream).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuietRule {
    /// Shortest gap in upstream attempts.
    pub quiet: Duration,
    /// Fewest client requests sent during the gap.
    pub min_client_requests: u32,
    /// Successful probes after which the breaker counts as closed.
    pub probes_to_close: u32,
}

impl Default for QuietRule {
    fn default() -> Self {
        QuietRule {
            quiet: Duration::from_millis(250),
            min_client_requests: 5,
            probes_to_close: 1,
        }
    }
}

/// The time a slot stands for: its middle, so the error is at most half a slot each way.
pub fn slot_time(slot: usize) -> Duration {
    SLOT * slot as u32 + SLOT / 2
}

/// Infers the breaker's transitions from `upstream` and `client` under `rule`.
pub fn infer(
    upstream: &UpstreamSeries,
    client: &ClientSeries,
    rule: &QuietRule,
) -> Vec<Transition> {
    Inference::new(upstream, client, rule).run()
}

/// Where the walk over the slots stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Walk {
    /// No attempt seen yet.
    Unknown,
    /// Calls go through.
    Closed,
    /// Probes went through after a quiet period; this many succeeded so far.
    Probing(u32),
    /// A probe failed at this slot; what follows decides between open and closed.
    ProbeFailed(usize),
}

struct Inference<'a> {
    up: &'a UpstreamSeries,
    rule: &'a QuietRule,
    /// Client requests sent in slots `0..i`, for any `i`.
    client_before: Vec<u64>,
    slots: usize,
    out: Vec<Transition>,
}

fn at(v: &[u32], i: usize) -> u32 {
    v.get(i).copied().unwrap_or(0)
}

impl<'a> Inference<'a> {
    fn new(up: &'a UpstreamSeries, client: &ClientSeries, rule: &'a QuietRule) -> Self {
        let mut client_before = Vec::with_capacity(client.sent.len() + 1);
        let mut sum = 0u64;
        client_before.push(0);
        for n in &client.sent {
            sum += u64::from(*n);
            client_before.push(sum);
        }
        let slots = up
            .attempts
            .len()
            .max(up.failed.len())
            .max(up.succeeded.len())
            .max(client.sent.len());
        Inference {
            up,
            rule,
            client_before,
            slots,
            out: Vec::new(),
        }
    }

    fn client_between(&self, from: usize, until: usize) -> u64 {
        let sum = |i: usize| self.client_before[i.min(self.client_before.len() - 1)];
        sum(until).saturating_sub(sum(from))
    }

    /// Whether the gap after an attempt in slot `last` up to slot `next` is quiet.
    fn quiet(&self, last: usize, next: usize) -> bool {
        next > last + 1
            && SLOT * (next - last) as u32 >= self.rule.quiet
            && self.client_between(last + 1, next) >= u64::from(self.rule.min_client_requests)
    }

    /// The slot the breaker opened in, given the last attempt before the quiet was in
    /// `last` and the quiet ended at `next`.
    fn open_slot(&self, last: usize, next: usize) -> usize {
        (last..next)
            .find(|&k| at(&self.up.failed, k) > 0)
            .or_else(|| (0..last).rev().find(|&k| at(&self.up.failed, k) > 0))
            .unwrap_or(last)
    }

    fn push(&mut self, slot: usize, state: BreakerState) {
        push_state(&mut self.out, slot_time(slot), state);
    }

    fn run(mut self) -> Vec<Transition> {
        let mut walk = Walk::Unknown;
        let mut last_attempt: Option<usize> = None;
        // Whether the most recent outcome (so far in the walk) was a failure.
        let mut last_failed = false;
        for i in 0..self.slots {
            let attempts = at(&self.up.attempts, i);
            if attempts > 0 {
                let after_quiet = last_attempt.is_some_and(|j| self.quiet(j, i));
                match walk {
                    Walk::Unknown => {
                        self.push(i, BreakerState::Closed);
                        walk = Walk::Closed;
                    }
                    Walk::Closed | Walk::ProbeFailed(_) if after_quiet && last_failed => {
                        let j = last_attempt.unwrap_or(i);
                        let open = self.open_slot(j, i);
                        self.push(open, BreakerState::Open);
                        self.push(i, BreakerState::HalfOpen);
                        walk = Walk::Probing(0);
                    }
                    Walk::ProbeFailed(failed) => {
                        // Calls went on after the failed probe: the breaker let them through.
                        self.push(failed, BreakerState::Closed);
                        walk = Walk::Closed;
                    }
                    Walk::Closed | Walk::Probing(_) => {}
                }
                last_attempt = Some(i);
            }
            let (failed, succeeded) = (at(&self.up.failed, i), at(&self.up.succeeded, i));
            if failed + succeeded > 0 {
                last_failed = failed >= succeeded && failed > 0;
                if let Walk::Probing(ok) = walk {
                    let ok = ok + succeeded;
                    if failed > 0 {
                        walk = Walk::ProbeFailed(i);
                    } else if ok >= self.rule.probes_to_close {
                        self.push(i, BreakerState::Closed);
                        walk = Walk::Closed;
                    } else {
                        walk = Walk::Probing(ok);
                    }
                }
            }
        }
        // The run ended inside a quiet period: the breaker was still open.
        if let Some(j) = last_attempt {
            let end = self.slots;
            let open_at_end = self.quiet(j, end) && last_failed;
            match walk {
                Walk::Closed | Walk::ProbeFailed(_) if open_at_end => {
                    let open = self.open_slot(j, end);
                    self.push(open, BreakerState::Open);
                }
                Walk::ProbeFailed(failed) => self.push(failed, BreakerState::Closed),
                _ => {}
            }
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds series from per-slot events: `(slot, attempts, failed, succeeded)`, with a
    /// client request every other slot (50 per second) for `slots` slots.
    fn series(slots: usize, events: &[(usize, u32, u32, u32)]) -> (UpstreamSeries, ClientSeries) {
        let mut up = UpstreamSeries {
            attempts: vec![0; slots],
            failed: vec![0; slots],
            succeeded: vec![0; slots],
            ..UpstreamSeries::default()
        };
        for &(i, a, f, s) in events {
            up.attempts[i] += a;
            up.failed[i] += f;
            up.succeeded[i] += s;
        }
        let client = ClientSeries {
            sent: (0..slots).map(|i| u32::from(i % 2 == 0)).collect(),
            ..ClientSeries::default()
        };
        (up, client)
    }

    fn states(t: &[Transition]) -> Vec<(u64, BreakerState)> {
        t.iter().map(|t| (t.at.as_millis() as u64, t.to)).collect()
    }

    use BreakerState::*;

    #[test]
    fn a_one_request_half_open_is_seen_as_a_probe() {
        // Calls every 20 ms succeed, then fail from slot 100; the 5th failure (slot 108)
        // trips the breaker; quiet until a probe at slot 300 that succeeds at once.
        let mut ev: Vec<_> = (0..100).step_by(2).map(|i| (i, 1, 0, 1)).collect();
        ev.extend((100..=108).step_by(2).map(|i| (i, 1, 1, 0)));
        ev.push((300, 1, 0, 1));
        ev.extend((302..400).step_by(2).map(|i| (i, 1, 0, 1)));
        let (up, client) = series(400, &ev);
        let t = infer(&up, &client, &QuietRule::default());
        assert_eq!(
            states(&t),
            vec![(5, Closed), (1085, Open), (3005, HalfOpen), (3005, Closed)]
        );
    }

    #[test]
    fn in_flight_failures_after_the_trip_do_not_move_the_open() {
        // Slow failures: attempts start every 2 slots from 100, each fails 15 slots later.
        // The breaker trips at the 5th failure (slot 123); the last attempt got through at
        // slot 122; later answers are in-flight calls failing after the trip.
        let mut ev: Vec<_> = (0..100).step_by(2).map(|i| (i, 1, 0, 1)).collect();
        for i in (100..=122).step_by(2) {
            ev.push((i, 1, 0, 0));
            ev.push((i + 15, 0, 1, 0));
        }
        let (up, client) = series(300, &ev);
        let t = infer(&up, &client, &QuietRule::default());
        assert_eq!(states(&t), vec![(5, Closed), (1235, Open)]);
    }

    #[test]
    fn a_failed_probe_reopens_and_a_later_one_closes() {
        let mut ev: Vec<_> = (0..50).step_by(2).map(|i| (i, 1, 0, 1)).collect();
        ev.extend((50..60).step_by(2).map(|i| (i, 1, 1, 0)));
        ev.push((200, 1, 1, 0)); // probe fails
        ev.push((400, 1, 0, 1)); // probe succeeds
        ev.extend((402..450).step_by(2).map(|i| (i, 1, 0, 1)));
        let (up, client) = series(450, &ev);
        let t = infer(&up, &client, &QuietRule::default());
        assert_eq!(
            states(&t),
            vec![
                (5, Closed),
                (585, Open),
                (2005, HalfOpen),
                (2005, Open),
                (4005, HalfOpen),
                (4005, Closed)
            ]
        );
    }

    #[test]
    fn a_breaker_that_needs_three_probes_closes_after_the_third() {
        let mut ev: Vec<_> = (0..50).step_by(2).map(|i| (i, 1, 0, 1)).collect();
        ev.extend((50..60).step_by(2).map(|i| (i, 1, 1, 0)));
        ev.extend([(200, 1, 0, 1), (202, 1, 0, 1), (204, 1, 0, 1)]);
        ev.extend((206..260).step_by(2).map(|i| (i, 1, 0, 1)));
        let (up, client) = series(260, &ev);
        let rule = QuietRule {
            probes_to_close: 3,
            ..QuietRule::default()
        };
        let t = infer(&up, &client, &rule);
        assert_eq!(
            states(&t),
            vec![(5, Closed), (585, Open), (2005, HalfOpen), (2045, Closed)]
        );
    }

    #[test]
    fn no_breaker_means_no_open_and_a_stuck_breaker_stays_open() {
        // Failures that never stop the calls: closed, failing.
        let ev: Vec<_> = (0..300).step_by(2).map(|i| (i, 1, 1, 0)).collect();
        let (up, client) = series(300, &ev);
        let t = infer(&up, &client, &QuietRule::default());
        assert_eq!(states(&t), vec![(5, Closed)]);
        // Calls stop after failures and never resume.
        let ev: Vec<_> = (0..20).step_by(2).map(|i| (i, 1, 1, 0)).collect();
        let (up, client) = series(300, &ev);
        let t = infer(&up, &client, &QuietRule::default());
        assert_eq!(states(&t), vec![(5, Closed), (185, Open)]);
    }

    #[test]
    fn a_quiet_gap_after_successes_is_not_an_open() {
        // A cache serving everything for a while: no calls, but the last outcome succeeded.
        let mut ev: Vec<_> = (0..20).step_by(2).map(|i| (i, 1, 0, 1)).collect();
        ev.extend((200..220).step_by(2).map(|i| (i, 1, 0, 1)));
        let (up, client) = series(220, &ev);
        let t = infer(&up, &client, &QuietRule::default());
        assert_eq!(states(&t), vec![(5, Closed)]);
    }

    #[test]
    fn without_client_traffic_a_gap_is_not_an_open() {
        let mut ev: Vec<_> = (0..20).step_by(2).map(|i| (i, 1, 1, 0)).collect();
        ev.push((200, 1, 1, 0));
        let (up, mut client) = series(220, &ev);
        client.sent = vec![0; 220];
        let t = infer(&up, &client, &QuietRule::default());
        assert_eq!(states(&t), vec![(5, Closed)]);
    }
}
