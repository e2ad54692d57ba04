//! What a run shows and writes while it goes on: the plain progress line off a terminal,
//! logs without colour codes, the per-second NDJSON series (also after a SIGKILL), and the
//! live `/metrics` endpoint.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// 2 s baseline, then 4 s of an upstream that resets every call: the demo service's
/// breaker opens and it answers with fallbacks.
fn drill(dir: &Path) -> PathBuf {
    let text = format!(
        r#"
name = "live-view"
seed = 3
profile_dir = "{profiles}"

[parts]
stub = true
proxy = true
demo = true

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
duration = "4s"
faults = ["upstream-reset"]
"#,
        profiles = repo_root().join("fault-profiles").display()
    );
    let file = dir.join("drill.toml");
    std::fs::write(&file, text).expect("write drill");
    file
}

fn run(dir: &Path, extra: &[&str]) -> Finished {
    let file = drill(dir);
    let mut args: Vec<std::ffi::OsString> = vec!["run".into(), file.into()];
    args.extend(["--out".into(), dir.join("result.json").into()]);
    args.extend(extra.iter().map(Into::into));
    run_args(&args)
}

/// The series file's lines, each parsed (panics on a line that is not JSON).
fn series(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("series file");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// The `second` lines' `t`s are 0, 1, 2, … with no gap.
fn assert_consecutive(lines: &[serde_json::Value]) {
    let ts: Vec<u64> = lines
        .iter()
        .filter(|l| l["type"] == "second")
        .map(|l| l["t"].as_u64().expect("t"))
        .collect();
    assert!(!ts.is_empty(), "no seconds");
    assert_eq!(ts, (0..ts.len() as u64).collect::<Vec<_>>());
}

#[test]
fn off_a_terminal_a_plain_line_every_second_no_colour_and_the_series_adds_up() {
    let dir = scratch("live-plain");
    let run = run(&dir, &["-v", "--progress-every", "1s"]);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        !run.stderr.contains("\x1b["),
        "colour codes in piped logs:\n{run}"
    );
    assert!(run.stderr.contains("INFO"), "-v logs: {run}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("[phase "))
        .collect();
    assert!(lines.len() >= 4, "a line a second: {run}");
    assert!(lines.iter().any(|l| l.starts_with("[phase 1/2 baseline]")));
    let outage: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("[phase 2/2 outage]"))
        .collect();
    assert!(
        outage
            .iter()
            .any(|l| l.contains("faults on: upstream-reset/reset")),
        "{run}"
    );
    // While the breaker is open the line says so, with the fallbacks it serves.
    let open = outage
        .iter()
        .find(|l| l.contains("breaker OPEN"))
        .unwrap_or_else(|| panic!("no line with the breaker open: {run}"));
    let fallbacks: u64 = open
        .split("  ")
        .find_map(|part| part.strip_suffix(" fallbacks"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no fallback count in {open}"));
    assert!(fallbacks > 0, "{open}");

    let lines = series(&dir.join("result.ndjson"));
    assert_eq!(lines[0]["type"], "start");
    assert_eq!(
        lines[0]["phases"],
        serde_json::json!(["baseline", "outage"])
    );
    let end = lines.last().expect("lines");
    assert_eq!(end["type"], "end", "{end}");
    assert_eq!(end["stopped_early"], false);
    assert_consecutive(&lines);
    let seconds: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "second").collect();
    assert_eq!(end["seconds"].as_u64(), Some(seconds.len() as u64));
    assert!((6..=7).contains(&seconds.len()), "{}", seconds.len());
    assert_eq!(seconds[0]["phase"], "baseline");
    assert_eq!(seconds[3]["phase"], "outage");
    assert_eq!(
        seconds[3]["faults"],
        serde_json::json!(["upstream-reset/reset"])
    );
    assert!(seconds[0]["p95_ms"].as_f64().is_some_and(|p| p > 0.0));
    let sum = |key: &str| -> u64 { seconds.iter().map(|s| s[key].as_u64().unwrap_or(0)).sum() };
    let result = read_result(&dir.join("result.json"));
    assert_eq!(Some(sum("requests")), result["total"]["requests"].as_u64());
    let fallback_rate = result["total"]["fallback_rate"].as_f64().expect("rate");
    let ours = sum("fallbacks") as f64 / sum("requests") as f64;
    assert!(
        (ours - fallback_rate).abs() < 0.001,
        "{ours} vs {fallback_rate}"
    );
    assert!(seconds.iter().any(|s| s["breaker"]["header"] == "open"));
}

#[test]
fn quiet_shows_nothing_but_still_writes_the_series() {
    let dir = scratch("live-quiet");
    let series_file = dir.join("elsewhere.ndjson");
    let run = run(
        &dir,
        &[
            "--quiet",
            "--series-out",
            series_file.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.stderr, "", "{run}");
    assert!(!dir.join("result.ndjson").exists());
    let lines = series(&series_file);
    assert_eq!(lines.last().map(|l| l["type"].clone()), Some("end".into()));
}

#[test]
fn a_killed_run_leaves_every_second_so_far_as_whole_json_lines() {
    let dir = scratch("live-kill");
    let file = drill(&dir);
    let series_file = dir.join("result.ndjson");
    let mut child = breakerbox()
        .args([
            "run".as_ref(),
            file.as_os_str(),
            "--quiet".as_ref(),
            "--out".as_ref(),
        ])
        .arg(dir.join("result.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seconds = std::fs::read_to_string(&series_file)
            .map(|t| t.lines().filter(|l| l.contains("\"second\"")).count())
            .unwrap_or(0);
        if seconds >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no seconds written");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix, to this PID only.
    let _ = child.wait();
    let text = std::fs::read_to_string(&series_file).expect("series");
    assert!(text.ends_with('\n'), "a torn last line: {text:?}");
    let lines = series(&series_file);
    assert_consecutive(&lines);
    assert!(lines.iter().all(|l| l["type"] != "end"));
    assert!(!dir.join("result.json").exists());
}

/// GETs `/metrics` over plain HTTP/1.1; `None` while nothing listens.
fn scrape(port: u16, accept: &str) -> Option<(String, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.to_string(), body.to_string()))
}

/// A small exposition parser: checks every sample belongs to a family declared with
/// `# TYPE` before it and returns the samples as `name{labels}` → value.
fn parse(text: &str, openmetrics: bool) -> BTreeMap<String, f64> {
    let mut families: Vec<(String, String)> = Vec::new();
    let mut samples = BTreeMap::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" {
            assert!(openmetrics, "# EOF in the Prometheus format");
            assert!(lines.peek().is_none(), "text after # EOF");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            if openmetrics && kind == "counter" {
                assert!(!name.ends_with("_total"), "{line}");
            }
            families.push((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
        };
        let name = series.split('{').next().expect("name");
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                let inner = &labels[1..labels.len() - 1];
                for pair in inner.split("\",") {
                    let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                    assert!(!v.trim_end_matches('"').contains('\n'));
                }
            }
        }
        let (family, _) = families
            .last()
            .unwrap_or_else(|| panic!("sample before any # TYPE: {line}"));
        assert!(name.starts_with(family.as_str()), "{name} outside {family}");
        samples.insert(series.to_string(), value);
    }
    if openmetrics {
        assert!(text.ends_with("# EOF\n"), "no # EOF");
    }
    samples
}

#[test]
fn the_metrics_endpoint_serves_the_run_while_it_goes() {
    let dir = scratch("live-metrics");
    let file = drill(&dir);
    let port = free_port();
    let mut child = breakerbox()
        .args([
            "run".as_ref(),
            file.as_os_str(),
            "--quiet".as_ref(),
            "--out".as_ref(),
        ])
        .arg(dir.join("result.json"))
        .args(["--metrics-listen", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen: Option<BTreeMap<String, f64>> = None;
    // Scrape until the outage phase has started and requests were counted.
    while Instant::now() < deadline {
        if let Some((head, body)) = scrape(port, "application/openmetrics-text; version=1.0.0") {
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            assert!(head
                .to_ascii_lowercase()
                .contains("content-type: application/openmetrics-text"));
            let samples = parse(&body, true);
            if samples.get("breakerbox_phase_index") == Some(&1.0)
                && samples
                    .get("breakerbox_requests_total{phase=\"baseline\"}")
                    .is_some_and(|n| *n > 0.0)
            {
                seen = Some(samples);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let prometheus = scrape(port, "text/plain").map(|(_, body)| body);
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    let samples = seen.expect("a scrape during the outage phase");
    assert_eq!(samples["breakerbox_run_planned_seconds"], 6.0);
    let elapsed = samples["breakerbox_run_elapsed_seconds"];
    assert!((2.0..=7.0).contains(&elapsed), "{elapsed}");
    assert_eq!(samples["breakerbox_phase{phase=\"outage\"}"], 1.0);
    let baseline = samples["breakerbox_requests_total{phase=\"baseline\"}"];
    assert!((40.0..=120.0).contains(&baseline), "{baseline}");
    let states: f64 = ["closed", "open", "half_open"]
        .iter()
        .map(|s| samples[&format!("breakerbox_breaker_state{{channel=\"header\",state=\"{s}\"}}")])
        .sum();
    assert_eq!(states, 1.0, "exactly one state of the header channel");
    assert!(
        samples.contains_key("breakerbox_fault_active{profile=\"upstream-reset\",kind=\"reset\"}")
    );
    let inf = samples["breakerbox_request_duration_seconds_bucket{le=\"+Inf\"}"];
    assert_eq!(inf, samples["breakerbox_request_duration_seconds_count"]);
    assert!(samples["breakerbox_request_duration_seconds_bucket{le=\"1\"}"] <= inf);
    assert!(samples.contains_key("breakerbox_in_flight"));
    if let Some(body) = prometheus {
        let samples = parse(&body, false);
        assert!(samples.contains_key("breakerbox_requests_total{phase=\"outage\"}"));
    }
}

#[test]
fn the_metrics_endpoint_stays_on_loopback_unless_told() {
    let dir = scratch("live-exposed");
    let run = run(&dir, &["--metrics-listen", "0.0.0.0:9"]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("--metrics-listen-exposed"), "{run}");
}
