//! Moving message bodies and heads between the client and the upstream: the upstream's
//! response head, a whole body read for shaping, and a body passed through by its framing.

use super::super::body::MAX_SHAPED_BODY;
use super::super::Session;
use super::buffer::Buffer;
use super::chunked::Chunked;
use super::response;
use super::{PumpError, BODY_BUFFER, MAX_HEAD};
use crate::load::h1::Framing;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Counts an upstream body that broke off.
pub(super) fn count_cut(session: &Session) {
    if let Some(at) = session.elapsed() {
        session.tap.cut(at);
    }
}

/// Reads the upstream's response head, passing interim (1xx) answers to `client`; the
/// head rewritten for the client is left in `out` (without its framing header).
pub(super) async fn read_response<C: AsyncWrite + Unpin>(
    upstream: &mut tokio::net::TcpStream,
    buf: &mut Buffer,
    client: &mut C,
    out: &mut Vec<u8>,
    head_request: bool,
) -> Result<response::Response, &'static str> {
    loop {
        if !buf.data().is_empty() {
            match response::parse(buf.data(), head_request, out) {
                Err(_) => return Err("malformed response head"),
                // Switching protocols ends the exchange: the caller tunnels or refuses.
                Ok(Some(res)) if res.code == 101 => return Ok(res),
                Ok(Some(res)) if res.code < 200 => {
                    buf.consume(res.head_len);
                    response::finish(out, Framing::None, false);
                    client.write_all(out).await.map_err(|_| "client gone")?;
                    out.clear();
                    continue;
                }
                Ok(Some(res)) => return Ok(res),
                Ok(None) if buf.holds(MAX_HEAD) => return Err("response head too large"),
                Ok(None) => {}
            }
        }
        match buf.fill(upstream, MAX_HEAD).await {
            Ok(0) => return Err("connection closed before a response"),
            Err(_) => return Err("connection failed"),
            Ok(_) => {}
        }
    }
}

/// Reads a whole response body (de-chunked, at most [`MAX_SHAPED_BODY`]). `Err(true)` when
/// the upstream broke off, `Err(false)` when the body is too big.
pub(super) async fn read_whole(
    framing: Framing,
    buf: &mut Buffer,
    upstream: &mut tokio::net::TcpStream,
) -> Result<Bytes, bool> {
    let mut whole = Vec::new();
    let mut chunked = (framing == Framing::Chunked).then(Chunked::new);
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    if framing == Framing::None || left == 0 && framing != Framing::UntilClose && chunked.is_none()
    {
        return Ok(Bytes::new());
    }
    loop {
        let data = buf.data();
        let (used, done) = match &mut chunked {
            Some(c) => c
                .feed(data, |d| whole.extend_from_slice(d))
                .map_err(|_| true)?,
            None if framing == Framing::UntilClose => {
                whole.extend_from_slice(data);
                (data.len(), false)
            }
            None => {
                let n = (data.len() as u64).min(left) as usize;
                whole.extend_from_slice(&data[..n]);
                left -= n as u64;
                (n, left == 0)
            }
        };
        buf.consume(used);
        if whole.len() > MAX_SHAPED_BODY {
            return Err(false);
        }
        if done {
            return Ok(Bytes::from(whole));
        }
        match buf.fill(upstream, BODY_BUFFER).await {
            Ok(0) if framing == Framing::UntilClose => return Ok(Bytes::from(whole)),
            Ok(0) | Err(_) => return Err(true),
            Ok(_) => {}
        }
    }
}

/// Passes a body framed as `framing` from `src` (what `buf` holds first) to `dst`, after
/// `out` (a head, sent with the first body bytes). Chunked framing goes through verbatim.
pub(super) async fn pump<R, W>(
    framing: Framing,
    buf: &mut Buffer,
    src: &mut R,
    dst: &mut W,
    out: &mut Vec<u8>,
) -> Result<(), PumpError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut chunked = (framing == Framing::Chunked).then(Chunked::new);
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    let until_close = framing == Framing::UntilClose;
    loop {
        let data = buf.data();
        let (used, done) = match &mut chunked {
            Some(c) => c.feed(data, |_| {}).map_err(|_| PumpError::Malformed)?,
            None if until_close => (data.len(), false),
            None => {
                let n = (data.len() as u64).min(left) as usize;
                left -= n as u64;
                (n, left == 0)
            }
        };
        if out.is_empty() {
            if used > 0 {
                dst.write_all(&data[..used])
                    .await
                    .map_err(|_| PumpError::Write)?;
            }
        } else {
            out.extend_from_slice(&data[..used]);
            dst.write_all(out).await.map_err(|_| PumpError::Write)?;
            out.clear();
        }
        buf.consume(used);
        if done {
            dst.flush().await.map_err(|_| PumpError::Write)?;
            return Ok(());
        }
        match buf.fill(src, BODY_BUFFER).await {
            Ok(0) if until_close => {
                dst.flush().await.map_err(|_| PumpError::Write)?;
                return Ok(());
            }
            Ok(0) | Err(_) => return Err(PumpError::Ended),
            Ok(_) => {}
        }
    }
}
