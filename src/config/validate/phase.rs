//! Phases: names, executors and their load shapes, fault profiles.

use super::fault::profile;
use super::{duration, opt_duration, positive_duration, Checker};
use super::{MAX_RATE, MAX_VUS, MIN_RATE};
use crate::config::raw;
use crate::config::*;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// The executors a phase can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExecutorName {
    ConstantArrivalRate,
    RampingVus,
}

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
            let max_vus = c.count(&p.max_vus, "max_vus", 1..=MAX_VUS, 100);
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
            let start_vus = c.count(&p.start_vus, "start_vus", 0..=MAX_VUS, 0);
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
            let think_time = p
                .think_time
                .as_ref()
                .map(|t| super::journey::think_time(c, t))
                .unwrap_or_default();
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
