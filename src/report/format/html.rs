//! `html`: the self-contained HTML report (one file, inline SVG, nothing fetched), rendered
//! by [`crate::report::html`].

use super::{Format, Target};
use crate::report::{write_atomically, ReportError, RunResult};
use std::path::Path;

/// The HTML report: verdicts, then phases, fault windows and breaker states over the traffic.
pub const FORMAT: Format = Format {
    name: "html",
    description: "self-contained HTML report: verdicts, breaker and fault bands over the traffic",
    target: Target::File,
    write: write_html,
};

/// Writes `result` as the HTML report to `path`, atomically.
pub fn write_html(result: &RunResult, path: &Path) -> Result<(), ReportError> {
    write_atomically(path, crate::report::html::render(result).as_bytes())
}
