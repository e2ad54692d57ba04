//! `breakerbox plan DRILL`: a dry run. Loads and plans the drill as `run` would, sends
//! nothing, and prints the phases with their expected requests, the traffic shape as a text
//! chart, the fault windows, the expectations and the resource budget.

use super::out::{out, outln};
use super::plural;
use breakerbox::budget::{self, Bytes};
use breakerbox::config::{self, guard::Permission, Expectations, LatencyStat, Metric};
use breakerbox::forecast::{self, Forecast};
use breakerbox::plan::{Overrides, Plan, Target};
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Columns of the traffic chart (its labels take 12 more: within 100).
const CHART_COLUMNS: usize = 80;
/// Rows of the traffic chart.
const CHART_ROWS: usize = 8;
/// Eighths of a cell, from empty to full.
const BLOCKS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Flags of `breakerbox plan`.
#[derive(Args)]
pub struct PlanArgs {
    /// The drill (TOML).
    drill: PathBuf,
    /// Seed for every random choice (overrides the drill's).
    #[arg(long, env = "BREAKERBOX_SEED")]
    seed: Option<u64>,
    /// Base URL of the service under test (overrides the drill's `target`).
    #[arg(long, env = "BREAKERBOX_TARGET", hide_env_values = true)]
    target: Option<String>,
    /// Latency assumed per request to estimate closed-model (VU) phases, whose pace
    /// depends on the target.
    #[arg(long, env = "BREAKERBOX_ASSUME_LATENCY", default_value = "50ms", value_parser = config::parse_duration)]
    assume_latency: Duration,
    /// Print one JSON object instead of the text.
    #[arg(long, env = "BREAKERBOX_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    json: bool,
}

/// Prints the plan of `args.drill`: exit 0, or 2 for a bad drill.
pub fn run(args: PlanArgs) -> ExitCode {
    let drill = match config::load_drill(&args.drill) {
        Ok(d) => d,
        Err(e) => {
            super::diagnostics::print(&e);
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    let no_target = args.target.is_none() && drill.target.is_none() && drill.parts.demo.is_none();
    let overrides = Overrides {
        // Nothing is sent, so no guard rail applies; `run` still checks the target.
        permission: Permission {
            remote: true,
            production: true,
        },
        target: args
            .target
            .clone()
            .or_else(|| no_target.then(|| "http://127.0.0.1:1".to_string())),
        seed: args.seed,
        ..Overrides::default()
    };
    let plan = match Plan::new(drill, &overrides) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(crate::EXIT_USAGE);
        }
    };
    let forecast = forecast::forecast(&plan, args.assume_latency);
    let estimate = budget::estimate(&plan);
    if args.json {
        let json = serde_json::json!({
            "drill": plan.drill.name,
            "file": plan.drill.source,
            "seed": plan.seed,
            "target": target_text(&plan, no_target),
            "forecast": forecast,
            "faults": plan.faults.iter().map(|f| serde_json::json!({
                "phase": plan.phases[f.phase].name,
                "profile": f.profile,
                "kind": f.fault.kind_name(),
                "probability": f.fault.probability,
                "from_s": f.from.as_secs_f64(),
                "until_s": f.until.as_secs_f64(),
            })).collect::<Vec<_>>(),
            "expectations": expectations(&plan.drill.expect),
            "budget": { "memory_bytes": estimate.memory(), "descriptors": estimate.fds() },
        });
        outln!("{json}");
    } else {
        out!("{}", render(&plan, &forecast, &estimate, no_target));
    }
    ExitCode::SUCCESS
}

fn target_text(plan: &Plan, no_target: bool) -> String {
    match &plan.target {
        _ if no_target => "none yet (pass --target to run)".into(),
        Target::Url(u) => config::guard::mask_credentials(u),
        Target::Demo => "the built-in demo service".into(),
    }
}

/// The whole text report.
fn render(plan: &Plan, f: &Forecast, estimate: &budget::Estimate, no_target: bool) -> String {
    let mut s = String::new();
    let d = &plan.drill;
    let _ = writeln!(
        s,
        "plan of {} (\"{}\"), seed {}",
        d.source, d.name, plan.seed
    );
    let _ = writeln!(s, "target: {}", target_text(plan, no_target));
    let _ = writeln!(
        s,
        "{}, {}, about {} requests, peak {}/s, at most {} at once",
        plural(f.phases.len(), "phase"),
        span(f.duration_s),
        count(f.total_requests),
        rate(f.peak_rate),
        plural(f.peak_vus, "worker"),
    );
    let _ = writeln!(s, "\nphases");
    let _ = writeln!(
        s,
        "  {:<18} {:<22} {:>9} {:>9} {:>9} {:>13}",
        "name", "executor", "start", "end", "length", "requests"
    );
    let mut estimated = false;
    for p in &f.phases {
        estimated |= !p.exact;
        let _ = writeln!(
            s,
            "  {:<18} {:<22} {:>9} {:>9} {:>9} {:>13}",
            clip(&p.name, 18),
            p.executor,
            span(p.start_s),
            span(p.end_s),
            span(p.end_s - p.start_s),
            format!("{}{}", if p.exact { "" } else { "~" }, count(p.requests)),
        );
    }
    if estimated {
        let _ = writeln!(
            s,
            "  ~ estimated: virtual users at an assumed {} per request (--assume-latency)",
            span(f.assumed_latency_s)
        );
    }
    chart(&mut s, plan, f);
    let _ = writeln!(s, "\nuser types");
    for u in &f.users {
        let _ = writeln!(
            s,
            "  {:<24} weight {:<6} {:>13} requests",
            clip(&u.name, 24),
            u.weight,
            count(u.requests)
        );
    }
    if d.journey.users.iter().any(|u| !u.on_start.is_empty()) {
        let _ = writeln!(s, "  (plus each user's on_start requests, once per user)");
    }
    let _ = writeln!(s, "\nrequest groups");
    for r in &f.requests {
        let _ = writeln!(
            s,
            "  {:<24} {:>13} requests",
            clip(&r.name, 24),
            count(r.requests)
        );
    }
    let _ = writeln!(s, "\nfault windows");
    if plan.faults.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for w in &plan.faults {
        let _ = writeln!(
            s,
            "  {:<18} {:<18} {:<12} p={:<5} {:>9} – {}",
            clip(&plan.phases[w.phase].name, 18),
            clip(&w.profile, 18),
            w.fault.kind_name(),
            w.fault.probability,
            span(w.from.as_secs_f64()),
            span(w.until.as_secs_f64()),
        );
    }
    let _ = writeln!(s, "\nexpectations");
    let listed = expectations(&d.expect);
    if listed.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for e in listed {
        let _ = writeln!(s, "  - {}", clip(&e, 94));
    }
    let _ = writeln!(
        s,
        "\nbudget: about {} of memory and {} at the peak",
        Bytes(estimate.memory()),
        plural(estimate.fds() as usize, "file descriptor")
    );
    s
}

/// The request rate over the run, a row of block characters per eighth of the peak, with
/// the fault windows and the phase starts marked below.
fn chart(s: &mut String, plan: &Plan, f: &Forecast) {
    let _ = writeln!(s, "\nrequests per second over time");
    let columns = f.rate_by_column(CHART_COLUMNS);
    let top = columns.iter().copied().fold(0.0, f64::max);
    if top <= 0.0 || f.duration_s <= 0.0 {
        let _ = writeln!(s, "  (no load)");
        return;
    }
    let levels: Vec<usize> = columns
        .iter()
        .map(|v| ((v / top) * (CHART_ROWS * 8) as f64).round() as usize)
        .collect();
    for row in 0..CHART_ROWS {
        let floor = (CHART_ROWS - 1 - row) * 8;
        let label = match row {
            0 => format!("{}/s", rate(top)),
            r if r == CHART_ROWS - 1 => "0/s".into(),
            _ => String::new(),
        };
        let bar: String = levels
            .iter()
            .map(|l| BLOCKS[l.saturating_sub(floor).min(8)])
            .collect();
        let _ = writeln!(s, "{label:>9} ┤{bar}");
    }
    let _ = writeln!(s, "{:>9} └{}", "", "─".repeat(CHART_COLUMNS));
    let slot = f.duration_s / CHART_COLUMNS as f64;
    let mark_row = |pick: &dyn Fn(f64, f64) -> bool, mark: char| -> String {
        (0..CHART_COLUMNS)
            .map(|c| {
                let (a, b) = (c as f64 * slot, (c + 1) as f64 * slot);
                if pick(a, b) {
                    mark
                } else {
                    ' '
                }
            })
            .collect()
    };
    let phases = mark_row(
        &|a, b| {
            plan.phases
                .iter()
                .any(|p| (a..b).contains(&p.start.as_secs_f64()))
        },
        '|',
    );
    let _ = writeln!(s, "{:>9}  {}", "phases", phases.trim_end());
    if !plan.faults.is_empty() {
        let faults = mark_row(
            &|a, b| {
                plan.faults
                    .iter()
                    .any(|w| w.from.as_secs_f64() < b && w.until.as_secs_f64() > a)
            },
            '▀',
        );
        let _ = writeln!(s, "{:>9}  {}", "faults", faults.trim_end());
    }
    let (mid, end) = (span(f.duration_s / 2.0), span(f.duration_s));
    let half = CHART_COLUMNS / 2;
    let axis = format!(
        "0s{:>w1$}{:>w2$}",
        mid,
        end,
        w1 = half.saturating_sub(2) + mid.len() / 2,
        w2 = CHART_COLUMNS - half - mid.len() / 2 + 1
    );
    let _ = writeln!(s, "{:>9}  {axis}", "");
}

/// Each expectation in a line of words.
fn expectations(e: &Expectations) -> Vec<String> {
    let mut lines = Vec::new();
    for t in &e.thresholds {
        let mut scope = Vec::new();
        for (what, value) in [
            ("phase", &t.phase),
            ("request", &t.request),
            ("user", &t.user),
            ("tag", &t.tag),
        ] {
            if let Some(v) = value {
                scope.push(format!("{what} {v}"));
            }
        }
        let scope = if scope.is_empty() {
            "whole run".to_string()
        } else {
            scope.join(", ")
        };
        let (what, fail, target) = match t.metric {
            Metric::Latency(stat) => {
                let name = match stat {
                    LatencyStat::Quantile(q) => format!("p{}", q * 100.0),
                    LatencyStat::Max => "max".into(),
                    LatencyStat::Mean => "mean".into(),
                };
                (
                    format!("latency {name} at most"),
                    span(t.limits.fail),
                    t.limits.target.map(span),
                )
            }
            m => {
                let bound = if m.higher_is_worse() {
                    "at most"
                } else {
                    "at least"
                };
                let name = match m {
                    Metric::ErrorRate => "error rate",
                    Metric::MinCacheHitRate => "cache hit rate",
                    Metric::MinFallbackRate | Metric::MaxFallbackRate => "fallback rate",
                    Metric::MinCheckRate => "check pass rate",
                    Metric::Latency(_) => "latency",
                };
                let pct = |v: f64| format!("{}%", v * 100.0);
                (
                    format!("{name} {bound}"),
                    pct(t.limits.fail),
                    t.limits.target.map(pct),
                )
            }
        };
        let mut line = format!("{scope}: {what} {fail}");
        if let Some(target) = target {
            let _ = write!(line, " (warn past {target})");
        }
        if let Some(w) = t.window {
            let _ = write!(line, ", worst {} window", span(w.as_secs_f64()));
        }
        if t.abort.is_some() {
            line.push_str(", aborts the run");
        }
        lines.push(line);
    }
    if let Some(b) = &e.breaker {
        if !b.sequence.is_empty() {
            let states: Vec<&str> = b.sequence.iter().map(|s| s.as_str()).collect();
            let times = if b.repeat > 1 {
                format!(" ({} times)", b.repeat)
            } else {
                String::new()
            };
            lines.push(format!("breaker goes {}{times}", states.join(" → ")));
        }
        if let Some(r) = b.opens_after {
            let n = if r.min == r.max {
                format!("exactly {}", r.min)
            } else {
                format!("{}–{}", r.min, r.max)
            };
            lines.push(format!("breaker opens after {n} upstream failures"));
        }
        if let Some(d) = b.opens_within {
            lines.push(format!(
                "breaker opens within {} of the first failure",
                span(d.as_secs_f64())
            ));
        }
        if let Some(d) = b.half_open_after {
            lines.push(format!(
                "breaker half-opens {} after opening (± {})",
                span(d.as_secs_f64()),
                span(b.tolerance.as_secs_f64())
            ));
        }
        if let Some(d) = b.closes_within {
            lines.push(format!(
                "breaker closes within {} of the last fault",
                span(d.as_secs_f64())
            ));
        }
        if let Some(r) = b.rejects_while_open {
            lines.push(format!(
                "while open: at most {} per open period",
                plural(r.allowed_probes as usize, "upstream call")
            ));
        }
        if let Some(n) = b.max_half_open_probes {
            lines.push(format!(
                "at most {} per half-open period",
                plural(n as usize, "probe")
            ));
        }
        if b.fallback_while_open {
            lines.push("every response while open is a fallback or a cache hit".into());
        }
        if b.closed_at_end {
            lines.push("breaker closed at the end".into());
        }
    }
    lines
}

/// Seconds for people: `250ms`, `30s`, `2m30s`, `2h`.
fn span(seconds: f64) -> String {
    if seconds > 0.0 && seconds < 1.0 {
        return format!("{:.0}ms", seconds * 1000.0);
    }
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// A count with thousands separators: `1,234,567`.
fn count(n: f64) -> String {
    let digits = (n.round().max(0.0) as u64).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate: whole numbers from 10 up, one decimal below.
fn rate(r: f64) -> String {
    if r >= 10.0 {
        count(r)
    } else {
        format!("{r:.1}")
    }
}

/// `text` cut to `width` characters.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}
