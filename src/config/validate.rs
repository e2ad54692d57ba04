//! Raw file → validated model, collecting every problem instead of stopping at the first.

use super::duration::parse_duration;
use super::raw;
use super::*;
use std::collections::HashSet;
use std::ops::Range;
use toml::Spanned;

/// Slowest arrival rate: one request every 1000 s.
const MIN_RATE: f64 = 0.001;
/// Fastest arrival rate; far beyond what one process can send, so only typos hit it.
const MAX_RATE: f64 = 1_000_000.0;
/// Most virtual users (or open-model workers) in one phase.
const MAX_VUS: i64 = 100_000;

/// Collects diagnostics against one file's text.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn new(file: &'a str, text: &'a str) -> Self {
        Checker {
            file,
            text,
            problems: Vec::new(),
        }
    }

    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.problems
            .push(Diagnostic::at(self.file, self.text, span, message));
    }

    /// Parses the whole file into `T`; a syntax or type error becomes one diagnostic.
    fn parse<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        match toml::from_str::<T>(self.text) {
            Ok(v) => Some(v),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                self.at(span, e.message().to_string());
                None
            }
        }
    }
}

pub(super) fn drill(
    file: &str,
    text: &str,
    profiles: &dyn ProfileSource,
) -> Result<Drill, ConfigError> {
    let mut c = Checker::new(file, text);
    let Some(raw) = c.parse::<raw::DrillFile>() else {
        return Err(ConfigError::Invalid(c.problems));
    };

    let dir_source;
    let profiles: &dyn ProfileSource = match &raw.profile_dir {
        Some(dir) => match profiles.with_dir(dir) {
            Ok(src) => {
                dir_source = src;
                dir_source.as_ref()
            }
            Err(why) => {
                c.problems.push(Diagnostic::whole_file(file, why));
                profiles
            }
        },
        None => profiles,
    };

    let name = raw.name.clone().unwrap_or_else(|| {
        std::path::Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "drill".into())
    });
    let target = raw.target.as_ref().and_then(|t| {
        check_base_url(t.get_ref())
            .map_err(|why| c.at(t.span(), why))
            .ok()
    });
    let request_timeout = match &raw.request_timeout {
        Some(t) => positive_duration(&mut c, t, "request_timeout"),
        None => Duration::from_secs(5),
    };
    let parts = parts(&mut c, &raw);
    let requests = requests(&mut c, &raw.requests);
    let phases = phases(&mut c, &raw.phases, profiles);
    if parts.proxy.is_none() {
        for p in raw.phases.iter().filter(|p| !p.faults.is_empty()) {
            c.at(
                p.faults[0].span(),
                format!("phase \"{}\" applies fault profiles but the proxy is not started ([parts] proxy = true)", p.name.get_ref()),
            );
        }
    }
    let observe = observe(&mut c, &raw.observe);
    let expect = expectations(&mut c, &raw.expect, &phases, &requests);

    if !c.problems.is_empty() {
        return Err(ConfigError::Invalid(c.problems));
    }
    Ok(Drill {
        name,
        description: raw.description.trim().to_string(),
        source: file.to_string(),
        target,
        seed: raw.seed.unwrap_or(1),
        request_timeout,
        parts,
        requests,
        phases,
        observe,
        expect,
    })
}

/// Checks a base URL (`http://host:port[/base]`) and returns it without a trailing slash.
/// https is not supported by the load engine yet.
pub fn check_base_url(url: &str) -> Result<String, String> {
    let parsed: http::Uri = url
        .parse()
        .map_err(|e| format!("target \"{url}\" is not a URL: {e}"))?;
    match parsed.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "target \"{url}\": https is not supported yet; use http"
            ))
        }
        _ => return Err(format!("target \"{url}\" must start with http://")),
    }
    if parsed.host().is_none() {
        return Err(format!("target \"{url}\" has no host"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Parses a duration, reporting a bad one at its position.
fn duration(c: &mut Checker, d: &Spanned<String>) -> Option<Duration> {
    parse_duration(d.get_ref())
        .map_err(|why| c.at(d.span(), why))
        .ok()
}

/// Parses an optional duration; absent or bad gives `None` (a bad one is reported).
fn opt_duration(c: &mut Checker, d: &Option<Spanned<String>>) -> Option<Duration> {
    d.as_ref().and_then(|d| duration(c, d))
}

/// Parses a duration that must be longer than zero; a bad one is reported and read as 1 s.
fn positive_duration(c: &mut Checker, d: &Spanned<String>, what: &str) -> Duration {
    match duration(c, d) {
        Some(v) if v.is_zero() => {
            c.at(d.span(), format!("{what} must be longer than zero"));
            Duration::from_secs(1)
        }
        Some(v) => v,
        None => Duration::from_secs(1),
    }
}

/// The executors a phase can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExecutorName {
    ConstantArrivalRate,
    RampingVus,
}

/// The fault kinds the proxy can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKindName {
    Status,
    Latency,
    Reset,
}

fn listen_addr(c: &mut Checker, listen: &Option<Spanned<String>>) -> SocketAddr {
    let default = SocketAddr::from(([127, 0, 0, 1], 0));
    match listen {
        None => default,
        Some(s) => s.get_ref().parse().unwrap_or_else(|_| {
            c.at(
                s.span(),
                format!(
                    "listen address \"{}\" is not IP:PORT (e.g. 127.0.0.1:9090)",
                    s.get_ref()
                ),
            );
            default
        }),
    }
}

fn parts(c: &mut Checker, raw: &raw::DrillFile) -> Parts {
    let stub = raw.parts.stub.then(|| StubSettings {
        listen: listen_addr(c, &raw.stub.listen),
        routes: raw.stub.routes.iter().map(|r| stub_route(c, r)).collect(),
    });
    let proxy = raw.parts.proxy.then(|| ProxySettings {
        listen: listen_addr(c, &raw.proxy.listen),
        upstream: raw.proxy.upstream.as_ref().and_then(|u| {
            check_base_url(u.get_ref())
                .map_err(|why| c.at(u.span(), why.replace("target", "upstream")))
                .ok()
        }),
    });
    if let Some(p) = &proxy {
        if p.upstream.is_none() && stub.is_none() && raw.proxy.upstream.is_none() {
            c.problems.push(Diagnostic::whole_file(
                c.file,
                "the proxy needs an upstream: set [proxy] upstream or start the stub ([parts] stub = true)",
            ));
        }
    }
    let demo = raw.parts.demo.then(|| demo(c, &raw.demo));
    if demo.is_some() && proxy.is_none() && stub.is_none() {
        c.problems.push(Diagnostic::whole_file(
            c.file,
            "the demo service needs an upstream: start the proxy or the stub in [parts]",
        ));
    }
    Parts { stub, proxy, demo }
}

fn stub_route(c: &mut Checker, r: &raw::StubRouteFile) -> StubRoute {
    let method = method(c, &r.method);
    if !r.path.get_ref().starts_with('/') {
        c.at(
            r.path.span(),
            format!("stub path \"{}\" must start with '/'", r.path.get_ref()),
        );
    }
    let status = r.status.as_ref().map(|s| status_code(c, s)).unwrap_or(200);
    StubRoute {
        method,
        path: r.path.get_ref().clone(),
        status,
        body: r.body.clone().unwrap_or_default(),
        content_type: r
            .content_type
            .clone()
            .unwrap_or_else(|| "application/json".into()),
        delay: opt_duration(c, &r.delay).unwrap_or_default(),
    }
}

fn status_code(c: &mut Checker, s: &Spanned<u16>) -> u16 {
    let code = *s.get_ref();
    if !(100..=599).contains(&code) {
        c.at(
            s.span(),
            format!("status {code} is not an HTTP status (100-599)"),
        );
    }
    code
}

fn method(c: &mut Checker, m: &Option<Spanned<String>>) -> http::Method {
    match m {
        None => http::Method::GET,
        Some(m) => http::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes())
            .unwrap_or_else(|_| {
                c.at(
                    m.span(),
                    format!("\"{}\" is not an HTTP method", m.get_ref()),
                );
                http::Method::GET
            }),
    }
}

fn demo(c: &mut Checker, d: &raw::DemoFile) -> DemoSettings {
    let failure_threshold = match &d.failure_threshold {
        Some(t) if *t.get_ref() == 0 => {
            c.at(t.span(), "failure_threshold must be at least 1");
            1
        }
        Some(t) => *t.get_ref(),
        None => 5,
    };
    let breaker = match &d.breaker {
        None => true,
        Some(b) => match b.get_ref().as_str() {
            "on" => true,
            "off" => false,
            other => {
                c.at(
                    b.span(),
                    format!("breaker must be \"on\" or \"off\", not \"{other}\""),
                );
                true
            }
        },
    };
    DemoSettings {
        listen: listen_addr(c, &d.listen),
        failure_threshold,
        open_duration: d
            .open_duration
            .as_ref()
            .map(|o| positive_duration(c, o, "open_duration"))
            .unwrap_or(Duration::from_secs(5)),
        cache_ttl: opt_duration(c, &d.cache_ttl).unwrap_or(Duration::from_secs(2)),
        upstream_timeout: d
            .upstream_timeout
            .as_ref()
            .map(|t| positive_duration(c, t, "upstream_timeout"))
            .unwrap_or(Duration::from_secs(1)),
        breaker,
    }
}

fn requests(c: &mut Checker, raw: &[raw::RequestFile]) -> Vec<RequestSpec> {
    if raw.is_empty() {
        c.problems.push(Diagnostic::whole_file(
            c.file,
            "no [[requests]]: a drill needs at least one request to send",
        ));
    }
    let mut names = HashSet::new();
    raw.iter()
        .map(|r| {
            if !names.insert(r.name.get_ref().clone()) {
                c.at(
                    r.name.span(),
                    format!("request name \"{}\" is used twice", r.name.get_ref()),
                );
            }
            let path = PathTemplate::parse(r.path.get_ref()).unwrap_or_else(|why| {
                c.at(r.path.span(), why);
                PathTemplate::root()
            });
            let weight = match &r.weight {
                Some(w) if *w.get_ref() == 0 => {
                    c.at(w.span(), "weight must be at least 1");
                    1
                }
                Some(w) => *w.get_ref(),
                None => 1,
            };
            RequestSpec {
                name: r.name.get_ref().clone(),
                method: method(c, &r.method),
                path,
                weight,
            }
        })
        .collect()
}

fn phases(c: &mut Checker, raw: &[raw::PhaseFile], profiles: &dyn ProfileSource) -> Vec<Phase> {
    if raw.is_empty() {
        c.problems.push(Diagnostic::whole_file(
            c.file,
            "no [[phases]]: a drill needs at least one phase",
        ));
    }
    let mut names = HashSet::new();
    raw.iter()
        .map(|p| {
            if !names.insert(p.name.get_ref().clone()) {
                c.at(
                    p.name.span(),
                    format!("phase name \"{}\" is used twice", p.name.get_ref()),
                );
            }
            let (load, duration) = load_shape(c, p);
            let faults = p
                .faults
                .iter()
                .filter_map(|name| match profiles.read(name.get_ref()) {
                    Ok((shown, text)) => match profile(name.get_ref(), &shown, &text) {
                        Ok(profile) => Some(profile),
                        Err(mut problems) => {
                            c.problems.append(&mut problems);
                            None
                        }
                    },
                    Err(why) => {
                        c.at(name.span(), why);
                        None
                    }
                })
                .collect();
            Phase {
                name: p.name.get_ref().clone(),
                duration,
                load,
                faults,
            }
        })
        .collect()
}

fn load_shape(c: &mut Checker, p: &raw::PhaseFile) -> (LoadShape, Duration) {
    let executor_span = p.executor.span();
    let not_for = |c: &mut Checker, span: Range<usize>, key: &str, executor: &str| {
        c.at(
            span,
            format!("`{key}` does not apply to the {executor} executor"),
        );
    };
    let executor = match p.executor.get_ref().as_str() {
        "constant-arrival-rate" => ExecutorName::ConstantArrivalRate,
        "ramping-vus" => ExecutorName::RampingVus,
        other => {
            c.at(
                executor_span,
                format!("unknown executor \"{other}\" (known: constant-arrival-rate, ramping-vus)"),
            );
            let duration = opt_duration(c, &p.duration).unwrap_or(Duration::from_secs(1));
            return (
                LoadShape::ConstantArrivalRate {
                    rate: 1.0,
                    max_vus: 1,
                },
                duration,
            );
        }
    };
    match executor {
        ExecutorName::ConstantArrivalRate => {
            let name = "constant-arrival-rate";
            if let Some(s) = &p.stages {
                not_for(c, s.span(), "stages", name);
            }
            if let Some(s) = &p.start_vus {
                not_for(c, s.span(), "start_vus", name);
            }
            let rate = match &p.rate {
                None => {
                    c.at(
                        executor_span.clone(),
                        "constant-arrival-rate needs `rate` (requests per second)",
                    );
                    1.0
                }
                Some(r) => {
                    let v = *r.get_ref();
                    if !(MIN_RATE..=MAX_RATE).contains(&v) {
                        c.at(
                            r.span(),
                            format!(
                                "rate must be between {MIN_RATE} and {MAX_RATE} requests per second, not {v:?}"
                            ),
                        );
                    }
                    v
                }
            };
            let duration = match &p.duration {
                None => {
                    c.at(executor_span, "constant-arrival-rate needs `duration`");
                    Duration::from_secs(1)
                }
                Some(d) => positive_duration(c, d, "duration"),
            };
            let max_vus = match &p.max_vus {
                None => 100,
                Some(m) if !(1..=MAX_VUS).contains(m.get_ref()) => {
                    c.at(m.span(), format!("max_vus must be between 1 and {MAX_VUS}"));
                    1
                }
                Some(m) => *m.get_ref() as usize,
            };
            (LoadShape::ConstantArrivalRate { rate, max_vus }, duration)
        }
        ExecutorName::RampingVus => {
            let name = "ramping-vus";
            if let Some(r) = &p.rate {
                not_for(c, r.span(), "rate", name);
            }
            if let Some(m) = &p.max_vus {
                not_for(c, m.span(), "max_vus", name);
            }
            let start_vus = match &p.start_vus {
                None => 0,
                Some(s) if !(0..=MAX_VUS).contains(s.get_ref()) => {
                    c.at(
                        s.span(),
                        format!("start_vus must be between 0 and {MAX_VUS}"),
                    );
                    0
                }
                Some(s) => *s.get_ref() as usize,
            };
            let stages: Vec<Stage> = match &p.stages {
                None => {
                    c.at(
                        executor_span.clone(),
                        "ramping-vus needs `stages`, e.g. [{ duration = \"10s\", target = 20 }]",
                    );
                    Vec::new()
                }
                Some(s) if s.get_ref().is_empty() => {
                    c.at(s.span(), "stages must not be empty");
                    Vec::new()
                }
                Some(s) => s
                    .get_ref()
                    .iter()
                    .map(|st| {
                        let target = *st.target.get_ref();
                        if !(0..=MAX_VUS).contains(&target) {
                            c.at(
                                st.target.span(),
                                format!("a stage target must be between 0 and {MAX_VUS}"),
                            );
                        }
                        Stage {
                            duration: positive_duration(c, &st.duration, "a stage duration"),
                            target: target.clamp(0, MAX_VUS) as usize,
                        }
                    })
                    .collect(),
            };
            let total: Duration = stages.iter().map(|s| s.duration).sum();
            if let Some(d) = &p.duration {
                if let Some(stated) = duration(c, d).filter(|stated| *stated != total) {
                    c.at(
                        d.span(),
                        format!(
                            "duration {} differs from the sum of the stages ({}); leave it out",
                            humantime::format_duration(stated),
                            humantime::format_duration(total)
                        ),
                    );
                }
            }
            if total > super::MAX_DURATION {
                c.at(executor_span, "the stages add up to more than a year");
            }
            let think_time = opt_duration(c, &p.think_time).unwrap_or_default();
            (
                LoadShape::RampingVus {
                    start_vus,
                    stages,
                    think_time,
                },
                total,
            )
        }
    }
}

/// Validates one fault-profile file.
pub(crate) fn profile(name: &str, file: &str, text: &str) -> Result<FaultProfile, Vec<Diagnostic>> {
    let mut c = Checker::new(file, text);
    let Some(raw) = c.parse::<raw::ProfileFile>() else {
        return Err(c.problems);
    };
    if raw.faults.is_empty() {
        c.problems.push(Diagnostic::whole_file(
            file,
            "the profile has no [[faults]]",
        ));
    }
    let faults = raw.faults.iter().map(|f| fault(&mut c, f)).collect();
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(FaultProfile {
        name: raw.name.unwrap_or_else(|| name.to_string()),
        description: raw.description.trim().to_string(),
        faults,
    })
}

fn fault(c: &mut Checker, f: &raw::FaultFile) -> Fault {
    let kind_name = f.kind.get_ref().as_str();
    let kind = match kind_name {
        "status" => FaultKindName::Status,
        "latency" => FaultKindName::Latency,
        "reset" => FaultKindName::Reset,
        other => {
            c.at(
                f.kind.span(),
                format!("unknown fault kind \"{other}\" (known: status, latency, reset)"),
            );
            FaultKindName::Reset
        }
    };
    let mut not_for = |span: Option<Range<usize>>, key: &str| {
        if let Some(span) = span {
            c.at(
                span,
                format!("`{key}` does not apply to a {kind_name} fault"),
            );
        }
    };
    match kind {
        FaultKindName::Status => {
            not_for(f.delay.as_ref().map(Spanned::span), "delay");
            not_for(f.jitter.as_ref().map(Spanned::span), "jitter");
        }
        FaultKindName::Latency => {
            not_for(f.status.as_ref().map(Spanned::span), "status");
            not_for(f.body.as_ref().map(Spanned::span), "body");
        }
        FaultKindName::Reset => {
            not_for(f.status.as_ref().map(Spanned::span), "status");
            not_for(f.body.as_ref().map(Spanned::span), "body");
            not_for(f.delay.as_ref().map(Spanned::span), "delay");
            not_for(f.jitter.as_ref().map(Spanned::span), "jitter");
        }
    }
    let action = match kind {
        FaultKindName::Status => {
            let code = match &f.status {
                Some(s) => status_code(c, s),
                None => {
                    c.at(f.kind.span(), "a status fault needs `status` (e.g. 500)");
                    500
                }
            };
            FaultAction::Status {
                code,
                body: f
                    .body
                    .as_ref()
                    .map(|b| b.get_ref().clone())
                    .unwrap_or_else(|| {
                        format!("{{\"error\":\"injected by breakerbox\",\"status\":{code}}}")
                    }),
            }
        }
        FaultKindName::Latency => {
            let delay = match &f.delay {
                Some(d) => positive_duration(c, d, "delay"),
                None => {
                    c.at(
                        f.kind.span(),
                        "a latency fault needs `delay` (e.g. \"200ms\")",
                    );
                    Duration::ZERO
                }
            };
            let jitter = f
                .jitter
                .as_ref()
                .and_then(|j| duration(c, j))
                .unwrap_or_default();
            if let Some(j) = &f.jitter {
                if jitter > delay {
                    c.at(j.span(), "jitter must not exceed delay");
                }
            }
            FaultAction::Latency { delay, jitter }
        }
        FaultKindName::Reset => FaultAction::Reset,
    };
    let probability = match &f.probability {
        None => 1.0,
        Some(p) => {
            let v = *p.get_ref();
            if !(0.0..=1.0).contains(&v) {
                c.at(
                    p.span(),
                    format!("probability must be between 0.0 and 1.0, not {v}"),
                );
            }
            v
        }
    };
    if let Some(p) = &f.path {
        if !p.get_ref().starts_with('/') {
            c.at(
                p.span(),
                format!("path \"{}\" must start with '/'", p.get_ref()),
            );
        }
    }
    Fault {
        action,
        probability,
        path_prefix: f.path.as_ref().map(|p| p.get_ref().clone()),
        start: opt_duration(c, &f.start).unwrap_or_default(),
        duration: f
            .duration
            .as_ref()
            .map(|d| positive_duration(c, d, "duration")),
    }
}

fn observe(c: &mut Checker, raw: &raw::ObserveFile) -> ObserveSettings {
    let d = ObserveSettings::default();
    let mut header = |given: &Option<Spanned<String>>, default: String| match given {
        None => default,
        Some(name) => {
            if http::HeaderName::from_bytes(name.get_ref().trim().as_bytes()).is_err() {
                c.at(
                    name.span(),
                    format!("\"{}\" is not a valid HTTP header name", name.get_ref()),
                );
            }
            name.get_ref().trim().to_string()
        }
    };
    ObserveSettings {
        state_header: header(&raw.state_header, d.state_header),
        cache_header: header(&raw.cache_header, d.cache_header),
        fallback_header: header(&raw.fallback_header, d.fallback_header),
        cache_hit_values: raw.cache_hit_values.clone().unwrap_or(d.cache_hit_values),
    }
}

fn expectations(
    c: &mut Checker,
    raw: &raw::ExpectFile,
    phases: &[Phase],
    requests: &[RequestSpec],
) -> Expectations {
    let mut thresholds = Vec::new();
    for t in &raw.thresholds {
        let phase = t.phase.as_ref().map(|p| {
            if !phases.iter().any(|ph| &ph.name == p.get_ref()) {
                c.at(p.span(), format!("no phase named \"{}\"", p.get_ref()));
            }
            p.get_ref().clone()
        });
        let request = t.request.as_ref().map(|r| {
            if !requests.iter().any(|rq| &rq.name == r.get_ref()) {
                c.at(r.span(), format!("no request named \"{}\"", r.get_ref()));
            }
            r.get_ref().clone()
        });
        let mut bounds = Vec::new();
        for (quantile, limit) in [
            (0.50, &t.p50),
            (0.90, &t.p90),
            (0.95, &t.p95),
            (0.99, &t.p99),
        ] {
            if let Some(limit) = opt_duration(c, limit) {
                bounds.push(Bound::LatencyAtMost { quantile, limit });
            }
        }
        let mut rate = |r: &Option<Spanned<f64>>, make: fn(f64) -> Bound| {
            if let Some(r) = r {
                let v = *r.get_ref();
                if !(0.0..=1.0).contains(&v) {
                    c.at(
                        r.span(),
                        format!("a rate is a fraction between 0.0 and 1.0, not {v}"),
                    );
                }
                bounds.push(make(v));
            }
        };
        rate(&t.max_error_rate, Bound::MaxErrorRate);
        rate(&t.min_cache_hit_rate, Bound::MinCacheHitRate);
        rate(&t.min_fallback_rate, Bound::MinFallbackRate);
        rate(&t.max_fallback_rate, Bound::MaxFallbackRate);
        if bounds.is_empty() {
            let span = t.phase.as_ref().map(Spanned::span).unwrap_or(0..0);
            c.at(
                span,
                "this threshold sets no bound (p95, max_error_rate, min_cache_hit_rate, …)",
            );
        }
        thresholds.extend(bounds.into_iter().map(|bound| Threshold {
            phase: phase.clone(),
            request: request.clone(),
            bound,
            min_requests: t.min_requests.unwrap_or(1),
        }));
    }
    let breaker = raw.breaker.as_ref().map(|b| BreakerExpectations {
        sequence: b
            .sequence
            .iter()
            .flatten()
            .filter_map(|s| {
                let state = BreakerState::parse_lenient(s.get_ref());
                if state.is_none() {
                    c.at(
                        s.span(),
                        format!(
                            "\"{}\" is not a breaker state (closed, open, half_open)",
                            s.get_ref()
                        ),
                    );
                }
                state
            })
            .collect(),
        opens_within: opt_duration(c, &b.opens_within),
        half_open_after: opt_duration(c, &b.half_open_after),
        tolerance: opt_duration(c, &b.tolerance).unwrap_or(Duration::from_secs(1)),
        fallback_while_open: b.fallback_while_open.unwrap_or(false),
        closed_at_end: b.closed_at_end.unwrap_or(false),
    });
    Expectations {
        thresholds,
        breaker,
    }
}
