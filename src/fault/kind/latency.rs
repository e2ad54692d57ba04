//! `latency`: hold the request (or its body), then let it go on.
//!
//! Distributions: `fixed` (`delay`), `uniform` (`delay ± jitter`), `normal` (mean `delay`,
//! standard deviation `jitter`), `lognormal` (median `delay`, shape `sigma`). `on =
//! "headers"` (default) delays the response headers (the request is held before it is
//! forwarded); `on = "body"` sends the headers at once and holds the body.

use super::{ApplyContext, Decision, FaultKind};
use crate::config::KindTable;
use std::sync::Arc;
use std::time::Duration;

/// Longest single delay drawn from a distribution's tail.
const MAX_DELAY: Duration = Duration::from_secs(3600);

/// How delays are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Distribution {
    Fixed,
    Uniform { jitter: Duration },
    Normal { std_dev: Duration },
    LogNormal { sigma: f64 },
}

/// Adds a delay drawn from a distribution, to the headers or to the body.
#[derive(Debug)]
pub struct Latency {
    delay: Duration,
    distribution: Distribution,
    on_body: bool,
}

/// Reads `delay` (required), `distribution`, `jitter`, `sigma`, `on`.
pub fn parse(t: &mut KindTable) -> Option<Arc<dyn FaultKind>> {
    let delay = t.positive_duration("delay");
    if delay.is_none() {
        t.missing("delay", "\"200ms\"");
    }
    let jitter = t.duration("jitter");
    let sigma = t.float("sigma");
    let on_body = match t.string("on") {
        None => false,
        Some(on) => match on.get_ref().as_str() {
            "headers" => false,
            "body" => true,
            other => {
                t.error(
                    on.span(),
                    format!("unknown `on` \"{other}\" (known: headers, body)"),
                );
                false
            }
        },
    };
    let name = t.string("distribution");
    let delay = *delay?.get_ref();
    let default = match jitter {
        Some(_) => "uniform",
        None => "fixed",
    };
    let which = name
        .as_ref()
        .map_or(default.to_string(), |n| n.get_ref().clone());
    let which = which.as_str();
    let not_for = |t: &mut KindTable, span: Option<std::ops::Range<usize>>, key: &str| {
        if let Some(span) = span {
            t.error(span, format!("`{key}` does not apply to a {which} latency"));
        }
    };
    let distribution = match which {
        "fixed" => {
            not_for(t, jitter.as_ref().map(|j| j.span()), "jitter");
            not_for(t, sigma.as_ref().map(|s| s.span()), "sigma");
            Distribution::Fixed
        }
        "uniform" => {
            not_for(t, sigma.as_ref().map(|s| s.span()), "sigma");
            let jitter = match jitter {
                Some(j) if *j.get_ref() > delay => {
                    t.error(j.span(), "jitter must not exceed delay");
                    return None;
                }
                Some(j) => *j.get_ref(),
                None => {
                    t.missing("jitter", "\"20ms\"");
                    return None;
                }
            };
            Distribution::Uniform { jitter }
        }
        "normal" => {
            not_for(t, sigma.as_ref().map(|s| s.span()), "sigma");
            let Some(j) = jitter else {
                t.missing("jitter", "\"20ms\" (the standard deviation)");
                return None;
            };
            Distribution::Normal {
                std_dev: *j.get_ref(),
            }
        }
        "lognormal" => {
            not_for(t, jitter.as_ref().map(|j| j.span()), "jitter");
            let sigma = match sigma {
                Some(s) if !(*s.get_ref() > 0.0 && *s.get_ref() <= 4.0) => {
                    t.error(s.span(), "sigma must be above 0 and at most 4");
                    return None;
                }
                Some(s) => *s.get_ref(),
                None => 0.5,
            };
            Distribution::LogNormal { sigma }
        }
        other => {
            let span = name.map(|n| n.span()).unwrap_or_default();
            t.error(
                span,
                format!(
                    "unknown distribution \"{other}\" (known: fixed, uniform, normal, lognormal)"
                ),
            );
            return None;
        }
    };
    Some(Arc::new(Latency {
        delay,
        distribution,
        on_body,
    }))
}

/// A standard normal deviate from two uniforms in [0, 1) (Box-Muller).
fn standard_normal(u1: f64, u2: f64) -> f64 {
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Latency {
    /// The delay for uniforms `u1`, `u2` in [0, 1).
    fn draw(&self, u1: f64, u2: f64) -> Duration {
        let d = self.delay.as_secs_f64();
        let secs = match self.distribution {
            Distribution::Fixed => d,
            Distribution::Uniform { jitter } => d + jitter.as_secs_f64() * (2.0 * u1 - 1.0),
            Distribution::Normal { std_dev } => d + std_dev.as_secs_f64() * standard_normal(u1, u2),
            Distribution::LogNormal { sigma } => d * (sigma * standard_normal(u1, u2)).exp(),
        };
        Duration::from_secs_f64(secs.clamp(0.0, MAX_DELAY.as_secs_f64()))
    }
}

impl FaultKind for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn injects_failure(&self) -> bool {
        false
    }

    fn apply(&self, decision: &mut Decision, cx: &mut ApplyContext) -> bool {
        let delay = self.draw(cx.rng.next_f64(), cx.rng.next_f64());
        if self.on_body {
            decision.body.delay += delay;
        } else {
            decision.hold += delay;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(distribution: Distribution) -> Latency {
        Latency {
            delay: Duration::from_millis(100),
            distribution,
            on_body: false,
        }
    }

    #[test]
    fn uniform_stays_in_band() {
        let l = latency(Distribution::Uniform {
            jitter: Duration::from_millis(20),
        });
        assert_eq!(l.draw(0.0, 0.0), Duration::from_millis(80));
        assert_eq!(l.draw(0.5, 0.0), Duration::from_millis(100));
        assert!(l.draw(0.999, 0.0) <= Duration::from_millis(120));
    }

    #[test]
    fn normal_and_lognormal_centre_on_delay_and_never_go_negative() {
        let mut rng = crate::rng::Rng::new(1, 2);
        for dist in [
            Distribution::Normal {
                std_dev: Duration::from_millis(80),
            },
            Distribution::LogNormal { sigma: 0.5 },
        ] {
            let l = latency(dist);
            let mut draws: Vec<Duration> = (0..4001)
                .map(|_| l.draw(rng.next_f64(), rng.next_f64()))
                .collect();
            draws.sort();
            let median = draws[2000].as_secs_f64();
            assert!((0.09..0.11).contains(&median), "{dist:?}: median {median}");
            assert!(draws[0] >= Duration::ZERO);
        }
        assert_eq!(
            latency(Distribution::Fixed).draw(0.3, 0.7),
            Duration::from_millis(100)
        );
    }
}
