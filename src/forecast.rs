//! What a [`Plan`] will send, worked out without sending anything: requests per phase, per
//! user type and per request group, and the request rate over time. Everything is
//! integrated from the phases' shapes, so a two-hour soak costs as little as a minute.
//!
//! Open-model phases are exact: a phase of `rate × duration` arrivals sends
//! `⌈rate × duration⌉` iterations (see the load engine's timetable). `per-vu-iterations`
//! and `shared-iterations` are exact counts too (if they finish in their slot). Closed-model
//! VU phases depend on the target's latency: they are estimated from the users, the think
//! time and an assumed latency per request.

use crate::config::{LoadShape, ThinkTime, Work};
use crate::plan::Plan;
use serde::Serialize;
use std::time::Duration;

/// One linear piece of the request rate over the run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RatePiece {
    /// Seconds from the run start.
    pub start_s: f64,
    /// Seconds long.
    pub length_s: f64,
    /// Requests per second at the start and at the end.
    pub from: f64,
    /// Requests per second at the end.
    pub to: f64,
}

impl RatePiece {
    /// Requests sent between `a` and `b` seconds from the run start.
    fn requests_between(&self, a: f64, b: f64) -> f64 {
        let (lo, hi) = (a.max(self.start_s), b.min(self.start_s + self.length_s));
        if hi <= lo || self.length_s <= 0.0 {
            return 0.0;
        }
        let at = |t: f64| self.from + (self.to - self.from) * (t - self.start_s) / self.length_s;
        (at(lo) + at(hi)) / 2.0 * (hi - lo)
    }
}

/// The forecast of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseForecast {
    /// Phase name.
    pub name: String,
    /// Executor name.
    pub executor: &'static str,
    /// Seconds from the run start.
    pub start_s: f64,
    /// Seconds from the run start.
    pub end_s: f64,
    /// Iterations expected.
    pub iterations: f64,
    /// Requests expected (iterations × requests per iteration).
    pub requests: f64,
    /// Whether the count follows from the drill alone (open model, iteration counts) rather
    /// than from the assumed latency.
    pub exact: bool,
    /// Highest request rate in the phase, per second.
    pub peak_rate: f64,
    /// Most virtual users (workers for the open model) at once.
    pub peak_vus: usize,
}

/// Expected requests of one user type or request group.
#[derive(Debug, Clone, Serialize)]
pub struct Share {
    /// The user type or request group.
    pub name: String,
    /// Its weight in the drill (0 for a flow step).
    pub weight: u32,
    /// Requests expected over the run.
    pub requests: f64,
}

/// Everything `breakerbox plan` states about the load.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    /// The latency assumed per request for closed-model phases.
    pub assumed_latency_s: f64,
    /// Per phase, in order.
    pub phases: Vec<PhaseForecast>,
    /// Requests per user type (one implicit type when the drill names none).
    pub users: Vec<Share>,
    /// Requests per request group.
    pub requests: Vec<Share>,
    /// The request rate over the run, piece by piece.
    pub rate: Vec<RatePiece>,
    /// Length of the run, seconds.
    pub duration_s: f64,
    /// Requests over the run.
    pub total_requests: f64,
    /// Highest request rate, per second.
    pub peak_rate: f64,
    /// Most virtual users (or open-model workers) at once.
    pub peak_vus: usize,
}

/// How an iteration of the drill's users looks on average.
struct Mix {
    /// Per user type: share of iterations, requests per iteration, own think time.
    types: Vec<(f64, f64, Option<ThinkTime>)>,
}

impl Mix {
    fn of(plan: &Plan) -> Mix {
        let users = &plan.drill.journey.users;
        if users.is_empty() {
            return Mix {
                types: vec![(1.0, 1.0, None)],
            };
        }
        let total: f64 = users
            .iter()
            .map(|u| f64::from(u.weight))
            .sum::<f64>()
            .max(1.0);
        let types = users
            .iter()
            .map(|u| {
                let per_iteration = match &u.work {
                    Work::Flow(steps) => steps.len() as f64,
                    Work::Tasks(_) => 1.0,
                };
                (f64::from(u.weight) / total, per_iteration, u.think_time)
            })
            .collect();
        Mix { types }
    }

    /// Mean requests per iteration.
    fn requests_per_iteration(&self) -> f64 {
        self.types.iter().map(|(s, r, _)| s * r).sum()
    }

    /// Iterations one closed-model user runs per second with `think` (a user type's own
    /// think time wins) and `latency` per request.
    fn iterations_per_user_second(&self, think: ThinkTime, latency: f64) -> f64 {
        self.types
            .iter()
            .map(|(share, per_iteration, own)| {
                let busy = per_iteration * latency;
                let cycle = match own.unwrap_or(think) {
                    ThinkTime::Pacing(p) => busy.max(p.as_secs_f64()),
                    other => busy + other.expected_interval().map_or(0.0, |d| d.as_secs_f64()),
                };
                share / cycle.max(1e-6)
            })
            .sum()
    }
}

/// Works out what `plan` sends, closed-model phases at `assumed_latency` per request.
pub fn forecast(plan: &Plan, assumed_latency: Duration) -> Forecast {
    let latency = assumed_latency.as_secs_f64().max(1e-6);
    let mix = Mix::of(plan);
    let per_iteration = mix.requests_per_iteration();
    let mut phases = Vec::with_capacity(plan.phases.len());
    let mut rate = Vec::new();
    for phase in &plan.phases {
        let start = phase.start.as_secs_f64();
        let length = phase.duration.as_secs_f64();
        let mut pieces: Vec<(f64, f64, f64)> = Vec::new(); // (length, from, to) in iterations/s
        let (iterations, exact) = match &phase.load {
            LoadShape::ConstantArrivalRate { rate, .. } => {
                pieces.push((length, *rate, *rate));
                (arrivals(rate * length), true)
            }
            LoadShape::RampingArrivalRate {
                start_rate, stages, ..
            } => {
                let mut from = start_rate.max(0.0);
                for s in stages {
                    pieces.push((s.duration.as_secs_f64(), from, s.target.max(0.0)));
                    from = s.target.max(0.0);
                }
                let area = pieces
                    .iter()
                    .map(|(l, a, b)| (a + b) / 2.0 * l)
                    .sum::<f64>();
                (arrivals(area), true)
            }
            LoadShape::ConstantVus { vus, think_time } => {
                let r = *vus as f64 * mix.iterations_per_user_second(*think_time, latency);
                pieces.push((length, r, r));
                (r * length, false)
            }
            LoadShape::RampingVus {
                start_vus,
                stages,
                think_time,
                ..
            } => {
                let each = mix.iterations_per_user_second(*think_time, latency);
                let mut from = *start_vus as f64;
                for s in stages {
                    let to = s.target as f64;
                    pieces.push((s.duration.as_secs_f64(), from * each, to * each));
                    from = to;
                }
                let area = pieces.iter().map(|(l, a, b)| (a + b) / 2.0 * l).sum();
                (area, false)
            }
            LoadShape::PerVuIterations {
                vus, think_time, ..
            }
            | LoadShape::SharedIterations {
                vus, think_time, ..
            } => {
                let total = phase.load.planned_iterations().unwrap_or(0) as f64;
                let busy = (*vus).min(total as usize).max(1) as f64;
                let r = busy * mix.iterations_per_user_second(*think_time, latency);
                // At that pace the iterations take this long, at most the phase's slot.
                let takes = (total / r.max(1e-9)).min(length);
                pieces.push((takes, r, r));
                (total.min(r * length), r * length >= total)
            }
        };
        let mut at = start;
        let mut peak: f64 = 0.0;
        for (len, from, to) in pieces {
            if len > 0.0 {
                rate.push(RatePiece {
                    start_s: at,
                    length_s: len,
                    from: from * per_iteration,
                    to: to * per_iteration,
                });
            }
            peak = peak.max(from * per_iteration).max(to * per_iteration);
            at += len;
        }
        phases.push(PhaseForecast {
            name: phase.name.clone(),
            executor: phase.load.executor(),
            start_s: start,
            end_s: phase.end().as_secs_f64(),
            iterations,
            requests: iterations * per_iteration,
            exact,
            peak_rate: peak,
            peak_vus: phase.load.peak_workers(),
        });
    }
    let total_iterations: f64 = phases.iter().map(|p| p.iterations).sum();
    let total_requests = phases.iter().map(|p| p.requests).sum();
    let (users, requests) = shares(plan, &mix, total_iterations);
    Forecast {
        assumed_latency_s: assumed_latency.as_secs_f64(),
        duration_s: plan.total_duration().as_secs_f64(),
        total_requests,
        peak_rate: phases.iter().map(|p| p.peak_rate).fold(0.0, f64::max),
        peak_vus: phases.iter().map(|p| p.peak_vus).max().unwrap_or(0),
        phases,
        users,
        requests,
        rate,
    }
}

/// `⌈area⌉`, forgiving floating-point dust (`0.1 × 30` is not quite 3).
fn arrivals(area: f64) -> f64 {
    (area - 1e-9).ceil().max(0.0)
}

/// Requests per user type and per request group, for `iterations` in all.
fn shares(plan: &Plan, mix: &Mix, iterations: f64) -> (Vec<Share>, Vec<Share>) {
    let specs = &plan.drill.requests;
    let mut per_request = vec![0.0; specs.len()];
    let users = &plan.drill.journey.users;
    let mut per_user = Vec::new();
    if users.is_empty() {
        let total: f64 = specs
            .iter()
            .map(|r| f64::from(r.weight))
            .sum::<f64>()
            .max(1.0);
        for (i, r) in specs.iter().enumerate() {
            per_request[i] = iterations * f64::from(r.weight) / total;
        }
        per_user.push(Share {
            name: "default".into(),
            weight: 1,
            requests: iterations,
        });
    } else {
        for (u, (share, per_iteration, _)) in users.iter().zip(&mix.types) {
            let runs = iterations * share;
            match &u.work {
                Work::Flow(steps) => steps.iter().for_each(|&r| per_request[r] += runs),
                Work::Tasks(tasks) => {
                    let total: f64 = tasks.iter().map(|(_, w)| f64::from(*w)).sum::<f64>();
                    for (r, w) in tasks {
                        per_request[*r] += runs * f64::from(*w) / total.max(1.0);
                    }
                }
            }
            per_user.push(Share {
                name: u.name.clone(),
                weight: u.weight,
                requests: runs * per_iteration,
            });
        }
    }
    let requests = specs
        .iter()
        .zip(per_request)
        .map(|(r, n)| Share {
            name: r.name.clone(),
            weight: r.weight,
            requests: n,
        })
        .collect();
    (per_user, requests)
}

impl Forecast {
    /// The mean request rate in each of `columns` equal slices of the run.
    pub fn rate_by_column(&self, columns: usize) -> Vec<f64> {
        let width = self.duration_s / columns.max(1) as f64;
        (0..columns)
            .map(|c| {
                let (a, b) = (c as f64 * width, (c + 1) as f64 * width);
                let n: f64 = self.rate.iter().map(|p| p.requests_between(a, b)).sum();
                if width > 0.0 {
                    n / width
                } else {
                    0.0
                }
            })
            .collect()
    }
}
