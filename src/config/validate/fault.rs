//! Fault-profile files and their faults: the keys every fault has are read here; the rest
//! belong to the fault's kind, which reads them itself through a [`KindTable`].

use super::Checker;
use crate::config::raw;
use crate::config::*;
use crate::fault::kind;
use std::ops::Range;
use toml::Spanned;

/// Validates one fault-profile file.
pub(crate) fn profile(name: &str, file: &str, text: &str) -> Result<FaultProfile, Vec<Diagnostic>> {
    let mut c = Checker::new(file, text);
    let Some(raw) = c.parse::<raw::ProfileFile>() else {
        return Err(c.problems);
    };
    if raw.faults.is_empty() {
        c.whole_file("the profile has no [[faults]]");
    }
    let faults: Vec<Option<Fault>> = raw.faults.iter().map(|f| fault(&mut c, f)).collect();
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(FaultProfile {
        name: raw.name.unwrap_or_else(|| name.to_string()),
        description: raw.description.trim().to_string(),
        faults: faults.into_iter().flatten().collect(),
    })
}

/// The keys of one `[[faults]]` entry, read one by one: by the common part, then by the
/// fault's kind. Every problem is reported at the key's `FILE:LINE:COL`; keys nobody read
/// are reported as not applying to the kind.
pub struct KindTable<'t, 'a> {
    c: &'t mut Checker<'a>,
    kind: String,
    kind_span: Range<usize>,
    entries: Vec<(&'t Spanned<String>, &'t Spanned<toml::Value>, bool)>,
}

impl std::fmt::Debug for KindTable<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindTable")
            .field("kind", &self.kind)
            .finish()
    }
}

impl KindTable<'_, '_> {
    /// The fault's kind as written.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    fn take(&mut self, key: &str) -> Option<(Range<usize>, toml::Value)> {
        let entry = self
            .entries
            .iter_mut()
            .find(|(k, _, _)| k.get_ref() == key)?;
        entry.2 = true;
        Some((entry.1.span(), entry.1.get_ref().clone()))
    }

    /// Reports a problem at `span`.
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.c.at(span, message);
    }

    /// Reports that the fault needs `key`, at its `kind`.
    pub fn missing(&mut self, key: &str, example: &str) {
        let message = format!("a {} fault needs `{key}` (e.g. {example})", self.kind);
        self.c.at(self.kind_span.clone(), message);
    }

    fn wrong_type(&mut self, span: Range<usize>, key: &str, wanted: &str) {
        self.c.at(span, format!("`{key}` must be {wanted}"));
    }

    /// A string value.
    pub fn string(&mut self, key: &str) -> Option<Spanned<String>> {
        match self.take(key)? {
            (span, toml::Value::String(s)) => Some(Spanned::new(span, s)),
            (span, _) => {
                self.wrong_type(span, key, "a string");
                None
            }
        }
    }

    /// A number (integers are taken as floats).
    pub fn float(&mut self, key: &str) -> Option<Spanned<f64>> {
        match self.take(key)? {
            (span, toml::Value::Float(f)) => Some(Spanned::new(span, f)),
            (span, toml::Value::Integer(i)) => Some(Spanned::new(span, i as f64)),
            (span, _) => {
                self.wrong_type(span, key, "a number");
                None
            }
        }
    }

    /// An integer.
    pub fn integer(&mut self, key: &str) -> Option<Spanned<i64>> {
        match self.take(key)? {
            (span, toml::Value::Integer(i)) => Some(Spanned::new(span, i)),
            (span, _) => {
                self.wrong_type(span, key, "an integer");
                None
            }
        }
    }

    /// A probability-like fraction in 0.0..=1.0.
    pub fn fraction(&mut self, key: &str) -> Option<Spanned<f64>> {
        let v = self.float(key)?;
        if !(0.0..=1.0).contains(v.get_ref()) {
            let message = format!("{key} must be between 0.0 and 1.0, not {}", v.get_ref());
            self.error(v.span(), message);
            return None;
        }
        Some(v)
    }

    /// A duration string such as `"250ms"`.
    pub fn duration(&mut self, key: &str) -> Option<Spanned<Duration>> {
        let s = self.string(key)?;
        let d = super::duration(self.c, &s)?;
        Some(Spanned::new(s.span(), d))
    }

    /// A duration that must be longer than zero.
    pub fn positive_duration(&mut self, key: &str) -> Option<Spanned<Duration>> {
        let d = self.duration(key)?;
        if d.get_ref().is_zero() {
            self.error(d.span(), format!("{key} must be longer than zero"));
            return None;
        }
        Some(d)
    }

    /// An inline table of strings, e.g. `headers = { retry-after = "5" }`, in key order.
    pub fn string_table(&mut self, key: &str) -> Option<Spanned<Vec<(String, String)>>> {
        let (span, value) = self.take(key)?;
        let toml::Value::Table(t) = value else {
            self.wrong_type(span, key, "a table of strings, e.g. { name = \"value\" }");
            return None;
        };
        let mut pairs = Vec::new();
        for (k, v) in t {
            match v {
                toml::Value::String(s) => pairs.push((k, s)),
                _ => {
                    self.wrong_type(span.clone(), key, "a table of strings");
                    return None;
                }
            }
        }
        Some(Spanned::new(span, pairs))
    }

    /// A string or an array of strings.
    pub fn strings(&mut self, key: &str) -> Option<Spanned<Vec<String>>> {
        let (span, value) = self.take(key)?;
        let list = match value {
            toml::Value::String(s) => vec![s],
            toml::Value::Array(a) => {
                let strings: Option<Vec<String>> = a
                    .into_iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect();
                match strings {
                    Some(list) => list,
                    None => {
                        self.wrong_type(span, key, "a string or an array of strings");
                        return None;
                    }
                }
            }
            _ => {
                self.wrong_type(span, key, "a string or an array of strings");
                return None;
            }
        };
        Some(Spanned::new(span, list))
    }

    /// Reports every key nobody read.
    fn finish(self) {
        for (key, value, used) in &self.entries {
            if !used {
                self.c.at(
                    value.span(),
                    format!(
                        "`{}` does not apply to a {} fault",
                        key.get_ref(),
                        self.kind
                    ),
                );
            }
        }
    }
}

fn fault(c: &mut Checker, f: &raw::FaultFile) -> Option<Fault> {
    let entries: Vec<_> = f.get_ref().iter().map(|(k, v)| (k, v, false)).collect();
    let mut t = KindTable {
        c,
        kind: String::new(),
        kind_span: f.span(),
        entries,
    };
    let Some(kind_name) = t.string("kind") else {
        if !t.entries.iter().any(|(k, _, _)| k.get_ref() == "kind") {
            let span = f.span();
            t.error(span, format!("a fault needs `kind` ({})", kind::known()));
        }
        return None;
    };
    t.kind = kind_name.get_ref().clone();
    t.kind_span = kind_name.span();
    let Some(parse) = kind::lookup(kind_name.get_ref()) else {
        let known = kind::known();
        let given = kind_name.get_ref();
        let message = match crate::config::suggest::closest(given, known.split(", ")) {
            Some(best) => {
                format!("unknown fault kind \"{given}\" (known: {known}); did you mean \"{best}\"?")
            }
            None => format!("unknown fault kind \"{given}\" (known: {known})"),
        };
        t.error(kind_name.span(), message);
        return None;
    };
    let probability = t.fraction("probability").map_or(1.0, |p| *p.get_ref());
    let per_connection = match t.string("per") {
        None => false,
        Some(p) => match p.get_ref().as_str() {
            "request" => false,
            "connection" => true,
            other => {
                let message = format!("unknown `per` \"{other}\" (known: request, connection)");
                t.error(p.span(), message);
                false
            }
        },
    };
    let ramp_from = t.fraction("ramp_from");
    let ramp = match t.positive_duration("ramp") {
        Some(over) => Some(Ramp {
            from: ramp_from.map_or(0.0, |f| *f.get_ref()),
            over: *over.get_ref(),
        }),
        None => {
            if let Some(f) = ramp_from {
                t.error(
                    f.span(),
                    "`ramp_from` needs `ramp` (how long the ramp takes)",
                );
            }
            None
        }
    };
    let period = t.positive_duration("period");
    let on_for = t.positive_duration("on_for");
    let cycle = match (period, on_for) {
        (None, None) => None,
        (Some(p), Some(o)) if o.get_ref() >= p.get_ref() => {
            t.error(o.span(), "on_for must be shorter than period");
            None
        }
        (Some(p), Some(o)) => Some(Cycle {
            period: *p.get_ref(),
            on_for: *o.get_ref(),
        }),
        (Some(p), None) => {
            t.error(
                p.span(),
                "`period` needs `on_for` (how long each cycle is on)",
            );
            None
        }
        (None, Some(o)) => {
            t.error(
                o.span(),
                "`on_for` needs `period` (the length of one cycle)",
            );
            None
        }
    };
    let methods = t
        .strings("method")
        .map(|m| {
            m.get_ref()
                .iter()
                .filter_map(|name| {
                    let upper = name.to_ascii_uppercase();
                    let method = http::Method::from_bytes(upper.as_bytes()).ok();
                    if method.is_none() {
                        t.error(m.span(), format!("\"{name}\" is not an HTTP method"));
                    }
                    method
                })
                .collect()
        })
        .unwrap_or_default();
    let headers = t
        .string_table("match_headers")
        .map(|h| {
            h.get_ref()
                .iter()
                .filter_map(|(name, glob)| {
                    let header = http::HeaderName::from_bytes(name.as_bytes()).ok();
                    if header.is_none() {
                        t.error(h.span(), format!("\"{name}\" is not a header name"));
                    }
                    header.map(|n| (n, glob.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let path = t.string("path").and_then(|p| {
        if p.get_ref().starts_with('/') {
            Some(p.get_ref().clone())
        } else {
            let message = format!("path \"{}\" must start with '/'", p.get_ref());
            t.error(p.span(), message);
            None
        }
    });
    let start = t
        .duration("start")
        .map(|d| *d.get_ref())
        .unwrap_or_default();
    let duration = t.positive_duration("duration").map(|d| *d.get_ref());
    let kind = parse(&mut t);
    t.finish();
    Some(Fault {
        kind: kind?,
        probability,
        per_connection,
        ramp,
        matcher: FaultMatch {
            methods,
            path,
            headers,
        },
        cycle,
        start,
        duration,
        source: f
            .get_ref()
            .iter()
            .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match profile("p", "p.toml", text) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn each_kind_reports_its_own_keys_with_line_and_column() {
        let got = problems(
            "[[faults]]\nkind = \"latency\"\ndelay = \"1s\"\ndistribution = \"normal\"\n\n[[faults]]\nkind = \"truncate\"\nbytes = 3\nfraction = 0.5\nover = \"1s\"\n\n[[faults]]\nkind = \"teapot\"\n\n[[faults]]\nkind = \"status\"\nstatus = 503\nper = \"session\"\nramp_from = 0.5\n",
        );
        for want in [
            "p.toml:2:8: a latency fault needs `jitter`",
            "p.toml:8:9: give `bytes` or `fraction`, not both",
            "p.toml:10:8: `over` does not apply to a truncate fault",
            "p.toml:13:8: unknown fault kind \"teapot\" (known: status, latency, slow_body, truncate, malformed, empty, reset, blackhole)",
            "p.toml:18:7: unknown `per` \"session\"",
            "p.toml:19:13: `ramp_from` needs `ramp`",
        ] {
            assert!(
                got.iter().any(|l| l.starts_with(want)),
                "missing {want:?} in {got:#?}"
            );
        }
    }
}
