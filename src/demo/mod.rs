//! The embedded default: a demo service with a real circuit breaker, cache and fallback,
//! and the shipped circuit-breaker drill, compiled into the binary so `breakerbox demo`
//! needs nothing else.

pub mod breaker;
pub mod service;
pub mod transition_log;

pub use breaker::{Breaker, BreakerError};
pub use service::{DemoError, DemoService};

use crate::config::{self, ConfigError, Drill, EmbeddedProfiles};

/// The shipped drill, `drills/circuit-breaker.toml`.
pub const DRILL_TOML: &str = include_str!("../../drills/circuit-breaker.toml");

/// The fault profiles the shipped drill uses.
pub const PROFILES: EmbeddedProfiles = EmbeddedProfiles(&[(
    "upstream-500",
    include_str!("../../fault-profiles/upstream-500.toml"),
)]);

/// The shipped drill, parsed; an error here is a bug in the shipped files.
pub fn embedded_drill() -> Result<Drill, ConfigError> {
    config::parse_drill(
        "drills/circuit-breaker.toml (embedded)",
        DRILL_TOML,
        &PROFILES,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_drill_is_valid_and_uses_the_demo_service() {
        let drill = super::embedded_drill().expect("the shipped drill validates");
        assert!(drill.parts.demo.is_some());
        assert!(drill.expect.breaker.is_some());
    }
}
