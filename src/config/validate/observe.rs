//! What the observer reads: markers, state endpoint, Prometheus gauge, tap, trust order.

use super::{opt_duration, positive_duration, Checker};
use crate::config::raw;
use crate::config::*;
use toml::Spanned;

/// Shortest poll interval: faster polls would load the service more than they tell.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

pub(super) fn observe(c: &mut Checker, raw: &raw::ObserveFile, proxy: bool) -> ObserveSettings {
    let d = ObserveSettings::default();
    let mut header = |given: &Option<Spanned<String>>, default: String| match given {
        None => default,
        Some(name) => {
            let trimmed = name.get_ref().trim();
            if !trimmed.is_empty() && http::HeaderName::from_bytes(trimmed.as_bytes()).is_err() {
                c.at(
                    name.span(),
                    format!("\"{}\" is not a valid HTTP header name", name.get_ref()),
                );
            }
            trimmed.to_string()
        }
    };
    let state_header = header(&raw.state_header, d.state_header);
    let cache_header = header(&raw.cache_header, d.cache_header);
    let fallback_header = header(&raw.fallback_header, d.fallback_header);
    let tap = raw.tap.as_ref().map_or(
        TapSettings {
            enabled: proxy,
            ..TapSettings::default()
        },
        |t| tap(c, t, proxy),
    );
    ObserveSettings {
        state_header,
        cache_header,
        fallback_header,
        cache_hit_values: raw.cache_hit_values.clone().unwrap_or(d.cache_hit_values),
        fallback: raw
            .fallback
            .as_ref()
            .map(|m| marker(c, m))
            .unwrap_or_default(),
        rejection: raw
            .rejection
            .as_ref()
            .map(|m| marker(c, m))
            .unwrap_or_default(),
        endpoint: raw.endpoint.as_ref().map(|e| endpoint(c, e)),
        prometheus: raw.prometheus.as_ref().map(|p| prometheus(c, p)),
        tap,
        trust: raw.trust.as_ref().map_or(d.trust, |t| trust(c, t)),
    }
}

fn tap(c: &mut Checker, t: &raw::TapFile, proxy: bool) -> TapSettings {
    let d = TapSettings::default();
    let enabled = t.enabled.unwrap_or(proxy);
    if enabled && !proxy {
        c.whole_file(
            "[observe.tap] needs the fault proxy: set [parts] proxy = true, or tap.enabled = false",
        );
    }
    TapSettings {
        enabled,
        quiet: t
            .quiet
            .as_ref()
            .map_or(d.quiet, |q| positive_duration(c, q, "quiet")),
        min_client_requests: t
            .min_client_requests
            .as_ref()
            .map_or(d.min_client_requests, |n| {
                if *n.get_ref() == 0 {
                    c.at(n.span(), "min_client_requests must be at least 1");
                }
                (*n.get_ref()).max(1)
            }),
        probes_to_close: t.probes_to_close.as_ref().map_or(d.probes_to_close, |n| {
            if !(1..=1000).contains(n.get_ref()) {
                c.at(n.span(), "probes_to_close must be between 1 and 1000");
            }
            (*n.get_ref()).clamp(1, 1000)
        }),
    }
}

fn trust(c: &mut Checker, names: &[Spanned<String>]) -> Vec<Channel> {
    let mut order = Vec::new();
    for n in names {
        match Channel::parse(n.get_ref()) {
            Some(ch) if order.contains(&ch) => c.at(n.span(), format!("\"{ch}\" is listed twice")),
            Some(ch) => order.push(ch),
            None => c.at(
                n.span(),
                format!(
                    "\"{}\" is not a channel (endpoint, prometheus, tap, header, markers)",
                    n.get_ref()
                ),
            ),
        }
    }
    // Channels left out keep their default order after the named ones.
    order.extend(
        Channel::ALL
            .into_iter()
            .filter(|ch| !order.contains(ch))
            .collect::<Vec<_>>(),
    );
    order
}

fn marker(c: &mut Checker, m: &raw::MarkerFile) -> MarkerRule {
    let statuses = m
        .statuses
        .iter()
        .flatten()
        .map(|s| super::status_code(c, s))
        .collect();
    let headers = m
        .headers
        .iter()
        .flatten()
        .map(|h| {
            if http::HeaderName::from_bytes(h.get_ref().trim().as_bytes()).is_err() {
                c.at(
                    h.span(),
                    format!("\"{}\" is not a valid HTTP header name", h.get_ref()),
                );
            }
            h.get_ref().trim().to_ascii_lowercase()
        })
        .collect();
    let body = match (&m.body_contains, &m.body_pointer) {
        (Some(text), None) => {
            if let Some(e) = &m.body_equals {
                c.at(
                    e.span(),
                    "body_equals goes with body_pointer, not body_contains",
                );
            }
            Some(BodyMatch::Contains(text.get_ref().clone()))
        }
        (None, Some(pointer)) => {
            check_pointer(c, pointer);
            let equals = m.body_equals.as_ref().and_then(|v| {
                serde_json::to_value(v.get_ref())
                    .map_err(|e| c.at(v.span(), format!("body_equals: {e}")))
                    .ok()
            });
            Some(BodyMatch::Pointer {
                pointer: pointer.get_ref().clone(),
                equals,
            })
        }
        (Some(text), Some(_)) => {
            c.at(text.span(), "give body_contains or body_pointer, not both");
            None
        }
        (None, None) => {
            if let Some(e) = &m.body_equals {
                c.at(e.span(), "body_equals needs body_pointer");
            }
            None
        }
    };
    MarkerRule {
        statuses,
        retry_after: m.retry_after.unwrap_or(false),
        headers,
        body,
    }
}

fn check_pointer(c: &mut Checker, pointer: &Spanned<String>) {
    let p = pointer.get_ref();
    if !p.is_empty() && !p.starts_with('/') {
        c.at(
            pointer.span(),
            format!("\"{p}\" is not a JSON pointer: it starts with '/', e.g. \"/state\""),
        );
    }
}

fn poll(
    c: &mut Checker,
    url: &Spanned<String>,
    interval: &Option<Spanned<String>>,
    timeout: &Option<Spanned<String>>,
) -> PollSettings {
    let given = url.get_ref().trim();
    let checked = if given.starts_with('/') {
        given.to_string()
    } else {
        super::check_base_url(given)
            .map_err(|why| {
                c.at(
                    url.span(),
                    format!(
                        "{} (or a path such as \"/breaker\", relative to the target)",
                        why.replace("target", "url")
                    ),
                )
            })
            .unwrap_or_default()
    };
    let interval_value = opt_duration(c, interval).unwrap_or(Duration::from_millis(100));
    if interval_value < MIN_POLL_INTERVAL {
        if let Some(i) = interval {
            c.at(i.span(), "interval must be at least 10ms");
        }
    }
    let timeout = match timeout {
        Some(t) => positive_duration(c, t, "timeout"),
        None => Duration::from_secs(1),
    };
    PollSettings {
        url: checked,
        interval: interval_value.max(MIN_POLL_INTERVAL),
        timeout,
    }
}

fn endpoint(c: &mut Checker, e: &raw::EndpointFile) -> EndpointSettings {
    check_pointer(c, &e.pointer);
    let states = e
        .states
        .as_ref()
        .map_or_else(StateSpellings::default, |s| StateSpellings {
            closed: s.closed.clone(),
            open: s.open.clone(),
            half_open: s.half_open.clone(),
        });
    EndpointSettings {
        poll: poll(c, &e.url, &e.interval, &e.timeout),
        pointer: e.pointer.get_ref().clone(),
        states,
    }
}

fn prometheus(c: &mut Checker, p: &raw::PrometheusFile) -> PrometheusSettings {
    let poll = poll(c, &p.url, &p.interval, &p.timeout);
    let (metric, labels) = match crate::observe::prometheus::parse_selector(p.metric.get_ref()) {
        Ok(sel) => (sel.metric, sel.labels),
        Err(e) => {
            c.at(p.metric.span(), format!("metric selector: {e}"));
            (String::new(), Vec::new())
        }
    };
    let read = match (&p.values, &p.state_label) {
        (Some(v), None) => {
            if v.closed.is_none() && v.open.is_none() && v.half_open.is_none() {
                c.at(
                    p.metric.span(),
                    "[observe.prometheus.values] maps no value (closed, open, half_open)",
                );
            }
            GaugeRead::Value {
                closed: v.closed,
                open: v.open,
                half_open: v.half_open,
            }
        }
        (Some(_), Some(l)) => {
            c.at(
                l.span(),
                "give state_label (one sample per state) or values (one sample), not both",
            );
            GaugeRead::OneHot {
                label: l.get_ref().clone(),
            }
        }
        (None, label) => {
            let label = label
                .as_ref()
                .map_or_else(|| "state".to_string(), |l| l.get_ref().clone());
            if labels.iter().any(|(k, _)| *k == label) {
                c.at(
                    p.metric.span(),
                    format!("the selector fixes the \"{label}\" label, so the state cannot be read from it: add [observe.prometheus.values] (e.g. open = 1, closed = 0)"),
                );
            }
            GaugeRead::OneHot { label }
        }
    };
    PrometheusSettings {
        poll,
        metric,
        labels,
        read,
    }
}
