//! The console summary of real runs through the binary: within 100 columns, no colour on a
//! pipe, the verdict table, `not run` for what an abort skipped, and a drill with no
//! expectations reported as not judged rather than passed.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A drill on the built-in parts: a 1 s baseline then `more` (phases and expectations).
fn drill(dir: &Path, demo: &str, more: &str) -> PathBuf {
    let text = format!(
        r#"
name = "console-summary"
seed = 5
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
rate = 30
duration = "1s"
{more}
"#,
        profiles = repo_root().join("fault-profiles").display()
    );
    let file = dir.join("drill.toml");
    std::fs::write(&file, text).expect("write drill");
    file
}

#[test]
fn an_aborted_run_marks_the_phases_it_skipped_not_run() {
    let dir = scratch("console-abort");
    let file = drill(
        &dir,
        "breaker = \"off\"\nfallback = false",
        r#"
[[phases]]
name = "outage"
executor = "constant-arrival-rate"
rate = 30
duration = "6s"
faults = ["upstream-reset"]

[[phases]]
name = "recovery_after_the_outage"
executor = "constant-arrival-rate"
rate = 30
duration = "2s"

[[expect.thresholds]]
phase = "outage"
max_error_rate = 0.05
window = "1s"
abort_on_fail = true
abort_grace = "1s"

[[expect.thresholds]]
phase = "recovery_after_the_outage"
p95 = "50ms"
"#,
    );
    let out = dir.join("result.json");
    let run = run_drill_file(&file, &out);
    assert_eq!(run.code, Some(3), "an aborted run stays exit 3: {run}");
    let stdout = &run.stdout;
    assert_fits_100_columns(stdout);
    assert!(stdout.contains("\nverdicts\n"), "{stdout}");
    assert!(
        stdout.contains("\n  recovery_after_… not run\n"),
        "the skipped phase's row:\n{stdout}"
    );
    assert!(
        stdout.contains("\n  NOT RUN p95 of phase recovery_after_the_outage\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\nABORTED after "), "{stdout}");
    assert!(
        stdout.contains("not run: recovery_after_the_outage"),
        "{stdout}"
    );

    let result = read_result(&out);
    assert_eq!(result["outcome"], "aborted");
    let phases = result["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 3, "every planned phase is listed");
    assert_eq!(phases[2]["not_run"], true);
    assert!(phases[1].get("not_run").is_none(), "{}", phases[1]);
    let verdict = result["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .find(|v| v["criterion"] == "p95 of phase recovery_after_the_outage")
        .expect("the recovery verdict");
    assert_eq!(verdict["status"], "not_run");
}

#[test]
fn a_drill_without_expectations_is_not_judged_and_exits_0() {
    let dir = scratch("console-unjudged");
    let file = drill(&dir, "", "");
    let out = dir.join("result.json");
    let run = run_drill_file(&file, &out);
    assert_eq!(run.code, Some(0), "{run}");
    let stdout = &run.stdout;
    assert_fits_100_columns(stdout);
    assert!(!stdout.contains("PASSED"), "{stdout}");
    assert!(
        stdout.contains("(none: the drill states no expectations)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\nNOT JUDGED: the drill states no expectations, so nothing was judged"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n  baseline   "),
        "the phase row:\n{stdout}"
    );
    assert_eq!(read_result(&out)["outcome"], "unjudged");
}
