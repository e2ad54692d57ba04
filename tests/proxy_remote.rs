//! `breakerbox run` driving a fault proxy in another process through its admin API
//! (`[proxy] admin`): the schedule is installed there, kept on the run's clock, and the tap
//! read back for the witnesses and the breaker inference.

mod common;

use std::path::Path;

/// Starts `breakerbox proxy ARGS` and returns it with the URL of each of its first `lines`
/// stdout lines.
fn start_proxy(args: &[&str], lines: usize) -> (common::Running, Vec<String>) {
    let mut all = vec!["proxy"];
    all.extend_from_slice(args);
    start_child(&all, lines)
}

/// Starts `breakerbox ARGS` and returns it with the URL of each of its first `lines` stdout
/// lines.
fn start_child(args: &[&str], lines: usize) -> (common::Running, Vec<String>) {
    let (running, seen) = common::start_child(args, lines);
    (running, seen.iter().map(|l| common::url_in(l)).collect())
}

/// The demo service behind a proxy in another process: 2 s fine, 4 s of upstream 500s, 6 s
/// to recover. The demo opens after 5 failures and stays open 2 s.
fn drill(dir: &Path, proxy: &str) -> std::path::PathBuf {
    drill_with(dir, proxy, true)
}

/// [`drill`], with or without a stub of the run's own.
fn drill_with(dir: &Path, proxy: &str, stub: bool) -> std::path::PathBuf {
    let text = format!(
        r#"
name = "remote-proxy"
seed = 7
request_timeout = "2s"

[parts]
stub = {stub}
proxy = true
demo = true

{proxy}

[demo]
failure_threshold = 5
open_duration = "2s"
cache_ttl = "0s"
upstream_timeout = "1s"

[[requests]]
name = "item"
path = "/api/item/{{{{random_int 1 500}}}}"

[[phases]]
name = "fine"
executor = "constant-arrival-rate"
rate = 40
duration = "2s"

[[phases]]
name = "outage"
executor = "constant-arrival-rate"
rate = 40
duration = "4s"
faults = ["total-outage"]

[[phases]]
name = "recovery"
executor = "constant-arrival-rate"
rate = 40
duration = "6s"

[observe]
state_header = "x-circuit-state"
fallback_header = "x-fallback"

[expect.breaker]
sequence = ["closed", "open", "half_open", "closed"]
closed_at_end = true
"#
    );
    let path = dir.join("remote.toml");
    std::fs::write(&path, text).expect("writes the drill");
    let profiles = dir.join("fault-profiles");
    std::fs::create_dir_all(&profiles).expect("profile dir");
    std::fs::copy(
        common::repo_root().join("fault-profiles/total-outage.toml"),
        profiles.join("total-outage.toml"),
    )
    .expect("copies the shipped profile");
    path
}

#[test]
fn a_run_installs_its_schedule_on_a_remote_proxy_and_reads_its_tap() {
    let (_proxy, urls) = start_proxy(&["--admin", "127.0.0.1:0"], 1);
    let admin = &urls[0];
    let dir = common::scratch("remote-proxy");
    // The run creates the HTTP proxy there (it has none yet), in front of the run's stub.
    let path = drill(
        &dir,
        &format!("[proxy]\nadmin = \"{admin}\"\nname = \"from-run\"\nlisten = \"127.0.0.1:0\""),
    );
    let out = dir.join("result.json");
    let run = common::run_drill_file(&path, &out);
    assert_eq!(run.code, Some(0), "{run}");
    let result = common::read_result(&out);

    let proxy_url = result["parts"]["proxy"].as_str().expect("proxy URL");
    assert!(proxy_url.starts_with("http://127.0.0.1:"), "{proxy_url}");
    let injected = result["faults"][0]["injected"].as_u64().expect("injected");
    assert!(
        injected >= 5,
        "the remote proxy injected the outage: {injected}"
    );
    let tap = result["tap"].as_array().expect("tap buckets");
    let forwarded: u64 = tap
        .iter()
        .map(|b| b["forwarded"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        forwarded > 50,
        "the remote tap was read back: {forwarded} forwarded"
    );
    // Injections fall inside the outage window (2 s to 6 s) on the run's clock.
    for bucket in tap {
        let n: u64 = bucket["injected"]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x.as_u64()).sum())
            .unwrap_or(0);
        let at = bucket["at_ms"].as_u64().expect("at_ms");
        if n > 0 {
            assert!((1_900..6_200).contains(&at), "injection at {at} ms");
        }
    }
    // The remote decision log came back too, on the run's clock, injections counted alike.
    let log = std::fs::read_to_string(out.with_extension("decisions.ndjson"))
        .expect("the remote decision log is written beside the result");
    let injections: Vec<f64> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one decision per line"))
        .filter(|d| d["injected"] == true)
        .map(|d| d["at_ms"].as_f64().expect("at_ms"))
        .collect();
    assert_eq!(injections.len() as u64, injected);
    for at in injections {
        assert!((1_900.0..6_200.0).contains(&at), "decision at {at} ms");
    }
    let states = common::breaker_states(&result);
    assert!(
        common::in_order(&states, &["closed", "open", "half_open", "closed"]),
        "{states:?}"
    );

    // Afterwards the run cleared its faults: the proxy forwards again.
    let addr = proxy_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connects to the remote proxy");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(!response.contains("x-breakerbox-fault"), "{response}");
}

#[test]
fn an_unreachable_or_missing_remote_proxy_is_a_one_line_error() {
    let dir = common::scratch("remote-proxy-missing");
    let port = common::free_port();
    let path = drill(
        &dir,
        &format!("[proxy]\nadmin = \"http://127.0.0.1:{port}\""),
    );
    let run = common::run_drill_file(&path, &dir.join("result.json"));
    assert_ne!(run.code, Some(0), "{run}");
    assert_eq!(run.stderr.trim().lines().count(), 1, "{run}");
    assert!(run.stderr.contains("refused the connection"), "{run}");

    let (_proxy, urls) = start_proxy(&["--admin", "127.0.0.1:0"], 1);
    let path = drill(
        &dir,
        &format!("[proxy]\nadmin = \"{}\"\nname = \"nope\"", urls[0]),
    );
    let run = common::run_drill_file(&path, &dir.join("result.json"));
    assert_ne!(run.code, Some(0), "{run}");
    assert!(run.stderr.contains("no HTTP proxy named \"nope\""), "{run}");
}

#[test]
fn a_run_drives_a_standalone_proxy_registered_as_default() {
    let (_stub, stub) = start_child(&["stub", "--listen", "127.0.0.1:0"], 1);
    let (_proxy, urls) = start_proxy(
        &[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &stub[0],
            "--admin",
            "127.0.0.1:0",
        ],
        2,
    );
    let dir = common::scratch("remote-proxy-default");
    // Nothing but the admin URL: the proxy, its upstream and its port are the remote's.
    let path = drill_with(&dir, &format!("[proxy]\nadmin = \"{}\"", urls[1]), false);
    let out = dir.join("result.json");
    let run = common::run_drill_file(&path, &out);
    assert_eq!(run.code, Some(0), "{run}");
    let result = common::read_result(&out);
    assert_eq!(result["parts"]["proxy"].as_str(), Some(urls[0].as_str()));
    assert!(
        result["parts"]["stub"].is_null(),
        "no stub of the run's own"
    );
    let injected = result["faults"][0]["injected"].as_u64().expect("injected");
    assert!(injected >= 5, "{injected}");
}
