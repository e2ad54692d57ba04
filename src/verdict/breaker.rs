//! Breaker expectations, judged on the best-estimate timeline and the tap's counts.

use super::channels;
use super::trip::trip_count;
use super::{ms, secs, Evidence, Status, Unit, Verdict};
use crate::breaker_state::{BreakerState, Channel};
use crate::config::BreakerExpectations;
use crate::observe::BestTransition;
use crate::series::sum;
use crate::series::SLOT;
use std::time::Duration;

/// A stretch of the best timeline in one state.
#[derive(Debug, Clone, Copy)]
struct Period {
    state: BreakerState,
    from: Duration,
    until: Duration,
    /// Resolution of the transitions that start and end it.
    from_res: Duration,
    until_res: Duration,
}

impl Period {
    /// The part of the period that is surely inside it: each edge moved in by its
    /// resolution (at least one slot at the start, where the triggering call itself lands).
    fn core(&self) -> (Duration, Duration) {
        (
            self.from + self.from_res.max(SLOT),
            self.until.saturating_sub(self.until_res),
        )
    }
}

fn periods(best: &[BestTransition], end: Duration) -> Vec<Period> {
    best.iter()
        .enumerate()
        .map(|(i, t)| {
            let next = best.get(i + 1);
            Period {
                state: t.to,
                from: t.at,
                until: next.map_or(end, |n| n.at),
                from_res: t.resolution,
                until_res: next.map_or(Duration::ZERO, |n| n.resolution),
            }
        })
        .collect()
}

fn join_states(states: &[BreakerState]) -> String {
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" → ")
}

/// How many times in a row `wanted` occurs as a subsequence of `seen`.
fn times_matched(wanted: &[BreakerState], seen: &[BreakerState], most: u32) -> u32 {
    let mut seen = seen.iter().peekable();
    let mut count = 0;
    while count < most {
        // A repeat shares its first state with the previous one's last (closed → … → closed).
        let pattern = if count > 0 && wanted.first() == wanted.last() && wanted.len() > 1 {
            &wanted[1..]
        } else {
            wanted
        };
        if pattern.iter().all(|w| seen.any(|s| s == w)) {
            count += 1;
        } else {
            break;
        }
    }
    count
}

fn channels_of(best: &[BestTransition]) -> String {
    let mut used: Vec<Channel> = best.iter().map(|t| t.channel).collect();
    used.sort();
    used.dedup();
    used.iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Judges the breaker expectations.
pub(super) fn judge(b: &BreakerExpectations, e: &Evidence) -> Vec<Verdict> {
    let obs = e.observations;
    let best = &obs.best;
    let states: Vec<BreakerState> = best.iter().map(|t| t.to).collect();
    let periods = periods(best, e.run_end);
    let mut verdicts = Vec::new();

    verdicts.extend(channels::silent(obs));

    if !b.sequence.is_empty() {
        let matched = times_matched(&b.sequence, &states, b.repeat);
        let mut expected = join_states(&b.sequence);
        if b.repeat > 1 {
            expected = format!("{expected}, {} times", b.repeat);
        }
        let measured = if states.is_empty() {
            "no breaker state observed".to_string()
        } else {
            let mut m = format!("{} ({})", join_states(&states), channels_of(best));
            if b.repeat > 1 {
                m += &format!(", matched {matched} of {}", b.repeat);
            }
            m
        };
        verdicts.push(
            Verdict::holds("breaker sequence", expected, measured, matched >= b.repeat).with_value(
                Some(f64::from(matched)),
                Some(f64::from(b.repeat)),
                Unit::Count,
            ),
        );
    }

    // Where "opens within" counts from: the first injected failure, or a named fault.
    let (reference, reference_name) = open_reference(b, e);
    let first_open = best.iter().find(|t| {
        t.to == BreakerState::Open
            && reference.is_none_or(|r| t.at >= r.saturating_sub(t.resolution))
    });

    if let Some(range) = b.opens_after {
        let expected = if range.min == range.max {
            format!("{} upstream failures", range.min)
        } else {
            format!("{} to {} upstream failures", range.min, range.max)
        };
        let verdict = match first_open {
            None => Verdict::holds(
                "breaker opens after N upstream failures",
                expected,
                "never opened",
                false,
            )
            .with_value(None, Some(range.max as f64), Unit::Count),
            Some(open) => {
                let at = tap_time(e, open, BreakerState::Open);
                let trip = trip_count(e, at);
                let holds = |n: u64| (range.min..=range.max).contains(&n);
                let (measured, status) = match trip.or_else {
                    None => (
                        format!("opened after {} upstream failures", trip.count),
                        if holds(trip.count) {
                            Status::Pass
                        } else {
                            Status::Fail
                        },
                    ),
                    Some(high) => {
                        let all = (trip.count..=high).all(holds);
                        let any = (trip.count..=high).any(holds);
                        (
                            format!("opened after {} to {high} upstream failures", trip.count),
                            if all {
                                Status::Pass
                            } else if any {
                                Status::Warn
                            } else {
                                Status::Fail
                            },
                        )
                    }
                };
                let mut evidence = vec![format!(
                    "failures the proxy saw after the last success ({}) up to the one that tripped the breaker ({})",
                    secs(trip.since),
                    secs(trip.at)
                )];
                if trip.or_else.is_some() {
                    evidence.push(
                        "calls still in flight failed between the last call let through and the first request the service shed: which of them tripped the breaker cannot be told from outside (a higher request rate narrows it)".into(),
                    );
                }
                Verdict::new(
                    "breaker opens after N upstream failures",
                    expected,
                    measured,
                    status,
                )
                .with_value(Some(trip.count as f64), Some(range.max as f64), Unit::Count)
                .with_evidence(evidence)
            }
        };
        verdicts.push(verdict);
    }

    if let Some(bound) = b.opens_within {
        let criterion = format!("breaker opens after {reference_name}");
        let (measured, holds, value) = match (reference, first_open) {
            (None, _) => (format!("no {reference_name} in the run"), false, None),
            (Some(_), None) => (format!("never opened after {reference_name}"), false, None),
            (Some(r), Some(o)) => {
                let took = o.at.saturating_sub(r);
                (
                    format!(
                        "opened {} after it ({}, ±{})",
                        secs(took),
                        o.channel,
                        ms(o.resolution)
                    ),
                    took <= bound,
                    Some(took),
                )
            }
        };
        let mut v = Verdict::holds(
            criterion,
            format!("within {}", secs(bound)),
            measured,
            holds,
        )
        .with_duration(value, Some(bound), Unit::S);
        if let Some(r) = reference {
            v.evidence.push(format!("{reference_name} at {}", secs(r)));
        }
        verdicts.push(v);
    }

    if let Some(wait) = b.half_open_after {
        let half_open = first_open.and_then(|o| {
            best.iter()
                .find(|t| t.to == BreakerState::HalfOpen && t.at >= o.at)
                .map(|t| (t.at - o.at, t))
        });
        let (measured, holds, value) = match (first_open, half_open) {
            (None, _) => ("never opened".to_string(), false, None),
            (Some(_), None) => ("never half-open after opening".to_string(), false, None),
            (Some(_), Some((took, t))) => (
                format!(
                    "half-open {} after opening ({}, ±{})",
                    secs(took),
                    t.channel,
                    ms(t.resolution)
                ),
                took.abs_diff(wait) <= b.tolerance,
                Some(took),
            ),
        };
        verdicts.push(
            Verdict::holds(
                "breaker half-opens after the open duration",
                format!("{} ± {}", secs(wait), secs(b.tolerance)),
                measured,
                holds,
            )
            .with_duration(value, Some(wait), Unit::S),
        );
    }

    if let Some(bound) = b.closes_within {
        let faults_end = e.faults.iter().map(|f| f.until.min(e.run_end)).max();
        let (measured, holds, value) = match faults_end {
            None => ("no fault window in the run".to_string(), false, None),
            Some(end) => {
                let last_open = best
                    .iter()
                    .rev()
                    .find(|t| t.to == BreakerState::Open)
                    .map(|t| t.at);
                let state_at_end = best.iter().take_while(|t| t.at <= end).last().map(|t| t.to);
                let closed = best.iter().find(|t| {
                    t.to == BreakerState::Closed
                        && t.at >= end
                        && last_open.is_none_or(|o| t.at >= o)
                });
                match (state_at_end, closed) {
                    (Some(BreakerState::Closed), _) if last_open.is_none_or(|o| o <= end) => (
                        "already closed when the faults ended".to_string(),
                        true,
                        Some(Duration::ZERO),
                    ),
                    (_, Some(c)) => {
                        let took = c.at - end;
                        (
                            format!(
                                "closed {} after the faults ended ({})",
                                secs(took),
                                c.channel
                            ),
                            took <= bound,
                            Some(took),
                        )
                    }
                    (_, None) => (
                        "not closed again before the run ended".to_string(),
                        false,
                        None,
                    ),
                }
            }
        };
        verdicts.push(
            Verdict::holds(
                "breaker closes after the faults end",
                format!("within {}", secs(bound)),
                measured,
                holds,
            )
            .with_duration(value, Some(bound), Unit::S),
        );
    }

    let open_periods: Vec<&Period> = periods
        .iter()
        .filter(|p| p.state == BreakerState::Open)
        .collect();

    if let Some(r) = b.rejects_while_open {
        let mut worst_attempts = 0u64;
        let mut worst_latency = 0u32;
        let mut open_time = Duration::ZERO;
        let mut evidence = Vec::new();
        for p in &open_periods {
            let (from, until) = p.core();
            let attempts = sum(&e.upstream.attempts, from, until);
            let latency = max_in(&e.client.max_latency_us, from, until);
            let sent = sum(&e.client.sent, from, until);
            worst_attempts = worst_attempts.max(attempts);
            worst_latency = worst_latency.max(latency);
            open_time += until.saturating_sub(from);
            evidence.push(format!(
                "open {}–{}: {attempts} upstream attempts for {sent} client requests, slowest {}",
                secs(p.from),
                secs(p.until),
                ms(Duration::from_micros(u64::from(latency)))
            ));
        }
        let mut expected = format!("<= {} upstream attempts per open period", r.allowed_probes);
        if let Some(bound) = r.max_latency {
            expected += &format!(", client latency <= {}", ms(bound));
        }
        let latency = Duration::from_micros(u64::from(worst_latency));
        let (measured, holds) = if open_periods.is_empty() {
            ("never open".to_string(), false)
        } else {
            (
                format!(
                    "at most {worst_attempts} attempts, slowest {} ({} periods, {} open)",
                    ms(latency),
                    open_periods.len(),
                    secs(open_time)
                ),
                worst_attempts <= r.allowed_probes && r.max_latency.is_none_or(|b| latency <= b),
            )
        };
        verdicts.push(
            Verdict::holds(
                "breaker rejects calls while open",
                expected,
                measured,
                holds,
            )
            .with_value(
                (!open_periods.is_empty()).then_some(worst_attempts as f64),
                Some(r.allowed_probes as f64),
                Unit::Count,
            )
            .with_evidence(evidence),
        );
    }

    if let Some(most) = b.max_half_open_probes {
        // Probes of a half-open episode: attempts from the end of the open's first slot to
        // the end of the half-open (the open part has none when the breaker works, so a
        // half-open seen late, at the probe's response, still counts its probe).
        let mut worst = None::<u64>;
        let mut evidence = Vec::new();
        for (i, p) in periods
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == BreakerState::HalfOpen)
        {
            let start = match i.checked_sub(1).map(|j| &periods[j]) {
                Some(prev) if prev.state == BreakerState::Open => prev.from + SLOT,
                _ => p.from,
            };
            // The attempts are the tap's, so its own half-open period bounds them when it saw
            // one here: a coarser channel's later "closed" would count ordinary calls.
            let until = tap_period_end(e, p).unwrap_or(p.until);
            let probes = sum(&e.upstream.attempts, start, until + SLOT);
            worst = Some(worst.unwrap_or(0).max(probes));
            evidence.push(format!(
                "half-open {}–{}: {probes} upstream attempts",
                secs(p.from),
                secs(p.until)
            ));
        }
        let (measured, holds) = match worst {
            None => ("never half-open".to_string(), false),
            Some(n) => (format!("at most {n} probes per half-open"), n <= most),
        };
        verdicts.push(
            Verdict::holds(
                "breaker limits half-open probes",
                format!("<= {most} upstream attempts"),
                measured,
                holds,
            )
            .with_value(worst.map(|n| n as f64), Some(most as f64), Unit::Count)
            .with_evidence(evidence),
        );
    }

    if b.fallback_while_open {
        let (mut sent, mut degraded, mut rejected) = (0u64, 0u64, 0u64);
        for p in &open_periods {
            let (from, until) = p.core();
            sent += sum(&e.client.sent, from, until);
            degraded += sum(&e.client.degraded, from, until);
            rejected += sum(&e.client.rejected, from, until);
        }
        let plain = (sent > 0).then(|| (sent - degraded) as f64);
        let (measured, holds) = if open_periods.is_empty() {
            ("never open".to_string(), false)
        } else if sent == 0 {
            ("no request was sent while open".to_string(), false)
        } else {
            let plain = sent - degraded;
            let mut m = format!(
                "{plain} of {sent} requests sent while open were neither fallback nor cache hit"
            );
            if rejected > 0 {
                m += &format!(" ({rejected} fast rejections)");
            }
            (m, plain == 0)
        };
        verdicts.push(
            Verdict::holds(
                "responses while open are fallbacks",
                "every open response is a fallback or cache hit",
                measured,
                holds,
            )
            .with_value(plain, Some(0.0), Unit::Count),
        );
    }

    if b.closed_at_end {
        let last = best.last();
        verdicts.push(Verdict::holds(
            "breaker closed at the end",
            "closed",
            last.map(|t| format!("{} ({})", t.to, t.channel))
                .unwrap_or_else(|| "no breaker state observed".into()),
            last.is_some_and(|t| t.to == BreakerState::Closed),
        ));
    }

    verdicts.extend(channels::agreement(b.channels_agree, obs));
    verdicts
}

/// The instant "opens within" counts from, and its name in the report.
fn open_reference(b: &BreakerExpectations, e: &Evidence) -> (Option<Duration>, String) {
    if let Some(profile) = &b.opens_from {
        let of_profile = e.faults.iter().filter(|f| &f.profile == profile);
        let at = of_profile
            .clone()
            .filter_map(|f| f.first_injection)
            .min()
            .or_else(|| of_profile.map(|f| f.from).min());
        return (at, format!("fault {profile} starts"));
    }
    let injected = e
        .faults
        .iter()
        .filter(|f| f.injects_failure)
        .filter_map(|f| f.first_injection)
        .min();
    let at = injected
        .or_else(|| {
            e.upstream
                .failed
                .iter()
                .position(|&n| n > 0)
                .map(|i| SLOT * i as u32)
        })
        .or_else(|| {
            e.faults
                .iter()
                .filter(|f| f.injects_failure)
                .map(|f| f.from)
                .min()
        });
    (at, "the first injected failure".into())
}

/// The tap's own time for a best transition, when the tap saw the same change nearby (its
/// count of failures is dated on its own clock); else the best transition's time.
fn tap_time(e: &Evidence, t: &BestTransition, state: BreakerState) -> Duration {
    e.observations
        .channel(Channel::Tap)
        .and_then(|tap| {
            tap.transitions
                .iter()
                .filter(|o| o.to == state)
                .min_by_key(|o| o.at.abs_diff(t.at))
                .filter(|o| o.at.abs_diff(t.at) <= tap.resolution + t.resolution)
                .map(|o| o.at)
        })
        .unwrap_or(t.at)
}

/// Where the tap's own half-open period ends, when the tap saw a half-open within the
/// combined resolution of the start of `p`.
fn tap_period_end(e: &Evidence, p: &Period) -> Option<Duration> {
    let tap = e.observations.channel(Channel::Tap)?;
    let i = tap.transitions.iter().position(|t| {
        t.to == BreakerState::HalfOpen && t.at.abs_diff(p.from) <= tap.resolution + p.from_res
    })?;
    Some(tap.transitions.get(i + 1).map_or(p.until, |next| next.at))
}

fn max_in(column: &[u32], from: Duration, until: Duration) -> u32 {
    crate::series::window(column, from, until)
        .iter()
        .max()
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
