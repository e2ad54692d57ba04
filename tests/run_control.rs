//! Runs that must stop or be judged invalid for a stated reason: an abort threshold, an
//! unhealthy service at preflight, a state endpoint that never answers.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A drill on the built-in parts with `extra` appended: 2 s baseline, then 6 s of an
/// upstream that fails fast, against a demo service that answers 503 when its call fails.
fn drill(dir: &Path, demo: &str, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
name = "run-control"
seed = 3
profile_dir = "{profiles}"

[parts]
stub = true
proxy = true
demo = true

[demo]
{demo}

[[requests]]
name = "item"
path = "/api/item/{{{{random_int 1 1000}}}}"

[[phases]]
name = "baseline"
executor = "constant-arrival-rate"
rate = 40
duration = "2s"

[[phases]]
name = "outage"
executor = "constant-arrival-rate"
rate = 40
duration = "6s"
faults = ["upstream-reset"]

{extra}
"#,
        profiles = repo_root().join("fault-profiles").display()
    );
    let file = dir.join("drill.toml");
    std::fs::write(&file, text).expect("write drill");
    file
}

#[test]
fn a_failing_abort_threshold_stops_the_run_early_with_exit_3() {
    let dir = scratch("abort");
    let file = drill(
        &dir,
        "breaker = \"off\"\nfallback = false",
        r#"
[[expect.thresholds]]
phase = "outage"
max_error_rate = 0.05
window = "1s"
abort_on_fail = true
abort_grace = "1s"
"#,
    );
    let out = dir.join("result.json");
    let started = Instant::now();
    let run = run_drill_file(&file, &out);
    assert_eq!(run.code, Some(3), "{run}");
    assert!(started.elapsed() < Duration::from_secs(7), "stopped early");
    let result = read_result(&out);
    assert_eq!(result["outcome"], "aborted");
    let reason = result["abort_reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("abort_on_fail: error rate of phase outage was"),
        "{reason}"
    );
    let ran = result["duration_s"].as_f64().expect("duration");
    assert!((3.0..6.5).contains(&ran), "aborted after the grace: {ran}");
    assert!(run.stdout.contains("ABORTED"), "{run}");
}

#[test]
fn an_unhealthy_service_at_preflight_is_an_invalid_run_before_any_load() {
    let dir = scratch("preflight");
    let file = drill(
        &dir,
        "",
        r#"
[preflight]
health = "/not-a-health-endpoint"
timeout = "1s"
"#,
    );
    let out = dir.join("result.json");
    let run = run_drill_file(&file, &out);
    assert_eq!(run.code, Some(4), "{run}");
    let line = run.stderr.trim();
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    assert!(line.contains("preflight"), "{line}");
    assert!(
        line.contains("/not-a-health-endpoint did not answer a 2xx within 1s (last: answered 404)"),
        "{line}"
    );
    // No load ran, but the result says so.
    let result = read_result(&out);
    assert_eq!(result["outcome"], "invalid");
    assert!(result["abort_reason"]
        .as_str()
        .expect("reason")
        .contains("answered 404"));
    assert_eq!(result["verdicts"][0]["status"], "invalid");
}

#[test]
fn a_healthy_service_passes_preflight() {
    let dir = scratch("preflight-ok");
    let file = drill(
        &dir,
        "",
        "[preflight]\nhealth = \"/health\"\nstatus = 200\n",
    );
    let out = dir.join("result.json");
    let run = run_drill_file(&file, &out);
    assert_eq!(run.code, Some(0), "{run}");
}

#[test]
fn a_state_endpoint_that_never_answers_is_counted_and_makes_the_judgement_invalid() {
    let dir = scratch("dead-endpoint");
    let file = drill(
        &dir,
        "",
        r#"
[observe.endpoint]
url = "http://127.0.0.1:0/actuator/circuitbreakers"
pointer = "/circuitBreakers/backendA/state"
interval = "100ms"

[observe.prometheus]
url = "/api/item/1"
metric = 'resilience4j_circuitbreaker_state{name="backendA"}'
interval = "200ms"

[expect.breaker]
sequence = ["closed", "open"]
"#,
    );
    let out = dir.join("result.json");
    let run = run_drill_file(&file, &out);
    assert_eq!(run.code, Some(4), "{run}");
    let result = read_result(&out);
    let channels = result["observations"]["channels"]
        .as_array()
        .expect("channels");
    let endpoint = channels
        .iter()
        .find(|c| c["channel"] == "endpoint")
        .expect("endpoint channel");
    let polls = endpoint["polls"]["polls"].as_u64().expect("polls");
    assert!(polls > 20, "polled all along: {polls}");
    assert_eq!(endpoint["polls"]["failed"]["connect"], polls, "{endpoint}");
    let prometheus = channels
        .iter()
        .find(|c| c["channel"] == "prometheus")
        .expect("prometheus channel");
    let causes = prometheus["polls"]["failed"].as_object().expect("causes");
    assert!(
        causes.keys().any(|k| k.starts_with("not an exposition")),
        "a JSON page is not a Prometheus page: {causes:?}"
    );
    // The other channels went on working and the sequence was still judged.
    let tap = channels
        .iter()
        .find(|c| c["channel"] == "tap")
        .expect("tap");
    assert!(!tap["transitions"]
        .as_array()
        .expect("transitions")
        .is_empty());
    assert!(
        run.stdout
            .contains("INVALID endpoint channel read the breaker state"),
        "{run}"
    );
    assert!(run.stdout.contains("breaker sequence"), "{run}");
}

#[test]
fn an_unwritable_out_is_refused_before_the_run() {
    let dir = scratch("unwritable-out");
    let file = drill(&dir, "", "");
    let started = Instant::now();
    let run = run_drill_file(&file, &dir.join("no-such-dir/result.json"));
    assert_eq!(run.code, Some(2), "{run}");
    assert!(
        run.stderr.starts_with("error: --out: cannot write"),
        "{run}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused before running"
    );
}

#[test]
fn sigterm_stops_the_run_with_exit_3_and_writes_a_complete_result() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = scratch("sigterm");
    let file = drill(&dir, "", "");
    let out = dir.join("result.json");
    std::fs::write(&out, "previous run").expect("an older result");
    let mut child = breakerbox()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("announces the drill");
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    std::thread::sleep(Duration::from_secs(3));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3));
    let result = read_result(&out);
    assert_eq!(result["outcome"], "aborted");
    assert_eq!(result["abort_reason"], "interrupted (SIGTERM)");
    assert!(result["total"]["requests"].as_u64().expect("requests") > 50);
    let last = result["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .expect("events");
    assert_eq!(last["event"], "aborted");
}
