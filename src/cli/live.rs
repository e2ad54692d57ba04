//! What `breakerbox run` shows while the drill goes on: progress bars and status lines on a
//! terminal, one plain line every few seconds elsewhere (CI logs), periodic summaries for
//! soaks; and behind them the per-second NDJSON series and the `/metrics` board.
//!
//! Log lines go through [`LogWriter`], which suspends the bars while it writes, so the two
//! never tear each other.

use breakerbox::drill::{Progress, ProgressSnapshot, Sampler, SecondRow};
use breakerbox::live::series::SeriesLine;
use breakerbox::live::{LiveBoard, SeriesWriter};
use breakerbox::metrics::recent::SecondCounts;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long after a second ends before it is drained (requests finishing right at the
/// boundary are counted by then).
const SETTLE: Duration = Duration::from_millis(150);

/// The bars being drawn, if any: log lines suspend them.
static BARS: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Writes `text` (a whole line or more) to stderr without tearing the bars.
pub fn eprint_text(text: &str) {
    let bars = BARS.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let write = || {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    };
    match bars {
        Some(m) => m.suspend(write),
        None => write(),
    }
}

/// The log writer: stderr, with the bars suspended while an event is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bars = BARS.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match bars {
            Some(m) => m.suspend(|| std::io::stderr().lock().write_all(buf))?,
            None => std::io::stderr().lock().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

/// Whether log lines may carry colour: stderr is a terminal and `NO_COLOR` is not set.
pub fn log_colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Reads `--metrics-listen`: a port alone (loopback), `:PORT`, or `HOST:PORT` with an IP
/// or `localhost`.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let port_only = text.strip_prefix(':').unwrap_or(text);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        return port
            .parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
            .map_err(|_| format!("\"{text}\": the port is not a number from 0 to 65535"));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| format!("\"{text}\" is not PORT, HOST:PORT or [V6]:PORT with an IP address"))
}

/// What the live loop shows and writes.
#[derive(Debug)]
pub struct LiveOptions {
    /// Show nothing (the series and `/metrics` still run).
    pub quiet: bool,
    /// How often the plain line is printed when stderr is not a terminal.
    pub progress_every: Duration,
    /// How often a summary is printed, if at all.
    pub summary_every: Option<Duration>,
}

/// How the run ended, for the series' last line.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    /// How long it lasted.
    pub duration: Duration,
    /// Whether it was stopped before its planned end.
    pub stopped_early: bool,
}

/// Drains the run's seconds into `series` and `board` and shows them as `options` say,
/// until `ended` arrives; then writes the last seconds and the series' end line.
pub async fn run(
    progress: Progress,
    options: LiveOptions,
    mut series: Option<SeriesWriter>,
    board: Option<Arc<Mutex<LiveBoard>>>,
    ended: oneshot::Receiver<Ended>,
) {
    let tty = std::io::stderr().is_terminal();
    let mut view = match (options.quiet, tty) {
        (true, _) => View::Nothing,
        (false, true) => View::Bars(Bars::new(&progress)),
        (false, false) => View::Plain {
            every: options.progress_every.max(Duration::from_millis(100)),
            next: options.progress_every,
        },
    };
    let mut next_summary = options.summary_every.filter(|_| !options.quiet);
    let mut sampler = progress.sampler();
    let tick = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_millis(500)
    };
    tokio::pin!(ended);
    let ended = loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            e = &mut ended => break e.ok(),
        }
        if !progress.started() {
            continue;
        }
        let now = progress.elapsed();
        let rows = sampler.drain_until(now.saturating_sub(SETTLE));
        take_in(&mut sampler, &rows, &mut series, board.as_deref());
        view.show(&sampler.snapshot(), now);
        if let (Some(at), Some(every)) = (next_summary, options.summary_every) {
            if now >= at {
                eprint_text(&summary(&mut sampler, now, every));
                next_summary = Some(at + every);
            }
        }
    };
    let now = ended.map_or_else(|| progress.elapsed(), |e| e.duration);
    let rows = if progress.started() {
        sampler.finish(now)
    } else {
        Vec::new()
    };
    take_in(&mut sampler, &rows, &mut series, board.as_deref());
    if let Some(board) = &board {
        board
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .finished = true;
    }
    view.clear();
    if let Some(w) = &mut series {
        let end = SeriesLine::End {
            seconds: w.seconds(),
            duration_s: (now.as_secs_f64() * 1e3).round() / 1e3,
            stopped_early: ended.is_none_or(|e| e.stopped_early),
        };
        if let Err(e) = w.write(&end) {
            tracing::warn!(error = %e, "cannot finish the series file");
        }
    }
}

/// Writes `rows` to the series (a failed write is logged once and the series dropped) and
/// updates the board.
fn take_in(
    sampler: &mut Sampler,
    rows: &[SecondRow],
    series: &mut Option<SeriesWriter>,
    board: Option<&Mutex<LiveBoard>>,
) {
    if let Some(w) = series {
        for row in rows {
            if let Err(e) = w.write(&SeriesLine::Second(row)) {
                tracing::warn!(error = %e, "the series file is not written any further");
                *series = None;
                break;
            }
        }
    }
    if let Some(board) = board {
        board
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .update(sampler, rows);
    }
}

/// How the run is shown.
enum View {
    /// `--quiet`.
    Nothing,
    /// Not a terminal: a line every `every`.
    Plain { every: Duration, next: Duration },
    /// A terminal.
    Bars(Bars),
}

impl View {
    fn show(&mut self, s: &ProgressSnapshot, now: Duration) {
        match self {
            View::Nothing => {}
            View::Plain { every, next } => {
                if now >= *next {
                    eprint_text(&format!("{}\n", plain_line(s)));
                    while *next <= now {
                        *next += *every;
                    }
                }
            }
            View::Bars(bars) => bars.show(s),
        }
    }

    fn clear(&mut self) {
        if let View::Bars(bars) = self {
            bars.clear();
        }
    }
}

/// Bars for the run and the phase, and two status lines.
struct Bars {
    multi: MultiProgress,
    run: ProgressBar,
    phase: ProgressBar,
    traffic: ProgressBar,
    breaker: ProgressBar,
}

impl Bars {
    fn new(progress: &Progress) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let bar_style = ProgressStyle::with_template("{prefix:>12} [{bar:32}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let line_style =
            ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
        let total_ms = progress.total().as_millis() as u64;
        let run = multi.add(ProgressBar::new(total_ms.max(1)).with_style(bar_style.clone()));
        run.set_prefix("run");
        let phase = multi.add(ProgressBar::new(1).with_style(bar_style));
        let traffic = multi.add(ProgressBar::new(1).with_style(line_style.clone()));
        let breaker = multi.add(ProgressBar::new(1).with_style(line_style));
        *BARS.lock().unwrap_or_else(PoisonError::into_inner) = Some(multi.clone());
        Bars {
            multi,
            run,
            phase,
            traffic,
            breaker,
        }
    }

    fn show(&self, s: &ProgressSnapshot) {
        self.run.set_position(s.elapsed.as_millis() as u64);
        self.run.set_message(format!(
            "{} / {}, {} left",
            secs(s.elapsed),
            secs(s.total),
            secs(s.remaining())
        ));
        self.phase
            .set_length(s.phase_duration.as_millis().max(1) as u64);
        self.phase
            .set_position(s.phase_elapsed.min(s.phase_duration).as_millis() as u64);
        self.phase
            .set_prefix(format!("phase {}/{}", s.phase_index + 1, s.phase_count));
        self.phase.set_message(format!(
            "{}  {} / {}, {} left",
            s.phase,
            secs(s.phase_elapsed.min(s.phase_duration)),
            secs(s.phase_duration),
            secs(s.phase_remaining())
        ));
        self.traffic.set_message(format!("  {}", traffic(s)));
        self.breaker
            .set_message(format!("  {}  |  {}", breakers(s), faults(s)));
    }

    fn clear(&self) {
        for bar in [&self.run, &self.phase, &self.traffic, &self.breaker] {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
        *BARS.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Seconds, rounded: `42s`, or `12m05s` past a minute.
fn secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.0}s", d.as_secs_f64().floor())
    }
}

fn millis(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.1}ms", d.as_secs_f64() * 1e3))
}

/// Requests/s, p95, errors (by kind), fallbacks, cache hits, in flight.
fn traffic(s: &ProgressSnapshot) -> String {
    let kinds = if s.errors_by_kind.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = s
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        format!(" ({})", list.join(", "))
    };
    format!(
        "{:.0} req/s  p95 {}  {} requests  {} errors{kinds}  {} fallbacks  {} cache hits  {} in flight",
        s.rps,
        millis(s.p95),
        s.requests,
        s.errors,
        s.fallbacks,
        s.cache_hits,
        s.in_flight
    )
}

/// `breaker OPEN (header=open, endpoint=open)`; `breaker -` when no channel reads live.
fn breakers(s: &ProgressSnapshot) -> String {
    if s.breakers.is_empty() {
        return "breaker -".into();
    }
    let channels: Vec<String> = s
        .breakers
        .iter()
        .map(|(c, st)| format!("{c}={}", st.map_or("?", |st| st.as_str())))
        .collect();
    let headline = s
        .breaker
        .map_or("?".to_string(), |b| b.as_str().to_uppercase());
    format!("breaker {headline} ({})", channels.join(", "))
}

fn faults(s: &ProgressSnapshot) -> String {
    if s.faults.is_empty() {
        return "no fault on".into();
    }
    let list: Vec<String> = s
        .faults
        .iter()
        .map(|f| format!("{}/{}", f.profile, f.kind))
        .collect();
    format!("faults on: {}", list.join(", "))
}

/// The line printed every few seconds when stderr is not a terminal.
pub fn plain_line(s: &ProgressSnapshot) -> String {
    format!(
        "[phase {}/{} {}] {}/{} ({} left) | {} | {} | {}",
        s.phase_index + 1,
        s.phase_count,
        s.phase,
        secs(s.elapsed),
        secs(s.total),
        secs(s.remaining()),
        traffic(s),
        breakers(s),
        faults(s)
    )
}

fn counts_line(c: &SecondCounts, seconds: u64) -> String {
    let rate = |n: u64| n as f64 / seconds.max(1) as f64;
    let share = |n: u64| {
        if c.requests == 0 {
            0.0
        } else {
            n as f64 * 100.0 / c.requests as f64
        }
    };
    format!(
        "{} requests ({:.1}/s), {} errors ({:.2}%), {} fallbacks, {} cache hits; p50 {} p95 {} p99 {}",
        c.requests,
        rate(c.requests),
        c.error_total(),
        share(c.error_total()),
        c.fallbacks,
        c.cache_hits,
        millis(c.latency.quantile(0.5)),
        millis(c.latency.quantile(0.95)),
        millis(c.latency.quantile(0.99)),
    )
}

/// The periodic summary: since the start, over the last interval, breaker transitions.
fn summary(sampler: &mut Sampler, now: Duration, every: Duration) -> String {
    let s = sampler.snapshot();
    let (interval, seconds) = sampler.take_interval();
    let all = sampler.since_start();
    let transitions: Vec<String> = sampler
        .transitions()
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    format!(
        "-- summary at {} (phase {}/{} {}) --\n  since start: {}\n  last {}: {}\n  {}; transitions: {}\n",
        secs(now),
        s.phase_index + 1,
        s.phase_count,
        s.phase,
        counts_line(all, sampler.seconds()),
        secs(every),
        counts_line(&interval, seconds),
        breakers(&s),
        if transitions.is_empty() {
            "-".into()
        } else {
            transitions.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakerbox::breaker_state::{BreakerState, Channel};
    use breakerbox::drill::ActiveFault;

    #[test]
    fn the_plain_line_shows_an_open_breaker_and_its_fallbacks() {
        let s = ProgressSnapshot {
            elapsed: Duration::from_secs(12),
            total: Duration::from_secs(60),
            phase_index: 1,
            phase_count: 3,
            phase: "fault".into(),
            requests: 500,
            fallbacks: 120,
            breakers: vec![(Channel::Header, Some(BreakerState::Open))],
            breaker: Some(BreakerState::Open),
            faults: vec![ActiveFault {
                profile: "down".into(),
                kind: "error",
            }],
            ..ProgressSnapshot::default()
        };
        let line = plain_line(&s);
        assert!(
            line.starts_with("[phase 2/3 fault] 12s/1m00s (48s left)"),
            "{line}"
        );
        assert!(line.contains("breaker OPEN (header=open)"), "{line}");
        assert!(line.contains("120 fallbacks"), "{line}");
        assert!(line.contains("faults on: down/error"), "{line}");
    }

    #[test]
    fn listen_addresses_default_to_loopback() {
        assert_eq!(parse_listen("9464"), Ok("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(parse_listen(":9464"), Ok("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(
            parse_listen("localhost:1"),
            Ok("127.0.0.1:1".parse().unwrap())
        );
        assert_eq!(parse_listen("0.0.0.0:9"), Ok("0.0.0.0:9".parse().unwrap()));
        assert!(parse_listen("example.com:9").is_err());
    }
}
