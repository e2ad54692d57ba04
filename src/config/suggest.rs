//! Friendlier wording for parse errors: "did you mean `duration`?" for a misspelt key or
//! name, and plain type names ("a number", not "f64") in serde's messages.

/// The candidate closest to `given`, if it is close enough to be a likely typo: at most a
/// quarter of its length in edits (one at least, three at most).
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (given.chars().count() / 4).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(given, c), c))
        .filter(|(d, c)| *d <= allowed && *c != given)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// serde's message with type names in plain words, and a suggestion for an unknown field or
/// variant: "unknown field `durtion`: did you mean `duration`?".
pub fn reword(message: &str) -> String {
    if let Some(better) = did_you_mean(message) {
        return better;
    }
    plain_types(message)
}

/// "unknown field `x`, expected one of `a`, `b`" → "unknown field `x`: did you mean `a`?"
/// when one of the expected names is close; `None` otherwise.
fn did_you_mean(message: &str) -> Option<String> {
    let what = ["unknown field", "unknown variant"]
        .into_iter()
        .find(|w| message.starts_with(w))?;
    let mut quoted = message.split('`').skip(1).step_by(2);
    let given = quoted.next()?;
    let expected: Vec<&str> = quoted.collect();
    let best = closest(given, expected.iter().copied())?;
    Some(format!("{what} `{given}`: did you mean `{best}`?"))
}

/// Replaces serde's Rust type names with plain words.
fn plain_types(message: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected u8", "expected a whole number"),
        ("expected u16", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected usize", "expected a whole number"),
        ("expected i8", "expected a whole number"),
        ("expected i16", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected isize", "expected a whole number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a table"),
        ("expected struct ", "expected a table "),
        ("invalid type: floating point", "invalid type: number"),
        ("invalid type: integer", "invalid type: whole number"),
        ("invalid type: boolean", "invalid type: true/false"),
        ("invalid type: sequence", "invalid type: list"),
        ("invalid type: map", "invalid type: table"),
    ];
    let mut text = message.to_string();
    for (from, to) in WORDS {
        if let Some(at) = text.find(from) {
            // Whole words only: "expected u32" but not "expected u32x".
            let end = at + from.len();
            let boundary = text[end..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            if boundary || from.ends_with(' ') {
                text.replace_range(at..end, to);
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_a_close_name_only() {
        let keys = ["name", "executor", "duration", "rate"];
        assert_eq!(closest("durtion", keys), Some("duration"));
        assert_eq!(closest("exector", keys), Some("executor"));
        assert_eq!(closest("colour", ["color", "stages"]), Some("color"));
        assert_eq!(closest("teapot", ["status", "latency"]), None);
        assert_eq!(closest("constant-users", ["constant-vus"]), None);
    }

    #[test]
    fn unknown_fields_get_a_suggestion() {
        let serde = "unknown field `durtion`, expected one of `name`, `executor`, `duration`";
        assert_eq!(
            reword(serde),
            "unknown field `durtion`: did you mean `duration`?"
        );
        let two = "unknown field `rte`, expected `rate` or `stages`";
        assert_eq!(reword(two), "unknown field `rte`: did you mean `rate`?");
        let far = "unknown field `zzzzzz`, expected `rate` or `stages`";
        assert_eq!(reword(far), far, "no close name: serde's list stays");
    }

    #[test]
    fn type_names_are_plain_words() {
        assert_eq!(
            reword("invalid type: string \"x\", expected f64"),
            "invalid type: string \"x\", expected a number"
        );
        assert_eq!(
            reword("invalid type: floating point `1.5`, expected u32"),
            "invalid type: number `1.5`, expected a whole number"
        );
        assert_eq!(
            reword("invalid type: integer `1`, expected a boolean"),
            "invalid type: whole number `1`, expected true or false"
        );
        assert_eq!(
            reword("invalid type: string \"a\", expected a sequence"),
            "invalid type: string \"a\", expected a list"
        );
    }
}
