//! The validated fault profiles: what the proxy does to which requests, and when.

use crate::fault::kind::FaultKind;
use std::sync::Arc;
use std::time::Duration;

/// A named, reusable set of faults.
#[derive(Debug, Clone)]
pub struct FaultProfile {
    /// The profile's name (its file stem).
    pub name: String,
    /// What the profile simulates.
    pub description: String,
    /// The faults, in the order the proxy tries them.
    pub faults: Vec<Fault>,
}

/// One thing the proxy does to matching requests while its window is open.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What happens: the kind, with its own settings.
    pub kind: Arc<dyn FaultKind>,
    /// Chance per request (or per connection), 0.0 to 1.0; the ramp's end if it ramps.
    pub probability: f64,
    /// Whether the chance is rolled once per connection instead of once per request.
    pub per_connection: bool,
    /// Probability rising (or falling) linearly from the window's start.
    pub ramp: Option<Ramp>,
    /// Which requests the fault applies to.
    pub matcher: FaultMatch,
    /// On and off in cycles within the window (flapping), if set.
    pub cycle: Option<Cycle>,
    /// Window start, relative to the start of the phase using the profile.
    pub start: Duration,
    /// Window length; `None` lasts to the end of the phase.
    pub duration: Option<Duration>,
    /// The `[[faults]]` entry as written, so the fault can be sent to a remote proxy and
    /// validated there by the same rules.
    pub source: toml::Table,
}

impl Fault {
    /// The kind's name as written in profiles.
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// The probability `into` the window (a ramp's value, else the fixed one).
    pub fn probability_at(&self, into: Duration) -> f64 {
        match &self.ramp {
            None => self.probability,
            Some(r) if into >= r.over => self.probability,
            Some(r) => {
                let share = into.as_secs_f64() / r.over.as_secs_f64();
                r.from + (self.probability - r.from) * share
            }
        }
    }
}

/// A fault that is on for `on_for` at the start of every `period` of its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cycle {
    /// Length of one on/off cycle.
    pub period: Duration,
    /// How long the fault is on at the start of each cycle.
    pub on_for: Duration,
}

impl Cycle {
    /// Whether the fault is on `into` its window.
    pub fn is_on(&self, into: Duration) -> bool {
        let period = self.period.as_nanos().max(1);
        into.as_nanos() % period < self.on_for.as_nanos()
    }
}

/// A linear ramp of a fault's probability from `from` to its `probability` over `over`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ramp {
    /// Probability when the window opens.
    pub from: f64,
    /// How long the ramp takes.
    pub over: Duration,
}

/// Which requests a fault applies to; an empty part matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultMatch {
    /// Methods, any of which matches.
    pub methods: Vec<http::Method>,
    /// A path prefix, or a glob (`*` any run of characters, `?` one) if it has either.
    pub path: Option<String>,
    /// Headers that must be present, with a glob their value must match.
    pub headers: Vec<(http::HeaderName, String)>,
}
