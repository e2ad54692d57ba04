//! Polled channels: a JSON state endpoint read with a JSON pointer, and a Prometheus gauge.
//!
//! A poller asks its URL at a fixed interval for the whole run. Every poll has a timeout; a
//! poll that fails (timeout, refused, bad status, garbage, no match) is counted by cause and
//! never stops the run or the other channels. A sighting is dated at the middle of its
//! round trip, so the channel's resolution is the interval plus the slowest round trip.

use super::prometheus::{self, Selector};
use super::{BreakerTracker, ChannelTimeline, PollStats};
use crate::breaker_state::{BreakerState, Channel};
use crate::clock::RunClock;
use crate::config::{
    EndpointSettings, GaugeRead, PollSettings, PrometheusSettings, StateSpellings,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Largest body a poll reads; a state page is small, anything bigger is the wrong URL.
const MAX_BODY: usize = 4 << 20;

/// Polls after which a channel that never yielded a state is worth a warning.
const WARN_AFTER_POLLS: u64 = 5;

/// How a state is read from a polled body.
#[derive(Debug, Clone)]
pub enum Reader {
    /// A JSON document and a pointer to the state value.
    Json {
        /// The JSON pointer.
        pointer: String,
        /// Spellings overriding the built-in ones.
        states: StateSpellings,
    },
    /// A Prometheus exposition and a gauge selector.
    Prometheus {
        /// Which samples.
        selector: Selector,
        /// How their values name the state.
        read: GaugeRead,
    },
}

/// Why one poll yielded no state.
#[derive(Debug, Clone, PartialEq)]
enum Miss {
    /// A value was found but names no known state.
    Unknown(String),
    /// Nothing usable came back; the cause, for counting.
    Failed(String),
}

impl Reader {
    /// The reader for a state endpoint.
    pub fn json(settings: &EndpointSettings) -> Self {
        Reader::Json {
            pointer: settings.pointer.clone(),
            states: settings.states.clone(),
        }
    }

    /// The reader for a Prometheus gauge.
    pub fn prometheus(settings: &PrometheusSettings) -> Self {
        Reader::Prometheus {
            selector: Selector {
                metric: settings.metric.clone(),
                labels: settings.labels.clone(),
            },
            read: settings.read.clone(),
        }
    }

    fn read(&self, body: &[u8]) -> Result<BreakerState, Miss> {
        match self {
            Reader::Json { pointer, states } => {
                let doc: serde_json::Value =
                    serde_json::from_slice(body).map_err(|_| Miss::Failed("not JSON".into()))?;
                let value = doc
                    .pointer(pointer)
                    .ok_or_else(|| Miss::Failed(format!("pointer {pointer} not found")))?;
                let raw = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                states.read(&raw).ok_or(Miss::Unknown(raw))
            }
            Reader::Prometheus { selector, read } => {
                let text =
                    std::str::from_utf8(body).map_err(|_| Miss::Failed("not text".into()))?;
                let samples = prometheus::parse(text)
                    .map_err(|e| Miss::Failed(format!("not an exposition ({e})")))?;
                let selected = selector.select(&samples);
                if selected.is_empty() {
                    return Err(Miss::Failed("no sample matches the selector".into()));
                }
                match read {
                    GaugeRead::OneHot { label } => {
                        let current = selected
                            .iter()
                            .find(|s| s.value == 1.0)
                            .ok_or_else(|| Miss::Failed("no state sample is 1".into()))?;
                        let raw = current
                            .labels
                            .iter()
                            .find(|(k, _)| k == label)
                            .map(|(_, v)| v.clone())
                            .ok_or_else(|| Miss::Failed(format!("no \"{label}\" label")))?;
                        BreakerState::parse_lenient(&raw).ok_or(Miss::Unknown(raw))
                    }
                    GaugeRead::Value {
                        closed,
                        open,
                        half_open,
                    } => {
                        let v = selected[0].value;
                        let is = |want: &Option<f64>| want.is_some_and(|w| (w - v).abs() < 1e-9);
                        if is(closed) {
                            Ok(BreakerState::Closed)
                        } else if is(open) {
                            Ok(BreakerState::Open)
                        } else if is(half_open) {
                            Ok(BreakerState::HalfOpen)
                        } else {
                            Err(Miss::Unknown(v.to_string()))
                        }
                    }
                }
            }
        }
    }
}

/// A running poller; [`Poller::finish`] stops it and returns its timeline.
#[derive(Debug)]
pub struct Poller {
    channel: Channel,
    interval: Duration,
    tracker: Arc<BreakerTracker>,
    task: JoinHandle<PollStats>,
    stop: CancellationToken,
}

impl Poller {
    /// Starts polling `settings.url` on the run's `clock` (which must have started).
    pub fn start(
        channel: Channel,
        settings: &PollSettings,
        reader: Reader,
        clock: RunClock,
    ) -> Result<Poller, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .no_proxy()
            .retry(reqwest::retry::never())
            .build()?;
        let stop = CancellationToken::new();
        let tracker = Arc::new(BreakerTracker::new());
        let task = tokio::spawn(poll_loop(
            tracker.clone(),
            channel,
            client,
            settings.clone(),
            reader,
            clock,
            stop.clone(),
        ));
        Ok(Poller {
            tracker,
            channel,
            interval: settings.interval,
            task,
            stop,
        })
    }

    /// The channel's tracker, for live displays.
    pub fn tracker(&self) -> Arc<BreakerTracker> {
        self.tracker.clone()
    }

    /// Stops polling and returns what the channel saw.
    pub async fn finish(self) -> ChannelTimeline {
        self.stop.cancel();
        let stats = match self.task.await {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(channel = %self.channel, error = %e, "poller failed");
                PollStats::default()
            }
        };
        let tracker = self.tracker;
        let round_trip = Duration::from_millis(stats.max_round_trip_ms);
        let mut warnings = Vec::new();
        if stats.matched == 0 {
            warnings.push(format!(
                "no state was read in {} polls{}",
                stats.polls,
                stats
                    .failed
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(cause, n)| format!(" ({n}× {cause})"))
                    .unwrap_or_default()
            ));
        }
        ChannelTimeline {
            channel: self.channel,
            resolution: self.interval + round_trip,
            resolution_basis: format!(
                "poll interval {} ms + slowest round trip {} ms",
                self.interval.as_millis(),
                round_trip.as_millis()
            ),
            transitions: tracker.transitions(),
            sees_half_open: true,
            sightings: tracker.sightings(),
            unknown_values: tracker.unknown_values(),
            polls: Some(stats),
            warnings,
        }
    }
}

async fn poll_loop(
    tracker: Arc<BreakerTracker>,
    channel: Channel,
    client: reqwest::Client,
    settings: PollSettings,
    reader: Reader,
    clock: RunClock,
    stop: CancellationToken,
) -> PollStats {
    let mut stats = PollStats::default();
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => break,
        }
        let Some(sent) = clock.elapsed() else {
            continue;
        };
        let body = tokio::select! {
            body = fetch(&client, &settings.url) => body,
            _ = stop.cancelled() => break,
        };
        let done = clock.elapsed().unwrap_or(sent);
        let round_trip = done.saturating_sub(sent);
        stats.polls += 1;
        stats.max_round_trip_ms = stats.max_round_trip_ms.max(round_trip.as_millis() as u64);
        let at = sent + round_trip / 2;
        match body.and_then(|b| reader.read(&b)) {
            Ok(state) => {
                stats.matched += 1;
                tracker.observe(at, state);
            }
            Err(Miss::Unknown(raw)) => {
                tracker.unknown(&raw);
                *stats.failed.entry("unknown state".into()).or_default() += 1;
            }
            Err(Miss::Failed(cause)) => *stats.failed.entry(cause).or_default() += 1,
        }
        if !warned && stats.matched == 0 && stats.polls >= WARN_AFTER_POLLS {
            warned = true;
            tracing::warn!(
                %channel,
                url = %settings.url,
                causes = ?stats.failed,
                "no breaker state read after {} polls",
                stats.polls
            );
        }
    }
    stats
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, Miss> {
    let mut response = client.get(url).send().await.map_err(|e| {
        Miss::Failed(
            if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else {
                "request"
            }
            .into(),
        )
    })?;
    if !response.status().is_success() {
        return Err(Miss::Failed(format!(
            "status {}",
            response.status().as_u16()
        )));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY {
                    return Err(Miss::Failed("body over 4 MiB".into()));
                }
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(Miss::Failed("timeout".into())),
            Err(_) => return Err(Miss::Failed("body".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_actuator_state_with_a_pointer() {
        let reader = Reader::Json {
            pointer: "/circuitBreakers/backendA/state".into(),
            states: StateSpellings::default(),
        };
        let body =
            br#"{"circuitBreakers":{"backendA":{"failureRate":"-1.0%","state":"HALF_OPEN"}}}"#;
        assert_eq!(reader.read(body), Ok(BreakerState::HalfOpen));
        assert_eq!(
            reader.read(br#"{"circuitBreakers":{}}"#),
            Err(Miss::Failed(
                "pointer /circuitBreakers/backendA/state not found".into()
            ))
        );
        assert_eq!(reader.read(b"<html>"), Err(Miss::Failed("not JSON".into())));
        assert_eq!(
            reader.read(br#"{"circuitBreakers":{"backendA":{"state":"AJAR"}}}"#),
            Err(Miss::Unknown("AJAR".into()))
        );
    }

    #[test]
    fn overrides_map_health_statuses() {
        let reader = Reader::Json {
            pointer: "/status".into(),
            states: StateSpellings {
                closed: vec!["UP".into()],
                open: vec!["DOWN".into()],
                half_open: vec![],
            },
        };
        assert_eq!(reader.read(br#"{"status":"up"}"#), Ok(BreakerState::Closed));
        assert_eq!(
            reader.read(br#"{"status":"CIRCUIT_HALF_OPEN"}"#),
            Ok(BreakerState::HalfOpen)
        );
    }

    #[test]
    fn reads_one_hot_and_value_gauges() {
        let page = "# TYPE resilience4j_circuitbreaker_state gauge\n\
            resilience4j_circuitbreaker_state{name=\"backendA\",state=\"closed\",} 0.0\n\
            resilience4j_circuitbreaker_state{name=\"backendA\",state=\"open\",} 1.0\n\
            resilience4j_circuitbreaker_state{name=\"backendB\",state=\"closed\",} 1.0\n\
            breaker_code{name=\"backendA\"} 2\n";
        let one_hot = Reader::Prometheus {
            selector: prometheus::parse_selector(
                "resilience4j_circuitbreaker_state{name=\"backendA\"}",
            )
            .expect("selector"),
            read: GaugeRead::OneHot {
                label: "state".into(),
            },
        };
        assert_eq!(one_hot.read(page.as_bytes()), Ok(BreakerState::Open));
        let value = Reader::Prometheus {
            selector: prometheus::parse_selector("breaker_code").expect("selector"),
            read: GaugeRead::Value {
                closed: Some(0.0),
                open: Some(1.0),
                half_open: Some(2.0),
            },
        };
        assert_eq!(value.read(page.as_bytes()), Ok(BreakerState::HalfOpen));
        let missing = Reader::Prometheus {
            selector: prometheus::parse_selector("nope").expect("selector"),
            read: GaugeRead::OneHot {
                label: "state".into(),
            },
        };
        assert_eq!(
            missing.read(page.as_bytes()),
            Err(Miss::Failed("no sample matches the selector".into()))
        );
    }
}
