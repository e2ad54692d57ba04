//! Hostile clients and upstreams against the in-process fault proxy: malformed requests, an
//! upstream that dies mid-response, a client gone while a latency fault holds its request,
//! thousands of connections opened and dropped at once, slowloris, and many concurrent
//! bodies on keep-alive connections. In each case the proxy carries on: it answers a normal
//! request afterwards, gives back its descriptors, and never mixes up two bodies.

use breakerbox::config::parse_profile;
use breakerbox::fault::{FaultLayer, FaultProxy, ProxyOptions, Rules, Tap};
use breakerbox::rng::Rng;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Faults of an inline profile, always on.
fn rules(text: &str) -> Rules {
    let p = parse_profile("test", "test.toml", text).expect("valid profile");
    Rules::all_in(p.faults, Duration::ZERO, Duration::from_secs(600))
}

/// An upstream answering `GET` with `ok` and echoing a `POST`'s body; it counts its calls.
async fn echo_upstream() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let counted = counted.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let body = if req.method() == http::Method::POST {
                            match req.into_body().collect().await {
                                Ok(b) => b.to_bytes(),
                                Err(_) => Bytes::from_static(b"body error"),
                            }
                        } else {
                            Bytes::from_static(b"ok")
                        };
                        Ok::<_, Infallible>(http::Response::new(Full::new(body)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), calls)
}

async fn start_proxy(
    upstream: &str,
    rules: Rules,
    options: ProxyOptions,
) -> (FaultProxy, Arc<Tap>, SocketAddr) {
    let layer = FaultLayer::starting_now(rules, 7, Duration::from_secs(120));
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
    let addr = proxy
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    (proxy, tap, addr)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .retry(reqwest::retry::never())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A normal request on a fresh connection is answered 200 with `body`.
async fn assert_serves(proxy: &FaultProxy, path: &str, body: &str) {
    let response = client()
        .get(format!("{}{path}", proxy.url()))
        .send()
        .await
        .expect("the proxy still answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), body);
}

/// Descriptors this test process holds now.
fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Waits until the process holds at most `limit` descriptors; the last count seen.
async fn fds_settle(limit: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let now = fds();
        if now <= limit || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes `request` (a write error is fine: the proxy may close first) and reads what comes
/// back until the proxy closes; panics if it neither answers nor closes within 10 s.
async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.expect("connects");
    let _ = tcp.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the proxy neither answered nor closed");
    answer
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_or_a_close_and_the_proxy_carries_on() {
    let (upstream, calls) = echo_upstream().await;
    let (proxy, tap, addr) =
        start_proxy(&upstream, Rules::default(), ProxyOptions::default()).await;
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(600 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\x00\x01\x02 not http at all\r\n\r\n".to_vec()),
        ("bad request line", b"GET\r\n\r\n".to_vec()),
        ("bad header name", b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n".to_vec()),
        ("oversized headers", huge_header.into_bytes()),
        (
            "two content-lengths",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabc"
                .to_vec(),
        ),
        (
            "bad chunk size",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
    ];
    for (name, request) in cases {
        let answer = raw_exchange(addr, &request).await;
        let text = String::from_utf8_lossy(&answer);
        // Refused (4xx) or closed; a bad chunked body is found only while forwarding, and
        // is still the client's fault: 400, not a 502 blaming the upstream.
        let ok = answer.is_empty() || text.starts_with("HTTP/1.1 4");
        assert!(ok, "{name}: {text:?}");
        assert!(
            !text.contains("body error"),
            "{name}: a broken body was echoed as if whole: {text:?}"
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no malformed request was answered by the upstream"
    );
    let errors: u64 = tap.snapshot().iter().map(|b| b.upstream_errors).sum();
    assert_eq!(errors, 0, "a client's bad request is not an upstream error");
    assert_serves(&proxy, "/after", "ok").await;
}

/// An upstream that sends headers announcing 100 bytes, 40 of them, then closes.
async fn dying_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
                    .await;
                let _ = tcp.write_all(&[b'x'; 40]).await;
                let _ = tcp.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                // Dropped: the upstream dies mid-body.
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_upstream_dying_mid_body_gives_the_client_a_body_error_and_is_counted() {
    let upstream = dying_upstream().await;
    let (proxy, tap, _) = start_proxy(&upstream, Rules::default(), ProxyOptions::default()).await;
    for _ in 0..3 {
        let response = client()
            .get(format!("{}/cut", proxy.url()))
            .send()
            .await
            .expect("headers arrive");
        assert_eq!(response.status(), 200);
        assert_eq!(response.content_length(), Some(100));
        let body = tokio::time::timeout(Duration::from_secs(10), response.bytes())
            .await
            .expect("no hang: the body ends");
        assert!(body.is_err(), "a cut body must be an error, got {body:?}");
    }
    let snapshot = tap.snapshot();
    let ok: u64 = snapshot.iter().map(|b| b.upstream_ok).sum();
    let cut: u64 = snapshot.iter().map(|b| b.upstream_cut).sum();
    assert_eq!((ok, cut), (3, 3));

    // A healthy upstream behind a new proxy on the same runtime: nothing was poisoned.
    let (healthy, _) = echo_upstream().await;
    let (proxy, tap, _) = start_proxy(&healthy, Rules::default(), ProxyOptions::default()).await;
    assert_serves(&proxy, "/fine", "ok").await;
    assert_eq!(
        tap.snapshot().iter().map(|b| b.upstream_cut).sum::<u64>(),
        0
    );
}

#[tokio::test]
async fn a_client_gone_during_a_latency_hold_is_never_forwarded_and_frees_its_connection() {
    let (upstream, calls) = echo_upstream().await;
    let (proxy, _tap, addr) = start_proxy(
        &upstream,
        rules("[[faults]]\nkind = \"latency\"\ndelay = \"2s\"\npath = \"/held\""),
        ProxyOptions::default(),
    )
    .await;
    assert_serves(&proxy, "/warm", "ok").await;
    let warm_calls = calls.load(Ordering::SeqCst);
    let baseline = fds();
    let mut clients = Vec::new();
    for _ in 0..50 {
        let mut tcp = TcpStream::connect(addr).await.expect("connects");
        tcp.write_all(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("writes");
        clients.push(tcp);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(clients);
    // Past the hold: a request still held would have been forwarded by now.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        warm_calls,
        "requests whose client left during the hold must not reach the upstream"
    );
    let settled = fds_settle(baseline + 5, Duration::from_secs(5)).await;
    assert!(
        settled <= baseline + 5,
        "descriptors {baseline} → {settled}"
    );
    assert_serves(&proxy, "/after", "ok").await;
}

/// The soft limit on open files, from /proc/self/limits.
fn fd_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1024)
}

#[tokio::test]
async fn thousands_of_connections_opened_and_dropped_at_once_give_their_descriptors_back() {
    let (upstream, _) = echo_upstream().await;
    let (proxy, _tap, addr) =
        start_proxy(&upstream, Rules::default(), ProxyOptions::default()).await;
    assert_serves(&proxy, "/warm", "ok").await;
    let baseline = fds();
    // Each connection costs two descriptors here (client and proxy side); stay well under
    // the soft limit (nothing is raised) and under the proxy's cap (half the limit).
    let wanted = 5000;
    let room = fd_limit().saturating_sub(baseline + 256) / 2;
    let count = wanted.min(room).min(fd_limit() / 2 - 64);
    if count < wanted {
        eprintln!("note: the descriptor limit allows {count} connections, not {wanted}");
    }
    let mut open = Vec::with_capacity(count);
    for batch in 0..count.div_ceil(500) {
        let n = 500.min(count - batch * 500);
        let connects = (0..n).map(|_| TcpStream::connect(addr));
        for tcp in join_all(connects).await {
            open.push(tcp.expect("connects"));
        }
    }
    // Half of them send a request start, so the proxy holds a parser for each.
    for tcp in open.iter_mut().step_by(2) {
        let _ = tcp.try_write(b"GET / HTTP/1.1\r\nHo");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let peak = fds();
    assert!(
        peak >= baseline + count,
        "connections open: {baseline} → {peak}"
    );
    drop(open);
    let settled = fds_settle(baseline + 10, Duration::from_secs(10)).await;
    assert!(
        settled <= baseline + 10,
        "descriptors {baseline} → {peak} → {settled}"
    );
    assert_serves(&proxy, "/after", "ok").await;
}

/// Runs the futures concurrently and collects their outputs in order.
async fn join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn slowloris_connections_are_dropped_while_normal_clients_are_served() {
    let (upstream, _) = echo_upstream().await;
    let options = ProxyOptions {
        header_read_timeout: Duration::from_secs(1),
        ..ProxyOptions::default()
    };
    let (proxy, _tap, addr) = start_proxy(&upstream, Rules::default(), options).await;
    let started = Instant::now();
    let attackers: Vec<_> = (0..40)
        .map(|_| {
            tokio::spawn(async move {
                let mut tcp = TcpStream::connect(addr).await.expect("connects");
                let _ = tcp.write_all(b"GET / HTTP/1.1\r\n").await;
                // A header byte every 200 ms, never the blank line; until the proxy closes.
                for _ in 0..100 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if tcp.write_all(b"X").await.is_err() {
                        return started.elapsed();
                    }
                    let mut buf = [0u8; 256];
                    match tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
                        _ => {}
                    }
                }
                Duration::MAX
            })
        })
        .collect();
    // Normal clients are served during the attack.
    for i in 0..10 {
        assert_serves(&proxy, &format!("/during/{i}"), "ok").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for attacker in attackers {
        let dropped_after = attacker.await.expect("attacker task");
        assert!(
            dropped_after < Duration::from_secs(8),
            "a slowloris connection was held {dropped_after:?}"
        );
    }
    assert_serves(&proxy, "/after", "ok").await;
}

#[tokio::test]
async fn the_default_header_read_timeout_closes_a_silent_connection() {
    let (upstream, _) = echo_upstream().await;
    let (proxy, _tap, addr) =
        start_proxy(&upstream, Rules::default(), ProxyOptions::default()).await;
    assert_eq!(
        ProxyOptions::default().header_read_timeout,
        Duration::from_secs(10)
    );
    let mut tcp = TcpStream::connect(addr).await.expect("connects");
    tcp.write_all(b"GET / HTTP/1.1\r\n").await.expect("writes");
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(25), tcp.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "a silent connection was never closed");
    assert!(
        started.elapsed() >= Duration::from_secs(8),
        "closed too early: {:?}",
        started.elapsed()
    );
    assert_serves(&proxy, "/after", "ok").await;
}

#[tokio::test]
async fn concurrent_bodies_on_keep_alive_connections_never_mix_up() {
    let (upstream, calls) = echo_upstream().await;
    let profile = r#"
[[faults]]
kind = "latency"
delay = "30ms"
probability = 0.4
[[faults]]
kind = "slow_body"
over = "60ms"
probability = 0.3
"#;
    let (proxy, _tap, addr) = start_proxy(&upstream, rules(profile), ProxyOptions::default()).await;
    let connections: u64 = 8;
    let per_connection: u64 = 25;
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let tcp = TcpStream::connect(addr).await.expect("connects");
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                        .await
                        .expect("handshake");
                tokio::spawn(connection);
                let mut rng = Rng::new(42, c);
                for n in 0..per_connection {
                    let len = rng.range_inclusive(0, 96 * 1024) as usize;
                    let tag = format!("conn {c} request {n} len {len};");
                    let mut body = tag.clone().into_bytes();
                    while body.len() < len {
                        body.push(b'a' + (rng.next_u64() % 26) as u8);
                    }
                    let request = http::Request::post(format!("/echo/{c}/{n}"))
                        .header(http::header::HOST, "x")
                        .body(Full::new(Bytes::from(body.clone())))
                        .expect("request");
                    sender.ready().await.expect("connection ready");
                    let response = sender.send_request(request).await.expect("answered");
                    assert_eq!(response.status(), 200, "{tag}");
                    let echoed = response
                        .into_body()
                        .collect()
                        .await
                        .expect("body")
                        .to_bytes();
                    assert!(
                        echoed == body,
                        "{tag} got another body back ({} bytes)",
                        echoed.len()
                    );
                }
            })
        })
        .collect();
    let deadline = Duration::from_secs(60);
    for task in tasks {
        tokio::time::timeout(deadline, task)
            .await
            .expect("finishes")
            .expect("every body matched");
    }
    assert_eq!(calls.load(Ordering::SeqCst), connections * per_connection);
    assert_serves(&proxy, "/after", "ok").await;
}
