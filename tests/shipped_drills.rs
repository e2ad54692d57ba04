//! The drills shipped in drills/ that run on the built-in parts pass as shipped.

mod common;

use common::*;

fn passes(drill: &str) -> serde_json::Value {
    let (run, out) = run_quiet(
        &format!("shipped-{drill}"),
        &["run", &format!("drills/{drill}.toml")],
    );
    assert_eq!(run.code, Some(0), "{run}");
    read_result(&out)
}

#[test]
fn observe_every_channel_passes_with_five_channels_agreeing() {
    let result = passes("observe-every-channel");
    let channels: Vec<&str> = result["observations"]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .filter(|c| !c["transitions"].as_array().expect("transitions").is_empty())
        .map(|c| c["channel"].as_str().expect("name"))
        .collect();
    assert_eq!(channels.len(), 5, "{channels:?}");
    assert!(result["observations"]["disagreements"]
        .as_array()
        .expect("disagreements")
        .is_empty());
}

#[test]
fn rate_breaker_passes_through_its_endpoints_without_a_header() {
    let result = passes("rate-breaker");
    assert_eq!(result["parts"]["demo_breaker"], "rate");
    let best = result["observations"]["best"].as_array().expect("best");
    assert!(best.iter().all(|t| t["channel"] != "header"), "{best:?}");
}

#[test]
fn one_request_half_open_passes_on_the_tap_alone() {
    let result = passes("one-request-half-open");
    let half_open = result["observations"]["best"]
        .as_array()
        .expect("best")
        .iter()
        .find(|t| t["to"] == "half_open")
        .expect("half_open");
    assert_eq!(half_open["channel"], "tap");
}
