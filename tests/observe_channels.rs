//! Every observation channel against ground truth, and the broken variants.
//!
//! The demo service logs each of its breaker's transitions as a JSON line with a
//! millisecond timestamp. Each drill here runs the demo (both breaker kinds) behind the
//! fault proxy and checks that every channel in result.json recovered those transitions
//! within the resolution the channel states, then that deliberately broken variants fail
//! on the right expectation while the correct breaker passes.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A short drill on the built-in parts: 3 s baseline, 2 s outage (upstream-500: 150 ms,
/// then HTTP 500), 5 s recovery, 50 requests per second; the breaker stays open 2 s.
fn drill(dir: &Path, demo: &str, observe: &str, expect: &str) -> String {
    let profiles = repo_root().join("fault-profiles");
    let log = dir.join("transitions.jsonl");
    format!(
        r#"
name = "channels"
seed = 11
request_timeout = "2s"
profile_dir = "{profiles}"

[parts]
stub = true
proxy = true
demo = true

[demo]
upstream_timeout = "500ms"
transition_log = "{log}"
{demo}
{defaults}

[[requests]]
name = "item"
path = "/api/item/{{{{random_int 1 100}}}}"

[[phases]]
name = "baseline"
executor = "constant-arrival-rate"
rate = 50
duration = "3s"

[[phases]]
name = "outage"
executor = "constant-arrival-rate"
rate = 50
duration = "2s"
faults = ["upstream-500"]

[[phases]]
name = "recovery"
executor = "constant-arrival-rate"
rate = 50
duration = "5s"

{observe}

{expect}
"#,
        profiles = profiles.display(),
        log = log.display(),
        defaults = [("open_duration", "\"2s\""), ("cache_ttl", "\"1s\"")]
            .iter()
            .filter(|(key, _)| !demo.contains(key))
            .map(|(key, value)| format!("{key} = {value}\n"))
            .collect::<String>(),
    )
}

/// Every channel at once: header, rejection markers (`Retry-After` on the 503 a rejected
/// call gets when the fallback is off), the `/breaker` JSON, the Prometheus gauge, the tap.
const ALL_CHANNELS: &str = r#"
[observe.rejection]
retry_after = true

[observe.endpoint]
url = "/breaker"
pointer = "/state"
interval = "50ms"

[observe.prometheus]
url = "/metrics"
metric = 'demo_circuitbreaker_state{name="upstream"}'
interval = "50ms"
"#;

/// Runs `text` as a drill; returns the exit code, stdout, result and the demo's log.
fn run(dir: &Path, text: &str) -> (Finished, Value, Vec<(u64, String)>) {
    let file = dir.join("drill.toml");
    std::fs::write(&file, text).expect("write drill");
    let out = dir.join("result.json");
    let finished = run_drill_file(&file, &out);
    let result = read_result(&out);
    let log = std::fs::read_to_string(dir.join("transitions.jsonl")).unwrap_or_default();
    let truth = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            (
                v["unix_ms"].as_u64().expect("unix_ms"),
                v["to"].as_str().expect("to").to_string(),
            )
        })
        .collect();
    (finished, result, truth)
}

/// How one channel did against the ground truth.
#[derive(Debug)]
struct Recovery {
    truth: usize,
    recovered: usize,
    worst_error_ms: f64,
    resolution_ms: f64,
}

/// Matches each true transition (after the run started, lasting longer than the channel's
/// resolution) to the channel's nearest transition to the same state.
fn recovery(result: &Value, truth: &[(u64, String)], channel: &str, states: &[&str]) -> Recovery {
    let start = result["started_unix_ms"].as_u64().expect("started_unix_ms") as f64;
    let end = start + result["duration_s"].as_f64().expect("duration") * 1000.0;
    let c = result["observations"]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["channel"] == channel)
        .unwrap_or_else(|| panic!("no {channel} channel"));
    let resolution_ms = c["resolution_ms"].as_f64().expect("resolution");
    let seen: Vec<(f64, &str)> = c["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| {
            (
                start + t["at"].as_f64().expect("at") * 1000.0,
                t["to"].as_str().expect("to"),
            )
        })
        .collect();
    let mut r = Recovery {
        truth: 0,
        recovered: 0,
        worst_error_ms: 0.0,
        resolution_ms,
    };
    for (i, (at, to)) in truth.iter().enumerate() {
        let at = *at as f64;
        let lasted = truth.get(i + 1).map_or(end, |n| n.0 as f64) - at;
        if at < start || lasted <= resolution_ms || !states.contains(&to.as_str()) {
            continue;
        }
        r.truth += 1;
        let nearest = seen
            .iter()
            .filter(|(_, s)| s == to)
            .map(|(t, _)| (t - at).abs())
            .fold(f64::INFINITY, f64::min);
        if nearest <= resolution_ms + 5.0 {
            r.recovered += 1;
            r.worst_error_ms = r.worst_error_ms.max(nearest);
        }
    }
    r
}

fn verdict<'r>(result: &'r Value, criterion: &str) -> &'r Value {
    result["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .find(|v| {
            v["criterion"]
                .as_str()
                .is_some_and(|c| c.starts_with(criterion))
        })
        .unwrap_or_else(|| panic!("no verdict {criterion}: {}", result["verdicts"]))
}

/// The failure count of "opened after N upstream failures" (or "N to M").
fn opened_after(result: &Value) -> (u64, u64) {
    let measured = verdict(result, "breaker opens after N")["measured"]
        .as_str()
        .expect("measured")
        .to_string();
    let numbers: Vec<u64> = measured
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers[..] {
        [n] => (n, n),
        [lo, hi] => (lo, hi),
        _ => panic!("{measured}"),
    }
}

/// Criteria that neither passed nor warned.
fn failed(result: &Value) -> Vec<String> {
    result["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .filter(|v| v["status"] != "pass" && v["status"] != "warn")
        .map(|v| v["criterion"].as_str().expect("criterion").to_string())
        .collect()
}

fn every_channel_recovers_the_truth(name: &str, demo: &str, observe: &str, opens_after: u32) {
    let expect = format!(
        r#"
[expect.breaker]
sequence = ["closed", "open", "half_open", "closed"]
opens_after = {opens_after}
closed_at_end = true
"#
    );
    let dir = scratch(name);
    let text = drill(&dir, demo, &format!("{ALL_CHANNELS}\n{observe}"), &expect);
    let (run, result, truth) = run(&dir, &text);
    assert_eq!(run.code, Some(0), "{run}");
    let states: Vec<&str> = truth.iter().map(|(_, s)| s.as_str()).collect();
    assert!(
        in_order(
            &states.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &["closed", "open", "half_open", "closed"]
        ),
        "ground truth: {states:?}"
    );
    let mut table = BTreeMap::new();
    for channel in ["header", "markers", "endpoint", "prometheus", "tap"] {
        // Rejection markers only ever show an open breaker: a plain answer comes from a
        // closed and a half-open one alike.
        let states: &[&str] = if channel == "markers" {
            &["open"]
        } else {
            &["closed", "open", "half_open"]
        };
        let r = recovery(&result, &truth, channel, states);
        eprintln!(
            "{name} {channel:<10} recovered {}/{} worst error {:.1} ms (resolution {:.1} ms)",
            r.recovered, r.truth, r.worst_error_ms, r.resolution_ms
        );
        assert!(r.truth >= 1, "{channel}: no ground truth to judge: {r:?}");
        table.insert(channel, r);
    }
    // Every channel sees every transition it can see that lasts longer than its resolution.
    for (channel, r) in &table {
        assert_eq!(
            r.recovered, r.truth,
            "{channel}: {r:?}\n{}",
            result["observations"]
        );
    }
    assert_eq!(verdict(&result, "breaker channels agree")["status"], "pass");
    let (lo, hi) = opened_after(&result);
    assert!(
        lo <= u64::from(opens_after) && u64::from(opens_after) <= hi,
        "{lo}..{hi}"
    );
}

#[test]
fn consecutive_breaker_every_channel_recovers_the_logged_transitions() {
    every_channel_recovers_the_truth(
        "channels-consecutive",
        "breaker = \"consecutive\"\nfailure_threshold = 5\nfallback = false",
        "",
        5,
    );
}

#[test]
fn rate_breaker_every_channel_recovers_the_logged_transitions() {
    every_channel_recovers_the_truth(
        "channels-rate",
        "breaker = \"rate\"\nfailure_rate = 0.5\nminimum_calls = 10\nwindow = 20\nhalf_open_calls = 3\nfallback = false",
        "[observe.tap]\nprobes_to_close = 3",
        10,
    );
}

#[test]
fn a_plain_drill_passes_against_a_half_open_that_lasts_one_request() {
    // pybreaker-style: the probe's response already says closed, so no header ever shows
    // half_open. Only the proxy sees the probe.
    let expect = r#"
[expect.breaker]
sequence = ["closed", "open", "half_open", "closed"]
half_open_after = "2s"
tolerance = "500ms"
closed_at_end = true
"#;
    let dir = scratch("one-request-half-open");
    let text = drill(&dir, "label_probe = false", "", expect);
    let (run, result, _) = run(&dir, &text);
    assert_eq!(run.code, Some(0), "{run}");
    let header = result["observations"]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["channel"] == "header")
        .expect("header channel");
    assert!(
        header["transitions"]
            .as_array()
            .expect("transitions")
            .iter()
            .all(|t| t["to"] != "half_open"),
        "the header never says half_open: {header}"
    );
    let half_open = result["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .find(|e| e["event"] == "breaker" && e["to"] == "half_open")
        .expect("half_open in the best timeline");
    assert_eq!(half_open["channel"], "tap");
}

/// The variant expectations: what a team would write for this demo.
const VARIANT_EXPECT: &str = r#"
[[expect.thresholds]]
max_error_rate = 0.01

[[expect.thresholds]]
phase = "baseline"
min_cache_hit_rate = 0.1

[expect.breaker]
sequence = ["closed", "open", "half_open", "closed"]
opens_after = 5
opens_within = "500ms"
half_open_after = "2s"
tolerance = "500ms"
closes_within = "4s"
rejects_while_open = { allowed_probes = 1, max_latency = "50ms" }
fallback_while_open = true
closed_at_end = true
"#;

fn variant(name: &str, demo: &str) -> (Finished, Value) {
    let dir = scratch(name);
    let text = drill(&dir, demo, "", VARIANT_EXPECT);
    let (run, result, _) = run(&dir, &text);
    (run, result)
}

#[test]
fn the_correct_breaker_passes_every_expectation() {
    let (run, result) = variant("variant-correct", "failure_threshold = 5");
    assert_eq!(run.code, Some(0), "{run}");
    // A warn is allowed only where the evidence cannot tell the exact count.
    assert!(failed(&result).is_empty(), "{}", run.stdout);
    for v in result["verdicts"].as_array().expect("verdicts") {
        if v["status"] == "warn" {
            assert_eq!(
                v["criterion"], "breaker opens after N upstream failures",
                "{v}"
            );
        }
    }
    let (lo, hi) = opened_after(&result);
    assert!(lo <= 5 && 5 <= hi, "{lo}..{hi}");
}

#[test]
fn a_breaker_that_never_opens_fails_on_opening() {
    let (run, result) = variant("variant-never-opens", "breaker = \"off\"");
    assert_eq!(run.code, Some(1), "{run}");
    let failed = failed(&result);
    for criterion in [
        "breaker sequence",
        "breaker opens after N upstream failures",
        "breaker opens after the first injected failure",
        "responses while open are fallbacks",
    ] {
        assert!(
            failed.iter().any(|f| f == criterion),
            "{criterion}: {failed:?}"
        );
    }
    assert_eq!(
        verdict(&result, "breaker opens after N")["measured"],
        "never opened"
    );
}

#[test]
fn a_breaker_stuck_open_fails_on_recovery() {
    let (run, result) = variant("variant-stuck-open", "open_duration = \"1h\"");
    assert_eq!(run.code, Some(1), "{run}");
    let failed = failed(&result);
    for criterion in [
        "breaker sequence",
        "breaker half-opens after the open duration",
        "breaker closes after the faults end",
        "breaker closed at the end",
    ] {
        assert!(
            failed.iter().any(|f| f == criterion),
            "{criterion}: {failed:?}"
        );
    }
    assert!(
        !failed.iter().any(|f| f.starts_with("breaker opens")),
        "{failed:?}"
    );
}

#[test]
fn a_breaker_without_fallback_fails_on_errors_and_fallbacks() {
    let (run, result) = variant("variant-no-fallback", "fallback = false");
    assert_eq!(run.code, Some(1), "{run}");
    let failed = failed(&result);
    assert!(
        failed
            .iter()
            .any(|f| f == "responses while open are fallbacks"),
        "{failed:?}"
    );
    assert!(
        failed.iter().any(|f| f == "error rate of whole run"),
        "{failed:?}"
    );
    assert!(
        !failed.iter().any(|f| f == "breaker sequence"),
        "{failed:?}"
    );
}

#[test]
fn a_breaker_that_opens_too_late_fails_on_the_count_and_the_time() {
    let (run, result) = variant("variant-late", "failure_threshold = 40");
    assert_eq!(run.code, Some(1), "{run}");
    let failed = failed(&result);
    assert!(
        failed
            .iter()
            .any(|f| f == "breaker opens after N upstream failures"),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|f| f == "breaker opens after the first injected failure"),
        "{failed:?}"
    );
    let (lo, hi) = opened_after(&result);
    assert!(lo <= 40 && 40 <= hi, "{lo}..{hi}");
}

#[test]
fn a_lying_header_fails_on_channel_agreement_alone() {
    let (run, result) = variant("variant-lying-header", "state_header = \"closed\"");
    assert_eq!(run.code, Some(1), "{run}");
    assert_eq!(
        failed(&result),
        vec!["breaker channels agree"],
        "{}",
        run.stdout
    );
    let agree = verdict(&result, "breaker channels agree");
    let measured = agree["measured"].as_str().expect("measured");
    assert!(
        measured.starts_with("tap said open while header said closed"),
        "{measured}"
    );
    let evidence = agree["evidence"][0].as_str().expect("evidence");
    assert!(evidence.contains("upstream attempts"), "{evidence}");
}

#[test]
fn a_service_without_a_cache_fails_on_the_cache_hit_rate() {
    let (run, result) = variant("variant-no-cache", "cache_ttl = \"0s\"");
    assert_eq!(run.code, Some(1), "{run}");
    assert_eq!(
        failed(&result),
        vec!["cache-hit rate of phase baseline"],
        "{}",
        run.stdout
    );
}
