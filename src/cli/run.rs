//! `breakerbox run` and `breakerbox demo` once the drill is loaded: prepare, execute with a
//! progress line and signal handling, print the summary, write the result.

use crate::{RunFlags, EXIT_ABORTED, EXIT_INVALID, EXIT_USAGE};
use breakerbox::config;
use breakerbox::drill::{PreparedDrill, Progress, Stop};
use breakerbox::plan::Overrides;
use breakerbox::report::{self, NotStarted, RunResult};
use breakerbox::verdict::Outcome;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

/// Runs a loaded drill with `overrides`, as `flags` say; the exit code is the outcome's.
pub async fn run_drill(drill: config::Drill, overrides: Overrides, flags: &RunFlags) -> ExitCode {
    if let Err(e) = report::check_writable(&flags.out) {
        eprintln!("error: --out: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let name = drill.name.clone();
    let not_started = |outcome, reason: String| NotStarted {
        drill: drill.name.clone(),
        drill_file: drill.source.clone(),
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
            return write_result(&result, &flags.out, EXIT_ABORTED);
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
            return write_result(&result, &flags.out, EXIT_INVALID);
        }
    };
    if !flags.quiet {
        let proxy = prepared
            .proxy_url()
            .map(|p| format!(", fault proxy {p}"))
            .unwrap_or_default();
        eprintln!(
            "drill {name}: {} phases, {:.0}s, target {}{proxy}",
            prepared.plan().phases.len(),
            prepared.plan().total_duration().as_secs_f64(),
            prepared.target_url()
        );
    }

    let progress = (!flags.quiet).then(|| tokio::spawn(show_progress(prepared.progress())));
    let result = prepared.execute(stop).await;
    signals.abort();
    if let Some(p) = progress {
        p.abort();
        if std::io::stderr().is_terminal() {
            eprint!("\r\x1b[2K");
        }
    }

    let colour = report::use_colour(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    print!("{}", report::render_console_styled(&result, colour));
    let code = result.outcome.exit_code() as u8;
    let written = write_result(&result, &flags.out, code);
    if written == ExitCode::from(code) {
        println!("result written to {}", flags.out.display());
    }
    written
}

/// Writes the result; a failed write is reported and turns the exit code into at least 2.
fn write_result(result: &RunResult, out: &std::path::Path, code: u8) -> ExitCode {
    match report::write_json(result, out) {
        Ok(()) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(code.max(EXIT_USAGE))
        }
    }
}

/// The first Ctrl-C or SIGTERM (what CI, Kubernetes and `timeout` send) stops the run and
/// keeps what was recorded; a second one quits at once.
pub async fn handle_signals(stop: Stop) {
    let Some(first) = breakerbox::drill::next_signal().await else {
        return;
    };
    stop.stop(format!("interrupted ({first})"));
    eprintln!(
        "\ninterrupted ({first}): stopping and writing what was recorded (again to quit now)"
    );
    if let Some(second) = breakerbox::drill::next_signal().await {
        std::process::exit(if second == "SIGTERM" { 143 } else { 130 });
    }
}

/// Prints a live status line: on a terminal redrawn every second, elsewhere every 5 s.
async fn show_progress(progress: Progress) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
    let mut last_requests = 0u64;
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let s = progress.snapshot();
        let rps = (s.requests - last_requests) as f64 / every.as_secs_f64();
        last_requests = s.requests;
        let line = format!(
            "[{:>5.1}s/{:.0}s] {:<16} {:>6.0} req/s  {:>7} requests  {:>5} errors  breaker {}",
            s.elapsed.as_secs_f64(),
            s.total.as_secs_f64(),
            s.phase,
            rps,
            s.requests,
            s.errors,
            s.breaker.map(|b| b.as_str()).unwrap_or("-"),
        );
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }
}
