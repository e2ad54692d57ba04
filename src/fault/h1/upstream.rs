//! One client connection's own link to the upstream: connected on first use, kept alive
//! between requests, replaced when the upstream closed it.

use super::buffer::Buffer;
use std::io;
use std::time::Duration;
use tokio::net::TcpStream;

/// Longest wait for the upstream's TCP handshake (as the hyper client's).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The upstream connection of one client connection, with what was read from it.
#[derive(Debug)]
pub(super) struct Upstream {
    /// The connection, once made.
    pub(super) stream: Option<TcpStream>,
    /// Read from the upstream, not yet passed on.
    pub(super) buf: Buffer,
}

impl Upstream {
    /// Not connected yet.
    pub(super) fn new() -> Self {
        Upstream {
            stream: None,
            buf: Buffer::new(),
        }
    }

    /// A connection ready for a request to `addr`: the kept one while the upstream has not
    /// closed it (nor sent anything unasked), else a new one.
    pub(super) async fn ready(&mut self, addr: &str) -> io::Result<()> {
        if let Some(stream) = &self.stream {
            let mut probe = [0u8; 1];
            match stream.try_read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                _ => self.drop_connection(),
            }
        }
        let stream = match self.stream.take() {
            Some(stream) => stream,
            None => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
                stream.set_nodelay(true)?;
                stream
            }
        };
        self.stream = Some(stream);
        Ok(())
    }

    /// Forgets the connection (closing it) and anything read from it.
    pub(super) fn drop_connection(&mut self) {
        self.stream = None;
        self.buf.clear();
    }
}
