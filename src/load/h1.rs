//! A small HTTP/1.1 client for the load engine's hot path: one request at a time on one
//! connection, the request encoded straight into a reused buffer, the response head parsed
//! in place with httparse, the body framed by `Content-Length`, chunked encoding or the
//! connection's close.
//!
//! Why not hyper's client connection (which the engine used before): hyper hands each
//! request through a channel to a connection task and the response back through another,
//! builds a `HeaderMap` both ways, and reads once more than needed after each response.
//! That was about 3 µs of CPU per request on this machine, twice what wrk spends; the load
//! generator competes for the same cores as the server it measures. HTTP/2 (and everything
//! else in breakerbox) stays on hyper.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Smallest read buffer: a response head and a small body fit in one read. It grows (up
/// to [`MAX_BUFFER`]) while reads fill it, so a large body takes few reads, and 10,000 idle
/// connections stay cheap.
const MIN_BUFFER: usize = 2048;
/// Largest read buffer, and so the largest response head accepted.
const MAX_BUFFER: usize = 64 * 1024;
/// Most response headers parsed.
const MAX_HEADERS: usize = 100;

/// The byte stream under an HTTP/1.1 connection.
pub(super) enum Stream {
    /// Plain TCP (`http://`).
    Tcp(TcpStream),
    /// TLS (`https://` without `h2` in ALPN).
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn poll_read_some(
        &mut self,
        cx: &mut Context<'_>,
        into: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, into),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, into),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    /// After a whole response: nothing more is due until the next request, so the
    /// readiness tokio remembers from the last read is cleared without a system call. The
    /// next read then waits for the kernel's event instead of trying a read that would
    /// only say "would block". (A close stays visible: tokio never clears closed states.)
    fn settle(&self) {
        if let Stream::Tcp(s) = self {
            let _ = s.try_io(Interest::READABLE, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
    }
}

/// What an HTTP/1.1 exchange keeps of the response.
#[derive(Debug)]
pub(super) struct H1Response {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

/// One HTTP/1.1 connection.
pub(super) struct H1 {
    stream: Stream,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// The request being written, reused.
    out: Vec<u8>,
    /// Whether the connection can carry another request.
    reusable: bool,
    /// Set while an exchange runs: an exchange cut short (timeout, stop) leaves the
    /// connection mid-response, and it must not be reused.
    busy: bool,
    /// Whether the last read filled all the room it had: a large body is coming, and a
    /// larger buffer takes it in fewer reads.
    filled_up: bool,
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the sender closes the connection.
    UntilClose,
}

/// The parts of a request the connection writes.
pub(super) struct RequestHead<'a> {
    pub(super) method: &'a Method,
    /// The target's base path.
    pub(super) base: &'a str,
    /// Path and query.
    pub(super) path: &'a str,
    pub(super) host: &'a HeaderValue,
    pub(super) auth: Option<&'a HeaderValue>,
    pub(super) headers: &'a HeaderMap,
    pub(super) body: &'a Bytes,
}

impl H1 {
    /// A connection over `stream`.
    pub(super) fn new(stream: Stream) -> H1 {
        H1 {
            stream,
            buf: Vec::new(),
            start: 0,
            end: 0,
            out: Vec::with_capacity(256),
            reusable: true,
            busy: false,
            filled_up: false,
        }
    }

    /// Gives the buffers back while the connection waits a long time (a virtual user
    /// thinking): 10,000 idle users then hold no buffers at all.
    pub(super) fn idle(&mut self) {
        if self.start == self.end && !self.busy {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
            self.out = Vec::new();
        }
    }

    /// Whether another request may be sent: the last exchange finished cleanly, and the
    /// server has not closed the connection (or sent anything unasked) since.
    pub(super) async fn usable(&mut self) -> bool {
        if !self.reusable || self.busy || self.start != self.end {
            return false;
        }
        std::future::poll_fn(|cx| {
            let mut probe = [0u8; 1];
            let mut into = ReadBuf::new(&mut probe);
            // Pending: nothing to read, idle and open as it should be. Anything else is a
            // close, an error, or bytes nobody asked for.
            Poll::Ready(self.stream.poll_read_some(cx, &mut into).is_pending())
        })
        .await
    }

    /// Sends `request` and reads the whole response, keeping the headers when asked and
    /// the first `keep_body` bytes of the body.
    pub(super) async fn exchange(
        &mut self,
        request: &RequestHead<'_>,
        keep_headers: bool,
        keep_body: usize,
    ) -> Result<H1Response, &'static str> {
        self.busy = true;
        encode(&mut self.out, request);
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|e| io_kind(&e))?;
        if self.out.capacity() > 4 * 1024 {
            // A large body was sent once; do not keep its buffer for the connection's life.
            self.out = Vec::with_capacity(256);
        }
        let head_request = request.method == Method::HEAD;
        let (status, headers, framing, close) = loop {
            let (status, headers, framing, close, used) = self.read_head(keep_headers).await?;
            self.start += used;
            // 1xx responses (100 Continue, 103 Early Hints) precede the real one.
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let framing = if head_request || status == 101 || status == 204 || status == 304 {
                Framing::None
            } else {
                framing
            };
            break (status, headers, framing, close);
        };
        let status = StatusCode::from_u16(status).map_err(|_| "protocol")?;
        let mut body = Vec::new();
        match framing {
            Framing::None => {}
            Framing::Length(n) => self.read_length(n, &mut body, keep_body).await?,
            Framing::Chunked => self.read_chunked(&mut body, keep_body).await?,
            Framing::UntilClose => {
                self.read_until_close(&mut body, keep_body).await?;
                self.reusable = false;
            }
        }
        if close || status == StatusCode::SWITCHING_PROTOCOLS {
            self.reusable = false;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.stream.settle();
        } else {
            // Bytes after the response that nobody asked for.
            self.reusable = false;
        }
        self.busy = false;
        Ok(H1Response {
            status,
            headers,
            body,
        })
    }

    /// Reads more bytes into the buffer; `Ok(0)` at the end of the stream.
    async fn fill(&mut self) -> Result<usize, &'static str> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.filled_up && self.start == 0 && self.buf.len() < MAX_BUFFER {
            let grown = (self.buf.len() * 2).clamp(MIN_BUFFER, MAX_BUFFER);
            self.buf.resize(grown, 0);
        }
        if self.buf.len() == self.end {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.buf.len() * 2).clamp(MIN_BUFFER, MAX_BUFFER);
                if grown == self.buf.len() {
                    return Err("protocol");
                }
                self.buf.resize(grown, 0);
            }
        }
        let (buf, stream, end) = (&mut self.buf, &mut self.stream, self.end);
        let read = std::future::poll_fn(|cx| {
            let mut into = ReadBuf::new(&mut buf[end..]);
            match stream.poll_read_some(cx, &mut into) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(into.filled().len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
        .map_err(|e| io_kind(&e))?;
        self.filled_up = end + read == self.buf.len();
        self.end += read;
        Ok(read)
    }

    /// Reads until a whole response head is buffered and parses it. Returns the status,
    /// the headers (when kept), the body's framing, whether the server will close, and the
    /// head's length.
    async fn read_head(
        &mut self,
        keep_headers: bool,
    ) -> Result<(u16, HeaderMap, Framing, bool, usize), &'static str> {
        loop {
            if self.start < self.end {
                let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut response = httparse::Response::new(&mut slots);
                match response.parse(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete(used)) => {
                        let status = response.code.ok_or("protocol")?;
                        let mut framing = Framing::UntilClose;
                        let mut close = response.version == Some(0);
                        let mut headers = HeaderMap::new();
                        for h in response.headers.iter() {
                            let name = h.name.as_bytes();
                            // By length first: most headers are none of the three.
                            match name.len() {
                                14 if name.eq_ignore_ascii_case(b"content-length")
                                    && !matches!(framing, Framing::Chunked) =>
                                {
                                    framing = Framing::Length(parse_length(h.value)?);
                                }
                                17 if name.eq_ignore_ascii_case(b"transfer-encoding")
                                    && contains_token(h.value, b"chunked") =>
                                {
                                    framing = Framing::Chunked;
                                }
                                10 if name.eq_ignore_ascii_case(b"connection") => {
                                    if contains_token(h.value, b"close") {
                                        close = true;
                                    } else if contains_token(h.value, b"keep-alive") {
                                        close = false;
                                    }
                                }
                                _ => {}
                            }
                            // A redirect's headers are kept whatever was asked: its
                            // `location` is needed to follow it (and redirects are rare).
                            if keep_headers || (300..400).contains(&status) {
                                if let (Ok(n), Ok(v)) = (
                                    HeaderName::from_bytes(name),
                                    HeaderValue::from_bytes(h.value),
                                ) {
                                    headers.append(n, v);
                                }
                            }
                        }
                        return Ok((status, headers, framing, close, used));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(_) => return Err("protocol"),
                }
            }
            if self.fill().await? == 0 {
                return Err("closed");
            }
        }
    }

    /// Consumes up to `n` buffered bytes into `body` (within `keep_body`); returns how many.
    fn take(&mut self, n: u64, body: &mut Vec<u8>, keep_body: usize) -> u64 {
        let available = (self.end - self.start) as u64;
        let taken = available.min(n) as usize;
        if body.len() < keep_body {
            let room = (keep_body - body.len()).min(taken);
            body.extend_from_slice(&self.buf[self.start..self.start + room]);
        }
        self.start += taken;
        taken as u64
    }

    async fn read_length(
        &mut self,
        mut n: u64,
        body: &mut Vec<u8>,
        keep_body: usize,
    ) -> Result<(), &'static str> {
        loop {
            n -= self.take(n, body, keep_body);
            if n == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err("closed");
            }
        }
    }

    async fn read_until_close(
        &mut self,
        body: &mut Vec<u8>,
        keep_body: usize,
    ) -> Result<(), &'static str> {
        loop {
            self.take(u64::MAX, body, keep_body);
            if self.fill().await? == 0 {
                return Ok(());
            }
        }
    }

    /// Reads one CRLF-terminated line (without the CRLF) and consumes it.
    async fn line(&mut self) -> Result<std::ops::Range<usize>, &'static str> {
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(at) = window.windows(2).position(|w| w == b"\r\n") {
                let line = self.start..self.start + at;
                self.start += at + 2;
                return Ok(line);
            }
            if self.fill().await? == 0 {
                return Err("closed");
            }
        }
    }

    async fn read_chunked(
        &mut self,
        body: &mut Vec<u8>,
        keep_body: usize,
    ) -> Result<(), &'static str> {
        loop {
            let line = self.line().await?;
            let size_text = self.buf[line]
                .split(|b| *b == b';')
                .next()
                .unwrap_or_default();
            let size = parse_hex(size_text)?;
            if size == 0 {
                // Trailers, if any, up to an empty line.
                loop {
                    let trailer = self.line().await?;
                    if trailer.is_empty() {
                        return Ok(());
                    }
                }
            }
            self.read_length(size, body, keep_body).await?;
            let end = self.line().await?;
            if !end.is_empty() {
                return Err("protocol");
            }
        }
    }
}

/// Writes the request line, headers and body into `out`.
fn encode(out: &mut Vec<u8>, r: &RequestHead<'_>) {
    out.clear();
    // Room for a typical request at once (the buffer is given back while a user thinks).
    out.reserve(256);
    out.extend_from_slice(r.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(r.base.as_bytes());
    out.extend_from_slice(r.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(r.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !r.headers.contains_key(http::header::USER_AGENT) {
        out.extend_from_slice(b"user-agent: breakerbox\r\n");
    }
    if let Some(auth) = r.auth {
        if !r.headers.contains_key(http::header::AUTHORIZATION) {
            out.extend_from_slice(b"authorization: ");
            out.extend_from_slice(auth.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    for (name, value) in r.headers {
        if name == http::header::HOST || name == http::header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let sends_body =
        !r.body.is_empty() || matches!(*r.method, Method::POST | Method::PUT | Method::PATCH);
    if sends_body {
        out.extend_from_slice(b"content-length: ");
        let mut digits = itoa_buf(r.body.len());
        out.extend_from_slice(digits.as_bytes_mut());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(r.body);
}

/// A number's decimal digits without allocating.
pub(crate) struct Digits {
    buf: [u8; 20],
    from: usize,
}

impl Digits {
    pub(crate) fn as_bytes_mut(&mut self) -> &[u8] {
        &self.buf[self.from..]
    }
}

pub(crate) fn itoa_buf(mut n: usize) -> Digits {
    let mut d = Digits {
        buf: [0; 20],
        from: 20,
    };
    loop {
        d.from -= 1;
        d.buf[d.from] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

pub(crate) fn parse_length(value: &[u8]) -> Result<u64, &'static str> {
    let text = std::str::from_utf8(value).map_err(|_| "protocol")?;
    text.trim().parse().map_err(|_| "protocol")
}

pub(crate) fn parse_hex(text: &[u8]) -> Result<u64, &'static str> {
    let text = std::str::from_utf8(text).map_err(|_| "protocol")?.trim();
    if text.is_empty() || text.len() > 15 {
        return Err("protocol");
    }
    u64::from_str_radix(text, 16).map_err(|_| "protocol")
}

/// Whether the comma-separated header value holds `token` (case-insensitive).
pub(crate) fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Names an I/O failure like the rest of the engine does.
pub(super) fn io_kind(e: &io::Error) -> &'static str {
    if e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
    {
        return "tls";
    }
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => "reset",
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => "closed",
        _ => "io",
    }
}

#[cfg(test)]
mod tests;
