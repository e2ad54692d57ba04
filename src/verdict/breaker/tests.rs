use super::*;
use crate::config::{CountRange, RejectsWhileOpen};
use crate::fault::UpstreamSeries;
use crate::metrics::{ClientSeries, RunMetrics};
use crate::observe::{ChannelTimeline, Observations};
use crate::verdict::FaultWindow;
use BreakerState::*;

fn timeline(channel: Channel, states: &[(u64, BreakerState)]) -> ChannelTimeline {
    ChannelTimeline::for_test(channel, 30, states)
}

/// 30 s at 50 requests per second; calls go upstream except while open (10.3–18.0 s),
/// where every response is a fallback; 5 failures from 10.2 s trip the breaker.
fn world() -> (UpstreamSeries, ClientSeries) {
    let slots = 3000;
    let mut up = UpstreamSeries {
        attempts: vec![0; slots],
        failed: vec![0; slots],
        succeeded: vec![0; slots],
        ..UpstreamSeries::default()
    };
    let mut client = ClientSeries {
        sent: vec![0; slots],
        degraded: vec![0; slots],
        rejected: vec![0; slots],
        max_latency_us: vec![0; slots],
        shed: vec![0; slots],
        shed_earliest: vec![0; slots],
    };
    for i in (0..slots).step_by(2) {
        client.sent[i] = 1;
        let open = (1030..1800).contains(&i);
        client.max_latency_us[i] = if open { 900 } else { 2_000 };
        if open {
            client.degraded[i] = 1;
            client.shed[i] = 1;
            client.shed_earliest[i] = 10_000;
            continue;
        }
        up.attempts[i] = 1;
        if (1020..1030).contains(&i) {
            up.failed[i] = 1;
        } else {
            up.succeeded[i] = 1;
        }
    }
    (up, client)
}

fn expectations() -> BreakerExpectations {
    BreakerExpectations {
        sequence: vec![Closed, Open, HalfOpen, Closed],
        repeat: 1,
        opens_after: Some(CountRange { min: 5, max: 5 }),
        opens_within: Some(Duration::from_secs(1)),
        half_open_after: Some(Duration::from_millis(7700)),
        tolerance: Duration::from_millis(500),
        closes_within: Some(Duration::from_secs(10)),
        rejects_while_open: Some(RejectsWhileOpen {
            allowed_probes: 1,
            max_latency: Some(Duration::from_millis(50)),
        }),
        max_half_open_probes: Some(1),
        fallback_while_open: true,
        closed_at_end: true,
        channels_agree: None,
        ..BreakerExpectations::default()
    }
}

fn judge_with(channels: Vec<ChannelTimeline>, b: &BreakerExpectations) -> Vec<Verdict> {
    let (up, client) = world();
    let end = Duration::from_secs(30);
    let obs = Observations::merge(&Channel::ALL, channels, end, &up, &client);
    let faults = [FaultWindow {
        profile: "upstream-500".into(),
        kind: "status".into(),
        injects_failure: true,
        from: Duration::from_millis(10_000),
        until: Duration::from_millis(13_000),
        first_injection: Some(Duration::from_millis(10_200)),
    }];
    let e = Evidence {
        metrics: &RunMetrics::default(),
        observations: &obs,
        upstream: &up,
        client: &client,
        faults: &faults,
        witnesses: &[],
        run_end: end,
    };
    judge(b, &e)
}

/// The tap's view of the world's healthy cycle.
fn healthy_tap() -> ChannelTimeline {
    timeline(
        Channel::Tap,
        &[
            (5, Closed),
            (10_285, Open),
            (18_005, HalfOpen),
            (18_005, Closed),
        ],
    )
}

#[test]
fn a_healthy_cycle_passes_everything_with_the_tap_alone() {
    let tap = healthy_tap();
    let v = judge_with(vec![tap], &expectations());
    assert!(v.iter().all(|v| v.status == Status::Pass), "{v:#?}");
    assert_eq!(v[1].measured, "opened after 5 upstream failures");
    assert!(
        v[2].measured.starts_with("opened 0.085s after it"),
        "{}",
        v[2].measured
    );
}

#[test]
fn a_lying_header_fails_only_on_channel_agreement() {
    let tap = healthy_tap();
    let header = timeline(Channel::Header, &[(2, Closed)]);
    let v = judge_with(vec![header, tap], &expectations());
    let failed: Vec<&str> = v
        .iter()
        .filter(|v| v.status != Status::Pass)
        .map(|v| v.criterion.as_str())
        .collect();
    assert_eq!(failed, vec!["breaker channels agree"], "{v:#?}");
    let agree = v.last().expect("agreement verdict");
    assert!(
        agree
            .measured
            .starts_with("tap said open while header said closed"),
        "{}",
        agree.measured
    );
    assert!(
        agree.evidence[0].contains("client requests 386, upstream attempts 1 (1 failed)"),
        "the tripping call, then nothing: {:?}",
        agree.evidence
    );
}

#[test]
fn a_breaker_that_never_opens_fails_each_expectation() {
    let header = timeline(Channel::Header, &[(2, Closed)]);
    let b = BreakerExpectations {
        channels_agree: Some(false),
        ..expectations()
    };
    let v = judge_with(vec![header], &b);
    let statuses: Vec<Status> = v.iter().map(|v| v.status).collect();
    // Closed at the end and "closed within" hold trivially; everything else fails.
    let passed: Vec<&str> = v
        .iter()
        .filter(|v| v.status == Status::Pass)
        .map(|v| v.criterion.as_str())
        .collect();
    assert_eq!(
        passed,
        vec![
            "breaker closes after the faults end",
            "breaker closed at the end"
        ],
        "{statuses:?}"
    );
    assert_eq!(v[0].measured, "closed (header)");
}

#[test]
fn repeats_are_counted() {
    let seen = [
        Closed, Open, HalfOpen, Closed, Open, HalfOpen, Open, HalfOpen, Closed,
    ];
    let cycle = [Closed, Open, HalfOpen, Closed];
    assert_eq!(times_matched(&cycle, &seen, 3), 2);
    assert_eq!(times_matched(&[Open, HalfOpen], &seen, 5), 3);
}
