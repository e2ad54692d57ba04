//! The one clock a run is measured on.
//!
//! Phases, fault windows, breaker transitions and latencies are all offsets from the run's
//! epoch, the instant the first phase starts. Parts started before that (the fault proxy)
//! share the clock and see "not started" until the epoch is set. The wall-clock time of the
//! epoch is taken at the same moment, so every offset can also be written as an absolute
//! time that another tool's log can be aligned with.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// A shared, set-once run epoch.
#[derive(Debug, Clone, Default)]
pub struct RunClock {
    epoch: Arc<OnceLock<(Instant, SystemTime)>>,
}

impl RunClock {
    /// A clock whose epoch is not set yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the epoch to now (only the first call counts) and returns it.
    pub fn start(&self) -> Instant {
        self.epoch
            .get_or_init(|| (Instant::now(), SystemTime::now()))
            .0
    }

    /// The epoch, if the run has started.
    pub fn epoch(&self) -> Option<Instant> {
        self.epoch.get().map(|e| e.0)
    }

    /// The wall-clock time of the epoch, if the run has started.
    pub fn wall_epoch(&self) -> Option<SystemTime> {
        self.epoch.get().map(|e| e.1)
    }

    /// Time since the epoch; `None` before the run starts.
    pub fn elapsed(&self) -> Option<Duration> {
        self.epoch().map(|e| e.elapsed())
    }
}

/// Serializes a run offset as seconds with millisecond precision, the unit of result.json.
pub fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// [`as_secs`] for an optional offset (`None` is skipped by the caller).
pub fn as_secs_opt<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => as_secs(d, s),
        None => s.serialize_none(),
    }
}

/// Serializes a duration as whole milliseconds (resolutions, tolerances).
pub fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// Reads back what [`as_secs`] wrote: seconds as a number, so result.json round-trips.
pub fn from_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = <f64 as serde::Deserialize>::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

/// Reads back what [`as_secs_opt`] wrote (`null` or absent is `None`).
pub fn from_secs_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match <Option<f64> as serde::Deserialize>::deserialize(d)? {
        Some(secs) => Duration::try_from_secs_f64(secs)
            .map(Some)
            .map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}

/// Reads back what [`as_millis`] wrote: milliseconds as a number.
pub fn from_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let ms = <f64 as serde::Deserialize>::deserialize(d)?;
    Duration::try_from_secs_f64(ms / 1e3).map_err(serde::de::Error::custom)
}

/// `wall_epoch + offset` as RFC 3339 UTC with milliseconds. A clock set before 1970 reads as
/// the epoch; a year past 9999 (which humantime refuses) gives an empty string.
pub fn rfc3339_at(wall_epoch: SystemTime, offset: Duration) -> String {
    use std::fmt::Write as _;
    let since_epoch = (wall_epoch + offset)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut time = String::new();
    let _ = write!(
        time,
        "{}",
        humantime::format_rfc3339_millis(SystemTime::UNIX_EPOCH + since_epoch)
    );
    time
}

/// Milliseconds since the Unix epoch of `wall_epoch + offset` (0 before 1970).
pub fn unix_ms_at(wall_epoch: SystemTime, offset: Duration) -> u64 {
    (wall_epoch + offset)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_before_1970_read_as_the_epoch() {
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        let (ms, time) = (
            unix_ms_at(before, Duration::ZERO),
            rfc3339_at(before, Duration::ZERO),
        );
        assert_eq!(ms, 0);
        assert_eq!(time, "1970-01-01T00:00:00.000Z");
    }
}
