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
    pub max_vus: Option<Spanned<i64>>,
    pub start_vus: Option<Spanned<i64>>,
    pub stages: Option<Spanned<Vec<StageFile>>>,
    pub think_time: Option<Spanned<String>>,
    #[serde(default)]
    pub faults: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageFile {
    pub duration: Spanned<String>,
    pub target: Spanned<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ObserveFile {
    pub state_header: Option<Spanned<String>>,
    pub cache_header: Option<Spanned<String>>,
    pub cache_hit_values: Option<Vec<String>>,
    pub fallback_header: Option<Spanned<String>>,
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
    pub p50: Option<Spanned<String>>,
    pub p90: Option<Spanned<String>>,
    pub p95: Option<Spanned<String>>,
    pub p99: Option<Spanned<String>>,
    pub max_error_rate: Option<Spanned<f64>>,
    pub min_cache_hit_rate: Option<Spanned<f64>>,
    pub min_fallback_rate: Option<Spanned<f64>>,
    pub max_fallback_rate: Option<Spanned<f64>>,
    pub min_requests: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BreakerExpectFile {
    pub sequence: Option<Vec<Spanned<String>>>,
    pub opens_within: Option<Spanned<String>>,
    pub half_open_after: Option<Spanned<String>>,
    pub tolerance: Option<Spanned<String>>,
    pub fallback_while_open: Option<bool>,
    pub closed_at_end: Option<bool>,
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
