//! The console summary printed after a run, k6-like in density and never wider than
//! 100 columns: a header, the phase table, the timeline, the breaker channels, the
//! verdict table and a headline. Colour only when asked for (see [`use_colour`]).

mod layout;
mod phases;
mod style;
mod timeline;
mod verdicts;

#[cfg(test)]
mod tests;

pub use layout::{strip_ansi, visible_width};
pub use style::use_colour;

use super::RunResult;
use crate::verdict::Outcome;
use layout::{fmt_ms, pack, push_wrapped, truncate};
use std::fmt::Write;
use style::Paint;

/// Renders the human summary of `result` as plain text (no colour).
pub fn render_console(result: &RunResult) -> String {
    render_console_styled(result, false)
}

/// Renders the human summary of `result`, with ANSI colours when `colour` is true:
/// PASS green, FAIL and INVALID red, WARN yellow, NOT RUN dim.
pub fn render_console_styled(result: &RunResult, colour: bool) -> String {
    let paint = Paint { on: colour };
    let mut out = String::new();
    header(&mut out, result, paint);
    if !result.phases.is_empty() {
        phases::render(&mut out, result, paint);
    }
    steps(&mut out, result);
    if !result.phases.is_empty() {
        timeline::render(&mut out, result, paint);
    }
    channels(&mut out, result, paint);
    verdicts::render(&mut out, result, paint);
    verdicts::headline(&mut out, result, paint);
    out
}

/// The outcome as the header names it.
fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "PASSED",
        Outcome::Failed => "FAILED",
        Outcome::Invalid => "INVALID",
        Outcome::Aborted => "ABORTED",
        Outcome::Unjudged => "NOT JUDGED",
    }
}

/// Version, drill, seed, how long it ran, target, the demo breaker, the outcome.
fn header(out: &mut String, result: &RunResult, paint: Paint) {
    let ran = if result.outcome == Outcome::Aborted {
        format!(
            "ran {:.1}s of {:.1}s",
            result.duration_s, result.planned_duration_s
        )
    } else {
        format!("ran {:.1}s", result.duration_s)
    };
    let about = vec![
        format!("breakerbox {}", result.breakerbox),
        format!("drill {}", result.drill),
        format!("seed {}", result.seed),
        ran,
    ];
    let mut run = vec![format!("target {}", result.target)];
    if let Some(kind) = result.parts.demo_breaker {
        run.push(format!("demo breaker {kind}"));
    }
    run.push(format!(
        "outcome {}",
        paint.outcome(result.outcome, outcome_word(result.outcome))
    ));
    out.push('\n');
    for items in [&about, &run] {
        for line in pack(items, "  ") {
            let _ = writeln!(out, "{line}");
        }
    }
}

/// The setup and teardown requests, when the drill has them.
fn steps(out: &mut String, result: &RunResult) {
    for (title, steps) in [("setup", &result.setup), ("teardown", &result.teardown)] {
        if steps.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        for s in steps {
            let status = s.status.map_or("-".to_string(), |s| s.to_string());
            let first = format!(
                "  {:<24} {:>4} {:>7}  ",
                truncate(&s.name, 24),
                status,
                fmt_ms(s.ms)
            );
            push_wrapped(
                out,
                &first,
                &" ".repeat(42),
                s.problem.as_deref().unwrap_or("ok"),
            );
        }
    }
}

/// The breaker channels, when there are several to agree (or one with something to say),
/// and where they disagreed.
fn channels(out: &mut String, result: &RunResult, paint: Paint) {
    let channels = &result.observations.channels;
    let worth = channels.len() > 1 || channels.iter().any(|c| !c.warnings.is_empty());
    if worth {
        let _ = writeln!(out, "\n{}", paint.bold("breaker channels"));
        for c in channels {
            let mut line = format!(
                "{} transitions, ±{}ms",
                c.transitions.len(),
                c.resolution.as_millis()
            );
            if let Some(p) = &c.polls {
                let failed: u64 = p.failed.values().sum();
                let _ = write!(line, ", {} polls, {failed} failed", p.polls);
                if let Some((cause, n)) = p.failed.iter().max_by_key(|(_, n)| **n) {
                    let _ = write!(line, " (most: {n}× {cause})");
                }
            }
            if !c.unknown_values.is_empty() {
                let raw: Vec<&str> = c.unknown_values.keys().map(String::as_str).collect();
                let _ = write!(line, ", unknown values: {}", raw.join(", "));
            }
            let first = format!("  {:<11} ", c.channel.as_str());
            push_wrapped(out, &first, &" ".repeat(16), &line);
            for w in &c.warnings {
                push_wrapped(out, "    ! ", "      ", w);
            }
        }
        if channels.len() > 1 && result.observations.disagreements.is_empty() {
            let _ = writeln!(out, "  the channels agree within their resolution");
        }
    }
    let disagreements = &result.observations.disagreements;
    if !disagreements.is_empty() {
        let _ = writeln!(
            out,
            "  {} disagreement{} beyond the combined resolution:",
            disagreements.len(),
            if disagreements.len() == 1 { "" } else { "s" }
        );
        for d in disagreements.iter().take(5) {
            let text = format!(
                "{} said {}, {} said {}",
                d.channel, d.said, d.other, d.other_said
            );
            let first = format!(
                "    {:>6.1}s–{:.1}s  ",
                d.from.as_secs_f64(),
                d.until.as_secs_f64()
            );
            push_wrapped(out, &first, &" ".repeat(20), &text);
        }
        if disagreements.len() > 5 {
            let _ = writeln!(out, "    … {} more in result.json", disagreements.len() - 5);
        }
    }
}
