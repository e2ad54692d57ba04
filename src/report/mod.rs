//! Reports: the run's one JSON result document, and the console summary rendered from it.
//!
//! Every report is rendered from a [`RunResult`]; nothing here runs or measures anything.

mod console;
mod result;

pub use console::render_console;
pub use result::{
    FaultSummary, GroupSummary, LatencySummary, PartsSummary, PhaseSummary, RunResult,
};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The result file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The result could not be serialized (a bug).
    #[error("cannot serialize the result: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// Writes `result` as pretty JSON to `path`.
pub fn write_json(result: &RunResult, path: &std::path::Path) -> Result<(), ReportError> {
    let text = serde_json::to_string_pretty(result)?;
    std::fs::write(path, text + "\n").map_err(|source| ReportError::Write {
        path: path.display().to_string(),
        source,
    })
}
