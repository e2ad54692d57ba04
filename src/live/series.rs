//! The per-second series as NDJSON, written as the run goes: a `start` line, one `second`
//! line per second of the run (flushed at once, so a crash loses at most the second in
//! progress), and an `end` line once the run is over.

use crate::drill::SecondRow;
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why the series could not be written.
#[derive(Debug, thiserror::Error)]
#[error("series {path}: {source}")]
pub struct SeriesError {
    /// The file.
    pub path: String,
    /// What went wrong.
    #[source]
    pub source: std::io::Error,
}

/// One line of the series file.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SeriesLine<'a> {
    /// The first line: what run this is.
    Start {
        /// The drill's name.
        drill: &'a str,
        /// Planned length, seconds.
        planned_s: f64,
        /// Phase names, in order.
        phases: Vec<&'a str>,
    },
    /// One second of the run.
    Second(&'a SecondRow),
    /// The last line: the run is over.
    End {
        /// Seconds written.
        seconds: u64,
        /// How long the run lasted, seconds.
        duration_s: f64,
        /// Whether the run was stopped before its planned end.
        stopped_early: bool,
    },
}

/// Appends series lines to a file, one flushed write per line.
#[derive(Debug)]
pub struct SeriesWriter {
    path: PathBuf,
    out: BufWriter<File>,
    seconds: u64,
}

impl SeriesWriter {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<SeriesWriter, SeriesError> {
        let file = File::create(path).map_err(|source| SeriesError {
            path: path.display().to_string(),
            source,
        })?;
        Ok(SeriesWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            seconds: 0,
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seconds written so far.
    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    /// Writes one line and flushes it.
    pub fn write(&mut self, line: &SeriesLine<'_>) -> Result<(), SeriesError> {
        if matches!(line, SeriesLine::Second(_)) {
            self.seconds += 1;
        }
        let fail = |source| SeriesError {
            path: self.path.display().to_string(),
            source,
        };
        let mut text = serde_json::to_vec(line).map_err(|e| fail(e.into()))?;
        text.push(b'\n');
        self.out.write_all(&text).map_err(fail)?;
        self.out.flush().map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_tagged_json_and_flushed() {
        let dir = std::env::temp_dir().join(format!("bb-series-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("s.ndjson");
        let mut w = SeriesWriter::create(&path).expect("create");
        w.write(&SeriesLine::Start {
            drill: "d",
            planned_s: 2.0,
            phases: vec!["a"],
        })
        .expect("write");
        let row = SecondRow {
            t: 0,
            phase: "a".into(),
            requests: 3,
            errors: 0,
            errors_by_kind: Default::default(),
            fallbacks: 1,
            cache_hits: 0,
            p50_ms: Some(1.5),
            p95_ms: None,
            p99_ms: None,
            breaker: Default::default(),
            faults: vec![],
        };
        w.write(&SeriesLine::Second(&row)).expect("write");
        // Read before the writer is dropped: each line is already on disk.
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[0]["type"], "start");
        assert_eq!(lines[1]["type"], "second");
        assert_eq!(lines[1]["requests"], 3);
        assert_eq!(w.seconds(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
