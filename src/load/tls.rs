//! TLS for `https://` targets: rustls on the ring provider (no aws-lc: it doubles the build
//! time), certificates checked against the system's roots plus Mozilla's, or not at all
//! with `--insecure` for self-signed staging certificates. ALPN offers `h2` first.

use crate::tls::{provider, roots, AcceptAnyCertificate};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How to reach one `https://` target: its name for SNI and verification, and the config.
#[derive(Clone)]
pub(super) struct TlsTarget {
    connector: TlsConnector,
    name: ServerName<'static>,
    /// Whether any certificate is accepted.
    pub(super) insecure: bool,
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTarget")
            .field("name", &self.name)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

impl TlsTarget {
    /// TLS settings for `host`; `insecure` skips certificate verification.
    pub(super) fn new(host: &str, insecure: bool) -> Result<TlsTarget, String> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| format!("\"{host}\" is not a valid TLS server name"))?;
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(roots())
                .with_no_client_auth()
        };
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsTarget {
            connector: TlsConnector::from(Arc::new(config)),
            name,
            insecure,
        })
    }

    /// Runs the TLS handshake over `tcp`.
    pub(super) async fn connect(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.connector.connect(self.name.clone(), tcp).await
    }
}
