//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The built breakerbox binary.
pub fn breakerbox() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breakerbox"));
    cmd.current_dir(repo_root());
    // Every flag reads a BREAKERBOX_* variable: none of the caller's may leak in.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BREAKERBOX_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd
}

/// The repository root (drills/ and fault-profiles/ live here).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("breakerbox-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A loopback port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("addr").port()
}

/// Reads a result.json.
pub fn read_result(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("result.json is JSON")
}

/// The breaker states of the result's timeline, in order.
pub fn breaker_states(result: &serde_json::Value) -> Vec<String> {
    result["timeline"]
        .as_array()
        .expect("timeline array")
        .iter()
        .filter(|e| e["event"] == "breaker")
        .map(|e| e["to"].as_str().expect("state").to_string())
        .collect()
}

/// What a finished breakerbox process left behind.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `breakerbox ARGS --quiet --out DIR/result.json` in a fresh scratch dir.
pub fn run_quiet(name: &str, args: &[&str]) -> (Finished, std::path::PathBuf) {
    let out = scratch(name).join("result.json");
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    (run_with_out(&args, &out), out)
}

/// Runs `breakerbox run DRILL --quiet --out OUT`.
pub fn run_drill_file(drill: &Path, out: &Path) -> Finished {
    run_with_out(&["run".into(), drill.into()], out)
}

fn run_with_out(args: &[std::ffi::OsString], out: &Path) -> Finished {
    let mut all = args.to_vec();
    all.extend(["--quiet".into(), "--out".into(), out.into()]);
    run_args(&all)
}

/// Runs `breakerbox ARGS` to the end.
pub fn run_args(args: &[std::ffi::OsString]) -> Finished {
    let run = breakerbox().args(args).output().expect("runs");
    Finished {
        code: run.status.code(),
        stdout: String::from_utf8_lossy(&run.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&run.stderr).into_owned(),
    }
}

/// Whether `wanted` appears in `seen` in order, other states allowed between.
pub fn in_order(seen: &[String], wanted: &[&str]) -> bool {
    let mut seen = seen.iter();
    wanted.iter().all(|w| seen.any(|s| s == w))
}

/// Asserts that every line of a console summary fits a 100-column terminal and that the
/// summary holds no colour codes (stdout is a pipe here, not a terminal).
pub fn assert_fits_100_columns(stdout: &str) {
    assert!(!stdout.contains('\x1b'), "colour on a pipe:\n{stdout}");
    for line in stdout.lines() {
        let width = line.chars().count();
        assert!(width <= 100, "{width} columns: {line:?}\n{stdout}");
    }
}

/// A breakerbox child process, killed (by its PID, through `Child`) when the test ends, pass
/// or fail.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `breakerbox ARGS` and returns it with the first `lines` lines of its stdout (each
/// part it starts prints one line naming its URL).
pub fn start_child(args: &[&str], lines: usize) -> (Running, Vec<String>) {
    use std::io::BufRead;
    let mut child = breakerbox()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    let mut reader = std::io::BufReader::new(stdout);
    let mut seen = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        reader.read_line(&mut line).expect("reads a line");
        seen.push(line.trim().to_string());
    }
    (running, seen)
}

/// The first `http://…` or `https://…` URL in a line, without a trailing slash.
pub fn url_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .unwrap_or_else(|| panic!("a URL in {line:?}"))
        .trim_end_matches('/')
        .to_string()
}
