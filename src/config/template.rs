//! Text with placeholders, e.g. `/api/item/{{random_int 1 200}}` or `Bearer {{capture.token}}`.
//!
//! Templates are parsed once when the drill is read, so a typo is a config error with a
//! line and column, and rendering on the load engine's hot path is a few appends into a
//! buffer the caller reuses. Environment variables are resolved at parse time; data-file
//! columns and captured values are looked up by index at render time, and a value that is
//! not there (a capture that found nothing, no free data row) makes rendering fail, so the
//! request is skipped rather than sent with an empty value.

use super::data::DataSet;
use crate::rng::Rng;
use std::fmt::Write;
use std::sync::Arc;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// The template type request paths use (the name older code knows).
pub type PathTemplate = Template;

/// How values inserted into a template are escaped for where the text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As is (header values, raw bodies).
    None,
    /// Percent-encode what a URI path cannot hold (space, `?`, `#`, `%`, non-ASCII…).
    Path,
    /// Percent-encode everything but unreserved characters (query and form values).
    Component,
    /// Escape as inside a JSON string.
    Json,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    RandomInt {
        low: i64,
        high: i64,
    },
    RandomString {
        len: usize,
    },
    Uuid,
    Vu,
    Iteration,
    Data {
        set: usize,
        column: usize,
        escape: Escape,
    },
    Capture {
        slot: usize,
        escape: Escape,
    },
}

/// A parse problem: what is wrong and where, as a byte offset into the parsed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the offending placeholder in the text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// The names placeholders may refer to, known when the drill is validated.
pub struct Names<'a> {
    /// Data sets, by position (`{{data.NAME.COLUMN}}`).
    pub data: &'a [Arc<DataSet>],
    /// Capture names, by slot (`{{capture.NAME}}`).
    pub captures: &'a [String],
    /// Reads an environment variable (`{{env.NAME}}`); injectable for tests.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names")
            .field("data", &self.data.len())
            .field("captures", &self.captures)
            .finish_non_exhaustive()
    }
}

impl Names<'_> {
    /// No data sets, no captures, no environment: only the random placeholders parse.
    pub const EMPTY: Names<'static> = Names {
        data: &[],
        captures: &[],
        env: &|_| None,
    };
}

/// A value a template needed but that is not there; the request is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The capture in this slot has no value (nothing captured yet, or the last try found
    /// nothing).
    Capture(usize),
    /// The data set at this index has no row for this virtual user (unique rows all taken).
    Data(usize),
}

/// Everything a template may draw from while rendering.
#[derive(Debug)]
pub struct Context<'a> {
    /// The virtual user's random stream.
    pub rng: &'a mut Rng,
    /// The virtual user's number (1-based; 0 for setup and teardown).
    pub vu: u64,
    /// The virtual user's iteration (0-based).
    pub iteration: u64,
    /// The data sets, by index.
    pub data: &'a [Arc<DataSet>],
    /// The current row of each data set, if it has one.
    pub rows: &'a [Option<usize>],
    /// Captured values by slot.
    pub captures: &'a [Option<String>],
}

/// Characters a captured value cannot hold in a path segment without encoding.
fn path_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// Appends `value` to `out` escaped for `escape`.
pub fn escape_into(out: &mut String, value: &str, escape: Escape) {
    let percent = |out: &mut String, keep: fn(u8) -> bool| {
        for b in value.bytes() {
            if keep(b) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    };
    match escape {
        Escape::None => out.push_str(value),
        Escape::Path => percent(out, path_safe),
        Escape::Component => percent(out, unreserved),
        Escape::Json => {
            for ch in value.chars() {
                match ch {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
        }
    }
}

impl Template {
    /// Parses `text`, escaping inserted values for `escape`; the error says which
    /// placeholder is wrong and where.
    pub fn parse(text: &str, escape: Escape, names: &Names) -> Result<Template, TemplateError> {
        let mut t = Template { parts: Vec::new() };
        t.append(text, escape, names)?;
        Ok(t)
    }

    /// Parses a request path: [`Template::parse`] plus a leading `/`.
    pub fn parse_path(text: &str, names: &Names) -> Result<Template, TemplateError> {
        if !text.starts_with('/') {
            return Err(TemplateError {
                offset: 0,
                message: format!("path \"{text}\" must start with '/'"),
            });
        }
        Template::parse(text, Escape::Path, names)
    }

    /// A template of fixed text.
    pub fn literal(text: &str) -> Template {
        let mut t = Template { parts: Vec::new() };
        t.push_literal(text);
        t
    }

    /// The template for `/`, a stand-in after a parse error has been reported.
    pub fn root() -> Template {
        Template::literal("/")
    }

    /// Appends fixed text.
    pub fn push_literal(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(Part::Literal(last)) = self.parts.last_mut() {
            last.push_str(text);
        } else {
            self.parts.push(Part::Literal(text.to_string()));
        }
    }

    /// Appends `text` parsed as a template (see [`Template::parse`]).
    pub fn append(
        &mut self,
        text: &str,
        escape: Escape,
        names: &Names,
    ) -> Result<(), TemplateError> {
        self.append_with(text, escape, names, false)
    }

    /// Appends `text` parsed as a template whose fixed text is escaped too (a query or
    /// form value written in the drill as plain text: `q = "a b"` sends `q=a%20b`).
    pub fn append_escaped(
        &mut self,
        text: &str,
        escape: Escape,
        names: &Names,
    ) -> Result<(), TemplateError> {
        self.append_with(text, escape, names, true)
    }

    fn append_with(
        &mut self,
        text: &str,
        escape: Escape,
        names: &Names,
        escape_literals: bool,
    ) -> Result<(), TemplateError> {
        let literal = |t: &mut Template, text: &str| {
            if escape_literals {
                let mut escaped = String::new();
                escape_into(&mut escaped, text, escape);
                t.push_literal(&escaped);
            } else {
                t.push_literal(text);
            }
        };
        let mut rest = text;
        let mut at = 0;
        while let Some(open) = rest.find("{{") {
            literal(self, &rest[..open]);
            let offset = at + open;
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| TemplateError {
                offset,
                message: format!("unclosed placeholder in \"{text}\": missing \"}}}}\""),
            })?;
            let part = parse_placeholder(after[..close].trim(), escape, names)
                .map_err(|message| TemplateError { offset, message })?;
            match part {
                Part::Literal(value) => {
                    let mut escaped = String::new();
                    escape_into(&mut escaped, &value, escape);
                    self.push_literal(&escaped);
                }
                other => self.parts.push(other),
            }
            let consumed = open + 2 + close + 2;
            at += consumed;
            rest = &rest[consumed..];
        }
        literal(self, rest);
        Ok(())
    }

    /// Appends another template's parts.
    pub fn extend(&mut self, other: &Template) {
        for part in &other.parts {
            match part {
                Part::Literal(text) => self.push_literal(text),
                p => self.parts.push(p.clone()),
            }
        }
    }

    /// The fixed text, if the template has no placeholders left.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// Whether the template is exactly one placeholder that renders a number.
    pub fn is_number(&self) -> bool {
        matches!(
            self.parts.as_slice(),
            [Part::RandomInt { .. } | Part::Vu | Part::Iteration]
        )
    }

    /// The capture slots the template reads.
    pub fn captures(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Capture { slot, .. } => Some(*slot),
            _ => None,
        })
    }

    /// The data sets the template reads.
    pub fn data_sets(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Data { set, .. } => Some(*set),
            _ => None,
        })
    }

    /// Appends one concrete text to `out`, drawing values from `cx`; a value that is not
    /// there stops rendering (what was appended so far stays: callers clear their buffer).
    pub fn render(&self, cx: &mut Context, out: &mut String) -> Result<(), Missing> {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::RandomInt { low, high } => {
                    let _ = write!(out, "{}", cx.rng.range_inclusive(*low, *high));
                }
                Part::RandomString { len } => random_string(cx.rng, *len, out),
                Part::Uuid => uuid_v4(cx.rng, out),
                Part::Vu => {
                    let _ = write!(out, "{}", cx.vu);
                }
                Part::Iteration => {
                    let _ = write!(out, "{}", cx.iteration);
                }
                Part::Data {
                    set,
                    column,
                    escape,
                } => {
                    let row = cx
                        .rows
                        .get(*set)
                        .copied()
                        .flatten()
                        .ok_or(Missing::Data(*set))?;
                    let value = cx
                        .data
                        .get(*set)
                        .and_then(|d| d.value(row, *column))
                        .ok_or(Missing::Data(*set))?;
                    escape_into(out, value, *escape);
                }
                Part::Capture { slot, escape } => {
                    let value = cx
                        .captures
                        .get(*slot)
                        .and_then(Option::as_deref)
                        .ok_or(Missing::Capture(*slot))?;
                    escape_into(out, value, *escape);
                }
            }
        }
        Ok(())
    }

    /// Renders with only a random stream: for templates known to hold no data or capture
    /// placeholders (the older path-only API).
    pub fn render_plain(&self, rng: &mut Rng, out: &mut String) {
        out.clear();
        let mut cx = Context {
            rng,
            vu: 0,
            iteration: 0,
            data: &[],
            rows: &[],
            captures: &[],
        };
        let _ = self.render(&mut cx, out);
    }
}

const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_string(rng: &mut Rng, len: usize, out: &mut String) {
    let mut bits = 0u64;
    let mut left = 0;
    for _ in 0..len {
        if left == 0 {
            bits = rng.next_u64();
            left = 10; // 10 draws of 6 bits from 64
        }
        // 62 symbols from 6 bits: fold the two extra values back (a tiny bias, fine here).
        out.push(ALPHANUMERIC[(bits & 63) as usize % 62] as char);
        bits >>= 6;
        left -= 1;
    }
}

fn uuid_v4(rng: &mut Rng, out: &mut String) {
    let hi = (rng.next_u64() & !0xF000) | 0x4000; // version 4
    let lo = (rng.next_u64() & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    let _ = write!(
        out,
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    );
}

/// Largest `random_string` length: enough for any id, small enough to catch typos.
const MAX_RANDOM_STRING: usize = 4096;

const KNOWN: &str =
    "random_int, random_string, uuid, vu, iteration, data.SET.COLUMN, env.NAME, capture.NAME";

fn parse_placeholder(body: &str, escape: Escape, names: &Names) -> Result<Part, String> {
    let words: Vec<&str> = body.split_whitespace().collect();
    let int = |what: &str, word: &str| -> Result<i64, String> {
        word.parse()
            .map_err(|_| format!("{what} \"{word}\" is not an integer"))
    };
    match words.as_slice() {
        ["random_int", low, high] => {
            let low = int("random_int bound", low)?;
            let high = int("random_int bound", high)?;
            if high < low {
                return Err(format!(
                    "random_int {low} {high}: the upper bound is below the lower"
                ));
            }
            Ok(Part::RandomInt { low, high })
        }
        ["random_int", ..] => Err("random_int takes two integers: {{random_int LOW HIGH}}".into()),
        ["random_string", len] => {
            let len = int("random_string length", len)?;
            if !(1..=MAX_RANDOM_STRING as i64).contains(&len) {
                return Err(format!(
                    "random_string length must be between 1 and {MAX_RANDOM_STRING}"
                ));
            }
            Ok(Part::RandomString { len: len as usize })
        }
        ["random_string", ..] => Err("random_string takes a length: {{random_string 16}}".into()),
        ["uuid"] => Ok(Part::Uuid),
        ["vu"] => Ok(Part::Vu),
        ["iteration"] => Ok(Part::Iteration),
        [word] if word.contains('.') => dotted(word, escape, names),
        [other, ..] => Err(format!("unknown placeholder \"{other}\" (known: {KNOWN})")),
        [] => Err("empty placeholder \"{{}}\"".into()),
    }
}

fn dotted(word: &str, escape: Escape, names: &Names) -> Result<Part, String> {
    let (kind, rest) = word.split_once('.').unwrap_or((word, ""));
    match kind {
        "env" => {
            if rest.is_empty() {
                return Err("env needs a variable name: {{env.NAME}}".into());
            }
            (names.env)(rest)
                .map(Part::Literal)
                .ok_or_else(|| format!("environment variable {rest} is not set"))
        }
        "capture" => {
            let slot = names
                .captures
                .iter()
                .position(|c| c == rest)
                .ok_or_else(|| {
                    if names.captures.is_empty() {
                        format!("unknown capture \"{rest}\": no request captures anything")
                    } else {
                        format!(
                            "unknown capture \"{rest}\": no request captures it (captured: {})",
                            names.captures.join(", ")
                        )
                    }
                })?;
            Ok(Part::Capture { slot, escape })
        }
        "data" => {
            let (set_name, column_name) = rest.split_once('.').ok_or_else(|| {
                format!("data needs a set and a column: {{{{data.SET.COLUMN}}}}, not \"{word}\"")
            })?;
            let set = names
                .data
                .iter()
                .position(|d| d.name == set_name)
                .ok_or_else(|| {
                    let known: Vec<&str> = names.data.iter().map(|d| d.name.as_str()).collect();
                    if known.is_empty() {
                        format!("unknown data set \"{set_name}\": declare it as [data.{set_name}] file = \"….csv\"")
                    } else {
                        format!("unknown data set \"{set_name}\" (known: {})", known.join(", "))
                    }
                })?;
            let data = &names.data[set];
            let column = data.column(column_name).ok_or_else(|| {
                format!(
                    "data set \"{set_name}\" has no column \"{column_name}\" (columns: {})",
                    data.columns.join(", ")
                )
            })?;
            Ok(Part::Data {
                set,
                column,
                escape,
            })
        }
        other => Err(format!(
            "unknown placeholder \"{other}.…\" (known: {KNOWN})"
        )),
    }
}

#[cfg(test)]
mod tests;
