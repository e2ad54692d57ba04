//! One direction of a proxied connection: read chunks, pass them through the toxics of the
//! direction, write the pieces when due.
//!
//! Reading and writing are separate futures joined by a small channel, so a chunk's latency
//! counts from when it was read and a slow toxic does not stop the reading (up to the
//! channel's few chunks of backpressure).

use super::{Chain, Direction, End, Flow, LinkState, Piece};
use crate::rng::{self, Rng};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes read at most per chunk.
const CHUNK: usize = 32 * 1024;

/// One chunk as read, with the time it was read.
#[derive(Debug)]
pub struct Chunk {
    /// The bytes.
    pub data: Bytes,
    /// When they were read.
    pub at: Instant,
}

/// Reads `source` into `chunks` until it closes (dropping the sender then) or `cancel`.
/// A read error (a reset, say) ends the whole connection through `cancel`.
pub async fn read_into(
    mut source: impl AsyncRead + Unpin,
    chunks: mpsc::Sender<Chunk>,
    cancel: CancellationToken,
) {
    let mut buf = BytesMut::new();
    loop {
        // Reuses what is left of the last allocation; a chunk is split off when read.
        buf.reserve(CHUNK);
        let read = tokio::select! {
            _ = cancel.cancelled() => return,
            r = source.read_buf(&mut buf) => r,
        };
        match read {
            Ok(0) => return,
            Ok(_) => {
                let chunk = Chunk {
                    data: buf.split().freeze(),
                    at: Instant::now(),
                };
                if chunks.send(chunk).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "proxied connection: read failed");
                cancel.cancel();
                return;
            }
        }
    }
}

/// How one direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The source closed; the close was passed on (after any slow_close delay).
    Closed,
    /// A toxic ended the connection.
    Ended(End),
    /// The connection was ended from elsewhere (the other direction, the proxy stopping).
    Cancelled,
}

/// Who this pump is, for seeded toxicity rolls and randomness.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// The proxy's seed.
    pub seed: u64,
    /// The connection's number on its proxy, in accept order.
    pub connection: u64,
    /// Which way this pump carries data.
    pub direction: Direction,
}

impl Link {
    /// The state a toxic starts with on this link: whether it acts here (toxicity rolled
    /// per connection) and its own random stream.
    fn state(&self, uid: u64, toxicity: f32, now: Instant) -> LinkState {
        let active = rng::decision(self.seed, uid, self.connection) < f64::from(toxicity);
        let stream =
            self.connection.wrapping_mul(2) + u64::from(self.direction == Direction::Downstream);
        LinkState::new(
            now,
            active,
            Rng::new(self.seed ^ uid.rotate_left(32), stream),
        )
    }
}

/// Carries `chunks` to `dest` through the current toxics of `link.direction` in `chain`.
pub async fn pump(
    link: Link,
    mut chunks: mpsc::Receiver<Chunk>,
    mut dest: impl AsyncWrite + Unpin,
    mut chain: watch::Receiver<Chain>,
    cancel: CancellationToken,
) -> Outcome {
    let mut states: HashMap<u64, LinkState> = HashMap::new();
    let mut mine = Vec::new();
    let mut stale = true;
    loop {
        if stale {
            // The toxics changed (or this is the start): take this direction's, keep the
            // state of those still there, start the new ones now.
            let now = Instant::now();
            mine = chain
                .borrow_and_update()
                .iter()
                .filter(|t| t.stream == link.direction)
                .cloned()
                .collect::<Vec<_>>();
            states.retain(|uid, _| mine.iter().any(|t| t.uid == *uid));
            for t in &mine {
                states
                    .entry(t.uid)
                    .or_insert_with(|| link.state(t.uid, t.toxicity, now));
            }
            stale = false;
        }
        let deadline = mine
            .iter()
            .filter_map(|t| {
                let st = states.get(&t.uid).filter(|s| s.active)?;
                t.toxic.deadline(st)
            })
            .min_by_key(|(at, _)| *at);
        let sleep_until = deadline.map_or_else(
            || Instant::now() + Duration::from_secs(86_400),
            |(at, _)| at,
        );
        let chunk = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Outcome::Cancelled,
            _ = tokio::time::sleep_until(sleep_until), if deadline.is_some() => {
                return Outcome::Ended(deadline.map_or(End::Close, |(_, end)| end));
            }
            changed = chain.changed() => {
                if changed.is_err() {
                    // The proxy is gone: its connections go with it.
                    return Outcome::Cancelled;
                }
                stale = true;
                continue;
            }
            chunk = chunks.recv() => chunk,
        };
        let Some(chunk) = chunk else {
            let hold = mine
                .iter()
                .filter(|t| states.get(&t.uid).is_some_and(|s| s.active))
                .map(|t| t.toxic.close_delay())
                .max()
                .unwrap_or_default();
            if !hold.is_zero() {
                tokio::select! {
                    _ = cancel.cancelled() => return Outcome::Cancelled,
                    _ = tokio::time::sleep(hold) => {}
                }
            }
            let _ = dest.shutdown().await;
            return Outcome::Closed;
        };
        let mut pieces = vec![Piece {
            data: chunk.data,
            read_at: chunk.at,
            due: chunk.at,
        }];
        let mut flow = Flow::Continue;
        for t in &mine {
            let Some(st) = states.get_mut(&t.uid).filter(|s| s.active) else {
                continue;
            };
            flow = t.toxic.shape(&mut pieces, st);
            if flow != Flow::Continue {
                break;
            }
        }
        for p in pieces {
            let written = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Outcome::Cancelled,
                w = async {
                    tokio::time::sleep_until(p.due).await;
                    dest.write_all(&p.data).await
                } => w,
            };
            if let Err(e) = written {
                tracing::debug!(error = %e, "proxied connection: write failed");
                return Outcome::Ended(End::Close);
            }
        }
        if let Flow::EndAfter(end) = flow {
            let _ = dest.flush().await;
            return Outcome::Ended(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toxicity_rolls_are_seeded_per_connection() {
        let now = Instant::now();
        let roll = |seed, connection| {
            Link {
                seed,
                connection,
                direction: Direction::Downstream,
            }
            .state(3, 0.5, now)
            .active
        };
        let a: Vec<bool> = (0..200).map(|c| roll(7, c)).collect();
        let b: Vec<bool> = (0..200).map(|c| roll(7, c)).collect();
        let other: Vec<bool> = (0..200).map(|c| roll(8, c)).collect();
        assert_eq!(a, b, "same seed, same rolls");
        assert_ne!(a, other);
        let hits = a.iter().filter(|h| **h).count();
        assert!((70..130).contains(&hits), "{hits} of 200");
        let link = Link {
            seed: 1,
            connection: 0,
            direction: Direction::Upstream,
        };
        assert!(link.state(1, 1.0, now).active);
        assert!(!link.state(1, 0.0, now).active);
    }
}
