//! Reports: the run's one JSON result document, the console summary and the other formats
//! rendered from it, and the comparison of two results.
//!
//! Every report is rendered from a [`RunResult`]; nothing here runs or measures anything.

pub mod compare;
mod console;
mod decisions;
pub mod format;
pub mod html;
mod read;
mod result;
pub mod schema;

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub use console::{render_console, render_console_styled, strip_ansi, use_colour, visible_width};
pub use decisions::write_decisions;
pub use format::json::write_json;
pub use read::{read_json, ReadError};
pub use result::{
    CheckSummary, FaultSummary, GroupSummary, LatencySummary, NotStarted, PartsSummary,
    PhaseSummary, RunResult,
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
    /// A CSV table could not be built (a bug).
    #[error("cannot build a CSV table: {0}")]
    Csv(String),
}

/// Checks that a result can be written at `path` (its directory exists and is writable),
/// so a bad `--out` is found before a long run rather than after it.
pub fn check_writable(path: &Path) -> Result<(), ReportError> {
    let probe = temp_beside(path);
    let fail = |source| ReportError::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::File::create(&probe).map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "result".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` atomically (temporary file beside it, synced, renamed over it):
/// the one way every report format writes.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let fail = |source| ReportError::Write {
        path: path.display().to_string(),
        source,
    };
    let temp = temp_beside(path);
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(fail(e));
    }
    // Make the rename itself durable; not every filesystem lets a directory be synced.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_whole() {
        let dir = std::env::temp_dir().join(format!("bb-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("result.json");
        write_atomically(&path, b"old").expect("first write");
        // A directory where the temporary file should go makes the write fail midway.
        std::fs::create_dir(temp_beside(&path)).expect("block the temp file");
        assert!(write_atomically(&path, b"new").is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
        std::fs::remove_dir(temp_beside(&path)).expect("unblock");
        write_atomically(&path, b"new").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        assert!(check_writable(&path).is_ok());
        assert!(check_writable(&dir.join("missing/result.json")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
