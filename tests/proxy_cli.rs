//! `breakerbox proxy` on its own: an HTTP fault proxy in front of the stub with a shipped
//! profile applied from the start, and the Toxiproxy-compatible admin API beside it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Starts `breakerbox ARGS` and returns it with the first `lines` lines of its stdout.
fn start(args: &[&str], lines: usize) -> (common::Running, Vec<String>) {
    common::start_child(args, lines)
}

/// `http://host:port…` → `host:port`.
fn authority(line: &str) -> String {
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL in the line");
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .split('/')
        .next()
        .expect("authority")
        .to_string()
}

/// One `GET path` on a fresh connection; the status and the whole response.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

#[test]
fn a_standalone_proxy_applies_a_profile_and_serves_the_admin_api() {
    let (_stub, stub_lines) = start(&["stub", "--listen", "127.0.0.1:0"], 1);
    let upstream = format!("http://{}", authority(&stub_lines[0]));
    let (status, _) = get(&authority(&stub_lines[0]), "/item/1");
    assert_eq!(status, 200, "the stub answers directly");

    let (_proxy, lines) = start(
        &[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--profile",
            "fault-profiles/total-outage.toml",
            "--admin",
            "127.0.0.1:0",
        ],
        2,
    );
    assert!(lines[0].contains("1 fault"), "{lines:?}");
    let (status, response) = get(&authority(&lines[0]), "/item/1");
    assert_eq!(status, 503, "total-outage answers 503: {response}");
    assert!(
        response.to_ascii_lowercase().contains("retry-after: 5"),
        "{response}"
    );
    let (status, body) = get(&authority(&lines[1]), "/version");
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&authority(&lines[1]), "/proxies");
    assert_eq!(status, 200, "{body}");
    assert!(body.trim_end().ends_with("{}"), "no proxies yet: {body}");
    // The HTTP proxy is in the admin API as `default`, with the profile's rule.
    let (status, body) = get(&authority(&lines[1]), "/http-proxies/default");
    assert_eq!(status, 200, "{body}");
    let json = body.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let view: serde_json::Value = serde_json::from_str(json).expect("JSON");
    assert_eq!(view["listen"], authority(&lines[0]), "{view}");
    assert_eq!(
        (view["rules"].as_u64(), view["started"].as_bool()),
        (Some(1), Some(true))
    );
}

#[test]
fn the_standalone_proxy_takes_another_name() {
    let (_proxy, lines) = start(
        &[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
            "--admin",
            "127.0.0.1:0",
            "--name",
            "payments",
        ],
        2,
    );
    assert!(lines[0].contains("\"payments\""), "{lines:?}");
    let (status, body) = get(&authority(&lines[1]), "/http-proxies/payments/faults");
    assert_eq!(status, 200, "{body}");
    assert!(body.trim_end().ends_with(r#"{"rules":[]}"#), "{body}");
    let (status, _) = get(&authority(&lines[1]), "/http-proxies/default");
    assert_eq!(status, 404);
}

#[test]
fn a_proxy_with_nothing_to_do_is_a_usage_error() {
    let out = common::breakerbox().arg("proxy").output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--admin"), "{stderr}");
    let out = common::breakerbox()
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
            "--profile",
            "no/such/profile.toml",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no/such/profile.toml"), "{stderr}");
}

/// The nice values of `pid`'s runtime threads (named `bb-proxy`), from /proc.
fn worker_nice_values(pid: u32) -> Vec<i64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc lists the threads");
    let mut nice = Vec::new();
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != "bb-proxy" {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).expect("a thread's stat");
        // Fields after the parenthesised name: state is field 3, nice field 19.
        let after_name = &stat[stat.rfind(')').expect("stat has a name") + 2..];
        let field = after_name
            .split(' ')
            .nth(16)
            .expect("stat has a nice field");
        nice.push(field.parse().expect("nice is a number"));
    }
    nice
}

/// Whether a process started from this one may set nice -10: it holds `CAP_SYS_NICE` (bit
/// 23 of its effective capabilities; root usually does, not inside every container), or its
/// `RLIMIT_NICE` allows it (20 - limit <= -10).
fn may_raise_priority() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_sys_nice = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 23) != 0);
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let rlimit_nice = limits
        .lines()
        .find(|l| l.starts_with("Max nice priority"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| match soft {
            "unlimited" => Some(u64::MAX),
            n => n.parse::<u64>().ok(),
        })
        .unwrap_or(0);
    cap_sys_nice || rlimit_nice >= 30
}

#[test]
fn the_proxy_runs_on_the_threads_and_priority_asked_for() {
    let (_stub, stub_lines) = start(&["stub", "--listen", "127.0.0.1:0"], 1);
    let upstream = format!("http://{}", authority(&stub_lines[0]));
    let proxy_on = |extra: &[&str]| {
        let mut args = vec![
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            upstream.as_str(),
        ];
        args.extend_from_slice(extra);
        let (proxy, lines) = start(&args, 1);
        let (status, _) = get(&authority(&lines[0]), "/item/1");
        assert_eq!(status, 200, "{args:?} forwards");
        proxy
    };

    let defaults = proxy_on(&[]);
    let nice = worker_nice_values(defaults.0.id());
    assert_eq!(nice.len(), 1, "one runtime thread by default: {nice:?}");
    let expected = if may_raise_priority() { -10 } else { 0 };
    assert_eq!(nice, vec![expected], "default priority is high");

    let normal = proxy_on(&["--threads", "3", "--priority", "normal"]);
    assert_eq!(worker_nice_values(normal.0.id()), vec![0, 0, 0]);

    let stderr = usage_error(&upstream, &["--priority", "realtime"]);
    assert!(stderr.contains("realtime"), "{stderr}");
}

/// `breakerbox proxy` in front of `upstream` with `flags`, which must be refused: its one
/// line of stderr.
fn usage_error(upstream: &str, flags: &[&str]) -> String {
    let out = common::breakerbox()
        .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream])
        .args(flags)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{flags:?} is a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn a_silent_client_is_closed_after_the_header_read_timeout_given() {
    let (_stub, stub_lines) = start(&["stub", "--listen", "127.0.0.1:0"], 1);
    let upstream = format!("http://{}", authority(&stub_lines[0]));
    let (_proxy, lines) = start(
        &[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            upstream.as_str(),
            "--header-read-timeout",
            "300ms",
        ],
        1,
    );
    let mut silent = TcpStream::connect(authority(&lines[0])).expect("connects");
    silent
        .set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    let began = std::time::Instant::now();
    let mut byte = [0u8; 1];
    let read = silent.read(&mut byte);
    // Closed by the proxy (0 bytes or a reset), well before the 10 s default and our 8 s.
    assert!(
        matches!(read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut),
        "{read:?}"
    );
    assert!(
        began.elapsed() >= Duration::from_millis(250),
        "{:?}",
        began.elapsed()
    );
    assert!(
        began.elapsed() < Duration::from_secs(6),
        "{:?}",
        began.elapsed()
    );

    let stderr = usage_error(&upstream, &["--header-read-timeout", "0s"]);
    assert!(stderr.contains("ends every wait at once"), "{stderr}");
}
