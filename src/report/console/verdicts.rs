//! The verdict table (badge, criterion, measured value against its bound, evidence for
//! what did not pass) and the headline that closes the summary.

use super::layout::{push_wrapped, visible_width, WIDTH};
use super::style::Paint;
use crate::report::RunResult;
use crate::verdict::{Outcome, Status, Verdict};
use std::fmt::Write;

/// The widest criterion column; longer criteria put their value on the next line.
const CRITERION: usize = 44;
/// Where the badge starts.
const INDENT: &str = "  ";
/// Where a criterion's continuation, its value when it moves down, and evidence start.
const UNDER: &str = "          ";

/// Appends the verdict table of `result`.
pub(super) fn render(out: &mut String, result: &RunResult, paint: Paint) {
    let _ = writeln!(out, "\n{}", paint.bold("verdicts"));
    if result.verdicts.is_empty() {
        let _ = writeln!(out, "  (none: the drill states no expectations)");
        return;
    }
    let column = column(&result.verdicts);
    for v in &result.verdicts {
        row(out, v, column, paint);
    }
}

/// The criterion column's width that puts the most values on their criterion's line
/// (ties go to the narrower column); the other rows put their value below.
fn column(verdicts: &[Verdict]) -> usize {
    let badge = INDENT.len() + 8;
    let rows: Vec<(usize, usize)> = verdicts
        .iter()
        .map(|v| (v.criterion.chars().count(), value(v).chars().count()))
        .collect();
    let fitting = |c: usize| {
        rows.iter()
            .filter(|(criterion, value)| *criterion <= c && badge + c + 2 + value <= WIDTH)
            .count()
    };
    let mut candidates: Vec<usize> = rows
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| *c <= CRITERION)
        .collect();
    candidates.sort_unstable();
    candidates
        .into_iter()
        .rev()
        .max_by_key(|c| fitting(*c))
        .unwrap_or(0)
}

/// `<=` and `>=` as the signs a reader expects.
fn signs(s: &str) -> String {
    s.replace("<=", "≤").replace(">=", "≥")
}

/// The measured value against its bound: `18.2ms vs ≤ 20ms`.
pub(super) fn value(v: &Verdict) -> String {
    format!("{} vs {}", v.measured, signs(&v.expected))
}

fn row(out: &mut String, v: &Verdict, column: usize, paint: Paint) {
    let badge = format!("{INDENT}{} ", paint.badge(v.status));
    let value = value(v);
    let criterion = v.criterion.chars().count();
    let aligned = format!("{badge}{:<column$}  {value}", v.criterion);
    if criterion <= column && visible_width(&aligned) <= WIDTH {
        let _ = writeln!(out, "{}", aligned.trim_end());
    } else {
        // Too long for one line: the criterion, then the value indented below it.
        push_wrapped(out, &badge, UNDER, &v.criterion);
        push_wrapped(out, &format!("{UNDER}  "), &format!("{UNDER}    "), &value);
    }
    if v.status != Status::Pass {
        for line in &v.evidence {
            push_wrapped(out, &format!("{UNDER}· "), &format!("{UNDER}  "), line);
        }
    }
}

/// Counts of verdicts by status.
#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    warned: usize,
    failed: usize,
    not_run: usize,
    total: usize,
}

fn tally(verdicts: &[Verdict]) -> Tally {
    let mut t = Tally {
        total: verdicts.len(),
        ..Tally::default()
    };
    for v in verdicts {
        match v.status {
            Status::Pass => t.passed += 1,
            Status::Warn => {
                t.passed += 1;
                t.warned += 1;
            }
            Status::NotRun => t.not_run += 1,
            Status::Fail | Status::Invalid => t.failed += 1,
        }
    }
    t
}

/// The closing lines: the outcome in one word and what it rests on.
pub(super) fn headline(out: &mut String, result: &RunResult, paint: Paint) {
    let t = tally(&result.verdicts);
    let word = |w: &str| paint.outcome(result.outcome, w);
    let warned = if t.warned > 0 {
        format!(" ({} past target: WARN)", t.warned)
    } else {
        String::new()
    };
    let text = match result.outcome {
        Outcome::Passed => format!(
            "{}: {} of {} criteria met{warned}",
            word("PASSED"),
            t.passed,
            t.total
        ),
        Outcome::Unjudged => {
            let checks = if t.total > 0 {
                format!(" ({} of {} run checks held)", t.passed, t.total)
            } else {
                String::new()
            };
            format!(
                "{}: the drill states no expectations, so nothing was judged{checks}; exit 0",
                word("NOT JUDGED")
            )
        }
        Outcome::Failed => format!(
            "{}: {} of {} criteria not met{warned}",
            word("FAILED"),
            t.failed,
            t.total
        ),
        Outcome::Invalid => {
            let why: Vec<&str> = result
                .verdicts
                .iter()
                .filter(|v| v.status == Status::Invalid)
                .map(|v| v.criterion.as_str())
                .collect();
            format!(
                "{}: the run cannot be judged ({})",
                word("INVALID"),
                why.join("; ")
            )
        }
        Outcome::Aborted => {
            let mut s = format!(
                "{} after {:.1}s: {}",
                word("ABORTED"),
                result.duration_s,
                result.abort_reason.as_deref().unwrap_or("stopped")
            );
            let skipped: Vec<&str> = result
                .phases
                .iter()
                .filter(|p| p.not_run)
                .map(|p| p.name.as_str())
                .collect();
            let mut more = Vec::new();
            if !skipped.is_empty() {
                more.push(format!("not run: {}", skipped.join(", ")));
            }
            let mut judged = format!(
                "judged before the stop: {} passed, {} failed",
                t.passed, t.failed
            );
            if t.not_run > 0 {
                let _ = write!(judged, ", {} not run", t.not_run);
            }
            more.push(judged);
            let _ = write!(s, "\n{}", more.join(" · "));
            s
        }
    };
    out.push('\n');
    for (i, line) in text.lines().enumerate() {
        let first = if i == 0 { "" } else { "  " };
        push_wrapped(out, first, "  ", line);
    }
}
