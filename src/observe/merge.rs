//! One best-estimate breaker timeline from every channel, and where channels disagree.
//!
//! Which channel wins, and why (see docs/observe.md):
//! 1. The base is the most trusted channel that saw any state. The default order is
//!    endpoint, prometheus, tap, header, markers: a state endpoint or gauge reads the
//!    library's own state; the tap is physical evidence (calls did or did not reach the
//!    upstream) that a service cannot misreport; headers and markers are what the service
//!    chose to write, and only when it answered. A drill can reorder them with `trust`.
//! 2. A half-open the base could not see is taken from another channel: a half-open that
//!    begins and ends inside one request shows only as a probe at the proxy, never in a
//!    header or a poll. It is inserted where the base goes straight from open to closed.
//! 3. Every best transition lists the other channels that saw the same state change within
//!    their combined resolution (corroboration), and takes its time from the finest of
//!    them: a 100 ms poll says what happened, the tap or a header says when.
//! 4. Two channels whose states differ for longer than their combined resolution are a
//!    disagreement, reported with the times, what each said, and the tap's counts.

use super::{ChannelTimeline, Transition};
use crate::breaker_state::{BreakerState, Channel};
use crate::fault::UpstreamSeries;
use crate::metrics::ClientSeries;
use crate::series::sum;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One transition of the best-estimate timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BestTransition {
    /// When, from the run epoch.
    #[serde(
        serialize_with = "crate::clock::as_secs",
        deserialize_with = "crate::clock::from_secs"
    )]
    #[schemars(with = "f64")]
    pub at: Duration,
    /// The state before; `None` for the first.
    pub from: Option<BreakerState>,
    /// The state now.
    pub to: BreakerState,
    /// The channel this transition comes from (the most trusted one that saw it).
    pub channel: Channel,
    /// How far the time may be from the real one: the time is taken from the channel
    /// with the finest resolution among those that saw the change.
    #[serde(
        rename = "resolution_ms",
        serialize_with = "crate::clock::as_millis",
        deserialize_with = "crate::clock::from_millis"
    )]
    #[schemars(with = "f64")]
    pub resolution: Duration,
    /// Other channels that saw the same change within their combined resolution.
    pub corroborated_by: Vec<Channel>,
}

/// Two channels that said different things for longer than their combined resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Disagreement {
    /// The more trusted channel.
    pub channel: Channel,
    /// What it said.
    pub said: BreakerState,
    /// The other channel.
    pub other: Channel,
    /// What the other said.
    pub other_said: BreakerState,
    /// Start of the disagreement.
    #[serde(
        serialize_with = "crate::clock::as_secs",
        deserialize_with = "crate::clock::from_secs"
    )]
    #[schemars(with = "f64")]
    pub from: Duration,
    /// End of the disagreement.
    #[serde(
        serialize_with = "crate::clock::as_secs",
        deserialize_with = "crate::clock::from_secs"
    )]
    #[schemars(with = "f64")]
    pub until: Duration,
    /// The longest disagreement the two resolutions allow.
    #[serde(
        rename = "allowed_ms",
        serialize_with = "crate::clock::as_millis",
        deserialize_with = "crate::clock::from_millis"
    )]
    #[schemars(with = "f64")]
    pub allowed: Duration,
    /// Client requests sent meanwhile.
    pub client_requests: u64,
    /// Upstream attempts the proxy saw meanwhile.
    pub upstream_attempts: u64,
    /// Of which failed.
    pub upstream_failures: u64,
}

impl Disagreement {
    /// How long the channels disagreed.
    pub fn length(&self) -> Duration {
        self.until.saturating_sub(self.from)
    }
}

/// Everything the run saw of the breaker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Observations {
    /// The order of trust used for the best estimate.
    pub trust: Vec<Channel>,
    /// Each channel's own timeline.
    pub channels: Vec<ChannelTimeline>,
    /// The best-estimate timeline.
    pub best: Vec<BestTransition>,
    /// Where channels disagreed beyond their resolution.
    pub disagreements: Vec<Disagreement>,
}

impl Observations {
    /// Merges `channels` under `trust`, up to `end`, with the tap's and client's counts as
    /// evidence for disagreements.
    pub fn merge(
        trust: &[Channel],
        mut channels: Vec<ChannelTimeline>,
        end: Duration,
        upstream: &UpstreamSeries,
        client: &ClientSeries,
    ) -> Observations {
        let rank = |c: Channel| trust.iter().position(|t| *t == c).unwrap_or(trust.len());
        channels.sort_by_key(|c| rank(c.channel));
        let best = best_timeline(&channels);
        let mut disagreements = Vec::new();
        let seen: Vec<&ChannelTimeline> = channels
            .iter()
            .filter(|c| !c.transitions.is_empty())
            .collect();
        for (i, a) in seen.iter().enumerate() {
            for b in &seen[i + 1..] {
                disagreements.extend(disagree(a, b, end, upstream, client));
            }
        }
        Observations {
            trust: trust.to_vec(),
            channels,
            best,
            disagreements,
        }
    }

    /// The best timeline as plain transitions.
    pub fn best_transitions(&self) -> impl Iterator<Item = (Duration, BreakerState)> + '_ {
        self.best.iter().map(|t| (t.at, t.to))
    }

    /// The timeline of one channel, if it ran.
    pub fn channel(&self, channel: Channel) -> Option<&ChannelTimeline> {
        self.channels.iter().find(|c| c.channel == channel)
    }
}

fn best_timeline(channels: &[ChannelTimeline]) -> Vec<BestTransition> {
    let Some(base) = channels.iter().find(|c| !c.transitions.is_empty()) else {
        return Vec::new();
    };
    let mut best: Vec<(Transition, &ChannelTimeline)> =
        base.transitions.iter().map(|t| (t.clone(), base)).collect();

    // Half-opens the base could not see: open → closed with nothing between.
    let mut i = 1;
    while i < best.len() {
        let (prev, next) = (&best[i - 1].0, &best[i].0);
        if prev.to == BreakerState::Open && next.to == BreakerState::Closed {
            let (opened, closed) = (prev.at, next.at);
            let found = channels
                .iter()
                .filter(|c| c.channel != base.channel)
                .find_map(|c| {
                    let slack = c.resolution + base.resolution;
                    c.transitions
                        .iter()
                        .find(|t| {
                            t.to == BreakerState::HalfOpen
                                && t.at >= opened
                                && t.at <= closed + slack
                        })
                        .map(|t| (t.at.min(closed), c))
                });
            if let Some((at, c)) = found {
                let half_open = Transition {
                    at,
                    from: Some(BreakerState::Open),
                    to: BreakerState::HalfOpen,
                    previous_seen_at: None,
                };
                best[i].0.from = Some(BreakerState::HalfOpen);
                best.insert(i, (half_open, c));
                i += 1;
            }
        }
        i += 1;
    }

    let mut out: Vec<BestTransition> = Vec::with_capacity(best.len());
    for (t, source) in best {
        let sightings: Vec<(&ChannelTimeline, Duration)> = channels
            .iter()
            .filter(|c| c.channel != source.channel)
            .filter_map(|c| {
                let slack = c.resolution + source.resolution;
                c.transitions
                    .iter()
                    .filter(|o| o.to == t.to && o.at.abs_diff(t.at) <= slack)
                    .min_by_key(|o| o.at.abs_diff(t.at))
                    .map(|o| (c, o.at))
            })
            .collect();
        // The time comes from the finest channel that saw the change, kept in order.
        let (at, resolution) = sightings
            .iter()
            .map(|(c, at)| (*at, c.resolution))
            .chain(std::iter::once((t.at, source.resolution)))
            .min_by_key(|(_, res)| *res)
            .unwrap_or((t.at, source.resolution));
        let at = out.last().map_or(at, |prev| at.max(prev.at));
        out.push(BestTransition {
            at,
            from: t.from,
            to: t.to,
            channel: source.channel,
            resolution,
            corroborated_by: sightings.iter().map(|(c, _)| c.channel).collect(),
        });
    }
    out
}

/// Intervals where `a` and `b` both had a state and the states differed for longer than
/// their combined resolution.
fn disagree(
    a: &ChannelTimeline,
    b: &ChannelTimeline,
    end: Duration,
    upstream: &UpstreamSeries,
    client: &ClientSeries,
) -> Vec<Disagreement> {
    let allowed = a.resolution + b.resolution;
    let mut changes: Vec<Duration> = a
        .transitions
        .iter()
        .chain(&b.transitions)
        .map(|t| t.at)
        .filter(|t| *t < end)
        .collect();
    changes.sort();
    changes.dedup();
    let mut found = Vec::new();
    let mut open: Option<(Duration, BreakerState, BreakerState)> = None;
    for at in changes.into_iter().chain(std::iter::once(end)) {
        let pair = match (a.state_at(at), b.state_at(at)) {
            (Some(x), Some(y)) if !compatible(a, x, b, y) && at < end => Some((x, y)),
            _ => None,
        };
        if let Some((from, x, y)) = open {
            if pair != Some((x, y)) {
                if at.saturating_sub(from) > allowed {
                    found.push(Disagreement {
                        channel: a.channel,
                        said: x,
                        other: b.channel,
                        other_said: y,
                        from,
                        until: at,
                        allowed,
                        client_requests: sum(&client.sent, from, at),
                        upstream_attempts: sum(&upstream.attempts, from, at),
                        upstream_failures: sum(&upstream.failed, from, at),
                    });
                }
                open = None;
            }
        }
        if open.is_none() {
            open = pair.map(|(x, y)| (at, x, y));
        }
    }
    found
}

/// Whether `a` saying `x` and `b` saying `y` can both be right: the same state, or a
/// half-open that a channel blind to half-open reports as closed.
fn compatible(a: &ChannelTimeline, x: BreakerState, b: &ChannelTimeline, y: BreakerState) -> bool {
    use BreakerState::{Closed, HalfOpen};
    x == y
        || (!a.sees_half_open && x == Closed && y == HalfOpen)
        || (!b.sees_half_open && y == Closed && x == HalfOpen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use BreakerState::*;

    fn channel(channel: Channel, res_ms: u64, states: &[(u64, BreakerState)]) -> ChannelTimeline {
        ChannelTimeline::for_test(channel, res_ms, states)
    }

    fn merge(channels: Vec<ChannelTimeline>) -> Observations {
        Observations::merge(
            &Channel::ALL,
            channels,
            Duration::from_secs(30),
            &UpstreamSeries::default(),
            &ClientSeries::default(),
        )
    }

    #[test]
    fn a_probe_only_the_tap_saw_fills_the_header_gap_and_nothing_disagrees() {
        // pybreaker-style: the header never says half_open; the tap saw the probe.
        let header = channel(
            Channel::Header,
            25,
            &[(0, Closed), (10_020, Open), (18_012, Closed)],
        );
        let tap = channel(
            Channel::Tap,
            25,
            &[
                (5, Closed),
                (10_005, Open),
                (18_005, HalfOpen),
                (18_005, Closed),
            ],
        );
        let trust = [Channel::Header, Channel::Tap];
        let o = Observations::merge(
            &trust,
            vec![header, tap],
            Duration::from_secs(30),
            &UpstreamSeries::default(),
            &ClientSeries::default(),
        );
        let best: Vec<_> = o.best.iter().map(|t| (t.to, t.channel)).collect();
        assert_eq!(
            best,
            vec![
                (Closed, Channel::Header),
                (Open, Channel::Header),
                (HalfOpen, Channel::Tap),
                (Closed, Channel::Header)
            ]
        );
        assert_eq!(o.best[2].at, Duration::from_millis(18_005));
        assert_eq!(o.best[1].corroborated_by, vec![Channel::Tap]);
        assert!(o.disagreements.is_empty(), "{:?}", o.disagreements);
    }

    #[test]
    fn a_lying_header_disagrees_with_the_tap_for_the_whole_open_period() {
        let header = channel(Channel::Header, 25, &[(0, Closed)]);
        let tap = channel(
            Channel::Tap,
            25,
            &[
                (5, Closed),
                (10_005, Open),
                (18_005, HalfOpen),
                (18_015, Closed),
            ],
        );
        let o = merge(vec![header, tap]);
        assert_eq!(
            o.best[0].channel,
            Channel::Tap,
            "the tap outranks the header"
        );
        assert_eq!(o.best.len(), 4);
        assert_eq!(o.disagreements.len(), 1, "{:?}", o.disagreements);
        let d = &o.disagreements[0];
        assert_eq!(
            (d.channel, d.said, d.other, d.other_said),
            (Channel::Tap, Open, Channel::Header, Closed)
        );
        assert_eq!(
            (d.from, d.until),
            (Duration::from_millis(10_005), Duration::from_millis(18_005))
        );
    }

    #[test]
    fn the_most_trusted_channel_that_saw_anything_is_the_base() {
        let endpoint = channel(Channel::Endpoint, 110, &[]);
        let header = channel(Channel::Header, 25, &[(0, Closed), (1_000, Open)]);
        let o = merge(vec![header, endpoint]);
        assert!(o.best.iter().all(|t| t.channel == Channel::Header));
        assert!(o.disagreements.is_empty());
    }

    #[test]
    fn sums_cover_whole_slots() {
        let s = [1, 2, 3, 4];
        assert_eq!(
            sum(&s, Duration::from_millis(10), Duration::from_millis(30)),
            5
        );
        assert_eq!(sum(&s, Duration::ZERO, Duration::from_secs(9)), 10);
    }
}
