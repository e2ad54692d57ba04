//! Expectations: thresholds and breaker criteria.

use super::{opt_duration, Checker};
use crate::config::raw;
use crate::config::*;
use toml::Spanned;

pub(super) fn expectations(
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
