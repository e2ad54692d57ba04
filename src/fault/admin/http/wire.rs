//! The JSON shapes of the `/http-proxies` resources, shared by the server and its clients
//! (`breakerbox run` driving a remote proxy deserializes the same types).

use crate::fault::{TapBucket, UpstreamSeries};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::fault::decisions::{DecisionPage, DecisionRecord};

/// One HTTP fault proxy, as `GET /http-proxies/{name}` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpProxyView {
    /// Its unique name.
    pub name: String,
    /// The address it is bound to (the real port when asked for port 0).
    pub listen: String,
    /// The base URL it forwards to.
    pub upstream: String,
    /// Longest wait for the upstream's response headers, in milliseconds.
    pub upstream_timeout_ms: u64,
    /// The seed the installed faults roll with.
    pub seed: u64,
    /// Whether the installed faults' clock has started.
    pub started: bool,
    /// Milliseconds on that clock; `null` before it starts.
    pub elapsed_ms: Option<u64>,
    /// How many rules are installed.
    pub rules: usize,
}

/// The installed rules, as `GET /http-proxies/{name}/faults` answers them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesBody {
    /// The rules, in the order they are tried.
    pub rules: Vec<RuleView>,
}

/// One installed rule: its window on the proxy's clock and its fault table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    /// The id the tap and the decision log count it under.
    pub id: usize,
    /// Window start, milliseconds on the proxy's clock.
    pub from_ms: u64,
    /// Window end (exclusive); `null` when open-ended.
    pub until_ms: Option<u64>,
    /// The fault's kind.
    pub kind: String,
    /// The fault table as given (a profile's `[[faults]]` keys).
    pub fault: Value,
}

/// The `PUT /http-proxies/{name}/faults` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultsBody {
    /// Fault tables with a profile's `[[faults]]` keys; windows from their own
    /// `start`/`duration` on a clock started by the call.
    pub faults: Vec<Value>,
}

/// The `PUT /http-proxies/{name}/schedule` body: rules with absolute windows on a clock
/// that starts with `POST /http-proxies/{name}/start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleBody {
    /// Seed of every roll (default: the proxy's seed).
    #[serde(default)]
    pub seed: Option<u64>,
    /// How long the run is planned to last, in milliseconds (sizes the tap; default 1 h).
    #[serde(default)]
    pub span_ms: Option<u64>,
    /// The rules, in the order they are tried.
    pub rules: Vec<ScheduledRule>,
}

/// One rule of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledRule {
    /// The id the tap counts it under (ids may be sparse).
    pub id: usize,
    /// Window start, milliseconds from the start call.
    pub from_ms: u64,
    /// Window end (exclusive); absent or `null` for open-ended.
    #[serde(default)]
    pub until_ms: Option<u64>,
    /// The fault table (its own `start`/`duration` are ignored).
    pub fault: Value,
}

/// The `POST /http-proxies/{name}/start` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartAnswer {
    /// The clock's epoch, milliseconds since the Unix epoch (the same on every call).
    pub started_unix_ms: u64,
}

/// The tap of a proxy's installed faults, as `GET /http-proxies/{name}/tap` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TapReport {
    /// Milliseconds on the proxy's clock; `null` before it starts.
    pub elapsed_ms: Option<u64>,
    /// Width of one bucket in `buckets` (100).
    pub bucket_ms: u64,
    /// Width of one slot in `upstream`'s series (10).
    pub slot_ms: u64,
    /// Every count per 100 ms bucket, up to the last one counted into.
    pub buckets: Vec<TapBucket>,
    /// Attempts and outcomes per 10 ms slot, and the call log near failures.
    pub upstream: UpstreamSeries,
    /// Per rule id up to the highest: when it was first injected, or `null`.
    pub first_injection_ms: Vec<Option<u64>>,
}
