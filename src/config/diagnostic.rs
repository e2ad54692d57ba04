//! Config problems as `FILE:LINE:COL: message`, the form editors and CI logs link to.

use std::fmt;
use std::ops::Range;

/// One problem found in a drill or fault-profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line of the offending text (0 when the problem has no place in the file).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, in one line.
    pub message: String,
    /// The offending bytes of the file's text (empty when the problem has no place), for
    /// a source snippet ([`super::snippet`]).
    pub span: Range<usize>,
}

impl Diagnostic {
    /// A problem located at a byte span of `source`.
    pub fn at(file: &str, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic::at_indexed(file, &LineIndex::new(source), span, message)
    }

    /// [`Diagnostic::at`] with the source's line starts already indexed: many problems in
    /// one file then cost one pass over it, not one each.
    pub fn at_indexed(
        file: &str,
        index: &LineIndex<'_>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = index.locate(span.start);
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            message: one_line(&message.into()),
            span,
        }
    }

    /// A problem with the file as a whole (unreadable, empty, …).
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: one_line(&message.into()),
            span: 0..0,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// The byte offsets where each line of a source starts, for locating many offsets.
#[derive(Debug)]
pub struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `source` in one pass.
    pub fn new(source: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { source, starts }
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn locate(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self
            .source
            .get(start..offset)
            .map_or(0, |text| text.chars().count());
        (line, column + 1)
    }
}

/// 1-based line and column of byte `offset` in `source`.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(source).locate(offset)
}

/// Folds a multi-line message (toml's own carry a snippet) into its first meaningful line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid value")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        assert_eq!(line_column(src, 11), (2, 6));
        assert_eq!(line_column(src, 999), (3, 1));
        let index = LineIndex::new("é = 1\nßß = \"x\"\n");
        assert_eq!(index.locate(0), (1, 1));
        assert_eq!(
            index.locate(3),
            (1, 3),
            "columns count characters, not bytes"
        );
        assert_eq!(index.locate(7), (2, 1));
        assert_eq!(index.locate(12), (2, 4));
    }

    #[test]
    fn renders_file_line_col() {
        let d = Diagnostic::at("d.toml", "x = 1\ny = 2", 6..7, "bad\nsnippet");
        assert_eq!(d.to_string(), "d.toml:2:1: bad");
        assert_eq!(
            Diagnostic::whole_file("d.toml", "gone").to_string(),
            "d.toml: gone"
        );
    }
}
