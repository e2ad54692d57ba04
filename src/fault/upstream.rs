//! How the fault proxy reaches its upstream: plain TCP for `http://`, rustls (ring provider)
//! for `https://` with SNI set to the upstream's host. The trusted roots are Mozilla's and
//! the system's, plus an optional CA file; `insecure` accepts any certificate (self-signed
//! staging upstreams). A failed handshake is a connect error: the proxy answers 502.

use super::BoxError;
use crate::tls::{provider, read_certificates, roots, AcceptAnyCertificate, PemError};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How the proxy checks an `https://` upstream's certificate; both off by default.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTls {
    /// A PEM file of extra CAs to trust (an internal or self-signed staging CA).
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate: for self-signed staging upstreams only.
    pub insecure: bool,
}

/// Why the upstream connection settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    /// The CA file cannot be read or holds no certificate.
    #[error("upstream CA: {0}")]
    Ca(#[from] PemError),
    /// A certificate of the CA file is not a usable trust anchor.
    #[error("upstream CA {}: {source}", path.display())]
    BadCa {
        /// The CA file.
        path: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// rustls refused the protocol versions (cannot happen with the ring provider's defaults).
    #[error("upstream TLS setup: {0}")]
    Setup(#[from] rustls::Error),
}

/// Why one connection to the upstream failed past TCP connect.
#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error("\"{0}\" is not a valid TLS server name")]
    ServerName(String),
    #[error("TLS handshake with {host} failed: {source}")]
    Handshake { host: String, source: io::Error },
}

/// The connector of the proxy's upstream client: TCP, then TLS for `https://` URIs.
#[derive(Clone)]
pub(crate) struct UpstreamConnector {
    http: HttpConnector,
    tls: TlsConnector,
}

impl std::fmt::Debug for UpstreamConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConnector").finish_non_exhaustive()
    }
}

impl UpstreamConnector {
    /// A connector with the proxy's TCP settings and `tls` for `https://` upstreams.
    pub(crate) fn new(tls: &UpstreamTls) -> Result<UpstreamConnector, UpstreamTlsError> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(2)));
        // https:// URIs reach this connector too; TLS is added on top of the TCP stream.
        http.enforce_http(false);
        Ok(UpstreamConnector {
            http,
            tls: TlsConnector::from(Arc::new(client_config(tls)?)),
        })
    }
}

fn client_config(tls: &UpstreamTls) -> Result<ClientConfig, UpstreamTlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = roots();
        if let Some(path) = &tls.ca_file {
            for cert in read_certificates(path)? {
                roots.add(cert).map_err(|source| UpstreamTlsError::BadCa {
                    path: path.clone(),
                    source,
                })?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    // The proxy's client speaks HTTP/1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl tower::Service<http::Uri> for UpstreamConnector {
    type Response = TokioIo<UpstreamStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let connecting = self.http.call(uri);
        let tls = self.tls.clone();
        Box::pin(async move {
            let tcp = connecting.await?.into_inner();
            if !https {
                return Ok(TokioIo::new(UpstreamStream::Plain(tcp)));
            }
            let name = ServerName::try_from(host.clone())
                .map_err(|_| HandshakeError::ServerName(host.clone()))?;
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|source| HandshakeError::Handshake { host, source })?;
            Ok(TokioIo::new(UpstreamStream::Tls(Box::new(stream))))
        })
    }
}

/// A connection to the upstream, plain or TLS.
#[derive(Debug)]
pub(crate) enum UpstreamStream {
    /// `http://`.
    Plain(TcpStream),
    /// `https://` (boxed: the TLS state is large).
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        match self {
            UpstreamStream::Plain(tcp) => tcp.connected(),
            UpstreamStream::Tls(tls) => tls.get_ref().0.connected(),
        }
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Plain(s) => s.is_write_vectored(),
            UpstreamStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An error and its sources on one line, so a 502's body says why (a refused connect, a
/// certificate the proxy does not trust), not just "client error (Connect)".
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
