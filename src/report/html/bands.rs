//! The bands chart: phases, fault windows and the breaker state per channel (and the
//! merged best estimate) as lanes on the shared time axis, plus the overlay the traffic
//! charts carry (fault windows shaded, the best-estimate state as a strip along the top).

use super::escape;
use super::svg::{TimeAxis, LEFT, RIGHT, WIDTH};
use crate::breaker_state::BreakerState;
use crate::report::RunResult;
use std::fmt::{self, Write};
use std::time::Duration;

/// Height of one lane, px.
const LANE: f64 = 24.0;
/// Gap between lanes, px.
const GAP: f64 = 4.0;

/// One lane's segments: `(from_s, until_s, state)`.
type Segments = Vec<(f64, f64, BreakerState)>;

/// The breaker state as a lane: from each transition to the next (the last to the end).
fn segments(transitions: &[(Duration, BreakerState)], end_s: f64) -> Segments {
    transitions
        .iter()
        .enumerate()
        .map(|(i, &(at, state))| {
            let until = transitions
                .get(i + 1)
                .map_or(end_s, |next| next.0.as_secs_f64());
            (at.as_secs_f64(), until, state)
        })
        .collect()
}

/// The CSS class of a state's colour.
pub fn state_class(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "st-closed",
        BreakerState::Open => "st-open",
        BreakerState::HalfOpen => "st-half",
    }
}

/// The merged best estimate of the breaker state, as segments.
pub fn best_segments(result: &RunResult, time: &TimeAxis) -> Segments {
    let best: Vec<_> = result
        .observations
        .best
        .iter()
        .map(|t| (t.at, t.to))
        .collect();
    segments(&best, time.span_s)
}

/// Fault windows as `(from_s, until_s, label)`, clamped to the run.
fn fault_windows(result: &RunResult, time: &TimeAxis) -> Vec<(f64, f64, String)> {
    result
        .faults
        .iter()
        .map(|f| {
            let until = if f.until_s.is_finite() {
                f.until_s.min(time.span_s)
            } else {
                time.span_s
            };
            (f.from_s, until, format!("{} ({})", f.profile, f.kind))
        })
        .collect()
}

/// The bands chart as one `<svg>`.
pub fn draw(out: &mut String, result: &RunResult, time: &TimeAxis) -> fmt::Result {
    let mut body = String::new();
    let mut y = 8.0;
    // The grid first, beneath the lanes: phases, faults, each channel, the best estimate.
    let lanes = 3 + result.observations.channels.len();
    let plot_bottom = y + lanes as f64 * (LANE + GAP) - GAP;
    let lane = |body: &mut String, y: f64, label: &str| {
        writeln!(
            body,
            r#"<text class="lane" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="lane-bg" x="{LEFT:.1}" y="{y:.1}" width="{:.1}" height="{LANE:.1}"/>"#,
            LEFT - 8.0,
            y + LANE / 2.0 + 4.0,
            escape(label),
            WIDTH - LEFT - RIGHT
        )
    };

    // Phases, labelled, alternating shades.
    lane(&mut body, y, "phases")?;
    for (i, p) in result.phases.iter().enumerate() {
        let (x0, x1) = (time.x(p.start_s), time.x(p.start_s + p.duration_s));
        let w = (x1 - x0).max(1.0);
        writeln!(
            body,
            r#"<g class="phase"><title>{name}: {start:.1}s – {end:.1}s</title><rect class="ph{odd}" x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{LANE:.1}"/><text class="band-label" x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text></g>"#,
            x0 + w / 2.0,
            y + LANE / 2.0 + 4.0,
            name = escape(&p.name),
            start = p.start_s,
            end = p.start_s + p.duration_s,
            odd = i % 2,
            label = escape(&fit(&p.name, w)),
        )?;
    }
    y += LANE + GAP;

    // Fault windows: one lane, each window labelled with its profile and kind.
    lane(&mut body, y, "faults")?;
    for (from, until, label) in fault_windows(result, time) {
        let (x0, x1) = (time.x(from), time.x(until));
        let w = (x1 - x0).max(1.0);
        writeln!(
            body,
            r#"<g class="fault"><title>{full}: {from:.1}s – {until:.1}s</title><rect class="fault-win" x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{LANE:.1}"/><text class="band-label" x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text></g>"#,
            x0 + w / 2.0,
            y + LANE / 2.0 + 4.0,
            full = escape(&label),
            label = escape(&fit(&label, w)),
        )?;
    }
    y += LANE + GAP;

    // One lane per observation channel, then the merged estimate.
    let mut lanes: Vec<(String, Segments)> = result
        .observations
        .channels
        .iter()
        .map(|c| {
            let t: Vec<_> = c.transitions.iter().map(|t| (t.at, t.to)).collect();
            (
                format!("breaker · {}", c.channel),
                segments(&t, time.span_s),
            )
        })
        .collect();
    lanes.push(("best estimate".into(), best_segments(result, time)));
    for (label, segs) in &lanes {
        lane(&mut body, y, label)?;
        state_rects(&mut body, segs, time, y, LANE)?;
        if segs.is_empty() {
            writeln!(
                body,
                r#"<text class="band-none" x="{:.1}" y="{:.1}">no state observed</text>"#,
                LEFT + 8.0,
                y + LANE / 2.0 + 4.0
            )?;
        }
        y += LANE + GAP;
    }

    let mut grid = String::new();
    time.draw(&mut grid, 4.0, plot_bottom)?;
    let height = plot_bottom + 22.0;
    writeln!(
        out,
        r#"<svg class="chart" id="bands" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="phases, fault windows and breaker states">
{grid}{body}</svg>"#
    )
}

/// Coloured rectangles for `segs` in a lane at `y`.
fn state_rects(out: &mut String, segs: &Segments, time: &TimeAxis, y: f64, h: f64) -> fmt::Result {
    for &(from, until, state) in segs {
        let (x0, x1) = (time.x(from), time.x(until));
        writeln!(
            out,
            r#"<rect class="{}" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}"><title>{}: {from:.2}s – {until:.2}s</title></rect>"#,
            state_class(state),
            // A short half-open (a single probe) still shows.
            (x1 - x0).max(2.0),
            state.as_str(),
        )?;
    }
    Ok(())
}

/// What every traffic chart carries beneath its lines: fault windows shaded over the plot
/// (`top..bottom`), and the best-estimate breaker state as a strip just above it.
pub fn overlay(
    out: &mut String,
    result: &RunResult,
    time: &TimeAxis,
    top: f64,
    bottom: f64,
) -> fmt::Result {
    for (from, until, label) in fault_windows(result, time) {
        let (x0, x1) = (time.x(from), time.x(until));
        writeln!(
            out,
            r#"<rect class="fault-shade" x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{:.1}"><title>fault: {}</title></rect>"#,
            (x1 - x0).max(1.0),
            bottom - top,
            escape(&label)
        )?;
    }
    state_rects(out, &best_segments(result, time), time, top - 6.0, 4.0)
}

/// `text` cut to fit `width` px (about 6.5 px a character), `…` when cut; empty when not
/// even a few characters fit.
fn fit(text: &str, width: f64) -> String {
    let room = ((width - 6.0) / 6.5).floor().max(0.0) as usize;
    let count = text.chars().count();
    if count <= room {
        text.to_string()
    } else if room < 3 {
        String::new()
    } else {
        text.chars().take(room - 1).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_run_from_each_transition_to_the_next() {
        let s = |ms| Duration::from_millis(ms);
        let segs = segments(
            &[(s(0), BreakerState::Closed), (s(2500), BreakerState::Open)],
            10.0,
        );
        assert_eq!(
            segs,
            vec![
                (0.0, 2.5, BreakerState::Closed),
                (2.5, 10.0, BreakerState::Open)
            ]
        );
        assert!(segments(&[], 10.0).is_empty());
    }

    #[test]
    fn labels_are_cut_to_their_band() {
        assert_eq!(fit("baseline", 200.0), "baseline");
        assert_eq!(fit("induce_failures", 60.0), "induce_…");
        assert_eq!(fit("induce_failures", 10.0), "");
    }
}
