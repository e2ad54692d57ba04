//! The validated model of what virtual users do: requests (with headers, bodies, captures,
//! checks), user types (an ordered flow or a weighted set of tasks), think times, data
//! files, and the setup and teardown requests run once around the load.

use super::data::DataSet;
use super::template::Template;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use std::sync::Arc;
use std::time::Duration;

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// One request: in the mix, a user type's flow or tasks, or setup/teardown.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Name used to group metrics and thresholds.
    pub name: String,
    /// HTTP method.
    pub method: http::Method,
    /// Path and query, with placeholders.
    pub path: Template,
    /// Extra headers, with placeholders.
    pub headers: Vec<HeaderSpec>,
    /// The body, if any.
    pub body: Option<BodySpec>,
    /// Relative weight in the mix (and the default weight in a user type's tasks).
    pub weight: u32,
    /// Labels thresholds can select.
    pub tags: Vec<String>,
    /// Upper bound on this request (redirects included); `None` is the drill's
    /// `request_timeout`.
    pub timeout: Option<Duration>,
    /// Follow same-target redirects (up to [`MAX_REDIRECTS`]); `false` records the 3xx.
    pub follow_redirects: bool,
    /// Values taken from the response for later requests.
    pub captures: Vec<CaptureSpec>,
    /// What the response must satisfy; counted as the check rate.
    pub checks: Checks,
}

impl RequestSpec {
    /// A plain `GET path` with no extras (for tests and the quick mode).
    pub fn get(name: &str, path: Template) -> RequestSpec {
        RequestSpec {
            name: name.to_string(),
            method: http::Method::GET,
            path,
            headers: Vec::new(),
            body: None,
            weight: 1,
            tags: Vec::new(),
            timeout: None,
            follow_redirects: true,
            captures: Vec::new(),
            checks: Checks::default(),
        }
    }

    /// Whether the response body must be kept for this request's captures or checks.
    pub fn needs_body(&self) -> bool {
        self.checks.body_contains.is_some()
            || self.checks.body_pointer.is_some()
            || self
                .captures
                .iter()
                .any(|c| !matches!(c.source, CaptureSource::Header(_)))
    }

    /// The capture slots the request reads (path, headers, body).
    pub fn reads_captures(&self) -> Vec<usize> {
        let mut slots: Vec<usize> = self.templates().flat_map(Template::captures).collect();
        slots.sort_unstable();
        slots.dedup();
        slots
    }

    /// The data sets the request reads.
    pub fn reads_data(&self) -> Vec<usize> {
        let mut sets: Vec<usize> = self.templates().flat_map(Template::data_sets).collect();
        sets.sort_unstable();
        sets.dedup();
        sets
    }

    fn templates(&self) -> impl Iterator<Item = &Template> {
        std::iter::once(&self.path)
            .chain(self.headers.iter().map(|h| &h.value))
            .chain(self.body.iter().map(|b| &b.template))
    }
}

/// One request header.
#[derive(Debug, Clone)]
pub struct HeaderSpec {
    /// The header's name.
    pub name: HeaderName,
    /// Its value, with placeholders.
    pub value: Template,
    /// The value built once, when it has no placeholders.
    pub fixed: Option<HeaderValue>,
}

/// A request body.
#[derive(Debug, Clone)]
pub struct BodySpec {
    /// The body text, with placeholders.
    pub template: Template,
    /// The body built once, when it has no placeholders.
    pub fixed: Option<Bytes>,
    /// The `content-type` sent unless the request's headers set one.
    pub content_type: Option<HeaderValue>,
}

/// One value taken from a response.
#[derive(Debug, Clone)]
pub struct CaptureSpec {
    /// The name later requests use (`{{capture.NAME}}`).
    pub name: String,
    /// Where the value is kept (index into the capture names).
    pub slot: usize,
    /// Where in the response it comes from.
    pub source: CaptureSource,
}

/// Where a captured value comes from.
#[derive(Debug, Clone)]
pub enum CaptureSource {
    /// The JSON body's value at this pointer (strings as they are, other values as JSON).
    Json(String),
    /// This response header's value.
    Header(HeaderName),
    /// The first match in the body: its first group if it has one, else the whole match.
    Regex(regex::Regex),
}

/// Per-request checks; each condition given counts as one check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checks {
    /// The status must be one of these.
    pub status: Vec<u16>,
    /// The body must contain this text.
    pub body_contains: Option<String>,
    /// The JSON body must have a value at this pointer…
    pub body_pointer: Option<String>,
    /// …equal to this one, when given.
    pub body_equals: Option<serde_json::Value>,
    /// The response must be complete within this time of the send.
    pub max_duration: Option<Duration>,
}

impl Checks {
    /// Whether there is nothing to check.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// How many checks one response counts.
    pub fn count(&self) -> u16 {
        u16::from(!self.status.is_empty())
            + u16::from(self.body_contains.is_some())
            + u16::from(self.body_pointer.is_some())
            + u16::from(self.max_duration.is_some())
    }
}

/// The pause after an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThinkTime {
    /// The same pause every time (zero: none).
    Constant(Duration),
    /// A pause drawn uniformly between the two (from the virtual user's seeded stream).
    Uniform {
        /// Shortest pause.
        min: Duration,
        /// Longest pause.
        max: Duration,
    },
    /// Iterations start this far apart; a longer iteration starts the next at once.
    Pacing(Duration),
}

impl ThinkTime {
    /// No pause.
    pub const NONE: ThinkTime = ThinkTime::Constant(Duration::ZERO);

    /// How often a user pausing like this means to start an iteration, as far as the pause
    /// alone says (the mean pause, or the pacing); `None` with no pause, where a closed loop
    /// has no schedule to fall behind.
    pub fn expected_interval(self) -> Option<Duration> {
        let interval = match self {
            ThinkTime::Constant(d) | ThinkTime::Pacing(d) => d,
            ThinkTime::Uniform { min, max } => (min + max) / 2,
        };
        (!interval.is_zero()).then_some(interval)
    }

    /// The longest pause it can make.
    pub fn longest(self) -> Duration {
        match self {
            ThinkTime::Constant(d) | ThinkTime::Pacing(d) => d,
            ThinkTime::Uniform { max, .. } => max,
        }
    }
}

impl Default for ThinkTime {
    fn default() -> Self {
        ThinkTime::NONE
    }
}

/// What a user type does in each iteration.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// These requests, in order (indices into the drill's requests).
    Flow(Vec<usize>),
    /// One of these requests, drawn by weight.
    Tasks(Vec<(usize, u32)>),
}

/// A kind of virtual user with its share of the users.
#[derive(Debug, Clone, PartialEq)]
pub struct UserType {
    /// Name used to group metrics and thresholds.
    pub name: String,
    /// Relative share of the virtual users.
    pub weight: u32,
    /// Requests run once before the user's first iteration (again while one of them
    /// failed or missed a capture), e.g. a login.
    pub on_start: Vec<usize>,
    /// What each iteration does.
    pub work: Work,
    /// Overrides the phase's think time.
    pub think_time: Option<ThinkTime>,
}

/// Everything about virtual users beyond the request list.
#[derive(Debug, Clone, Default)]
pub struct Journey {
    /// User types; empty means one implicit type drawing from every request by weight.
    pub users: Vec<UserType>,
    /// Requests run once, in order, before the load; their captures are seen by everyone.
    pub setup: Vec<RequestSpec>,
    /// Requests run once, in order, after the load.
    pub teardown: Vec<RequestSpec>,
    /// Data files, by index.
    pub data: Vec<Arc<DataSet>>,
    /// Capture names, by slot.
    pub captures: Vec<String>,
}

impl Journey {
    /// How many (user type, request) pairs can record metrics: each has its own
    /// histograms once used.
    pub fn cells_used(&self, requests: &[RequestSpec]) -> usize {
        if self.users.is_empty() {
            return requests.len();
        }
        self.users
            .iter()
            .map(|u| {
                let mut used: Vec<usize> = match &u.work {
                    Work::Flow(steps) => steps.clone(),
                    Work::Tasks(tasks) => tasks.iter().map(|(r, _)| *r).collect(),
                };
                used.extend(&u.on_start);
                used.sort_unstable();
                used.dedup();
                used.len()
            })
            .sum()
    }

    /// The user types in force: the declared ones, or the implicit `default` one that
    /// draws from every request by its weight.
    pub fn user_types(&self, requests: &[RequestSpec]) -> Vec<UserType> {
        if !self.users.is_empty() {
            return self.users.clone();
        }
        vec![UserType {
            name: "default".into(),
            weight: 1,
            on_start: Vec::new(),
            work: Work::Tasks(
                requests
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i, r.weight))
                    .collect(),
            ),
            think_time: None,
        }]
    }
}
