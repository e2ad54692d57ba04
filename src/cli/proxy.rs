//! `breakerbox proxy`: the fault proxy on its own, beside a service on staging, with a
//! Toxiproxy-compatible admin API. It serves at once, so the service can start first.

use super::out::outln;
use super::sched::{self, Priority};
use breakerbox::config;
use breakerbox::fault::admin::{self, AdminOptions};
use breakerbox::fault::{FaultLayer, FaultProxy, ListenTls, ProxyOptions, Rules, UpstreamTls};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How long the standalone proxy's tap keeps 10 ms slots; later calls share the last one.
const TAP_SPAN: Duration = Duration::from_secs(3600);

/// Flags of `breakerbox proxy`.
#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Where the HTTP fault proxy listens (with --upstream).
    #[arg(long, env = "BREAKERBOX_LISTEN", requires = "upstream", value_parser = config::address::parse_socket_addr)]
    pub listen: Option<SocketAddr>,
    /// The real dependency the HTTP proxy forwards to, e.g. http://127.0.0.1:9090 or
    /// https://staging.example.com.
    #[arg(long, env = "BREAKERBOX_UPSTREAM", requires = "listen", value_parser = parse_upstream)]
    pub upstream: Option<String>,
    /// A PEM file of extra CAs to trust for an https:// upstream (besides the system's).
    #[arg(long, env = "BREAKERBOX_UPSTREAM_CA", requires = "upstream")]
    pub upstream_ca: Option<PathBuf>,
    /// Accept any certificate from an https:// upstream (self-signed staging only).
    #[arg(long, env = "BREAKERBOX_UPSTREAM_INSECURE", requires = "upstream", value_parser = clap::builder::BoolishValueParser::new())]
    pub upstream_insecure: bool,
    /// Terminate TLS on --listen with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "BREAKERBOX_TLS_CERT", requires = "listen")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "BREAKERBOX_TLS_KEY", requires = "listen")]
    pub tls_key: Option<PathBuf>,
    /// A fault profile applied from the start (its windows count from the proxy's start).
    #[arg(long, env = "BREAKERBOX_PROFILE", requires = "upstream")]
    pub profile: Option<PathBuf>,
    /// Where the Toxiproxy-compatible admin API listens, e.g. 127.0.0.1:8474.
    #[arg(long, env = "BREAKERBOX_ADMIN", value_parser = config::address::parse_socket_addr)]
    pub admin: Option<SocketAddr>,
    /// A file holding the bearer token the admin API requires.
    #[arg(long, env = "BREAKERBOX_TOKEN_FILE", requires = "admin")]
    pub token_file: Option<PathBuf>,
    /// Let the admin API listen beyond loopback without a token.
    #[arg(long, env = "BREAKERBOX_ALLOW_EXPOSED_ADMIN", requires = "admin", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_exposed_admin: bool,
    /// Upper bound on waiting for the upstream's response headers (answered 504).
    #[arg(long, env = "BREAKERBOX_UPSTREAM_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub upstream_timeout: Duration,
    /// How long a client may take to send a request's headers, idle keep-alive time
    /// included (and a TLS handshake), before the proxy closes its connection (slowloris).
    #[arg(long, env = "BREAKERBOX_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub header_read_timeout: Duration,
    /// Seed for fault decisions and toxicity rolls.
    #[arg(long, env = "BREAKERBOX_SEED", default_value_t = 1)]
    pub seed: u64,
    /// The HTTP proxy's name in the admin API (`/http-proxies/NAME`), with --admin.
    #[arg(
        long,
        env = "BREAKERBOX_NAME",
        default_value = "default",
        requires = "admin"
    )]
    pub name: String,
    /// Threads running the proxy. One serves 5,000 requests/s in a few percent of a core and
    /// keeps the tail shortest; more help only past a core's worth of traffic.
    #[arg(long, env = "BREAKERBOX_THREADS", default_value_t = DEFAULT_THREADS, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: u16,
    /// How the proxy's threads ask to be scheduled: `high` asks for a short scheduling slice
    /// (Linux 6.12+) and nice -10 where allowed, so a busy host delays it less; `normal`
    /// leaves the kernel's defaults.
    #[arg(long, env = "BREAKERBOX_PRIORITY", value_enum, default_value_t = Priority::High)]
    pub priority: Priority,
}

/// Runtime threads of the proxy unless `--threads` says otherwise.
const DEFAULT_THREADS: u16 = 1;

/// What the proxy's threads are called (in `top -H`, `/proc/PID/task/*/comm`).
const THREAD_NAME: &str = "bb-proxy";

/// The async runtime `breakerbox proxy` runs on: `--threads` workers, each scheduled as
/// `--priority` asks.
pub fn runtime(args: &ProxyArgs) -> std::io::Result<tokio::runtime::Runtime> {
    let priority = args.priority;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(args.threads))
        .thread_name(THREAD_NAME)
        .on_thread_start(move || sched::apply_to_current_thread(priority))
        .enable_all()
        .build()
}

/// A timeout: a duration longer than zero (a zero one would end every wait at once).
fn parse_timeout(given: &str) -> Result<Duration, String> {
    match config::parse_duration(given)? {
        Duration::ZERO => Err(format!(
            "a timeout of \"{given}\" ends every wait at once; give e.g. \"10s\""
        )),
        timeout => Ok(timeout),
    }
}

/// An upstream URL as given (no scheme means http://), checked and without a trailing slash.
fn parse_upstream(given: &str) -> Result<String, String> {
    config::check_target_url(given).map_err(|why| why.replace("target", "upstream"))
}

/// What is serving; dropped, it stops.
pub struct Serving {
    _proxy: Option<FaultProxy>,
    _admin: Option<admin::AdminServer>,
}

/// Starts what `args` asks for; the error is a one-line usage message.
pub async fn start(args: ProxyArgs) -> Result<Serving, String> {
    if args.listen.is_none() && args.admin.is_none() {
        return Err(
            "proxy needs --listen and --upstream (an HTTP fault proxy), --admin (the admin API), or both"
                .into(),
        );
    }
    let listen_tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ListenTls {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err("--tls-cert needs --tls-key (the certificate's private key)".into())
        }
        (None, Some(_)) => {
            return Err("--tls-key needs --tls-cert (the certificate it belongs to)".into())
        }
    };
    let options = ProxyOptions {
        upstream_tls: UpstreamTls {
            ca_file: args.upstream_ca.clone(),
            insecure: args.upstream_insecure,
        },
        listen_tls,
        header_read_timeout: args.header_read_timeout,
        ..ProxyOptions::default()
    };
    let admin = match args.admin {
        Some(listen) => {
            let token = args
                .token_file
                .as_deref()
                .map(admin::read_token_file)
                .transpose()
                .map_err(|e| e.to_string())?;
            let server = admin::start(AdminOptions {
                listen,
                token,
                allow_exposed_without_token: args.allow_exposed_admin,
                seed: args.seed,
            })
            .await
            .map_err(|e| e.to_string())?;
            Some(server)
        }
        None => None,
    };
    let proxy = match (args.listen, &args.upstream) {
        (Some(listen), Some(upstream)) => {
            let profile = match &args.profile {
                Some(path) => Some(config::load_profile(path).map_err(|e| e.to_string())?),
                None => None,
            };
            let faults = profile.map(|p| p.faults).unwrap_or_default();
            let count = faults.len();
            match &admin {
                // Registered in the admin API, so a runner can replace its faults.
                Some(server) => {
                    let url = register(server, &args, listen, upstream, options).await?;
                    outln!(
                        "fault proxy listening on {url} → {upstream} ({}) as \"{}\"",
                        super::plural(count, "fault"),
                        args.name
                    );
                    None
                }
                None => {
                    let layer =
                        FaultLayer::starting_now(Rules::from_start(faults), args.seed, TAP_SPAN);
                    let proxy = FaultProxy::start_with(
                        listen,
                        upstream,
                        layer,
                        args.upstream_timeout,
                        options,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    outln!(
                        "fault proxy listening on {} → {upstream} ({})",
                        proxy.url(),
                        super::plural(count, "fault")
                    );
                    Some(proxy)
                }
            }
        }
        _ => None,
    };
    if let Some(server) = &admin {
        outln!("admin API listening on http://{}", server.addr());
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    Ok(Serving {
        _proxy: proxy,
        _admin: admin,
    })
}

/// Starts the HTTP proxy through the admin API's registry under `--name`, with the profile
/// (already validated) installed; its base URL.
async fn register(
    server: &admin::AdminServer,
    args: &ProxyArgs,
    listen: SocketAddr,
    upstream: &str,
    options: ProxyOptions,
) -> Result<String, String> {
    let scheme = if options.listen_tls.is_some() {
        "https"
    } else {
        "http"
    };
    let registry = server.http_proxies();
    let view = registry
        .add(
            &args.name,
            listen,
            upstream,
            args.upstream_timeout,
            args.seed,
            options,
        )
        .await
        .map_err(|e| e.to_string())?;
    if let Some(path) = args.profile.as_deref() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read fault profile: {e}", path.display()))?;
        registry
            .put_profile(&args.name, &text)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(format!("{scheme}://{}", view.listen))
}
