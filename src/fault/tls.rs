//! TLS termination on the fault proxy's listener: a PEM certificate chain and key, HTTP/1.1
//! offered through ALPN. The TCP socket ([`FatedStream`]) stays under the TLS layer, so a
//! `reset` is still a real RST; a `malformed` answer is written as TLS application data
//! (then close_notify), which is what a client on this connection can read at all.

use super::kind::ConnectionEnd;
use super::proxy::FatedStream;
use super::ConnectionFate;
use crate::tls::{provider, read_certificates, read_private_key, PemError};
use rustls::ServerConfig;
use std::io::{self, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The certificate the proxy's listener presents: PEM files, the chain leaf first.
#[derive(Debug, Clone)]
pub struct ListenTls {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key of the chain's first certificate.
    pub key: PathBuf,
}

/// Why the listener's certificate or key is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ListenTlsError {
    /// A file cannot be read or holds no certificate or key.
    #[error("TLS: {0}")]
    Pem(#[from] PemError),
    /// The key does not fit the certificate, or rustls cannot use them.
    #[error("TLS: certificate {} with key {}: {source}", cert.display(), key.display())]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
}

impl ListenTls {
    /// Reads and checks both files: what the proxy's start and a drill's validation run.
    pub fn server_config(&self) -> Result<ServerConfig, ListenTlsError> {
        let certs = read_certificates(&self.cert)?;
        let key = read_private_key(&self.key)?;
        let rejected = |source| ListenTlsError::Rejected {
            cert: self.cert.clone(),
            key: self.key.clone(),
            source,
        };
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(rejected)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(rejected)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The acceptor for the proxy's listener.
pub(super) fn acceptor(tls: &ListenTls) -> Result<TlsAcceptor, ListenTlsError> {
    Ok(TlsAcceptor::from(Arc::new(tls.server_config()?)))
}

/// A TLS connection over a [`FatedStream`]; dropped after a `malformed` fault, it writes
/// the raw answer as TLS application data first.
pub(super) struct FatedTls {
    inner: TlsStream<FatedStream>,
}

impl FatedTls {
    /// Wraps an accepted connection.
    pub(super) fn new(inner: TlsStream<FatedStream>) -> Self {
        FatedTls { inner }
    }

    fn fate(&self) -> &ConnectionFate {
        self.inner.get_ref().0.fate()
    }
}

impl Drop for FatedTls {
    fn drop(&mut self) {
        let Some(ConnectionEnd::Raw(bytes)) = self.fate().get().cloned() else {
            return;
        };
        let (tcp, conn) = self.inner.get_mut();
        let written = conn.writer().write_all(&bytes);
        conn.send_close_notify();
        let mut socket = NonBlocking(tcp);
        let result = written.and_then(|()| {
            while conn.wants_write() {
                if conn.write_tls(&mut socket)? == 0 {
                    break;
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::debug!(error = %e, "could not write the malformed answer over TLS");
        }
    }
}

/// Writes to the socket without waiting: a few hundred bytes fit its send buffer.
struct NonBlocking<'a>(&'a FatedStream);

impl Write for NonBlocking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write_now(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for FatedTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FatedTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
