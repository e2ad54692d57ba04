//! Plain TCP proxying with Toxiproxy's toxics, for dependencies that are not HTTP.
//!
//! [`accept`] listens, connects each client to the upstream and runs two [`stream`] pumps
//! (client → upstream is `upstream`, upstream → client is `downstream`). Each pump reads
//! chunks, passes them through the toxics of its direction, in the order they were added,
//! and writes the resulting [`Piece`]s when they are due. A toxic is one file under
//! `toxic/` behind the registry [`TOXICS`]: it shapes the pieces of each chunk, and may end
//! the connection (close or reset) or hold its close. One toxic, `refuse`, acts on the
//! proxy's listener instead ([`Toxic::refuses`]): [`accept::Listening`] closes its port.
//!
//! Toxicity is rolled once per connection and toxic, from the seed: the same seed, toxic
//! and connection number always give the same answer.

pub mod accept;
pub mod stream;
mod toxic;

use crate::rng::Rng;
use bytes::Bytes;
use serde_json::{Map, Value};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Which way data flows through a toxic, in Toxiproxy's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → upstream.
    Upstream,
    /// Upstream → client.
    Downstream,
}

impl Direction {
    /// The name used in the API (`upstream` / `downstream`).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
        }
    }

    /// Parses an API stream name (any case, as Toxiproxy accepts).
    pub fn parse(s: &str) -> Option<Direction> {
        match s.to_ascii_lowercase().as_str() {
            "upstream" => Some(Direction::Upstream),
            "downstream" => Some(Direction::Downstream),
            _ => None,
        }
    }
}

/// Some bytes on their way through the chain, and when they may be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The bytes.
    pub data: Bytes,
    /// When the chunk they came from was read (latency counts from here).
    pub read_at: Instant,
    /// The earliest time they may be written.
    pub due: Instant,
}

/// How a toxic ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A plain close (FIN) of both sides.
    Close,
    /// A TCP RST on both sides (`SO_LINGER 0`).
    Reset,
}

/// What a toxic tells the pump after shaping a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next toxic.
    Continue,
    /// Write what is left, then end the connection.
    EndAfter(End),
}

/// One toxic's state on one connection and direction.
#[derive(Debug)]
pub struct LinkState {
    /// When the toxic became active on this connection.
    pub started: Instant,
    /// Whether the toxicity roll made it act on this connection.
    pub active: bool,
    /// Seeded randomness for this toxic on this connection.
    pub rng: Rng,
    /// Bandwidth: when the link is free to send again.
    pub free_at: Option<Instant>,
    /// limit_data: bytes let through so far.
    pub sent: u64,
    /// reset_peer: when the reset fires (set by the first chunk).
    pub fire_at: Option<Instant>,
}

impl LinkState {
    /// A fresh state, started `now`.
    pub fn new(now: Instant, active: bool, rng: Rng) -> Self {
        LinkState {
            started: now,
            active,
            rng,
            free_at: None,
            sent: 0,
            fire_at: None,
        }
    }
}

/// One toxic type, with its attributes parsed and checked.
pub trait Toxic: Debug + Send + Sync {
    /// Shapes one chunk's pieces (already shaped by the toxics before this one).
    fn shape(&self, pieces: &mut Vec<Piece>, state: &mut LinkState) -> Flow;

    /// When, with no data at all, this toxic ends the connection, and how.
    fn deadline(&self, _state: &LinkState) -> Option<(Instant, End)> {
        None
    }

    /// How long to hold the close after the source closed (slow_close).
    fn close_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// Whether, while present, the proxy stops listening (refuse): a proxy-level toxic the
    /// proxy itself acts on, not the streams.
    fn refuses(&self) -> bool {
        false
    }
}

/// Parses a toxic type's attributes; a message for the API when they are unusable.
pub type ParseToxic = fn(&Attributes) -> Result<Arc<dyn Toxic>, String>;

/// One toxic type: its API name, its attribute keys and its parser.
#[derive(Debug)]
pub struct ToxicType {
    /// The name the API uses (`type`).
    pub name: &'static str,
    /// Its attributes, all listed (absent ones as 0) when the toxic is shown.
    pub keys: &'static [&'static str],
    /// Parses and checks the attributes.
    pub parse: ParseToxic,
}

/// Every toxic type. Adding one is a file under `toxic/` and a line here.
pub const TOXICS: &[ToxicType] = &[
    ToxicType {
        name: "latency",
        keys: &["latency", "jitter"],
        parse: toxic::latency::parse,
    },
    ToxicType {
        name: "bandwidth",
        keys: &["rate"],
        parse: toxic::bandwidth::parse,
    },
    ToxicType {
        name: "slow_close",
        keys: &["delay"],
        parse: toxic::slow_close::parse,
    },
    ToxicType {
        name: "timeout",
        keys: &["timeout"],
        parse: toxic::timeout::parse,
    },
    ToxicType {
        name: "reset_peer",
        keys: &["timeout"],
        parse: toxic::reset_peer::parse,
    },
    ToxicType {
        name: "slicer",
        keys: &["average_size", "size_variation", "delay"],
        parse: toxic::slicer::parse,
    },
    ToxicType {
        name: "limit_data",
        keys: &["bytes"],
        parse: toxic::limit_data::parse,
    },
    ToxicType {
        name: "blackhole",
        keys: &[],
        parse: toxic::blackhole::parse,
    },
    ToxicType {
        name: "refuse",
        keys: &[],
        parse: toxic::refuse::parse,
    },
];

/// The toxic type called `name`, if known.
pub fn lookup(name: &str) -> Option<&'static ToxicType> {
    TOXICS.iter().find(|t| t.name == name)
}

/// A toxic's attributes as the API holds them: a JSON object, with every key of its type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(pub Map<String, Value>);

impl Attributes {
    /// A non-negative integer attribute (0 when absent), written back so it is listed.
    pub fn int(&self, key: &str) -> Result<u64, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("attribute {key} must be a non-negative integer, not {v}")),
        }
    }

    /// A time attribute in milliseconds (0 when absent), at most [`MAX_TIME`].
    pub fn millis(&self, key: &str) -> Result<Duration, String> {
        let ms = self.int(key)?;
        let d = Duration::from_millis(ms);
        if d > MAX_TIME {
            return Err(format!(
                "attribute {key} must be at most {} ms, not {ms}",
                MAX_TIME.as_millis()
            ));
        }
        Ok(d)
    }

    /// A time attribute in microseconds (0 when absent), at most [`MAX_TIME`].
    pub fn micros(&self, key: &str) -> Result<Duration, String> {
        let us = self.int(key)?;
        let d = Duration::from_micros(us);
        if d > MAX_TIME {
            return Err(format!(
                "attribute {key} must be at most {} µs, not {us}",
                MAX_TIME.as_micros()
            ));
        }
        Ok(d)
    }

    /// Only the keys in `keys`, absent ones as 0 (unknown keys are ignored, as Toxiproxy
    /// does), for keeping and listing.
    pub fn complete(&self, keys: &[&str]) -> Attributes {
        let mut map = Map::new();
        for key in keys {
            let value = match self.0.get(*key) {
                Some(v) if !v.is_null() => v.clone(),
                _ => Value::from(0),
            };
            map.insert((*key).to_string(), value);
        }
        Attributes(map)
    }
}

/// A toxic as configured on a proxy: its name, type, direction, toxicity and attributes.
#[derive(Debug, Clone)]
pub struct ToxicSpec {
    /// Unique per process (a new one on every change), so connections see the change.
    pub uid: u64,
    /// The name (default `{type}_{stream}`).
    pub name: String,
    /// The toxic type (`latency`, ...).
    pub kind: String,
    /// Which way it acts.
    pub stream: Direction,
    /// The chance, rolled per connection, that it acts at all.
    pub toxicity: f32,
    /// The attributes as given (completed with every key of the type).
    pub attributes: Attributes,
    /// The parsed toxic.
    pub toxic: Arc<dyn Toxic>,
}

/// The toxics of one proxy, in the order they were added.
pub type Chain = Arc<Vec<Arc<ToxicSpec>>>;

/// The longest time any toxic attribute may say (a day): longer is surely a mistake, and
/// keeps every deadline computed from it far from overflowing.
pub const MAX_TIME: Duration = Duration::from_secs(86_400);

#[cfg(test)]
pub(crate) fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}
