//! The rule set the proxy applies: faults with absolute windows on the run clock.
//!
//! Rules know nothing of plans or phases (the drill wiring turns a plan's schedule into
//! rules), and a running proxy's rules can be swapped at once with [`RuleSet::swap`].

use super::kind::{ApplyContext, Decision};
use crate::config::Fault;
use crate::rng::{self, Rng};
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;

/// One fault with its absolute window.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The tap counts this rule's injections under this id.
    pub id: usize,
    /// Window start, from the run epoch.
    pub from: Duration,
    /// Window end (exclusive), from the run epoch.
    pub until: Duration,
    /// What it does and to which requests.
    pub fault: Fault,
}

/// What the rules look at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The method.
    pub method: &'a http::Method,
    /// The path, without the query.
    pub path: &'a str,
    /// The headers.
    pub headers: &'a http::HeaderMap,
}

impl Rule {
    /// Whether the window is open at `t` and the fault's match accepts `request`.
    pub fn applies(&self, t: Duration, request: &RequestView) -> bool {
        self.from <= t
            && t < self.until
            && self
                .fault
                .path_prefix
                .as_deref()
                .is_none_or(|prefix| request.path.starts_with(prefix))
    }
}

/// An immutable set of rules, in the order they are tried.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Rules tried in the given order.
    pub fn new(rules: Vec<Rule>) -> Self {
        Rules { rules }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// What to do to the `n`-th request (on connection `connection`) at `now`; `hit` is
    /// called with the id of every rule that changed the decision.
    ///
    /// Pure: the same seed, time, request and counters give the same decision.
    pub fn decide(
        &self,
        seed: u64,
        now: Duration,
        request: &RequestView,
        n: u64,
        mut hit: impl FnMut(usize),
    ) -> Decision {
        let mut decision = Decision::default();
        for rule in self.rules.iter().filter(|r| r.applies(now, request)) {
            let id = rule.id as u64;
            if rng::decision(seed, id, n) >= rule.fault.probability {
                continue;
            }
            let mut cx = ApplyContext {
                rng: Rng::new(seed ^ 0x5eed, id.rotate_left(40) ^ n),
                until: rule.until,
            };
            if rule.fault.kind.apply(&mut decision, &mut cx) {
                hit(rule.id);
            }
        }
        decision
    }
}

/// The rules a running proxy applies, replaceable while requests are in flight: a request
/// decides against the set current when it arrived.
#[derive(Debug)]
pub struct RuleSet {
    current: ArcSwap<Rules>,
}

impl RuleSet {
    /// A set starting with `rules`.
    pub fn new(rules: Rules) -> Self {
        RuleSet {
            current: ArcSwap::from_pointee(rules),
        }
    }

    /// The current rules.
    pub fn load(&self) -> Arc<Rules> {
        self.current.load_full()
    }

    /// Replaces the rules for every later request.
    pub fn swap(&self, rules: Rules) {
        self.current.store(Arc::new(rules));
    }
}
