//! One HTTP/1.1 connection per worker, on raw hyper (as oha does): no pool, no hidden
//! retries, a reconnect after any failure.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::error::Error as _;
use std::io;
use std::net::SocketAddr;
use tokio::net::TcpStream;

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
    /// `Basic …` from the URL's `user:password@`, sent on every request.
    auth: Option<HeaderValue>,
    base_path: String,
}

impl Target {
    /// Resolves `url` (`http://host:port[/base]`).
    pub async fn resolve(raw: &str) -> Result<Target, LoadError> {
        let masked = crate::config::guard::mask_credentials(raw);
        let url = masked.as_str();
        let bad = |why: &str| LoadError::BadTarget {
            target: url.to_string(),
            why: why.to_string(),
        };
        let uri: http::Uri = raw.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("only http:// targets are supported"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let port = authority.port_u16().unwrap_or(80);
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
        Ok(Target {
            url: url.to_string(),
            addr,
            raw: raw.to_string(),
            host: HeaderValue::from_str(host_port).map_err(|_| bad("bad host"))?,
            auth,
            base_path: uri.path().trim_end_matches('/').to_string(),
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
        let scheme = self.raw.split("://").next().unwrap_or("http");
        let authority = self.host.to_str().ok()?;
        super::redirect::resolve(location, current, scheme, authority, &self.base_path)
    }

    /// The request URI path for `path` (base path prepended).
    fn path(&self, path: &str) -> String {
        format!("{}{}", self.base_path, path)
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

/// A worker's connection, opened lazily and dropped on any failure.
#[derive(Debug, Default)]
pub struct Connection {
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// Sends one request and drains the response; the error is the failure kind's name.
    pub async fn exchange(
        &mut self,
        target: &Target,
        outgoing: &Outgoing,
        keep_body: usize,
    ) -> Result<ResponseHead, &'static str> {
        let result = self.try_exchange(target, outgoing, keep_body).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    /// Forgets the connection (after a timeout cut an exchange short).
    pub fn discard(&mut self) {
        self.sender = None;
    }

    async fn try_exchange(
        &mut self,
        target: &Target,
        outgoing: &Outgoing,
        keep_body: usize,
    ) -> Result<ResponseHead, &'static str> {
        let sender = match &mut self.sender {
            Some(s) if !s.is_closed() => s,
            _ => self.sender.insert(connect(target).await?),
        };
        sender.ready().await.map_err(|e| classify_hyper(&e))?;
        let mut request = http::Request::builder()
            .method(outgoing.method.clone())
            .uri(target.path(&outgoing.path))
            .body(Full::new(outgoing.body.clone()))
            .map_err(|_| "request")?;
        let headers = request.headers_mut();
        headers.clone_from(&outgoing.headers);
        headers.insert(http::header::HOST, target.host.clone());
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
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| classify_hyper(&e))?;
        let (parts, mut body) = response.into_parts();
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| classify_hyper(&e))?;
            if kept.len() < keep_body {
                if let Some(data) = frame.data_ref() {
                    let room = keep_body - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
        }
        Ok(ResponseHead {
            status: parts.status,
            headers: parts.headers,
            body: kept,
        })
    }
}

async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>, &'static str> {
    let stream = TcpStream::connect(target.addr)
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused => "connect_refused",
            _ => "connect",
        })?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| classify_hyper(&e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::trace!(error = %e, "load connection ended");
        }
    });
    Ok(sender)
}

/// Names a hyper failure: `reset`, `closed`, `protocol`, `body` or `io`.
fn classify_hyper(e: &hyper::Error) -> &'static str {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
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
        let t = Target::resolve("http://user:secret@127.0.0.1:9/base")
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
}
