//! The fault proxy and TLS: an `https://` upstream (trusted through a CA file, refused
//! without it), TLS terminated on the proxy's listener with faults still applied over it,
//! and the CLI's messages for unusable certificate files. Certificates are made here.

mod common;

use breakerbox::config::{self, parse_profile, StubSettings};
use breakerbox::fault::{FaultLayer, FaultProxy, ListenTls, ProxyOptions, Rules, Tap, UpstreamTls};
use breakerbox::stub::Stub;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A self-signed certificate for `localhost` and `127.0.0.1`, also written as PEM files.
struct Cert {
    der: CertificateDer<'static>,
    key: Vec<u8>,
    cert_file: PathBuf,
    key_file: PathBuf,
}

fn cert(dir: &str) -> Cert {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("certificate");
    let dir = common::scratch(dir);
    let cert_file = dir.join("cert.pem");
    let key_file = dir.join("key.pem");
    std::fs::write(&cert_file, generated.cert.pem()).expect("writes cert");
    std::fs::write(&key_file, generated.signing_key.serialize_pem()).expect("writes key");
    Cert {
        der: generated.cert.der().clone(),
        key: generated.signing_key.serialize_der(),
        cert_file,
        key_file,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An HTTPS upstream on loopback answering `tls path=… sni=… host=…`.
async fn https_upstream(cert: &Cert) -> SocketAddr {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone()));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], key)
        .expect("server config");
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let sni = stream.get_ref().1.server_name().unwrap_or("-").to_string();
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let host = req
                        .headers()
                        .get(http::header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("-")
                        .to_string();
                    let body = format!("tls path={} sni={sni} host={host}", req.uri().path());
                    async move { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Faults of an inline profile, always on.
fn rules(text: &str) -> Rules {
    let p = parse_profile("test", "test.toml", text).expect("valid profile");
    Rules::all_in(p.faults, Duration::ZERO, Duration::from_secs(600))
}

async fn proxy(upstream: &str, rules: Rules, options: ProxyOptions) -> (FaultProxy, Arc<Tap>) {
    let layer = FaultLayer::starting_now(rules, 1, Duration::from_secs(60));
    let tap = layer.tap();
    let proxy = FaultProxy::start_with(
        "127.0.0.1:0".parse().expect("addr"),
        upstream,
        layer,
        Duration::from_secs(10),
        options,
    )
    .await
    .expect("proxy starts");
    (proxy, tap)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .retry(reqwest::retry::never())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test]
async fn an_https_upstream_trusted_through_a_ca_file_is_proxied_with_sni_and_faults() {
    let cert = cert("tls-upstream-ca");
    let upstream = https_upstream(&cert).await;
    let options = ProxyOptions {
        upstream_tls: UpstreamTls {
            ca_file: Some(cert.cert_file.clone()),
            insecure: false,
        },
        ..ProxyOptions::default()
    };
    let base = format!("https://localhost:{}", upstream.port());
    let profile = "[[faults]]\nkind = \"status\"\nstatus = 503\nbody = \"down\"\npath = \"/fail\"";
    let (proxy, tap) = proxy(&base, rules(profile), options).await;
    let client = client();

    let response = client
        .get(format!("{}/hello", proxy.url()))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    let host = format!("host=localhost:{}", upstream.port());
    assert!(body.starts_with("tls path=/hello sni=localhost "), "{body}");
    assert!(body.ends_with(&host), "{body}");

    let response = client
        .get(format!("{}/fail", proxy.url()))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 503);
    assert_eq!(response.text().await.expect("body"), "down");

    let snapshot = tap.snapshot();
    let ok: u64 = snapshot.iter().map(|b| b.upstream_ok).sum();
    let errors: u64 = snapshot.iter().map(|b| b.upstream_errors).sum();
    assert_eq!((ok, errors), (1, 0));
}

#[tokio::test]
async fn an_untrusted_upstream_certificate_is_a_502_naming_it_and_an_upstream_error() {
    let cert = cert("tls-upstream-untrusted");
    let upstream = https_upstream(&cert).await;
    let base = format!("https://localhost:{}", upstream.port());
    let (proxy, tap) = proxy(&base, Rules::default(), ProxyOptions::default()).await;
    let response = client()
        .get(format!("{}/hello", proxy.url()))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 502);
    let body = response.text().await.expect("body");
    assert!(body.contains("invalid peer certificate"), "{body}");
    assert!(body.contains("localhost"), "{body}");
    let errors: u64 = tap.snapshot().iter().map(|b| b.upstream_errors).sum();
    assert_eq!(errors, 1);

    // The insecure switch accepts the same certificate.
    let options = ProxyOptions {
        upstream_tls: UpstreamTls {
            ca_file: None,
            insecure: true,
        },
        ..ProxyOptions::default()
    };
    let (insecure, _) = proxy_again(&base, options).await;
    let response = client()
        .get(format!("{}/again", insecure.url()))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
}

async fn proxy_again(base: &str, options: ProxyOptions) -> (FaultProxy, Arc<Tap>) {
    proxy(base, Rules::default(), options).await
}

/// A TLS client trusting `cert` only, offering HTTP/1.1.
fn tls_connector(cert: &Cert) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).expect("trust anchor");
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One `GET path` over TLS with hyper; the status and body, or the error.
async fn https_get(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    path: &str,
) -> Result<(u16, String), Box<dyn std::error::Error + Send + Sync>> {
    let tcp = TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost")?.to_owned(), tcp)
        .await?;
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "the proxy offers HTTP/1.1 through ALPN"
    );
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header(http::header::HOST, "localhost")
        .body(http_body_util::Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

async fn stub() -> Stub {
    Stub::start(&StubSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        routes: Vec::new(),
    })
    .await
    .expect("stub starts")
}

#[tokio::test]
async fn the_proxy_terminates_tls_and_a_reset_fault_is_still_a_tcp_reset() {
    let cert = cert("tls-terminate");
    let stub = stub().await;
    let options = ProxyOptions {
        listen_tls: Some(ListenTls {
            cert: cert.cert_file.clone(),
            key: cert.key_file.clone(),
        }),
        ..ProxyOptions::default()
    };
    let (proxy, _tap) = proxy(
        &stub.url(),
        rules("[[faults]]\nkind = \"reset\"\npath = \"/reset\""),
        options,
    )
    .await;
    assert!(
        proxy.url().starts_with("https://127.0.0.1:"),
        "{}",
        proxy.url()
    );
    let addr: SocketAddr = proxy
        .url()
        .trim_start_matches("https://")
        .parse()
        .expect("addr");
    let connector = tls_connector(&cert);

    let (status, body) = https_get(&connector, addr, "/item/42")
        .await
        .expect("answered");
    assert_eq!(status, 200);
    assert!(body.contains("\"id\":\"42\""), "{body}");
    assert_eq!(stub.served(), 1);

    let err = https_get(&connector, addr, "/reset/1")
        .await
        .expect_err("no response");
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err.as_ref());
    let mut saw_reset = false;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            saw_reset |= io.kind() == std::io::ErrorKind::ConnectionReset;
        }
        source = s.source();
    }
    assert!(saw_reset, "expected a TCP reset under TLS, got: {err:?}");
    assert_eq!(stub.served(), 1, "the reset request never reached the stub");

    // A plain-HTTP client is not served by the TLS listener, and the proxy carries on.
    let plain = reqwest::Client::builder()
        .no_proxy()
        .retry(reqwest::retry::never())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let refused = plain.get(format!("http://{addr}/item/1")).send().await;
    assert!(refused.is_err() || refused.is_ok_and(|r| r.status() == 400));
    let (status, _) = https_get(&connector, addr, "/item/7")
        .await
        .expect("answered");
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_malformed_fault_over_tls_arrives_as_tls_application_data() {
    let cert = cert("tls-malformed");
    let stub = stub().await;
    let options = ProxyOptions {
        listen_tls: Some(ListenTls {
            cert: cert.cert_file.clone(),
            key: cert.key_file.clone(),
        }),
        ..ProxyOptions::default()
    };
    let (proxy, _tap) = proxy(
        &stub.url(),
        rules("[[faults]]\nkind = \"malformed\""),
        options,
    )
    .await;
    let addr: SocketAddr = proxy
        .url()
        .trim_start_matches("https://")
        .parse()
        .expect("addr");
    let tcp = TcpStream::connect(addr).await.expect("connects");
    let mut tls = tls_connector(&cert)
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake");
    tls.write_all(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("writes");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer))
        .await
        .expect("the proxy closes the connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.contains("\r\n\r\nZZ\r\n"),
        "read {read:?}: {answer:?}"
    );
    assert_eq!(stub.served(), 0);
}

#[test]
fn the_cli_names_a_missing_or_unusable_tls_file() {
    let cert = cert("tls-cli");
    let cert_file = cert.cert_file.to_str().expect("utf-8 path");
    let missing = common::scratch("tls-cli-missing").join("nope.pem");
    let missing = missing.to_str().expect("utf-8 path");
    let base = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "http://127.0.0.1:9",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<std::ffi::OsString> = base.iter().chain(extra).map(Into::into).collect();
        common::run_args(&args)
    };

    let done = run(&["--tls-cert", cert_file, "--tls-key", missing]);
    assert_eq!(done.code, Some(2), "{done}");
    assert!(
        done.stderr.contains(&format!("cannot read {missing}")),
        "{done}"
    );
    assert_eq!(done.stderr.trim().lines().count(), 1, "one line: {done}");

    // The certificate given as its own key: readable, but no key in it.
    let done = run(&["--tls-cert", cert_file, "--tls-key", cert_file]);
    assert_eq!(done.code, Some(2), "{done}");
    assert!(
        done.stderr
            .contains(&format!("{cert_file} holds no PEM private key")),
        "{done}"
    );

    let done = run(&["--tls-cert", cert_file]);
    assert_eq!(done.code, Some(2), "{done}");
    assert!(done.stderr.contains("--tls-cert needs --tls-key"), "{done}");
}

fn load_drill(dir: &std::path::Path, proxy: &str) -> Result<config::Drill, config::ConfigError> {
    let text = format!(
        "target = \"http://127.0.0.1:1\"\n[parts]\nproxy = true\n[proxy]\n{proxy}\n[[requests]]\nname = \"r\"\npath = \"/\"\n[[phases]]\nname = \"p\"\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"1s\"\n"
    );
    let path = dir.join("drill.toml");
    std::fs::write(&path, text).expect("write");
    config::load_drill(&path)
}

#[test]
fn drill_tls_keys_resolve_next_to_the_drill_and_bad_ones_point_at_their_line() {
    let cert = cert("tls-drill");
    let dir = cert.cert_file.parent().expect("dir").to_path_buf();
    let drill = load_drill(
        &dir,
        "upstream = \"https://localhost:8443\"\nupstream_ca = \"cert.pem\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"",
    )
    .expect("valid");
    let proxy = drill.parts.proxy.expect("proxy");
    assert_eq!(proxy.upstream_ca.as_deref(), Some(cert.cert_file.as_path()));
    assert!(!proxy.upstream_insecure);
    let tls = proxy.tls.expect("tls");
    assert_eq!(
        (tls.cert, tls.key),
        (cert.cert_file.clone(), cert.key_file.clone())
    );

    let err = load_drill(
        &dir,
        "upstream = \"http://127.0.0.1:9\"\nupstream_insecure = true\ntls_cert = \"cert.pem\"\ntls_key = \"missing.pem\"\nupstream_ca = \"key.pem\"",
    )
    .expect_err("invalid");
    let lines: Vec<String> = err
        .diagnostics()
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
        .collect();
    let missing = dir.join("missing.pem");
    let key = dir.join("key.pem");
    let expect = [
        "6:21: upstream_insecure applies to an https:// upstream only".to_string(),
        format!("8:11: cannot read {}", missing.display()),
        format!("9:15: {} holds no PEM certificate", key.display()),
    ];
    for want in &expect {
        assert!(
            lines.iter().any(|l| l.starts_with(want.as_str())),
            "missing {want:?} in {lines:#?}"
        );
    }
    assert_eq!(lines.len(), expect.len(), "{lines:#?}");

    let err = load_drill(
        &dir,
        "upstream = \"http://127.0.0.1:9\"\ntls_cert = \"cert.pem\"",
    )
    .expect_err("invalid");
    let d = &err.diagnostics()[0];
    assert_eq!((d.line, d.column), (6, 12), "{d}");
    assert!(d.message.contains("tls_cert needs tls_key"), "{d}");
}
