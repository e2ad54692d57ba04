//! The traffic charts of the HTML report, all on the shared time axis: latency quantiles,
//! throughput with errors by kind, cache-hit and fallback rates, and the proxy's tap.

use super::bands::overlay;
use super::svg::{self, downsample, groups, line, Reduce, TimeAxis, ValueAxis, MAX_POINTS};
use crate::fault::TapBucket;
use crate::metrics::Second;
use crate::report::RunResult;
use std::fmt::{self, Write};

/// Height of a traffic chart, px.
const HEIGHT: f64 = 200.0;
/// Plot top (room for the breaker strip above it), px.
const TOP: f64 = 16.0;
/// Plot bottom (room for the tick labels below it), px.
const BOTTOM: f64 = 176.0;

/// A chart's `<svg>` around `body`, with the overlay and both axes.
/// What tells one chart from another: its element id, its accessible label, its unit.
struct Frame<'a> {
    id: &'a str,
    label: &'a str,
    unit: &'a str,
}

fn chart(
    out: &mut String,
    frame: Frame,
    result: &RunResult,
    time: &TimeAxis,
    axis: &ValueAxis,
    body: &str,
) -> fmt::Result {
    let Frame { id, label, unit } = frame;
    writeln!(
        out,
        r#"<svg class="chart" id="{id}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{HEIGHT}" viewBox="0 0 {w} {HEIGHT}" role="img" aria-label="{label}">"#,
        w = svg::WIDTH
    )?;
    overlay(out, result, time, TOP, BOTTOM)?;
    axis.draw(out, unit)?;
    time.draw(out, TOP, BOTTOM)?;
    out.push_str(body);
    writeln!(out, "</svg>")
}

/// One value per second of the series.
fn per_second(series: &[Second], f: impl Fn(&Second) -> Option<f64>) -> Vec<Option<f64>> {
    series.iter().map(f).collect()
}

/// The middle of second `i`.
fn second_mid(i: f64) -> f64 {
    i + 0.5
}

/// The largest value of some lines.
fn peak(lines: &[&[(f64, Option<f64>)]]) -> f64 {
    lines
        .iter()
        .flat_map(|l| l.iter().filter_map(|p| p.1))
        .fold(0.0, f64::max)
}

/// Latency p50, p95 and p99 per second (downsampled by taking each group's maximum).
pub fn latency(out: &mut String, result: &RunResult, time: &TimeAxis) -> fmt::Result {
    let s = &result.series;
    let p50 = downsample(&per_second(s, |r| r.p50_ms), second_mid, Reduce::Max);
    let p95 = downsample(&per_second(s, |r| r.p95_ms), second_mid, Reduce::Max);
    let p99 = downsample(&per_second(s, |r| r.p99_ms), second_mid, Reduce::Max);
    let axis = ValueAxis::new(peak(&[&p50, &p95, &p99]) * 1.05, TOP, BOTTOM);
    let mut body = String::new();
    line(&mut body, &p99, time, &axis, "l-p99")?;
    line(&mut body, &p95, time, &axis, "l-p95")?;
    line(&mut body, &p50, time, &axis, "l-p50")?;
    chart(
        out,
        Frame {
            id: "latency",
            label: "latency quantiles per second",
            unit: " ms",
        },
        result,
        time,
        &axis,
        &body,
    )
}

/// The error kinds, in stacking order: (CSS class, legend, count).
pub const ERROR_KINDS: [(&str, &str); 5] = [
    ("e-5xx", "5xx"),
    ("e-timeout", "timeout"),
    ("e-connect", "connect"),
    ("e-reset", "reset / closed"),
    ("e-other", "other"),
];

fn error_kinds(s: &Second) -> [u64; 5] {
    [
        s.errors_5xx,
        s.errors_timeout,
        s.errors_connect,
        s.errors_reset,
        s.errors_other,
    ]
}

/// Requests per second as a line over errors per second as bars stacked by kind.
pub fn throughput(out: &mut String, result: &RunResult, time: &TimeAxis) -> fmt::Result {
    let s = &result.series;
    let requests = downsample(
        &per_second(s, |r| Some(r.requests as f64)),
        second_mid,
        Reduce::Mean,
    );
    let axis = ValueAxis::new(peak(&[&requests]) * 1.05, TOP, BOTTOM);
    let mut body = String::new();
    for g in groups(s.len(), MAX_POINTS) {
        let n = g.len() as f64;
        let mut sums = [0.0f64; 5];
        for second in &s[g.clone()] {
            for (sum, count) in sums.iter_mut().zip(error_kinds(second)) {
                *sum += count as f64;
            }
        }
        let (x0, x1) = (time.x(g.start as f64), time.x(g.end as f64));
        let mut base = 0.0;
        for ((class, name), sum) in ERROR_KINDS.iter().zip(sums) {
            if sum <= 0.0 {
                continue;
            }
            let per_s = sum / n;
            let (y_top, y_base) = (axis.y(base + per_s), axis.y(base));
            writeln!(
                body,
                r#"<rect class="{class}" x="{x0:.1}" y="{y_top:.1}" width="{:.1}" height="{:.1}"><title>{name}: {} /s at {:.0}s</title></rect>"#,
                (x1 - x0).max(0.5),
                (y_base - y_top).max(0.5),
                svg::number((per_s * 10.0).round() / 10.0),
                g.start
            )?;
            base += per_s;
        }
    }
    line(&mut body, &requests, time, &axis, "l-req")?;
    chart(
        out,
        Frame {
            id: "throughput",
            label: "requests and errors per second",
            unit: "/s",
        },
        result,
        time,
        &axis,
        &body,
    )
}

/// Cache-hit, fallback and error rates per second, in percent of the second's requests.
pub fn rates(out: &mut String, result: &RunResult, time: &TimeAxis) -> fmt::Result {
    let s = &result.series;
    let pct = |f: fn(&Second) -> u64| {
        downsample(
            &per_second(s, |r| {
                (r.requests > 0).then(|| f(r) as f64 * 100.0 / r.requests as f64)
            }),
            second_mid,
            Reduce::Mean,
        )
    };
    let axis = ValueAxis::new(100.0, TOP, BOTTOM);
    let mut body = String::new();
    line(&mut body, &pct(|r| r.errors), time, &axis, "l-err")?;
    line(&mut body, &pct(|r| r.cache_hits), time, &axis, "l-cache")?;
    line(&mut body, &pct(|r| r.fallbacks), time, &axis, "l-fallback")?;
    chart(
        out,
        Frame {
            id: "rates",
            label: "cache-hit, fallback and error rates",
            unit: "%",
        },
        result,
        time,
        &axis,
        &body,
    )
}

/// Most seconds of tap charted (a day); beyond, the rest is left out.
const MAX_TAP_SECONDS: u64 = 86_400;

/// The proxy's view per second (its 100 ms buckets summed per second, like every other
/// chart): requests received, forwarded upstream, upstream failures (5xx and no answer) and
/// injected faults. Nothing drawn (returns `false`) without a tap.
pub fn tap(out: &mut String, result: &RunResult, time: &TimeAxis) -> Result<bool, fmt::Error> {
    if result.tap.is_empty() {
        return Ok(false);
    }
    let seconds = result
        .tap
        .iter()
        .map(|b| b.at_ms / 1000 + 1)
        .max()
        .unwrap_or(0)
        // The proxy ran to the end: seconds after its last bucket saw nothing.
        .max(time.span_s.ceil() as u64)
        .min(MAX_TAP_SECONDS) as usize;
    let rate = |f: fn(&TapBucket) -> u64| {
        // Empty seconds are zeros, not gaps: the proxy was there and saw nothing.
        let mut sums = vec![Some(0.0); seconds];
        for b in &result.tap {
            if let Some(Some(sum)) = sums.get_mut((b.at_ms / 1000) as usize) {
                *sum += f(b) as f64;
            }
        }
        downsample(&sums, second_mid, Reduce::Mean)
    };
    let received = rate(|b| b.received);
    let forwarded = rate(|b| b.forwarded);
    let failed = rate(|b| b.upstream_5xx + b.upstream_errors);
    let injected = rate(|b| b.injected.iter().sum());
    let axis = ValueAxis::new(
        peak(&[&received, &forwarded, &failed, &injected]) * 1.05,
        TOP,
        BOTTOM,
    );
    let mut body = String::new();
    line(&mut body, &received, time, &axis, "l-received")?;
    line(&mut body, &forwarded, time, &axis, "l-forwarded")?;
    line(&mut body, &failed, time, &axis, "l-upfail")?;
    line(&mut body, &injected, time, &axis, "l-injected")?;
    chart(
        out,
        Frame {
            id: "tap",
            label: "the proxy's upstream attempts and failures",
            unit: "/s",
        },
        result,
        time,
        &axis,
        &body,
    )?;
    Ok(true)
}
