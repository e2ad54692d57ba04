//! Drill and fault-profile files: reading, validating, and the validated model.
//!
//! [`load_drill`] turns a TOML file into a [`Drill`] or into every problem found, each as
//! `FILE:LINE:COL: message`. Nothing here touches the network; the [`crate::plan`] stage
//! turns a `Drill` into concrete timings.

pub mod address;
pub mod data;
mod diagnostic;
mod duration;
mod expect;
mod fault;
pub mod guard;
mod journey;
mod observe;
mod phase;
mod profile;
mod raw;
pub mod snippet;
pub mod suggest;
pub mod template;
mod validate;

pub use validate::KindTable;

pub use data::{DataMode, DataSet};
pub use diagnostic::{line_column, Diagnostic, LineIndex};
pub use duration::{parse_duration, MAX_DURATION};
pub use expect::*;
pub use fault::*;
pub use journey::*;
pub use observe::*;
pub use phase::*;
pub use profile::{EmbeddedProfiles, ProfileDirs, ProfileSource};
pub use template::{PathTemplate, Template};
pub use validate::{check_base_url, check_target_url};

use crate::breaker_state::BreakerState;
pub use crate::breaker_state::Channel;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a drill could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The drill file itself could not be read.
    #[error("{path}: cannot read drill file: {source}")]
    Read {
        /// The file as named.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file was read but is malformed or inconsistent; one diagnostic per problem.
    #[error("{}", render_all(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// The individual problems (one for an unreadable file).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            ConfigError::Read { path, source } => vec![Diagnostic::whole_file(
                path,
                format!("cannot read drill file: {source}"),
            )],
            ConfigError::Invalid(d) => d.clone(),
        }
    }
}

fn render_all(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and validates the drill at `path`; fault profiles are looked up in the drill's
/// `profile_dir`, else `fault-profiles/` beside the drill or one level up.
pub fn load_drill(path: &Path) -> Result<Drill, ConfigError> {
    let shown = path.display().to_string();
    let text = read_capped(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_drill(&shown, &text, &ProfileDirs::beside(&base))
}

/// Largest drill or profile file read: far beyond any real one, small enough that a wrong
/// path (`/dev/zero`, a log file) is refused instead of filling memory.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads a UTF-8 file of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than {} MiB; is this the right file?",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Validates drill `text` (shown as `file` in diagnostics), resolving profiles via `profiles`.
pub fn parse_drill(
    file: &str,
    text: &str,
    profiles: &dyn ProfileSource,
) -> Result<Drill, ConfigError> {
    validate::drill(file, text, profiles)
}

/// Reads and validates the fault profile at `path` (named by its file stem), for the
/// standalone proxy.
pub fn load_profile(path: &Path) -> Result<FaultProfile, ConfigError> {
    let shown = path.display().to_string();
    let text = read_capped(path).map_err(|e| {
        ConfigError::Invalid(vec![Diagnostic::whole_file(
            &shown,
            format!("cannot read fault profile: {e}"),
        )])
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_profile(&name, &shown, &text)
}

/// Validates one fault-profile `text` (shown as `file` in diagnostics) named `name`.
pub fn parse_profile(name: &str, file: &str, text: &str) -> Result<FaultProfile, ConfigError> {
    validate::profile(name, file, text).map_err(ConfigError::Invalid)
}

/// What the load engine sends, as the plan hands it over: the requests, the journeys built
/// on them, and the default request timeout. The engine reads this, never the whole drill.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    /// The request mix, indexed as every recorder's groups.
    pub requests: &'a [RequestSpec],
    /// User types, data sets, captures, setup and teardown.
    pub journey: &'a Journey,
    /// Upper bound on a request without a timeout of its own.
    pub request_timeout: Duration,
}

impl Drill {
    /// The part of the drill the load engine needs.
    pub fn workload(&self) -> Workload<'_> {
        Workload {
            requests: &self.requests,
            journey: &self.journey,
            request_timeout: self.request_timeout,
        }
    }
}

/// A validated drill: everything the run needs, with defaults filled in.
#[derive(Debug, Clone)]
pub struct Drill {
    /// Short name, shown in reports.
    pub name: String,
    /// What the drill checks, in a sentence or two.
    pub description: String,
    /// The file the drill came from (for messages).
    pub source: String,
    /// Base URL of the service under test; `None` means "the built-in demo service".
    pub target: Option<String>,
    /// Hosts outside loopback and private networks the drill may send load to.
    pub allow_targets: Vec<String>,
    /// The one seed every random choice derives from.
    pub seed: u64,
    /// Upper bound on one request, connect to last body byte; a timeout is an error.
    pub request_timeout: Duration,
    /// Accept any certificate an `https://` target presents (self-signed staging ones).
    pub insecure: bool,
    /// The built-in parts to start, each with its settings.
    pub parts: Parts,
    /// The request mix virtual users draw from.
    pub requests: Vec<RequestSpec>,
    /// User types, setup and teardown, data files and capture names.
    pub journey: Journey,
    /// Back-to-back phases on one clock.
    pub phases: Vec<Phase>,
    /// Which response markers reveal breaker state, cache hits and fallbacks.
    pub observe: ObserveSettings,
    /// The criteria the run is judged on.
    pub expect: Expectations,
    /// Health check before the load starts, if any.
    pub preflight: Option<Preflight>,
}

/// The built-in parts a drill starts; `None` leaves a part out.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// The scripted upstream.
    pub stub: Option<StubSettings>,
    /// The fault proxy in front of the upstream.
    pub proxy: Option<ProxySettings>,
    /// The built-in service under test.
    pub demo: Option<DemoSettings>,
}

/// Settings of the stub upstream.
#[derive(Debug, Clone)]
pub struct StubSettings {
    /// Where it listens (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Scripted responses; empty means the default `GET /item/{id}` JSON route.
    pub routes: Vec<StubRoute>,
}

/// One scripted stub response.
#[derive(Debug, Clone)]
pub struct StubRoute {
    /// HTTP method to match.
    pub method: http::Method,
    /// Path to match; `{name}` segments match any one segment.
    pub path: String,
    /// Status to answer with.
    pub status: u16,
    /// Body to answer with; `{name}` is replaced by the matched segment.
    pub body: String,
    /// The `content-type` of the body.
    pub content_type: String,
    /// Delay before answering.
    pub delay: Duration,
}

/// Settings of the fault proxy.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Where it listens; the SUT's dependency URL points here.
    pub listen: SocketAddr,
    /// The real upstream's base URL; `None` means the stub.
    pub upstream: Option<String>,
    /// Longest wait for the upstream's response headers; then the proxy answers 504.
    pub upstream_timeout: Duration,
    /// A proxy in another process (`[proxy] admin`), driven through its admin API instead
    /// of starting one here.
    pub remote: Option<RemoteProxySettings>,
    /// Extra CAs (PEM) an `https://` upstream's certificate may chain to.
    pub upstream_ca: Option<PathBuf>,
    /// Accept any certificate from an `https://` upstream (self-signed staging).
    pub upstream_insecure: bool,
    /// Terminate TLS on the listener with this certificate and key (PEM), both or neither.
    pub tls: Option<ProxyTlsFiles>,
}

/// A fault proxy running elsewhere (`breakerbox proxy --admin`), so the load generator and
/// the proxy can sit on different hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteProxySettings {
    /// Base URL of its admin API, e.g. `http://10.0.0.5:8474`.
    pub admin: String,
    /// The HTTP proxy's name there; `breakerbox proxy --admin` registers `default`.
    pub name: String,
    /// A file holding the admin API's bearer token, relative paths from the drill's folder.
    pub token_file: Option<PathBuf>,
    /// Create the proxy (with `listen` and `upstream`) when the admin API has none by that
    /// name: set when the drill gives either key.
    pub create: bool,
}

/// The certificate chain and key the proxy's listener presents (PEM files).
#[derive(Debug, Clone)]
pub struct ProxyTlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The leaf's private key.
    pub key: PathBuf,
}

impl ProxySettings {
    /// Longer than any sensible client timeout, so the service's own timeout fires first,
    /// yet a dead upstream cannot hold the proxy's requests for ever.
    pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
}

/// Settings of the built-in demo service.
#[derive(Debug, Clone)]
pub struct DemoSettings {
    /// Where it listens.
    pub listen: SocketAddr,
    /// Which breaker guards the upstream calls (off shows what a drill catches).
    pub breaker: DemoBreaker,
    /// Consecutive upstream failures that open the `consecutive` breaker.
    pub failure_threshold: u32,
    /// How long the breaker (either kind) stays open before it lets a call through.
    pub open_duration: Duration,
    /// The `rate` breaker's window and thresholds.
    pub rate: RateSettings,
    /// How long a fetched item is served from cache.
    pub cache_ttl: Duration,
    /// Upper bound on one upstream call.
    pub upstream_timeout: Duration,
    /// Whether a failed or rejected upstream call is answered with a fallback; `false`
    /// answers 503 with no fallback marker (a deliberately broken variant).
    pub fallback: bool,
    /// What the `x-circuit-state` header says.
    pub state_header: StateHeader,
    /// Whether a call admitted while half-open is labelled `half_open`; `false` reports the
    /// state after the call, so a successful probe already says `closed` (pybreaker-style).
    pub label_probe: bool,
    /// Where every breaker transition is appended as one JSON line, if anywhere.
    pub transition_log: Option<PathBuf>,
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            breaker: DemoBreaker::Consecutive,
            failure_threshold: 5,
            open_duration: Duration::from_secs(5),
            rate: RateSettings::default(),
            cache_ttl: Duration::from_secs(2),
            upstream_timeout: Duration::from_secs(1),
            fallback: true,
            state_header: StateHeader::Truthful,
            label_probe: true,
            transition_log: None,
        }
    }
}

/// Which breaker the demo service puts in front of its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DemoBreaker {
    /// No breaker: every call goes upstream.
    Off,
    /// failsafe's consecutive-failures breaker (opens at the `failure_threshold`th
    /// consecutive failure; half-open admits every call, the first outcome decides).
    Consecutive,
    /// A resilience4j-like count-based breaker: failure rate over a sliding window of calls,
    /// a minimum volume, a limited number of half-open calls.
    Rate,
}

impl DemoBreaker {
    /// The spellings accepted in drill files and on the command line.
    pub const VALID: &'static str =
        "\"consecutive\", \"rate\" or \"off\" (\"on\" means \"consecutive\")";

    /// The kind's name: `off`, `consecutive` or `rate`.
    pub fn as_str(self) -> &'static str {
        match self {
            DemoBreaker::Off => "off",
            DemoBreaker::Consecutive => "consecutive",
            DemoBreaker::Rate => "rate",
        }
    }

    /// Reads a kind's name; `on` is an alias of `consecutive`.
    pub fn parse(text: &str) -> Option<DemoBreaker> {
        match text {
            "off" => Some(DemoBreaker::Off),
            "on" | "consecutive" => Some(DemoBreaker::Consecutive),
            "rate" => Some(DemoBreaker::Rate),
            _ => None,
        }
    }
}

impl std::fmt::Display for DemoBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `rate` breaker's settings (resilience4j's count-based window).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSettings {
    /// Failure rate (over 0, at most 1) at or above which the breaker opens.
    pub failure_rate: f64,
    /// Outcomes the window must hold before the rate is judged.
    pub minimum_calls: u32,
    /// How many of the most recent call outcomes the window holds.
    pub window: u32,
    /// Calls admitted while half-open; their failure rate decides open or closed.
    pub half_open_calls: u32,
}

impl RateSettings {
    /// Largest `window` (and so `minimum_calls`).
    pub const MAX_WINDOW: u32 = 100_000;
    /// Most calls admitted while half-open.
    pub const MAX_HALF_OPEN_CALLS: u32 = 10_000;

    /// Why these settings make no sense together, if they do not: a `minimum_calls` above
    /// `window` could never be reached, so the breaker could never open.
    pub fn inconsistency(&self) -> Option<String> {
        (self.minimum_calls > self.window).then(|| {
            format!(
                "minimum_calls ({}) is larger than window ({}): the rate breaker could never open",
                self.minimum_calls, self.window
            )
        })
    }
}

impl Default for RateSettings {
    fn default() -> Self {
        RateSettings {
            failure_rate: 0.5,
            minimum_calls: 10,
            window: 20,
            half_open_calls: 3,
        }
    }
}

/// What the demo service's `x-circuit-state` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateHeader {
    /// The breaker's real state (absent when the breaker is off).
    Truthful,
    /// Always `closed`, whatever the breaker does: a lying header.
    Closed,
    /// No header at all.
    None,
}

impl StateHeader {
    /// The spellings accepted in drill files and on the command line.
    pub const VALID: &'static str = "\"truthful\", \"closed\" or \"none\"";

    /// The mode's name: `truthful`, `closed` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            StateHeader::Truthful => "truthful",
            StateHeader::Closed => "closed",
            StateHeader::None => "none",
        }
    }

    /// Reads a mode's name.
    pub fn parse(text: &str) -> Option<StateHeader> {
        match text {
            "truthful" => Some(StateHeader::Truthful),
            "closed" => Some(StateHeader::Closed),
            "none" => Some(StateHeader::None),
            _ => None,
        }
    }
}

/// Health check before any load starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Preflight {
    /// URL or path (relative to the target) that must answer.
    pub health: String,
    /// How long to keep trying.
    pub timeout: Duration,
    /// Status it must answer with; `None` accepts any 2xx.
    pub status: Option<u16>,
}
