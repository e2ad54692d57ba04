//! Phases: names, executors and their load shapes, fault profiles.

use super::fault::profile;
use super::{duration, opt_duration, positive_duration, Checker};
use super::{MAX_RATE, MAX_VUS, MIN_RATE};
use crate::config::raw;
use crate::config::*;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use toml::Spanned;

/// The executors a phase can use: the one list a new executor joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExecutorName {
    ConstantArrivalRate,
    RampingArrivalRate,
    ConstantVus,
    RampingVus,
    PerVuIterations,
    SharedIterations,
}

impl ExecutorName {
    const ALL: [ExecutorName; 6] = [
        ExecutorName::ConstantArrivalRate,
        ExecutorName::RampingArrivalRate,
        ExecutorName::ConstantVus,
        ExecutorName::RampingVus,
        ExecutorName::PerVuIterations,
        ExecutorName::SharedIterations,
    ];

    fn name(self) -> &'static str {
        match self {
            ExecutorName::ConstantArrivalRate => "constant-arrival-rate",
            ExecutorName::RampingArrivalRate => "ramping-arrival-rate",
            ExecutorName::ConstantVus => "constant-vus",
            ExecutorName::RampingVus => "ramping-vus",
            ExecutorName::PerVuIterations => "per-vu-iterations",
            ExecutorName::SharedIterations => "shared-iterations",
        }
    }

    /// The load keys this executor reads (`name`, `executor`, `graceful_stop` and `faults`
    /// apply to all).
    fn keys(self) -> &'static [&'static str] {
        match self {
            ExecutorName::ConstantArrivalRate => {
                &["duration", "rate", "pre_allocated_vus", "max_vus"]
            }
            ExecutorName::RampingArrivalRate => &[
                "duration",
                "start_rate",
                "stages",
                "pre_allocated_vus",
                "max_vus",
            ],
            ExecutorName::ConstantVus => &["duration", "vus", "think_time"],
            ExecutorName::RampingVus => &[
                "duration",
                "start_vus",
                "stages",
                "think_time",
                "graceful_ramp_down",
            ],
            ExecutorName::PerVuIterations | ExecutorName::SharedIterations => {
                &["vus", "iterations", "max_duration", "think_time"]
            }
        }
    }
}

/// How long iterations running at a phase's end may go on (k6's default).
const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(30);

/// How long a user above a falling ramping-vus target may finish its iteration (k6's
/// default).
const DEFAULT_GRACEFUL_RAMP_DOWN: Duration = Duration::from_secs(30);

/// Open-model workers when `max_vus` is not given (or `pre_allocated_vus` if larger).
const DEFAULT_MAX_VUS: usize = 100;

/// Most iterations an iteration executor may be asked for (per user for
/// per-vu-iterations): beyond it, a count is a typo.
const MAX_ITERATIONS: i64 = 1_000_000_000;

pub(super) fn phases(
    c: &mut Checker,
    raw: &[raw::PhaseFile],
    profiles: &dyn ProfileSource,
) -> Vec<Phase> {
    if raw.is_empty() {
        c.whole_file("no [[phases]]: a drill needs at least one phase");
    }
    let mut names = HashSet::new();
    // Each profile is read and checked once, however many phases name it: a bad profile is
    // one set of problems, not one per phase.
    let mut loaded: HashMap<String, Option<FaultProfile>> = HashMap::new();
    raw.iter()
        .map(|p| {
            c.unique(&mut names, &p.name, "phase name");
            let (load, duration) = load_shape(c, p);
            let graceful_stop = opt_duration(c, &p.graceful_stop).unwrap_or(DEFAULT_GRACEFUL_STOP);
            let faults = p
                .faults
                .iter()
                .filter_map(|name| {
                    if let Some(known) = loaded.get(name.get_ref()) {
                        return known.clone();
                    }
                    let found = match profiles.read(name.get_ref()) {
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
                    };
                    loaded.insert(name.get_ref().clone(), found.clone());
                    found
                })
                .collect();
            Phase {
                name: p.name.get_ref().clone(),
                duration,
                load,
                graceful_stop,
                faults,
            }
        })
        .collect()
}

fn load_shape(c: &mut Checker, p: &raw::PhaseFile) -> (LoadShape, Duration) {
    let given = p.executor.get_ref().as_str();
    let Some(executor) = ExecutorName::ALL.into_iter().find(|e| e.name() == given) else {
        let known: Vec<&str> = ExecutorName::ALL.iter().map(|e| e.name()).collect();
        c.at(
            p.executor.span(),
            match crate::config::suggest::closest(given, known.iter().copied()) {
                Some(best) => format!(
                    "unknown executor \"{given}\" (known: {}); did you mean \"{best}\"?",
                    known.join(", ")
                ),
                None => format!("unknown executor \"{given}\" (known: {})", known.join(", ")),
            },
        );
        let duration = opt_duration(c, &p.duration).unwrap_or(Duration::from_secs(1));
        let placeholder = LoadShape::ConstantVus {
            vus: 1,
            think_time: crate::config::ThinkTime::NONE,
        };
        return (placeholder, duration);
    };
    let name = executor.name();
    for (key, span) in load_keys_set(p) {
        if !executor.keys().contains(&key) {
            c.at(
                span,
                format!("`{key}` does not apply to the {name} executor"),
            );
        }
    }
    match executor {
        ExecutorName::ConstantArrivalRate => {
            let rate = match &p.rate {
                None => {
                    c.at(
                        p.executor.span(),
                        "constant-arrival-rate needs `rate` (requests per second)",
                    );
                    1.0
                }
                Some(r) => rate(c, r, "rate", MIN_RATE),
            };
            let duration = required_duration(c, p, name);
            let pool = open_pool(c, p, rate);
            (LoadShape::ConstantArrivalRate { rate, pool }, duration)
        }
        ExecutorName::RampingArrivalRate => {
            let start_rate = p
                .start_rate
                .as_ref()
                .map_or(0.0, |r| rate(c, r, "start_rate", 0.0));
            let example = "[{ duration = \"10s\", target = 50 }] (requests per second)";
            let stages: Vec<RateStage> = stages(c, p, name, example)
                .into_iter()
                .map(|(duration, target)| RateStage {
                    duration,
                    target: rate(c, target, "a stage target", 0.0),
                })
                .collect();
            let total = stages_duration(c, p, stages.iter().map(|s| s.duration));
            let all_zero = start_rate == 0.0 && stages.iter().all(|s| s.target == 0.0);
            if all_zero && !stages.is_empty() {
                c.at(
                    p.executor.span(),
                    "every rate of this ramping-arrival-rate phase is 0: it would send nothing",
                );
            }
            let pool = open_pool(c, p, start_rate);
            let load = LoadShape::RampingArrivalRate {
                start_rate,
                stages,
                pool,
            };
            (load, total)
        }
        ExecutorName::ConstantVus => {
            let vus = required_vus(c, p, name);
            let duration = required_duration(c, p, name);
            let think_time = p
                .think_time
                .as_ref()
                .map(|t| super::journey::think_time(c, t))
                .unwrap_or_default();
            (LoadShape::ConstantVus { vus, think_time }, duration)
        }
        ExecutorName::RampingVus => {
            let start_vus = c.count(&p.start_vus, "start_vus", 0..=MAX_VUS, 0);
            let example = "[{ duration = \"10s\", target = 20 }]";
            let stages: Vec<Stage> = stages(c, p, name, example)
                .into_iter()
                .map(|(duration, target)| Stage {
                    duration,
                    target: vus_target(c, target),
                })
                .collect();
            let total = stages_duration(c, p, stages.iter().map(|s| s.duration));
            let think_time = p
                .think_time
                .as_ref()
                .map(|t| super::journey::think_time(c, t))
                .unwrap_or_default();
            let graceful_ramp_down =
                opt_duration(c, &p.graceful_ramp_down).unwrap_or(DEFAULT_GRACEFUL_RAMP_DOWN);
            let load = LoadShape::RampingVus {
                start_vus,
                stages,
                think_time,
                graceful_ramp_down,
            };
            (load, total)
        }
        ExecutorName::PerVuIterations | ExecutorName::SharedIterations => {
            let vus = required_vus(c, p, name);
            let iterations = match &p.iterations {
                None => {
                    c.at(
                        p.executor.span(),
                        format!("{name} needs `iterations` (at least 1)"),
                    );
                    1
                }
                Some(_) => c.count(&p.iterations, "iterations", 1..=MAX_ITERATIONS, 1) as u64,
            };
            let max_duration = match &p.max_duration {
                None => {
                    c.at(
                        p.executor.span(),
                        format!("{name} needs `max_duration`: the phase's slot on the run clock, which the next phase waits for even when the iterations finish sooner"),
                    );
                    Duration::from_secs(1)
                }
                Some(d) => positive_duration(c, d, "max_duration"),
            };
            let think_time = p
                .think_time
                .as_ref()
                .map(|t| super::journey::think_time(c, t))
                .unwrap_or_default();
            let load = if executor == ExecutorName::PerVuIterations {
                LoadShape::PerVuIterations {
                    vus,
                    iterations,
                    think_time,
                }
            } else {
                let given = |n: &Option<Spanned<i64>>| n.as_ref().map(|n| *n.get_ref());
                // Only when both counts are themselves valid, so one mistake is one error.
                let comparable = matches!(
                    (given(&p.vus), given(&p.iterations)),
                    (Some(v), Some(i)) if (1..=MAX_VUS).contains(&v) && (1..=MAX_ITERATIONS).contains(&i)
                );
                if let Some(v) = p
                    .vus
                    .as_ref()
                    .filter(|_| comparable && vus as u64 > iterations)
                {
                    c.at(
                        v.span(),
                        format!("vus ({vus}) is more than iterations ({iterations}): the extra users would have nothing to do"),
                    );
                }
                LoadShape::SharedIterations {
                    vus,
                    iterations,
                    think_time,
                }
            };
            (load, max_duration)
        }
    }
}

/// `vus`, required by the executors with a fixed number of virtual users.
fn required_vus(c: &mut Checker, p: &raw::PhaseFile, executor: &str) -> usize {
    match &p.vus {
        None => {
            c.at(
                p.executor.span(),
                format!("{executor} needs `vus` (virtual users)"),
            );
            1
        }
        Some(_) => c.count(&p.vus, "vus", 1..=MAX_VUS, 1),
    }
}

/// The workers of an open-model phase whose rate starts at `opening_rate`:
/// `pre_allocated_vus` defaults to 50 ms worth of that rate (at least 1) and `max_vus` to
/// 100, or to `pre_allocated_vus` when that is more.
fn open_pool(c: &mut Checker, p: &raw::PhaseFile, opening_rate: f64) -> OpenPool {
    let pre = p
        .pre_allocated_vus
        .as_ref()
        .map(|_| c.count(&p.pre_allocated_vus, "pre_allocated_vus", 0..=MAX_VUS, 0));
    let default_max = DEFAULT_MAX_VUS.max(pre.unwrap_or(0));
    let max_vus = c.count(&p.max_vus, "max_vus", 1..=MAX_VUS, default_max);
    let pre_allocated_vus = match pre {
        Some(pre) if pre > max_vus => {
            if let Some(span) = p.pre_allocated_vus.as_ref().map(Spanned::span) {
                c.at(
                    span,
                    format!("pre_allocated_vus ({pre}) is more than max_vus ({max_vus})"),
                );
            }
            max_vus
        }
        Some(pre) => pre,
        None => ((opening_rate * 0.05).ceil() as usize).clamp(1, max_vus),
    };
    OpenPool {
        pre_allocated_vus,
        max_vus,
    }
}

/// The load keys a phase sets, with where each is, in file order.
fn load_keys_set(p: &raw::PhaseFile) -> Vec<(&'static str, Range<usize>)> {
    let span = |key, s: Option<Range<usize>>| s.map(|s| (key, s));
    let mut set = [
        span("duration", p.duration.as_ref().map(Spanned::span)),
        span("rate", p.rate.as_ref().map(Spanned::span)),
        span("start_rate", p.start_rate.as_ref().map(Spanned::span)),
        span("vus", p.vus.as_ref().map(Spanned::span)),
        span(
            "pre_allocated_vus",
            p.pre_allocated_vus.as_ref().map(Spanned::span),
        ),
        span("max_vus", p.max_vus.as_ref().map(Spanned::span)),
        span("start_vus", p.start_vus.as_ref().map(Spanned::span)),
        span("stages", p.stages.as_ref().map(Spanned::span)),
        span("iterations", p.iterations.as_ref().map(Spanned::span)),
        span("max_duration", p.max_duration.as_ref().map(Spanned::span)),
        span("think_time", p.think_time.as_ref().map(Spanned::span)),
        span(
            "graceful_ramp_down",
            p.graceful_ramp_down.as_ref().map(Spanned::span),
        ),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    set.sort_by_key(|(_, span)| span.start);
    set
}

/// A rate in requests per second between `low` and [`MAX_RATE`]; out of range is
/// reported and read as clamped.
fn rate(c: &mut Checker, r: &Spanned<f64>, what: &str, low: f64) -> f64 {
    let v = *r.get_ref();
    if !(low..=MAX_RATE).contains(&v) {
        c.at(
            r.span(),
            format!("{what} must be between {low} and {MAX_RATE} requests per second, not {v:?}"),
        );
        return if v.is_nan() {
            1.0
        } else {
            v.clamp(low.max(MIN_RATE), MAX_RATE)
        };
    }
    v
}

/// A ramping-vus stage target: a whole number of virtual users up to [`MAX_VUS`].
fn vus_target(c: &mut Checker, target: &Spanned<f64>) -> usize {
    let v = *target.get_ref();
    if !(0.0..=MAX_VUS as f64).contains(&v) || v.fract() != 0.0 {
        c.at(
            target.span(),
            format!(
                "a stage target must be a whole number of virtual users between 0 and {MAX_VUS}"
            ),
        );
        return if v.is_nan() {
            0
        } else {
            v.clamp(0.0, MAX_VUS as f64) as usize
        };
    }
    v as usize
}

/// `duration`, required by the executors that do not take it from stages.
fn required_duration(c: &mut Checker, p: &raw::PhaseFile, executor: &str) -> Duration {
    match &p.duration {
        None => {
            c.at(p.executor.span(), format!("{executor} needs `duration`"));
            Duration::from_secs(1)
        }
        Some(d) => positive_duration(c, d, "duration"),
    }
}

/// The stages of a ramping executor, each with its duration checked, and their targets
/// left to the executor to read.
fn stages<'p>(
    c: &mut Checker,
    p: &'p raw::PhaseFile,
    executor: &str,
    example: &str,
) -> Vec<(Duration, &'p Spanned<f64>)> {
    match &p.stages {
        None => {
            c.at(
                p.executor.span(),
                format!("{executor} needs `stages`, e.g. {example}"),
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
                let duration = positive_duration(c, &st.duration, "a stage duration");
                (duration, &st.target)
            })
            .collect(),
    }
}

/// The phase length of a ramping executor: the sum of its stages. A stated `duration`
/// must agree with it.
fn stages_duration(
    c: &mut Checker,
    p: &raw::PhaseFile,
    stages: impl Iterator<Item = Duration>,
) -> Duration {
    let total: Duration = stages.sum();
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
        c.at(p.executor.span(), "the stages add up to more than a year");
    }
    total
}

#[cfg(test)]
mod tests;
