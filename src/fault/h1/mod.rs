//! The raw HTTP/1.1 forwarder: the fault proxy's hot path for `http://` upstreams.
//!
//! One task per client connection reads request heads (httparse), asks the
//! [`Injector`] what to do, and forwards over the connection's own upstream connection,
//! passing bodies through by their framing (chunked framing verbatim). Faults are applied as
//! [`super::FaultService`] applies them; answers that are shaped or injected are written by
//! [`answer`](Conn::answer). The hyper path ([`super::proxy`]) remains for `https://` upstreams.

mod buffer;
mod chunked;
mod deadline;
mod head;
mod io;
mod request;
mod response;
mod upstream;

use super::body::{pieces, FLUSH_BEFORE_CUT};
use super::kind::{BodyPlan, ConnectionEnd, Terminal};
use super::{injected_head, ConnectionFate, Injector, RequestView, Session, UpstreamOutcome};
use crate::load::h1::Framing;
use buffer::Buffer;
use bytes::Bytes;
use chunked::Chunked;
use deadline::Deadline;
use head::{put_header, put_status, simple_answer};
use io::{count_cut, pump, read_response, read_whole};
use request::{Refusal, Request, Rewrite};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use upstream::Upstream;

/// Largest request or response head read.
const MAX_HEAD: usize = 64 * 1024;

/// Most buffered body bytes per read while passing a body through.
const BODY_BUFFER: usize = 64 * 1024;

/// Largest request body read and dropped to keep a connection after an injected answer.
const MAX_DISCARD: u64 = 1 << 20;

/// What every connection of a raw-forwarding proxy shares.
#[derive(Debug)]
pub(crate) struct Forwarder {
    injector: Arc<Injector>,
    rewrite: Rewrite,
    /// `host:port` to connect to.
    addr: String,
    upstream_timeout: Duration,
    header_read_timeout: Duration,
}

impl Forwarder {
    /// A forwarder to the `http://` upstream `uri`; `None` for any other scheme.
    pub(crate) fn new(
        uri: &http::Uri,
        injector: Arc<Injector>,
        upstream_timeout: Duration,
        header_read_timeout: Duration,
    ) -> Option<Forwarder> {
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let authority = uri.authority()?;
        Some(Forwarder {
            injector,
            rewrite: Rewrite {
                host: authority.as_str().to_string(),
                base_path: uri.path().trim_end_matches('/').to_string(),
            },
            addr: format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            ),
            upstream_timeout,
            header_read_timeout,
        })
    }
}

/// Serves one client connection until it ends; a fault that ends it sets `fate`, which the
/// stream acts on when dropped.
pub(crate) async fn serve<IO>(io: IO, forwarder: Arc<Forwarder>, fate: ConnectionFate)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let connection = forwarder.injector.live.next_connection();
    let mut conn = Conn {
        client: io,
        inbuf: Buffer::new(),
        out: Vec::with_capacity(1024),
        up: Upstream::new(),
        headers: http::HeaderMap::new(),
        f: &forwarder,
        connection,
        fate,
    };
    let mut deadlines = Deadlines {
        head: Deadline::new(forwarder.header_read_timeout),
        upstream: Deadline::new(forwarder.upstream_timeout),
    };
    while conn.exchange(&mut deadlines).await == Next::KeepAlive {}
}

/// A connection's timers: for the client's request head, for the upstream's response head.
struct Deadlines {
    head: Deadline,
    upstream: Deadline,
}

/// Whether the client connection goes on after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
}

fn next(close: bool) -> Next {
    if close {
        Next::Close
    } else {
        Next::KeepAlive
    }
}

/// Why passing a body on stopped.
#[derive(Debug, PartialEq, Eq)]
enum PumpError {
    /// The sender stopped before the body's end.
    Ended,
    /// The chunked framing is malformed.
    Malformed,
    /// The receiver is gone.
    Write,
}

/// One client connection.
struct Conn<'a, IO> {
    client: IO,
    /// Read from the client, not yet handled.
    inbuf: Buffer,
    /// What is written next (a head, often with the first body bytes).
    out: Vec<u8>,
    up: Upstream,
    /// The request's headers, collected only when a rule matches on headers.
    headers: http::HeaderMap,
    f: &'a Forwarder,
    connection: u64,
    fate: ConnectionFate,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Conn<'_, IO> {
    /// Reads one request and answers it.
    async fn exchange(&mut self, deadlines: &mut Deadlines) -> Next {
        let want_headers = self.f.injector.live.load().rules.needs_headers();
        let req = match deadlines.head.run(self.read_head(want_headers)).await {
            Err(_elapsed) => return Next::Close,
            Ok(Ok(Some(req))) => req,
            Ok(Ok(None)) => return Next::Close,
            Ok(Err(refusal)) => {
                simple_answer(&mut self.out, refusal.status(), refusal.message(), true);
                self.write_out().await;
                return Next::Close;
            }
        };
        // The session may have been replaced while the connection was idle.
        let session = self.f.injector.live.load();
        if !want_headers && session.rules.needs_headers() {
            self.headers.clear();
            let data = self.inbuf.data();
            let reparsed = request::parse(
                data,
                &self.f.rewrite,
                &mut self.out,
                Some(&mut self.headers),
            );
            if !matches!(reparsed, Ok(Some(_))) {
                return Next::Close;
            }
        }
        let want_headers = want_headers || session.rules.needs_headers();
        let no_headers = http::HeaderMap::new();
        let decision = {
            let path = std::str::from_utf8(&self.inbuf.data()[req.path.clone()]).unwrap_or("/");
            let headers = if want_headers {
                &self.headers
            } else {
                &no_headers
            };
            let view = RequestView {
                method: &req.method,
                path,
                headers,
            };
            self.f.injector.decide(&view, self.connection)
        };
        self.inbuf.consume(req.head_len);
        if !decision.hold.is_zero() && !self.hold(decision.hold).await {
            return Next::Close;
        }
        let injector = &self.f.injector;
        match decision.terminal {
            Some(Terminal::Close(end)) => {
                injector.outcome(true);
                let _ = self.fate.set(end);
                Next::Close
            }
            Some(Terminal::Blackhole { until }) => {
                if let Some(now) = injector.live.elapsed() {
                    if !self.hold(until.saturating_sub(now)).await {
                        return Next::Close;
                    }
                }
                injector.outcome(true);
                let _ = self.fate.set(ConnectionEnd::Empty);
                Next::Close
            }
            Some(Terminal::Status {
                code,
                body,
                headers,
            }) => {
                injector.outcome(code >= 500);
                // A client waiting for `100 Continue` never gets it: close after answering.
                let body_read = !req.expect_continue && self.discard_body(req.framing).await;
                let (status, headers) = injected_head(code, headers);
                self.out.clear();
                put_status(&mut self.out, status.as_u16());
                for (name, value) in &headers {
                    put_header(&mut self.out, name.as_str().as_bytes(), value.as_bytes());
                }
                let close = req.close || !body_read;
                // An answer to HEAD announces the body's length without sending it.
                let length = body.len() as u64;
                let body = if req.method == http::Method::HEAD {
                    Bytes::new()
                } else {
                    body
                };
                self.answer(body, length, &decision.body, close).await
            }
            None => {
                let upstream_deadline = &mut deadlines.upstream;
                self.forward(&req, &session, &decision.body, upstream_deadline)
                    .await
            }
        }
    }

    /// Reads until a whole request head is buffered; `Ok(None)` when the client leaves.
    async fn read_head(&mut self, want_headers: bool) -> Result<Option<Request>, Refusal> {
        loop {
            if !self.inbuf.data().is_empty() {
                let headers = if want_headers {
                    self.headers.clear();
                    Some(&mut self.headers)
                } else {
                    None
                };
                let data = self.inbuf.data();
                if let Some(req) = request::parse(data, &self.f.rewrite, &mut self.out, headers)? {
                    return Ok(Some(req));
                }
                if self.inbuf.holds(MAX_HEAD) {
                    return Err(Refusal::TooLarge);
                }
            }
            match self.inbuf.fill(&mut self.client, MAX_HEAD).await {
                Ok(0) | Err(_) => return Ok(None),
                Ok(_) => {}
            }
        }
    }

    /// Waits `time`; `false` when the client left meanwhile (what it sends is kept).
    async fn hold(&mut self, time: Duration) -> bool {
        let sleep = tokio::time::sleep(time);
        tokio::pin!(sleep);
        loop {
            if self.inbuf.holds(BODY_BUFFER) {
                // Enough read ahead: just wait.
                sleep.as_mut().await;
                return true;
            }
            tokio::select! {
                () = sleep.as_mut() => return true,
                read = self.inbuf.fill(&mut self.client, BODY_BUFFER) => match read {
                    Ok(0) | Err(_) => return false,
                    Ok(_) => {}
                },
            }
        }
    }

    /// Reads the request body and drops it; `false` if it could not be read whole.
    async fn discard_body(&mut self, framing: Framing) -> bool {
        let mut chunked = (framing == Framing::Chunked).then(Chunked::new);
        let mut left = match framing {
            Framing::Length(n) if n > MAX_DISCARD => return false,
            Framing::Length(n) => n,
            _ => 0,
        };
        let mut seen = 0u64;
        loop {
            let data = self.inbuf.data();
            let (used, done) = match &mut chunked {
                Some(c) => match c.feed(data, |_| {}) {
                    Ok(r) => r,
                    Err(_) => return false,
                },
                None => {
                    let n = (data.len() as u64).min(left);
                    left -= n;
                    (n as usize, left == 0)
                }
            };
            seen += used as u64;
            self.inbuf.consume(used);
            if done {
                return true;
            }
            if seen > MAX_DISCARD {
                return false;
            }
            match self.inbuf.fill(&mut self.client, BODY_BUFFER).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
    }

    /// Writes `out` to the client (an error only means it left).
    async fn write_out(&mut self) -> bool {
        let ok =
            self.client.write_all(&self.out).await.is_ok() && self.client.flush().await.is_ok();
        self.out.clear();
        ok
    }

    /// Answers with `body` after the status line and headers in `out`, delivered as `plan`
    /// says (as [`super::body::shape`] does): held, dribbled, cut (then the connection ends).
    /// `length` is announced (the whole body's, also when a cut sends less, or none to HEAD).
    async fn answer(&mut self, body: Bytes, length: u64, plan: &BodyPlan, close: bool) -> Next {
        let close = close || plan.cut.is_some();
        response::finish(&mut self.out, Framing::Length(length), close);
        if plan.is_plain() {
            self.out.extend_from_slice(&body);
            return if self.write_out().await {
                next(close)
            } else {
                Next::Close
            };
        }
        if !self.write_out().await {
            return Next::Close;
        }
        tokio::time::sleep(plan.delay).await;
        let keep = plan.cut.map_or(body.len(), |cut| cut.keep(body.len()));
        for (wait, piece) in pieces(body.slice(..keep), plan.dribble) {
            tokio::time::sleep(wait).await;
            if self.client.write_all(&piece).await.is_err() || self.client.flush().await.is_err() {
                return Next::Close;
            }
        }
        if plan.cut.is_some() {
            tokio::time::sleep(FLUSH_BEFORE_CUT).await;
            return Next::Close;
        }
        next(close)
    }

    /// Forwards the request (its rewritten head is in `out`) and passes the answer back.
    async fn forward(
        &mut self,
        req: &Request,
        session: &Session,
        plan: &BodyPlan,
        deadline: &mut Deadline,
    ) -> Next {
        if req.expect_continue {
            let head = std::mem::take(&mut self.out);
            let sent = self
                .client
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await;
            self.out = head;
            if sent.is_err() {
                return Next::Close;
            }
        }
        if let Some(at) = session.elapsed() {
            session.tap.forwarded(at);
        }
        if let Err(e) = self.up.ready(&self.f.addr).await {
            self.out.clear();
            return self
                .failed(session, UpstreamOutcome::Error, &e.to_string(), req.close)
                .await;
        }
        let Upstream { stream, buf: upbuf } = &mut self.up;
        let Some(upstream) = stream.as_mut() else {
            return Next::Close;
        };
        match pump(
            req.framing,
            &mut self.inbuf,
            &mut self.client,
            upstream,
            &mut self.out,
        )
        .await
        {
            Ok(()) => {}
            Err(PumpError::Write) => {
                self.up.drop_connection();
                return self
                    .failed(session, UpstreamOutcome::Error, "upstream closed", true)
                    .await;
            }
            Err(PumpError::Ended | PumpError::Malformed) => {
                // The client's body broke: its fault, counted as the 400 it gets.
                self.up.drop_connection();
                return self
                    .failed(
                        session,
                        UpstreamOutcome::Status(400),
                        "request body unreadable",
                        true,
                    )
                    .await;
            }
        }
        let head_request = req.method == http::Method::HEAD;
        let read = read_response(
            upstream,
            upbuf,
            &mut self.client,
            &mut self.out,
            head_request,
        );
        let res = match deadline.run(read).await {
            Err(_elapsed) => {
                tracing::warn!(
                    timeout = ?self.f.upstream_timeout,
                    "upstream gave no response headers within the proxy's upstream timeout"
                );
                self.up.drop_connection();
                let why = format!("upstream timed out after {:?}", self.f.upstream_timeout);
                return self
                    .failed(session, UpstreamOutcome::Timeout, &why, req.close)
                    .await;
            }
            Ok(Err(why)) => {
                tracing::debug!(error = why, "upstream unreachable");
                self.up.drop_connection();
                let why = format!("upstream unreachable: {why}");
                return self
                    .failed(session, UpstreamOutcome::Error, &why, req.close)
                    .await;
            }
            Ok(Ok(res)) => res,
        };
        if let Some(at) = session.elapsed() {
            session.tap.answered(at, UpstreamOutcome::Status(res.code));
        }
        upbuf.consume(res.head_len);
        if res.code == 101 {
            return self.tunnel(req, session).await;
        }
        // An answer to HEAD has no body to shape.
        if !plan.is_plain() && !head_request {
            let whole = read_whole(res.framing, upbuf, upstream).await;
            if res.close || res.framing == Framing::UntilClose || !upbuf.data().is_empty() {
                self.up.drop_connection();
            }
            return match whole {
                Ok(body) => {
                    let length = body.len() as u64;
                    self.answer(body, length, plan, req.close).await
                }
                Err(cut) => {
                    if cut {
                        count_cut(session);
                    }
                    self.up.drop_connection();
                    Next::Close
                }
            };
        }
        let close = req.close || res.framing == Framing::UntilClose;
        response::finish(&mut self.out, res.framing, close);
        match pump(
            res.framing,
            upbuf,
            upstream,
            &mut self.client,
            &mut self.out,
        )
        .await
        {
            Ok(()) => {
                if res.close || res.framing == Framing::UntilClose || !upbuf.data().is_empty() {
                    self.up.drop_connection();
                }
                next(close)
            }
            Err(PumpError::Write) => {
                self.up.drop_connection();
                Next::Close
            }
            Err(PumpError::Ended | PumpError::Malformed) => {
                tracing::debug!("upstream response body broke off");
                count_cut(session);
                self.up.drop_connection();
                Next::Close
            }
        }
    }

    /// After the upstream's `101 Switching Protocols` (its head rewritten in `out`): passes
    /// the head and whatever either side sent early on, then copies bytes both ways until
    /// both are done (a WebSocket, an h2c upgrade). A 101 the client did not ask for is a 502.
    async fn tunnel(&mut self, req: &Request, session: &Session) -> Next {
        let Some(mut upstream) = self.up.stream.take().filter(|_| req.upgrade) else {
            self.up.drop_connection();
            return self
                .failed(
                    session,
                    UpstreamOutcome::Error,
                    "upstream switched protocols unasked",
                    true,
                )
                .await;
        };
        response::finish(&mut self.out, Framing::None, false);
        self.out.extend_from_slice(self.up.buf.data());
        self.up.drop_connection();
        if !self.write_out().await {
            return Next::Close;
        }
        let early = self.inbuf.data();
        if !early.is_empty() && upstream.write_all(early).await.is_err() {
            return Next::Close;
        }
        self.inbuf.consume(early.len());
        let _ = tokio::io::copy_bidirectional(&mut self.client, &mut upstream).await;
        Next::Close
    }

    /// Answers `message` with the status of `outcome` (502, 504, 400), counted as such.
    async fn failed(
        &mut self,
        session: &Session,
        outcome: UpstreamOutcome,
        message: &str,
        close: bool,
    ) -> Next {
        if let Some(at) = session.elapsed() {
            session.tap.answered(at, outcome);
        }
        let code = match outcome {
            UpstreamOutcome::Timeout => 504,
            UpstreamOutcome::Status(code) => code,
            _ => 502,
        };
        simple_answer(&mut self.out, code, message, close);
        if self.write_out().await {
            next(close)
        } else {
            Next::Close
        }
    }
}
