//! One HTTP/1.1 connection per worker, on raw hyper (as oha does): no pool, no hidden
//! retries, a reconnect after any failure.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Empty};
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
    /// The base URL as given.
    pub url: String,
    /// The resolved socket address.
    pub addr: SocketAddr,
    host: HeaderValue,
    base_path: String,
}

impl Target {
    /// Resolves `url` (`http://host:port[/base]`).
    pub async fn resolve(url: &str) -> Result<Target, LoadError> {
        let bad = |why: &str| LoadError::BadTarget {
            target: url.to_string(),
            why: why.to_string(),
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
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
        Ok(Target {
            url: url.to_string(),
            addr,
            host: HeaderValue::from_str(authority.as_str()).map_err(|_| bad("bad host"))?,
            base_path: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// The request URI path for `path` (base path prepended).
    fn path(&self, path: &str) -> String {
        format!("{}{}", self.base_path, path)
    }
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
    sender: Option<SendRequest<Empty<Bytes>>>,
}

impl Connection {
    /// Sends one request and drains the response; the error is the failure kind's name.
    pub async fn exchange(
        &mut self,
        target: &Target,
        method: &Method,
        path: &str,
        keep_body: usize,
    ) -> Result<ResponseHead, &'static str> {
        let result = self.try_exchange(target, method, path, keep_body).await;
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
        method: &Method,
        path: &str,
        keep_body: usize,
    ) -> Result<ResponseHead, &'static str> {
        let sender = match &mut self.sender {
            Some(s) if !s.is_closed() => s,
            _ => self.sender.insert(connect(target).await?),
        };
        sender.ready().await.map_err(|e| classify_hyper(&e))?;
        let request = http::Request::builder()
            .method(method.clone())
            .uri(target.path(path))
            .header(http::header::HOST, target.host.clone())
            .header(http::header::USER_AGENT, "breakerbox")
            .body(Empty::<Bytes>::new())
            .map_err(|_| "request")?;
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

async fn connect(target: &Target) -> Result<SendRequest<Empty<Bytes>>, &'static str> {
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
