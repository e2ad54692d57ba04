//! Durations as the drill writes them: `250ms`, `30s`, `5m`, `1h 30m`.
//!
//! Drill files keep durations as spanned strings and parse them during validation, so a bad
//! duration is one diagnostic among the others instead of the end of parsing.

use std::time::Duration;

/// The longest duration a drill may state: a year. Longer ones are typos, and would
/// overflow clock arithmetic.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses a human duration; the error is a one-line message naming the text.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration \"{text}\" ({e}); write e.g. \"250ms\", \"30s\", \"5m\"")
    })?;
    if d > MAX_DURATION {
        return Err(format!("duration \"{text}\" is longer than a year"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        for (text, ms) in [
            ("250ms", 250),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1m 30s", 90_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_nonsense_and_absurd_lengths() {
        let err = parse_duration("ten parsecs").unwrap_err();
        assert!(err.starts_with("invalid duration \"ten parsecs\""), "{err}");
        assert!(parse_duration("500000000000y").is_err());
        assert!(parse_duration("400days")
            .unwrap_err()
            .contains("longer than a year"));
    }
}
