//! The command line itself: closed pipes, help width, completions, environment overrides,
//! host:port addresses.

mod common;

use common::*;
use std::process::{Command, Stdio};

/// Subcommands whose help must fit in 100 columns.
const SUBCOMMANDS: &[&str] = &[
    "run",
    "load",
    "proxy",
    "demo",
    "stop",
    "validate",
    "plan",
    "report",
    "compare",
    "completions",
    "demo-service",
    "stub",
];

/// Runs `cmd` with stdout a pipe whose read end is closed before the child writes.
fn into_closed_pipe(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn breakerbox");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_is_no_panic() {
    let drills: Vec<_> = std::fs::read_dir(repo_root().join("drills"))
        .expect("drills/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    let mut validate = breakerbox();
    validate.arg("validate").args(&drills);
    let mut help = breakerbox();
    help.arg("--help");
    let mut completions = breakerbox();
    completions.args(["completions", "bash"]);
    let mut plan = breakerbox();
    plan.args(["plan", "drills/circuit-breaker.toml"]);
    for (what, cmd) in [
        ("validate", validate),
        ("--help", help),
        ("completions", completions),
        ("plan", plan),
    ] {
        let (code, stderr) = into_closed_pipe(cmd);
        assert_ne!(code, Some(101), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

#[test]
fn help_fits_in_100_columns() {
    let mut pages = vec![vec!["--help".to_string()]];
    pages.extend(
        SUBCOMMANDS
            .iter()
            .map(|c| vec![c.to_string(), "--help".into()]),
    );
    for args in pages {
        let out = breakerbox()
            .args(&args)
            .env_remove("COLUMNS")
            .output()
            .expect("run");
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.lines().count() > 3, "{args:?}: {help}");
        for line in help.lines() {
            assert!(
                line.chars().count() <= 100,
                "{args:?}: {} columns: {line}",
                line.chars().count()
            );
        }
    }
}

#[test]
fn help_names_each_flags_environment_variable() {
    let out = breakerbox().args(["run", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for env in [
        "BREAKERBOX_SEED",
        "BREAKERBOX_OUT",
        "BREAKERBOX_QUIET",
        "BREAKERBOX_TARGET",
    ] {
        assert!(help.contains(&format!("[env: {env}")), "{env}: {help}");
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = breakerbox()
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for sub in ["validate", "plan", "demo-service"] {
            assert!(script.contains(sub), "{shell} lacks {sub}");
        }
    }
    let bash = breakerbox()
        .args(["completions", "bash"])
        .output()
        .expect("run");
    let bash = String::from_utf8_lossy(&bash.stdout);
    assert!(bash.contains("complete -F"), "{bash}");
    assert!(bash.contains("--memory-budget"), "flags are completed too");
    let bad = breakerbox()
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn an_unwritable_out_from_the_environment_stops_demo_before_it_starts() {
    let dir = scratch("cli-env-out");
    let out = breakerbox()
        .arg("demo")
        .env("BREAKERBOX_OUT", dir.join("no/such/dir/result.json"))
        .env("BREAKERBOX_QUIET", "1")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: --out:"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing ran");
}

#[test]
fn a_boolean_environment_variable_must_be_boolean() {
    let out = breakerbox()
        .args(["validate", "drills/circuit-breaker.toml"])
        .env("BREAKERBOX_ALLOW_REMOTE", "maybe")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("maybe"), "{stderr}");
}

#[test]
fn host_port_is_an_address_and_a_url() {
    let dir = scratch("cli-host-port");
    let drill = dir.join("d.toml");
    std::fs::write(
        &drill,
        "target = \"localhost:8080/api\"\n[[requests]]\nname = \"r\"\npath = \"/\"\n[[phases]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = 1\nduration = \"1s\"\n",
    )
    .expect("write");
    let out = breakerbox()
        .arg("validate")
        .arg(&drill)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The standalone proxy on localhost:0 in front of localhost:PORT.
    let upstream = free_port();
    let mut proxy = breakerbox()
        .args(["proxy", "--listen", "localhost:0", "--upstream"])
        .arg(format!("localhost:{upstream}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn proxy");
    let mut first = String::new();
    {
        use std::io::BufRead;
        let stdout = proxy.stdout.take().expect("stdout");
        let _ = std::io::BufReader::new(stdout).read_line(&mut first);
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(
        first.starts_with("fault proxy listening on http://127.0.0.1:")
            && first.contains(&format!("→ http://localhost:{upstream}"))
            && first.contains("(0 faults)"),
        "{first}"
    );

    let bad = breakerbox()
        .args(["stub", "--listen", "example.com:80"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("localhost:PORT"));
}

#[test]
fn config_errors_show_a_snippet_a_suggestion_and_plain_types() {
    let dir = scratch("cli-snippet");
    let drill = dir.join("d.toml");
    std::fs::write(
        &drill,
        "[[requests]]\nname = \"r\"\npath = \"/\"\n[[phases]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = \"fast\"\ndurtion = \"1s\"\n",
    )
    .expect("write");
    let out = breakerbox()
        .arg("validate")
        .arg(&drill)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let headline = format!(
        "{}:8:1: unknown field `durtion`: did you mean `duration`?",
        drill.display()
    );
    assert!(stderr.lines().next() == Some(headline.as_str()), "{stderr}");
    assert!(stderr.contains("8 | durtion = \"1s\""), "{stderr}");
    assert!(
        stderr.contains("  | ^^^^^^^"),
        "caret under column 1: {stderr}"
    );
    assert!(
        !stderr.contains('\x1b'),
        "no colour off a terminal: {stderr}"
    );

    std::fs::write(
        &drill,
        "[[requests]]\nname = \"r\"\npath = \"/\"\n[[phases]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = \"fast\"\nduration = \"1s\"\n",
    )
    .expect("write");
    let out = breakerbox()
        .arg("validate")
        .arg(&drill)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":7:8: invalid type: string \"fast\", expected a number"),
        "{stderr}"
    );
    assert!(!stderr.contains("f64"), "{stderr}");
    let caret = stderr
        .lines()
        .find(|l| l.contains('^'))
        .expect("caret line");
    let source = stderr
        .lines()
        .find(|l| l.contains("rate = \"fast\""))
        .expect("source line");
    assert_eq!(
        caret.find('^'),
        source.find('"'),
        "caret under the value: {stderr}"
    );
}

#[test]
fn validate_counts_in_words() {
    let out = breakerbox()
        .args(["validate", "drills/login-journey.toml"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(1 phase, "), "{stdout}");
    assert!(!stdout.contains("1 phases"), "{stdout}");
}

#[test]
fn every_environment_variable_in_help_is_documented() {
    let doc = std::fs::read_to_string(repo_root().join("docs/cli.md")).expect("docs/cli.md");
    let mut seen = 0;
    for sub in SUBCOMMANDS {
        let out = breakerbox().args([sub, "--help"]).output().expect("run");
        let help = String::from_utf8_lossy(&out.stdout);
        for (at, _) in help.match_indices("[env: ") {
            let name: String = help[at + 6..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            assert!(
                doc.contains(&format!("`{name}`")),
                "{sub}: {name} not in docs/cli.md"
            );
            seen += 1;
        }
    }
    assert!(seen > 40, "only {seen} variables found in help");
}
