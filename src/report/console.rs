//! The console summary: per-phase table, breaker timeline, verdict table.

use super::RunResult;
use crate::metrics::EventKind;
use crate::verdict::{Outcome, Status};
use std::fmt::Write;

/// Renders the human summary of `result`.
pub fn render_console(result: &RunResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nbreakerbox {} · drill {} · seed {} · target {}",
        result.breakerbox, result.drill, result.seed, result.target
    );
    if let Some(kind) = result.parts.demo_breaker {
        let _ = writeln!(out, "demo service breaker: {kind}");
    }

    let _ = writeln!(out, "\nphases");
    let _ = writeln!(
        out,
        "  {:<16} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7} {:>9} {:>7} {:>11}",
        "phase",
        "requests",
        "rps",
        "p50",
        "p95",
        "p99",
        "svc p95",
        "errors",
        "cache",
        "fallback",
        "dropped",
        "interrupted"
    );
    for p in &result.phases {
        let a = &p.all;
        let _ = writeln!(
            out,
            "  {:<16} {:>8} {:>7.1} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7} {:>9} {:>7} {:>11}",
            truncate(&p.name, 16),
            a.requests,
            p.rps,
            fmt_ms(a.latency_ms.p50),
            fmt_ms(a.latency_ms.p95),
            fmt_ms(a.latency_ms.p99),
            fmt_ms(a.service_ms.p95),
            format!("{:.1}%", a.error_rate * 100.0),
            format!("{:.0}%", a.cache_hit_rate * 100.0),
            format!("{:.0}%", a.fallback_rate * 100.0),
            p.dropped,
            p.interrupted,
        );
    }
    for p in &result.phases {
        if let Some(planned) = p.planned_iterations {
            let when = match p.done_s {
                Some(done) => format!("done at {done:.1}s of its {:.1}s", p.duration_s),
                None => format!("not done by its end ({:.1}s)", p.duration_s),
            };
            let _ = writeln!(
                out,
                "  {}: {} of {planned} iterations, {when}",
                p.name, p.iterations
            );
        }
    }

    journeys(&mut out, result);

    let _ = writeln!(out, "\ntimeline");
    let mut any = false;
    for e in result.timeline.events() {
        let line = match &e.kind {
            EventKind::Breaker {
                from,
                to,
                channel,
                corroborated_by,
            } => {
                let change = match from {
                    None => format!("breaker {to} (first seen)"),
                    Some(f) => format!("breaker {f} → {to}"),
                };
                let mut seen = vec![channel.as_str()];
                seen.extend(corroborated_by.iter().map(|c| c.as_str()));
                format!("{change:<30} [{}]", seen.join(", "))
            }
            EventKind::FaultOn { profile, kind, .. } => format!("fault on   {profile} ({kind})"),
            EventKind::FaultOff { profile, kind, .. } => format!("fault off  {profile} ({kind})"),
            EventKind::PhaseStart { phase } => format!("phase {phase}"),
            EventKind::PhaseEnd { .. } => continue,
            EventKind::Aborted { reason } => format!("aborted: {reason}"),
        };
        any = true;
        let _ = writeln!(out, "  {:>8.3}s  {line}", e.at.as_secs_f64());
    }
    if !any {
        let _ = writeln!(out, "  (nothing happened)");
    }

    let channels = &result.observations.channels;
    if !channels.is_empty() {
        let _ = writeln!(out, "\nbreaker channels");
        for c in channels {
            let mut line = format!(
                "  {:<11} {:>2} transitions  ±{:<6}",
                c.channel.as_str(),
                c.transitions.len(),
                format!("{}ms", c.resolution.as_millis())
            );
            if let Some(p) = &c.polls {
                let failed: u64 = p.failed.values().sum();
                let _ = write!(line, " {} polls, {failed} failed", p.polls);
                if let Some((cause, n)) = p.failed.iter().max_by_key(|(_, n)| **n) {
                    let _ = write!(line, " (most: {n}× {cause})");
                }
            }
            if !c.unknown_values.is_empty() {
                let raw: Vec<&str> = c.unknown_values.keys().map(String::as_str).collect();
                let _ = write!(line, " unknown values: {}", raw.join(", "));
            }
            let _ = writeln!(out, "{}", line.trim_end());
            for w in &c.warnings {
                let _ = writeln!(out, "    ! {w}");
            }
        }
    }

    let _ = writeln!(out, "\nverdict");
    for v in &result.verdicts {
        let mark = match v.status {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Invalid => "INVALID",
        };
        let _ = writeln!(
            out,
            "  {mark:<7} {:<44} {}  (expected {})",
            v.criterion, v.measured, v.expected
        );
        if v.status != Status::Pass {
            for line in &v.evidence {
                let _ = writeln!(out, "          · {line}");
            }
        }
    }
    let disagreements = &result.observations.disagreements;
    if !disagreements.is_empty() {
        let _ = writeln!(out, "\nchannels disagree");
        for d in disagreements.iter().take(5) {
            let _ = writeln!(
                out,
                "  {:>8.3}s–{:.3}s  {} said {}, {} said {}",
                d.from.as_secs_f64(),
                d.until.as_secs_f64(),
                d.channel,
                d.said,
                d.other,
                d.other_said
            );
        }
    }
    if result.verdicts.is_empty() {
        let _ = writeln!(out, "  (the drill states no expectations)");
    }
    let passed = result
        .verdicts
        .iter()
        .filter(|v| v.status <= Status::Warn)
        .count();
    let warned = result
        .verdicts
        .iter()
        .filter(|v| v.status == Status::Warn)
        .count();
    let total = result.verdicts.len();
    let headline = match result.outcome {
        Outcome::Passed if warned > 0 => {
            format!("PASSED: {passed} of {total} expectations met ({warned} past target: WARN)")
        }
        Outcome::Passed => format!("PASSED: {passed} of {total} expectations met"),
        Outcome::Failed => format!("FAILED: {} of {total} expectations not met", total - passed),
        Outcome::Invalid => {
            let why: Vec<&str> = result
                .verdicts
                .iter()
                .filter(|v| v.status == Status::Invalid)
                .map(|v| v.criterion.as_str())
                .collect();
            format!("INVALID: the run cannot be judged ({})", why.join("; "))
        }
        Outcome::Aborted => format!(
            "ABORTED after {:.1}s: {}",
            result.duration_s,
            result.abort_reason.as_deref().unwrap_or("stopped")
        ),
    };
    let _ = writeln!(out, "\n{headline}");
    out
}

/// Per request and user type, with checks and skips, plus setup and teardown: shown only
/// for drills that use them, so plain drills keep their short summary.
fn journeys(out: &mut String, result: &RunResult) {
    let detailed = |g: &super::GroupSummary| {
        g.checks.is_some() || !g.skipped.is_empty() || !g.captures_missed.is_empty()
    };
    let show = result
        .phases
        .iter()
        .any(|p| !p.users.is_empty() || !p.tags.is_empty() || p.groups.iter().any(detailed));
    if show {
        let _ = writeln!(out, "\nrequests");
        let _ = writeln!(
            out,
            "  {:<16} {:<20} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8}",
            "phase", "group", "requests", "p50", "p95", "errors", "checks", "skipped"
        );
        for p in &result.phases {
            let rows = p
                .groups
                .iter()
                .map(|g| (g.name.clone(), g))
                .chain(p.users.iter().map(|g| (format!("user {}", g.name), g)))
                .chain(p.tags.iter().map(|g| (format!("tag {}", g.name), g)));
            for (name, g) in rows {
                let skipped: u64 = g.skipped.values().sum();
                let _ = writeln!(
                    out,
                    "  {:<16} {:<20} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8}",
                    truncate(&p.name, 16),
                    truncate(&name, 20),
                    g.requests,
                    fmt_ms(g.latency_ms.p50),
                    fmt_ms(g.latency_ms.p95),
                    format!("{:.1}%", g.error_rate * 100.0),
                    g.checks
                        .as_ref()
                        .map_or("-".to_string(), |c| format!("{:.1}%", c.rate * 100.0)),
                    skipped,
                );
                for (reason, n) in &g.skipped {
                    let _ = writeln!(out, "  {:<37} · {n} skipped: {reason}", "");
                }
                for (capture, n) in &g.captures_missed {
                    let _ = writeln!(out, "  {:<37} · {n}× capture {capture} found nothing", "");
                }
            }
        }
    }
    for (title, steps) in [("setup", &result.setup), ("teardown", &result.teardown)] {
        if steps.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        for s in steps {
            let status = s.status.map_or("-".to_string(), |s| s.to_string());
            let _ = writeln!(
                out,
                "  {:<24} {:>4} {:>9}  {}",
                truncate(&s.name, 24),
                status,
                fmt_ms(s.ms),
                s.problem.as_deref().unwrap_or("ok")
            );
        }
    }
}

fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}ms")
    } else {
        format!("{v:.1}ms")
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}
