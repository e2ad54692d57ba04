//! The drill and fault-profile files exactly as written, before validation.
//!
//! Every table denies unknown keys. Values that validation may reject later are kept
//! `Spanned` so the error can point at them; durations, executors and fault kinds stay
//! strings here and are parsed by the checker, so one bad value does not hide the others.
//! No internally tagged enums or `flatten`: they would cost toml its error positions.

use serde::Deserialize;
use std::collections::BTreeMap;
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
    pub insecure: Option<bool>,
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
    pub users: Vec<UserFile>,
    #[serde(default)]
    pub setup: Vec<RequestFile>,
    #[serde(default)]
    pub teardown: Vec<RequestFile>,
    #[serde(default)]
    pub data: BTreeMap<String, DataFile>,
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
    pub upstream_timeout: Option<Spanned<String>>,
    pub admin: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub upstream_ca: Option<Spanned<String>>,
    pub upstream_insecure: Option<Spanned<bool>>,
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
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
    pub query: Option<BTreeMap<String, Spanned<toml::Value>>>,
    pub headers: Option<BTreeMap<String, Spanned<String>>>,
    pub body: Option<Spanned<String>>,
    pub json: Option<Spanned<toml::Value>>,
    pub form: Option<BTreeMap<String, Spanned<toml::Value>>>,
    pub tags: Option<Vec<Spanned<String>>>,
    pub timeout: Option<Spanned<String>>,
    pub follow_redirects: Option<bool>,
    pub capture: Option<BTreeMap<String, Spanned<CaptureFile>>>,
    pub check: Option<CheckFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaptureFile {
    pub json: Option<Spanned<String>>,
    pub header: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckFile {
    pub status: Option<Spanned<toml::Value>>,
    pub body_contains: Option<Spanned<String>>,
    pub body_pointer: Option<Spanned<String>>,
    pub body_equals: Option<Spanned<toml::Value>>,
    pub max_duration: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataFile {
    pub file: Spanned<String>,
    pub mode: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserFile {
    pub name: Spanned<String>,
    pub weight: Option<Spanned<u32>>,
    pub on_start: Option<Vec<Spanned<String>>>,
    pub flow: Option<Spanned<Vec<Spanned<String>>>>,
    pub tasks: Option<Spanned<Vec<Spanned<TaskEntry>>>>,
    pub think_time: Option<Spanned<ThinkFile>>,
}

/// One entry of a user type's weighted task set: a request name (weighted by the
/// request's own `weight`), or `{ request = "name", weight = N }`.
#[derive(Debug)]
pub(crate) struct TaskEntry {
    pub request: String,
    pub weight: Option<Spanned<u32>>,
}

impl<'de> Deserialize<'de> for TaskEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TaskEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a request name or { request = \"name\", weight = N }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TaskEntry, E> {
                Ok(TaskEntry {
                    request: v.to_string(),
                    weight: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TaskEntry, A::Error> {
                let mut request = None;
                let mut weight = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "request" => request = Some(map.next_value::<String>()?),
                        "weight" => weight = Some(map.next_value::<Spanned<u32>>()?),
                        other => {
                            return Err(serde::de::Error::unknown_field(
                                other,
                                &["request", "weight"],
                            ))
                        }
                    }
                }
                Ok(TaskEntry {
                    request: request.ok_or_else(|| serde::de::Error::missing_field("request"))?,
                    weight,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A think time as written: `"1s"`, `{ min = "1s", max = "5s" }` or `{ pacing = "5s" }`.
#[derive(Debug)]
pub(crate) enum ThinkFile {
    Constant(String),
    Uniform {
        min: Spanned<String>,
        max: Spanned<String>,
    },
    Pacing(Spanned<String>),
}

impl<'de> Deserialize<'de> for ThinkFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ThinkFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as \"1s\", { min = \"1s\", max = \"5s\" } or { pacing = \"5s\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ThinkFile, E> {
                Ok(ThinkFile::Constant(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ThinkFile, A::Error> {
                let (mut min, mut max, mut pacing) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "min" => &mut min,
                        "max" => &mut max,
                        "pacing" => &mut pacing,
                        other => {
                            return Err(serde::de::Error::unknown_field(
                                other,
                                &["min", "max", "pacing"],
                            ))
                        }
                    };
                    *slot = Some(map.next_value::<Spanned<String>>()?);
                }
                use serde::de::Error;
                match (min, max, pacing) {
                    (Some(min), Some(max), None) => Ok(ThinkFile::Uniform { min, max }),
                    (None, None, Some(p)) => Ok(ThinkFile::Pacing(p)),
                    (None, None, None) => Err(A::Error::custom(
                        "an empty think_time: give { min, max } or { pacing }",
                    )),
                    (_, _, Some(_)) => Err(A::Error::custom(
                        "think_time takes { min, max } or { pacing }, not both",
                    )),
                    _ => Err(A::Error::custom("think_time needs both min and max")),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
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
    pub think_time: Option<Spanned<ThinkFile>>,
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
    pub user: Option<Spanned<String>>,
    pub tag: Option<Spanned<String>>,
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
    pub min_check_rate: Option<Spanned<toml::Value>>,
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

/// One `[[faults]]` entry: every key with its span, so the common keys are read here and
/// the rest by the fault kind that owns them (see `fault::kind`).
pub(crate) type FaultFile =
    Spanned<std::collections::BTreeMap<Spanned<String>, Spanned<toml::Value>>>;
