//! Whole drills through the real binary: the embedded demo with the breaker on and off,
//! the external-service drill against a separately started demo service, and Ctrl-C.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_drill_passes_and_sees_the_full_breaker_cycle() {
    let (run, out) = run_quiet("demo-on", &["demo"]);
    assert_eq!(run.code, Some(0), "{run}");
    let stdout = &run.stdout;
    assert!(stdout.contains("PASSED"), "{stdout}");
    assert_fits_100_columns(stdout);
    assert!(stdout.contains("\nverdicts\n  PASS    "), "{stdout}");
    // One profile over two phases back to back is one window: on once, off once.
    assert_eq!(
        stdout.matches("fault on   upstream-500").count(),
        1,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("fault off  upstream-500").count(),
        1,
        "{stdout}"
    );

    let result = read_result(&out);
    assert_eq!(result["outcome"], "passed");
    let states = breaker_states(&result);
    assert!(
        in_order(&states, &["closed", "open", "half_open", "closed"]),
        "timeline: {}",
        result["timeline"]
    );
    assert_eq!(states.last().map(String::as_str), Some("closed"));
    // The breaker shielded the upstream: while open, the proxy forwarded nothing.
    let open_at = transition_time(&result, "open");
    let half_open_at = transition_time(&result, "half_open");
    let forwarded_while_open: u64 = result["tap"]
        .as_array()
        .expect("tap")
        .iter()
        .filter(|b| {
            let at = b["at_ms"].as_f64().expect("at_ms") / 1000.0;
            // Margins: a bucket is 100 ms, and the probe is counted when it is sent.
            at > open_at + 0.3 && at + 0.5 < half_open_at
        })
        .map(|b| b["forwarded"].as_u64().expect("forwarded"))
        .sum();
    assert_eq!(
        forwarded_while_open, 0,
        "upstream calls while the breaker was open"
    );
    let verify_open = phase(&result, "verify_open");
    assert!(verify_open["all"]["fallback_rate"].as_f64().expect("rate") > 0.9);

    // The decision log beside the result: per fault, as many injections as the tap counted.
    let decisions_path = out.with_extension("decisions.ndjson");
    assert!(
        stdout.contains(&format!(
            "decisions written to {}",
            decisions_path.display()
        )),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&decisions_path).expect("the decision log is written");
    let decisions: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON decision"))
        .collect();
    for fault in result["faults"].as_array().expect("faults") {
        let id = fault["id"].as_u64().expect("id");
        let injected = decisions
            .iter()
            .filter(|d| d["rule"].as_u64() == Some(id) && d["injected"] == true)
            .count() as u64;
        assert_eq!(
            injected,
            fault["injected"].as_u64().expect("injected"),
            "{fault}"
        );
    }
    assert!(decisions.iter().any(|d| d["injected"] == true));
    assert!(decisions
        .iter()
        .all(|d| d["reason"].as_str().is_some_and(|r| !r.is_empty())));
    let seqs: Vec<u64> = decisions
        .iter()
        .map(|d| d["seq"].as_u64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first");
}

#[test]
fn demo_drill_without_a_breaker_fails_and_names_what_failed() {
    let (run, out) = run_quiet("demo-off", &["demo", "--breaker", "off"]);
    assert_eq!(run.code, Some(1), "{run}");
    let stdout = &run.stdout;
    assert_fits_100_columns(stdout);
    for failed in [
        "FAIL    breaker sequence",
        "FAIL    p95 of phase verify_open",
        "FAIL    breaker opens",
    ] {
        assert!(stdout.contains(failed), "missing {failed:?} in\n{stdout}");
    }
    let result = read_result(&out);
    assert_eq!(result["outcome"], "failed");
    assert_eq!(result["parts"]["demo_breaker"], "off");
    // Without a breaker every call reaches the upstream: the tap sees it closed throughout.
    assert_eq!(breaker_states(&result), vec!["closed"]);
}

#[test]
fn external_service_drill_runs_against_a_separately_started_service() {
    let proxy_port = free_port();
    let mut service = ChildGuard(
        breakerbox()
            .args([
                "demo-service",
                "--listen",
                "127.0.0.1:0",
                "--failure-threshold",
                "5",
                "--open-duration",
                "5s",
            ])
            .arg("--upstream")
            .arg(format!("http://127.0.0.1:{proxy_port}"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("demo-service starts"),
    );
    let stdout = service.0.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("announces its address");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();

    let proxy_listen = format!("127.0.0.1:{proxy_port}");
    let (run, out) = run_quiet(
        "external",
        &[
            "run",
            "drills/external-service.toml",
            "--target",
            &url,
            "--proxy-listen",
            &proxy_listen,
        ],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let result = read_result(&out);
    assert_eq!(result["target"], url.as_str());
    assert!(in_order(
        &breaker_states(&result),
        &["closed", "open", "half_open", "closed"]
    ));
    assert!(
        result["parts"]["demo"].is_null(),
        "the drill started no demo service of its own"
    );
}

#[test]
fn ctrl_c_stops_the_run_with_exit_3_and_keeps_the_result() {
    let dir = scratch("ctrl-c");
    let out = dir.join("result.json");
    let child = breakerbox()
        .args(["demo", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut guard = ChildGuard(child);
    // The first stderr line is printed once the parts run and the clock is about to start.
    let stderr = guard.0.stderr.take().expect("stderr");
    let mut stderr = BufReader::new(stderr);
    let mut first = String::new();
    stderr.read_line(&mut first).expect("announces the drill");
    assert!(first.starts_with("drill circuit-breaker:"), "{first:?}");
    // Keep draining, so the child never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    std::thread::sleep(Duration::from_secs(3));
    let pid = guard.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = guard.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not stop within 10 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3));
    let result = read_result(&out);
    assert_eq!(result["outcome"], "aborted");
    let duration = result["duration_s"].as_f64().expect("duration");
    assert!((2.5..15.0).contains(&duration), "{duration}");
    let requests = result["total"]["requests"].as_u64().expect("requests");
    assert!(requests > 30, "recorded requests kept: {requests}");
    let last = result["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .expect("events");
    assert_eq!(last["event"], "aborted");
}

#[test]
fn an_unreachable_target_fails_fast_with_exit_4() {
    // Port 0 is never listening: a port that was free a moment ago may not stay free while
    // other tests start servers.
    let closed = 0;
    let started = Instant::now();
    let run = breakerbox()
        .args([
            "run",
            "drills/external-service.toml",
            "--quiet",
            "--proxy-listen",
            "127.0.0.1:0",
        ])
        .arg("--target")
        .arg(format!("http://127.0.0.1:{closed}"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn transition_time(result: &serde_json::Value, to: &str) -> f64 {
    result["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .find(|e| e["event"] == "breaker" && e["to"] == to)
        .and_then(|e| e["at"].as_f64())
        .unwrap_or_else(|| panic!("no transition to {to}"))
}

fn phase<'r>(result: &'r serde_json::Value, name: &str) -> &'r serde_json::Value {
    result["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no phase {name}"))
}

/// Kills the child (by its own PID) if the test ends early.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
