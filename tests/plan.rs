//! `breakerbox plan`: a dry run that states the arithmetic and sends nothing.

mod common;

use common::*;
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn plan(args: &[&str]) -> (i32, String, String) {
    let out = breakerbox()
        .arg("plan")
        .args(args)
        .output()
        .expect("run plan");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn phase_line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no line for phase {name}: {text}"))
}

#[test]
fn plan_shows_every_phase_with_its_expected_requests() {
    let (code, text, stderr) = plan(&["drills/circuit-breaker.toml"]);
    assert_eq!(code, 0, "{stderr}");
    // constant-arrival-rate at 50/s: rate × duration, by hand.
    for (phase, requests) in [
        ("baseline", "400"),
        ("induce_failures", "150"),
        ("verify_open", "200"),
        ("wait_half_open", "300"),
        ("recovery", "500"),
    ] {
        let line = phase_line(&text, phase);
        assert!(line.contains("constant-arrival-rate"), "{line}");
        assert!(line.trim_end().ends_with(&format!(" {requests}")), "{line}");
    }
    let warmup = phase_line(&text, "warmup");
    assert!(
        warmup.contains("ramping-vus") && warmup.contains('~'),
        "estimated: {warmup}"
    );
    assert!(
        text.contains("assumed 50ms"),
        "the assumption is stated: {text}"
    );
    assert!(text.contains("requests per second over time"), "{text}");
    assert!(text.contains('█'), "a chart: {text}");
    assert!(text.contains("upstream-500"), "fault windows: {text}");
    assert!(text.contains("12s – 15s"), "window times: {text}");
    assert!(
        text.contains("breaker goes closed → open → half_open → closed"),
        "{text}"
    );
    assert!(text.contains("budget: about"), "{text}");
    for line in text.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}

const SOAK: &str = r#"name = "soak"
target = "http://127.0.0.1:1"

[[requests]]
name = "item"
path = "/item/1"

[[phases]]
name = "ramp"
executor = "ramping-arrival-rate"
start_rate = 0
stages = [{ duration = "10m", target = 40 }]
max_vus = 200

[[phases]]
name = "soak"
executor = "constant-arrival-rate"
rate = 25
duration = "2h"
max_vus = 200
"#;

#[test]
fn a_two_hour_soak_is_arithmetic() {
    let dir = scratch("plan-soak");
    let path = dir.join("soak.toml");
    std::fs::write(&path, SOAK).expect("write");
    let path = path.to_string_lossy().into_owned();
    let (code, text, stderr) = plan(&[&path]);
    assert_eq!(code, 0, "{stderr}");
    // 25/s × 7200 s, and a ramp from 0 to 40/s over 600 s: 40 / 2 × 600.
    assert!(
        phase_line(&text, "soak").trim_end().ends_with(" 180,000"),
        "{text}"
    );
    assert!(
        phase_line(&text, "ramp").trim_end().ends_with(" 12,000"),
        "{text}"
    );
    assert!(text.contains("2h10m"), "{text}");
    assert!(text.contains("about 192,000 requests"), "{text}");

    let (code, json, _) = plan(&[&path, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("one JSON object");
    let f = &v["forecast"];
    assert_eq!(f["total_requests"], 192_000.0);
    assert_eq!(f["phases"][1]["requests"], 180_000.0);
    assert_eq!(f["phases"][1]["exact"], true);
    assert_eq!(f["duration_s"], 7800.0);
    assert_eq!(f["peak_rate"], 40.0);
    assert_eq!(v["drill"], "soak");
}

#[test]
fn plan_sends_nothing_to_the_target() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (accepted, done) = (accepted.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Ok((mut s, _)) = listener.accept() {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let _ = s.read(&mut [0; 64]);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let target = format!("localhost:{port}");
    let (code, text, stderr) = plan(&["drills/external-service.toml", "--target", &target]);
    std::thread::sleep(Duration::from_millis(200));
    done.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        text.contains(&format!("target: http://localhost:{port}")),
        "{text}"
    );
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        0,
        "plan connected to the target"
    );
}

#[test]
fn the_seed_comes_from_the_environment_and_a_bad_drill_is_exit_2() {
    let out = breakerbox()
        .args(["plan", "drills/circuit-breaker.toml"])
        .env("BREAKERBOX_SEED", "777")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().next().unwrap_or("").ends_with("seed 777"),
        "{text}"
    );
    let (code, _, stderr) = plan(&["drills/nope.toml"]);
    assert_eq!(code, 2, "{stderr}");
}
