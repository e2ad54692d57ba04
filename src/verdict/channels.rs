//! Verdicts about the channels themselves: configured ones that read nothing, and
//! channels that disagree beyond their resolution.

use super::{ms, secs, Status, Unit, Verdict};
use crate::breaker_state::Channel;
use crate::observe::Observations;

/// One invalid verdict per polled channel that never read a state: the judgement would rest
/// on other channels than the ones the drill asked for.
pub(super) fn silent(obs: &Observations) -> Vec<Verdict> {
    obs.channels
        .iter()
        .filter(|c| c.polls.is_some() && c.sightings == 0)
        .map(|c| {
            Verdict::new(
                format!("{} channel read the breaker state", c.channel),
                ">= 1 state read",
                c.warnings
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no state read".into()),
                Status::Invalid,
            )
            .with_value(Some(0.0), Some(1.0), Unit::Count)
            .with_evidence(
                c.polls
                    .iter()
                    .flat_map(|p| {
                        p.failed
                            .iter()
                            .map(|(cause, n)| format!("{n} polls failed: {cause}"))
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Whether the channels agree, judged when asked (`Some(true)`) or, by default, whenever
/// two channels saw states.
pub(super) fn agreement(asked: Option<bool>, obs: &Observations) -> Option<Verdict> {
    let seeing: Vec<Channel> = obs
        .channels
        .iter()
        .filter(|c| !c.transitions.is_empty())
        .map(|c| c.channel)
        .collect();
    if !asked.unwrap_or(seeing.len() >= 2) {
        return None;
    }
    let names = seeing
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let v = if seeing.len() < 2 {
        Verdict::new(
            "breaker channels agree",
            "no disagreement beyond the combined resolution",
            format!("only {} channel saw the breaker ({names})", seeing.len()),
            Status::Invalid,
        )
    } else if obs.disagreements.is_empty() {
        Verdict::holds(
            "breaker channels agree",
            "no disagreement beyond the combined resolution",
            format!("{names} agree"),
            true,
        )
    } else {
        let longest = obs
            .disagreements
            .iter()
            .map(|d| d.length())
            .max()
            .unwrap_or_default();
        let first = &obs.disagreements[0];
        Verdict::holds(
                "breaker channels agree",
                "no disagreement beyond the combined resolution",
                format!(
                    "{} said {} while {} said {} for {} ({} disagreements, longest {})",
                    first.channel,
                    first.said,
                    first.other,
                    first.other_said,
                    secs(first.length()),
                    obs.disagreements.len(),
                    secs(longest)
                ),
                false,
            )
            .with_evidence(
                obs.disagreements
                    .iter()
                    .take(5)
                    .map(|d| {
                        format!(
                            "{}–{}: {} said {}, {} said {} (allowed {}); client requests {}, upstream attempts {} ({} failed)",
                            secs(d.from),
                            secs(d.until),
                            d.channel,
                            d.said,
                            d.other,
                            d.other_said,
                            ms(d.allowed),
                            d.client_requests,
                            d.upstream_attempts,
                            d.upstream_failures
                        )
                    })
                    .collect(),
            )
    };
    Some(v.with_value(Some(obs.disagreements.len() as f64), Some(0.0), Unit::Count))
}
