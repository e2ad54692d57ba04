//! The HTML report: one self-contained file rendered from a [`RunResult`].
//!
//! Inline CSS and SVG drawn here, no script and nothing fetched, so the file opens anywhere,
//! offline, and can be attached to a ticket. Top to bottom: the outcome and the verdicts,
//! headline numbers, then every chart on one shared time axis (phases, fault windows and the
//! breaker state per channel as bands; latency quantiles; throughput and errors by kind;
//! cache-hit and fallback rates; the proxy's tap), the per-phase table, the channels, and
//! the drill, seed and target at the bottom. Lines longer than 1,000 points
//! are downsampled (see docs/html-report.md).

mod bands;
mod charts;
mod svg;

use crate::breaker_state::BreakerState;
use crate::report::{GroupSummary, RunResult};
use crate::verdict::{Outcome, Status};
use std::fmt::{self, Write};

/// The stylesheet, inlined into every report.
const STYLE: &str = include_str!("html/style.css");

/// Renders `result` as one HTML document.
pub fn render(result: &RunResult) -> String {
    let mut out = String::with_capacity(64 * 1024);
    // Writing into a String cannot fail; an error here would only truncate the page.
    let _ = page(&mut out, result);
    out
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, safe in element text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(out: &mut String, r: &RunResult) -> fmt::Result {
    let (badge, badge_class) = match r.outcome {
        Outcome::Passed => ("PASS", "pass"),
        Outcome::Failed => ("FAIL", "fail"),
        Outcome::Aborted => ("ABORTED", "aborted"),
        Outcome::Invalid => ("INVALID", "invalid"),
        Outcome::Unjudged => ("NOT JUDGED", "unjudged"),
    };
    writeln!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="breakerbox {version}">
<title>{badge} · {drill} · breakerbox</title>
<style>
{STYLE}</style>
</head>
<body>
<header>
<h1><span class="badge {badge_class}" id="outcome">{badge}</span> {drill}</h1>
<p class="sub">{target} · started {started} · ran {ran} of {planned}</p>"#,
        version = escape(&r.breakerbox),
        drill = escape(&r.drill),
        target = escape(&r.target),
        started = escape(&r.started_at),
        ran = seconds(r.duration_s),
        planned = seconds(r.planned_duration_s),
    )?;
    if let Some(reason) = &r.abort_reason {
        writeln!(
            out,
            r#"<p class="abort">Stopped early: {}</p>"#,
            escape(reason)
        )?;
    }
    writeln!(out, "</header>")?;
    verdicts(out, r)?;
    tiles(out, &r.total, r.duration_s)?;
    timeline(out, r)?;
    phases(out, r)?;
    channels(out, r)?;
    footer(out, r)?;
    writeln!(out, "</body>\n</html>")
}

fn verdicts(out: &mut String, r: &RunResult) -> fmt::Result {
    writeln!(
        out,
        r#"<section><h2>Verdicts</h2>
<table id="verdicts"><thead><tr><th>criterion</th><th>expected</th><th>measured</th><th>status</th></tr></thead><tbody>"#
    )?;
    if r.verdicts.is_empty() {
        writeln!(
            out,
            r#"<tr><td colspan="4" class="none">no expectations were judged</td></tr>"#
        )?;
    }
    for v in &r.verdicts {
        let (label, class) = match v.status {
            Status::Pass => ("pass", "pass"),
            Status::Warn => ("warn", "warn"),
            Status::Fail => ("fail", "fail"),
            Status::Invalid => ("invalid", "invalid"),
            Status::NotRun => ("not run", "not-run"),
        };
        write!(
            out,
            r#"<tr class="v-{class}"><td>{}</td><td>{}</td><td>{}"#,
            escape(&v.criterion),
            escape(&v.expected),
            escape(&v.measured)
        )?;
        if !v.evidence.is_empty() {
            write!(out, r#"<ul class="evidence">"#)?;
            for e in &v.evidence {
                write!(out, "<li>{}</li>", escape(e))?;
            }
            write!(out, "</ul>")?;
        }
        writeln!(
            out,
            r#"</td><td><span class="status {class}">{label}</span></td></tr>"#
        )?;
    }
    writeln!(out, "</tbody></table></section>")
}

/// The headline numbers, as k6's end-of-test summary gives them.
fn tiles(out: &mut String, total: &GroupSummary, duration_s: f64) -> fmt::Result {
    let rps = if duration_s > 0.0 {
        total.requests as f64 / duration_s
    } else {
        0.0
    };
    let tiles = [
        ("requests", total.requests.to_string()),
        ("throughput", format!("{rps:.1}/s")),
        ("error rate", percent(total.error_rate)),
        ("p50", ms(total.latency_ms.p50)),
        ("p95", ms(total.latency_ms.p95)),
        ("p99", ms(total.latency_ms.p99)),
        ("cache hits", percent(total.cache_hit_rate)),
        ("fallbacks", percent(total.fallback_rate)),
    ];
    writeln!(out, r#"<section class="tiles">"#)?;
    for (name, value) in tiles {
        writeln!(
            out,
            r#"<div class="tile"><div class="v">{}</div><div class="k">{name}</div></div>"#,
            escape(&value)
        )?;
    }
    writeln!(out, "</section>")
}

fn swatch(out: &mut String, class: &str, label: &str) -> fmt::Result {
    write!(
        out,
        r#"<span class="key"><span class="sw {class}"></span>{}</span>"#,
        escape(label)
    )
}

fn timeline(out: &mut String, r: &RunResult) -> fmt::Result {
    let span = [
        r.duration_s,
        r.series.len() as f64,
        r.phases
            .iter()
            .map(|p| p.start_s + p.duration_s)
            .fold(0.0, f64::max),
    ]
    .into_iter()
    .filter(|s| s.is_finite())
    .fold(0.0, f64::max);
    let time = svg::TimeAxis::new(span);
    writeln!(
        out,
        r#"<section><h2>Timeline</h2>
<p class="note">Every chart below shares one time axis (seconds from the start of the load). Fault windows are shaded on each chart, and the thin strip along each chart's top edge is the breaker's best-estimate state.</p>
<h3>Phases, fault windows and the breaker</h3><div class="legend">"#
    )?;
    swatch(out, "ph0", "phase")?;
    swatch(out, "fault-win", "fault window")?;
    for s in [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
    ] {
        swatch(out, bands::state_class(s), s.as_str())?;
    }
    swatch(out, "lane-bg", "not observed")?;
    writeln!(out, "</div>")?;
    bands::draw(out, r, &time)?;

    writeln!(out, r#"<h3>Latency per second</h3><div class="legend">"#)?;
    swatch(out, "l-p50", "p50")?;
    swatch(out, "l-p95", "p95")?;
    swatch(out, "l-p99", "p99")?;
    writeln!(out, "</div>")?;
    charts::latency(out, r, &time)?;

    writeln!(
        out,
        r#"<h3>Throughput and errors by kind</h3><div class="legend">"#
    )?;
    swatch(out, "l-req", "requests/s")?;
    for (class, name) in charts::ERROR_KINDS {
        swatch(out, class, &format!("errors: {name}"))?;
    }
    writeln!(out, "</div>")?;
    charts::throughput(out, r, &time)?;

    writeln!(
        out,
        r#"<h3>Cache hits, fallbacks and errors</h3><div class="legend">"#
    )?;
    swatch(out, "l-cache", "cache-hit rate")?;
    swatch(out, "l-fallback", "fallback rate")?;
    swatch(out, "l-err", "error rate")?;
    writeln!(out, "</div>")?;
    charts::rates(out, r, &time)?;

    let mut tap = String::new();
    if charts::tap(&mut tap, r, &time)? {
        writeln!(
            out,
            r#"<h3>The proxy's tap: upstream attempts and failures</h3><div class="legend">"#
        )?;
        swatch(out, "l-received", "received")?;
        swatch(out, "l-forwarded", "forwarded upstream")?;
        swatch(out, "l-upfail", "upstream failures (5xx, no answer)")?;
        swatch(out, "l-injected", "faults injected")?;
        writeln!(out, "</div>")?;
        out.push_str(&tap);
    } else {
        writeln!(
            out,
            r#"<p class="note">No fault proxy ran, so there is no tap to chart.</p>"#
        )?;
    }
    writeln!(out, "</section>")
}

fn phases(out: &mut String, r: &RunResult) -> fmt::Result {
    writeln!(
        out,
        r#"<section><h2>Phases</h2>
<table id="phases" class="num"><thead><tr><th>phase</th><th>executor</th><th>start</th><th>duration</th><th>requests</th><th>rps</th><th>p50</th><th>p95</th><th>p99</th><th>errors</th><th>cache hits</th><th>fallbacks</th><th>faults</th></tr></thead><tbody>"#
    )?;
    if r.phases.is_empty() {
        writeln!(
            out,
            r#"<tr><td colspan="13" class="none">no phase ran</td></tr>"#
        )?;
    }
    for p in &r.phases {
        let a = &p.all;
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.name),
            escape(&p.executor),
            seconds(p.start_s),
            seconds(p.duration_s),
            a.requests,
            p.rps,
            ms(a.latency_ms.p50),
            ms(a.latency_ms.p95),
            ms(a.latency_ms.p99),
            a.errors,
            percent(a.error_rate),
            percent(a.cache_hit_rate),
            percent(a.fallback_rate),
            escape(&p.fault_profiles.join(", ")),
        )?;
    }
    writeln!(out, "</tbody></table>")?;
    let errors: Vec<(String, u64)> = r
        .total
        .statuses
        .iter()
        .filter(|(s, _)| **s >= 500)
        .map(|(s, n)| (format!("status {s}"), *n))
        .chain(r.total.failures.iter().map(|(k, n)| (k.clone(), *n)))
        .collect();
    if !errors.is_empty() {
        write!(out, r#"<p class="errors"><b>Errors by kind:</b> "#)?;
        for (i, (kind, n)) in errors.iter().enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            write!(out, "{sep}{} × {n}", escape(kind))?;
        }
        writeln!(out, "</p>")?;
    }
    writeln!(out, "</section>")
}

fn channels(out: &mut String, r: &RunResult) -> fmt::Result {
    let o = &r.observations;
    if o.channels.is_empty() {
        return writeln!(
            out,
            r#"<section><h2>Breaker channels</h2><p class="note">No channel observed the breaker.</p></section>"#
        );
    }
    writeln!(
        out,
        r#"<section><h2>Breaker channels</h2>
<table id="channels"><thead><tr><th>channel</th><th>resolution</th><th>states seen</th><th>sightings</th><th>warnings</th></tr></thead><tbody>"#
    )?;
    for c in &o.channels {
        let states: Vec<String> = c
            .transitions
            .iter()
            .map(|t| format!("{} at {:.2}s", t.to.as_str(), t.at.as_secs_f64()))
            .collect();
        writeln!(
            out,
            "<tr><td>{}</td><td>±{} ms</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            c.channel,
            c.resolution.as_millis(),
            escape(&states.join(" → ")),
            c.sightings,
            escape(&c.warnings.join("; ")),
        )?;
    }
    writeln!(out, "</tbody></table>")?;
    for d in &o.disagreements {
        writeln!(
            out,
            r#"<p class="warnline">{} said {} while {} said {}, {:.2}s – {:.2}s</p>"#,
            d.channel,
            d.said.as_str(),
            d.other,
            d.other_said.as_str(),
            d.from.as_secs_f64(),
            d.until.as_secs_f64()
        )?;
    }
    writeln!(out, "</section>")
}

fn footer(out: &mut String, r: &RunResult) -> fmt::Result {
    let rows = [
        ("drill", r.drill.clone()),
        ("drill file", r.drill_file.clone()),
        ("seed", r.seed.to_string()),
        ("target", r.target.clone()),
        ("breakerbox", r.breakerbox.clone()),
        ("started at", r.started_at.clone()),
        (
            "duration",
            format!(
                "{} (planned {})",
                seconds(r.duration_s),
                seconds(r.planned_duration_s)
            ),
        ),
    ];
    writeln!(out, r#"<footer><dl id="run-facts">"#)?;
    for (k, v) in rows {
        writeln!(out, "<dt>{k}</dt><dd>{}</dd>", escape(&v))?;
    }
    writeln!(
        out,
        r#"</dl><p class="note">Rendered by breakerbox from the run's result; rerun with the same drill and seed to repeat it. Lines longer than {} points are downsampled: counts and rates are averaged per group, latency quantiles take the group's maximum.</p></footer>"#,
        svg::MAX_POINTS
    )
}

fn seconds(s: f64) -> String {
    if s.is_finite() {
        format!("{s:.1}s")
    } else {
        "–".into()
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::NotStarted;

    fn not_started(name: &str) -> RunResult {
        RunResult::not_started(NotStarted {
            drill: name.into(),
            drill_file: "drills/x.toml".into(),
            description: String::new(),
            seed: 7,
            target: "http://127.0.0.1:1/?a=<b>&c=\"d\"".into(),
            planned_duration_s: 0.0,
            outcome: Outcome::Invalid,
            reason: "target unreachable: <connect refused>".into(),
        })
    }

    #[test]
    fn user_text_is_escaped_everywhere() {
        let html = render(&not_started("<script>alert('x')</script>"));
        assert!(!html.contains("<script"), "no script tag survives");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("&lt;connect refused&gt;"));
        assert!(html.contains("?a=&lt;b&gt;&amp;c=&quot;d&quot;"));
        assert_eq!(escape("a&b<c>\"'"), "a&amp;b&lt;c&gt;&quot;&#39;");
    }

    #[test]
    fn a_result_without_load_renders_a_whole_page() {
        let html = render(&not_started("never-started"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(html.contains(r#"<span class="badge invalid" id="outcome">INVALID</span>"#));
        assert!(html.contains("the drill started its load"), "its verdict");
        assert!(html.contains("no phase ran"));
        assert!(html.contains("no state observed"));
        assert!(html.contains("No fault proxy ran"));
        assert!(html.contains(r#"id="bands""#) && html.contains(r#"id="latency""#));
        assert!(
            !html.contains("NaN") && !html.contains("=\"inf"),
            "no division by zero"
        );
        assert!(!html.contains("https://"), "nothing fetched from anywhere");
        assert!(!html.contains("<script") && !html.contains("<link"));
    }

    #[test]
    fn a_two_hour_run_stays_small() {
        use crate::metrics::Second;
        let mut r = not_started("soak");
        r.outcome = Outcome::Passed;
        r.duration_s = 7200.0;
        r.series = (0..7200)
            .map(|i| Second {
                requests: 100,
                errors: (i % 97 == 0) as u64,
                errors_5xx: (i % 97 == 0) as u64,
                cache_hits: 30,
                p50_ms: Some(2.0),
                p95_ms: Some(8.0),
                p99_ms: Some(if i == 4000 { 900.0 } else { 20.0 }),
                ..Second::default()
            })
            .collect();
        r.tap = (0..72_000u64)
            .map(|i| crate::fault::TapBucket {
                at_ms: i * 100,
                received: 10,
                forwarded: 10,
                ..Default::default()
            })
            .collect();
        let html = render(&r);
        assert!(html.len() < 1_000_000, "{} bytes", html.len());
        let longest = html
            .split(" d=\"")
            .skip(1)
            .map(|path| path.split('"').next().unwrap_or("").matches('L').count())
            .max()
            .unwrap_or(0);
        assert!(
            (500..svg::MAX_POINTS).contains(&longest),
            "{longest} segments"
        );
        assert!(html.contains("PASS"));
        assert!(html.contains(r#"id="tap""#));
        assert!(html.contains("1:00:00"), "long runs label h:mm:ss");
    }
}
