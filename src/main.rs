//! The `breakerbox` command: runs drills, validates drill files, and runs the built-in
//! parts on their own. Library errors become one-line messages and exit codes here.

use breakerbox::config::guard::Permission;
use breakerbox::config::{
    self, DemoBreaker, DemoSettings, RateSettings, StateHeader, StubSettings,
};
use breakerbox::demo::{self, DemoService};
use breakerbox::plan::{Overrides, Plan};
use breakerbox::stub::Stub;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod cli;

use cli::out::outln;

/// mimalloc rather than the system allocator: a soak's RSS stays flat. With glibc's malloc,
/// ~90 allocations per request spread over per-thread arenas grew RSS about 1 MB a minute
/// while the live heap stayed flat (measured with heaptrack; see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for bad usage or a bad drill file.
const EXIT_USAGE: u8 = 2;
/// Exit code for a run stopped by Ctrl-C.
const EXIT_ABORTED: u8 = 3;
/// Exit code for an invalid run (target unreachable at preflight).
const EXIT_INVALID: u8 = 4;

#[derive(Parser)]
#[command(
    name = "breakerbox",
    version,
    about = "Resilience drills: staged load, injected upstream faults, observed circuit-breaker transitions, a verdict.",
    max_term_width = 100,
    after_help = "Every flag can also be set with an environment variable, shown as [env: ...]. Exit codes: 0 passed, 1 an expectation failed, 2 bad usage or drill file, 3 aborted, 4 invalid run."
)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, env = "BREAKERBOX_VERBOSE", action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a drill file.
    Run {
        /// The drill (TOML).
        drill: PathBuf,
        #[command(flatten)]
        run: RunFlags,
        /// Base URL of the service under test (overrides the drill's `target`).
        #[arg(long, env = "BREAKERBOX_TARGET", hide_env_values = true)]
        target: Option<String>,
        /// Where the fault proxy listens (overrides [proxy] listen).
        #[arg(long, env = "BREAKERBOX_PROXY_LISTEN", value_parser = config::address::parse_socket_addr)]
        proxy_listen: Option<SocketAddr>,
        /// Where the stub listens (overrides [stub] listen).
        #[arg(long, env = "BREAKERBOX_STUB_LISTEN", value_parser = config::address::parse_socket_addr)]
        stub_listen: Option<SocketAddr>,
        /// Accept any certificate an https:// target presents (self-signed staging ones).
        #[arg(long, env = "BREAKERBOX_INSECURE", value_parser = clap::builder::BoolishValueParser::new())]
        insecure: bool,
        #[command(flatten)]
        guard: GuardFlags,
    },
    /// Send load at one URL with no drill file (quick mode): closed model with -c, open
    /// model with --rate, virtual users with think time with --vus and --think.
    Load(cli::load::LoadArgs),
    /// Run the fault proxy on its own (an HTTP fault proxy in front of --upstream, the
    /// Toxiproxy-compatible admin API on --admin, or both) until Ctrl-C.
    Proxy(cli::proxy::ProxyArgs),
    /// Reprint a saved result's summary and write other formats from it (exit 2 on a bad file).
    Report(cli::report::ReportArgs),
    /// Compare a result against a baseline: per-metric deltas, regressions past a tolerance
    /// exit 1.
    Compare(cli::compare::CompareArgs),
    /// Run the embedded circuit-breaker drill on the built-in parts.
    Demo {
        #[command(flatten)]
        run: RunFlags,
    },
    /// Stop every drill of this user that is running on this machine (the kill switch):
    /// each stops, writes its result and exits 3.
    Stop,
    /// Check drill files and report every problem as FILE:LINE:COL: message.
    Validate {
        /// Drill files.
        #[arg(required = true)]
        drills: Vec<PathBuf>,
        #[command(flatten)]
        guard: GuardFlags,
    },
    /// Run the demo service alone (the SUT with a circuit breaker, cache and fallback).
    ///
    /// GET /api/item/{id} (x-circuit-state, x-cache, x-fallback), GET /breaker (JSON),
    /// GET /metrics (Prometheus text), GET /health.
    DemoService {
        /// Address to listen on.
        #[arg(long, env = "BREAKERBOX_LISTEN", default_value = "127.0.0.1:8080", value_parser = config::address::parse_socket_addr)]
        listen: SocketAddr,
        /// Base URL of its upstream dependency (point it at the fault proxy).
        #[arg(
            long,
            env = "BREAKERBOX_UPSTREAM",
            default_value = "http://127.0.0.1:9090"
        )]
        upstream: String,
        /// Which breaker guards the upstream: consecutive (failsafe: N consecutive failures),
        /// rate (resilience4j-like failure rate over a window of calls), off (on = consecutive).
        #[arg(long, env = "BREAKERBOX_BREAKER", value_enum, default_value_t = BreakerArg::Consecutive)]
        breaker: BreakerArg,
        /// consecutive: consecutive upstream failures that open the breaker.
        #[arg(long, env = "BREAKERBOX_FAILURE_THRESHOLD", default_value_t = 5)]
        failure_threshold: u32,
        /// How long the breaker (either kind) stays open.
        #[arg(long, env = "BREAKERBOX_OPEN_DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
        open_duration: Duration,
        /// rate: failure rate (above 0, at most 1) at which the breaker opens.
        #[arg(long, env = "BREAKERBOX_FAILURE_RATE", default_value_t = 0.5, value_parser = parse_failure_rate)]
        failure_rate: f64,
        /// rate: outcomes the window must hold before the rate is judged.
        #[arg(long, env = "BREAKERBOX_MINIMUM_CALLS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=i64::from(RateSettings::MAX_WINDOW)))]
        minimum_calls: u32,
        /// rate: how many of the most recent call outcomes the window holds.
        #[arg(long, env = "BREAKERBOX_WINDOW", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=i64::from(RateSettings::MAX_WINDOW)))]
        window: u32,
        /// rate: calls admitted while half-open; their failure rate decides open or closed.
        #[arg(long, env = "BREAKERBOX_HALF_OPEN_CALLS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=i64::from(RateSettings::MAX_HALF_OPEN_CALLS)))]
        half_open_calls: u32,
        /// How long an item is served from cache.
        #[arg(long, env = "BREAKERBOX_CACHE_TTL", default_value = "2s", value_parser = humantime::parse_duration)]
        cache_ttl: Duration,
        /// Upper bound on one upstream call.
        #[arg(long, env = "BREAKERBOX_UPSTREAM_TIMEOUT", default_value = "1s", value_parser = humantime::parse_duration)]
        upstream_timeout: Duration,
        /// false: a failed or rejected upstream call answers 503 with no x-fallback (broken variant).
        #[arg(long, env = "BREAKERBOX_FALLBACK", default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
        fallback: bool,
        /// What x-circuit-state says: the truth, always closed (a lying header), or nothing.
        #[arg(long, env = "BREAKERBOX_STATE_HEADER", value_enum, default_value_t = StateHeaderArg::Truthful)]
        state_header: StateHeaderArg,
        /// false: the header shows the state after the call, so a successful probe already
        /// says closed (pybreaker-style); true: a half-open trial call says half_open.
        #[arg(long, env = "BREAKERBOX_LABEL_PROBE", default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
        label_probe: bool,
        /// Append every breaker transition to this file, one JSON line each.
        #[arg(long, env = "BREAKERBOX_TRANSITION_LOG", value_name = "PATH")]
        transition_log: Option<PathBuf>,
    },
    /// Show what a drill will do, without sending a request: phases, expected requests,
    /// the traffic shape over time, fault windows, expectations and the resource budget.
    Plan(cli::plan::PlanArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout.
    Completions(cli::completions::CompletionsArgs),
    /// Run the stub upstream alone (GET /item/{id} answers JSON).
    Stub {
        /// Address to listen on.
        #[arg(long, env = "BREAKERBOX_LISTEN", default_value = "127.0.0.1:9090", value_parser = config::address::parse_socket_addr)]
        listen: SocketAddr,
    },
}

/// Permission to send load beyond loopback and private networks.
#[derive(Args, Clone, Copy)]
struct GuardFlags {
    /// Allow a target outside loopback and private networks that the drill does not name
    /// in `allow_targets`.
    #[arg(long, env = "BREAKERBOX_ALLOW_REMOTE", value_parser = clap::builder::BoolishValueParser::new())]
    allow_remote: bool,
    /// Allow a target whose name looks like production (prod, www., api.).
    #[arg(long, env = "BREAKERBOX_I_KNOW_THIS_IS_PRODUCTION", value_parser = clap::builder::BoolishValueParser::new())]
    i_know_this_is_production: bool,
    /// Memory the run may use (e.g. 8GiB); default a quarter of this machine, at most 4 GiB.
    #[arg(long, env = "BREAKERBOX_MEMORY_BUDGET", value_parser = breakerbox::budget::parse_bytes)]
    memory_budget: Option<u64>,
}

impl From<GuardFlags> for Permission {
    fn from(g: GuardFlags) -> Permission {
        Permission {
            remote: g.allow_remote,
            production: g.i_know_this_is_production,
        }
    }
}

#[derive(Args)]
struct RunFlags {
    /// Seed for every random choice (overrides the drill's).
    #[arg(long, env = "BREAKERBOX_SEED")]
    seed: Option<u64>,
    /// Where to write the result document.
    #[arg(long, env = "BREAKERBOX_OUT", default_value = "result.json")]
    out: PathBuf,
    /// Replace the demo service's breaker kind, or turn it off (off shows what the drill catches).
    #[arg(long, env = "BREAKERBOX_BREAKER", value_enum)]
    breaker: Option<BreakerArg>,
    /// No live view, progress line or summaries (the series and --metrics-listen still run).
    #[arg(short, long, env = "BREAKERBOX_QUIET", value_parser = clap::builder::BoolishValueParser::new())]
    quiet: bool,
    /// How often the plain progress line is printed when stderr is not a terminal.
    #[arg(long, env = "BREAKERBOX_PROGRESS_EVERY", default_value = "5s", value_parser = humantime::parse_duration)]
    progress_every: Duration,
    /// Print a summary (counts, rates, p50/p95/p99, transitions) this often, e.g. 10m.
    #[arg(long, env = "BREAKERBOX_SUMMARY_EVERY", value_parser = humantime::parse_duration)]
    summary_every: Option<Duration>,
    /// Per-second NDJSON series, written as the run goes [default: --out with .ndjson].
    #[arg(long, env = "BREAKERBOX_SERIES_OUT", value_name = "PATH")]
    series_out: Option<PathBuf>,
    /// Write no per-second series file.
    #[arg(long, env = "BREAKERBOX_NO_SERIES", conflicts_with = "series_out", value_parser = clap::builder::BoolishValueParser::new())]
    no_series: bool,
    /// The fault proxy's decision log as NDJSON, when the drill has faults: each rule's
    /// verdict on each request, with its reason [default: --out with .decisions.ndjson].
    #[arg(long, env = "BREAKERBOX_DECISIONS_OUT", value_name = "PATH")]
    decisions_out: Option<PathBuf>,
    /// Serve live Prometheus/OpenMetrics text at /metrics on PORT or HOST:PORT (loopback
    /// when only a port is given).
    #[arg(long, env = "BREAKERBOX_METRICS_LISTEN", value_name = "ADDR", value_parser = cli::live::parse_listen)]
    metrics_listen: Option<SocketAddr>,
    /// Allow --metrics-listen on an address beyond loopback.
    #[arg(long, env = "BREAKERBOX_METRICS_LISTEN_EXPOSED", value_parser = clap::builder::BoolishValueParser::new())]
    metrics_listen_exposed: bool,
    #[command(flatten)]
    report: cli::report::ReportFlags,
}

/// A demo breaker kind on the command line.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BreakerArg {
    /// failsafe's consecutive-failures breaker (alias: on).
    #[value(alias = "on")]
    Consecutive,
    /// A resilience4j-like failure-rate breaker.
    Rate,
    /// No breaker.
    Off,
}

impl From<BreakerArg> for DemoBreaker {
    fn from(arg: BreakerArg) -> DemoBreaker {
        match arg {
            BreakerArg::Consecutive => DemoBreaker::Consecutive,
            BreakerArg::Off => DemoBreaker::Off,
            BreakerArg::Rate => DemoBreaker::Rate,
        }
    }
}

/// What the demo service's state header says, on the command line.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StateHeaderArg {
    /// The breaker's real state.
    Truthful,
    /// Always closed: a lying header.
    Closed,
    /// No header.
    None,
}

impl From<StateHeaderArg> for StateHeader {
    fn from(arg: StateHeaderArg) -> StateHeader {
        match arg {
            StateHeaderArg::Truthful => StateHeader::Truthful,
            StateHeaderArg::Closed => StateHeader::Closed,
            StateHeaderArg::None => StateHeader::None,
        }
    }
}

fn parse_failure_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("\"{text}\" is not a number"))?;
    if rate > 0.0 && rate <= 1.0 {
        Ok(rate)
    } else {
        Err(format!(
            "a failure rate is above 0 and at most 1, not {rate}"
        ))
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // One line: what is wrong (clap's lines up to its usage, joined). `--help` has
            // the rest.
            let text = e.to_string();
            let what: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            eprintln!("{} (see --help)", what.join(" "));
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    init_logging(cli.verbose);
    let runtime = match &cli.command {
        Command::Load(args) => cli::load::runtime(args),
        Command::Proxy(args) => cli::proxy::runtime(args),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    runtime.block_on(dispatch(cli.command))
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,breakerbox=info",
        _ => "debug,hyper=info,hyper_util=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(cli::live::log_colours())
        .with_writer(cli::live::LogWriter)
        .try_init();
}

async fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::Run {
            drill,
            run,
            target,
            proxy_listen,
            stub_listen,
            insecure,
            guard,
        } => {
            let drill = match config::load_drill(&drill) {
                Ok(d) => d,
                Err(e) => return config_failure(&e),
            };
            let overrides = Overrides {
                target,
                seed: run.seed,
                proxy_listen,
                stub_listen,
                demo_breaker: run.breaker.map(DemoBreaker::from),
                permission: guard.into(),
                memory_budget: guard.memory_budget,
                insecure,
            };
            cli::run::run_drill(drill, overrides, &run).await
        }
        Command::Load(args) => cli::load::run(args).await,
        Command::Report(args) => cli::report::run(args),
        Command::Compare(args) => cli::compare::run(args),
        Command::Plan(args) => cli::plan::run(args),
        Command::Completions(args) => {
            cli::completions::print(&args, &mut <Cli as clap::CommandFactory>::command());
            ExitCode::SUCCESS
        }
        Command::Demo { run } => {
            let drill = match demo::embedded_drill() {
                Ok(d) => d,
                Err(e) => return config_failure(&e),
            };
            let overrides = Overrides {
                seed: run.seed,
                demo_breaker: run.breaker.map(DemoBreaker::from),
                ..Overrides::default()
            };
            cli::run::run_drill(drill, overrides, &run).await
        }
        Command::Stop => match breakerbox::runs::stop_all() {
            Ok(stopped) if stopped.is_empty() => {
                outln!("no running drill");
                ExitCode::SUCCESS
            }
            Ok(stopped) => {
                for s in stopped {
                    outln!("stopping drill {} (pid {})", s.drill, s.pid);
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Validate { drills, guard } => {
            let mut bad = false;
            for path in drills {
                match config::load_drill(&path) {
                    Ok(d) => {
                        let guarded = d.target.as_deref().map(|url| {
                            config::guard::check_target(url, &d.allow_targets, guard.into())
                        });
                        if let Some(Err(why)) = guarded {
                            bad = true;
                            eprintln!("{}: {why}", path.display());
                            continue;
                        }
                        let overrides = Overrides {
                            permission: guard.into(),
                            memory_budget: guard.memory_budget,
                            // The budget does not depend on the target; a drill meant for
                            // --target still gets its budget checked.
                            target: (d.target.is_none() && d.parts.demo.is_none())
                                .then(|| "http://127.0.0.1:1".to_string()),
                            ..Overrides::default()
                        };
                        let budget = Plan::new(d.clone(), &overrides)
                            .map_err(|e| e.to_string())
                            .and_then(|plan| {
                                breakerbox::drill::check_budget(&plan, &overrides)
                                    .map_err(|e| e.to_string())
                            });
                        if let Err(why) = budget {
                            bad = true;
                            eprintln!("{why}");
                            continue;
                        }
                        outln!(
                            "{}: ok ({}, {})",
                            path.display(),
                            cli::plural(d.phases.len(), "phase"),
                            cli::plural(d.requests.len(), "request")
                        )
                    }
                    Err(e) => {
                        bad = true;
                        cli::diagnostics::print(&e);
                    }
                }
            }
            if bad {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::DemoService {
            listen,
            upstream,
            breaker,
            failure_threshold,
            open_duration,
            failure_rate,
            minimum_calls,
            window,
            half_open_calls,
            cache_ttl,
            upstream_timeout,
            fallback,
            state_header,
            label_probe,
            transition_log,
        } => {
            let upstream = match config::check_base_url(&upstream) {
                Ok(url) => url,
                Err(why) => {
                    eprintln!("error: --upstream: {}", why.replace("target", "upstream"));
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            if failure_threshold == 0 {
                eprintln!("error: --failure-threshold must be at least 1");
                return ExitCode::from(EXIT_USAGE);
            }
            if open_duration.is_zero() {
                eprintln!("error: --open-duration must be longer than zero");
                return ExitCode::from(EXIT_USAGE);
            }
            let rate = RateSettings {
                failure_rate,
                minimum_calls,
                window,
                half_open_calls,
            };
            if let Some(why) = rate.inconsistency() {
                eprintln!("error: --minimum-calls: {why}");
                return ExitCode::from(EXIT_USAGE);
            }
            let settings = DemoSettings {
                listen,
                breaker: breaker.into(),
                failure_threshold,
                open_duration,
                rate,
                cache_ttl,
                upstream_timeout,
                fallback,
                state_header: state_header.into(),
                label_probe,
                transition_log,
            };
            match DemoService::start(&settings, &upstream).await {
                Ok(service) => {
                    outln!(
                        "demo service listening on {} (upstream {upstream}, breaker {})",
                        service.url(),
                        settings.breaker
                    );
                    let _ = std::io::stdout().flush();
                    serve_until_ctrl_c(service.wait()).await
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        Command::Proxy(args) => match cli::proxy::start(args).await {
            Ok(serving) => {
                let code = serve_until_ctrl_c(std::future::pending::<()>()).await;
                drop(serving);
                code
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Stub { listen } => {
            match Stub::start(&StubSettings {
                listen,
                routes: Vec::new(),
            })
            .await
            {
                Ok(stub) => {
                    outln!("stub upstream listening on {}", stub.url());
                    let _ = std::io::stdout().flush();
                    serve_until_ctrl_c(std::future::pending::<()>()).await
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
    }
}

async fn serve_until_ctrl_c(serving: impl std::future::Future<Output = ()>) -> ExitCode {
    tokio::select! {
        _ = serving => ExitCode::SUCCESS,
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}

fn config_failure(e: &config::ConfigError) -> ExitCode {
    cli::diagnostics::print(e);
    ExitCode::from(EXIT_USAGE)
}
