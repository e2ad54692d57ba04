//! The fault proxy: an HTTP/1 reverse proxy with a [`FaultLayer`] in front of the upstream.
//!
//! The service under test points its dependency URL here. Requests are forwarded to the
//! upstream (a real service or the stub) unless an active fault answers, delays or resets
//! them first. Resets are real TCP RSTs: the connection's socket is closed with linger 0.
//! The upstream may be `https://` ([`super::upstream`]), and the listener may terminate TLS
//! itself ([`super::tls`]); either way the TCP socket stays innermost, so resets stay RSTs.

use super::kind::ConnectionEnd;
use super::tls::{FatedTls, ListenTls, ListenTlsError};
use super::upstream::{error_chain, UpstreamConnector, UpstreamTls, UpstreamTlsError};
use super::{
    ConnectionFate, FaultLayer, FaultService, LiveSession, ProxyBody, Tap, UpstreamOutcome,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
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
    #[error("fault proxy upstream \"{0}\" is not an http:// or https:// base URL")]
    Upstream(String),
    /// The upstream CA file is unusable.
    #[error("fault proxy {0}")]
    UpstreamTls(#[from] UpstreamTlsError),
    /// The listener's certificate or key is unusable.
    #[error("fault proxy {0}")]
    ListenTls(#[from] ListenTlsError),
}

/// Settings of the proxy beyond where it listens and forwards; the defaults are plain HTTP
/// on both sides and the shared header-read timeout.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// How an `https://` upstream's certificate is checked.
    pub upstream_tls: UpstreamTls,
    /// Terminate TLS on the listener with this certificate; `None` listens in plain HTTP.
    pub listen_tls: Option<ListenTls>,
    /// How long a client may take to send a request's headers (slowloris guard), idle
    /// keep-alive time included; also bounds a TLS client's handshake.
    pub header_read_timeout: Duration,
    /// Which HTTP implementation forwards to an `http://` upstream.
    pub engine: Engine,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            upstream_tls: UpstreamTls::default(),
            listen_tls: None,
            header_read_timeout: crate::accept::HEADER_READ_TIMEOUT,
            engine: Engine::from_env(),
        }
    }
}

/// Which HTTP implementation the proxy forwards with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The lean hand-written HTTP/1.1 forwarder (`super::h1`) for `http://` upstreams;
    /// `https://` upstreams are still forwarded by hyper.
    #[default]
    Raw,
    /// hyper on both sides, for every upstream.
    Hyper,
}

impl Engine {
    /// [`Engine::Hyper`] when `BREAKERBOX_PROXY_ENGINE=hyper` (a switch back, should the raw
    /// forwarder misbehave), else [`Engine::Raw`].
    pub fn from_env() -> Engine {
        match std::env::var("BREAKERBOX_PROXY_ENGINE") {
            Ok(v) if v.eq_ignore_ascii_case("hyper") => Engine::Hyper,
            _ => Engine::Raw,
        }
    }
}

/// A running fault proxy; dropping it stops accepting connections.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    /// `http` or `https` (TLS terminated here).
    scheme: &'static str,
    live: Arc<LiveSession>,
    accept_loop: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on `listen` forwarding to `upstream`, applying `layer`. The clock and
    /// tap are the layer's live session's, so faults installed later bring their own.
    pub async fn start(
        listen: SocketAddr,
        upstream: &str,
        layer: FaultLayer,
        upstream_timeout: Duration,
    ) -> Result<FaultProxy, ProxyError> {
        let options = ProxyOptions::default();
        Self::start_with(listen, upstream, layer, upstream_timeout, options).await
    }

    /// [`FaultProxy::start`] with `options`: TLS to the upstream or on the listener.
    pub async fn start_with(
        listen: SocketAddr,
        upstream: &str,
        layer: FaultLayer,
        upstream_timeout: Duration,
        options: ProxyOptions,
    ) -> Result<FaultProxy, ProxyError> {
        let connector = UpstreamConnector::new(&options.upstream_tls)?;
        let live = layer.live().clone();
        let forward = Forward::new(upstream, live.clone(), upstream_timeout, connector)?;
        let raw = match options.engine {
            Engine::Raw => upstream.parse::<http::Uri>().ok().and_then(|uri| {
                super::h1::Forwarder::new(
                    &uri,
                    layer.injector().clone(),
                    upstream_timeout,
                    options.header_read_timeout,
                )
            }),
            Engine::Hyper => None,
        }
        .map(Arc::new);
        let tls = options
            .listen_tls
            .as_ref()
            .map(super::tls::acceptor)
            .transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
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
        let accept_loop = tokio::spawn(accept_loop(
            listener,
            service,
            raw,
            tls,
            options.header_read_timeout,
        ));
        crate::accept::warn_if_exposed("fault proxy", addr);
        tracing::info!(%addr, scheme, upstream, "fault proxy listening");
        Ok(FaultProxy {
            addr,
            scheme,
            live,
            accept_loop,
        })
    }

    /// The base URL to point a service's dependency at.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The address it listens on (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The tap of the proxy's current session.
    pub fn tap(&self) -> Arc<Tap> {
        self.live.load().tap.clone()
    }

    /// Every decision the current session's log still holds, oldest first: each rule's
    /// verdict on each request it applied to, with the reason.
    pub fn decisions(&self) -> super::decisions::DecisionPage {
        self.live.load().decisions.page(0, usize::MAX)
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

/// What serves a connection: hyper with the fault service, or the raw forwarder.
enum Server {
    Hyper(FaultService<Forward>),
    Raw(Arc<super::h1::Forwarder>, ConnectionFate),
}

impl Server {
    async fn serve<I>(self, io: I, header_read_timeout: Duration)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        match self {
            Server::Hyper(service) => serve(io, service, header_read_timeout).await,
            Server::Raw(forwarder, fate) => super::h1::serve(io, forwarder, fate).await,
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    service: FaultService<Forward>,
    raw: Option<Arc<super::h1::Forwarder>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    header_read_timeout: Duration,
) {
    crate::accept::accept_forever(listener, "fault proxy", |stream, slot| {
        let fate = ConnectionFate::default();
        let server = match &raw {
            Some(forwarder) => Server::Raw(forwarder.clone(), fate.clone()),
            None => Server::Hyper(service.for_connection(fate.clone())),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let fated = FatedStream {
                inner: stream,
                fate,
                raw_on_drop: tls.is_none(),
            };
            match tls {
                None => server.serve(fated, header_read_timeout).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(fated);
                    match tokio::time::timeout(header_read_timeout, handshake).await {
                        Ok(Ok(stream)) => {
                            server
                                .serve(FatedTls::new(stream), header_read_timeout)
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "fault proxy TLS handshake failed")
                        }
                        Err(_) => tracing::debug!("fault proxy TLS handshake timed out"),
                    }
                }
            }
        });
    })
    .await
}

/// Serves HTTP/1 on one accepted connection until it ends.
async fn serve<I>(io: I, service: FaultService<Forward>, header_read_timeout: Duration)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let hyper_service = hyper_util::service::TowerToHyperService::new(service);
    // A timer, so the header-read timeout holds: without one hyper ignores it.
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(io), hyper_service)
        .await
    {
        tracing::debug!(error = %e, "fault proxy connection ended");
    }
}

/// A TCP stream that ends as a fault decided when it is dropped: with an RST instead of a
/// FIN, or after raw bytes (a malformed answer) written straight to the socket.
pub(super) struct FatedStream {
    inner: TcpStream,
    fate: ConnectionFate,
    /// Whether a raw ending is written here; under TLS, [`FatedTls`] writes it as TLS data.
    raw_on_drop: bool,
}

impl FatedStream {
    /// Writes `bytes` now without waiting (a few hundred fit the socket's send buffer).
    pub(super) fn try_write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        self.inner.try_write(bytes)
    }

    /// How the connection must end, once a fault decided it.
    pub(super) fn fate(&self) -> &ConnectionFate {
        &self.fate
    }
}

impl Drop for FatedStream {
    fn drop(&mut self) {
        match self.fate.get() {
            Some(ConnectionEnd::Reset) => {
                if let Err(e) = self.inner.set_zero_linger() {
                    tracing::debug!(error = %e, "could not arm the reset");
                }
            }
            Some(ConnectionEnd::Raw(bytes)) if self.raw_on_drop => {
                // A few hundred bytes fit the socket's send buffer: one non-blocking write.
                if let Err(e) = self.inner.try_write(bytes) {
                    tracing::debug!(error = %e, "could not write the malformed answer");
                }
            }
            Some(ConnectionEnd::Raw(_) | ConnectionEnd::Empty) | None => {}
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
    client: Client<UpstreamConnector, Incoming>,
    /// `http` or `https`.
    scheme: http::uri::Scheme,
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
        connector: UpstreamConnector,
    ) -> Result<Forward, ProxyError> {
        let uri: http::Uri = upstream
            .parse()
            .map_err(|_| ProxyError::Upstream(upstream.to_string()))?;
        let scheme = match uri.scheme_str() {
            Some("http") => http::uri::Scheme::HTTP,
            Some("https") => http::uri::Scheme::HTTPS,
            _ => return Err(ProxyError::Upstream(upstream.to_string())),
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| ProxyError::Upstream(upstream.to_string()))?;
        let client = Client::builder(TokioExecutor::new())
            // A resent request would be an upstream attempt the tap never saw.
            .retry_canceled_requests(false)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Forward {
            inner: Arc::new(ForwardInner {
                client,
                scheme,
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
            .scheme(self.scheme.clone())
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
                    // An upstream that dies mid-body: the client's body fails too (hyper
                    // aborts the connection), and the tap says so.
                    let cut = move |e: hyper::Error| {
                        tracing::debug!(error = %e, "upstream response body broke off");
                        if let Some(at) = session.elapsed() {
                            session.tap.cut(at);
                        }
                        e.into()
                    };
                    Ok(response.map(|body| body.map_err(cut).boxed()))
                }
                Ok(Err(e)) if request_body_failed(&e) => {
                    // The client's body broke (bad chunked encoding, a client gone
                    // mid-upload): its fault, not the upstream's, so no 502 and no upstream
                    // error; counted as the 400 the client gets.
                    let why = error_chain(&e);
                    tracing::debug!(error = %why, "request body unreadable");
                    if let Some(at) = answered {
                        session.tap.answered(at, UpstreamOutcome::Status(400));
                    }
                    Ok(status_answer(
                        http::StatusCode::BAD_REQUEST,
                        format!("request body unreadable: {why}"),
                    ))
                }
                Ok(Err(e)) => {
                    if let Some(at) = answered {
                        session.tap.answered(at, UpstreamOutcome::Error);
                    }
                    let why = error_chain(&e);
                    tracing::debug!(error = %why, "upstream unreachable");
                    Ok(bad_gateway(format!("upstream unreachable: {why}")))
                }
            }
        })
    }
}

/// Whether forwarding failed on the request's own body (hyper's "user body" error).
fn request_body_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_user)
        {
            return true;
        }
        source = e.source();
    }
    false
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
