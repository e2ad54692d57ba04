//! `junit`: JUnit XML for CI test tabs: one `<testsuite>` per drill, one `<testcase>` per
//! judged expectation (classname = drill, name = criterion).
//!
//! Mapping: `pass` is a plain testcase; `fail` carries a `<failure>` whose message holds
//! the expected and measured values; `invalid` (the run cannot judge it) an `<error>`;
//! `warn` passes (the exit code ignores it too) with a `status=warn` property and the
//! detail in `<system-out>`. An aborted run adds one testcase, "the run completed", with
//! an `<error>`, so a cut-short run is never green. Evidence goes in `<system-out>`.
//! Verdicts carry no duration of their own: testcases say `time="0"`, the suite the run's.

use super::{Format, Target};
use crate::report::{write_atomically, ReportError, RunResult};
use crate::verdict::{Outcome, Status, Verdict};
use std::fmt::Write as _;
use std::path::Path;

/// JUnit XML, one testcase per expectation.
pub const FORMAT: Format = Format {
    name: "junit",
    description: "JUnit XML: one testsuite per drill, one testcase per expectation",
    target: Target::File,
    write: write_junit,
};

/// Writes `result` as JUnit XML to `path`, atomically.
pub fn write_junit(result: &RunResult, path: &Path) -> Result<(), ReportError> {
    write_atomically(path, render(result).as_bytes())
}

/// One testcase: the verdict, or the synthetic "run completed" one of an aborted run.
struct Case<'a> {
    name: &'a str,
    status: Status,
    message: String,
    out: String,
}

/// The JUnit XML document for `result`.
pub fn render(result: &RunResult) -> String {
    let mut cases: Vec<Case> = result.verdicts.iter().map(case).collect();
    let abort;
    if result.outcome == Outcome::Aborted {
        abort = result
            .abort_reason
            .clone()
            .unwrap_or_else(|| "stopped before its end".into());
        cases.push(Case {
            name: "the run completed",
            status: Status::Invalid,
            message: format!("aborted: {abort}"),
            out: String::new(),
        });
    }
    let count = |s: Status| cases.iter().filter(|c| c.status == s).count();
    let (tests, failures, errors, skipped) = (
        cases.len(),
        count(Status::Fail),
        count(Status::Invalid),
        count(Status::NotRun),
    );
    let time = format!("{:.3}", result.duration_s);
    let drill = escape(&result.drill);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"breakerbox\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{drill}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{}\">",
        escape(&result.started_at)
    );
    x.push_str("    <properties>\n");
    let seed = result.seed.to_string();
    let props = [
        ("breakerbox", result.breakerbox.as_str()),
        ("drill_file", result.drill_file.as_str()),
        ("seed", seed.as_str()),
        ("target", result.target.as_str()),
        ("outcome", outcome_name(result.outcome)),
    ];
    for (name, value) in props {
        let _ = writeln!(
            x,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape(value)
        );
    }
    x.push_str("    </properties>\n");
    for c in &cases {
        let _ = write!(
            x,
            "    <testcase name=\"{}\" classname=\"{drill}\" time=\"0\"",
            escape(c.name)
        );
        let body = match c.status {
            Status::Pass if c.out.is_empty() => None,
            Status::Pass => Some(String::new()),
            Status::Warn => Some(
                "      <properties>\n        <property name=\"status\" value=\"warn\"/>\n      </properties>\n"
                    .to_string(),
            ),
            Status::Fail => Some(format!(
                "      <failure message=\"{}\" type=\"fail\"/>\n",
                escape(&c.message)
            )),
            Status::Invalid => Some(format!(
                "      <error message=\"{}\" type=\"invalid\"/>\n",
                escape(&c.message)
            )),
            // The run stopped before the expectation's phase: skipped, not failed.
            Status::NotRun => Some(format!(
                "      <skipped message=\"{}\"/>\n",
                escape(&c.message)
            )),
        };
        match body {
            None => x.push_str("/>\n"),
            Some(body) => {
                x.push_str(">\n");
                x.push_str(&body);
                if !c.out.is_empty() {
                    let _ = writeln!(x, "      <system-out>{}</system-out>", escape_text(&c.out));
                }
                x.push_str("    </testcase>\n");
            }
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn case(v: &Verdict) -> Case<'_> {
    let message = format!("expected {}, measured {}", v.expected, v.measured);
    let mut out = String::new();
    if v.status != Status::Pass {
        out.push_str(&message);
        out.push('\n');
    }
    for e in &v.evidence {
        out.push_str(e);
        out.push('\n');
    }
    Case {
        name: &v.criterion,
        status: v.status,
        message,
        out,
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Aborted => "aborted",
        Outcome::Invalid => "invalid",
        Outcome::Unjudged => "unjudged",
    }
}

/// Escapes element text: like [`escape`], but line breaks and tabs stay as they are.
fn escape_text(s: &str) -> String {
    escape(s)
        .replace("&#10;", "\n")
        .replace("&#13;", "\r")
        .replace("&#9;", "\t")
}

/// Escapes text for an XML attribute or element; characters XML 1.0 cannot carry at all
/// (control characters other than tab, newline, carriage return) become U+FFFD.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_control_characters() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}"
        );
        assert_eq!(escape("x\ny"), "x&#10;y");
    }
}
