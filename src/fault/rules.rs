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
    /// Whether the window is open at `t`, the fault is not in the off part of its flapping
    /// cycle, and its match accepts `request`.
    pub fn applies(&self, t: Duration, request: &RequestView) -> bool {
        self.matches(t, request)
            && self
                .fault
                .cycle
                .is_none_or(|c| c.is_on(t.saturating_sub(self.from)))
    }

    /// Whether the window is open at `t` and the fault's match accepts `request`, whatever
    /// its flapping cycle says (the decision log reports a cycle that is off).
    pub fn matches(&self, t: Duration, request: &RequestView) -> bool {
        let m = &self.fault.matcher;
        self.from <= t
            && t < self.until
            && (m.methods.is_empty() || m.methods.contains(request.method))
            && m.path
                .as_deref()
                .is_none_or(|pattern| path_matches(pattern, request.path))
            && m.headers.iter().all(|(name, value)| {
                request
                    .headers
                    .get_all(name)
                    .iter()
                    .any(|v| glob(value.as_bytes(), v.as_bytes()))
            })
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

    /// Every one of `faults` on over `[from, until)`, ids by position (tests, and a proxy
    /// switched on by hand).
    pub fn all_in(faults: Vec<Fault>, from: Duration, until: Duration) -> Self {
        Self::numbered(faults, |_| (from, until))
    }

    /// `faults` on a clock that starts with them: each one's window as its profile gives it
    /// (`start`, for `duration`), open-ended when it has no duration. The standalone proxy
    /// applies a profile this way.
    pub fn from_start(faults: Vec<Fault>) -> Self {
        Self::numbered(faults, |f| {
            (
                f.start,
                f.duration
                    .map_or(Duration::MAX, |d| f.start.saturating_add(d)),
            )
        })
    }

    fn numbered(faults: Vec<Fault>, window: impl Fn(&Fault) -> (Duration, Duration)) -> Self {
        Rules::new(
            faults
                .into_iter()
                .enumerate()
                .map(|(id, fault)| {
                    let (from, until) = window(&fault);
                    Rule {
                        id,
                        from,
                        until,
                        fault,
                    }
                })
                .collect(),
        )
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether any rule matches on request headers (else a request's headers need not be
    /// collected for deciding).
    pub(crate) fn needs_headers(&self) -> bool {
        self.rules
            .iter()
            .any(|r| !r.fault.matcher.headers.is_empty())
    }

    /// What to do to the `n`-th request (the proxy's `connection`-th connection) at `now`;
    /// `hit` is called with the id of every rule that changed the decision.
    ///
    /// Pure: the same seed, time, request and counters give the same decision. A
    /// per-connection fault rolls once per connection (its roll is the same for every
    /// request on it), so with a ramp a connection is hit once the probability passes it.
    pub fn decide(
        &self,
        seed: u64,
        now: Duration,
        request: &RequestView,
        counters: (u64, u64),
        mut hit: impl FnMut(usize),
    ) -> Decision {
        self.decide_explained(seed, now, request, counters, |outcome| {
            if outcome.verdict == Verdict::Injected {
                hit(outcome.id);
            }
        })
    }

    /// [`Rules::decide`], reporting every rule whose window and match applied to `report`:
    /// its roll against its probability and why it did or did not change the decision
    /// (the decision log). Just as pure.
    pub fn decide_explained(
        &self,
        seed: u64,
        now: Duration,
        request: &RequestView,
        (n, connection): (u64, u64),
        mut report: impl FnMut(RuleOutcome),
    ) -> Decision {
        let mut decision = Decision::default();
        // The rule whose terminal answer (status, reset, …) the request got, once one did.
        let mut answered_by = None;
        for rule in self.rules.iter().filter(|r| r.matches(now, request)) {
            let id = rule.id as u64;
            let roll = if rule.fault.per_connection {
                rng::decision(seed ^ 0xc0_11ec7, id, connection)
            } else {
                rng::decision(seed, id, n)
            };
            let into = now.saturating_sub(rule.from);
            let probability = rule.fault.probability_at(into);
            let verdict = if rule.fault.cycle.is_some_and(|c| !c.is_on(into)) {
                Verdict::CycleOff
            } else if roll >= probability {
                Verdict::RollMissed
            } else {
                let mut cx = ApplyContext {
                    rng: Rng::new(seed ^ 0x5eed, id.rotate_left(40) ^ n),
                    until: rule.until,
                };
                let had_terminal = decision.terminal.is_some();
                if rule.fault.kind.apply(&mut decision, &mut cx) {
                    if !had_terminal && decision.terminal.is_some() {
                        answered_by = Some(rule.id);
                    }
                    Verdict::Injected
                } else {
                    match answered_by {
                        Some(by) => Verdict::AlreadyAnswered(by),
                        None => Verdict::NoEffect,
                    }
                }
            };
            report(RuleOutcome {
                id: rule.id,
                kind: rule.fault.kind_name(),
                roll,
                probability,
                verdict,
            });
        }
        decision
    }
}

/// What one rule did to one request, as [`Rules::decide_explained`] reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleOutcome {
    /// The rule's id.
    pub id: usize,
    /// Its fault kind's name.
    pub kind: &'static str,
    /// The request's (or connection's) roll, in `[0, 1)`.
    pub roll: f64,
    /// The rule's probability at that moment (a ramp's current value).
    pub probability: f64,
    /// Whether it changed the decision, and if not, why.
    pub verdict: Verdict,
}

/// Why a rule whose window and match applied did or did not change a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The roll was under the probability and the fault changed the request.
    Injected,
    /// The roll was not under the probability.
    RollMissed,
    /// The fault flaps and was in the off part of its cycle.
    CycleOff,
    /// The roll hit, but the request was already answered by this earlier rule.
    AlreadyAnswered(usize),
    /// The roll hit, but the fault had nothing left to change.
    NoEffect,
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

/// Whether `path` matches `pattern`: a glob (`*` any run of characters, `/` included; `?`
/// one character) if the pattern has `*` or `?`, else a prefix.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    if pattern.contains(['*', '?']) {
        glob(pattern.as_bytes(), path.as_bytes())
    } else {
        path.starts_with(pattern)
    }
}

/// Whole-string wildcard match, linear with one backtrack point.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_profile;

    fn rules(text: &str) -> Rules {
        let p = parse_profile("p", "p.toml", text).expect("valid");
        Rules::all_in(p.faults, Duration::from_secs(10), Duration::from_secs(100))
    }

    fn hits(
        rules: &Rules,
        at: Duration,
        method: &http::Method,
        headers: &http::HeaderMap,
    ) -> usize {
        let view = RequestView {
            method,
            path: "/item/1",
            headers,
        };
        (0..1000)
            .filter(|&n| {
                rules
                    .decide(7, at, &view, (n, 0), |_| {})
                    .terminal
                    .is_some()
            })
            .count()
    }

    #[test]
    fn a_ramp_raises_the_probability_from_the_window_start() {
        let r = rules("[[faults]]\nkind = \"status\"\nstatus = 503\nramp = \"30s\"\n");
        let none = http::HeaderMap::new();
        let get = http::Method::GET;
        assert_eq!(hits(&r, Duration::from_secs(10), &get, &none), 0);
        let half = hits(&r, Duration::from_secs(25), &get, &none);
        assert!((400..600).contains(&half), "{half}");
        assert_eq!(hits(&r, Duration::from_secs(40), &get, &none), 1000);
        assert_eq!(
            hits(&r, Duration::from_secs(100), &get, &none),
            0,
            "window closed"
        );
        let down = rules(
            "[[faults]]\nkind = \"reset\"\nprobability = 0.0\nramp_from = 1.0\nramp = \"10s\"\n",
        );
        assert_eq!(hits(&down, Duration::from_secs(10), &get, &none), 1000);
        assert_eq!(hits(&down, Duration::from_secs(20), &get, &none), 0);
    }

    #[test]
    fn a_cycle_flaps_the_fault_on_and_off() {
        let r = rules("[[faults]]\nkind = \"reset\"\nperiod = \"10s\"\non_for = \"4s\"\n");
        let none = http::HeaderMap::new();
        let get = http::Method::GET;
        let at = |s: u64| hits(&r, Duration::from_secs(s), &get, &none);
        assert_eq!((at(10), at(13), at(14), at(19)), (1000, 1000, 0, 0));
        assert_eq!((at(20), at(23), at(25)), (1000, 1000, 0));
    }

    #[test]
    fn faults_match_on_method_path_and_header() {
        let r = rules(
            "[[faults]]\nkind = \"reset\"\nmethod = [\"post\", \"PUT\"]\npath = \"/item/*\"\nmatch_headers = { x-tier = \"gold*\" }\n",
        );
        let at = Duration::from_secs(50);
        let mut gold = http::HeaderMap::new();
        gold.insert("x-tier", http::HeaderValue::from_static("gold-plus"));
        let mut silver = http::HeaderMap::new();
        silver.insert("x-tier", http::HeaderValue::from_static("silver"));
        assert_eq!(hits(&r, at, &http::Method::POST, &gold), 1000);
        assert_eq!(hits(&r, at, &http::Method::GET, &gold), 0);
        assert_eq!(hits(&r, at, &http::Method::PUT, &silver), 0);
        assert_eq!(hits(&r, at, &http::Method::PUT, &http::HeaderMap::new()), 0);
    }

    #[test]
    fn globs_and_prefixes() {
        assert!(path_matches("/item/", "/item/7"));
        assert!(!path_matches("/item/", "/items"));
        assert!(path_matches("/item/*", "/item/7/x"));
        assert!(path_matches("/*/7", "/item/7"));
        assert!(!path_matches("/*/7", "/item/8"));
        assert!(path_matches("/item/?", "/item/7"));
        assert!(!path_matches("/item/?", "/item/77"));
        assert!(glob(b"gold*", b"gold-tier"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"a*b", b"acbd"));
    }
}
