//! `csv`: the result's tables for spreadsheets, into a directory: `series.csv` (per
//! second), `groups.csv` (per phase × request group, user type, tag) and `verdicts.csv`.
//! A header row each, RFC 4180 quoting; latencies in ms, rates as ratios.

use super::{Format, Target};
use crate::report::{write_atomically, GroupSummary, ReportError, RunResult};
use std::path::Path;

/// The result's tables as CSV files in a directory.
pub const FORMAT: Format = Format {
    name: "csv",
    description: "CSV tables in a directory: series.csv, groups.csv, verdicts.csv",
    target: Target::Dir,
    write: write_csv,
};

/// The header of series.csv: the second from the run epoch, then every field of a
/// `series` row.
pub const SERIES_HEADER: &[&str] = &["second", "requests", "errors", "fallbacks", "cache_hits"];

/// The header of groups.csv.
pub const GROUPS_HEADER: &[&str] = &[
    "phase",
    "scope",
    "group",
    "requests",
    "rps",
    "errors",
    "error_rate",
    "cache_hit_rate",
    "fallback_rate",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "mean_ms",
    "service_p50_ms",
    "service_p95_ms",
    "service_p99_ms",
    "failures",
    "statuses",
];

/// The header of verdicts.csv.
pub const VERDICTS_HEADER: &[&str] = &[
    "criterion",
    "status",
    "expected",
    "measured",
    "measured_value",
    "bound",
    "unit",
    "evidence",
];

/// Writes series.csv, groups.csv and verdicts.csv into the directory `dir` (created if
/// missing), each atomically.
pub fn write_csv(result: &RunResult, dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    write_atomically(&dir.join("series.csv"), &series(result)?)?;
    write_atomically(&dir.join("groups.csv"), &groups(result)?)?;
    write_atomically(&dir.join("verdicts.csv"), &verdicts(result)?)
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>, ReportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ReportError::Csv(e.to_string());
    w.write_record(header).map_err(csv_err)?;
    for row in rows {
        w.write_record(&row).map_err(csv_err)?;
    }
    w.into_inner().map_err(|e| ReportError::Csv(e.to_string()))
}

fn series(result: &RunResult) -> Result<Vec<u8>, ReportError> {
    let rows = result
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                i.to_string(),
                s.requests.to_string(),
                s.errors.to_string(),
                s.fallbacks.to_string(),
                s.cache_hits.to_string(),
            ]
        })
        .collect();
    table(SERIES_HEADER, rows)
}

fn groups(result: &RunResult) -> Result<Vec<u8>, ReportError> {
    let mut rows = Vec::new();
    for p in &result.phases {
        let scoped = std::iter::once(("phase", &p.all))
            .chain(p.groups.iter().map(|g| ("request", g)))
            .chain(p.users.iter().map(|g| ("user", g)))
            .chain(p.tags.iter().map(|g| ("tag", g)));
        for (scope, g) in scoped {
            rows.push(group_row(&p.name, scope, g, p.duration_s));
        }
    }
    rows.push(group_row("*", "run", &result.total, result.duration_s));
    table(GROUPS_HEADER, rows)
}

fn group_row(phase: &str, scope: &str, g: &GroupSummary, seconds: f64) -> Vec<String> {
    let rps = if seconds > 0.0 {
        g.requests as f64 / seconds
    } else {
        0.0
    };
    let joined = |pairs: Vec<String>| pairs.join(";");
    vec![
        phase.to_string(),
        scope.to_string(),
        g.name.clone(),
        g.requests.to_string(),
        format!("{rps:.3}"),
        g.errors.to_string(),
        g.error_rate.to_string(),
        g.cache_hit_rate.to_string(),
        g.fallback_rate.to_string(),
        g.latency_ms.p50.to_string(),
        g.latency_ms.p90.to_string(),
        g.latency_ms.p95.to_string(),
        g.latency_ms.p99.to_string(),
        g.latency_ms.max.to_string(),
        g.latency_ms.mean.to_string(),
        g.service_ms.p50.to_string(),
        g.service_ms.p95.to_string(),
        g.service_ms.p99.to_string(),
        joined(g.failures.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        joined(g.statuses.iter().map(|(k, v)| format!("{k}={v}")).collect()),
    ]
}

fn verdicts(result: &RunResult) -> Result<Vec<u8>, ReportError> {
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let rows = result
        .verdicts
        .iter()
        .map(|v| {
            vec![
                v.criterion.clone(),
                v.status.as_str().to_string(),
                v.expected.clone(),
                v.measured.clone(),
                num(v.measured_value),
                num(v.bound),
                v.unit.map(|u| u.as_str().to_string()).unwrap_or_default(),
                v.evidence.join("; "),
            ]
        })
        .collect();
    table(VERDICTS_HEADER, rows)
}
