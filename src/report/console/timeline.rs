//! The timeline: phase starts, fault windows and breaker transitions in time order.
//!
//! A fault whose window closes as another window of the same fault opens (one profile over
//! two phases back to back) is one continuous window, so its off + on pair is not shown;
//! the faults of one profile switching at the same instant share a line.

use super::layout::push_wrapped;
use super::style::Paint;
use crate::metrics::{Event, EventKind};
use crate::report::RunResult;
use std::fmt::Write;
use std::time::Duration;

/// Events closer than this are at the same instant.
const SAME_INSTANT: Duration = Duration::from_millis(1);

/// Appends the timeline of `result`.
pub(super) fn render(out: &mut String, result: &RunResult, paint: Paint) {
    let _ = writeln!(out, "\n{}", paint.bold("timeline"));
    let lines = lines(result.timeline.events());
    if lines.is_empty() {
        let _ = writeln!(out, "  (nothing happened)");
    }
    for (at, text) in lines {
        let first = format!("  {:>6.1}s  ", at.as_secs_f64());
        let text = if text.starts_with("aborted") {
            paint.red(&text)
        } else {
            text
        };
        push_wrapped(out, &first, "             ", &text);
    }
}

/// What a fault event says: on or off, profile, kind.
fn fault(e: &Event) -> Option<(bool, &str, &str)> {
    match &e.kind {
        EventKind::FaultOn { profile, kind, .. } => Some((true, profile, kind)),
        EventKind::FaultOff { profile, kind, .. } => Some((false, profile, kind)),
        _ => None,
    }
}

/// The events as `(time, text)` lines, with continuous fault windows joined and the
/// faults of one profile switching together on one line.
pub(super) fn lines(events: &[Event]) -> Vec<(Duration, String)> {
    let mut hidden = vec![false; events.len()];
    for (i, e) in events.iter().enumerate() {
        let Some((false, profile, kind)) = fault(e) else {
            continue;
        };
        let resumes = events.iter().enumerate().position(|(j, o)| {
            !hidden[j]
                && o.at.abs_diff(e.at) < SAME_INSTANT
                && fault(o) == Some((true, profile, kind))
        });
        if let Some(j) = resumes {
            hidden[i] = true;
            hidden[j] = true;
        }
    }

    let mut lines: Vec<(Duration, String)> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let e = &events[i];
        i += 1;
        if hidden[i - 1] {
            continue;
        }
        let text = match &e.kind {
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
                format!("{change:<28} seen by {}", seen.join(", "))
            }
            EventKind::FaultOn { profile, kind, .. }
            | EventKind::FaultOff { profile, kind, .. } => {
                let on = matches!(e.kind, EventKind::FaultOn { .. });
                let mut kinds = vec![kind.as_str()];
                // The same profile's other faults switching at the same instant.
                while let Some(next) = events.get(i) {
                    if next.at.abs_diff(e.at) >= SAME_INSTANT {
                        break;
                    }
                    match fault(next) {
                        _ if hidden[i] => {}
                        Some((o, p, k)) if o == on && p == profile => {
                            if !kinds.contains(&k) {
                                kinds.push(k);
                            }
                            hidden[i] = true;
                        }
                        _ => break,
                    }
                    i += 1;
                }
                let word = if on { "fault on " } else { "fault off" };
                format!("{word}  {profile} ({})", kinds.join(", "))
            }
            EventKind::PhaseStart { phase } => format!("phase {phase}"),
            EventKind::PhaseEnd { .. } => continue,
            EventKind::Aborted { reason } => format!("aborted: {reason}"),
        };
        lines.push((e.at, text));
    }
    lines
}
