//! The file formats a [`RunResult`] can be written in: an open set behind one registry.
//!
//! Each format is one file in this folder exporting a [`Format`] const; adding a format is
//! that file plus one line in [`FORMATS`] (and, for the command line, one flag in
//! `ReportFlags`). Every writer writes atomically, like result.json itself.

pub mod csv;
pub mod html;
pub mod json;
pub mod junit;

use super::{ReportError, RunResult};
use std::path::Path;

/// What a format's path names: one file, or a directory it fills with several files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One file, replaced atomically.
    File,
    /// A directory (created if missing) holding the format's files.
    Dir,
}

/// One report format: its name, what it is, and how to write it.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    /// Name on the command line and in messages (`junit`).
    pub name: &'static str,
    /// One line for `--help` and docs.
    pub description: &'static str,
    /// Whether the path is a file or a directory.
    pub target: Target,
    /// Writes `result` to the path in this format.
    pub write: fn(&RunResult, &Path) -> Result<(), ReportError>,
}

/// Every format breakerbox can write.
pub const FORMATS: &[Format] = &[json::FORMAT, junit::FORMAT, csv::FORMAT, html::FORMAT];

/// The format called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Format> {
    FORMATS.iter().find(|f| f.name == name)
}

impl Format {
    /// Checks that this format can be written at `path` (creating a directory target), so
    /// a bad path is found before a long run rather than after it.
    pub fn check(&self, path: &Path) -> Result<(), ReportError> {
        match self.target {
            Target::File => super::check_writable(path),
            Target::Dir => {
                std::fs::create_dir_all(path).map_err(|source| ReportError::Write {
                    path: path.display().to_string(),
                    source,
                })?;
                super::check_writable(&path.join("probe"))
            }
        }
    }

    /// Writes `result` to `path` in this format.
    pub fn write_to(&self, result: &RunResult, path: &Path) -> Result<(), ReportError> {
        (self.write)(result, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for f in FORMATS {
            assert_eq!(FORMATS.iter().filter(|g| g.name == f.name).count(), 1);
            assert_eq!(find(f.name).map(|g| g.name), Some(f.name));
            assert!(!f.description.is_empty());
        }
        assert!(find("pdf").is_none());
        assert_eq!(find("csv").map(|f| f.target), Some(Target::Dir));
    }
}
