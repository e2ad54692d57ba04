//! Bad drill files get one `FILE:LINE:COL: message` per problem and exit 2.

mod common;

use breakerbox::config;
use common::*;

const BAD_SEMANTICS: &str = r#"name = "bad"
target = "http://127.0.0.1:1"

[parts]
proxy = true
stub = true

[[requests]]
name = "r"
path = "/x/{{random_int 9 1}}"

[[phases]]
name = "p"
executor = "constant-arrival-rate"
rate = -5
duration = "1s"
faults = ["no-such-profile"]

[[phases]]
name = "p"
executor = "ramping-vus"
stages = [{ duration = "2s", target = 3 }]

[[expect.thresholds]]
phase = "missing"
max_error_rate = 1.5
"#;

fn load(name: &str, text: &str) -> Result<config::Drill, config::ConfigError> {
    let dir = scratch(name);
    let path = dir.join("drill.toml");
    std::fs::write(&path, text).expect("write");
    config::load_drill(&path)
}

#[test]
fn every_semantic_problem_is_reported_with_its_position() {
    let err = load("semantics", BAD_SEMANTICS).expect_err("invalid");
    let lines: Vec<String> = err
        .diagnostics()
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
        .collect();
    let expect = [
        "10:8: random_int 9 1: the upper bound is below the lower",
        "15:8: rate must be between 0.001 and 1000000 requests per second, not -5.0",
        "17:11: fault profile \"no-such-profile\" not found",
        "20:8: phase name \"p\" is used twice",
        "25:9: no phase named \"missing\"",
        "26:18: a rate is a fraction between 0.0 and 1.0, not 1.5",
    ];
    for want in expect {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "missing {want:?} in {lines:#?}"
        );
    }
    assert_eq!(lines.len(), expect.len(), "{lines:#?}");
}

#[test]
fn type_errors_point_at_the_value() {
    let text = "[[requests]]\nname = \"r\"\npath = \"/\"\n\n[[phases]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = 5\nduration = \"ten seconds\"\n";
    let err = load("types", text).expect_err("invalid");
    let d = &err.diagnostics()[0];
    assert_eq!((d.line, d.column), (9, 12), "{d}");
    assert!(
        d.message.contains("invalid duration \"ten seconds\""),
        "{d}"
    );

    let text = text
        .replace("constant-arrival-rate", "constant-arival-rate")
        .replace("ten seconds", "10s");
    let d = &load("executor", &text).expect_err("invalid").diagnostics()[0];
    assert_eq!((d.line, d.column), (7, 12), "{d}");
    assert!(
        d.message
            .contains("unknown executor \"constant-arival-rate\""),
        "{d}"
    );

    let d = &load("unknown-key", "colour = 1\n")
        .expect_err("invalid")
        .diagnostics()[0];
    assert_eq!((d.line, d.column), (1, 1), "{d}");
    assert!(d.message.contains("unknown field `colour`"), "{d}");
}

#[test]
fn bad_durations_do_not_hide_other_problems() {
    let text = "[[requests]]\nname = \"r\"\npath = \"/\"\n\n[[phases]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = -1\nduration = \"soon\"\n\n[[phases]]\nname = \"q\"\nexecutor = \"warp\"\nduration = \"0s\"\n";
    let err = load("many", text).expect_err("invalid");
    let got: Vec<(usize, usize)> = err
        .diagnostics()
        .iter()
        .map(|d| (d.line, d.column))
        .collect();
    assert_eq!(got, vec![(8, 8), (9, 12), (13, 12)], "{err}");
}

#[test]
fn bad_fault_profiles_are_reported_in_the_profile_file() {
    let dir = scratch("profile");
    std::fs::create_dir_all(dir.join("fault-profiles")).expect("dir");
    std::fs::write(
        dir.join("fault-profiles/broken.toml"),
        "[[faults]]\nkind = \"status\"\nstatus = 900\nprobability = 2.0\ndelay = \"1s\"\n",
    )
    .expect("write");
    let drill = BAD_SEMANTICS
        .replace("no-such-profile", "broken")
        .replace("rate = -5", "rate = 5")
        .replace("9 1", "1 9")
        .replace(
            "name = \"p\"\nexecutor = \"ramping-vus\"",
            "name = \"q\"\nexecutor = \"ramping-vus\"",
        )
        .replace(
            "phase = \"missing\"\nmax_error_rate = 1.5",
            "max_error_rate = 0.5",
        );
    let text_path = dir.join("drill.toml");
    std::fs::write(&text_path, drill).expect("write");
    let err = config::load_drill(&text_path).expect_err("invalid");
    let shown: Vec<String> = err.diagnostics().iter().map(ToString::to_string).collect();
    let profile = dir
        .join("fault-profiles")
        .join("broken.toml")
        .display()
        .to_string();
    for want in [
        format!("{profile}:3:10: status 900 is not an HTTP status"),
        format!("{profile}:4:15: probability must be between 0.0 and 1.0"),
        format!("{profile}:5:9: `delay` does not apply to a status fault"),
    ] {
        assert!(
            shown.iter().any(|l| l.starts_with(&want)),
            "missing {want:?} in {shown:#?}"
        );
    }
}

#[test]
fn validate_prints_file_line_col_and_exits_2() {
    let dir = scratch("validate");
    let path = dir.join("bad.toml");
    std::fs::write(&path, BAD_SEMANTICS).expect("write");
    let run = breakerbox()
        .arg("validate")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let first = stderr.lines().next().expect("a line");
    assert!(
        first.starts_with(&format!("{}:10:8: ", path.display())),
        "{stderr}"
    );
    let headlines = stderr
        .lines()
        .filter(|l| l.starts_with(&*path.to_string_lossy()));
    assert_eq!(headlines.count(), 6, "{stderr}");
}

#[test]
fn shipped_drills_validate() {
    let run = breakerbox()
        .args([
            "validate",
            "drills/circuit-breaker.toml",
            "drills/external-service.toml",
        ])
        .output()
        .expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("drills/circuit-breaker.toml: ok (6 phases, 1 request)"),
        "{stdout}"
    );
}

#[test]
fn a_missing_drill_file_is_one_clear_line() {
    let run = breakerbox()
        .args(["run", "drills/nope.toml"])
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        stderr.trim(),
        "drills/nope.toml: cannot read drill file: No such file or directory (os error 2)"
    );
}

#[test]
fn a_bad_profile_named_by_many_phases_is_reported_once() {
    let dir = scratch("profile-once");
    std::fs::create_dir_all(dir.join("fault-profiles")).expect("dir");
    std::fs::write(
        dir.join("fault-profiles/broken.toml"),
        "[[faults]]\nkind = \"status\"\nstatus = 900\n",
    )
    .expect("profile");
    let mut drill = String::from("target = \"http://127.0.0.1:1\"\n[parts]\nproxy = true\nstub = true\n[[requests]]\nname = \"r\"\npath = \"/\"\n");
    for i in 0..200 {
        drill += &format!(
            "[[phases]]\nname = \"p{i}\"\nexecutor = \"constant-arrival-rate\"\nrate = 1\nduration = \"1s\"\nfaults = [\"broken\"]\n"
        );
    }
    let path = dir.join("many.toml");
    std::fs::write(&path, drill).expect("drill");
    let run = breakerbox()
        .arg("validate")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let headlines = stderr.lines().filter(|l| l.contains("broken.toml:"));
    assert_eq!(headlines.count(), 1, "{stderr}");
    assert!(stderr.contains("broken.toml:3:10: status 900"), "{stderr}");
}

#[test]
fn a_file_that_is_not_a_drill_is_refused_by_size_not_read_to_the_end() {
    let run = breakerbox()
        .args(["validate", "/dev/zero"])
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        stderr.trim(),
        "/dev/zero: cannot read drill file: larger than 4 MiB; is this the right file?"
    );
}

#[test]
fn remote_proxy_keys_are_checked_where_they_are_written() {
    let text = r#"name = "remote"
target = "http://127.0.0.1:1"

[proxy]
admin = "ftp://proxy-host:8474"
name = ""

[[requests]]
name = "r"
path = "/"

[[phases]]
name = "p"
executor = "constant-arrival-rate"
rate = 1
duration = "1s"
"#;
    let err = load("remote-proxy-keys", text).expect_err("invalid");
    let lines: Vec<String> = err
        .diagnostics()
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("5:9: admin API \"ftp://")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "6:8: the remote proxy's name must not be empty"),
        "{lines:?}"
    );

    let text = text
        .replace("admin = \"ftp://proxy-host:8474\"\n", "")
        .replace("name = \"\"", "token_file = \"token\"");
    let err = load("remote-proxy-orphan-keys", &text).expect_err("invalid");
    let message = err.to_string();
    assert!(
        message.contains("apply to a remote proxy: set `admin` too"),
        "{message}"
    );

    let ok = text.replace(
        "[proxy]\n",
        "[proxy]\nadmin = \"http://proxy-host:8474/\"\n",
    );
    let drill = load("remote-proxy-ok", &ok).expect("valid");
    let remote = drill
        .parts
        .proxy
        .and_then(|p| p.remote)
        .expect("admin alone makes the proxy a remote part");
    assert_eq!(remote.admin, "http://proxy-host:8474");
    assert_eq!(remote.name, "default");
    assert!(!remote.create);
    assert!(remote.token_file.is_some_and(|f| f.ends_with("token")));
}
