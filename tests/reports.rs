//! Reports from real runs: result.json round-trips and matches its schema; JUnit, CSV,
//! `breakerbox report` and `breakerbox compare` on saved results.

mod common;

use breakerbox::config::{self, ProfileDirs};
use breakerbox::drill::{PreparedDrill, Stop};
use breakerbox::plan::Overrides;
use breakerbox::report::{self, format, NotStarted, RunResult};
use breakerbox::verdict::{Outcome, Status, Unit};
use common::*;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// A short breaker drill on the built-in parts: closed, the upstream fails (the breaker
/// opens after 3 failures), the faults end (it half-opens after 1 s and closes).
const DRILL: &str = r#"
name = "short-breaker"
description = "A short breaker cycle for the report tests."
seed = 7
request_timeout = "2s"

[parts]
stub = true
proxy = true
demo = true

[demo]
failure_threshold = 3
open_duration = "1s"
cache_ttl = "200ms"
upstream_timeout = "1s"

[[requests]]
name = "item"
method = "GET"
path = "/api/item/{{random_int 1 200}}"

[[phases]]
name = "baseline"
executor = "constant-arrival-rate"
rate = 40
duration = "1s"

[[phases]]
name = "induce"
executor = "constant-arrival-rate"
rate = 40
duration = "1s"
faults = ["upstream-500"]

[[phases]]
name = "recovery"
executor = "constant-arrival-rate"
rate = 40
duration = "2500ms"

[observe]
state_header = "x-circuit-state"
cache_header = "x-cache"
cache_hit_values = ["HIT"]
fallback_header = "x-fallback"

[[expect.thresholds]]
max_error_rate = 0.05

[[expect.thresholds]]
phase = "baseline"
p95 = "1s"

[[expect.thresholds]]
phase = "recovery"
p99 = "1us"

[expect.breaker]
sequence = ["closed", "open"]
opens_within = "2s"
"#;

fn drill() -> config::Drill {
    config::parse_drill(
        "short-breaker.toml",
        DRILL,
        &ProfileDirs::beside(&repo_root().join("drills")),
    )
    .unwrap_or_else(|e| panic!("valid drill: {e}"))
}

/// Runs the drill in process; `stop_after` stops it early (an aborted result).
fn run(stop_after: Option<Duration>) -> RunResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let prepared = PreparedDrill::prepare(drill(), &Overrides::default())
            .await
            .expect("prepares");
        let stop = Stop::new();
        if let Some(after) = stop_after {
            let s = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                s.stop(String::from("interrupted (test)"));
            });
        }
        tokio::time::timeout(Duration::from_secs(30), prepared.execute(stop))
            .await
            .expect("bounded")
    })
}

/// The one full run the tests share (its p99 expectation of 1 µs fails on purpose).
fn finished() -> &'static RunResult {
    static RESULT: OnceLock<RunResult> = OnceLock::new();
    RESULT.get_or_init(|| run(None))
}

fn not_started() -> RunResult {
    RunResult::not_started(NotStarted {
        drill: "d".into(),
        drill_file: "d.toml".into(),
        description: String::new(),
        seed: 1,
        target: "http://127.0.0.1:1".into(),
        planned_duration_s: 3.0,
        outcome: Outcome::Invalid,
        reason: "target unreachable".into(),
    })
}

fn round_trips(result: &RunResult) {
    let first = serde_json::to_string_pretty(result).expect("serializes");
    let back: RunResult = serde_json::from_str(&first).expect("deserializes");
    let second = serde_json::to_string_pretty(&back).expect("serializes again");
    assert_eq!(first, second);
}

fn save(result: &RunResult, dir: &Path) -> std::path::PathBuf {
    let path = dir.join("result.json");
    report::write_json(result, &path).expect("written");
    path
}

#[test]
fn a_real_result_round_trips_and_carries_numbers() {
    let r = finished();
    assert_eq!(r.outcome, Outcome::Failed, "{:#?}", r.verdicts);
    assert_eq!(r.drill, "short-breaker");
    assert_eq!(r.description, "A short breaker cycle for the report tests.");
    assert_eq!(r.seed, 7);
    assert!(!r.observations.best.is_empty(), "the breaker was observed");
    assert!(!r.timeline.events().is_empty());
    round_trips(r);
    round_trips(&not_started());

    let p99 = r
        .verdicts
        .iter()
        .find(|v| v.criterion == "p99 of phase recovery")
        .expect("p99 verdict");
    assert_eq!(p99.status, Status::Fail);
    assert_eq!(p99.unit, Some(Unit::Ms));
    assert_eq!(p99.bound, Some(0.001));
    assert!(p99.measured_value.is_some_and(|v| v > 0.001));
    let errors = r
        .verdicts
        .iter()
        .find(|v| v.criterion == "error rate of whole run")
        .expect("error-rate verdict");
    assert_eq!(errors.unit, Some(Unit::Ratio));
    assert_eq!(errors.bound, Some(0.05));
    let opens = r
        .verdicts
        .iter()
        .find(|v| v.criterion.starts_with("breaker opens after"))
        .expect("opens_within verdict");
    assert_eq!((opens.unit, opens.bound), (Some(Unit::S), Some(2.0)));
    let witness = r
        .verdicts
        .iter()
        .find(|v| v.criterion.starts_with("fault upstream-500"))
        .expect("witness verdict");
    assert_eq!(witness.unit, Some(Unit::Count));
    assert!(witness.measured_value.is_some_and(|n| n >= 1.0));
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo_root().join("docs/result.schema.json"))
        .expect("docs/result.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::draft202012::new(&schema).expect("a valid draft 2020-12 schema")
}

fn errors(v: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let committed = std::fs::read_to_string(repo_root().join("docs/result.schema.json"))
        .expect("docs/result.schema.json");
    assert!(
        committed == report::schema::result_schema_text(),
        "docs/result.schema.json is stale: regenerate it with \
         `cargo run --example result_schema > docs/result.schema.json`"
    );
}

#[test]
fn real_results_match_the_schema_and_renamed_fields_do_not() {
    let v = validator();
    let aborted = run(Some(Duration::from_millis(1200)));
    assert_eq!(aborted.outcome, Outcome::Aborted);
    for r in [finished(), &aborted, &not_started()] {
        let doc = serde_json::to_value(r).expect("value");
        let found = errors(&v, &doc);
        assert!(found.is_empty(), "{:?}: {found:#?}", r.outcome);
    }
    let doc = serde_json::to_value(finished()).expect("value");
    // A renamed top-level field, a renamed nested one, a wrong type: each is caught.
    let mut renamed = doc.clone();
    let drill = renamed["drill"].take();
    renamed.as_object_mut().expect("object").remove("drill");
    renamed["drill_name"] = drill;
    assert!(!errors(&v, &renamed).is_empty());
    let mut nested = doc.clone();
    let p95 = nested["phases"][0]["all"]["latency_ms"]["p95"].take();
    let latency = nested["phases"][0]["all"]["latency_ms"]
        .as_object_mut()
        .expect("latency");
    latency.remove("p95");
    latency.insert("p95th".into(), p95);
    assert!(!errors(&v, &nested).is_empty());
    let mut event = doc.clone();
    event["timeline"][0]["phase_name"] = serde_json::json!("x");
    assert!(!errors(&v, &event).is_empty(), "an unknown event field");
    let mut status = doc;
    status["verdicts"][0]["status"] = serde_json::json!("passed");
    assert!(!errors(&v, &status).is_empty());
}

#[test]
fn junit_has_a_testcase_per_expectation_and_failures_for_failed_ones() {
    let r = finished();
    let dir = scratch("reports-junit");
    let path = dir.join("junit.xml");
    let junit = format::find("junit").expect("registered");
    junit.check(&path).expect("writable");
    junit.write_to(r, &path).expect("written");
    let text = std::fs::read_to_string(&path).expect("read");
    let xml = roxmltree::Document::parse(&text).expect("well-formed XML");
    let suites: Vec<_> = xml
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    assert_eq!(suite.attribute("name"), Some("short-breaker"));
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), r.verdicts.len());
    assert_eq!(
        suite.attribute("tests"),
        Some(r.verdicts.len().to_string().as_str())
    );
    let failed = r
        .verdicts
        .iter()
        .filter(|v| v.status == Status::Fail)
        .count();
    assert!(failed >= 1);
    assert_eq!(
        suite.attribute("failures"),
        Some(failed.to_string().as_str())
    );
    assert!(suite
        .attribute("timestamp")
        .is_some_and(|t| t == r.started_at));
    for (case, verdict) in cases.iter().zip(&r.verdicts) {
        assert_eq!(case.attribute("name"), Some(verdict.criterion.as_str()));
        assert_eq!(case.attribute("classname"), Some("short-breaker"));
        let failure = case.children().find(|n| n.has_tag_name("failure"));
        assert_eq!(failure.is_some(), verdict.status == Status::Fail);
        if let Some(f) = failure {
            let message = f.attribute("message").expect("message");
            assert!(message.contains(&verdict.expected), "{message}");
            assert!(message.contains(&verdict.measured), "{message}");
        }
    }
    let seed = suite
        .descendants()
        .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("seed"));
    assert_eq!(seed.and_then(|n| n.attribute("value")), Some("7"));
}

#[test]
fn csv_tables_have_headers_and_a_row_per_item() {
    let r = finished();
    let dir = scratch("reports-csv").join("tables");
    format::find("csv")
        .expect("registered")
        .write_to(r, &dir)
        .expect("written");
    let read = |name: &str| {
        let mut reader = csv::Reader::from_path(dir.join(name)).expect("csv");
        let header: Vec<String> = reader
            .headers()
            .expect("header")
            .iter()
            .map(String::from)
            .collect();
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        (header, rows)
    };
    let (header, rows) = read("series.csv");
    assert_eq!(header, format::csv::SERIES_HEADER);
    assert_eq!(rows.len(), r.series.len());
    let (header, rows) = read("groups.csv");
    assert_eq!(header, format::csv::GROUPS_HEADER);
    let expected_rows: usize = r
        .phases
        .iter()
        .map(|p| 1 + p.groups.len() + p.users.len() + p.tags.len())
        .sum::<usize>()
        + 1;
    assert_eq!(rows.len(), expected_rows);
    assert_eq!(&rows[0][0], "baseline");
    assert_eq!(&rows[rows.len() - 1][1], "run");
    let (header, rows) = read("verdicts.csv");
    assert_eq!(header, format::csv::VERDICTS_HEADER);
    assert_eq!(rows.len(), r.verdicts.len());
    // Criteria with commas survive quoting.
    assert_eq!(&rows[0][0], r.verdicts[0].criterion.as_str());
}

#[test]
fn report_command_reprints_and_exports_a_saved_result() {
    let dir = scratch("reports-cmd");
    let saved = save(finished(), &dir);
    let junit = dir.join("out.xml");
    let tables = dir.join("tables");
    let run = run_args(&[
        "report".into(),
        saved.clone().into(),
        "--junit".into(),
        junit.clone().into(),
        "--csv".into(),
        tables.clone().into(),
    ]);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains("short-breaker"), "{run}");
    assert!(junit.exists() && tables.join("verdicts.csv").exists());

    let missing = run_args(&["report".into(), dir.join("nope.json").into()]);
    assert_eq!(missing.code, Some(2), "{missing}");
    assert!(missing.stderr.contains("nope.json"), "{missing}");
    assert_eq!(missing.stderr.trim().lines().count(), 1, "{missing}");

    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"breakerbox\": ").expect("write");
    let bad = run_args(&["report".into(), garbage.into()]);
    assert_eq!(bad.code, Some(2), "{bad}");
    assert!(bad.stderr.contains("garbage.json: not valid JSON"), "{bad}");

    let other = dir.join("other.json");
    std::fs::write(&other, "{\"name\": \"not a result\"}").expect("write");
    let bad = run_args(&["report".into(), other.into()]);
    assert_eq!(bad.code, Some(2), "{bad}");
    assert!(bad.stderr.contains("not a breakerbox result"), "{bad}");

    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("read")).expect("json");
    doc["phases"][1]["all"]["requests"] = serde_json::json!("many");
    let typo = dir.join("typo.json");
    std::fs::write(&typo, serde_json::to_string_pretty(&doc).expect("text")).expect("write");
    let bad = run_args(&["report".into(), typo.into()]);
    assert_eq!(bad.code, Some(2), "{bad}");
    assert!(bad.stderr.contains("phases[1].all.requests"), "{bad}");
}

#[test]
fn run_checks_export_paths_before_it_starts() {
    let started = std::time::Instant::now();
    let out = scratch("reports-precheck").join("result.json");
    let run = run_args(&[
        "demo".into(),
        "--quiet".into(),
        "--out".into(),
        out.into(),
        "--junit".into(),
        "/nonexistent-dir/junit.xml".into(),
    ]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("--junit"), "{run}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn compare_flags_a_regression_and_passes_identical_results() {
    let dir = scratch("reports-compare");
    let base = save(finished(), &dir);
    let same = run_args(&["compare".into(), base.clone().into(), base.clone().into()]);
    assert_eq!(same.code, Some(0), "{same}");
    assert!(same.stdout.contains("0 regression"), "{same}");
    for line in same.stdout.lines() {
        assert!(line.chars().count() <= 100, "{line}");
    }

    let mut slower = finished().clone();
    for p in &mut slower.phases {
        p.all.latency_ms.p95 = p.all.latency_ms.p95 * 3.0 + 5.0;
    }
    let slower_dir = dir.join("slower");
    std::fs::create_dir_all(&slower_dir).expect("dir");
    let slower = save(&slower, &slower_dir);
    let worse = run_args(&["compare".into(), base.clone().into(), slower.clone().into()]);
    assert_eq!(worse.code, Some(1), "{worse}");
    let flagged: Vec<&str> = worse
        .stdout
        .lines()
        .filter(|l| l.contains("REGRESSION"))
        .collect();
    assert!(!flagged.is_empty(), "{worse}");
    assert!(flagged.iter().all(|l| l.contains("p95_ms")), "{worse}");
    assert!(flagged.iter().all(|l| l.chars().count() <= 100), "{worse}");

    let json = run_args(&[
        "compare".into(),
        base.clone().into(),
        slower.clone().into(),
        "--json".into(),
        "--metric".into(),
        "p95,error_rate".into(),
    ]);
    assert_eq!(json.code, Some(1), "{json}");
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON output");
    assert!(doc["regressions"].as_u64().is_some_and(|n| n >= 1));
    assert!(doc["deltas"]
        .as_array()
        .expect("deltas")
        .iter()
        .all(|d| d["metric"] == "p95_ms" || d["metric"] == "error_rate"));

    // A loose enough tolerance lets it pass; bad input is exit 2.
    let loose = run_args(&[
        "compare".into(),
        base.clone().into(),
        slower.into(),
        "--tolerance".into(),
        "100000%".into(),
    ]);
    assert_eq!(loose.code, Some(0), "{loose}");
    let bad = run_args(&["compare".into(), base.into(), dir.join("nope.json").into()]);
    assert_eq!(bad.code, Some(2), "{bad}");
}
