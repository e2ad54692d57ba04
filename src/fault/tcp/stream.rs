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
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes read at most per chunk.
const CHUNK: usize = 32 * 1024;

/// The buffer of a direction no toxic acts on: what one read takes at most.
const PLAIN_CHUNK: usize = 16 * 1024;

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

/// Whether any toxic of `direction` is in `chain`.
fn has_toxics(chain: &Chain, direction: Direction) -> bool {
    chain.iter().any(|t| t.stream == direction)
}

/// Copies `source` to `dest` for as long as `chain` holds no toxic of `direction`: one
/// reused buffer, each read written before the next, no channel and no timer — a
/// connection without toxics costs what a plain byte copier costs.
///
/// Returns how the direction ended, or `None` when a toxic of this direction arrived; by
/// then everything read has been written, so the chunked path ([`read_into`] and [`pump`])
/// takes over from the next byte.
pub async fn copy_plain(
    direction: Direction,
    source: &TcpStream,
    mut dest: impl AsyncWrite + Unpin,
    chain: &mut watch::Receiver<Chain>,
    cancel: &CancellationToken,
) -> Option<Outcome> {
    if has_toxics(&chain.borrow_and_update(), direction) {
        return None;
    }
    let mut buf = vec![0u8; PLAIN_CHUNK];
    // Registered once, not once per read.
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    loop {
        let changed = {
            let changed = chain.changed();
            tokio::pin!(changed);
            loop {
                let read = tokio::select! {
                    biased;
                    _ = &mut cancelled => return Some(Outcome::Cancelled),
                    changed = &mut changed => break changed,
                    read = read_settled(source, &mut buf) => read,
                };
                let n = match read {
                    Ok(0) => {
                        let _ = dest.shutdown().await;
                        return Some(Outcome::Closed);
                    }
                    Ok(n) => n,
                    Err(e) => {
                        tracing::debug!(error = %e, "proxied connection: read failed");
                        cancel.cancel();
                        return Some(Outcome::Cancelled);
                    }
                };
                let written = tokio::select! {
                    biased;
                    _ = &mut cancelled => return Some(Outcome::Cancelled),
                    w = dest.write_all(&buf[..n]) => w,
                };
                if let Err(e) = written {
                    tracing::debug!(error = %e, "proxied connection: write failed");
                    return Some(Outcome::Ended(End::Close));
                }
            }
        };
        if changed.is_err() {
            // The proxy is gone: its connections go with it.
            return Some(Outcome::Cancelled);
        }
        if has_toxics(&chain.borrow_and_update(), direction) {
            return None;
        }
    }
}

/// Reads what `source` holds (at most `buf.len()` bytes) once it is readable.
///
/// A read that leaves the socket empty (fewer bytes than asked for) also clears the
/// readiness tokio remembers, so the next read waits for the kernel's next event instead of
/// a system call that would only say "would block": a request and its response cost one
/// read each way instead of two. Race-free: tokio clears only the readiness it saw before
/// the read, never an event that came in since.
async fn read_settled(source: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        source.readable().await?;
        let mut short = None;
        let read = source.try_io(Interest::READABLE, || {
            let n = source.try_read(buf)?;
            if n > 0 && n < buf.len() {
                short = Some(n);
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match (read, short) {
            (_, Some(n)) => return Ok(n),
            (Err(e), None) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            (read, None) => return read,
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

/// Whether a piece must wait for its due time. tokio's timer rounds a deadline up to its
/// next 1 ms tick, so sleeping until a moment already past still waits up to a millisecond:
/// a piece no toxic delayed, or one already due, is written at once.
fn waits(piece: &Piece) -> bool {
    piece.due > piece.read_at && piece.due > Instant::now()
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
                    if waits(&p) {
                        tokio::time::sleep_until(p.due).await;
                    }
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
    use super::super::toxic::testing::json_attrs;
    use super::super::{lookup, ToxicSpec};
    use super::*;
    use std::sync::Arc;
    use tokio::io::duplex;
    use tokio::net::TcpListener;

    /// Both ends of a loopback TCP connection.
    async fn tcp_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (connected, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (connected.expect("connect"), accepted.expect("accept").0)
    }

    fn latency(uid: u64, stream: Direction, ms: u64) -> Arc<ToxicSpec> {
        let attributes = json_attrs(serde_json::json!({ "latency": ms }));
        let toxic = lookup("latency").map(|t| (t.parse)(&attributes));
        let Some(Ok(toxic)) = toxic else {
            panic!("latency parses");
        };
        Arc::new(ToxicSpec {
            uid,
            name: format!("latency_{uid}"),
            kind: "latency".into(),
            stream,
            toxicity: 1.0,
            attributes,
            toxic,
        })
    }

    #[tokio::test]
    async fn without_toxics_bytes_and_the_close_pass_straight_through() {
        let (mut client, proxy_side) = tcp_pair().await;
        let (upstream_side, mut upstream) = duplex(64);
        let (_tx, mut chain) = watch::channel(Chain::default());
        let cancel = CancellationToken::new();
        let copy = tokio::spawn(async move {
            copy_plain(
                Direction::Upstream,
                &proxy_side,
                upstream_side,
                &mut chain,
                &cancel,
            )
            .await
        });
        // More than the pipes hold at once: the copy must keep going.
        let sent: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let expected = sent.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.expect("write");
            client.shutdown().await.expect("shutdown");
        });
        let mut got = Vec::new();
        upstream
            .read_to_end(&mut got)
            .await
            .expect("read to the close");
        assert_eq!(got, expected);
        writer.await.expect("writer");
        assert_eq!(copy.await.expect("copy"), Some(Outcome::Closed));
    }

    #[tokio::test]
    async fn a_toxic_of_its_direction_hands_over_after_what_was_read() {
        let (mut client, proxy_side) = tcp_pair().await;
        let (mut upstream_side, mut upstream) = duplex(64);
        let (tx, mut chain) = watch::channel(Chain::default());
        let cancel = CancellationToken::new();
        let copy = tokio::spawn(async move {
            let outcome = copy_plain(
                Direction::Upstream,
                &proxy_side,
                &mut upstream_side,
                &mut chain,
                &cancel,
            )
            .await;
            (outcome, proxy_side, upstream_side)
        });
        client.write_all(b"before").await.expect("write");
        let mut got = [0u8; 6];
        upstream.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"before");
        // A toxic on the other direction changes nothing here.
        tx.send_replace(Arc::new(vec![latency(1, Direction::Downstream, 10)]));
        client.write_all(b"still").await.expect("write");
        let mut got = [0u8; 5];
        upstream.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"still");
        tx.send_replace(Arc::new(vec![latency(2, Direction::Upstream, 10)]));
        let (outcome, mut proxy_side, _) = copy.await.expect("copy");
        assert_eq!(
            outcome, None,
            "a toxic of its own direction stops the plain copy"
        );
        // Bytes written after the hand-over are left for the chunked path.
        client.write_all(b"after").await.expect("write");
        let mut got = [0u8; 5];
        proxy_side.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"after");
    }

    #[tokio::test]
    async fn with_a_toxic_already_set_nothing_is_copied() {
        let (_client, proxy_side) = tcp_pair().await;
        let (mut upstream_side, _upstream) = duplex(64);
        let (_tx, mut chain) = watch::channel(Arc::new(vec![latency(1, Direction::Upstream, 5)]));
        let outcome = copy_plain(
            Direction::Upstream,
            &proxy_side,
            &mut upstream_side,
            &mut chain,
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(outcome, None);
    }

    #[test]
    fn only_pieces_due_later_wait_for_the_timer() {
        let now = Instant::now();
        let piece = |read_at, due| Piece {
            data: Bytes::from_static(b"x"),
            read_at,
            due,
        };
        assert!(!waits(&piece(now, now)), "no toxic delayed it");
        let long_ago = now - Duration::from_secs(10);
        assert!(
            !waits(&piece(long_ago, long_ago + Duration::from_secs(1))),
            "delayed, but already due"
        );
        assert!(waits(&piece(now, now + Duration::from_secs(60))));
    }

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
