//! Config problems on stderr: each `FILE:LINE:COL: message` headline with the source line
//! and a caret under it (coloured on a terminal only).

use breakerbox::config::{self, snippet, ConfigError};
use std::collections::HashMap;
use std::io::IsTerminal;

/// Prints every problem of `error` to stderr.
pub fn print(error: &ConfigError) {
    let color = std::io::stderr().is_terminal();
    // Each file read once, however many problems it has; an unreadable one gets headlines.
    let mut sources: HashMap<String, Option<String>> = HashMap::new();
    for d in error.diagnostics() {
        if d.line == 0 {
            // No place in the file (unreadable, too large, empty): nothing to show.
            eprintln!("{d}");
            continue;
        }
        let source = sources
            .entry(d.file.clone())
            .or_insert_with(|| read_capped(&d.file));
        eprintln!("{}", snippet::render(&d, source.as_deref(), color));
    }
}

/// The file's text, if it is UTF-8 of at most [`config::MAX_FILE_BYTES`] (as when loaded).
fn read_capped(path: &str) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(config::MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .ok()?;
    (text.len() as u64 <= config::MAX_FILE_BYTES).then_some(text)
}
