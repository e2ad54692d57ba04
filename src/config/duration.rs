//! Durations as the drill writes them: `250ms`, `30s`, `5m`, `1h 30m`.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration read from a human-friendly string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The plain duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"250ms\", \"30s\" or \"5m\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(text.trim())
                    .map(HumanDuration)
                    .map_err(|e| {
                        E::custom(format!(
                            "invalid duration \"{text}\" ({e}); write e.g. \"250ms\", \"30s\", \"5m\""
                        ))
                    })
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        d: HumanDuration,
    }

    #[test]
    fn parses_common_forms() {
        for (text, ms) in [
            ("250ms", 250),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1m 30s", 90_000),
        ] {
            let h: Holder = toml::from_str(&format!("d = \"{text}\"")).expect("parses");
            assert_eq!(h.d.get(), Duration::from_millis(ms), "{text}");
        }
    }

    #[test]
    fn rejects_nonsense_with_a_hint() {
        let err = toml::from_str::<Holder>("d = \"ten parsecs\"")
            .err()
            .expect("error");
        assert!(
            err.message().contains("invalid duration \"ten parsecs\""),
            "{}",
            err.message()
        );
        assert_eq!(err.span(), Some(4..17));
    }
}
