//! A reusable read buffer: bytes read from a connection and not yet consumed.

use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Room a buffer starts with.
const START: usize = 8 * 1024;

/// Bytes read and not yet consumed, kept for the connection's life.
#[derive(Debug)]
pub(super) struct Buffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Buffer {
    /// An empty buffer.
    pub(super) fn new() -> Self {
        Buffer {
            buf: vec![0; START],
            start: 0,
            end: 0,
        }
    }

    /// The unconsumed bytes.
    pub(super) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Consumes the first `n` unconsumed bytes.
    pub(super) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops everything unconsumed.
    pub(super) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Whether `limit` unconsumed bytes are buffered (no more may be read for a head).
    pub(super) fn holds(&self, limit: usize) -> bool {
        self.end - self.start >= limit
    }

    /// Reads once more from `io`, growing up to `limit` bytes of unconsumed data; `Ok(0)` at
    /// the end of the stream. Cancel-safe: a read not completed took nothing.
    pub(super) async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        limit: usize,
    ) -> io::Result<usize> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.buf.len() * 2).min(limit.max(START));
                if grown <= self.buf.len() {
                    return Err(io::Error::other("buffer full"));
                }
                self.buf.resize(grown, 0);
            }
        }
        let n = io.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}
