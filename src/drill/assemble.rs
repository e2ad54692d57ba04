//! Turning what a run collected into the result's parts: channel timelines, fault windows
//! and witnesses, the timeline, and the per-phase summaries.

use crate::breaker_state::Channel;
use crate::config::TapSettings;
use crate::fault::{TapBucket, UpstreamSeries};
use crate::metrics::{
    ClientSeries, EventKind, GroupStats, PhaseRecord, RunMetrics, Select, Timeline,
};
use crate::observe::tap::{infer, QuietRule};
use crate::observe::{BreakerTracker, ChannelTimeline, Observations};
use crate::plan::Plan;
use crate::report::{FaultSummary, GroupSummary, PhaseSummary};
use crate::series::SLOT;
use crate::verdict::{FaultWindow, FaultWitness};
use std::time::{Duration, SystemTime};

/// One client request interval: the 99th percentile gap between slots that sent requests
/// (how long a state change can go unseen by a channel that reads responses).
pub(super) fn client_interval(client: &ClientSeries) -> Duration {
    let busy: Vec<usize> = client
        .sent
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, _)| i)
        .collect();
    let mut gaps: Vec<usize> = busy.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.is_empty() {
        return SLOT;
    }
    gaps.sort_unstable();
    let p99 = gaps[((gaps.len() - 1) as f64 * 0.99) as usize];
    SLOT * p99 as u32
}

/// The tap channel: states inferred from the proxy's counts.
pub(super) fn tap_channel(
    upstream: &UpstreamSeries,
    client: &ClientSeries,
    settings: &TapSettings,
) -> ChannelTimeline {
    let rule = QuietRule {
        quiet: settings.quiet,
        min_client_requests: settings.min_client_requests,
        probes_to_close: settings.probes_to_close,
    };
    let transitions = infer(upstream, client, &rule);
    let attempts: u64 = upstream.attempts.iter().map(|&n| u64::from(n)).sum();
    let interval = client_interval(client);
    let mut warnings = Vec::new();
    if attempts == 0 {
        warnings.push(
            "the proxy saw no upstream calls: does the service's dependency URL point at the proxy?"
                .to_string(),
        );
    }
    ChannelTimeline {
        channel: Channel::Tap,
        resolution: SLOT + interval,
        resolution_basis: format!(
            "10 ms slot + one client request interval ({} ms): a timer-driven half-open waits for the next request",
            interval.as_millis()
        ),
        transitions,
        sees_half_open: true,
        sightings: attempts,
        polls: None,
        unknown_values: Default::default(),
        warnings,
    }
}

/// A channel read off responses (state header, rejection markers).
pub(super) fn response_channel(
    channel: Channel,
    tracker: &BreakerTracker,
    resolution: Duration,
    what: &str,
) -> ChannelTimeline {
    let mut warnings = Vec::new();
    if tracker.sightings() == 0 {
        warnings.push(format!("no response carried {what}"));
    }
    ChannelTimeline {
        channel,
        resolution,
        resolution_basis: format!(
            "{what}: one client request interval + 10 ms, dated when the response ends"
        ),
        transitions: tracker.transitions(),
        sees_half_open: channel != Channel::Markers,
        sightings: tracker.sightings(),
        polls: None,
        unknown_values: tracker.unknown_values(),
        warnings,
    }
}

/// Injections per scheduled fault id, summed over the tap's buckets.
pub(super) fn injections(tap: &[TapBucket], faults: usize) -> Vec<u64> {
    let mut injections = vec![0u64; faults];
    for bucket in tap {
        for (total, n) in injections.iter_mut().zip(&bucket.injected) {
            *total += n;
        }
    }
    injections
}

/// Every fault window that opened before `run_end`.
pub(super) fn fault_windows(
    plan: &Plan,
    run_end: Duration,
    first_injection: impl Fn(usize) -> Option<Duration>,
) -> Vec<FaultWindow> {
    plan.faults
        .iter()
        .filter(|f| f.from < run_end)
        .map(|f| FaultWindow {
            profile: f.profile.clone(),
            kind: f.fault.kind_name().to_string(),
            injects_failure: f.fault.kind.injects_failure(),
            from: f.from,
            until: f.until.min(run_end),
            first_injection: first_injection(f.id),
        })
        .collect()
}

/// One witness per fault of a profile, over every window of it that opened.
pub(super) fn witnesses(plan: &Plan, run_end: Duration, injected: &[u64]) -> Vec<FaultWitness> {
    let mut witnesses: Vec<FaultWitness> = Vec::new();
    for f in plan.faults.iter().filter(|f| f.from < run_end) {
        let phase = plan.phases[f.phase].name.clone();
        let n = injected.get(f.id).copied().unwrap_or(0);
        let w = match witnesses
            .iter_mut()
            .position(|w| w.profile == f.profile && w.slot == f.slot)
        {
            Some(i) => &mut witnesses[i],
            None => {
                witnesses.push(FaultWitness {
                    profile: f.profile.clone(),
                    slot: f.slot,
                    kind: f.fault.kind_name().to_string(),
                    phases: Vec::new(),
                    phases_without: Vec::new(),
                    injected: 0,
                });
                witnesses.last_mut().expect("just pushed")
            }
        };
        w.injected += n;
        if n > 0 {
            match w.phases.iter_mut().find(|(p, _)| *p == phase) {
                Some((_, count)) => *count += n,
                None => w.phases.push((phase, n)),
            }
        } else if !w.phases.iter().any(|(p, _)| *p == phase) && !w.phases_without.contains(&phase) {
            w.phases_without.push(phase);
        }
    }
    witnesses
}

/// The run's timeline: phases, fault windows (merged where one profile spans phases back
/// to back), the best-estimate breaker transitions, and the abort.
pub(super) fn timeline(
    plan: &Plan,
    metrics: &RunMetrics,
    observations: &Observations,
    wall_epoch: Option<SystemTime>,
    run_end: Duration,
    abort_reason: Option<&str>,
) -> Timeline {
    let mut timeline = Timeline::with_wall_epoch(wall_epoch);
    for p in &metrics.phases {
        timeline.push(
            p.start,
            EventKind::PhaseStart {
                phase: p.name.clone(),
            },
        );
        timeline.push(
            p.start + p.duration,
            EventKind::PhaseEnd {
                phase: p.name.clone(),
            },
        );
    }
    let opened: Vec<_> = plan.faults.iter().filter(|f| f.from < run_end).collect();
    for (i, f) in opened.iter().enumerate() {
        let kind = f.fault.kind_name().to_string();
        let same = |g: &&&crate::plan::ScheduledFault| g.profile == f.profile && g.slot == f.slot;
        // A window that continues one of the same fault ending as it starts is not new.
        if !opened[..i].iter().any(|g| same(&g) && g.until == f.from) {
            timeline.push(
                f.from,
                EventKind::FaultOn {
                    fault: f.id,
                    profile: f.profile.clone(),
                    kind: kind.clone(),
                },
            );
        }
        if !opened[i + 1..]
            .iter()
            .any(|g| same(&g) && g.from == f.until)
        {
            timeline.push(
                f.until.min(run_end),
                EventKind::FaultOff {
                    fault: f.id,
                    profile: f.profile.clone(),
                    kind,
                },
            );
        }
    }
    for t in &observations.best {
        timeline.push(
            t.at,
            EventKind::Breaker {
                from: t.from,
                to: t.to,
                channel: t.channel,
                corroborated_by: t.corroborated_by.clone(),
            },
        );
    }
    if let Some(reason) = abort_reason {
        timeline.push(
            run_end,
            EventKind::Aborted {
                reason: reason.to_string(),
            },
        );
    }
    timeline
}

/// Per phase: counts, rates and latencies, whole and per request group.
pub(super) fn phase_summaries(plan: &Plan, metrics: &RunMetrics) -> Vec<PhaseSummary> {
    metrics
        .phases
        .iter()
        .zip(&plan.phases)
        .map(|(record, planned)| {
            let all = record.recorder.total();
            let done = record.recorder.finished.map(|d| d.as_secs_f64());
            // A phase done early sent its requests in less than its slot.
            let secs = done
                .unwrap_or(f64::INFINITY)
                .min(record.duration.as_secs_f64());
            PhaseSummary {
                name: record.name.clone(),
                executor: planned.load.executor().into(),
                start_s: record.start.as_secs_f64(),
                duration_s: record.duration.as_secs_f64(),
                fault_profiles: planned.profiles.clone(),
                rps: if secs > 0.0 {
                    ((all.requests as f64 / secs) * 10.0).round() / 10.0
                } else {
                    0.0
                },
                dropped: record.recorder.dropped,
                interrupted: record.recorder.interrupted,
                iterations: record.recorder.iterations,
                peak_vus: record.recorder.peak_vus,
                planned_iterations: planned.load.planned_iterations(),
                done_s: done.map(|d| (d * 1e3).round() / 1e3),
                all: GroupSummary::from_stats("*", &all),
                groups: metrics
                    .groups
                    .iter()
                    .map(|name| {
                        let select = Select {
                            request: Some(name),
                            ..Select::default()
                        };
                        GroupSummary::from_stats(name, &cells_of(metrics, record, &select))
                    })
                    .collect(),
                users: if plan.drill.journey.users.is_empty() {
                    Vec::new()
                } else {
                    metrics
                        .users
                        .iter()
                        .map(|name| {
                            let select = Select {
                                user: Some(name),
                                ..Select::default()
                            };
                            GroupSummary::from_stats(name, &cells_of(metrics, record, &select))
                        })
                        .collect()
                },
                tags: tag_names(metrics)
                    .into_iter()
                    .map(|tag| {
                        let select = Select {
                            tag: Some(tag),
                            ..Select::default()
                        };
                        GroupSummary::from_stats(tag, &cells_of(metrics, record, &select))
                    })
                    .collect(),
                not_run: false,
            }
        })
        .chain(plan.phases.iter().skip(metrics.phases.len()).map(not_run))
        .collect()
}

/// A phase the run stopped before: planned, never started, every count zero.
fn not_run(planned: &crate::plan::PlannedPhase) -> PhaseSummary {
    PhaseSummary {
        name: planned.name.clone(),
        executor: planned.load.executor().into(),
        start_s: planned.start.as_secs_f64(),
        duration_s: 0.0,
        fault_profiles: planned.profiles.clone(),
        rps: 0.0,
        dropped: 0,
        interrupted: 0,
        peak_vus: 0,
        iterations: 0,
        planned_iterations: planned.load.planned_iterations(),
        done_s: None,
        all: GroupSummary {
            name: "*".into(),
            ..GroupSummary::default()
        },
        groups: Vec::new(),
        users: Vec::new(),
        tags: Vec::new(),
        not_run: true,
    }
}

/// One phase's stats over the cells `select` picks.
fn cells_of(metrics: &RunMetrics, record: &PhaseRecord, select: &Select) -> GroupStats {
    let mut stats = GroupStats::default();
    for cell in metrics.cells(select).unwrap_or_default() {
        if let Some(g) = record.recorder.groups.get(cell) {
            stats.merge(g);
        }
    }
    stats
}

/// Every tag some request carries, sorted, once each.
fn tag_names(metrics: &RunMetrics) -> Vec<&str> {
    let mut tags: Vec<&str> = metrics.tags.iter().flatten().map(String::as_str).collect();
    tags.sort_unstable();
    tags.dedup();
    tags
}

/// Every scheduled fault with its window and injection count.
pub(super) fn fault_summaries(plan: &Plan, injected: &[u64]) -> Vec<FaultSummary> {
    plan.faults
        .iter()
        .map(|f| FaultSummary {
            id: f.id,
            phase: plan.phases[f.phase].name.clone(),
            profile: f.profile.clone(),
            kind: f.fault.kind_name().to_string(),
            probability: f.fault.probability,
            from_s: f.from.as_secs_f64(),
            until_s: f.until.as_secs_f64(),
            injected: injected.get(f.id).copied().unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_interval_is_the_usual_gap() {
        let client = ClientSeries {
            sent: (0..1000).map(|i| u32::from(i % 2 == 0)).collect(),
            ..ClientSeries::default()
        };
        assert_eq!(client_interval(&client), Duration::from_millis(20));
        assert_eq!(client_interval(&ClientSeries::default()), SLOT);
    }
}
