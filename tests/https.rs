//! HTTPS targets: a loopback TLS server with a certificate generated here. With `insecure`
//! the load runs, over HTTP/2 when the server offers `h2` through ALPN and HTTP/1.1 when it
//! does not; without it the self-signed certificate is refused with a clear reason.

mod common;

use breakerbox::config::{self, EmbeddedProfiles};
use breakerbox::drill::{DrillError, PreparedDrill, Stop};
use breakerbox::load::LoadError;
use breakerbox::plan::Overrides;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Requests the server answered, by protocol.
#[derive(Default)]
struct Seen {
    http1: AtomicU64,
    http2: AtomicU64,
}

/// Starts a TLS server on loopback with a fresh self-signed certificate, offering `alpn`.
async fn tls_server(alpn: &[&[u8]]) -> (SocketAddr, Arc<Seen>) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![generated.cert.der().clone()], key)
    .expect("server config");
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let counts = counts.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let counter = if req.version() == http::Version::HTTP_2 {
                        &counts.http2
                    } else {
                        &counts.http1
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    async { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("ok")))) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn drill(addr: SocketAddr) -> config::Drill {
    drill_with(addr, "", "")
}

fn drill_with(addr: SocketAddr, extra: &str, tail: &str) -> config::Drill {
    let text = format!(
        r#"
name = "https"
target = "https://{addr}"
{extra}
request_timeout = "2s"

[[requests]]
name = "any"
path = "/item/{{{{random_int 1 9}}}}"

[[phases]]
name = "closed"
executor = "ramping-vus"
start_vus = 2
stages = [{{ duration = "1s", target = 2 }}]
think_time = "10ms"
{tail}
"#
    );
    config::parse_drill("https.toml", &text, &EmbeddedProfiles(&[])).expect("valid drill")
}

fn insecure() -> Overrides {
    Overrides {
        insecure: true,
        ..Overrides::default()
    }
}

#[tokio::test]
async fn https_with_insecure_speaks_http2_when_the_server_offers_it() {
    let (addr, seen) = tls_server(&[b"h2", b"http/1.1"]).await;
    let prepared = PreparedDrill::prepare(drill(addr), &insecure())
        .await
        .expect("insecure accepts the self-signed certificate");
    let result = prepared.execute(Stop::new()).await;
    let all = &result.phases[0].all;
    assert!(all.requests >= 10, "{} requests", all.requests);
    assert_eq!(all.errors, 0, "{:?}", all.failures);
    assert_eq!(seen.http1.load(Ordering::Relaxed), 0);
    assert!(seen.http2.load(Ordering::Relaxed) >= all.requests);
}

#[tokio::test]
async fn https_falls_back_to_http1_when_h2_is_not_offered() {
    let (addr, seen) = tls_server(&[b"http/1.1"]).await;
    let prepared = PreparedDrill::prepare(drill(addr), &insecure())
        .await
        .expect("insecure accepts the self-signed certificate");
    let result = prepared.execute(Stop::new()).await;
    let all = &result.phases[0].all;
    assert!(all.requests >= 10, "{} requests", all.requests);
    assert_eq!(all.errors, 0, "{:?}", all.failures);
    assert_eq!(seen.http2.load(Ordering::Relaxed), 0);
    assert!(seen.http1.load(Ordering::Relaxed) >= all.requests);
}

#[tokio::test]
async fn a_self_signed_certificate_is_refused_without_insecure() {
    let (addr, seen) = tls_server(&[b"h2", b"http/1.1"]).await;
    let refused = PreparedDrill::prepare(drill(addr), &Overrides::default()).await;
    let Err(e @ DrillError::Load(LoadError::Unreachable { .. })) = refused else {
        panic!("expected the certificate to be refused");
    };
    let message = e.to_string();
    assert!(message.contains("TLS handshake failed"), "{message}");
    assert!(message.contains("--insecure"), "{message}");
    assert!(e.is_invalid_run());
    // Each request on its own fails with the kind `tls`.
    let target = breakerbox::load::Target::resolve(&format!("https://{addr}"), false)
        .await
        .expect("resolves");
    assert_eq!(breakerbox::load::probe(&target, "/").await, Err("tls"));
    assert_eq!(
        seen.http1.load(Ordering::Relaxed) + seen.http2.load(Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn the_drill_key_insecure_accepts_the_certificate_too() {
    let (addr, _seen) = tls_server(&[b"http/1.1"]).await;
    // The preflight's relative health path is asked with the load engine's own client
    // (the control-plane client speaks http only).
    let drill = drill_with(addr, "insecure = true", "[preflight]\nhealth = \"/health\"");
    let prepared = PreparedDrill::prepare(drill, &Overrides::default())
        .await
        .expect("insecure = true accepts the certificate, and the health check passes");
    assert!(prepared.target_url().starts_with("https://"));
    let bad = config::parse_drill(
        "bad.toml",
        "target = \"https://127.0.0.1:1\"\ninsecure = \"yes\"\n",
        &EmbeddedProfiles(&[]),
    );
    let message = bad.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.starts_with("bad.toml:2:"), "{message}");
}

#[tokio::test]
async fn quick_mode_loads_an_https_url() {
    let (addr, seen) = tls_server(&[b"h2", b"http/1.1"]).await;
    let url = format!("https://{addr}/hello");
    let args =
        ["load", &url, "--insecure", "-c", "2", "-d", "1s", "--json"].map(std::ffi::OsString::from);
    let finished = tokio::task::spawn_blocking(move || common::run_args(&args))
        .await
        .expect("ran");
    assert_eq!(finished.code, Some(0), "{finished}");
    let report: serde_json::Value =
        serde_json::from_str(finished.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {finished}"));
    let requests = report["requests"].as_u64().expect("requests");
    assert!(requests > 0, "{finished}");
    assert_eq!(report["errors"], 0, "{finished}");
    assert!(seen.http2.load(Ordering::Relaxed) >= requests);
}
