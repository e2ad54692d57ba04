//! Requests and journeys: request parts (query, headers, bodies, captures, checks), data
//! files, user types, think times, setup and teardown, and the order captures are made and
//! used in.

use super::request::request;
use super::{duration, positive_duration, Checker};
use crate::config::raw;
use crate::config::template::Names;
use crate::config::*;
use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

/// Everything `[[requests]]`, `[[users]]`, `[[setup]]`, `[[teardown]]` and `[data.*]` say.
pub(super) fn journey(c: &mut Checker, raw: &raw::DrillFile) -> (Vec<RequestSpec>, Journey) {
    if raw.requests.is_empty() {
        c.whole_file("no [[requests]]: a drill needs at least one request to send");
    }
    let (data, broken_data) = data_sets(c, raw);
    let captures = capture_names(c, raw);
    let env = |name: &str| std::env::var(name).ok();
    let names = Names {
        data: &data,
        captures: &captures,
        env: &env,
    };
    let parse = |c: &mut Checker, list: &[raw::RequestFile], what: &str| {
        let mut seen = HashSet::new();
        list.iter()
            .map(|r| {
                c.unique(&mut seen, &r.name, what);
                request(c, r, &names, &broken_data)
            })
            .collect::<Vec<_>>()
    };
    let setup = parse(c, &raw.setup, "setup request name");
    let requests = parse(c, &raw.requests, "request name");
    let teardown = parse(c, &raw.teardown, "teardown request name");

    // Setup runs before every virtual user and sees only its own earlier captures;
    // teardown sees setup's and its own earlier ones.
    let mut known: BTreeSet<usize> = BTreeSet::new();
    ordered(c, &raw.setup, &setup, &mut known, &captures, "setup");
    let from_setup = known.clone();
    ordered(
        c,
        &raw.teardown,
        &teardown,
        &mut known,
        &captures,
        "teardown",
    );

    let users = users(c, raw, &requests, &from_setup, &captures);
    if raw.users.is_empty() {
        // One implicit user drawing from every request: any capture may have been made by
        // an earlier request of the same user, or not yet (then the request is skipped).
        let all: BTreeSet<usize> = from_setup
            .iter()
            .copied()
            .chain(
                requests
                    .iter()
                    .flat_map(|r| r.captures.iter().map(|c| c.slot)),
            )
            .collect();
        for (r, spec) in raw.requests.iter().zip(&requests) {
            unmade(
                c,
                r.name.span(),
                spec,
                &all,
                &captures,
                "no request captures it",
            );
        }
    }
    (
        requests,
        Journey {
            users,
            setup,
            teardown,
            data,
            captures,
        },
    )
}

/// Reports captures `spec` reads that are not in `available`.
fn unmade(
    c: &mut Checker,
    span: Range<usize>,
    spec: &RequestSpec,
    available: &BTreeSet<usize>,
    captures: &[String],
    why: &str,
) {
    for slot in spec.reads_captures() {
        if !available.contains(&slot) {
            c.at(
                span.clone(),
                format!(
                    "request \"{}\" uses capture \"{}\", but {why}",
                    spec.name, captures[slot]
                ),
            );
        }
    }
}

/// Checks a list run in order (setup, teardown): each request may read what an earlier
/// one (or `known` already) captured; adds its own captures to `known`.
fn ordered(
    c: &mut Checker,
    raw: &[raw::RequestFile],
    specs: &[RequestSpec],
    known: &mut BTreeSet<usize>,
    captures: &[String],
    what: &str,
) {
    for (r, spec) in raw.iter().zip(specs) {
        let why = format!(
            "no earlier {what} request captures it ({what} runs once, outside any virtual user)"
        );
        unmade(c, r.name.span(), spec, known, captures, &why);
        known.extend(spec.captures.iter().map(|c| c.slot));
    }
}

/// A name fit for `{{capture.NAME}}` and `{{data.NAME.…}}`: letters, digits, `_`, `-`.
fn identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn capture_names(c: &mut Checker, raw: &raw::DrillFile) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let all = raw.setup.iter().chain(&raw.requests).chain(&raw.teardown);
    for r in all {
        for (name, source) in r.capture.iter().flatten() {
            if !identifier(name) {
                c.at(
                    source.span(),
                    format!("capture name \"{name}\" must be letters, digits, '_' or '-'"),
                );
            }
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// Reads every `[data.NAME]`; also returns the names whose file could not be read, so
/// their placeholders are not reported a second time.
fn data_sets(c: &mut Checker, raw: &raw::DrillFile) -> (Vec<Arc<DataSet>>, Vec<String>) {
    let dir = Path::new(c.file).parent().unwrap_or(Path::new(""));
    let mut sets = Vec::new();
    let mut broken = Vec::new();
    for (name, d) in &raw.data {
        if !identifier(name) {
            c.at(
                d.file.span(),
                format!("data set name \"{name}\" must be letters, digits, '_' or '-'"),
            );
        }
        let mode = match &d.mode {
            None => DataMode::Sequential,
            Some(m) => DataMode::parse(m.get_ref()).unwrap_or_else(|| {
                c.at(
                    m.span(),
                    format!("unknown mode \"{}\": use {}", m.get_ref(), DataMode::VALID),
                );
                DataMode::Sequential
            }),
        };
        let path = dir.join(d.file.get_ref());
        match DataSet::read(name, mode, &path) {
            Ok(set) => sets.push(Arc::new(set)),
            Err(why) => {
                c.at(d.file.span(), why);
                broken.push(name.clone());
            }
        }
    }
    (sets, broken)
}

/// Reads a think time: `"1s"`, `{ min, max }` or `{ pacing }`.
pub(super) fn think_time(c: &mut Checker, t: &Spanned<raw::ThinkFile>) -> ThinkTime {
    match t.get_ref() {
        raw::ThinkFile::Constant(text) => {
            let spanned = Spanned::new(t.span(), text.clone());
            ThinkTime::Constant(duration(c, &spanned).unwrap_or_default())
        }
        raw::ThinkFile::Uniform { min, max } => {
            let (low, high) = (
                duration(c, min).unwrap_or_default(),
                duration(c, max).unwrap_or_default(),
            );
            if high < low {
                c.at(max.span(), "think_time max is below min");
            }
            ThinkTime::Uniform {
                min: low,
                max: high.max(low),
            }
        }
        raw::ThinkFile::Pacing(p) => ThinkTime::Pacing(positive_duration(c, p, "pacing")),
    }
}

fn users(
    c: &mut Checker,
    raw: &raw::DrillFile,
    requests: &[RequestSpec],
    from_setup: &BTreeSet<usize>,
    captures: &[String],
) -> Vec<UserType> {
    let mut names = HashSet::new();
    let known_requests = || {
        raw.requests
            .iter()
            .map(|r| r.name.get_ref().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find = |c: &mut Checker, name: &str, span: Range<usize>| -> Option<usize> {
        let found = requests.iter().position(|r| r.name == name);
        if found.is_none() {
            c.at(
                span,
                format!(
                    "no request named \"{name}\" (requests: {})",
                    known_requests()
                ),
            );
        }
        found
    };
    let mut users = Vec::new();
    for u in &raw.users {
        c.unique(&mut names, &u.name, "user type name");
        let weight = u.weight.as_ref().map_or(1, |w| *w.get_ref());
        let mut available = from_setup.clone();
        let user = u.name.get_ref();
        let mut on_start = Vec::new();
        for step in u.on_start.iter().flatten() {
            if let Some(i) = find(c, step.get_ref(), step.span()) {
                let why =
                    format!("no earlier request of user \"{user}\" (or of setup) captures it");
                unmade(c, step.span(), &requests[i], &available, captures, &why);
                available.extend(requests[i].captures.iter().map(|c| c.slot));
                on_start.push(i);
            }
        }
        let work = match (&u.flow, &u.tasks) {
            (Some(flow), None) => {
                if flow.get_ref().is_empty() {
                    c.at(flow.span(), "flow must name at least one request");
                }
                let mut steps = Vec::new();
                for step in flow.get_ref() {
                    if let Some(i) = find(c, step.get_ref(), step.span()) {
                        let why = format!(
                            "no earlier request in the flow of user \"{user}\" (or its on_start, or setup) captures it"
                        );
                        unmade(c, step.span(), &requests[i], &available, captures, &why);
                        available.extend(requests[i].captures.iter().map(|c| c.slot));
                        steps.push(i);
                    }
                }
                Work::Flow(steps)
            }
            (None, Some(tasks)) => {
                if tasks.get_ref().is_empty() {
                    c.at(tasks.span(), "tasks must name at least one request");
                }
                let mut set = Vec::new();
                for t in tasks.get_ref() {
                    let entry = t.get_ref();
                    if let Some(i) = find(c, &entry.request, t.span()) {
                        let w = entry
                            .weight
                            .as_ref()
                            .map_or(requests[i].weight, |w| *w.get_ref());
                        set.push((i, w, t.span()));
                    }
                }
                if !set.is_empty() && set.iter().all(|(_, w, _)| *w == 0) {
                    c.at(tasks.span(), "the task weights add up to 0");
                }
                // A weighted set has no order: a task may read what on_start, setup or
                // any task of the set captures (until then it is skipped).
                available.extend(
                    set.iter()
                        .flat_map(|(i, _, _)| requests[*i].captures.iter().map(|c| c.slot)),
                );
                for (i, _, span) in &set {
                    let why = format!(
                        "no request of user \"{user}\" (its tasks, on_start, or setup) captures it"
                    );
                    unmade(c, span.clone(), &requests[*i], &available, captures, &why);
                }
                Work::Tasks(set.into_iter().map(|(i, w, _)| (i, w)).collect())
            }
            (Some(flow), Some(_)) => {
                c.at(
                    flow.span(),
                    "give flow (in order) or tasks (weighted), not both",
                );
                Work::Flow(Vec::new())
            }
            (None, None) => {
                c.at(
                    u.name.span(),
                    format!("user type \"{user}\" needs flow = [...] (in order) or tasks = [...] (weighted)"),
                );
                Work::Flow(Vec::new())
            }
        };
        users.push(UserType {
            name: user.clone(),
            weight,
            on_start,
            work,
            think_time: u.think_time.as_ref().map(|t| think_time(c, t)),
        });
    }
    if !users.is_empty() && users.iter().all(|u| u.weight == 0) {
        let span = raw.users[0]
            .weight
            .as_ref()
            .map_or(raw.users[0].name.span(), Spanned::span);
        c.at(
            span,
            "the weights of [[users]] add up to 0: no virtual user would have a type",
        );
    }
    users
}

#[cfg(test)]
mod tests;
