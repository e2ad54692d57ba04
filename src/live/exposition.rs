//! A [`LiveBoard`] as Prometheus text (format 0.0.4) or OpenMetrics 1.0 text.
//!
//! The two differ where it matters to parsers: OpenMetrics names a counter family without
//! its `_total` suffix in `# TYPE`/`# HELP` and ends with `# EOF`; the Prometheus format
//! names the sample itself. Label values are escaped (`\\`, `\"`, `\n`) in both.

use super::LiveBoard;
use crate::breaker_state::BreakerState;
use crate::metrics::recent::ERROR_KINDS;
use std::fmt::Write;
use std::time::Duration;

/// The content type of [`Format::OpenMetrics`] output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of [`Format::Prometheus`] output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency histogram's buckets, seconds.
pub const LATENCY_BOUNDS_S: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Which text format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for (OpenMetrics only when it names it).
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The content type to answer with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Escapes a label value.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Writes metric families in one format.
struct Writer {
    format: Format,
    out: String,
}

impl Writer {
    /// Starts a family; `name` without `_total` for counters.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let named = match (self.format, kind) {
            (Format::Prometheus, "counter") => format!("{name}_total"),
            _ => name.to_string(),
        };
        let _ = writeln!(self.out, "# HELP {named} {help}");
        let _ = writeln!(self.out, "# TYPE {named} {kind}");
    }

    /// One sample; `labels` are (name, raw value) pairs.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

/// A sample value: integers without a fraction, `+Inf`/`NaN` spelled as both formats want.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Renders `board` in `format`.
pub fn render(board: &LiveBoard, format: Format) -> String {
    let mut w = Writer {
        format,
        out: String::new(),
    };
    let s = &board.snapshot;

    w.family(
        "breakerbox_requests",
        "counter",
        "Requests finished, by phase.",
    );
    for p in &board.phases {
        w.sample(
            "breakerbox_requests_total",
            &[("phase", &p.phase)],
            p.requests as f64,
        );
    }
    w.family(
        "breakerbox_errors",
        "counter",
        "Errors (5xx or no response), by phase and kind.",
    );
    for p in &board.phases {
        for (kind, n) in ERROR_KINDS.iter().zip(p.errors) {
            w.sample(
                "breakerbox_errors_total",
                &[("phase", &p.phase), ("kind", kind)],
                n as f64,
            );
        }
    }
    w.family(
        "breakerbox_fallbacks",
        "counter",
        "Responses marked as fallbacks, by phase.",
    );
    for p in &board.phases {
        w.sample(
            "breakerbox_fallbacks_total",
            &[("phase", &p.phase)],
            p.fallbacks as f64,
        );
    }
    w.family(
        "breakerbox_cache_hits",
        "counter",
        "Responses marked as cache hits, by phase.",
    );
    for p in &board.phases {
        w.sample(
            "breakerbox_cache_hits_total",
            &[("phase", &p.phase)],
            p.cache_hits as f64,
        );
    }

    w.family(
        "breakerbox_request_duration_seconds",
        "histogram",
        "Latency of the responses (coarse live buckets; the result holds the exact ones).",
    );
    let bounds: Vec<Duration> = LATENCY_BOUNDS_S
        .iter()
        .map(|&s| Duration::from_secs_f64(s))
        .collect();
    let cumulative = board.latency.cumulative(&bounds);
    for (bound, n) in LATENCY_BOUNDS_S.iter().zip(&cumulative) {
        w.sample(
            "breakerbox_request_duration_seconds_bucket",
            &[("le", &number(*bound))],
            *n as f64,
        );
    }
    let count = board.latency.total();
    w.sample(
        "breakerbox_request_duration_seconds_bucket",
        &[("le", "+Inf")],
        count as f64,
    );
    w.sample(
        "breakerbox_request_duration_seconds_count",
        &[],
        count as f64,
    );
    let sum: f64 = board
        .latency
        .counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let (low, high) = crate::metrics::recent::bucket_bounds(i);
            n as f64 * (low + high) as f64 / 2e6
        })
        .sum();
    w.sample("breakerbox_request_duration_seconds_sum", &[], sum);

    w.family(
        "breakerbox_recent_latency_seconds",
        "gauge",
        "Latency quantiles over the last few seconds.",
    );
    for (q, v) in ["0.5", "0.95", "0.99"].iter().zip(board.recent_quantiles) {
        if let Some(v) = v {
            w.sample(
                "breakerbox_recent_latency_seconds",
                &[("quantile", q)],
                v.as_secs_f64(),
            );
        }
    }
    w.family(
        "breakerbox_recent_requests_per_second",
        "gauge",
        "Requests per second over the last few seconds.",
    );
    w.sample("breakerbox_recent_requests_per_second", &[], s.rps);
    w.family(
        "breakerbox_in_flight",
        "gauge",
        "Requests sent and not yet answered.",
    );
    w.sample("breakerbox_in_flight", &[], s.in_flight as f64);

    w.family(
        "breakerbox_breaker_state",
        "gauge",
        "1 for the state each breaker channel reads now (all 0: nothing read yet).",
    );
    for (channel, state) in &s.breakers {
        for candidate in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ] {
            w.sample(
                "breakerbox_breaker_state",
                &[("channel", channel.as_str()), ("state", candidate.as_str())],
                f64::from(u8::from(*state == Some(candidate))),
            );
        }
    }
    w.family(
        "breakerbox_breaker_transitions",
        "counter",
        "Breaker transitions each channel has seen.",
    );
    for (channel, n) in &board.transitions {
        w.sample(
            "breakerbox_breaker_transitions_total",
            &[("channel", channel.as_str())],
            *n as f64,
        );
    }
    w.family(
        "breakerbox_fault_active",
        "gauge",
        "1 while a scheduled fault is on, by profile and kind.",
    );
    let mut faults: Vec<(&str, &str, bool)> = Vec::new();
    for f in &board.faults {
        match faults
            .iter_mut()
            .find(|(p, k, _)| *p == f.profile && *k == f.kind)
        {
            Some(entry) => entry.2 |= f.on,
            None => faults.push((&f.profile, f.kind, f.on)),
        }
    }
    for (profile, kind, on) in faults {
        w.sample(
            "breakerbox_fault_active",
            &[("profile", profile), ("kind", kind)],
            f64::from(u8::from(on)),
        );
    }

    w.family(
        "breakerbox_run_elapsed_seconds",
        "gauge",
        "Time since the run started.",
    );
    w.sample(
        "breakerbox_run_elapsed_seconds",
        &[],
        s.elapsed.as_secs_f64(),
    );
    w.family(
        "breakerbox_run_planned_seconds",
        "gauge",
        "Planned length of the run.",
    );
    w.sample("breakerbox_run_planned_seconds", &[], s.total.as_secs_f64());
    w.family(
        "breakerbox_phase_index",
        "gauge",
        "Index of the current phase (0-based).",
    );
    w.sample("breakerbox_phase_index", &[], s.phase_index as f64);
    w.family("breakerbox_phase", "gauge", "1 for the phase running now.");
    for (i, p) in board.phases.iter().enumerate() {
        w.sample(
            "breakerbox_phase",
            &[("phase", &p.phase)],
            f64::from(u8::from(i == s.phase_index && !board.finished)),
        );
    }
    w.family(
        "breakerbox_run_finished",
        "gauge",
        "1 once the run is over.",
    );
    w.sample(
        "breakerbox_run_finished",
        &[],
        f64::from(u8::from(board.finished)),
    );

    if format == Format::OpenMetrics {
        w.out.push_str("# EOF\n");
    }
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker_state::Channel;
    use crate::live::{FaultState, PhaseCounts};

    fn board() -> LiveBoard {
        let mut b = LiveBoard {
            phases: vec![PhaseCounts {
                phase: "we\"ird\\".into(),
                requests: 7,
                ..PhaseCounts::default()
            }],
            ..LiveBoard::default()
        };
        b.snapshot.breakers = vec![(Channel::Header, Some(BreakerState::Open))];
        b.faults = vec![FaultState {
            profile: "down".into(),
            kind: "error",
            on: true,
        }];
        b
    }

    #[test]
    fn openmetrics_names_families_without_total_and_ends_with_eof() {
        let text = render(&board(), Format::OpenMetrics);
        assert!(text.contains("# TYPE breakerbox_requests counter\n"));
        assert!(text.contains("breakerbox_requests_total{phase=\"we\\\"ird\\\\\"} 7\n"));
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains("breakerbox_breaker_state{channel=\"header\",state=\"open\"} 1\n"));
        assert!(text.contains("breakerbox_breaker_state{channel=\"header\",state=\"closed\"} 0\n"));
        assert!(text.contains("breakerbox_fault_active{profile=\"down\",kind=\"error\"} 1\n"));
    }

    #[test]
    fn prometheus_names_the_counter_sample_and_has_no_eof() {
        let text = render(&board(), Format::Prometheus);
        assert!(text.contains("# TYPE breakerbox_requests_total counter\n"));
        assert!(!text.contains("# EOF"));
        assert!(text.contains("breakerbox_request_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert_eq!(
            Format::from_accept(Some("application/openmetrics-text;version=1.0.0")),
            Format::OpenMetrics
        );
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Prometheus);
    }
}
