//! Counting the upstream failures that tripped a breaker, from outside.
//!
//! The proxy's call log orders arrivals and outcomes to the microsecond; the channels that
//! read responses say when the breaker was last seen closed and first seen open. The trip
//! lies between; when more than one failure does, the count is a range, never a guess.

use super::Evidence;
use crate::breaker_state::{BreakerState, Channel};
use crate::series::SLOT;
use std::time::Duration;

/// How many upstream failures tripped the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TripCount {
    /// The count.
    pub(super) count: u64,
    /// Another count the evidence allows equally (calls too close to order).
    pub(super) or_else: Option<u64>,
    /// Where the count starts: just after the last success.
    pub(super) since: Duration,
    /// The failure that tripped the breaker.
    pub(super) at: Duration,
}

/// Two events closer than this at the proxy cannot be ordered as the service saw them (the
/// service's own processing and the hop between it and the proxy).
const RACE: Duration = Duration::from_millis(2);

/// The same for a time taken at the client: add the hop between client and service.
const CLIENT_RACE: Duration = Duration::from_millis(5);

/// Counts the failures that tripped a breaker whose open the tap dated at `open`.
///
/// The trip is a failure that came back after the breaker was last seen closed (the last
/// call it let through, `last`, or a response that still said closed) and before it was first
/// seen open (a response that said open, or a request it shed after `last`), each widened by
/// the time an event takes between proxy, service and client ([`RACE`], [`CLIENT_RACE`]). One
/// candidate gives an exact count; several (calls in flight that failed within that window)
/// give a range. Without either bound, the first failure after `last`.
pub(super) fn trip_count(e: &Evidence, open: Duration) -> TripCount {
    let calls = &e.upstream.calls;
    let logged = e.upstream.calls_complete || calls.last().is_some_and(|(t, _)| *t >= open);
    if !logged {
        return slot_trip_count(e, open);
    }
    use crate::fault::CallEvent::{Attempt, Failed, Succeeded};
    let horizon = open + SLOT;
    let Some(last) = calls
        .iter()
        .rev()
        .find(|(t, k)| *k == Attempt && *t <= horizon)
        .map(|c| c.0)
    else {
        return slot_trip_count(e, open);
    };
    let count_to = |trip: Duration| {
        let since = calls
            .iter()
            .rev()
            .find(|(t, k)| *k == Succeeded && *t < trip)
            .map_or(Duration::ZERO, |c| c.0);
        let n = calls
            .iter()
            .filter(|(t, k)| *k == Failed && *t > since && *t <= trip)
            .count() as u64;
        (n, since)
    };
    // The trip came back after the breaker was last seen closed (the last call let through,
    // or a response that said closed), less RACE for a failure still in transit; and before
    // it was first seen open (a response that said open, or a request shed after `last`).
    let (seen_closed, seen_open) = response_bounds(e, open);
    let from = match seen_closed {
        Some(c) if c.saturating_sub(CLIENT_RACE) > last => c.saturating_sub(CLIENT_RACE),
        _ => last.saturating_sub(RACE),
    };
    let until = [
        e.client
            .first_shed_after(last)
            .map(|shed| shed + CLIENT_RACE),
        seen_open.filter(|o| *o > last),
    ]
    .into_iter()
    .flatten()
    .min();
    let candidates: Vec<Duration> = calls
        .iter()
        .filter(|(t, k)| *k == Failed && *t >= from && until.is_none_or(|u| *t < u))
        .map(|c| c.0)
        .collect();
    let (low_trip, high_trip) = match (candidates.first(), candidates.last(), until) {
        (Some(lo), Some(hi), Some(_)) => (*lo, *hi),
        // Never seen open by anything but the quiet: the first failure after `last`.
        (Some(lo), _, None) => (*lo, *lo),
        // Nothing failed in the window: the failure nearest to it.
        _ => match calls.iter().rev().find(|(t, k)| *k == Failed && *t <= last) {
            Some((t, _)) => (*t, *t),
            None => return slot_trip_count(e, open),
        },
    };
    let (count, since) = count_to(low_trip);
    let (high, _) = count_to(high_trip);
    TripCount {
        count,
        or_else: (high != count).then_some(high),
        since,
        at: low_trip,
    }
}

/// What the channels that read responses saw around an open the tap dated at `open`: when
/// the breaker was last seen closed, and when it was first seen open.
fn response_bounds(e: &Evidence, open: Duration) -> (Option<Duration>, Option<Duration>) {
    let mut closed: Option<Duration> = None;
    let mut opened: Option<Duration> = None;
    for c in e
        .observations
        .channels
        .iter()
        .filter(|c| matches!(c.channel, Channel::Header | Channel::Markers))
    {
        let near = c
            .transitions
            .iter()
            .filter(|t| t.to == BreakerState::Open && t.from == Some(BreakerState::Closed))
            .filter(|t| t.at.abs_diff(open) <= c.resolution + Duration::from_millis(50))
            .min_by_key(|t| t.at.abs_diff(open));
        if let Some(t) = near {
            opened = Some(opened.map_or(t.at, |o| o.min(t.at)));
            if let Some(seen) = t.previous_seen_at {
                closed = Some(closed.map_or(seen, |c| c.max(seen)));
            }
        }
    }
    (closed, opened)
}

/// The same count from the 10 ms slots, when the call log does not reach the open.
fn slot_trip_count(e: &Evidence, at: Duration) -> TripCount {
    let end = crate::series::slot_of(at).min(e.upstream.failed.len().saturating_sub(1));
    let mut count = 0u64;
    let mut start = 0;
    for i in (0..=end).rev() {
        let succeeded = e.upstream.succeeded.get(i).copied().unwrap_or(0);
        let failed = e.upstream.failed.get(i).copied().unwrap_or(0);
        if succeeded > 0 && i < end {
            start = i + 1;
            break;
        }
        count += u64::from(failed);
    }
    TripCount {
        count,
        or_else: None,
        since: SLOT * start as u32,
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::UpstreamSeries;
    use crate::metrics::{ClientSeries, RunMetrics};
    use crate::observe::Observations;

    fn with_calls(calls: &[(u64, crate::fault::CallEvent)]) -> UpstreamSeries {
        UpstreamSeries {
            calls: calls
                .iter()
                .map(|&(us, k)| (Duration::from_micros(us), k))
                .collect(),
            calls_complete: true,
            ..UpstreamSeries::default()
        }
    }

    fn count(up: &UpstreamSeries, open_ms: u64) -> TripCount {
        let obs = Observations::default();
        let e = Evidence {
            metrics: &RunMetrics::default(),
            observations: &obs,
            upstream: up,
            client: &ClientSeries::default(),
            faults: &[],
            witnesses: &[],
            run_end: Duration::from_secs(10),
        };
        trip_count(&e, Duration::from_millis(open_ms))
    }

    #[test]
    fn the_trip_is_the_first_failure_after_the_last_call_let_through() {
        use crate::fault::CallEvent::*;
        // Slow failures: calls every 20 ms fail 150 ms later; the 5th failure (at 230 ms)
        // trips; calls started up to 220 ms fail afterwards, in flight.
        let mut calls = vec![(0, Succeeded)];
        for i in 0..12u64 {
            calls.push((1_000 + i * 20_000, Attempt));
            calls.push((151_000 + i * 20_000, Failed));
        }
        calls.sort();
        let up = with_calls(&calls);
        let trip = count(&up, 235);
        assert_eq!((trip.count, trip.or_else), (5, None), "{trip:?}");
        assert_eq!(trip.at, Duration::from_micros(231_000));
    }

    #[test]
    fn a_call_let_in_while_a_failure_was_being_counted_is_ambiguous() {
        use crate::fault::CallEvent::*;
        // Fast failures every 20 ms; a call arrives 0.3 ms after the 5th failure came back.
        let mut calls = vec![(0, Succeeded)];
        for i in 0..5u64 {
            calls.push((1_000 + i * 20_000, Attempt));
            calls.push((1_500 + i * 20_000, Failed));
        }
        calls.push((81_800, Attempt));
        calls.push((82_300, Failed));
        let up = with_calls(&calls);
        let trip = count(&up, 85);
        assert_eq!(
            (trip.count, trip.or_else),
            (5, None),
            "no shed request seen: {trip:?}"
        );
    }

    #[test]
    fn failures_between_the_last_call_and_the_first_shed_request_make_a_range() {
        use crate::fault::CallEvent::*;
        // The last call got in at 100 ms; failures came back at 100.2, 101.1 and 115.9 ms;
        // the first request the service shed was sent at 116.5 ms.
        let mut calls = vec![(0, Succeeded)];
        for i in 0..8u64 {
            calls.push((1_000 + i * 10_000, Failed));
        }
        calls.extend([
            (100_000, Attempt),
            (100_200, Failed),
            (101_100, Failed),
            (115_900, Failed),
        ]);
        calls.sort();
        let up = with_calls(&calls);
        // The first shed request was sent at 116.5 ms (slot 11, 6.5 ms in).
        let mut shed_earliest = vec![0; 30];
        shed_earliest[11] = 10_000 - 6_500;
        let client = ClientSeries {
            shed_earliest,
            ..ClientSeries::default()
        };
        let obs = Observations::default();
        let e = Evidence {
            metrics: &RunMetrics::default(),
            observations: &obs,
            upstream: &up,
            client: &client,
            faults: &[],
            witnesses: &[],
            run_end: Duration::from_secs(10),
        };
        let trip = trip_count(&e, Duration::from_millis(105));
        assert_eq!((trip.count, trip.or_else), (9, Some(11)), "{trip:?}");
    }
}
