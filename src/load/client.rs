//! One connection per worker (as oha and wrk do): no pool, no hidden retries, a reconnect
//! after any failure.
//!
//! `http://` targets get HTTP/1.1 over TCP. `https://` targets get TLS (rustls with the ring
//! provider) and then HTTP/2 when the server offers `h2` through ALPN, HTTP/1.1 otherwise.
//! HTTP/1.1 runs on breakerbox's own small client (`h1.rs`, why there), inside the
//! worker's own task: a request costs no cross-task (often cross-thread) wake-up.

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::error::Error as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

use super::h1::{RequestHead, Stream, H1};
use super::tls::TlsTarget;
use super::LoadError;

/// The service under test, resolved once before the run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The base URL as given, any password masked: safe to print and store.
    pub url: String,
    /// The resolved socket address.
    pub addr: SocketAddr,
    /// The URL as given, credentials included: for requests only, never printed.
    raw: String,
    host: HeaderValue,
    /// `host[:port]` without credentials, for HTTP/2's `:authority`.
    authority: Authority,
    /// `Basic …` from the URL's `user:password@`, sent on every request.
    auth: Option<HeaderValue>,
    base_path: String,
    /// TLS settings for `https://` targets.
    tls: Option<Arc<TlsTarget>>,
}

impl Target {
    /// Resolves `url` (`http[s]://host:port[/base]`). `insecure` accepts any certificate
    /// an `https://` target presents (self-signed staging certificates).
    pub async fn resolve(raw: &str, insecure: bool) -> Result<Target, LoadError> {
        let masked = crate::config::guard::mask_credentials(raw);
        let url = masked.as_str();
        let bad = |why: &str| LoadError::BadTarget {
            target: url.to_string(),
            why: why.to_string(),
        };
        let uri: http::Uri = raw.parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("only http:// and https:// targets are supported")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| LoadError::Unreachable {
                target: url.to_string(),
                cause: format!("cannot resolve {host}: {e}"),
            })?
            .next()
            .ok_or_else(|| LoadError::Unreachable {
                target: url.to_string(),
                cause: format!("{host} resolves to no address"),
            })?;
        // Credentials never go into the Host header: they become `Authorization: Basic`.
        let (userinfo, host_port) = match authority.as_str().rsplit_once('@') {
            Some((user, rest)) => (Some(user), rest),
            None => (None, authority.as_str()),
        };
        let auth = userinfo
            .map(|u| {
                let token = base64(&percent_decode(u));
                HeaderValue::from_str(&format!("Basic {token}")).map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
            })
            .transpose()
            .map_err(|_| bad("bad credentials"))?;
        let tls = if https {
            let tls = TlsTarget::new(host, insecure).map_err(|why| bad(&why))?;
            Some(Arc::new(tls))
        } else {
            None
        };
        Ok(Target {
            url: url.to_string(),
            addr,
            raw: raw.to_string(),
            host: HeaderValue::from_str(host_port).map_err(|_| bad("bad host"))?,
            authority: host_port.parse().map_err(|_| bad("bad host"))?,
            auth,
            base_path: uri.path().trim_end_matches('/').to_string(),
            tls,
        })
    }

    /// The URL as given, credentials included, for clients that send them (health check,
    /// relative state endpoints); never print it.
    pub fn raw_url(&self) -> &str {
        &self.raw
    }

    /// Where a redirect's `location` leads from `current` (both relative to the base
    /// path), if it stays on this target; see `redirect.rs`.
    pub(super) fn redirect_path(&self, location: &str, current: &str) -> Option<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        super::redirect::resolve(
            location,
            current,
            scheme,
            self.authority.as_str(),
            &self.base_path,
        )
    }

    /// Whether requests go over TLS.
    pub fn is_https(&self) -> bool {
        self.tls.is_some()
    }

    /// Opens a TCP connection and, for `https://`, completes the TLS handshake: the
    /// preflight's check that the target answers (and that its certificate is accepted).
    pub(super) async fn handshake(&self) -> Result<(), String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(tls) = &self.tls {
            tls.connect(tcp).await.map_err(|e| {
                let hint = if tls.insecure {
                    ""
                } else {
                    " (for a self-signed certificate pass --insecure, or set insecure = true)"
                };
                format!("TLS handshake failed: {e}{hint}")
            })?;
        }
        Ok(())
    }

    /// The request URI for `path`: origin-form for HTTP/1.1, absolute for HTTP/2.
    fn uri(&self, path: &str, absolute: bool) -> Result<Uri, http::Error> {
        let mut full = String::with_capacity(self.base_path.len() + path.len());
        full.push_str(&self.base_path);
        full.push_str(path);
        if !absolute {
            return Ok(Uri::try_from(full)?);
        }
        let path_and_query = PathAndQuery::try_from(full)?;
        Uri::builder()
            .scheme(if self.tls.is_some() {
                Scheme::HTTPS
            } else {
                Scheme::HTTP
            })
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

/// One request as a worker sends it: everything but the target's own parts (host, base
/// path, credentials), which the connection adds.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    /// The method.
    pub method: Method,
    /// Path and query, relative to the target's base path.
    pub path: String,
    /// Extra headers (the request's own); `Host`, `User-Agent` and credentials are added.
    pub headers: HeaderMap,
    /// The body; empty for none.
    pub body: Bytes,
}

/// A response head, with the body drained so the connection can be reused.
#[derive(Debug)]
pub struct ResponseHead {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The first bytes of the body, when asked for (else empty).
    pub body: Vec<u8>,
}

/// What an exchange keeps of the response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    /// Whether the response headers are kept (an HTTP/1.1 response's are not even parsed
    /// into a map otherwise).
    pub headers: bool,
    /// How many of the body's first bytes are kept.
    pub body: usize,
}

/// An open connection and the protocol it speaks.
enum Link {
    /// HTTP/1.1, on breakerbox's own small client (`h1.rs`), driven in the worker's task.
    H1(H1),
    /// HTTP/2 on hyper; the connection runs on its own task (pings, flow control).
    H2(http2::SendRequest<Full<Bytes>>),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Link::H1(_) => "Link::H1",
            Link::H2(_) => "Link::H2",
        })
    }
}

impl Link {
    /// Whether the link can take another request; a close the server sent while the worker
    /// was thinking is noticed here, before a request is lost on it.
    async fn usable(&mut self) -> bool {
        match self {
            Link::H2(sender) => !sender.is_closed(),
            Link::H1(h1) => h1.usable().await,
        }
    }
}

/// A worker's connection, opened lazily and dropped on any failure.
#[derive(Debug, Default)]
pub struct Connection {
    link: Option<Link>,
    /// The last HTTP/2 request URI and the path it was built from: a worker that sends the
    /// same path again (the common case) reuses it instead of building and parsing it again.
    last_uri: Option<(String, Uri)>,
}

impl Connection {
    /// Sends one request and drains the response; the error is the failure kind's name.
    pub async fn exchange(
        &mut self,
        target: &Target,
        outgoing: &Outgoing,
        keep: Keep,
    ) -> Result<ResponseHead, &'static str> {
        let result = self.try_exchange(target, outgoing, keep).await;
        if result.is_err() {
            self.link = None;
        }
        result
    }

    /// Gives back the connection's buffers before a long pause (a virtual user thinking);
    /// the next exchange allocates them again.
    pub fn idle(&mut self) {
        if let Some(Link::H1(h1)) = &mut self.link {
            h1.idle();
        }
    }

    /// Forgets the connection (after a timeout cut an exchange short).
    pub fn discard(&mut self) {
        self.link = None;
    }

    async fn try_exchange(
        &mut self,
        target: &Target,
        outgoing: &Outgoing,
        keep: Keep,
    ) -> Result<ResponseHead, &'static str> {
        let usable = match &mut self.link {
            Some(link) => link.usable().await,
            None => false,
        };
        let link = match &mut self.link {
            Some(link) if usable => link,
            // Boxed: the TLS and HTTP/2 handshakes are large futures, and every virtual
            // user's task would otherwise carry their space between requests too.
            _ => self.link.insert(Box::pin(connect(target)).await?),
        };
        match link {
            Link::H1(h1) => {
                let head = RequestHead {
                    method: &outgoing.method,
                    base: &target.base_path,
                    path: &outgoing.path,
                    host: &target.host,
                    auth: target.auth.as_ref(),
                    headers: &outgoing.headers,
                    body: &outgoing.body,
                };
                let response = h1.exchange(&head, keep.headers, keep.body).await?;
                Ok(ResponseHead {
                    status: response.status,
                    headers: response.headers,
                    body: response.body,
                })
            }
            // Boxed for the same reason as the connect.
            Link::H2(sender) => {
                Box::pin(h2_exchange(
                    sender,
                    &mut self.last_uri,
                    target,
                    outgoing,
                    keep,
                ))
                .await
            }
        }
    }
}

/// Sends one request on an HTTP/2 connection and drains the response.
async fn h2_exchange(
    sender: &mut http2::SendRequest<Full<Bytes>>,
    last_uri: &mut Option<(String, Uri)>,
    target: &Target,
    outgoing: &Outgoing,
    keep: Keep,
) -> Result<ResponseHead, &'static str> {
    let uri = match last_uri {
        Some((path, uri)) if *path == outgoing.path => uri.clone(),
        _ => {
            let uri = target.uri(&outgoing.path, true).map_err(|_| "request")?;
            *last_uri = Some((outgoing.path.clone(), uri.clone()));
            uri
        }
    };
    let mut request = http::Request::new(Full::new(outgoing.body.clone()));
    *request.method_mut() = outgoing.method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = http::Version::HTTP_2;
    let headers = request.headers_mut();
    headers.clone_from(&outgoing.headers);
    headers.remove(http::header::HOST);
    if !headers.contains_key(http::header::USER_AGENT) {
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static("breakerbox"),
        );
    }
    if let Some(auth) = &target.auth {
        if !headers.contains_key(http::header::AUTHORIZATION) {
            headers.insert(http::header::AUTHORIZATION, auth.clone());
        }
    }
    sender.ready().await.map_err(|e| classify_hyper(&e))?;
    receive(sender.send_request(request), keep).await
}

/// Awaits an HTTP/2 response head and drains its body, keeping what `keep` asks for.
async fn receive(
    response: impl Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>>,
    keep: Keep,
) -> Result<ResponseHead, &'static str> {
    let response = response.await.map_err(|e| classify_hyper(&e))?;
    let (parts, mut body) = response.into_parts();
    let mut kept = Vec::new();
    while !body.is_end_stream() {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.map_err(|e| classify_hyper(&e))?;
        if kept.len() < keep.body {
            if let Some(data) = frame.data_ref() {
                let room = keep.body - kept.len();
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
    }
    Ok(ResponseHead {
        status: parts.status,
        headers: if keep.headers {
            parts.headers
        } else {
            HeaderMap::new()
        },
        body: kept,
    })
}

/// Opens a connection: TCP, then TLS for `https://`, then HTTP/2 if ALPN chose `h2`.
async fn connect(target: &Target) -> Result<Link, &'static str> {
    let stream = TcpStream::connect(target.addr)
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused => "connect_refused",
            _ => "connect",
        })?;
    let _ = stream.set_nodelay(true);
    let Some(tls) = &target.tls else {
        return Ok(Link::H1(H1::new(Stream::Tcp(stream))));
    };
    let stream = tls.connect(stream).await.map_err(|e| classify_tls(&e))?;
    if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
        return Ok(Link::H1(H1::new(Stream::Tls(Box::new(stream)))));
    }
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| classify_hyper(&e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::trace!(error = %e, "load connection ended");
        }
    });
    Ok(Link::H2(sender))
}

/// Names a TLS handshake failure: `tls` unless the connection itself broke.
fn classify_tls(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => "reset",
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => "closed",
        _ => "tls",
    }
}

/// Names a hyper failure: `reset`, `closed`, `protocol`, `body`, `tls` or `io`.
fn classify_hyper(e: &hyper::Error) -> &'static str {
    let mut source = e.source();
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return "tls";
        }
        if let Some(io) = s.downcast_ref::<io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return "tls";
            }
            return match io.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => "reset",
                io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => "closed",
                _ => "io",
            };
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        "closed"
    } else if e.is_parse() || e.is_parse_status() {
        "protocol"
    } else if e.is_body_write_aborted() || e.is_user() {
        "body"
    } else {
        "io"
    }
}

/// Decodes `%XX` escapes (as in a URL's userinfo); anything malformed is kept as written.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Standard base64 with padding (for `Authorization: Basic`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod credential_tests {
    use super::*;

    #[test]
    fn basic_auth_is_encoded_from_the_userinfo() {
        assert_eq!(base64(b"user:secret"), "dXNlcjpzZWNyZXQ=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(percent_decode("p%40ss%2"), b"p@ss%2".to_vec());
    }

    #[tokio::test]
    async fn credentials_leave_the_host_header_and_the_printed_url() {
        let t = Target::resolve("http://user:secret@127.0.0.1:9/base", false)
            .await
            .expect("resolves");
        assert_eq!(t.url, "http://user:***@127.0.0.1:9/base");
        assert_eq!(t.host, "127.0.0.1:9");
        assert_eq!(
            t.auth.as_ref().and_then(|a| a.to_str().ok()),
            Some("Basic dXNlcjpzZWNyZXQ=")
        );
        assert_eq!(t.raw_url(), "http://user:secret@127.0.0.1:9/base");
    }

    #[tokio::test]
    async fn uris_are_origin_form_for_http1_and_absolute_for_http2() {
        let t = Target::resolve("https://user:pw@127.0.0.1:9/base/", true)
            .await
            .expect("resolves");
        assert!(t.is_https());
        assert_eq!(t.uri("/a?b=1", false).expect("uri"), "/base/a?b=1");
        assert_eq!(
            t.uri("/a?b=1", true).expect("uri").to_string(),
            "https://127.0.0.1:9/base/a?b=1"
        );
    }
}
