//! `breakerbox compare BASELINE.json RESULT.json`: per-metric deltas and regressions.

use crate::cli::out::{out, outln};
use crate::EXIT_USAGE;
use breakerbox::report::{self, compare};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `breakerbox compare`.
#[derive(Args)]
pub struct CompareArgs {
    /// The baseline result.json.
    pub baseline: PathBuf,
    /// The result.json to judge against it.
    pub result: PathBuf,
    /// Relative change past which a metric regresses: `10%` or a fraction (`0.1`).
    #[arg(long, env = "BREAKERBOX_TOLERANCE", default_value = "10%", value_parser = parse_tolerance)]
    pub tolerance: f64,
    /// Only these metrics (repeat or comma-separate): p50_ms, p95_ms, p99_ms, error_rate,
    /// throughput_rps, cache_hit_rate, fallback_rate, breaker_open_s, breaker_half_open_s,
    /// breaker_close_s (the unit suffix may be left off).
    #[arg(long, env = "BREAKERBOX_METRIC", value_delimiter = ',', value_parser = parse_metric)]
    pub metric: Vec<&'static compare::Metric>,
    /// Print the comparison as JSON instead of a table.
    #[arg(long, env = "BREAKERBOX_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    pub json: bool,
}

fn parse_tolerance(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 0.01),
        None => (t, 1.0),
    };
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v * scale),
        _ => Err(format!(
            "\"{text}\" is not a tolerance (a percentage like 10% or a fraction like 0.1)"
        )),
    }
}

fn parse_metric(text: &str) -> Result<&'static compare::Metric, String> {
    compare::metric(text.trim()).ok_or_else(|| {
        let names: Vec<&str> = compare::METRICS.iter().map(|m| m.name).collect();
        format!("unknown metric \"{text}\" (one of {})", names.join(", "))
    })
}

/// Reads both results and compares them: exit 1 when a metric regressed, 0 when none did,
/// 2 when a file cannot be read.
pub fn run(args: CompareArgs) -> ExitCode {
    let read = |path: &PathBuf| {
        report::read_json(path).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        })
    };
    let (baseline, result) = match (read(&args.baseline), read(&args.result)) {
        (Ok(b), Ok(r)) => (b, r),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let options = compare::Options {
        tolerance: args.tolerance,
        metrics: args.metric,
    };
    let comparison = compare::compare(&baseline, &result, &options);
    if args.json {
        match serde_json::to_string_pretty(&comparison) {
            Ok(text) => outln!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    } else {
        out!("{}", compare::render_table(&comparison));
    }
    if comparison.regressions > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
