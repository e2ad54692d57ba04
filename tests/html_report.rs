//! The HTML report of a real run, opened in a real headless browser (Debian's `chromium`,
//! installed by `make test-deps`): it renders without console errors, its DOM holds the
//! verdicts and the bands, and a screenshot comes out.
//!
//! `BREAKERBOX_SCREENSHOT=docs/img/html-report.png cargo test --test html_report` runs the
//! shipped circuit-breaker drill instead (35 s) and copies its screenshot there: that is how
//! the README's picture is made.

mod common;

use breakerbox::breaker_state::BreakerState;
use breakerbox::drill::{PreparedDrill, Stop};
use breakerbox::plan::Overrides;
use breakerbox::report::{html, RunResult};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest one browser run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// A short drill on the built-in parts: 3 s baseline, 2 s of upstream 500s that open the
/// breaker (it stays open 2 s), 4 s recovery; 40 requests per second.
fn short_drill(dir: &Path) -> PathBuf {
    let text = format!(
        r#"
name = "html-report"
seed = 5
request_timeout = "2s"
profile_dir = "{profiles}"

[parts]
stub = true
proxy = true
demo = true

[demo]
failure_threshold = 5
open_duration = "2s"
cache_ttl = "1s"
upstream_timeout = "500ms"

[[requests]]
name = "item"
path = "/api/item/{{{{random_int 1 100}}}}"

[[phases]]
name = "baseline"
executor = "constant-arrival-rate"
rate = 40
duration = "3s"

[[phases]]
name = "outage"
executor = "constant-arrival-rate"
rate = 40
duration = "2s"
faults = ["upstream-500"]

[[phases]]
name = "recovery"
executor = "constant-arrival-rate"
rate = 40
duration = "4s"

[observe]
state_header = "x-circuit-state"
cache_header = "x-cache"
cache_hit_values = ["HIT"]
fallback_header = "x-fallback"

[observe.endpoint]
url = "/breaker"
pointer = "/state"
interval = "100ms"

[[expect.thresholds]]
phase = "baseline"
p95 = "200ms"

[expect.breaker]
sequence = ["closed", "open", "half_open", "closed"]
closed_at_end = true
"#,
        profiles = repo_root().join("fault-profiles").display(),
    );
    let path = dir.join("html-report.toml");
    std::fs::write(&path, text).expect("write drill");
    path
}

async fn run(drill: &Path) -> RunResult {
    let drill = breakerbox::config::load_drill(drill).expect("valid drill");
    let prepared = PreparedDrill::prepare(drill, &Overrides::default())
        .await
        .expect("built-in parts start");
    prepared.execute(Stop::new()).await
}

/// The browser, or a failure saying how to get it: never a silent skip.
fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("chromium"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("chromium is not on PATH: run `make test-deps` (apt-get install chromium)")
    })
}

/// What one headless browser run left behind.
struct Browser {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Opens `page` in headless chromium with `args`, bounded by [`BROWSER_TIMEOUT`]; on
/// timeout the browser's process group (started here, in its own group) is killed.
fn browse(scratch: &Path, page: &Path, args: &[String]) -> Browser {
    let out_path = scratch.join(format!("browser-{}.out", args.len()));
    let err_path = scratch.join(format!("browser-{}.err", args.len()));
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!(
        "--user-data-dir={}",
        scratch.join("chromium-profile").display()
    ))
    .args(args)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(&out_path).expect("stdout file"))
    .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().expect("chromium starts");
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break Some(status);
        }
        if Instant::now() > deadline {
            // The group id is the child's pid: this ends the browser and its helpers only.
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let stderr = read(&err_path);
    assert!(
        status.is_some(),
        "chromium took longer than {BROWSER_TIMEOUT:?}; killed. stderr:\n{stderr}"
    );
    Browser {
        success: status.is_some_and(|s| s.success()),
        stdout: read(&out_path),
        stderr,
    }
}

/// Console messages and uncaught errors chromium logged (`--enable-logging=stderr` prints
/// them as `INFO:CONSOLE(line)] "message", source: …`).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_renders_in_a_headless_browser_without_console_errors() {
    let browser = chromium();
    let dir = scratch("html-report");
    let screenshot_to = std::env::var_os("BREAKERBOX_SCREENSHOT").map(PathBuf::from);
    let drill = match &screenshot_to {
        // Relative (tests run in the package root), so the footer shows it as a user would.
        Some(_) => PathBuf::from("drills/circuit-breaker.toml"),
        None => short_drill(&dir),
    };

    let started = Instant::now();
    let result = run(&drill).await;
    let took = started.elapsed();
    if screenshot_to.is_none() {
        assert!(took < Duration::from_secs(20), "bounded: {took:?}");
    }
    assert!(
        result
            .observations
            .best
            .iter()
            .any(|t| t.to == BreakerState::Open),
        "the breaker opened, so the bands have something to show: {:?}",
        result.observations.best
    );
    assert!(
        result.series.iter().any(|s| s.p95_ms.is_some()),
        "per-second latency quantiles"
    );
    assert!(!result.tap.is_empty(), "the proxy ran, so there is a tap");

    let html = html::render(&result);
    let page = dir.join("report.html");
    std::fs::write(&page, &html).expect("write report");
    assert!(
        !html.contains("<script") && !html.contains("<link") && !html.contains("https://"),
        "self-contained: no script, no stylesheet link, nothing fetched"
    );

    // The check below can fail: on this browser, a page that throws shows in stderr.
    let canary = dir.join("canary.html");
    std::fs::write(
        &canary,
        "<!DOCTYPE html><title>canary</title><script>console.error('canary-error'); undefinedFunction();</script>",
    )
    .expect("write canary");
    let seen = browse(&dir, &canary, &["--dump-dom".to_string()]);
    let lines = console_lines(&seen.stderr);
    assert!(
        lines.iter().any(|l| l.contains("canary-error"))
            && lines.iter().any(|l| l.contains("undefinedFunction")),
        "chromium ({}) logs console errors where this test looks for them; stderr:\n{}",
        browser.display(),
        seen.stderr
    );

    let dom = browse(&dir, &page, &["--dump-dom".to_string()]);
    assert!(dom.success, "chromium --dump-dom failed:\n{}", dom.stderr);
    assert!(
        console_lines(&dom.stderr).is_empty(),
        "console messages: {:?}",
        console_lines(&dom.stderr)
    );
    for wanted in [
        r#"id="outcome""#,
        r#"<table id="verdicts">"#,
        "breaker sequence",
        r#"<svg class="chart" id="bands""#,
        r#"class="st-open""#,
        r#"class="st-half""#,
        r#"class="fault-win""#,
        r#"id="latency""#,
        r#"id="throughput""#,
        r#"id="rates""#,
        r#"id="tap""#,
        r#"<table id="phases""#,
        r#"<dl id="run-facts">"#,
    ] {
        assert!(
            dom.stdout.contains(wanted),
            "the rendered DOM lacks {wanted}"
        );
    }

    for phase in &result.phases {
        assert!(
            dom.stdout.contains(&format!("<tr><td>{}</td>", phase.name)),
            "phase {} in the table",
            phase.name
        );
    }

    let png = dir.join("report.png");
    let shot = browse(
        &dir,
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,3600".to_string(),
            "--hide-scrollbars".to_string(),
        ],
    );
    assert!(
        shot.success,
        "chromium --screenshot failed:\n{}",
        shot.stderr
    );
    assert!(
        console_lines(&shot.stderr).is_empty(),
        "console messages: {:?}",
        console_lines(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("a screenshot was written");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        bytes.len() > 40_000,
        "a screenshot with something on it: {} bytes",
        bytes.len()
    );
    if let Some(to) = screenshot_to {
        let to = if to.is_absolute() {
            to
        } else {
            repo_root().join(to)
        };
        std::fs::copy(&png, &to).expect("copy the screenshot");
        std::fs::write(to.with_extension("html"), &html).expect("copy the report");
        eprintln!("screenshot: {}", to.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
