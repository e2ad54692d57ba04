//! A proxy's fault session: the rules, the clock they are timed on, the seed they roll
//! with, the tap and the decision log that count what they did.
//!
//! The run clock is set-once, so installing new faults on a running proxy swaps the whole
//! session at once ([`LiveSession::install`]): every later request decides, and is counted,
//! against the new one, without the proxy re-binding its port.

use super::decisions::DecisionLog;
use super::rules::Rules;
use super::tap::Tap;
use crate::clock::RunClock;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Rules on a clock, with the counters of what they did.
#[derive(Debug)]
pub struct Session {
    /// The rules, with windows on `clock`.
    pub rules: Rules,
    /// The clock; nothing is injected or counted before it starts.
    pub clock: RunClock,
    /// Seed of every roll.
    pub seed: u64,
    /// Counts of what passed and what was injected.
    pub tap: Arc<Tap>,
    /// Every rule's verdict on every request it applied to.
    pub decisions: DecisionLog,
    /// Requests decided so far (a request's number is its roll's counter).
    requests: AtomicU64,
    /// The proxy's connection count when the session was installed: connections are
    /// numbered from it, so a replayed session rolls per-connection faults the same way.
    connection_base: u64,
}

impl Session {
    /// `rules` on `clock`, rolled with `seed`, counted into `tap`.
    pub fn new(rules: Rules, clock: RunClock, seed: u64, tap: Arc<Tap>) -> Self {
        Session {
            rules,
            clock,
            seed,
            tap,
            decisions: DecisionLog::default(),
            requests: AtomicU64::new(0),
            connection_base: 0,
        }
    }

    /// Time on the session's clock; `None` before it starts.
    pub fn elapsed(&self) -> Option<Duration> {
        self.clock.elapsed()
    }

    /// The next request's number in this session.
    pub fn next_request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    /// The session's number for the proxy's `connection`-th connection (0 for connections
    /// accepted before it was installed).
    pub fn connection(&self, connection: u64) -> u64 {
        connection.saturating_sub(self.connection_base)
    }
}

/// The session a running proxy applies, replaced whole while requests are in flight: a
/// request decides against the session current when it arrived.
#[derive(Debug)]
pub struct LiveSession {
    current: ArcSwap<Session>,
    /// Connections the proxy has accepted.
    connections: AtomicU64,
}

impl LiveSession {
    /// A live session starting with `session`.
    pub fn new(session: Session) -> Self {
        LiveSession {
            current: ArcSwap::from_pointee(session),
            connections: AtomicU64::new(0),
        }
    }

    /// The current session.
    pub fn load(&self) -> Arc<Session> {
        self.current.load_full()
    }

    /// Time on the current session's clock; `None` before it starts.
    pub fn elapsed(&self) -> Option<Duration> {
        self.current.load().clock.elapsed()
    }

    /// Makes `session` current for every later request; its connections are numbered
    /// from now.
    pub fn install(&self, mut session: Session) {
        session.connection_base = self.connections.load(Ordering::Relaxed);
        self.current.store(Arc::new(session));
    }

    /// The number of a newly accepted connection.
    pub fn next_connection(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_session_numbers_connections_from_its_install() {
        let live = LiveSession::new(Session::new(
            Rules::default(),
            RunClock::new(),
            1,
            Arc::new(Tap::new(0, Duration::from_secs(1))),
        ));
        assert_eq!((live.next_connection(), live.next_connection()), (0, 1));
        live.install(Session::new(
            Rules::default(),
            RunClock::new(),
            2,
            Arc::new(Tap::new(0, Duration::from_secs(1))),
        ));
        let session = live.load();
        assert_eq!(session.seed, 2);
        assert_eq!(session.connection(live.next_connection()), 0);
        assert_eq!(session.connection(5), 3);
        assert_eq!((session.next_request(), session.next_request()), (0, 1));
        assert_eq!(live.elapsed(), None);
    }
}
