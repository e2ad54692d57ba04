//! A resource budget checked before a drill runs: its peak memory and open descriptors,
//! estimated from the plan, against what this machine and process allow.
//!
//! The estimate is deliberately rough and on the high side; its point is to refuse in one
//! line, naming the part that costs most, a drill that would otherwise exhaust the machine
//! halfway through (thousands of descriptors, gigabytes of histograms).

use crate::config::Parts;
use crate::plan::Plan;
use std::fmt;

/// Bytes of the two latency histograms (latency, service time) a recorder keeps per
/// request group: 1 µs..60 s at 3 significant digits, ~136 KiB each.
const HISTOGRAMS_PER_GROUP: u64 = 2 * 136 * 1024;

/// Recorders that hold histograms at once, besides one merged recorder kept per phase:
/// the shards of two phase sinks (a phase's last iterations may still be finishing, within
/// its graceful stop, when the next one starts). Workers share these, so the count does
/// not grow with the workers.
const LIVE_RECORDERS: u64 = 2 * crate::metrics::sink::MAX_SHARDS as u64;

/// Bytes of buffers per open connection (hyper's read and write buffers, the task).
const PER_CONNECTION: u64 = 64 * 1024;

/// Bytes per 10 ms of planned run for the tap and client series (capped at 12 h).
const SERIES_PER_SLOT: u64 = 36;

/// Descriptors the process needs whatever the load (listeners, runtime, stdio, files).
const BASE_FDS: u64 = 64;

/// Bytes the process needs whatever the load.
const BASE_MEMORY: u64 = 32 << 20;

/// One part's share of the estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    /// What costs it, in words.
    pub part: String,
    /// Bytes.
    pub memory: u64,
    /// Open descriptors.
    pub fds: u64,
}

/// A drill's estimated peak needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// Each part's share, largest memory first.
    pub costs: Vec<Cost>,
}

impl Estimate {
    /// Total bytes.
    pub fn memory(&self) -> u64 {
        self.costs.iter().map(|c| c.memory).sum()
    }

    /// Total descriptors.
    pub fn fds(&self) -> u64 {
        self.costs.iter().map(|c| c.fds).sum()
    }
}

/// What the run may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes: a quarter of the machine's memory, at most 4 GiB, unless overridden.
    pub memory: u64,
    /// The process's open-file limit.
    pub fds: u64,
}

impl Limits {
    /// This machine's limits, read from `/proc` (generous defaults where it is absent).
    pub fn of_this_machine() -> Limits {
        let mem_total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .map_or(16 << 30, |kb| kb * 1024);
        let fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| {
                l.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3)?.parse::<u64>().ok())
            })
            .unwrap_or(1024);
        Limits {
            memory: (mem_total / 4).min(4 << 30),
            fds,
        }
    }
}

/// Most workers (connections) any phase of `plan` runs at once.
fn peak_workers(plan: &Plan) -> u64 {
    plan.phases
        .iter()
        .map(|p| p.load.peak_workers() as u64)
        .max()
        .unwrap_or(0)
}

/// Estimates the peak needs of `plan`.
pub fn estimate(plan: &Plan) -> Estimate {
    let workers = peak_workers(plan);
    let groups = plan.drill.journey.cells_used(&plan.drill.requests).max(1) as u64;
    let recorders = LIVE_RECORDERS + plan.phases.len() as u64;
    let Parts { stub, proxy, demo } = &plan.drill.parts;
    // Every client connection to an in-process part is a descriptor on both ends, and the
    // demo service may hold one upstream call per client connection.
    let mut costs = vec![
        Cost {
            part: format!(
                "latency histograms: {recorders} recorders × {groups} request groups × 2 × 136 KiB"
            ),
            memory: recorders * groups * HISTOGRAMS_PER_GROUP,
            fds: 0,
        },
        Cost {
            part: format!("load connections: {workers}"),
            memory: workers * PER_CONNECTION,
            fds: workers,
        },
    ];
    let in_process = [
        (demo.is_some(), "demo service", 2),
        (proxy.is_some(), "fault proxy", 2),
        (stub.is_some(), "stub upstream", 1),
    ];
    for (runs, part, per_worker) in in_process {
        if runs {
            costs.push(Cost {
                part: format!("{part} connections: up to {}", workers * per_worker),
                memory: workers * per_worker * PER_CONNECTION,
                fds: workers * per_worker,
            });
        }
    }
    let data: u64 = plan
        .drill
        .journey
        .data
        .iter()
        .map(|d| d.bytes() as u64)
        .sum();
    if data > 0 {
        costs.push(Cost {
            part: format!("data files: {} sets", plan.drill.journey.data.len()),
            memory: data,
            fds: 0,
        });
    }
    let slots = (plan.total_duration().as_millis() / 10).min(12 * 3600 * 100) as u64;
    costs.push(Cost {
        part: "run series and tap".into(),
        memory: slots * SERIES_PER_SLOT,
        fds: 0,
    });
    costs.push(Cost {
        part: "the process itself".into(),
        memory: BASE_MEMORY,
        fds: BASE_FDS,
    });
    costs.sort_by_key(|c| std::cmp::Reverse(c.memory));
    Estimate { costs }
}

/// Why a drill is over budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OverBudget(String);

/// Checks `estimate` against `limits`; the error names the largest costs.
pub fn check(estimate: &Estimate, limits: Limits) -> Result<(), OverBudget> {
    let largest = |key: fn(&Cost) -> u64| {
        let mut costs = estimate.costs.clone();
        costs.sort_by_key(|c| std::cmp::Reverse(key(c)));
        costs
            .iter()
            .filter(|c| key(c) > 0)
            .take(2)
            .map(|c| c.part.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if estimate.fds() > limits.fds {
        return Err(OverBudget(format!(
            "the drill needs about {} open descriptors, over this process's limit of {} (raise it with `ulimit -n`, up to the hard limit `ulimit -Hn` shows); most go to {}",
            estimate.fds(),
            limits.fds,
            largest(|c| c.fds)
        )));
    }
    if estimate.memory() > limits.memory {
        return Err(OverBudget(format!(
            "the drill needs about {}, over the memory budget of {} (a quarter of this machine, at most 4 GiB; --memory-budget raises it); most goes to {}",
            Bytes(estimate.memory()),
            Bytes(limits.memory),
            largest(|c| c.memory)
        )));
    }
    Ok(())
}

/// A byte count for people: `4.5 GiB`, `136 KiB`.
#[derive(Debug, Clone, Copy)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if b >= (1u64 << 30) as f64 {
            write!(f, "{:.1} GiB", b / (1u64 << 30) as f64)
        } else if b >= (1u64 << 20) as f64 {
            write!(f, "{:.0} MiB", b / (1u64 << 20) as f64)
        } else {
            write!(f, "{:.0} KiB", b / 1024.0)
        }
    }
}

/// Parses a byte size such as `8GiB`, `512MiB`, `2G` for `--memory-budget`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size such as 8GiB or 512MiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("\"{text}\" is not a size such as 8GiB or 512MiB")),
    };
    Ok((n * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_drill, EmbeddedProfiles};
    use crate::plan::Overrides;

    fn plan(text: &str) -> Plan {
        let drill = parse_drill("budget.toml", text, &EmbeddedProfiles(&[])).expect("valid");
        Plan::new(drill, &Overrides::default()).expect("plans")
    }

    fn many_users(users: usize, groups: usize) -> String {
        let mut text = format!(
            "target = \"http://127.0.0.1:1\"\n[[phases]]\nname = \"p\"\nexecutor = \"ramping-vus\"\nstages = [{{ duration = \"20s\", target = {users} }}]\n"
        );
        for g in 0..groups {
            text += &format!("[[requests]]\nname = \"r{g}\"\npath = \"/{g}\"\n");
        }
        text
    }

    #[test]
    fn tens_of_thousands_of_users_are_refused_with_their_cost_named() {
        let limits = Limits {
            memory: 2 << 30,
            fds: 100_000,
        };
        let big = estimate(&plan(&many_users(40_000, 8)));
        let err = check(&big, limits).expect_err("over budget").to_string();
        assert!(err.contains("over the memory budget of 2.0 GiB"), "{err}");
        assert!(err.contains("load connections: 40000"), "{err}");
        assert_eq!(check(&estimate(&plan(&many_users(50, 2))), limits), Ok(()));
    }

    #[test]
    fn histograms_do_not_grow_with_the_users() {
        // Workers share their phase's recorders: 20,000 users cost no more histograms
        // than 20, and fit the default budget (the stress ramp users write).
        let histograms = |users| {
            estimate(&plan(&many_users(users, 4)))
                .costs
                .into_iter()
                .find(|c| c.part.starts_with("latency histograms"))
                .map(|c| c.memory)
        };
        assert_eq!(histograms(20), histograms(20_000));
        let limits = Limits {
            memory: 4 << 30,
            fds: 65_536,
        };
        assert_eq!(
            check(&estimate(&plan(&many_users(20_000, 4))), limits),
            Ok(())
        );
    }

    #[test]
    fn more_connections_than_descriptors_are_refused() {
        let limits = Limits {
            memory: 1 << 40,
            fds: 20_000,
        };
        let err = check(&estimate(&plan(&many_users(30_000, 1))), limits)
            .expect_err("over the fd limit")
            .to_string();
        assert!(err.contains("over this process's limit of 20000"), "{err}");
        assert!(err.contains("load connections: 30000"), "{err}");
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_bytes("8GiB"), Ok(8 << 30));
        assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1.5G"), Ok(3 << 29));
        assert!(parse_bytes("lots").is_err());
        assert_eq!(Bytes(136 * 1024).to_string(), "136 KiB");
        assert_eq!(Bytes(4_831_838_208).to_string(), "4.5 GiB");
    }
}
