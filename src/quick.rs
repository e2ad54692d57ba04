//! Quick mode: `breakerbox load URL` runs one phase at a URL with no drill file, for smoke
//! checks and side-by-side comparisons with wrk, oha or k6.
//!
//! The phase is built from the same [`Drill`] and [`Plan`](crate::plan::Plan) types a drill
//! file becomes, and runs through [`PreparedDrill`], so it exercises exactly the engine a
//! drill does: `-c N` is a `ramping-vus` phase of N virtual users with no think time (the
//! closed model, what wrk and oha measure), `--rate R` a `constant-arrival-rate` phase (the
//! open model: latency from each request's intended start), and `--vus N --think MIN-MAX`
//! virtual users pausing between requests, their start spread over the longest pause.

use crate::config::guard::Permission;
use crate::config::template::Names;
use crate::config::{
    self, BodySpec, Drill, Expectations, HeaderSpec, LoadShape, ObserveSettings, OpenPool, Parts,
    Phase, RequestSpec, Stage, Template, ThinkTime,
};
use crate::drill::{DrillError, PreparedDrill, Stop};
use crate::plan::Overrides;
use crate::report::{GroupSummary, RunResult};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;
use std::time::Duration;

/// Most connections or virtual users quick mode starts (as a drill's phase allows).
pub const MAX_VUS: usize = 100_000;

/// How quick mode makes load.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// Closed model: this many connections, each sending its next request as soon as the
    /// last one is answered.
    Connections(usize),
    /// Open model: requests start at this rate whatever the latency, with at most
    /// `max_in_flight` at once (one connection each); one due when all are busy is dropped.
    Rate {
        /// Requests started per second.
        rate: f64,
        /// Most requests in flight.
        max_in_flight: usize,
    },
    /// Closed model with think time: this many virtual users, each pausing between requests.
    Users {
        /// Virtual users.
        vus: usize,
        /// The pause after each response.
        think: ThinkTime,
    },
}

/// Everything `breakerbox load` was asked to do, checked.
#[derive(Debug, Clone)]
pub struct QuickOptions {
    /// The URL to load: `http[s]://host[:port]/path?query`; `{{random_int a b}}` placeholders
    /// in the path are drawn per request.
    pub url: String,
    /// The load model.
    pub model: Model,
    /// How long to send load.
    pub duration: Duration,
    /// The method.
    pub method: Method,
    /// Headers sent with every request.
    pub headers: HeaderMap,
    /// The body sent with every request.
    pub body: Bytes,
    /// Upper bound on one request; a timeout counts as an error.
    pub timeout: Duration,
    /// Accept any certificate an `https://` target presents.
    pub insecure: bool,
    /// What the command line allows beyond loopback and private networks.
    pub permission: Permission,
}

/// Parses `Name: value` (as curl's and wrk's `-H` take it).
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("header \"{text}\" must be written as 'Name: value'"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
        format!(
            "header name \"{}\" is not a valid HTTP header name",
            name.trim()
        )
    })?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("header {name}: the value is not valid in an HTTP header"))?;
    Ok((name, value))
}

/// Parses a think time: `MIN-MAX` (`1s-5s`, uniform between them) or one duration (`2s`).
pub fn parse_think(text: &str) -> Result<ThinkTime, String> {
    let parse = |part: &str| config::parse_duration(part.trim());
    match text.split_once('-') {
        Some((low, high)) => {
            let (min, max) = (parse(low)?, parse(high)?);
            if min > max {
                return Err(format!(
                    "think time \"{text}\": the shortest pause is longer than the longest"
                ));
            }
            Ok(ThinkTime::Uniform { min, max })
        }
        None => Ok(ThinkTime::Constant(parse(text)?)),
    }
}

/// Parses a positive request rate per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("rate \"{text}\" is not a number of requests per second"))?;
    if !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0) {
        return Err(format!(
            "rate {text} must be above 0 and at most 1,000,000 requests per second"
        ));
    }
    Ok(rate)
}

/// Load threads by default on a machine of `cores` cores: for a loopback target (the
/// server shares this machine) half of them, at least one; for any other target all of them.
pub fn default_threads(url: &str, cores: usize) -> usize {
    let host = split_url(url).0.parse::<http::Uri>().ok().and_then(|u| {
        u.host()
            .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
    });
    let loopback = host.is_some_and(|h| {
        h == "localhost"
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if loopback {
        (cores / 2).max(1)
    } else {
        cores.max(1)
    }
}

/// The default cap on requests in flight at `rate`: one second's worth (a 1 s stall does
/// not drop requests), between 100 and 10,000.
pub fn default_max_in_flight(rate: f64) -> usize {
    (rate.ceil() as usize).clamp(100, 10_000)
}

impl QuickOptions {
    /// The one request quick mode sends: fixed method, headers and body on `path`.
    fn request(&self, path: Template) -> RequestSpec {
        let mut request = RequestSpec::get("load", path);
        request.method = self.method.clone();
        request.headers = self
            .headers
            .iter()
            .map(|(name, value)| HeaderSpec {
                name: name.clone(),
                value: Template::literal(&String::from_utf8_lossy(value.as_bytes())),
                fixed: Some(value.clone()),
            })
            .collect();
        if !self.body.is_empty() {
            request.body = Some(BodySpec {
                template: Template::literal(&String::from_utf8_lossy(&self.body)),
                fixed: Some(self.body.clone()),
                content_type: None,
            });
        }
        request
    }

    /// The one-phase drill these options describe; the error is a one-line usage message.
    pub fn drill(&self) -> Result<Drill, String> {
        // The path may hold placeholders (`{{random_int 1 9}}`), which are not URL
        // characters: the origin is checked as a URL, the rest as a path template.
        let (origin, path) = split_url(&self.url);
        let origin = config::check_target_url(origin)
            .map_err(|why| why.replace("target", "URL").replace(origin, &self.url))?;
        let path = Template::parse_path(&path, &Names::EMPTY)
            .map_err(|e| format!("URL path: {}", e.message))?;
        if self.duration.is_zero() {
            return Err("the duration must be longer than zero".into());
        }
        let load = match &self.model {
            Model::Connections(n) => {
                check_count(*n, "connections")?;
                LoadShape::ConstantVus {
                    vus: *n,
                    think_time: ThinkTime::NONE,
                }
            }
            Model::Users { vus, think } => {
                check_count(*vus, "virtual users")?;
                // Start the users over one longest pause (at most a quarter of the run), as
                // they would be spread in a steady state: all at once would connect
                // thousands of sockets in the same millisecond and measure that.
                let ramp = think.longest().min(self.duration / 4);
                let hold = Stage {
                    duration: self.duration - ramp,
                    target: *vus,
                };
                let stages = if ramp.is_zero() {
                    vec![hold]
                } else {
                    vec![
                        Stage {
                            duration: ramp,
                            target: *vus,
                        },
                        hold,
                    ]
                };
                LoadShape::RampingVus {
                    start_vus: if ramp.is_zero() { *vus } else { 0 },
                    stages,
                    think_time: *think,
                    graceful_ramp_down: self.timeout,
                }
            }
            Model::Rate {
                rate,
                max_in_flight,
            } => {
                check_count(*max_in_flight, "requests in flight")?;
                LoadShape::ConstantArrivalRate {
                    rate: *rate,
                    pool: OpenPool {
                        pre_allocated_vus: ((rate * 0.05).ceil() as usize).clamp(1, *max_in_flight),
                        max_vus: *max_in_flight,
                    },
                }
            }
        };
        Ok(Drill {
            name: "load".into(),
            description: String::new(),
            source: "breakerbox load".into(),
            target: Some(origin),
            allow_targets: Vec::new(),
            seed: 1,
            request_timeout: self.timeout,
            insecure: self.insecure,
            parts: Parts::default(),
            requests: vec![self.request(path)],
            phases: vec![Phase {
                name: "load".into(),
                duration: self.duration,
                load,
                faults: Vec::new(),
                // In-flight requests at the end finish within the request timeout.
                graceful_stop: self.timeout,
            }],
            // Nothing to observe: no breaker, cache or fallback markers are read.
            observe: ObserveSettings {
                state_header: String::new(),
                cache_header: String::new(),
                fallback_header: String::new(),
                ..ObserveSettings::default()
            },
            expect: Expectations::default(),
            preflight: None,
            journey: Default::default(),
        })
    }

    /// Whether latency is measured from the intended start (the open model).
    pub fn is_open(&self) -> bool {
        matches!(self.model, Model::Rate { .. })
    }
}

/// `scheme://authority` and `/path?query` of a URL as written (`/` when it has no path).
fn split_url(url: &str) -> (&str, String) {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    let origin_end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |at| after_scheme + at);
    let (origin, rest) = url.split_at(origin_end);
    let path = if rest.starts_with('/') {
        rest.to_string()
    } else {
        format!("/{rest}")
    };
    (origin, path)
}

fn check_count(n: usize, what: &str) -> Result<(), String> {
    if n == 0 || n > MAX_VUS {
        return Err(format!("{what} must be between 1 and {MAX_VUS}, not {n}"));
    }
    Ok(())
}

/// Runs the load `options` describe until its duration ends or `stop` is asked for.
pub async fn run(
    options: &QuickOptions,
    drill: Drill,
    stop: Stop,
) -> Result<QuickReport, DrillError> {
    let overrides = Overrides {
        permission: options.permission,
        insecure: options.insecure,
        ..Overrides::default()
    };
    let prepared = PreparedDrill::prepare(drill, &overrides).await?;
    let result = prepared.execute(stop).await;
    Ok(QuickReport::new(options, &result))
}

/// What quick mode prints: with `--json`, this object on one line.
#[derive(Debug, Clone, Serialize)]
pub struct QuickReport {
    /// The URL loaded (any password masked).
    pub url: String,
    /// `closed` (connections or virtual users) or `open` (arrival rate).
    pub model: &'static str,
    /// Connections or virtual users (closed model); the cap on requests in flight (open).
    pub concurrency: usize,
    /// The requested arrival rate (open model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
    /// Seconds the load ran.
    pub duration_s: f64,
    /// Requests finished per second.
    pub rps: f64,
    /// Requests finished (responses and failures).
    pub requests: u64,
    /// Failed requests and 5xx responses.
    pub errors: u64,
    /// Latency percentiles and maximum, in milliseconds: from the intended start in the open
    /// model, from the send in the closed model.
    pub p50_ms: f64,
    /// 90th percentile latency.
    pub p90_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Longest latency.
    pub max_ms: f64,
    /// Mean latency.
    pub mean_ms: f64,
    /// Service time (from the actual send) in the open model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_p50_ms: Option<f64>,
    /// 90th percentile service time (open model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_p90_ms: Option<f64>,
    /// 99th percentile service time (open model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_p99_ms: Option<f64>,
    /// Longest service time (open model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_max_ms: Option<f64>,
    /// Closed model with `--think`: p99 corrected for coordinated omission (a slow response
    /// also counts the requests its user would have started meanwhile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrected_p99_ms: Option<f64>,
    /// Requests that were due but could not start (open model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// Responses by status.
    pub statuses: std::collections::BTreeMap<u16, u64>,
    /// Failures by kind (connect_refused, tls, timeout, reset, …).
    pub failures: std::collections::BTreeMap<String, u64>,
    /// Why the run stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl QuickReport {
    /// The report of `result`, a run of `options`.
    pub fn new(options: &QuickOptions, result: &RunResult) -> QuickReport {
        let phase = result.phases.first();
        let all = phase.map_or(&result.total, |p| &p.all);
        let open = options.is_open();
        let service = |v: f64| open.then_some(v);
        let (concurrency, target_rate) = match &options.model {
            Model::Connections(n) => (*n, None),
            Model::Users { vus, .. } => (*vus, None),
            Model::Rate {
                rate,
                max_in_flight,
            } => (*max_in_flight, Some(*rate)),
        };
        let GroupSummary {
            latency_ms: l,
            service_ms: s,
            ..
        } = all;
        QuickReport {
            url: config::guard::mask_credentials(&options.url),
            model: if open { "open" } else { "closed" },
            concurrency,
            target_rate,
            duration_s: phase.map_or(result.duration_s, |p| p.duration_s),
            rps: phase.map_or(0.0, |p| p.rps),
            requests: all.requests,
            errors: all.errors,
            p50_ms: l.p50,
            p90_ms: l.p90,
            p99_ms: l.p99,
            max_ms: l.max,
            mean_ms: l.mean,
            service_p50_ms: service(s.p50),
            service_p90_ms: service(s.p90),
            service_p99_ms: service(s.p99),
            service_max_ms: service(s.max),
            corrected_p99_ms: all.corrected_latency_ms.as_ref().map(|c| c.p99),
            dropped: open.then(|| phase.map_or(0, |p| p.dropped)),
            statuses: all.statuses.clone(),
            failures: all.failures.clone(),
            stopped: result.abort_reason.clone(),
        }
    }

    /// The report as a person reads it.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let load = match (self.model, self.target_rate) {
            ("open", Some(rate)) => format!(
                "{rate} requests/s (open model, at most {} in flight)",
                self.concurrency
            ),
            _ => format!("{} connections (closed model)", self.concurrency),
        };
        let _ = writeln!(out, "{} — {load}, {:.1} s", self.url, self.duration_s);
        let error_pct = if self.requests == 0 {
            0.0
        } else {
            100.0 * self.errors as f64 / self.requests as f64
        };
        let _ = writeln!(
            out,
            "  requests  {}  ({:.1} req/s)   errors {} ({error_pct:.2} %){}",
            self.requests,
            self.rps,
            self.errors,
            self.dropped
                .map(|d| format!("   dropped {d}"))
                .unwrap_or_default()
        );
        let what = if self.model == "open" {
            "latency from the intended start"
        } else {
            "latency"
        };
        let _ = writeln!(
            out,
            "  {what} (ms): p50 {}  p90 {}  p99 {}  max {}  mean {}",
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms, self.mean_ms
        );
        if let Some(p99) = self.corrected_p99_ms {
            let _ = writeln!(
                out,
                "  corrected for coordinated omission (ms): p99 {p99}  (the users' think-time schedule)"
            );
        }
        if let (Some(p50), Some(p90), Some(p99), Some(max)) = (
            self.service_p50_ms,
            self.service_p90_ms,
            self.service_p99_ms,
            self.service_max_ms,
        ) {
            let _ = writeln!(
                out,
                "  service time from the send (ms): p50 {p50}  p90 {p90}  p99 {p99}  max {max}"
            );
        }
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s} ×{n}"))
            .chain(self.failures.iter().map(|(k, n)| format!("{k} ×{n}")))
            .collect();
        if !statuses.is_empty() {
            let _ = writeln!(out, "  outcomes  {}", statuses.join(", "));
        }
        if self.model == "closed" {
            let _ = writeln!(
                out,
                "  note: closed-model latency hides stalls (a stalled server also stalls the \
                 load); use --rate for latency from the intended start"
            );
        }
        if let Some(why) = &self.stopped {
            let _ = writeln!(out, "  stopped early: {why}");
        }
        out
    }
}

#[cfg(test)]
mod tests;
