//! Requests and journeys: request parts (query, headers, bodies, captures, checks), data
//! files, user types, think times, setup and teardown, and the order captures are made and
//! used in.

use super::{duration, method, positive_duration, Checker};
use crate::config::raw;
use crate::config::template::{escape_into, Escape, Names, TemplateError};
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

/// Reports a template problem at the value holding it (the message names the
/// placeholder).
fn template_error(c: &mut Checker, span: Range<usize>, _value: &str, e: TemplateError) {
    c.at(span, e.message);
}

/// Whether a template error only repeats a data file that could not be read.
fn about_broken(value: &str, e: &TemplateError, broken: &[String]) -> bool {
    let at = value.get(e.offset..).unwrap_or("");
    broken
        .iter()
        .any(|b| at.starts_with(&format!("{{{{data.{b}.")))
}

fn parse_template(
    c: &mut Checker,
    text: &Spanned<String>,
    escape: Escape,
    names: &Names,
    broken: &[String],
) -> Template {
    Template::parse(text.get_ref(), escape, names).unwrap_or_else(|e| {
        if !about_broken(text.get_ref(), &e, broken) {
            template_error(c, text.span(), text.get_ref(), e);
        }
        Template::literal("")
    })
}

/// A TOML scalar as the text a query or form value sends.
fn scalar_text(c: &mut Checker, v: &Spanned<toml::Value>, key: &str) -> Option<String> {
    match v.get_ref() {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        other => {
            c.at(
                v.span(),
                format!(
                    "\"{key}\" must be a string, number or boolean, not {}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

/// `k=v&k2=v2` with keys and values percent-encoded (a query or a form body).
fn pairs(
    c: &mut Checker,
    table: &std::collections::BTreeMap<String, Spanned<toml::Value>>,
    names: &Names,
    broken: &[String],
    out: &mut Template,
) {
    for (i, (key, value)) in table.iter().enumerate() {
        let Some(text) = scalar_text(c, value, key) else {
            continue;
        };
        let mut literal = String::new();
        if i > 0 {
            literal.push('&');
        }
        escape_into(&mut literal, key, Escape::Component);
        literal.push('=');
        out.push_literal(&literal);
        if let Err(e) = out.append_escaped(&text, Escape::Component, names) {
            if !about_broken(&text, &e, broken) {
                template_error(c, value.span(), &text, e);
            }
        }
    }
}

fn request(c: &mut Checker, r: &raw::RequestFile, names: &Names, broken: &[String]) -> RequestSpec {
    let mut path = Template::parse_path(r.path.get_ref(), names).unwrap_or_else(|e| {
        if !about_broken(r.path.get_ref(), &e, broken) {
            template_error(c, r.path.span(), r.path.get_ref(), e);
        }
        Template::root()
    });
    if let Some(query) = r.query.as_ref().filter(|q| !q.is_empty()) {
        path.push_literal(if r.path.get_ref().contains('?') {
            "&"
        } else {
            "?"
        });
        pairs(c, query, names, broken, &mut path);
    }
    let headers = r
        .headers
        .iter()
        .flatten()
        .filter_map(|(name, value)| header(c, name, value, names, broken))
        .collect();
    let body = body(c, r, names, broken);
    let weight = match &r.weight {
        Some(w) if *w.get_ref() == 0 => {
            c.at(w.span(), "weight must be at least 1");
            1
        }
        Some(w) => *w.get_ref(),
        None => 1,
    };
    let tags = r
        .tags
        .iter()
        .flatten()
        .map(|t| {
            if t.get_ref().trim().is_empty() {
                c.at(t.span(), "a tag must not be empty");
            }
            t.get_ref().clone()
        })
        .collect();
    let captures = r
        .capture
        .iter()
        .flatten()
        .filter_map(|(name, source)| capture(c, name, source, names))
        .collect();
    RequestSpec {
        name: r.name.get_ref().clone(),
        method: method(c, &r.method),
        path,
        headers,
        body,
        weight,
        tags,
        timeout: r
            .timeout
            .as_ref()
            .map(|t| positive_duration(c, t, "timeout")),
        follow_redirects: r.follow_redirects.unwrap_or(true),
        captures,
        checks: r.check.as_ref().map(|k| checks(c, k)).unwrap_or_default(),
    }
}

fn header(
    c: &mut Checker,
    name: &str,
    value: &Spanned<String>,
    names: &Names,
    broken: &[String],
) -> Option<HeaderSpec> {
    let Ok(header) = http::HeaderName::from_bytes(name.trim().as_bytes()) else {
        c.at(
            value.span(),
            format!("\"{name}\" is not a valid HTTP header name"),
        );
        return None;
    };
    if header == http::header::HOST || header == http::header::CONTENT_LENGTH {
        c.at(
            value.span(),
            format!("the {header} header is set by breakerbox; leave it out"),
        );
        return None;
    }
    let template = parse_template(c, value, Escape::None, names, broken);
    let fixed = match template.as_literal() {
        Some(text) => {
            match http::HeaderValue::from_str(text) {
                Ok(v) => Some(v),
                Err(_) => {
                    c.at(
                    value.span(),
                    format!("the value of header {header} is not valid in HTTP (control characters?)"),
                );
                    return None;
                }
            }
        }
        None => None,
    };
    Some(HeaderSpec {
        name: header,
        value: template,
        fixed,
    })
}

fn body(
    c: &mut Checker,
    r: &raw::RequestFile,
    names: &Names,
    broken: &[String],
) -> Option<BodySpec> {
    let given: Vec<Range<usize>> = [
        r.body.as_ref().map(Spanned::span),
        r.json.as_ref().map(Spanned::span),
        r.form
            .as_ref()
            .and_then(|f| f.values().next())
            .map(Spanned::span),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() > 1 {
        c.at(
            given[1].clone(),
            "give one of body, json or form, not several",
        );
        return None;
    }
    let (template, content_type) = if let Some(raw) = &r.body {
        (parse_template(c, raw, Escape::None, names, broken), None)
    } else if let Some(json) = &r.json {
        let mut t = Template::literal("");
        let mut problems = Vec::new();
        json_template(json.get_ref(), &mut t, names, &mut problems);
        for p in problems {
            c.at(json.span(), format!("json: {p}"));
        }
        (t, Some("application/json"))
    } else if let Some(form) = &r.form {
        let mut t = Template::literal("");
        pairs(c, form, names, broken, &mut t);
        (t, Some("application/x-www-form-urlencoded"))
    } else {
        return None;
    };
    let fixed = template
        .as_literal()
        .map(|text| bytes::Bytes::from(text.to_string()));
    Some(BodySpec {
        template,
        fixed,
        content_type: content_type.map(http::HeaderValue::from_static),
    })
}

/// Writes `v` as JSON into `t`; strings may hold placeholders (their values are
/// JSON-escaped), and a string that is one numeric placeholder (`"{{random_int 1 9}}"`,
/// `"{{vu}}"`, `"{{iteration}}"`) is written as a bare number.
fn json_template(v: &toml::Value, t: &mut Template, names: &Names, problems: &mut Vec<String>) {
    let string = |s: &str, t: &mut Template, problems: &mut Vec<String>| {
        let mut escaped = String::new();
        escape_into(&mut escaped, s, Escape::Json);
        match Template::parse(&escaped, Escape::Json, names) {
            Ok(part) if part.is_number() => t.extend(&part),
            Ok(part) => {
                t.push_literal("\"");
                t.extend(&part);
                t.push_literal("\"");
            }
            Err(e) => problems.push(e.message),
        }
    };
    match v {
        toml::Value::String(s) => string(s, t, problems),
        toml::Value::Integer(i) => t.push_literal(&i.to_string()),
        toml::Value::Float(f) if f.is_finite() => t.push_literal(&serde_json_float(*f)),
        toml::Value::Float(f) => problems.push(format!("{f} cannot be written in JSON")),
        toml::Value::Boolean(b) => t.push_literal(if *b { "true" } else { "false" }),
        toml::Value::Datetime(d) => string(&d.to_string(), t, problems),
        toml::Value::Array(items) => {
            t.push_literal("[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    t.push_literal(",");
                }
                json_template(item, t, names, problems);
            }
            t.push_literal("]");
        }
        toml::Value::Table(table) => {
            t.push_literal("{");
            for (i, (key, item)) in table.iter().enumerate() {
                if i > 0 {
                    t.push_literal(",");
                }
                string(key, t, problems);
                t.push_literal(":");
                json_template(item, t, names, problems);
            }
            t.push_literal("}");
        }
    }
}

fn serde_json_float(f: f64) -> String {
    serde_json::Number::from_f64(f).map_or_else(|| "0".into(), |n| n.to_string())
}

/// Checks an RFC 6901 JSON pointer: empty (the whole document) or `/`-separated tokens
/// where `~` is only `~0` or `~1`.
pub(super) fn pointer_problem(p: &str) -> Option<String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Some(format!(
            "\"{p}\" is not a JSON pointer: it starts with '/', e.g. \"/token\""
        ));
    }
    let mut chars = p.chars();
    while let Some(ch) = chars.next() {
        if ch == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Some(format!(
                "\"{p}\" is not a JSON pointer: '~' must be followed by 0 or 1 (~0 for '~', ~1 for '/')"
            ));
        }
    }
    None
}

fn capture(
    c: &mut Checker,
    name: &str,
    source: &Spanned<raw::CaptureFile>,
    names: &Names,
) -> Option<CaptureSpec> {
    let slot = names.captures.iter().position(|n| n == name)?;
    let f = source.get_ref();
    let given = [
        f.json.as_ref().map(|_| "json"),
        f.header.as_ref().map(|_| "header"),
        f.regex.as_ref().map(|_| "regex"),
    ]
    .into_iter()
    .flatten()
    .count();
    if given != 1 {
        c.at(
            source.span(),
            format!("capture \"{name}\" needs exactly one of json, header or regex"),
        );
        return None;
    }
    let source = if let Some(p) = &f.json {
        if let Some(why) = pointer_problem(p.get_ref()) {
            c.at(p.span(), why);
            return None;
        }
        CaptureSource::Json(p.get_ref().clone())
    } else if let Some(h) = &f.header {
        match http::HeaderName::from_bytes(h.get_ref().trim().as_bytes()) {
            Ok(n) => CaptureSource::Header(n),
            Err(_) => {
                c.at(
                    h.span(),
                    format!("\"{}\" is not a valid HTTP header name", h.get_ref()),
                );
                return None;
            }
        }
    } else {
        let r = f.regex.as_ref()?;
        match regex::RegexBuilder::new(r.get_ref())
            .size_limit(1 << 20)
            .build()
        {
            Ok(re) => CaptureSource::Regex(re),
            Err(e) => {
                let why = e.to_string();
                let last = why
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid")
                    .trim()
                    .trim_start_matches("error: ");
                c.at(r.span(), format!("bad regex: {last}"));
                return None;
            }
        }
    };
    Some(CaptureSpec {
        name: name.to_string(),
        slot,
        source,
    })
}

fn checks(c: &mut Checker, k: &raw::CheckFile) -> Checks {
    let status = match &k.status {
        None => Vec::new(),
        Some(v) => {
            let one = |c: &mut Checker, item: &toml::Value| match item {
                toml::Value::Integer(i) if (100..=599).contains(i) => Some(*i as u16),
                toml::Value::Integer(i) => {
                    c.at(
                        v.span(),
                        format!("status {i} is not an HTTP status (100-599)"),
                    );
                    None
                }
                other => {
                    c.at(
                        v.span(),
                        format!(
                            "status is a number or a list of numbers, not {}",
                            other.type_str()
                        ),
                    );
                    None
                }
            };
            match v.get_ref() {
                toml::Value::Array(items) if items.is_empty() => {
                    c.at(v.span(), "status must list at least one status");
                    Vec::new()
                }
                toml::Value::Array(items) => items.iter().filter_map(|i| one(c, i)).collect(),
                single => one(c, single).into_iter().collect(),
            }
        }
    };
    if let Some(text) = &k.body_contains {
        if text.get_ref().is_empty() {
            c.at(text.span(), "body_contains must not be empty");
        }
    }
    if let Some(p) = &k.body_pointer {
        if let Some(why) = pointer_problem(p.get_ref()) {
            c.at(p.span(), why);
        }
    }
    let body_equals = k.body_equals.as_ref().and_then(|v| {
        if k.body_pointer.is_none() {
            c.at(v.span(), "body_equals needs body_pointer");
        }
        serde_json::to_value(v.get_ref())
            .map_err(|e| c.at(v.span(), format!("body_equals: {e}")))
            .ok()
    });
    Checks {
        status,
        body_contains: k.body_contains.as_ref().map(|t| t.get_ref().clone()),
        body_pointer: k.body_pointer.as_ref().map(|p| p.get_ref().clone()),
        body_equals,
        max_duration: k
            .max_duration
            .as_ref()
            .map(|d| positive_duration(c, d, "max_duration")),
    }
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
mod tests {
    use crate::config::*;

    const PHASE: &str = "\n[[phases]]\nname = \"p\"\nexecutor = \"ramping-vus\"\nstages = [{ duration = \"1s\", target = 1 }]\n";

    fn parse(file: &str, body: &str) -> Result<Drill, ConfigError> {
        let text = format!("target = \"http://127.0.0.1:1\"\n{body}{PHASE}");
        parse_drill(file, &text, &EmbeddedProfiles(&[]))
    }

    /// `line:col: message` of each problem of a drill whose first table starts on line 2.
    fn problems(body: &str) -> Vec<String> {
        match parse("d.toml", body) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .diagnostics()
                .iter()
                .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
                .collect(),
        }
    }

    fn valid(body: &str) -> Drill {
        parse("d.toml", body).unwrap_or_else(|e| panic!("valid: {e}"))
    }

    fn render(t: &Template, captures: &[Option<String>]) -> String {
        let mut rng = crate::rng::Rng::new(1, 1);
        let mut out = String::new();
        let mut cx = template::Context {
            rng: &mut rng,
            vu: 1,
            iteration: 0,
            data: &[],
            rows: &[],
            captures,
        };
        t.render(&mut cx, &mut out).expect("renders");
        out
    }

    #[test]
    fn a_plain_request_file_still_reads_as_before() {
        let d = valid(
            "[[requests]]\nname = \"item\"\npath = \"/api/item/{{random_int 1 9}}\"\nweight = 3\n",
        );
        let r = &d.requests[0];
        assert_eq!(
            (r.name.as_str(), r.weight, r.method.as_str()),
            ("item", 3, "GET")
        );
        assert!(r.headers.is_empty() && r.body.is_none() && r.captures.is_empty());
        assert!(r.follow_redirects && r.timeout.is_none() && r.checks.is_empty());
        assert!(d.journey.users.is_empty());
        assert_eq!(d.journey.user_types(&d.requests)[0].name, "default");
    }

    #[test]
    fn query_headers_bodies_tags_and_options_are_read() {
        let d = valid(
            r#"[[requests]]
name = "search"
method = "post"
path = "/search?fixed=1"
query = { q = "a b", page = 2 }
headers = { "X-Trace" = "t-{{vu}}", accept = "application/json" }
form = { user = "ann&co", n = "{{iteration}}" }
tags = ["read", "api"]
timeout = "750ms"
follow_redirects = false
check = { status = [200, 201], body_contains = "ok", max_duration = "1s" }
"#,
        );
        let r = &d.requests[0];
        assert_eq!(r.method, http::Method::POST);
        assert_eq!(render(&r.path, &[]), "/search?fixed=1&page=2&q=a%20b");
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.headers[0].name, "x-trace");
        assert!(r.headers[0].fixed.is_none());
        assert_eq!(
            r.headers[1]
                .fixed
                .as_ref()
                .map(|v| v.to_str().unwrap_or("")),
            Some("application/json")
        );
        let body = r.body.as_ref().expect("body");
        assert_eq!(render(&body.template, &[]), "n=0&user=ann%26co");
        assert_eq!(
            body.content_type.as_ref().map(|v| v.to_str().unwrap_or("")),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(r.tags, ["read", "api"]);
        assert_eq!(r.timeout, Some(Duration::from_millis(750)));
        assert!(!r.follow_redirects);
        assert_eq!(r.checks.status, [200, 201]);
        assert_eq!(r.checks.count(), 3);
    }

    #[test]
    fn json_bodies_keep_types_and_numeric_placeholders_are_numbers() {
        let d = valid(
            r#"[[requests]]
name = "init"
method = "POST"
path = "/init"
json = { stock = 100, price = 2.5, open = true, name = "shop \"1\"", ids = [1, "{{random_int 5 5}}"], owner = { vu = "{{vu}}", tag = "v{{vu}}" } }
"#,
        );
        let body = d.requests[0].body.as_ref().expect("body");
        let text = render(&body.template, &[]);
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            v,
            serde_json::json!({"stock": 100, "price": 2.5, "open": true, "name": "shop \"1\"",
                "ids": [1, 5], "owner": {"vu": 1, "tag": "v1"}})
        );
        assert!(body.fixed.is_none());
        let fixed = valid("[[requests]]\nname = \"a\"\npath = \"/\"\njson = { a = 1 }\n");
        assert_eq!(
            fixed.requests[0]
                .body
                .as_ref()
                .and_then(|b| b.fixed.clone()),
            Some(bytes::Bytes::from_static(b"{\"a\":1}"))
        );
    }

    #[test]
    fn users_think_times_captures_and_setup_are_read() {
        let d = valid(
            r#"[[setup]]
name = "init"
method = "POST"
path = "/init"
capture = { shop = { json = "/shop" } }

[[requests]]
name = "login"
method = "POST"
path = "/login"
capture = { token = { json = "/token" }, sid = { header = "x-session" } }

[[requests]]
name = "me"
path = "/shops/{{capture.shop}}/me"
headers = { authorization = "Bearer {{capture.token}}" }

[[requests]]
name = "health"
path = "/health"
weight = 5

[[users]]
name = "member"
weight = 3
on_start = ["login"]
flow = ["me", "me"]
think_time = { min = "1s", max = "3s" }

[[users]]
name = "browser"
tasks = ["health", { request = "me", weight = 0 }, "login"]
think_time = { pacing = "5s" }

[[teardown]]
name = "reset"
method = "DELETE"
path = "/shops/{{capture.shop}}"
"#,
        );
        assert_eq!(d.journey.captures, ["shop", "sid", "token"]);
        let users = &d.journey.users;
        assert_eq!(users[0].on_start, [0]);
        assert_eq!(users[0].work, Work::Flow(vec![1, 1]));
        assert_eq!(
            users[0].think_time,
            Some(ThinkTime::Uniform {
                min: Duration::from_secs(1),
                max: Duration::from_secs(3)
            })
        );
        assert_eq!(users[1].weight, 1);
        assert_eq!(users[1].work, Work::Tasks(vec![(2, 5), (1, 0), (0, 1)]));
        assert_eq!(
            users[1].think_time,
            Some(ThinkTime::Pacing(Duration::from_secs(5)))
        );
        assert_eq!(
            d.journey.cells_used(&d.requests),
            2 + 3,
            "member: login, me; browser: 3"
        );
        assert_eq!(d.journey.setup[0].captures[0].slot, 0);
        assert_eq!(d.journey.teardown[0].reads_captures(), [0]);
        assert_eq!(d.requests[1].reads_captures(), [0, 2]);
    }

    #[test]
    fn phase_think_times_take_three_forms() {
        let think = |value: &str| {
            let text = format!(
                "target = \"http://127.0.0.1:1\"\n[[requests]]\nname = \"a\"\npath = \"/\"\n[[phases]]\nname = \"p\"\nexecutor = \"ramping-vus\"\nstages = [{{ duration = \"1s\", target = 1 }}]\nthink_time = {value}\n"
            );
            match parse_drill("d.toml", &text, &EmbeddedProfiles(&[])) {
                Ok(d) => match &d.phases[0].load {
                    LoadShape::RampingVus { think_time, .. } => Ok(*think_time),
                    other => panic!("{other:?}"),
                },
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(
            think("\"1s\""),
            Ok(ThinkTime::Constant(Duration::from_secs(1)))
        );
        assert_eq!(
            think("{ min = \"100ms\", max = \"2s\" }"),
            Ok(ThinkTime::Uniform {
                min: Duration::from_millis(100),
                max: Duration::from_secs(2)
            })
        );
        assert_eq!(
            think("{ pacing = \"3s\" }"),
            Ok(ThinkTime::Pacing(Duration::from_secs(3)))
        );
        let e = think("{ min = \"2s\", max = \"1s\" }").expect_err("bad");
        assert!(
            e.starts_with("d.toml:9:34: think_time max is below min"),
            "{e}"
        );
        let e = think("{ min = \"1s\" }").expect_err("bad");
        assert!(e.contains("both min and max"), "{e}");
        let e = think("5").expect_err("bad");
        assert!(e.starts_with("d.toml:9:14: "), "{e}");
    }

    #[test]
    fn bad_journeys_are_reported_where_they_are() {
        let got = problems(
            r#"[[requests]]
name = "login"
path = "/login"
capture = { token = { json = "token" }, id = { regex = "id=(\\d+" }, x = { header = "a b" } }

[[requests]]
name = "view"
path = "/items/{{capture.item}}?t={{uid}}"
check = { body_pointer = "/a~2b", status = 700 }

[[users]]
name = "a"
weight = 0
flow = ["view", "nope"]
"#,
        );
        let want = [
            "5:56: bad regex: unclosed group",
            "5:30: \"token\" is not a JSON pointer: it starts with '/', e.g. \"/token\"",
            "5:85: \"a b\" is not a valid HTTP header name",
            "9:8: unknown capture \"item\": no request captures it (captured: id, token, x)",
            "10:44: status 700 is not an HTTP status (100-599)",
            "10:26: \"/a~2b\" is not a JSON pointer: '~' must be followed by 0 or 1 (~0 for '~', ~1 for '/')",
            "15:17: no request named \"nope\" (requests: login, view)",
            "14:10: the weights of [[users]] add up to 0: no virtual user would have a type",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn captures_must_be_made_before_a_flow_uses_them() {
        let got = problems(
            r#"[[requests]]
name = "create"
method = "POST"
path = "/items"
capture = { id = { json = "/id" } }

[[requests]]
name = "view"
path = "/items/{{capture.id}}"

[[users]]
name = "writer"
flow = ["view", "create", "view"]

[[users]]
name = "reader"
tasks = ["view"]

[[teardown]]
name = "cleanup"
method = "DELETE"
path = "/items/{{capture.id}}"
"#,
        );
        let want = [
            "21:8: request \"cleanup\" uses capture \"id\", but no earlier teardown request captures it (teardown runs once, outside any virtual user)",
            "14:9: request \"view\" uses capture \"id\", but no earlier request in the flow of user \"writer\" (or its on_start, or setup) captures it",
            "18:10: request \"view\" uses capture \"id\", but no request of user \"reader\" (its tasks, on_start, or setup) captures it",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn data_files_are_read_beside_the_drill() {
        let dir = std::env::temp_dir().join(format!("breakerbox-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("users.csv"), "name,pass\nann,a1\nbob,b2\n").expect("csv");
        let drill = dir.join("d.toml");
        let ok = parse(
            &drill.display().to_string(),
            "[data.users]\nfile = \"users.csv\"\nmode = \"unique\"\n[[requests]]\nname = \"login\"\npath = \"/login?u={{data.users.name}}\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.journey.data[0].rows(), 2);
        assert_eq!(ok.journey.data[0].mode, DataMode::Unique);
        assert_eq!(ok.requests[0].reads_data(), [0]);
        let e = parse(
            &drill.display().to_string(),
            "[data.users]\nfile = \"nope.csv\"\nmode = \"shuffled\"\n[[requests]]\nname = \"login\"\npath = \"/login?u={{data.users.name}}&p={{data.users.pwd}}\"\n",
        )
        .expect_err("bad")
        .to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 2, "{e}");
        assert!(
            lines[0].ends_with(
                ":4:8: unknown mode \"shuffled\": use \"sequential\", \"random\" or \"unique\""
            ),
            "{e}"
        );
        assert!(lines[1].contains(":3:8: cannot read data file "), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn environment_variables_are_resolved_when_the_drill_is_read() {
        // PATH is set wherever tests run; a variable that is not is an error at its place.
        let d = valid(
            "[[requests]]\nname = \"a\"\npath = \"/\"\nheaders = { x-path = \"{{env.PATH}}\" }\n",
        );
        assert!(d.requests[0].headers[0].fixed.is_some());
        assert_eq!(
            problems("[[requests]]\nname = \"a\"\npath = \"/{{env.BREAKERBOX_NEVER_SET_42}}\"\n"),
            ["4:8: environment variable BREAKERBOX_NEVER_SET_42 is not set"]
        );
    }

    #[test]
    fn thresholds_select_users_tags_and_the_check_rate() {
        let d = valid(
            "[[requests]]\nname = \"a\"\npath = \"/\"\ntags = [\"api\"]\ncheck = { status = 200 }\n[[users]]\nname = \"u\"\nflow = [\"a\"]\n[[expect.thresholds]]\nuser = \"u\"\ntag = \"api\"\nmin_check_rate = 0.99\n",
        );
        let t = &d.expect.thresholds[0];
        assert_eq!(
            (t.user.as_deref(), t.tag.as_deref()),
            (Some("u"), Some("api"))
        );
        assert_eq!(t.metric, Metric::MinCheckRate);
        let got = problems(
            "[[requests]]\nname = \"a\"\npath = \"/\"\n[[expect.thresholds]]\nuser = \"x\"\ntag = \"y\"\nmin_check_rate = 0.99\nwindow = \"5s\"\n",
        );
        assert_eq!(
            got,
            [
                "6:8: no user type named \"x\" (user types: default)",
                "7:7: no request carries the tag \"y\"",
                "9:10: window applies to whole phases or runs, not to one request group, user type or tag",
                "8:18: window and abort_on_fail work with error, cache-hit and fallback rates, not the check rate: split this threshold",
                "8:18: min_check_rate: no request has a [requests.check]",
            ]
        );
    }
}
