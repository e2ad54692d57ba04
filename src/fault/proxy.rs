//! The fault proxy: an HTTP/1 reverse proxy with a [`FaultLayer`] in front of the upstream.
//!
//! The service under test points its dependency URL here. Requests are forwarded to the
//! upstream (a real service or the stub) unless an active fault answers, delays or resets
//! them first. Resets are real TCP RSTs: the connection's socket is closed with linger 0.

use super::kind::ConnectionEnd;
use super::{
    ConnectionFate, FaultLayer, FaultService, LiveSession, ProxyBody, Tap, UpstreamOutcome,
};
use crate::clock::RunClock;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tower::Layer;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The listen address is taken or not ours.
    #[error("fault proxy cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The upstream base URL is unusable.
    #[error("fault proxy upstream \"{0}\" is not an http:// base URL")]
    Upstream(String),
}

/// A running fault proxy; dropping it stops accepting connections.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    live: Arc<LiveSession>,
    accept_loop: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on `listen` forwarding to `upstream`, applying `layer` on `clock`.
    ///
    /// `clock` and `tap` must be the ones `layer` was made with: the proxy reads both from
    /// the layer's live session, so faults installed later bring their own.
    pub async fn start(
        listen: SocketAddr,
        upstream: &str,
        layer: FaultLayer,
        clock: RunClock,
        tap: Arc<Tap>,
        upstream_timeout: Duration,
    ) -> Result<FaultProxy, ProxyError> {
        let _ = (clock, tap);
        let live = layer.live().clone();
        let forward = Forward::new(upstream, live.clone(), upstream_timeout)?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ProxyError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: listen,
            source,
        })?;
        let service = layer.layer(forward);
        let accept_loop = tokio::spawn(accept_loop(listener, service));
        crate::accept::warn_if_exposed("fault proxy", addr);
        tracing::info!(%addr, upstream, "fault proxy listening");
        Ok(FaultProxy {
            addr,
            live,
            accept_loop,
        })
    }

    /// The base URL to point a service's dependency at.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The tap of the proxy's current session.
    pub fn tap(&self) -> Arc<Tap> {
        self.live.load().tap.clone()
    }

    /// The live session: installing one changes the faults of the running proxy.
    pub fn live(&self) -> &Arc<LiveSession> {
        &self.live
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept_loop(listener: TcpListener, service: FaultService<Forward>) {
    crate::accept::accept_forever(listener, "fault proxy", |stream, slot| {
        let fate = ConnectionFate::default();
        let service = service.for_connection(fate.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let io = TokioIo::new(FatedStream {
                inner: stream,
                fate,
            });
            let hyper_service = hyper_util::service::TowerToHyperService::new(service);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, hyper_service)
                .await
            {
                tracing::debug!(error = %e, "fault proxy connection ended");
            }
        });
    })
    .await
}

/// A TCP stream that ends as a fault decided when it is dropped: with an RST instead of a
/// FIN, or after raw bytes (a malformed answer) written straight to the socket.
struct FatedStream {
    inner: TcpStream,
    fate: ConnectionFate,
}

impl Drop for FatedStream {
    fn drop(&mut self) {
        match self.fate.get() {
            Some(ConnectionEnd::Reset) => {
                if let Err(e) = self.inner.set_zero_linger() {
                    tracing::debug!(error = %e, "could not arm the reset");
                }
            }
            Some(ConnectionEnd::Raw(bytes)) => {
                // A few hundred bytes fit the socket's send buffer: one non-blocking write.
                if let Err(e) = self.inner.try_write(bytes) {
                    tracing::debug!(error = %e, "could not write the malformed answer");
                }
            }
            Some(ConnectionEnd::Empty) | None => {}
        }
    }
}

impl AsyncRead for FatedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FatedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Forwards a request to the upstream and counts the answer in the tap.
///
/// Cloned for every request (tower services are), so its state sits behind one `Arc`.
#[derive(Debug, Clone)]
pub struct Forward {
    inner: Arc<ForwardInner>,
}

#[derive(Debug)]
struct ForwardInner {
    client: Client<HttpConnector, Incoming>,
    authority: http::uri::Authority,
    host: Option<http::HeaderValue>,
    base_path: String,
    /// Whose clock and tap count what is forwarded.
    live: Arc<LiveSession>,
    /// Longest wait for the upstream's response headers.
    timeout: Duration,
}

impl Forward {
    fn new(
        upstream: &str,
        live: Arc<LiveSession>,
        timeout: Duration,
    ) -> Result<Forward, ProxyError> {
        let uri: http::Uri = upstream
            .parse()
            .map_err(|_| ProxyError::Upstream(upstream.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(ProxyError::Upstream(upstream.to_string()));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| ProxyError::Upstream(upstream.to_string()))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let client = Client::builder(TokioExecutor::new())
            // A resent request would be an upstream attempt the tap never saw.
            .retry_canceled_requests(false)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Forward {
            inner: Arc::new(ForwardInner {
                client,
                host: http::HeaderValue::from_str(authority.as_str()).ok(),
                authority,
                base_path: uri.path().trim_end_matches('/').to_string(),
                live,
                timeout,
            }),
        })
    }
}

impl ForwardInner {
    fn upstream_uri(&self, original: &http::Uri) -> Result<http::Uri, http::Error> {
        let path_and_query = original.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        http::Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(format!("{}{}", self.base_path, path_and_query))
            .build()
    }
}

impl tower::Service<http::Request<Incoming>> for Forward {
    type Response = http::Response<ProxyBody>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<Incoming>) -> Self::Future {
        let this = self.inner.clone();
        Box::pin(async move {
            let session = this.live.load();
            match this.upstream_uri(request.uri()) {
                Ok(uri) => *request.uri_mut() = uri,
                Err(e) => return Ok(bad_gateway(format!("cannot build upstream URI: {e}"))),
            }
            if let Some(host) = &this.host {
                request
                    .headers_mut()
                    .insert(http::header::HOST, host.clone());
            }
            strip_hop_by_hop(request.headers_mut());
            // Before the run starts (preflight, warm connections) nothing is counted.
            if let Some(sent) = session.elapsed() {
                session.tap.forwarded(sent);
            }
            let result = tokio::time::timeout(this.timeout, this.client.request(request)).await;
            let answered = session.elapsed();
            match result {
                Err(_elapsed) => {
                    tracing::warn!(
                        timeout = ?this.timeout,
                        "upstream gave no response headers within the proxy's upstream timeout"
                    );
                    if let Some(at) = answered {
                        session.tap.answered(at, UpstreamOutcome::Timeout);
                    }
                    Ok(status_answer(
                        http::StatusCode::GATEWAY_TIMEOUT,
                        format!("upstream timed out after {:?}", this.timeout),
                    ))
                }
                Ok(Ok(mut response)) => {
                    if let Some(at) = answered {
                        let status = response.status().as_u16();
                        session.tap.answered(at, UpstreamOutcome::Status(status));
                    }
                    strip_hop_by_hop(response.headers_mut());
                    Ok(response.map(|body| body.map_err(Into::into).boxed()))
                }
                Ok(Err(e)) => {
                    if let Some(at) = answered {
                        session.tap.answered(at, UpstreamOutcome::Error);
                    }
                    Ok(bad_gateway(format!("upstream unreachable: {e}")))
                }
            }
        })
    }
}

/// Removes the headers that describe one hop's connection, not the message (RFC 9110 §7.6.1).
fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    let named: Vec<http::HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| http::HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

fn bad_gateway(message: String) -> http::Response<ProxyBody> {
    status_answer(http::StatusCode::BAD_GATEWAY, message)
}

fn status_answer(status: http::StatusCode, message: String) -> http::Response<ProxyBody> {
    let body = Full::new(Bytes::from(message))
        .map_err(|never| match never {})
        .boxed();
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response
}
