//! The fault kinds: one file each, behind the registry [`KINDS`].
//!
//! A kind parses its own keys of a `[[faults]]` entry (through [`KindTable`], which reports
//! problems as `FILE:LINE:COL`), and applies itself by adding to a request's [`Decision`].
//! Adding a kind is one new file and one line in [`KINDS`].

mod blackhole;
mod empty;
mod latency;
mod malformed;
mod reset;
mod slow_body;
mod status;
mod truncate;

use crate::config::KindTable;
use crate::rng::Rng;
use bytes::Bytes;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

/// One fault kind, validated and ready to apply.
pub trait FaultKind: Debug + Send + Sync {
    /// The kind's name as written in profiles.
    fn name(&self) -> &'static str;

    /// Whether the fault makes calls fail, rather than only slowing them (for the witnesses).
    fn injects_failure(&self) -> bool;

    /// Adds this fault's effect to `decision`; `false` when it had nothing left to change
    /// (e.g. a second terminal fault after a first one already won), so it is not counted.
    fn apply(&self, decision: &mut Decision, cx: &mut ApplyContext) -> bool;
}

/// Parses one kind's keys; `None` when they are unusable (the problems are reported).
pub type ParseKind = fn(&mut KindTable) -> Option<Arc<dyn FaultKind>>;

/// Every fault kind, by name, in the order they are listed in messages.
pub const KINDS: &[(&str, ParseKind)] = &[
    ("status", status::parse),
    ("latency", latency::parse),
    ("slow_body", slow_body::parse),
    ("truncate", truncate::parse),
    ("malformed", malformed::parse),
    ("empty", empty::parse),
    ("reset", reset::parse),
    ("blackhole", blackhole::parse),
];

/// The parser for `name`, if it is a known kind.
pub fn lookup(name: &str) -> Option<ParseKind> {
    KINDS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// The known kinds' names, comma-separated, for messages.
pub fn known() -> String {
    KINDS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// What applying a fault may use besides the decision: seeded randomness and the window.
#[derive(Debug)]
pub struct ApplyContext {
    /// Random numbers for this fault and this request, derived from the seed.
    pub rng: Rng,
    /// When the fault's window closes, on the run clock.
    pub until: Duration,
}

/// What the proxy does to one request, composed from every fault that hit it.
///
/// Order (documented in docs/fault-profiles.md): the request is held for `hold`; then the
/// `terminal` answer, if any, replaces forwarding; the answer's body is then shaped by `body`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decision {
    /// Held before forwarding or answering (delays the response headers).
    pub hold: Duration,
    /// An answer instead of the upstream's; the first terminal fault in profile order wins.
    pub terminal: Option<Terminal>,
    /// What happens to the response body on its way to the client.
    pub body: BodyPlan,
}

/// An answer that replaces forwarding.
#[derive(Debug, Clone, PartialEq)]
pub enum Terminal {
    /// Answer with this status, body and headers.
    Status {
        /// The status code.
        code: u16,
        /// The body.
        body: Bytes,
        /// Extra headers (e.g. `Retry-After`).
        headers: Vec<(http::HeaderName, http::HeaderValue)>,
    },
    /// End the connection as chosen, with no HTTP response.
    Close(ConnectionEnd),
    /// Read the request and never answer, until the window closes; then close.
    Blackhole {
        /// When to give up holding, on the run clock.
        until: Duration,
    },
}

/// How a connection ends when a fault takes it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// A plain close (FIN) with nothing written.
    Empty,
    /// A TCP RST.
    Reset,
    /// These bytes written raw, then a close.
    Raw(Bytes),
}

/// How the body of an answer is delivered.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BodyPlan {
    /// Held after the headers, before the first body byte.
    pub delay: Duration,
    /// Spread the body over this long.
    pub dribble: Option<Duration>,
    /// Send only part of the body, then close.
    pub cut: Option<Cut>,
}

impl BodyPlan {
    /// Whether the body goes through untouched.
    pub fn is_plain(&self) -> bool {
        self.delay.is_zero() && self.dribble.is_none() && self.cut.is_none()
    }
}

/// How much of a body a `truncate` fault lets through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cut {
    /// At most this many bytes.
    Bytes(u64),
    /// This fraction of the body, 0.0 to 1.0.
    Fraction(f64),
}

impl Cut {
    /// How many of `len` bytes are sent.
    pub fn keep(self, len: usize) -> usize {
        match self {
            Cut::Bytes(n) => usize::try_from(n).unwrap_or(usize::MAX).min(len),
            Cut::Fraction(f) => ((len as f64 * f).floor() as usize).min(len),
        }
    }
}

/// Sets `terminal` if no earlier fault set one; whether it did.
pub(crate) fn set_terminal(decision: &mut Decision, terminal: Terminal) -> bool {
    if decision.terminal.is_some() {
        return false;
    }
    decision.terminal = Some(terminal);
    true
}
