//! `breakerbox load URL`: quick mode's flags, turned into [`QuickOptions`] and run.

use super::out::{out, outln};
use breakerbox::drill::Stop;
use breakerbox::quick::{self, Model, QuickOptions};
use bytes::Bytes;
use clap::Args;
use http::{HeaderMap, Method};
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `breakerbox load`.
#[derive(Args)]
pub struct LoadArgs {
    /// The URL to load, e.g. http://127.0.0.1:8080/api/item/{{random_int 1 100}}; no
    /// scheme means http:// (localhost:8080/api).
    #[arg(value_parser = |url: &str| Ok::<_, String>(breakerbox::config::address::with_scheme(url)))]
    url: String,
    /// Connections, each sending its next request as soon as the last is answered (closed
    /// model, like wrk and oha). The default when neither --rate nor --vus is given: 50.
    #[arg(short = 'c', long, env = "BREAKERBOX_CONNECTIONS", conflicts_with_all = ["rate", "vus"])]
    connections: Option<usize>,
    /// Requests started per second whatever the latency (open model); latency counts from
    /// each request's intended start.
    #[arg(long, env = "BREAKERBOX_RATE", value_parser = quick::parse_rate, conflicts_with = "vus")]
    rate: Option<f64>,
    /// With --rate: most requests in flight (one connection each); a request due when all
    /// are busy is counted as dropped. Default: one second's worth, 100 to 10,000.
    #[arg(long, env = "BREAKERBOX_MAX_IN_FLIGHT", requires = "rate")]
    max_in_flight: Option<usize>,
    /// Virtual users pausing --think between requests (closed model).
    #[arg(long, env = "BREAKERBOX_VUS", requires = "think")]
    vus: Option<usize>,
    /// With --vus: the pause after each response, MIN-MAX (uniform, e.g. 1s-5s) or one
    /// duration (e.g. 2s).
    #[arg(long, env = "BREAKERBOX_THINK", value_parser = quick::parse_think, requires = "vus")]
    think: Option<breakerbox::config::ThinkTime>,
    /// How long to send load (e.g. 10s, 2m).
    #[arg(short = 'd', long, env = "BREAKERBOX_DURATION", default_value = "10s", value_parser = breakerbox::config::parse_duration)]
    duration: Duration,
    /// A header to send, 'Name: value'; repeat for more.
    #[arg(short = 'H', long = "header", env = "BREAKERBOX_HEADER", value_parser = quick::parse_header)]
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The method.
    #[arg(short = 'm', long, env = "BREAKERBOX_METHOD", default_value = "GET", value_parser = parse_method)]
    method: Method,
    /// The request body; @FILE reads it from a file.
    #[arg(long, env = "BREAKERBOX_BODY")]
    body: Option<String>,
    /// Upper bound on one request (a timeout counts as an error).
    #[arg(long, env = "BREAKERBOX_TIMEOUT", default_value = "5s", value_parser = breakerbox::config::parse_duration)]
    timeout: Duration,
    /// Accept any certificate an https:// target presents (self-signed staging ones).
    #[arg(long, env = "BREAKERBOX_INSECURE", value_parser = clap::builder::BoolishValueParser::new())]
    insecure: bool,
    /// Threads sending load. Default: for a loopback target half of this machine's cores
    /// (the server needs the rest), for any other all of them.
    #[arg(long, env = "BREAKERBOX_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Print one JSON object instead of the human summary.
    #[arg(long, env = "BREAKERBOX_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    json: bool,
    /// Allow a target outside loopback and private networks.
    #[arg(long, env = "BREAKERBOX_ALLOW_REMOTE", value_parser = clap::builder::BoolishValueParser::new())]
    allow_remote: bool,
    /// Allow a target whose name looks like production (prod, www., api.).
    #[arg(long, env = "BREAKERBOX_I_KNOW_THIS_IS_PRODUCTION", value_parser = clap::builder::BoolishValueParser::new())]
    i_know_this_is_production: bool,
}

/// The async runtime quick mode runs on: `--threads` worker threads, or the default for the
/// target (see [`quick::default_threads`]). One thread runs on the calling thread itself.
pub fn runtime(args: &LoadArgs) -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args
        .threads
        .map_or_else(|| quick::default_threads(&args.url, cores), usize::from);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder.enable_all().build()
}

fn parse_method(text: &str) -> Result<Method, String> {
    Method::from_bytes(text.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("\"{text}\" is not an HTTP method"))
}

impl LoadArgs {
    fn options(self) -> Result<QuickOptions, String> {
        let model = match (self.connections, self.rate, self.vus, self.think) {
            (_, Some(rate), _, _) => Model::Rate {
                rate,
                max_in_flight: self
                    .max_in_flight
                    .unwrap_or_else(|| quick::default_max_in_flight(rate)),
            },
            (_, None, Some(vus), think) => Model::Users {
                vus,
                think: think.unwrap_or_default(),
            },
            (connections, None, None, _) => Model::Connections(connections.unwrap_or(50)),
        };
        let body = match self.body {
            Some(text) => match text.strip_prefix('@') {
                Some(path) => Bytes::from(
                    std::fs::read(path).map_err(|e| format!("--body: cannot read {path}: {e}"))?,
                ),
                None => Bytes::from(text),
            },
            None => Bytes::new(),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        if self.timeout.is_zero() {
            return Err("--timeout must be longer than zero".into());
        }
        Ok(QuickOptions {
            url: self.url,
            model,
            duration: self.duration,
            method: self.method,
            headers,
            body,
            timeout: self.timeout,
            insecure: self.insecure,
            permission: breakerbox::config::guard::Permission {
                remote: self.allow_remote,
                production: self.i_know_this_is_production,
            },
        })
    }
}

/// Runs quick mode: exit 0 when the load ran (errors or not), 2 for bad input, 3 when
/// interrupted, 4 when the target is unreachable.
pub async fn run(args: LoadArgs) -> ExitCode {
    let json = args.json;
    let options = match args.options() {
        Ok(o) => o,
        Err(why) => return usage(&why),
    };
    let drill = match options.drill() {
        Ok(d) => d,
        Err(why) => return usage(&why),
    };
    let stop = Stop::new();
    let signals = tokio::spawn(super::run::handle_signals(stop.clone()));
    let report = quick::run(&options, drill, stop).await;
    signals.abort();
    match report {
        Ok(report) => {
            if json {
                match serde_json::to_string(&report) {
                    Ok(line) => outln!("{line}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(crate::EXIT_USAGE);
                    }
                }
            } else {
                out!("{}", report.render());
            }
            if report.stopped.is_some() {
                ExitCode::from(crate::EXIT_ABORTED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.is_invalid_run() {
                crate::EXIT_INVALID
            } else {
                crate::EXIT_USAGE
            })
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("error: {why}");
    ExitCode::from(crate::EXIT_USAGE)
}
