//! The phase table: one row per phase (and per request group, user type and tag under it
//! when the drill has more than one), then what the row cannot hold: errors by kind and
//! status, drops, cut iterations, checks and skips.

use super::layout::{fmt_ms, pct, push_wrapped, truncate};
use super::style::Paint;
use crate::report::{GroupSummary, PhaseSummary, RunResult};
use std::fmt::Write;

/// Width of the name column.
const NAME: usize = 16;

/// Appends the phase table of `result`.
pub(super) fn render(out: &mut String, result: &RunResult, paint: Paint) {
    let _ = writeln!(out, "\n{}", paint.bold("phases"));
    let _ = writeln!(
        out,
        "  {:<NAME$} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>8}",
        "phase", "requests", "rps", "p50", "p95", "p99", "svc p95", "errors", "cache", "fallback"
    );
    let detailed = result.phases.iter().any(shows_groups);
    for p in &result.phases {
        if p.not_run {
            let name = truncate(&p.name, NAME);
            let _ = writeln!(out, "  {}", paint.dim(&format!("{name:<NAME$} not run")));
            continue;
        }
        let _ = writeln!(out, "{}", row(&truncate(&p.name, NAME), &p.all, p.rps));
        phase_notes(out, p);
        errors(out, "    ", &p.all);
        if detailed {
            for (name, g) in groups(p) {
                let rps = share(p.rps, g.requests, p.all.requests);
                let name = format!("  {}", truncate(&name, NAME - 2));
                let _ = writeln!(out, "{}", row(&name, g, rps));
                errors(out, "      ", g);
                group_notes(out, g);
            }
        }
    }
    if result.phases.len() > 1 {
        let rps = if result.duration_s > 0.0 {
            result.total.requests as f64 / result.duration_s
        } else {
            0.0
        };
        let _ = writeln!(out, "{}", row("total", &result.total, rps));
        errors(out, "    ", &result.total);
    }
}

/// Whether the phase's rows per request group, user type and tag say more than its own.
fn shows_groups(p: &PhaseSummary) -> bool {
    p.groups.len() > 1
        || !p.users.is_empty()
        || !p.tags.is_empty()
        || p.groups
            .iter()
            .any(|g| g.checks.is_some() || !g.skipped.is_empty() || !g.captures_missed.is_empty())
}

/// The phase's request groups, user types (`user …`) and tags (`tag …`), with names.
fn groups(p: &PhaseSummary) -> impl Iterator<Item = (String, &GroupSummary)> {
    p.groups
        .iter()
        .map(|g| (g.name.clone(), g))
        .chain(p.users.iter().map(|g| (format!("user {}", g.name), g)))
        .chain(p.tags.iter().map(|g| (format!("tag {}", g.name), g)))
}

/// `part`'s share of `rate`, `part` of `all` being counted.
fn share(rate: f64, part: u64, all: u64) -> f64 {
    if all == 0 {
        0.0
    } else {
        rate * part as f64 / all as f64
    }
}

/// One table row; a set with no requests shows dashes rather than zeros.
fn row(name: &str, g: &GroupSummary, rps: f64) -> String {
    let any = g.requests > 0;
    let ms = |v: f64| if any { fmt_ms(v) } else { "-".into() };
    let rate = |v: f64, d: usize| if any { pct(v, d) } else { "-".into() };
    format!(
        "  {:<NAME$} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>8}",
        name,
        g.requests,
        if rps >= 100_000.0 {
            format!("{rps:.0}")
        } else {
            format!("{rps:.1}")
        },
        ms(g.latency_ms.p50),
        ms(g.latency_ms.p95),
        ms(g.latency_ms.p99),
        ms(g.service_ms.p95),
        rate(g.error_rate, 1),
        rate(g.cache_hit_rate, 0),
        rate(g.fallback_rate, 0),
    )
}

/// Failures by kind and error statuses: `errors: 12 timeout, 3 reset, 40× 503`, then the
/// 4xx statuses, which are not errors but rarely wanted.
pub(super) fn error_words(g: &GroupSummary) -> Option<String> {
    let mut errors: Vec<String> = g
        .failures
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    errors.extend(
        g.statuses
            .iter()
            .filter(|(s, n)| **s >= 500 && **n > 0)
            .map(|(s, n)| format!("{n}× {s}")),
    );
    let client: Vec<String> = g
        .statuses
        .iter()
        .filter(|(s, n)| (400..500).contains(*s) && **n > 0)
        .map(|(s, n)| format!("{n}× {s}"))
        .collect();
    let mut words = Vec::new();
    if !errors.is_empty() {
        words.push(format!("errors: {}", errors.join(", ")));
    }
    if !client.is_empty() {
        words.push(format!("4xx (not errors): {}", client.join(", ")));
    }
    (!words.is_empty()).then(|| words.join(" · "))
}

fn errors(out: &mut String, indent: &str, g: &GroupSummary) {
    if let Some(words) = error_words(g) {
        push_wrapped(out, indent, &format!("{indent}  "), &words);
    }
}

/// Drops, cut iterations and iteration budgets: only when there are any.
fn phase_notes(out: &mut String, p: &PhaseSummary) {
    let mut notes = Vec::new();
    if p.dropped > 0 {
        notes.push(format!(
            "{} dropped (due but not started on time)",
            p.dropped
        ));
    }
    if p.interrupted > 0 {
        notes.push(format!("{} iterations cut by the stop", p.interrupted));
    }
    if let Some(planned) = p.planned_iterations {
        let when = match p.done_s {
            Some(done) => format!("done at {done:.1}s of its {:.1}s", p.duration_s),
            None => format!("not done by its end ({:.1}s)", p.duration_s),
        };
        notes.push(format!("{} of {planned} iterations, {when}", p.iterations));
    }
    if !notes.is_empty() {
        push_wrapped(out, "    ", "      ", &notes.join(" · "));
    }
}

/// Checks, skipped requests and captures that found nothing, for one group.
fn group_notes(out: &mut String, g: &GroupSummary) {
    let mut notes = Vec::new();
    if let Some(c) = &g.checks {
        let mut s = format!("checks {} passed", pct(c.rate, 1));
        if c.failed > 0 {
            let kinds: Vec<String> = c.failures.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let _ = write!(s, " ({} failed: {})", c.failed, kinds.join(", "));
        }
        notes.push(s);
    }
    notes.extend(
        g.skipped
            .iter()
            .map(|(why, n)| format!("{n} skipped: {why}")),
    );
    notes.extend(
        g.captures_missed
            .iter()
            .map(|(capture, n)| format!("{n}× capture {capture} found nothing")),
    );
    if !notes.is_empty() {
        push_wrapped(out, "      ", "        ", &notes.join(" · "));
    }
}
