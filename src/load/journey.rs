//! What virtual users do, at run time: which user type each one is, which request comes
//! next, how a request is built from its templates, sent (following same-target
//! redirects) and read for captures and checks.

use super::capture::{self, Seen, MAX_KEPT_BODY};
use super::client::{Connection, Keep, Outgoing, ResponseHead, Target};
use super::data::DataRuntime;
use crate::config::template::{Context, Missing};
use crate::config::{RequestSpec, UserType, Work, Workload, MAX_REDIRECTS};
use crate::metrics::CheckTally;
use http::{HeaderValue, Method, StatusCode};
use std::borrow::Cow;
use std::time::Duration;

/// The journey part of what every worker of a run shares.
#[derive(Debug, Default)]
pub(super) struct Journeys {
    /// User types in force (the implicit `default` one when the drill names none).
    pub users: Vec<UserType>,
    /// Cumulative user-type weights, for assigning types to virtual users.
    user_weights: Vec<u64>,
    /// Per user type: cumulative task weights (empty for flows).
    task_weights: Vec<Vec<u64>>,
    /// Per user type: the data sets its requests read.
    pub user_data: Vec<Vec<usize>>,
    /// Rows of the data files.
    pub data: DataRuntime,
    /// Values captured by setup, seen by every virtual user; one slot per capture name.
    pub globals: Vec<Option<String>>,
    /// Body bytes to keep per request (captures, checks, the classifier).
    pub keep_body: Vec<usize>,
    /// Why a request is skipped, per missing capture slot and per data set.
    capture_reasons: Vec<String>,
    data_reasons: Vec<String>,
    /// Golden-ratio offset of the user-type sequence, from the seed.
    offset: f64,
}

/// Why a request was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Skip {
    /// A placeholder had no value.
    Missing(Missing),
    /// A header's rendered value is not valid in HTTP (header index).
    BadHeader(usize),
}

impl Journeys {
    /// The journey state for `drill`, with setup's captured values.
    pub fn new(
        work: &Workload<'_>,
        seed: u64,
        globals: Vec<Option<String>>,
        classifier_body: usize,
    ) -> Self {
        let users = work.journey.user_types(work.requests);
        let cumulative = |weights: &mut dyn Iterator<Item = u32>| {
            weights
                .scan(0u64, |sum, w| {
                    *sum += u64::from(w);
                    Some(*sum)
                })
                .collect::<Vec<u64>>()
        };
        let user_weights = cumulative(&mut users.iter().map(|u| u.weight));
        let task_weights = users
            .iter()
            .map(|u| match &u.work {
                Work::Tasks(tasks) => cumulative(&mut tasks.iter().map(|(_, w)| *w)),
                Work::Flow(_) => Vec::new(),
            })
            .collect();
        let user_data = users
            .iter()
            .map(|u| {
                let steps: Vec<usize> = match &u.work {
                    Work::Flow(steps) => steps.clone(),
                    Work::Tasks(tasks) => tasks.iter().map(|(r, _)| *r).collect(),
                };
                let mut sets: Vec<usize> = steps
                    .iter()
                    .chain(&u.on_start)
                    .flat_map(|r| work.requests[*r].reads_data())
                    .collect();
                sets.sort_unstable();
                sets.dedup();
                sets
            })
            .collect();
        let mut globals = globals;
        globals.resize(work.journey.captures.len(), None);
        Journeys {
            users,
            user_weights,
            task_weights,
            user_data,
            data: DataRuntime::new(&work.journey.data),
            globals,
            keep_body: work
                .requests
                .iter()
                .map(|r| {
                    if r.needs_body() {
                        MAX_KEPT_BODY.max(classifier_body)
                    } else {
                        classifier_body
                    }
                })
                .collect(),
            capture_reasons: work
                .journey
                .captures
                .iter()
                .map(|c| format!("capture \"{c}\" has no value"))
                .collect(),
            data_reasons: work
                .journey
                .data
                .iter()
                .map(|d| format!("data \"{}\": every row is taken", d.name))
                .collect(),
            offset: crate::rng::decision(seed, 0x5553_4552, 0),
        }
    }

    /// The user type of virtual user `index` (of any phase): a golden-ratio sequence,
    /// offset by the seed, spread over the weights, so every prefix of users is close to
    /// the weights (100 users at 70/25/4/1 get about 70, 25, 4 and 1).
    pub fn user_for(&self, index: usize) -> usize {
        const PHI: f64 = 0.618_033_988_749_894_9;
        let total = self.user_weights.last().copied().unwrap_or(0);
        if total == 0 || self.user_weights.len() <= 1 {
            return 0;
        }
        let x = (self.offset + index as f64 * PHI).fract();
        let point = ((x * total as f64) as u64).min(total - 1);
        pick_weighted(&self.user_weights, point)
    }

    /// The task a `user` of the weighted-set kind runs next, from a uniform draw.
    pub fn task(&self, user: usize, draw: u64) -> Option<usize> {
        let Work::Tasks(tasks) = &self.users.get(user)?.work else {
            return None;
        };
        let cumulative = &self.task_weights[user];
        let total = cumulative.last().copied().unwrap_or(0).max(1);
        tasks
            .get(pick_weighted(cumulative, draw % total))
            .map(|(r, _)| *r)
    }

    /// Why a request skipped for `skip` was not sent.
    pub fn reason<'a>(&'a self, skip: Skip, request: &'a RequestSpec) -> Cow<'a, str> {
        match skip {
            Skip::Missing(Missing::Capture(slot)) => self
                .capture_reasons
                .get(slot)
                .map_or(Cow::Borrowed("capture has no value"), |r| Cow::Borrowed(r)),
            Skip::Missing(Missing::Data(set)) => self
                .data_reasons
                .get(set)
                .map_or(Cow::Borrowed("no data row"), |r| Cow::Borrowed(r)),
            Skip::BadHeader(i) => Cow::Owned(format!(
                "header {} is not valid in HTTP",
                request.headers.get(i).map_or("?", |h| h.name.as_str())
            )),
        }
    }
}

/// The index whose band of `cumulative` holds `point` (below the total).
pub(super) fn pick_weighted(cumulative: &[u64], point: u64) -> usize {
    cumulative.partition_point(|&w| w <= point)
}

/// Builds `out` from `spec`'s templates; `scratch` is a reused buffer. A placeholder with
/// no value (or a header value HTTP cannot carry) skips the request.
pub(super) fn build(
    spec: &RequestSpec,
    cx: &mut Context,
    out: &mut Outgoing,
    scratch: &mut String,
) -> Result<(), Skip> {
    out.path.clear();
    spec.path.render(cx, &mut out.path).map_err(Skip::Missing)?;
    out.method.clone_from(&spec.method);
    if !out.headers.is_empty() {
        out.headers.clear();
    }
    for (i, h) in spec.headers.iter().enumerate() {
        let value = match &h.fixed {
            Some(v) => v.clone(),
            None => {
                scratch.clear();
                h.value.render(cx, scratch).map_err(Skip::Missing)?;
                HeaderValue::from_str(scratch).map_err(|_| Skip::BadHeader(i))?
            }
        };
        out.headers.append(h.name.clone(), value);
    }
    match &spec.body {
        None => {
            if !out.body.is_empty() {
                out.body = bytes::Bytes::new();
            }
        }
        Some(body) => {
            out.body = match &body.fixed {
                Some(fixed) => fixed.clone(),
                None => {
                    let mut text = String::with_capacity(scratch.capacity());
                    body.template.render(cx, &mut text).map_err(Skip::Missing)?;
                    bytes::Bytes::from(text)
                }
            };
            if let Some(content_type) = &body.content_type {
                if !out.headers.contains_key(http::header::CONTENT_TYPE) {
                    out.headers
                        .insert(http::header::CONTENT_TYPE, content_type.clone());
                }
            }
        }
    }
    Ok(())
}

/// Sends `out`, following same-target redirects when `follow` (up to [`MAX_REDIRECTS`]);
/// a redirect that leaves the target, or one past the limit, is the response.
pub(super) async fn exchange(
    connection: &mut Connection,
    target: &Target,
    out: &mut Outgoing,
    keep: Keep,
    follow: bool,
) -> Result<ResponseHead, &'static str> {
    let mut hops = 0;
    loop {
        let head = connection.exchange(target, out, keep).await?;
        let status = head.status;
        let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        if !follow || !redirect || hops >= MAX_REDIRECTS {
            return Ok(head);
        }
        let Some(next) = head
            .headers
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| target.redirect_path(l, &out.path))
        else {
            return Ok(head);
        };
        // 303, and 301/302 after anything but GET or HEAD, turn into a GET without a body
        // (what browsers and HTTP clients do); 307 and 308 resend as they were.
        let to_get = status == StatusCode::SEE_OTHER
            || (matches!(status.as_u16(), 301 | 302)
                && out.method != Method::GET
                && out.method != Method::HEAD);
        if to_get {
            out.method = Method::GET;
            out.body = bytes::Bytes::new();
            out.headers.remove(http::header::CONTENT_TYPE);
        }
        out.path = next;
        hops += 1;
    }
}

/// What one response did for its request: checks counted, captures stored (or missed).
pub(super) struct Read {
    /// The checks' outcome.
    pub checks: CheckTally,
    /// Whether every capture found a value.
    pub captured: bool,
}

/// Reads `response` (or its absence) for `spec`'s checks and captures, storing captured
/// values in `captures` and calling `missed` with each capture that found nothing (whose
/// slot is then cleared: an old value is never sent in place of a new one).
pub(super) fn read(
    spec: &RequestSpec,
    response: Option<(&ResponseHead, Duration)>,
    captures: &mut [Option<String>],
    mut missed: impl FnMut(&str),
) -> Read {
    if spec.checks.is_empty() && spec.captures.is_empty() {
        return Read {
            checks: CheckTally::default(),
            captured: true,
        };
    }
    let mut seen = response
        .map(|(head, service)| Seen::new(head.status.as_u16(), &head.headers, &head.body, service));
    let checks = match &mut seen {
        _ if spec.checks.is_empty() => CheckTally::default(),
        Some(seen) => seen.check(&spec.checks),
        None => capture::all_failed(&spec.checks),
    };
    let mut captured = true;
    for c in &spec.captures {
        let value = seen.as_mut().and_then(|s| s.capture(c));
        if value.is_none() {
            captured = false;
            missed(&c.name);
        }
        if let Some(slot) = captures.get_mut(c.slot) {
            *slot = value;
        }
    }
    Read { checks, captured }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Drill, EmbeddedProfiles, Template};
    use crate::rng::Rng;

    fn drill(users: &str) -> Drill {
        let text = format!(
            "target = \"http://127.0.0.1:1\"\n[[requests]]\nname = \"a\"\npath = \"/a\"\n[[requests]]\nname = \"b\"\npath = \"/b\"\nweight = 3\n{users}\n[[phases]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = 1\nduration = \"1s\"\n"
        );
        crate::config::parse_drill("d.toml", &text, &EmbeddedProfiles(&[]))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn user_types_follow_the_weights_in_every_prefix() {
        let d = drill(
            "[[users]]\nname = \"auth\"\nweight = 70\nflow = [\"a\"]\n[[users]]\nname = \"anon\"\nweight = 25\nflow = [\"b\"]\n[[users]]\nname = \"writer\"\nweight = 4\nflow = [\"a\"]\n[[users]]\nname = \"health\"\nweight = 1\nflow = [\"b\"]",
        );
        let j = Journeys::new(&d.workload(), 7, Vec::new(), 0);
        let count = |n: usize| {
            let mut c = [0usize; 4];
            for i in 0..n {
                c[j.user_for(i)] += 1;
            }
            c
        };
        let hundred = count(100);
        for (got, want) in hundred.iter().zip([70, 25, 4, 1]) {
            assert!(got.abs_diff(want) <= 2, "{hundred:?}");
        }
        let thousand = count(1000);
        for (got, want) in thousand.iter().zip([700, 250, 40, 10]) {
            assert!(got.abs_diff(want) <= 3, "{thousand:?}");
        }
        let again = Journeys::new(&d.workload(), 7, Vec::new(), 0);
        assert!(
            (0..50).all(|i| j.user_for(i) == again.user_for(i)),
            "deterministic"
        );
    }

    #[test]
    fn the_implicit_user_draws_tasks_by_request_weight() {
        let d = drill("");
        let j = Journeys::new(&d.workload(), 1, Vec::new(), 0);
        assert_eq!(j.users.len(), 1);
        assert_eq!(j.users[0].name, "default");
        let picks: Vec<_> = (0..5).map(|draw| j.task(0, draw)).collect();
        assert_eq!(picks, [Some(0), Some(1), Some(1), Some(1), Some(0)]);
        assert_eq!(j.user_for(12), 0);
    }

    #[test]
    fn build_skips_on_missing_captures_and_sets_content_type() {
        let d = crate::config::parse_drill(
            "d.toml",
            "target = \"http://127.0.0.1:1\"\n[[requests]]\nname = \"login\"\nmethod = \"POST\"\npath = \"/login\"\njson = { user = \"u{{vu}}\", n = \"{{iteration}}\" }\ncapture = { token = { json = \"/token\" } }\n[[requests]]\nname = \"me\"\npath = \"/me\"\nheaders = { authorization = \"Bearer {{capture.token}}\" }\n[[phases]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = 1\nduration = \"1s\"\n",
            &EmbeddedProfiles(&[]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut rng = Rng::new(1, 1);
        let mut out = Outgoing::default();
        let mut scratch = String::new();
        let mut captures = vec![None];
        let mut cx = Context {
            rng: &mut rng,
            vu: 3,
            iteration: 9,
            data: &[],
            rows: &[],
            captures: &captures,
        };
        build(&d.requests[0], &mut cx, &mut out, &mut scratch).expect("builds");
        assert_eq!(out.method, Method::POST);
        assert_eq!(&out.body[..], br#"{"n":9,"user":"u3"}"#);
        assert_eq!(out.headers[http::header::CONTENT_TYPE], "application/json");
        assert_eq!(
            build(&d.requests[1], &mut cx, &mut out, &mut scratch),
            Err(Skip::Missing(Missing::Capture(0)))
        );
        captures[0] = Some("t0k".into());
        let mut cx = Context {
            rng: &mut rng,
            vu: 3,
            iteration: 9,
            data: &[],
            rows: &[],
            captures: &captures,
        };
        build(&d.requests[1], &mut cx, &mut out, &mut scratch).expect("builds");
        assert_eq!(out.headers[http::header::AUTHORIZATION], "Bearer t0k");
        assert!(out.body.is_empty());
        assert!(!out.headers.contains_key(http::header::CONTENT_TYPE));
        let _ = Template::root();
    }
}
