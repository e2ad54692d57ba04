//! `breakerbox run` and `breakerbox demo` once the drill is loaded: prepare, execute with the
//! live view (see `live.rs`) and signal handling, print the summary, write the result.

use crate::cli::live::{Ended, LiveOptions};
use crate::cli::out::{out, outln};
use crate::{cli, RunFlags, EXIT_ABORTED, EXIT_INVALID, EXIT_USAGE};
use breakerbox::config;
use breakerbox::drill::{PreparedDrill, Stop};
use breakerbox::fault::decisions::{DecisionPage, CAPACITY};
use breakerbox::live::series::SeriesLine;
use breakerbox::live::{LiveBoard, MetricsEndpoint, SeriesWriter};
use breakerbox::plan::Overrides;
use breakerbox::report::{self, NotStarted, RunResult};
use breakerbox::verdict::Outcome;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Runs a loaded drill with `overrides`, as `flags` say; the exit code is the outcome's.
pub async fn run_drill(drill: config::Drill, overrides: Overrides, flags: &RunFlags) -> ExitCode {
    if let Err(e) = report::check_writable(&flags.out) {
        eprintln!("error: --out: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    if let Some(addr) = flags.metrics_listen {
        if !addr.ip().is_loopback() && !flags.metrics_listen_exposed {
            eprintln!(
                "error: --metrics-listen {addr} is beyond loopback: other hosts could read the drill's metrics; add --metrics-listen-exposed if that is meant"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    if let Err(e) = flags.report.check() {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let name = drill.name.clone();
    let not_started = |outcome, reason: String| NotStarted {
        drill: drill.name.clone(),
        drill_file: drill.source.clone(),
        description: drill.description.clone(),
        seed: overrides.seed.unwrap_or(drill.seed),
        target: config::guard::mask_credentials(
            &overrides
                .target
                .clone()
                .or_else(|| drill.target.clone())
                .unwrap_or_default(),
        ),
        planned_duration_s: drill.phases.iter().map(|p| p.duration.as_secs_f64()).sum(),
        outcome,
        reason,
    };
    let stop = Stop::new();
    let signals = tokio::spawn(handle_signals(stop.clone()));
    // Registered for `breakerbox stop`; the entry goes when this function returns.
    let _registration = match breakerbox::runs::Registration::new(&name) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %e, "`breakerbox stop` will not see this run");
            None
        }
    };
    let prepared = tokio::select! {
        prepared = PreparedDrill::prepare(drill.clone(), &overrides) => prepared,
        _ = stop.stopped() => {
            let reason = format!("{} before the run started", stop.reason().unwrap_or_default());
            eprintln!("{reason}; nothing was recorded");
            let result = RunResult::not_started(not_started(Outcome::Aborted, reason));
            return write_result(&result, flags, EXIT_ABORTED);
        }
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            if !e.is_invalid_run() {
                return ExitCode::from(EXIT_USAGE);
            }
            let result = RunResult::not_started(not_started(Outcome::Invalid, e.to_string()));
            return write_result(&result, flags, EXIT_INVALID);
        }
    };
    if !flags.quiet {
        let proxy = prepared
            .proxy_url()
            .map(|p| format!(", fault proxy {p}"))
            .unwrap_or_default();
        eprintln!(
            "drill {name}: {}, {:.0}s, target {}{proxy}",
            super::plural(prepared.plan().phases.len(), "phase"),
            prepared.plan().total_duration().as_secs_f64(),
            prepared.target_url()
        );
    }

    let series = match series_path(flags) {
        Some(path) => match open_series(&path, &prepared) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("error: --series-out: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None => None,
    };
    let board = flags
        .metrics_listen
        .map(|_| Arc::new(Mutex::new(LiveBoard::default())));
    let _endpoint = match (flags.metrics_listen, &board) {
        (Some(addr), Some(board)) => match MetricsEndpoint::start(addr, board.clone()).await {
            Ok(endpoint) => {
                if !flags.quiet {
                    eprintln!("live metrics at http://{}/metrics", endpoint.addr());
                }
                Some(endpoint)
            }
            Err(e) => {
                eprintln!("error: --metrics-listen: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        _ => None,
    };

    let options = LiveOptions {
        quiet: flags.quiet,
        progress_every: flags.progress_every,
        summary_every: flags.summary_every,
    };
    let (ended, ended_rx) = oneshot::channel();
    let live = tokio::spawn(cli::live::run(
        prepared.progress(),
        options,
        series,
        board,
        ended_rx,
    ));
    let (result, decisions) = prepared.execute_with_decisions(stop).await;
    signals.abort();
    let _ = ended.send(Ended {
        duration: Duration::from_secs_f64(result.duration_s.max(0.0)),
        stopped_early: result.abort_reason.is_some(),
    });
    let _ = live.await;

    let colour = report::use_colour(
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    out!("{}", report::render_console_styled(&result, colour));
    let code = result.outcome.exit_code() as u8;
    let written = write_result(&result, flags, code);
    if written == ExitCode::from(code) {
        outln!("result written to {}", flags.out.display());
    }
    match decisions {
        Some(log) if !write_decisions(&log, flags) => ExitCode::from(code.max(EXIT_USAGE)),
        _ => written,
    }
}

/// Writes the proxy's decision log to `--decisions-out` (else beside `--out`); `false`
/// (after saying why) when it cannot, which fails the run as a failed result write does.
fn write_decisions(log: &DecisionPage, flags: &RunFlags) -> bool {
    let path = flags
        .decisions_out
        .clone()
        .unwrap_or_else(|| flags.out.with_extension("decisions.ndjson"));
    if let Err(e) = report::write_decisions(log, &path) {
        eprintln!("error: --decisions-out: {e}");
        return false;
    }
    outln!("decisions written to {}", path.display());
    if log.dropped > 0 {
        outln!(
            "  the {} earliest were dropped: the log keeps the latest {CAPACITY}",
            log.dropped
        );
    }
    true
}

/// The series file: `--series-out`, else `--out` with the extension `.ndjson`; none with
/// `--no-series`.
fn series_path(flags: &RunFlags) -> Option<PathBuf> {
    if flags.no_series {
        return None;
    }
    Some(
        flags
            .series_out
            .clone()
            .unwrap_or_else(|| flags.out.with_extension("ndjson")),
    )
}

/// Creates the series file and writes its first line.
fn open_series(path: &Path, prepared: &PreparedDrill) -> Result<SeriesWriter, String> {
    let mut w = SeriesWriter::create(path).map_err(|e| e.to_string())?;
    let plan = prepared.plan();
    w.write(&SeriesLine::Start {
        drill: &plan.drill.name,
        planned_s: plan.total_duration().as_secs_f64(),
        phases: plan.phases.iter().map(|p| p.name.as_str()).collect(),
    })
    .map_err(|e| e.to_string())?;
    Ok(w)
}

/// Writes the result and the requested formats; a failed write is reported and turns the
/// exit code into at least 2.
fn write_result(result: &RunResult, flags: &RunFlags, code: u8) -> ExitCode {
    let mut ok = match report::write_json(result, &flags.out) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    };
    ok &= flags.report.write(result, false);
    if ok {
        ExitCode::from(code)
    } else {
        ExitCode::from(code.max(EXIT_USAGE))
    }
}

/// The first Ctrl-C or SIGTERM (what CI, Kubernetes and `timeout` send) stops the run and
/// keeps what was recorded; a second one quits at once.
pub async fn handle_signals(stop: Stop) {
    let Some(first) = breakerbox::drill::next_signal().await else {
        return;
    };
    stop.stop(format!("interrupted ({first})"));
    cli::live::eprint_text(&format!(
        "\ninterrupted ({first}): stopping and writing what was recorded (again to quit now)\n"
    ));
    if let Some(second) = breakerbox::drill::next_signal().await {
        std::process::exit(if second == "SIGTERM" { 143 } else { 130 });
    }
}
