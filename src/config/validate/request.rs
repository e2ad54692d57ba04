//! Validation of one request: its path, query, headers and body as templates, its captures
//! and its checks. User types, flows and data sets are `journey.rs`'s.

use super::{method, positive_duration, Checker};
use crate::config::raw;
use crate::config::template::{escape_into, Escape, Names, TemplateError};
use crate::config::*;
use std::ops::Range;
use toml::Spanned;

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

pub(super) fn request(
    c: &mut Checker,
    r: &raw::RequestFile,
    names: &Names,
    broken: &[String],
) -> RequestSpec {
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
fn pointer_problem(p: &str) -> Option<String> {
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
