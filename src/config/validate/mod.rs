//! Raw file → validated model, collecting every problem instead of stopping at the first.

mod expect;
mod fault;
mod journey;
mod observe;
mod parts;
mod phase;
mod request;

pub(crate) use fault::profile;
pub use fault::KindTable;

use expect::expectations;
use phase::phases;

use super::diagnostic::LineIndex;
use super::duration::parse_duration;
use super::raw;
use super::*;
use std::collections::HashSet;
use std::ops::Range;
use toml::Spanned;

/// Slowest arrival rate: one request every 1000 s.
const MIN_RATE: f64 = 0.001;
/// Fastest arrival rate; far beyond what one process can send, so only typos hit it.
const MAX_RATE: f64 = 1_000_000.0;
/// Most virtual users (or open-model workers) in one phase.
const MAX_VUS: i64 = 100_000;

/// Collects diagnostics against one file's text.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    /// Built on the first problem, so a valid file never pays for it.
    lines: Option<LineIndex<'a>>,
    problems: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn new(file: &'a str, text: &'a str) -> Self {
        Checker {
            file,
            text,
            lines: None,
            problems: Vec::new(),
        }
    }

    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let text = self.text;
        let lines = self.lines.get_or_insert_with(|| LineIndex::new(text));
        self.problems
            .push(Diagnostic::at_indexed(self.file, lines, span, message));
    }

    /// Reports a problem with the file as a whole.
    fn whole_file(&mut self, message: impl Into<String>) {
        self.problems
            .push(Diagnostic::whole_file(self.file, message));
    }

    /// Reports `name` if `seen` already holds it (`what` is e.g. "phase name").
    fn unique(&mut self, seen: &mut HashSet<String>, name: &Spanned<String>, what: &str) {
        if !seen.insert(name.get_ref().clone()) {
            self.at(
                name.span(),
                format!("{what} \"{}\" is used twice", name.get_ref()),
            );
        }
    }

    /// Reads an optional count that must lie in `range`; `default` when absent or out of range.
    fn count(
        &mut self,
        value: &Option<Spanned<i64>>,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        default: usize,
    ) -> usize {
        match value {
            None => default,
            Some(v) if !range.contains(v.get_ref()) => {
                let (low, high) = (range.start(), range.end());
                self.at(v.span(), format!("{key} must be between {low} and {high}"));
                default
            }
            Some(v) => *v.get_ref() as usize,
        }
    }

    /// Parses the whole file into `T`; a syntax or type error becomes one diagnostic.
    fn parse<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        match toml::from_str::<T>(self.text) {
            Ok(v) => Some(v),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                self.at(span, super::suggest::reword(e.message()));
                None
            }
        }
    }
}

pub(super) fn drill(
    file: &str,
    text: &str,
    profiles: &dyn ProfileSource,
) -> Result<Drill, ConfigError> {
    let mut c = Checker::new(file, text);
    let Some(raw) = c.parse::<raw::DrillFile>() else {
        return Err(ConfigError::Invalid(c.problems));
    };

    let dir_source;
    let profiles: &dyn ProfileSource = match &raw.profile_dir {
        Some(dir) => match profiles.with_dir(dir) {
            Ok(src) => {
                dir_source = src;
                dir_source.as_ref()
            }
            Err(why) => {
                c.whole_file(why);
                profiles
            }
        },
        None => profiles,
    };

    let name = raw.name.clone().unwrap_or_else(|| {
        std::path::Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "drill".into())
    });
    let target = raw.target.as_ref().and_then(|t| {
        check_target_url(t.get_ref())
            .map_err(|why| c.at(t.span(), why))
            .ok()
    });
    let request_timeout = match &raw.request_timeout {
        Some(t) => positive_duration(&mut c, t, "request_timeout"),
        None => Duration::from_secs(5),
    };
    let parts = parts::parts(&mut c, &raw);
    let (requests, journey) = journey::journey(&mut c, &raw);
    let phases = phases(&mut c, &raw.phases, profiles);
    if parts.proxy.is_none() {
        for p in raw.phases.iter().filter(|p| !p.faults.is_empty()) {
            c.at(
                p.faults[0].span(),
                format!("phase \"{}\" applies fault profiles but the proxy is not started ([parts] proxy = true)", p.name.get_ref()),
            );
        }
    }
    let observe = observe::observe(&mut c, &raw.observe, parts.proxy.is_some());
    let preflight = raw.preflight.as_ref().map(|p| preflight(&mut c, p));
    let expect = expectations(&mut c, &raw.expect, &phases, &requests, &journey);
    if parts.proxy.is_none() {
        if let Some(b) = &raw.expect.breaker {
            let needs_tap = [
                (
                    "opens_after",
                    b.opens_after.as_ref().map(toml::Spanned::span),
                ),
                (
                    "max_half_open_probes",
                    b.max_half_open_probes.as_ref().map(toml::Spanned::span),
                ),
            ];
            for (key, span) in needs_tap {
                if let Some(span) = span {
                    c.at(span, format!("{key} counts upstream calls at the fault proxy: set [parts] proxy = true"));
                }
            }
            if b.rejects_while_open.is_some() {
                c.whole_file("rejects_while_open counts upstream calls at the fault proxy: set [parts] proxy = true");
            }
        }
    }

    if !c.problems.is_empty() {
        return Err(ConfigError::Invalid(c.problems));
    }
    Ok(Drill {
        name,
        description: raw.description.trim().to_string(),
        source: file.to_string(),
        target,
        allow_targets: raw.allow_targets.clone(),
        seed: raw.seed.unwrap_or(1),
        request_timeout,
        insecure: raw.insecure.unwrap_or(false),
        parts,
        requests,
        journey,
        phases,
        observe,
        expect,
        preflight,
    })
}

/// Checks a load target's base URL (`http[s]://host:port[/base]`) and returns it without a
/// trailing slash.
pub fn check_target_url(given: &str) -> Result<String, String> {
    check_url(given, true)
}

/// Checks a base URL (`http://host:port[/base]`) and returns it without a trailing slash.
/// Only the load engine speaks https; upstreams, health checks and state endpoints are http.
pub fn check_base_url(given: &str) -> Result<String, String> {
    check_url(given, false)
}

fn check_url(given: &str, https: bool) -> Result<String, String> {
    // No scheme means http: `localhost:8080/api`.
    let given = &super::address::with_scheme(given);
    // Messages show the URL with any password masked.
    let url = &super::guard::mask_credentials(given);
    let parsed: http::Uri = given
        .parse()
        .map_err(|e| format!("target \"{url}\" is not a URL: {e}"))?;
    match parsed.scheme_str() {
        Some("http") => {}
        Some("https") if https => {}
        Some("https") => {
            return Err(format!(
                "target \"{url}\": https is only supported for the load target; use http"
            ))
        }
        _ if https => {
            return Err(format!(
                "target \"{url}\" must start with http:// or https://"
            ))
        }
        _ => return Err(format!("target \"{url}\" must start with http://")),
    }
    if parsed.host().is_none() {
        return Err(format!("target \"{url}\" has no host"));
    }
    Ok(given.trim_end_matches('/').to_string())
}

/// Parses a duration, reporting a bad one at its position.
fn duration(c: &mut Checker, d: &Spanned<String>) -> Option<Duration> {
    parse_duration(d.get_ref())
        .map_err(|why| c.at(d.span(), why))
        .ok()
}

/// Parses an optional duration; absent or bad gives `None` (a bad one is reported).
fn opt_duration(c: &mut Checker, d: &Option<Spanned<String>>) -> Option<Duration> {
    d.as_ref().and_then(|d| duration(c, d))
}

/// Parses a duration that must be longer than zero; a bad one is reported and read as 1 s.
fn positive_duration(c: &mut Checker, d: &Spanned<String>, what: &str) -> Duration {
    match duration(c, d) {
        Some(v) if v.is_zero() => {
            c.at(d.span(), format!("{what} must be longer than zero"));
            Duration::from_secs(1)
        }
        Some(v) => v,
        None => Duration::from_secs(1),
    }
}

fn status_code(c: &mut Checker, s: &Spanned<u16>) -> u16 {
    let code = *s.get_ref();
    if !(100..=599).contains(&code) {
        c.at(
            s.span(),
            format!("status {code} is not an HTTP status (100-599)"),
        );
    }
    code
}

fn method(c: &mut Checker, m: &Option<Spanned<String>>) -> http::Method {
    match m {
        None => http::Method::GET,
        Some(m) => http::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes())
            .unwrap_or_else(|_| {
                c.at(
                    m.span(),
                    format!("\"{}\" is not an HTTP method", m.get_ref()),
                );
                http::Method::GET
            }),
    }
}

fn preflight(c: &mut Checker, p: &raw::PreflightFile) -> Preflight {
    let health = p.health.get_ref().trim().to_string();
    let health = if health.starts_with('/') {
        health
    } else {
        // `localhost:8080/health` is an http:// URL too.
        check_base_url(&health).unwrap_or_else(|why| {
            c.at(
                p.health.span(),
                format!(
                    "{} (or a path starting with '/', relative to the target)",
                    why.replace("target", "health")
                ),
            );
            health
        })
    };
    Preflight {
        health,
        timeout: p.timeout.as_ref().map_or(Duration::from_secs(10), |t| {
            positive_duration(c, t, "timeout")
        }),
        status: p.status.as_ref().map(|s| status_code(c, s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_PROFILES: EmbeddedProfiles = EmbeddedProfiles(&[]);

    /// A drill starting the stub and the demo service, with `demo` as its `[demo]` table
    /// (which starts on line 5).
    fn drill_with_demo(demo: &str) -> Result<Drill, ConfigError> {
        let text = format!(
            "[parts]\nstub = true\ndemo = true\n[demo]\n{demo}\n[[requests]]\nname = \"r\"\npath = \"/\"\n\n[[phases]]\nname = \"p\"\nexecutor = \"constant-arrival-rate\"\nrate = 5\nduration = \"1s\"\n"
        );
        super::super::parse_drill("d.toml", &text, &NO_PROFILES)
    }

    fn demo_settings(demo: &str) -> DemoSettings {
        drill_with_demo(demo)
            .unwrap_or_else(|e| panic!("valid: {e}"))
            .parts
            .demo
            .expect("demo part")
    }

    /// `line:col: message` of each problem.
    fn problems(demo: &str) -> Vec<String> {
        match drill_with_demo(demo) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .diagnostics()
                .iter()
                .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
                .collect(),
        }
    }

    #[test]
    fn demo_keys_default_to_a_consecutive_breaker_that_tells_the_truth() {
        let d = demo_settings("");
        assert_eq!(d.breaker, DemoBreaker::Consecutive);
        assert_eq!(d.rate, RateSettings::default());
        assert!(d.fallback && d.label_probe);
        assert_eq!(d.state_header, StateHeader::Truthful);
        assert_eq!(d.transition_log, None);
    }

    #[test]
    fn every_new_demo_key_is_read() {
        let d = demo_settings(
            "breaker = \"rate\"\nfailure_rate = 0.25\nminimum_calls = 4\nwindow = 8\nhalf_open_calls = 2\nopen_duration = \"750ms\"\nfallback = false\nstate_header = \"closed\"\nlabel_probe = false\ntransition_log = \"out/transitions.jsonl\"",
        );
        assert_eq!(d.breaker, DemoBreaker::Rate);
        assert_eq!(
            d.rate,
            RateSettings {
                failure_rate: 0.25,
                minimum_calls: 4,
                window: 8,
                half_open_calls: 2,
            }
        );
        assert_eq!(d.open_duration, Duration::from_millis(750));
        assert!(!d.fallback && !d.label_probe);
        assert_eq!(d.state_header, StateHeader::Closed);
        assert_eq!(
            d.transition_log,
            Some(PathBuf::from("out/transitions.jsonl"))
        );
        assert_eq!(
            demo_settings("state_header = \"none\"").state_header,
            StateHeader::None
        );
        assert_eq!(
            demo_settings("failure_rate = 1").rate.failure_rate,
            1.0,
            "an integer rate is fine"
        );
    }

    #[test]
    fn breaker_kinds_and_the_on_alias() {
        for (text, kind) in [
            ("on", DemoBreaker::Consecutive),
            ("consecutive", DemoBreaker::Consecutive),
            ("rate", DemoBreaker::Rate),
            ("off", DemoBreaker::Off),
        ] {
            assert_eq!(
                demo_settings(&format!("breaker = \"{text}\"")).breaker,
                kind
            );
        }
    }

    #[test]
    fn each_bad_demo_value_is_reported_where_it_is() {
        let got = problems(
            "breaker = \"ratio\"\nfailure_rate = 1.5\nminimum_calls = 0\nwindow = 0\nhalf_open_calls = 0\nstate_header = \"lying\"\ntransition_log = \"\"",
        );
        let want = [
            "5:11: unknown breaker \"ratio\": use \"consecutive\", \"rate\" or \"off\" (\"on\" means \"consecutive\")",
            "6:16: failure_rate is a fraction above 0 and at most 1, not 1.5",
            "7:17: minimum_calls must be between 1 and 100000",
            "8:10: window must be between 1 and 100000",
            "9:19: half_open_calls must be between 1 and 10000",
            "10:16: unknown state_header \"lying\": use \"truthful\", \"closed\" or \"none\"",
            "11:18: transition_log must name a file",
        ];
        assert_eq!(got, want);
        assert_eq!(
            problems("failure_rate = 0.0"),
            ["5:16: failure_rate is a fraction above 0 and at most 1, not 0.0"]
        );
        assert_eq!(
            problems("window = 5\nminimum_calls = 6"),
            ["6:17: minimum_calls (6) is larger than window (5): the rate breaker could never open"]
        );
    }

    #[test]
    fn demo_switches_must_be_booleans() {
        let got = problems("fallback = \"no\"");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("5:12: "), "{got:?}");
        let got = problems("label_probe = 1");
        assert!(got[0].starts_with("5:15: "), "{got:?}");
    }
}
