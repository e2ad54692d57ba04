//! The drill and fault-profile files exactly as written, before validation.
//!
//! Every table denies unknown keys. Values that validation may reject later are kept
//! `Spanned` so the error can point at them; durations, executors and fault kinds stay
//! strings here and are parsed by the checker, so one bad value does not hide the others.
//! No internally tagged enums or `flatten`: they would cost toml its error positions.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrillFile {
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    pub target: Option<Spanned<String>>,
    #[serde(default)]
    pub allow_targets: Vec<String>,
    pub seed: Option<u64>,
    pub request_timeout: Option<Spanned<String>>,
    pub profile_dir: Option<String>,
    #[serde(default)]
    pub parts: PartsFile,
    #[serde(default)]
    pub stub: StubFile,
    #[serde(default)]
    pub proxy: ProxyFile,
    #[serde(default)]
    pub demo: DemoFile,
    #[serde(default)]
    pub requests: Vec<RequestFile>,
    #[serde(default)]
    pub phases: Vec<PhaseFile>,
    #[serde(default)]
    pub observe: ObserveFile,
    #[serde(default)]
    pub expect: ExpectFile,
    pub preflight: Option<PreflightFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreflightFile {
    pub health: Spanned<String>,
    pub timeout: Option<Spanned<String>>,
    pub status: Option<Spanned<u16>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartsFile {
    #[serde(default)]
    pub stub: bool,
    #[serde(default)]
    pub proxy: bool,
    #[serde(default)]
    pub demo: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StubFile {
    pub listen: Option<Spanned<String>>,
    #[serde(default)]
    pub routes: Vec<StubRouteFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StubRouteFile {
    pub method: Option<Spanned<String>>,
    pub path: Spanned<String>,
    pub status: Option<Spanned<u16>>,
    pub body: Option<String>,
    pub content_type: Option<String>,
    pub delay: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProxyFile {
    pub listen: Option<Spanned<String>>,
    pub upstream: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DemoFile {
    pub listen: Option<Spanned<String>>,
    pub failure_threshold: Option<Spanned<u32>>,
    pub open_duration: Option<Spanned<String>>,
    pub cache_ttl: Option<Spanned<String>>,
    pub upstream_timeout: Option<Spanned<String>>,
    pub breaker: Option<Spanned<String>>,
    pub failure_rate: Option<Spanned<f64>>,
    pub minimum_calls: Option<Spanned<i64>>,
    pub window: Option<Spanned<i64>>,
    pub half_open_calls: Option<Spanned<i64>>,
    pub fallback: Option<bool>,
    pub state_header: Option<Spanned<String>>,
    pub label_probe: Option<bool>,
    pub transition_log: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestFile {
    pub name: Spanned<String>,
    pub method: Option<Spanned<String>>,
    pub path: Spanned<String>,
    pub weight: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhaseFile {
    pub name: Spanned<String>,
    pub executor: Spanned<String>,
    pub duration: Option<Spanned<String>>,
    pub rate: Option<Spanned<f64>>,
    pub start_rate: Option<Spanned<f64>>,
    pub vus: Option<Spanned<i64>>,
    pub pre_allocated_vus: Option<Spanned<i64>>,
    pub max_vus: Option<Spanned<i64>>,
    pub start_vus: Option<Spanned<i64>>,
    pub stages: Option<Spanned<Vec<StageFile>>>,
    pub iterations: Option<Spanned<i64>>,
    pub max_duration: Option<Spanned<String>>,
    pub think_time: Option<Spanned<String>>,
    pub graceful_stop: Option<Spanned<String>>,
    pub graceful_ramp_down: Option<Spanned<String>>,
    #[serde(default)]
    pub faults: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageFile {
    pub duration: Spanned<String>,
    /// Virtual users (ramping-vus, a whole number) or requests per second
    /// (ramping-arrival-rate).
    pub target: Spanned<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ObserveFile {
    pub state_header: Option<Spanned<String>>,
    pub cache_header: Option<Spanned<String>>,
    pub cache_hit_values: Option<Vec<String>>,
    pub fallback_header: Option<Spanned<String>>,
    pub trust: Option<Vec<Spanned<String>>>,
    pub fallback: Option<MarkerFile>,
    pub rejection: Option<MarkerFile>,
    pub endpoint: Option<EndpointFile>,
    pub prometheus: Option<PrometheusFile>,
    pub tap: Option<TapFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MarkerFile {
    pub statuses: Option<Vec<Spanned<u16>>>,
    pub retry_after: Option<bool>,
    pub headers: Option<Vec<Spanned<String>>>,
    pub body_contains: Option<Spanned<String>>,
    pub body_pointer: Option<Spanned<String>>,
    pub body_equals: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointFile {
    pub url: Spanned<String>,
    pub pointer: Spanned<String>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub states: Option<StatesFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatesFile {
    #[serde(default)]
    pub closed: Vec<String>,
    #[serde(default)]
    pub open: Vec<String>,
    #[serde(default)]
    pub half_open: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrometheusFile {
    pub url: Spanned<String>,
    pub metric: Spanned<String>,
    pub state_label: Option<Spanned<String>>,
    pub values: Option<ValuesFile>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValuesFile {
    pub closed: Option<f64>,
    pub open: Option<f64>,
    pub half_open: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TapFile {
    pub enabled: Option<bool>,
    pub quiet: Option<Spanned<String>>,
    pub min_client_requests: Option<Spanned<u32>>,
    pub probes_to_close: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectFile {
    #[serde(default)]
    pub thresholds: Vec<ThresholdFile>,
    pub breaker: Option<BreakerExpectFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThresholdFile {
    pub phase: Option<Spanned<String>>,
    pub request: Option<Spanned<String>>,
    pub p50: Option<Spanned<toml::Value>>,
    pub p90: Option<Spanned<toml::Value>>,
    pub p95: Option<Spanned<toml::Value>>,
    pub p99: Option<Spanned<toml::Value>>,
    pub p999: Option<Spanned<toml::Value>>,
    pub max: Option<Spanned<toml::Value>>,
    pub mean: Option<Spanned<toml::Value>>,
    pub max_error_rate: Option<Spanned<toml::Value>>,
    pub min_cache_hit_rate: Option<Spanned<toml::Value>>,
    pub min_fallback_rate: Option<Spanned<toml::Value>>,
    pub max_fallback_rate: Option<Spanned<toml::Value>>,
    pub min_requests: Option<u64>,
    pub window: Option<Spanned<String>>,
    pub abort_on_fail: Option<Spanned<bool>>,
    pub abort_grace: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BreakerExpectFile {
    pub sequence: Option<Vec<Spanned<String>>>,
    pub repeat: Option<Spanned<u32>>,
    pub opens_after: Option<Spanned<toml::Value>>,
    pub opens_within: Option<Spanned<String>>,
    pub opens_from: Option<Spanned<String>>,
    pub half_open_after: Option<Spanned<String>>,
    pub tolerance: Option<Spanned<String>>,
    pub closes_within: Option<Spanned<String>>,
    pub rejects_while_open: Option<RejectsFile>,
    pub max_half_open_probes: Option<Spanned<u32>>,
    pub fallback_while_open: Option<bool>,
    pub closed_at_end: Option<bool>,
    pub channels_agree: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectsFile {
    pub allowed_probes: Option<u32>,
    pub max_latency: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileFile {
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub faults: Vec<FaultFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultFile {
    pub kind: Spanned<String>,
    pub probability: Option<Spanned<f64>>,
    pub path: Option<Spanned<String>>,
    pub start: Option<Spanned<String>>,
    pub duration: Option<Spanned<String>>,
    pub status: Option<Spanned<u16>>,
    pub body: Option<Spanned<String>>,
    pub delay: Option<Spanned<String>>,
    pub jitter: Option<Spanned<String>>,
}
