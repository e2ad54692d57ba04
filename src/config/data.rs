//! CSV data files (`[data.NAME]`): rows of values placeholders read, e.g. one user's
//! credentials per virtual user.
//!
//! The whole file is read and checked when the drill is validated: a missing file, an empty
//! one, or a row with the wrong number of fields is a config error, not a run-time surprise.

use std::path::Path;

/// Largest data file read (a CSV of a million short rows fits).
pub const MAX_DATA_BYTES: u64 = 64 << 20;

/// How virtual users take rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// Each iteration of any virtual user takes the next row, wrapping round at the end.
    Sequential,
    /// Each iteration takes a row at random (from the virtual user's seeded stream).
    Random,
    /// Each virtual user holds one row of its own for its whole life; no two living
    /// virtual users share one. When every row is taken, requests using the set are
    /// skipped.
    Unique,
}

impl DataMode {
    /// The spellings accepted in drill files.
    pub const VALID: &'static str = "\"sequential\", \"random\" or \"unique\"";

    /// Reads a mode's name.
    pub fn parse(text: &str) -> Option<DataMode> {
        match text {
            "sequential" => Some(DataMode::Sequential),
            "random" => Some(DataMode::Random),
            "unique" => Some(DataMode::Unique),
            _ => None,
        }
    }
}

/// A parsed data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSet {
    /// The set's name (`[data.NAME]`).
    pub name: String,
    /// How rows are taken.
    pub mode: DataMode,
    /// Column names, from the header row.
    pub columns: Vec<String>,
    /// Every value, row after row.
    values: Vec<Box<str>>,
}

impl DataSet {
    /// Reads and parses the CSV file at `path`.
    pub fn read(name: &str, mode: DataMode, path: &Path) -> Result<DataSet, String> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_DATA_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| format!("cannot read data file {}: {e}", path.display()))?;
        if bytes.len() as u64 > MAX_DATA_BYTES {
            return Err(format!(
                "data file {} is larger than {} MiB",
                path.display(),
                MAX_DATA_BYTES >> 20
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("data file {} is not UTF-8 text", path.display()))?;
        DataSet::parse(name, mode, &text)
            .map_err(|why| format!("data file {}: {why}", path.display()))
    }

    /// Parses CSV `text` (RFC 4180: a header row, `,` separators, `"` quoting with `""`
    /// for a quote, LF or CRLF line ends; blank lines are skipped).
    pub fn parse(name: &str, mode: DataMode, text: &str) -> Result<DataSet, String> {
        let mut records = parse_csv(text)?.into_iter();
        let (_, columns) = records
            .next()
            .ok_or("it is empty: the first line names the columns")?;
        if columns.iter().any(|c| c.trim().is_empty()) {
            return Err("a column in the header row has no name".into());
        }
        let columns: Vec<String> = columns.into_iter().map(|c| c.trim().to_string()).collect();
        let mut values = Vec::new();
        for (line, record) in records {
            if record.len() != columns.len() {
                return Err(format!(
                    "line {line} has {} fields, the header has {}",
                    record.len(),
                    columns.len()
                ));
            }
            values.extend(record.into_iter().map(String::into_boxed_str));
        }
        if values.is_empty() {
            return Err("it has a header row but no data rows".into());
        }
        Ok(DataSet {
            name: name.to_string(),
            mode,
            columns,
            values,
        })
    }

    /// Number of data rows.
    pub fn rows(&self) -> usize {
        self.values.len() / self.columns.len().max(1)
    }

    /// Bytes the values take in memory (text and per-value overhead).
    pub fn bytes(&self) -> usize {
        self.values
            .iter()
            .map(|v| v.len() + std::mem::size_of::<Box<str>>())
            .sum()
    }

    /// Index of the column named `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The value at `row`, `column`.
    pub fn value(&self, row: usize, column: usize) -> Option<&str> {
        if column >= self.columns.len() {
            return None;
        }
        self.values
            .get(row * self.columns.len() + column)
            .map(|v| &**v)
    }
}

/// Records with the 1-based line each starts on.
fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut record = Vec::new();
        let mut field = String::new();
        let mut quoted_field = false;
        loop {
            match chars.next() {
                None => {
                    record.push(std::mem::take(&mut field));
                    break;
                }
                Some('"') if field.is_empty() && !quoted_field => {
                    quoted_field = true;
                    loop {
                        match chars.next() {
                            None => {
                                return Err(format!("line {start}: a quoted field is never closed"))
                            }
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                    match chars.peek() {
                        None | Some(',') | Some('\n') | Some('\r') => {}
                        Some(_) => {
                            return Err(format!(
                                "line {line}: text after a closing quote (write \"\" for a quote inside a quoted field)"
                            ))
                        }
                    }
                }
                Some(',') => {
                    record.push(std::mem::take(&mut field));
                    quoted_field = false;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some('\n') => {
                    line += 1;
                    record.push(std::mem::take(&mut field));
                    break;
                }
                Some(c) => field.push(c),
            }
        }
        let blank = record.len() == 1 && record[0].is_empty() && !quoted_field;
        if !blank {
            records.push((start, record));
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotes_crlf_and_skips_blank_lines() {
        let d = DataSet::parse(
            "u",
            DataMode::Unique,
            "name,note\r\nann,\"hello, \"\"world\"\"\"\r\n\r\nbob,\"two\nlines\"\ncid,\n",
        )
        .expect("valid");
        assert_eq!(d.columns, ["name", "note"]);
        assert_eq!(d.rows(), 3);
        assert_eq!(d.value(0, 1), Some("hello, \"world\""));
        assert_eq!(d.value(1, 1), Some("two\nlines"));
        assert_eq!(d.value(2, 0), Some("cid"));
        assert_eq!(d.value(2, 1), Some(""));
        assert_eq!(d.value(3, 0), None);
        assert_eq!(d.column("note"), Some(1));
    }

    #[test]
    fn rejects_what_cannot_be_rows() {
        let err = |text: &str| DataSet::parse("u", DataMode::Random, text).expect_err("bad");
        assert!(err("").contains("empty"));
        assert!(err("a,b\n").contains("no data rows"));
        assert!(
            err("a,b\n1,2\n3\n").contains("line 3 has 1 fields"),
            "{}",
            err("a,b\n1,2\n3\n")
        );
        assert!(err("a\n\"x\n").contains("never closed"));
        assert!(err("a\n\"x\"y\n").contains("after a closing quote"));
        assert!(err("a,\n1,2\n").contains("no name"));
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let e = DataSet::read(
            "u",
            DataMode::Sequential,
            Path::new("/nonexistent/users.csv"),
        )
        .expect_err("missing");
        assert!(
            e.starts_with("cannot read data file /nonexistent/users.csv"),
            "{e}"
        );
    }
}
