//! Reading a saved result.json back, with errors that say which file and where.

use super::RunResult;
use std::path::Path;

/// Why a saved result could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not JSON at all.
    #[error("{path}: not valid JSON: {source}")]
    Syntax {
        /// The file.
        path: String,
        /// serde_json's reason, with line and column.
        source: serde_json::Error,
    },
    /// The file is JSON but not a breakerbox result (or one this version cannot read).
    #[error("{path}: not a breakerbox result: {why}")]
    NotAResult {
        /// The file.
        path: String,
        /// What is missing or wrong, with its JSON path and line.
        why: String,
    },
}

/// Reads a result.json written by `breakerbox run` (any format's source document).
pub fn read_json(path: &Path) -> Result<RunResult, ReadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: name.clone(),
        source,
    })?;
    parse_json(&text, &name)
}

/// Parses the text of a result.json; `name` is the file it came from, for messages.
pub fn parse_json(text: &str, name: &str) -> Result<RunResult, ReadError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|source| ReadError::Syntax {
            path: name.to_string(),
            source,
        })?;
    let not_a_result = |why: String| ReadError::NotAResult {
        path: name.to_string(),
        why,
    };
    if !value.get("breakerbox").is_some_and(|v| v.is_string()) {
        return Err(not_a_result(
            "no \"breakerbox\" version field at the top level".into(),
        ));
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        if at == "." {
            not_a_result(inner.to_string())
        } else {
            not_a_result(format!("at {at}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_the_place() {
        let e = parse_json("{\"a\": ", "r.json").unwrap_err().to_string();
        assert!(e.starts_with("r.json: not valid JSON"), "{e}");
        assert!(e.contains("line 1"), "{e}");
        let e = parse_json("[1, 2]", "r.json").unwrap_err().to_string();
        assert!(e.contains("not a breakerbox result"), "{e}");
        let e = parse_json("{\"breakerbox\": \"0.1.0\", \"drill\": 5}", "r.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at drill:"), "{e}");
        assert!(e.contains("line 1"), "{e}");
        let e = read_json(Path::new("/nonexistent/r.json"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read /nonexistent/r.json"), "{e}");
    }
}
