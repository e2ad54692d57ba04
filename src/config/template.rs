//! Request paths with placeholders, e.g. `/api/item/{{random_int 1 200}}`.
//!
//! Templates are parsed once when the drill is read, so a typo is a config error with a
//! line and column, and rendering on the load engine's hot path is a few appends.

use crate::rng::Rng;
use std::fmt::Write;

/// A parsed path template.
#[derive(Debug, Clone, PartialEq)]
pub struct PathTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    RandomInt { low: i64, high: i64 },
}

impl PathTemplate {
    /// Parses `text`; the error names the placeholder that is wrong.
    pub fn parse(text: &str) -> Result<PathTemplate, String> {
        if !text.starts_with('/') {
            return Err(format!("path \"{text}\" must start with '/'"));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed placeholder in \"{text}\": missing \"}}}}\""))?;
            parts.push(parse_placeholder(after[..close].trim())?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(PathTemplate { parts })
    }

    /// The template for `/`, a stand-in after a parse error has been reported.
    pub fn root() -> PathTemplate {
        PathTemplate {
            parts: vec![Part::Literal("/".into())],
        }
    }

    /// Writes one concrete path, drawing placeholder values from `rng`.
    pub fn render(&self, rng: &mut Rng, out: &mut String) {
        out.clear();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::RandomInt { low, high } => {
                    let _ = write!(out, "{}", rng.range_inclusive(*low, *high));
                }
            }
        }
    }
}

fn parse_placeholder(body: &str) -> Result<Part, String> {
    let words: Vec<&str> = body.split_whitespace().collect();
    match words.as_slice() {
        ["random_int", low, high] => {
            let low: i64 = low
                .parse()
                .map_err(|_| format!("random_int bound \"{low}\" is not an integer"))?;
            let high: i64 = high
                .parse()
                .map_err(|_| format!("random_int bound \"{high}\" is not an integer"))?;
            if high < low {
                return Err(format!(
                    "random_int {low} {high}: the upper bound is below the lower"
                ));
            }
            Ok(Part::RandomInt { low, high })
        }
        ["random_int", ..] => Err("random_int takes two integers: {{random_int LOW HIGH}}".into()),
        [other, ..] => Err(format!(
            "unknown placeholder \"{other}\" (known: random_int)"
        )),
        [] => Err("empty placeholder \"{{}}\"".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_literals_and_random_ints_in_range() {
        let t = PathTemplate::parse("/api/item/{{random_int 3 5}}?x=1").expect("parses");
        let mut rng = Rng::new(1, 1);
        let mut out = String::new();
        for _ in 0..50 {
            t.render(&mut rng, &mut out);
            let id: i64 = out["/api/item/".len()..out.len() - 4].parse().expect("int");
            assert!((3..=5).contains(&id), "{out}");
            assert!(out.ends_with("?x=1"));
        }
    }

    #[test]
    fn rejects_bad_placeholders() {
        assert!(PathTemplate::parse("api")
            .unwrap_err()
            .contains("start with '/'"));
        assert!(PathTemplate::parse("/{{random_int 1}}")
            .unwrap_err()
            .contains("two integers"));
        assert!(PathTemplate::parse("/{{random_int 5 1}}")
            .unwrap_err()
            .contains("below"));
        assert!(PathTemplate::parse("/{{uuid}}")
            .unwrap_err()
            .contains("unknown placeholder"));
        assert!(PathTemplate::parse("/{{random_int 1 2")
            .unwrap_err()
            .contains("unclosed"));
    }
}
