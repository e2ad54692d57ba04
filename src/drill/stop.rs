//! Asking a running drill to stop, and remembering why: Ctrl-C, SIGTERM, an abort threshold.

use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// A request to stop a drill early, with its reason; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    reason: Arc<OnceLock<String>>,
}

impl Stop {
    /// A stop nobody has asked for yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the drill to stop because of `reason`; only the first reason is kept.
    pub fn stop(&self, reason: impl Into<String>) {
        let _ = self.reason.set(reason.into());
        self.token.cancel();
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once a stop is asked for.
    pub async fn stopped(&self) {
        self.token.cancelled().await;
    }

    /// Why the drill was asked to stop, if it was.
    pub fn reason(&self) -> Option<String> {
        self.reason.get().cloned()
    }

    /// The token the load engine watches.
    pub(crate) fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

/// Waits for Ctrl-C or SIGTERM and names it; `None` if no signal can be watched.
pub async fn next_signal() -> Option<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok()?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.ok().map(|_| "Ctrl-C"),
            _ = term.recv() => Some("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok().map(|_| "Ctrl-C")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_wins() {
        let s = Stop::new();
        assert!(!s.is_stopped() && s.reason().is_none());
        let clone = s.clone();
        clone.stop("SIGTERM");
        s.stop("Ctrl-C");
        assert!(s.is_stopped());
        assert_eq!(s.reason().as_deref(), Some("SIGTERM"));
    }
}
