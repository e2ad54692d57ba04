//! Expectations: thresholds (with tiers, windows and aborts) and breaker criteria.

use super::{duration, opt_duration, Checker};
use crate::config::raw;
use crate::config::*;
use toml::Spanned;

pub(super) fn expectations(
    c: &mut Checker,
    raw: &raw::ExpectFile,
    phases: &[Phase],
    requests: &[RequestSpec],
    journey: &Journey,
) -> Expectations {
    let mut thresholds = Vec::new();
    for t in &raw.thresholds {
        thresholds.extend(threshold(c, t, phases, requests, journey));
    }
    let breaker = raw.breaker.as_ref().map(|b| breaker(c, b, phases));
    Expectations {
        thresholds,
        breaker,
    }
}

fn threshold(
    c: &mut Checker,
    t: &raw::ThresholdFile,
    phases: &[Phase],
    requests: &[RequestSpec],
    journey: &Journey,
) -> Vec<Threshold> {
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
    let user = t.user.as_ref().map(|u| {
        let users = journey.user_types(requests);
        if !users.iter().any(|ut| &ut.name == u.get_ref()) {
            let known: Vec<&str> = users.iter().map(|ut| ut.name.as_str()).collect();
            c.at(
                u.span(),
                format!(
                    "no user type named \"{}\" (user types: {})",
                    u.get_ref(),
                    known.join(", ")
                ),
            );
        }
        u.get_ref().clone()
    });
    let tag = t.tag.as_ref().map(|g| {
        if !requests.iter().any(|rq| rq.tags.contains(g.get_ref())) {
            c.at(
                g.span(),
                format!("no request carries the tag \"{}\"", g.get_ref()),
            );
        }
        g.get_ref().clone()
    });
    let window = opt_duration(c, &t.window);
    if let (Some(w), Some(span)) = (window, t.window.as_ref().map(Spanned::span)) {
        if w < Duration::from_secs(1) {
            c.at(
                span.clone(),
                "window must be at least 1s (rates are counted per second)",
            );
        }
        if request.is_some() || user.is_some() || tag.is_some() {
            c.at(
                span,
                "window applies to whole phases or runs, not to one request group, user type or tag",
            );
        }
    }
    let abort = match &t.abort_on_fail {
        Some(on) if *on.get_ref() && (user.is_some() || tag.is_some()) => {
            c.at(
                on.span(),
                "abort_on_fail judges whole phases or runs, not one user type or tag",
            );
            None
        }
        Some(on) if *on.get_ref() => Some(AbortRule {
            grace: opt_duration(c, &t.abort_grace).unwrap_or_default(),
        }),
        _ => None,
    };

    let mut found: Vec<(Metric, Limits, std::ops::Range<usize>)> = Vec::new();
    let mut any_bound = false;
    let latency = [
        (&t.p50, LatencyStat::Quantile(0.50)),
        (&t.p90, LatencyStat::Quantile(0.90)),
        (&t.p95, LatencyStat::Quantile(0.95)),
        (&t.p99, LatencyStat::Quantile(0.99)),
        (&t.p999, LatencyStat::Quantile(0.999)),
        (&t.max, LatencyStat::Max),
        (&t.mean, LatencyStat::Mean),
    ];
    for (value, stat) in latency {
        if let Some(v) = value {
            any_bound = true;
            let metric = Metric::Latency(stat);
            if let Some(limits) = limits(c, v, metric) {
                found.push((metric, limits, v.span()));
            }
        }
    }
    let rates = [
        (&t.max_error_rate, Metric::ErrorRate),
        (&t.min_cache_hit_rate, Metric::MinCacheHitRate),
        (&t.min_fallback_rate, Metric::MinFallbackRate),
        (&t.max_fallback_rate, Metric::MaxFallbackRate),
        (&t.min_check_rate, Metric::MinCheckRate),
    ];
    for (value, metric) in rates {
        if let Some(v) = value {
            any_bound = true;
            if let Some(limits) = limits(c, v, metric) {
                found.push((metric, limits, v.span()));
            }
        }
    }
    if !any_bound {
        let span = t.phase.as_ref().map(Spanned::span).unwrap_or(0..0);
        c.at(
            span,
            "this threshold sets no bound (p95, max_error_rate, min_cache_hit_rate, …)",
        );
    }
    for (metric, _, span) in &found {
        if *metric == Metric::MinCheckRate {
            if window.is_some() || abort.is_some() {
                c.at(
                    span.clone(),
                    "window and abort_on_fail work with error, cache-hit and fallback rates, not the check rate: split this threshold",
                );
            }
            if !requests
                .iter()
                .chain(&journey.setup)
                .any(|r| !r.checks.is_empty())
            {
                c.at(
                    span.clone(),
                    "min_check_rate: no request has a [requests.check]",
                );
            }
            continue;
        }
        if metric.is_rate() {
            continue;
        }
        if window.is_some() {
            c.at(
                span.clone(),
                "window works with rates (error, cache-hit, fallback), not latency: split this threshold",
            );
        }
        if abort.is_some() {
            c.at(
                span.clone(),
                "abort_on_fail works with rates (error, cache-hit, fallback), not latency: split this threshold",
            );
        }
    }
    found
        .into_iter()
        .map(|(metric, limits, _)| Threshold {
            phase: phase.clone(),
            request: request.clone(),
            user: user.clone(),
            tag: tag.clone(),
            metric,
            limits,
            min_requests: t.min_requests.unwrap_or(1),
            window,
            abort,
        })
        .collect()
}

/// Reads one limit value: a duration or a fraction as the metric needs.
fn limit_value(
    c: &mut Checker,
    v: &toml::Value,
    span: std::ops::Range<usize>,
    metric: Metric,
) -> Option<f64> {
    match (metric.is_rate(), v) {
        (false, toml::Value::String(s)) => match parse_duration(s) {
            Ok(d) => Some(d.as_secs_f64()),
            Err(why) => {
                c.at(span, why);
                None
            }
        },
        (false, other) => {
            c.at(
                span,
                format!(
                    "a latency bound is a duration such as \"200ms\", not {}",
                    other.type_str()
                ),
            );
            None
        }
        (true, v) => {
            let r = match v {
                toml::Value::Float(f) => *f,
                toml::Value::Integer(i) => *i as f64,
                other => {
                    c.at(
                        span,
                        format!(
                            "a rate is a number between 0.0 and 1.0, not {}",
                            other.type_str()
                        ),
                    );
                    return None;
                }
            };
            if !(0.0..=1.0).contains(&r) {
                c.at(
                    span,
                    format!("a rate is a fraction between 0.0 and 1.0, not {r}"),
                );
                return None;
            }
            Some(r)
        }
    }
}

/// Reads a plain limit, or a `{ target, acceptable | failure }` table of tiers.
fn limits(c: &mut Checker, v: &Spanned<toml::Value>, metric: Metric) -> Option<Limits> {
    let span = v.span();
    let toml::Value::Table(table) = v.get_ref() else {
        return limit_value(c, v.get_ref(), span, metric).map(|fail| Limits {
            target: None,
            fail,
            fail_inclusive: false,
        });
    };
    if let Some(key) = table
        .keys()
        .find(|k| !["target", "acceptable", "failure"].contains(&k.as_str()))
    {
        c.at(
            span,
            format!("unknown tier \"{key}\": use target, and acceptable or failure"),
        );
        return None;
    }
    let mut read = |key: &str| {
        table
            .get(key)
            .and_then(|v| limit_value(c, v, span.clone(), metric))
    };
    let (target, acceptable, failure) = (read("target"), read("acceptable"), read("failure"));
    let (fail, fail_inclusive) = match (acceptable, failure) {
        (Some(_), Some(_)) => {
            c.at(
                span,
                "give acceptable (fails past it) or failure (fails from it), not both",
            );
            return None;
        }
        (Some(a), None) => (a, false),
        (None, Some(f)) => (f, true),
        (None, None) => match target {
            Some(t) => (t, false),
            None => {
                c.at(
                    span,
                    "a tiered bound needs target, and acceptable or failure",
                );
                return None;
            }
        },
    };
    if let Some(t) = target {
        let ordered = if metric.higher_is_worse() {
            t <= fail
        } else {
            t >= fail
        };
        if !ordered {
            c.at(
                span,
                "target must be stricter than acceptable/failure (it is the value a team aims for)",
            );
            return None;
        }
    }
    Some(Limits {
        target: target.filter(|t| *t != fail || !fail_inclusive),
        fail,
        fail_inclusive,
    })
}

fn breaker(c: &mut Checker, b: &raw::BreakerExpectFile, phases: &[Phase]) -> BreakerExpectations {
    let sequence = b
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
        .collect::<Vec<_>>();
    let repeat = match &b.repeat {
        Some(r) if *r.get_ref() == 0 || *r.get_ref() > 1000 => {
            c.at(r.span(), "repeat must be between 1 and 1000");
            1
        }
        Some(r) if sequence.is_empty() => {
            c.at(r.span(), "repeat needs a sequence to repeat");
            1
        }
        Some(r) => *r.get_ref(),
        None => 1,
    };
    let opens_after = b.opens_after.as_ref().and_then(|v| count_range(c, v));
    let opens_from = b.opens_from.as_ref().map(|f| {
        let used = phases
            .iter()
            .any(|p| p.faults.iter().any(|prof| &prof.name == f.get_ref()));
        if !used {
            c.at(
                f.span(),
                format!("no phase applies a fault profile named \"{}\"", f.get_ref()),
            );
        }
        f.get_ref().clone()
    });
    if opens_from.is_some() && b.opens_within.is_none() {
        if let Some(f) = &b.opens_from {
            c.at(f.span(), "opens_from needs opens_within");
        }
    }
    let rejects_while_open = b.rejects_while_open.as_ref().map(|r| RejectsWhileOpen {
        allowed_probes: u64::from(r.allowed_probes.unwrap_or(1)),
        max_latency: opt_duration(c, &r.max_latency),
    });
    BreakerExpectations {
        sequence,
        repeat,
        opens_after,
        opens_within: opt_duration(c, &b.opens_within),
        opens_from,
        half_open_after: opt_duration(c, &b.half_open_after),
        tolerance: opt_duration(c, &b.tolerance).unwrap_or(Duration::from_secs(1)),
        closes_within: b.closes_within.as_ref().and_then(|d| duration(c, d)),
        rejects_while_open,
        max_half_open_probes: b
            .max_half_open_probes
            .as_ref()
            .map(|n| u64::from(*n.get_ref())),
        fallback_while_open: b.fallback_while_open.unwrap_or(false),
        closed_at_end: b.closed_at_end.unwrap_or(false),
        channels_agree: b.channels_agree,
    }
}

/// `5` or `[5, 6]`.
fn count_range(c: &mut Checker, v: &Spanned<toml::Value>) -> Option<CountRange> {
    let count = |v: &toml::Value| match v {
        toml::Value::Integer(i) if *i >= 1 => Some(*i as u64),
        _ => None,
    };
    let range = match v.get_ref() {
        toml::Value::Array(a) if a.len() == 2 => count(&a[0])
            .zip(count(&a[1]))
            .map(|(min, max)| CountRange { min, max }),
        other => count(other).map(|n| CountRange { min: n, max: n }),
    };
    match range {
        Some(r) if r.min <= r.max => Some(r),
        _ => {
            c.at(
                v.span(),
                "opens_after is a count of failures (5) or an inclusive range ([5, 6]), each at least 1",
            );
            None
        }
    }
}
