//! The record of a demo breaker's transitions: its state now, every transition with its
//! time (for `GET /breaker`), and, when configured, one JSON line per transition appended to
//! a file: the ground truth breakerbox's observations are checked against.

use super::breaker::BreakerError;
use crate::breaker_state::BreakerState;
use crate::config::DemoBreaker;
use serde::Serialize;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// One breaker transition, as `GET /breaker` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// Milliseconds since the breaker was built.
    pub at_ms: u64,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// The state left; `None` for the initial `closed`.
    pub from: Option<BreakerState>,
    /// The state entered.
    pub to: BreakerState,
}

/// One line of the transition log file.
#[derive(Serialize)]
struct LogLine<'a> {
    unix_ms: u64,
    time: &'a str,
    from: Option<BreakerState>,
    to: BreakerState,
    breaker: &'static str,
}

/// The state, the transitions and the rejection count of one breaker, shared by the state
/// machine (which records) and the service (which reads).
#[derive(Debug)]
pub struct TransitionLog {
    /// Which breaker this log belongs to.
    pub(super) kind: DemoBreaker,
    started: Instant,
    state: AtomicU8,
    rejected: AtomicU64,
    inner: Mutex<LogInner>,
}

#[derive(Debug)]
struct LogInner {
    last: Option<BreakerState>,
    transitions: Vec<Transition>,
    file: Option<(PathBuf, File)>,
}

impl TransitionLog {
    /// A log for a breaker of `kind`, appending to `file` (path, open file) if given.
    pub(super) fn new(kind: DemoBreaker, file: Option<(PathBuf, File)>) -> TransitionLog {
        TransitionLog {
            kind,
            started: Instant::now(),
            state: AtomicU8::new(BreakerState::Closed.to_code()),
            rejected: AtomicU64::new(0),
            inner: Mutex::new(LogInner {
                last: None,
                transitions: Vec::new(),
                file,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a transition to `to`, timestamped now. Callers hold their own state lock (or
    /// are failsafe's hook), so lines appear in transition order.
    pub(super) fn record(&self, to: BreakerState) {
        let mut inner = self.lock();
        let now = SystemTime::now();
        let at_ms = millis(self.started.elapsed());
        let unix_ms = crate::clock::unix_ms_at(now, Duration::ZERO);
        let time = crate::clock::rfc3339_at(now, Duration::ZERO);
        let from = inner.last.replace(to);
        self.state.store(to.to_code(), Ordering::Release);
        let transition = Transition {
            at_ms,
            unix_ms,
            from,
            to,
        };
        if let Some((path, file)) = &mut inner.file {
            let line = LogLine {
                unix_ms,
                time: &time,
                from,
                to,
                breaker: self.kind.as_str(),
            };
            let written = serde_json::to_vec(&line)
                .map_err(std::io::Error::other)
                .and_then(|mut bytes| {
                    bytes.push(b'\n');
                    file.write_all(&bytes)?;
                    file.flush()
                });
            if let Err(e) = written {
                tracing::warn!(path = %path.display(), error = %e, "cannot append to the transition log");
            }
        }
        inner.transitions.push(transition);
    }

    pub(super) fn reject(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// The state now.
    pub fn state(&self) -> BreakerState {
        BreakerState::from_code(self.state.load(Ordering::Acquire)).unwrap_or(BreakerState::Closed)
    }

    /// Every transition so far, oldest first (the first is the initial `closed`).
    pub fn transitions(&self) -> Vec<Transition> {
        self.lock().transitions.clone()
    }

    /// Calls rejected so far (open, or half-open with every trial slot taken).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Opens `path` for appending (creating it), for the transition log.
pub(super) fn open_log_file(path: &Path) -> Result<File, BreakerError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| BreakerError::TransitionLog {
            path: path.to_path_buf(),
            source,
        })
}
