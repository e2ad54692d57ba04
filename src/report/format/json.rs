//! `json`: result.json itself, pretty-printed (the document every other format reads).

use super::{Format, Target};
use crate::report::{write_atomically, ReportError, RunResult};
use std::path::Path;

/// The result document as pretty JSON.
pub const FORMAT: Format = Format {
    name: "json",
    description: "the result document (result.json), pretty-printed",
    target: Target::File,
    write: write_json,
};

/// Writes `result` as pretty JSON to `path`, atomically: a temporary file beside it,
/// flushed to disk, then renamed over it, so a kill mid-write leaves the old file whole.
pub fn write_json(result: &RunResult, path: &Path) -> Result<(), ReportError> {
    let text = serde_json::to_string_pretty(result)? + "\n";
    write_atomically(path, text.as_bytes())
}
