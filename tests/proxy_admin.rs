//! The Toxiproxy-compatible admin API and the TCP toxics, driven over raw HTTP the way
//! Toxiproxy clients (and curl) send their requests, against a loopback echo server.

use breakerbox::fault::admin::{self, AdminOptions, AdminServer};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BOUND: Duration = Duration::from_secs(10);

/// An echo server on a free loopback port: writes back what it reads, closes when the
/// client closes.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

async fn admin_api(token: Option<&str>) -> AdminServer {
    let options = AdminOptions {
        token: token.map(str::to_string),
        seed: 7,
        ..AdminOptions::new("127.0.0.1:0".parse().expect("addr"))
    };
    admin::start(options).await.expect("admin API starts")
}

/// One HTTP/1.1 request as curl sends it; the status and the JSON body (Null if empty).
async fn call_with(
    api: &AdminServer,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    call_at(api.addr(), method, path, body, headers).await
}

/// One HTTP/1.1 request to any address; the status and the JSON body.
async fn call_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).await.expect("connect admin");
    let body = body.unwrap_or("");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
    {
        req.push_str("User-Agent: curl/8.5.0\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut raw))
        .await
        .expect("admin answers in time")
        .expect("read answer");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a full response");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON body ({e}): {body}"))
    };
    (status, value)
}

async fn call(api: &AdminServer, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    call_with(api, method, path, body, &[]).await
}

/// Creates proxy `name` in front of `upstream`; its listen address.
async fn proxy(api: &AdminServer, name: &str, upstream: SocketAddr) -> SocketAddr {
    let body = json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string()});
    let (status, p) = call(api, "POST", "/proxies", Some(&body.to_string())).await;
    assert_eq!(status, 201, "{p}");
    p["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("socket address")
}

async fn toxic(api: &AdminServer, proxy: &str, body: Value) -> Value {
    let (status, t) = call(
        api,
        "POST",
        &format!("/proxies/{proxy}/toxics"),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    t
}

/// Sends `data` through `addr` and reads `data.len()` bytes back; the time it took.
async fn round_trip(stream: &mut TcpStream, data: &[u8]) -> Duration {
    let started = Instant::now();
    stream.write_all(data).await.expect("write");
    let mut back = vec![0; data.len()];
    tokio::time::timeout(BOUND, stream.read_exact(&mut back))
        .await
        .expect("echo in time")
        .expect("echo read");
    assert_eq!(back, data);
    started.elapsed()
}

/// Reads until EOF or error; the bytes read and how it ended.
async fn read_all(stream: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(BOUND, stream.read(&mut buf)).await {
            Err(_) => panic!("connection neither closed nor answered in time"),
            Ok(Ok(0)) => return (got, Ok(())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (got, Err(e)),
        }
    }
}

#[tokio::test]
async fn api_answers_with_toxiproxy_shapes_and_status_codes() {
    let api = admin_api(None).await;
    let upstream = echo().await;

    let (s, v) = call(&api, "GET", "/version", None).await;
    assert_eq!(s, 200);
    assert!(v["version"].is_string(), "{v}");

    let listen = proxy(&api, "redis", upstream).await;
    let (s, v) = call(&api, "GET", "/proxies/redis", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"name": "redis", "listen": listen.to_string(), "upstream": upstream.to_string(),
               "enabled": true, "toxics": []})
    );
    let (s, v) = call(&api, "GET", "/proxies", None).await;
    assert_eq!((s, v["redis"]["name"].clone()), (200, json!("redis")));

    // Errors: always {"error": ..., "status": ...} with the same status.
    let dup = json!({"name": "redis", "upstream": upstream.to_string()}).to_string();
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        (
            "POST",
            "/proxies",
            Some(dup.as_str()),
            409,
            "proxy already exists",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"name": "x"}"#),
            400,
            "missing required field: upstream",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"upstream": "127.0.0.1:1"}"#),
            400,
            "missing required field: name",
        ),
        (
            "POST",
            "/proxies",
            Some("{not json"),
            400,
            "bad request body",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"name": "x", "upstream": "nowhere"}"#),
            400,
            "not host:port",
        ),
        (
            "POST",
            "/proxies",
            Some(r#"{"name": 5, "upstream": "127.0.0.1:1"}"#),
            400,
            "bad request body",
        ),
        ("GET", "/proxies/nope", None, 404, "proxy not found"),
        ("DELETE", "/proxies/nope", None, 404, "proxy not found"),
        ("GET", "/proxies/nope/toxics", None, 404, "proxy not found"),
        (
            "POST",
            "/proxies/nope/toxics",
            Some("{}"),
            404,
            "proxy not found",
        ),
        (
            "POST",
            "/proxies/redis/toxics",
            Some(r#"{"type": "nope"}"#),
            400,
            "invalid toxic type",
        ),
        (
            "POST",
            "/proxies/redis/toxics",
            Some(r#"{"type": "latency", "stream": "sideways"}"#),
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        (
            "POST",
            "/proxies/redis/toxics",
            Some(r#"{"type": "latency", "attributes": {"latency": -5}}"#),
            400,
            "bad request body",
        ),
        (
            "POST",
            "/proxies/redis/toxics",
            Some(r#"{"type": "latency", "toxicity": 1.5}"#),
            400,
            "toxicity",
        ),
        (
            "POST",
            "/proxies/redis/toxics",
            Some(r#"{"type": "slicer", "attributes": {"average_size": 0}}"#),
            400,
            "average_size",
        ),
        (
            "POST",
            "/proxies/redis/toxics",
            Some("[1, 2]"),
            400,
            "bad request body",
        ),
        (
            "GET",
            "/proxies/redis/toxics/nope",
            None,
            404,
            "toxic not found",
        ),
        (
            "DELETE",
            "/proxies/redis/toxics/nope",
            None,
            404,
            "toxic not found",
        ),
        ("PUT", "/proxies", None, 405, "not allowed"),
        ("GET", "/elsewhere", None, 404, "no such resource"),
    ];
    for (method, path, body, status, message) in cases {
        let (s, v) = call(&api, method, path, body).await;
        assert_eq!(s, status, "{method} {path} {body:?}: {v}");
        assert_eq!(v["status"], json!(status), "{v}");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(message),
            "{method} {path}: {error:?} lacks {message:?}"
        );
    }

    // A second proxy cannot take the first one's port.
    let taken =
        json!({"name": "other", "listen": listen.to_string(), "upstream": upstream.to_string()});
    let (s, v) = call(&api, "POST", "/proxies", Some(&taken.to_string())).await;
    assert_eq!((s, v["status"].clone()), (409, json!(409)), "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot listen"),
        "{v}"
    );

    // A toxic with the defaults filled in: name {type}_{stream}, downstream, toxicity 1.
    let t = toxic(
        &api,
        "redis",
        json!({"type": "latency", "attributes": {"latency": 100}}),
    )
    .await;
    assert_eq!(
        t,
        json!({"name": "latency_downstream", "type": "latency", "stream": "downstream",
               "toxicity": 1.0, "attributes": {"latency": 100, "jitter": 0}})
    );
    let (s, v) = call(
        &api,
        "POST",
        "/proxies/redis/toxics",
        Some(r#"{"type": "latency"}"#),
    )
    .await;
    assert_eq!(
        (s, v["error"].clone()),
        (409, json!("toxic already exists"))
    );
    // Update: attributes merge over the old ones, toxicity kept unless given.
    let (s, v) = call(
        &api,
        "POST",
        "/proxies/redis/toxics/latency_downstream",
        Some(r#"{"attributes": {"jitter": 10}}"#),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["attributes"], json!({"latency": 100, "jitter": 10}));
    assert_eq!(v["toxicity"], json!(1.0));
    let (s, v) = call(
        &api,
        "PATCH",
        "/proxies/redis/toxics/latency_downstream",
        Some(r#"{"toxicity": 0.5}"#),
    )
    .await;
    assert_eq!((s, v["toxicity"].clone()), (200, json!(0.5)));
    let (s, v) = call(&api, "GET", "/proxies/redis/toxics", None).await;
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(1)));
    let (s, v) = call(&api, "GET", "/proxies/redis", None).await;
    assert_eq!(
        (s, v["toxics"][0]["name"].clone()),
        (200, json!("latency_downstream"))
    );
    let (s, _) = call(
        &api,
        "DELETE",
        "/proxies/redis/toxics/latency_downstream",
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = call(
        &api,
        "DELETE",
        "/proxies/redis/toxics/latency_downstream",
        None,
    )
    .await;
    assert_eq!(s, 404);

    // Browsers are refused, as Toxiproxy does.
    let (s, v) = call_with(
        &api,
        "GET",
        "/proxies",
        None,
        &[("User-Agent", "Mozilla/5.0")],
    )
    .await;
    assert_eq!((s, v["status"].clone()), (403, json!(403)));

    let (s, _) = call(&api, "DELETE", "/proxies/redis", None).await;
    assert_eq!(s, 204);
    assert!(
        TcpStream::connect(listen).await.is_err(),
        "deleted proxy still listens"
    );
    let (s, v) = call(&api, "GET", "/proxies", None).await;
    assert_eq!((s, v), (200, json!({})));
}

#[tokio::test]
async fn disabling_closes_the_listener_and_enabling_reopens_it() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    let mut live = TcpStream::connect(listen).await.expect("connect");
    round_trip(&mut live, b"hello").await;

    let (s, v) = call(&api, "POST", "/proxies/p", Some(r#"{"enabled": false}"#)).await;
    assert_eq!((s, v["enabled"].clone()), (200, json!(false)));
    assert!(
        TcpStream::connect(listen).await.is_err(),
        "disabled proxy still listens"
    );
    let (got, _) = read_all(&mut live).await;
    assert!(got.is_empty(), "its connections are closed too");

    let (s, v) = call(&api, "POST", "/proxies/p", Some(r#"{"enabled": true}"#)).await;
    assert_eq!(
        (s, v["enabled"].clone(), v["listen"].clone()),
        (200, json!(true), json!(listen.to_string()))
    );
    let mut again = TcpStream::connect(listen).await.expect("listening again");
    round_trip(&mut again, b"again").await;
}

#[tokio::test]
async fn latency_is_added_to_live_and_new_connections_each_way() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    let mut c = TcpStream::connect(listen).await.expect("connect");
    let plain = round_trip(&mut c, b"ping").await;

    toxic(
        &api,
        "p",
        json!({"type": "latency", "attributes": {"latency": 300}}),
    )
    .await;
    let slowed = round_trip(&mut c, b"ping").await;
    assert!(
        slowed >= Duration::from_millis(290),
        "live connection: {slowed:?} (plain {plain:?})"
    );

    toxic(&api, "p", json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 200, "jitter": 50}})).await;
    let mut fresh = TcpStream::connect(listen).await.expect("connect");
    let both = round_trip(&mut fresh, b"ping").await;
    assert!(both >= Duration::from_millis(440), "both ways: {both:?}");
    assert!(both < Duration::from_secs(5), "{both:?}");
}

#[tokio::test]
async fn bandwidth_limits_the_rate() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    toxic(
        &api,
        "p",
        json!({"type": "bandwidth", "attributes": {"rate": 100}}),
    )
    .await;
    let mut c = TcpStream::connect(listen).await.expect("connect");
    let data = vec![7u8; 60_000];
    // 60,000 bytes at 100 KB/s: 0.6 s downstream (the echo's way back).
    let took = round_trip(&mut c, &data).await;
    assert!(took >= Duration::from_millis(550), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn timeout_drops_data_then_closes_or_holds_forever_with_zero() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    toxic(
        &api,
        "p",
        json!({"type": "timeout", "attributes": {"timeout": 300}}),
    )
    .await;
    let started = Instant::now();
    let mut c = TcpStream::connect(listen).await.expect("connect");
    c.write_all(b"anyone there?").await.expect("write");
    let (got, _) = read_all(&mut c).await;
    assert!(got.is_empty(), "no data gets through a timeout");
    assert!(
        started.elapsed() >= Duration::from_millis(280),
        "{:?}",
        started.elapsed()
    );

    let (s, _) = call(
        &api,
        "POST",
        "/proxies/p/toxics/timeout_downstream",
        Some(r#"{"attributes": {"timeout": 0}}"#),
    )
    .await;
    assert_eq!(s, 200);
    let mut c = TcpStream::connect(listen).await.expect("connect");
    c.write_all(b"anyone?").await.expect("write");
    let mut buf = [0u8; 16];
    let waited = tokio::time::timeout(Duration::from_millis(600), c.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "timeout 0 neither answers nor closes: {waited:?}"
    );
    // Removing the toxic lets later data through on the same connection.
    let (s, _) = call(&api, "DELETE", "/proxies/p/toxics/timeout_downstream", None).await;
    assert_eq!(s, 204);
    round_trip(&mut c, b"now").await;
}

#[tokio::test]
async fn reset_peer_resets_the_connection() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    toxic(
        &api,
        "p",
        json!({"type": "reset_peer", "attributes": {"timeout": 100}}),
    )
    .await;
    let mut c = TcpStream::connect(listen).await.expect("connect");
    c.write_all(b"hello").await.expect("write");
    let (got, end) = read_all(&mut c).await;
    assert!(got.is_empty());
    let kind = end.expect_err("a reset, not a clean close").kind();
    assert_eq!(kind, std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn blackhole_swallows_data_and_holds_the_connection_open() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    let t = toxic(&api, "p", json!({"type": "blackhole"})).await;
    assert_eq!(
        (t["name"].clone(), t["attributes"].clone()),
        (json!("blackhole_downstream"), json!({}))
    );
    let mut c = TcpStream::connect(listen).await.expect("connect");
    c.write_all(b"anyone there?").await.expect("write");
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(500), c.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "no bytes, no close, no reset within 500 ms: {waited:?}"
    );
    // Still open: the client can keep writing (into the hole).
    c.write_all(b"still here")
        .await
        .expect("write on the open connection");
    let waited = tokio::time::timeout(Duration::from_millis(300), c.read(&mut buf)).await;
    assert!(waited.is_err(), "swallowed too: {waited:?}");

    let (s, _) = call(
        &api,
        "DELETE",
        "/proxies/p/toxics/blackhole_downstream",
        None,
    )
    .await;
    assert_eq!(s, 204);
    // What went in while the toxic was on is gone; later data flows on the same connection.
    round_trip(&mut c, b"after").await;

    // Upstream: the client's writes never reach the upstream, so nothing comes back either.
    toxic(
        &api,
        "p",
        json!({"type": "blackhole", "stream": "upstream"}),
    )
    .await;
    let mut c = TcpStream::connect(listen).await.expect("connect");
    c.write_all(b"lost").await.expect("write");
    let waited = tokio::time::timeout(Duration::from_millis(500), c.read(&mut buf)).await;
    assert!(waited.is_err(), "upstream blackhole: {waited:?}");
    let (s, _) = call(&api, "DELETE", "/proxies/p/toxics/blackhole_upstream", None).await;
    assert_eq!(s, 204);
    round_trip(&mut c, b"found").await;
}

#[tokio::test]
async fn refuse_closes_the_port_and_removing_it_listens_on_the_same_port() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    let mut live = TcpStream::connect(listen).await.expect("connect");
    round_trip(&mut live, b"before").await;

    let (s, v) = call(
        &api,
        "POST",
        "/proxies/p/toxics",
        Some(r#"{"type": "refuse", "toxicity": 0.5}"#),
    )
    .await;
    assert_eq!(s, 400, "a share of connects cannot be refused: {v}");
    assert!(TcpStream::connect(listen).await.is_ok(), "still listening");

    toxic(&api, "p", json!({"type": "refuse"})).await;
    let refused = TcpStream::connect(listen)
        .await
        .expect_err("the port is closed");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // The proxy is still enabled, and connections already open carry on.
    let (_, v) = call(&api, "GET", "/proxies/p", None).await;
    assert_eq!(
        (v["enabled"].clone(), v["listen"].clone()),
        (json!(true), json!(listen.to_string()))
    );
    round_trip(&mut live, b"still served").await;

    let (s, _) = call(&api, "DELETE", "/proxies/p/toxics/refuse_downstream", None).await;
    assert_eq!(s, 204);
    let mut again = TcpStream::connect(listen)
        .await
        .expect("listening again on the same port");
    round_trip(&mut again, b"back").await;
    round_trip(&mut live, b"and the old one").await;

    // Disabled and enabled while refusing: it stays closed; /reset opens it again.
    toxic(&api, "p", json!({"type": "refuse"})).await;
    for enabled in [false, true] {
        let (s, _) = call(
            &api,
            "POST",
            "/proxies/p",
            Some(&json!({"enabled": enabled}).to_string()),
        )
        .await;
        assert_eq!(s, 200);
        assert!(
            TcpStream::connect(listen).await.is_err(),
            "enabled {enabled}"
        );
    }
    let (s, _) = call(&api, "POST", "/reset", None).await;
    assert_eq!(s, 204);
    let mut reset = TcpStream::connect(listen)
        .await
        .expect("listening after reset");
    round_trip(&mut reset, b"reset").await;
}

#[tokio::test]
async fn slicer_cuts_data_into_small_spaced_writes() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    toxic(
        &api,
        "p",
        json!({"type": "slicer",
        "attributes": {"average_size": 10, "size_variation": 0, "delay": 30000}}),
    )
    .await;
    let mut c = TcpStream::connect(listen).await.expect("connect");
    let started = Instant::now();
    c.write_all(&[1u8; 100]).await.expect("write");
    let mut reads = Vec::new();
    let mut buf = [0u8; 1024];
    while reads.iter().sum::<usize>() < 100 {
        let n = tokio::time::timeout(BOUND, c.read(&mut buf))
            .await
            .expect("in time")
            .expect("read");
        assert!(n > 0, "closed early");
        reads.push(n);
    }
    // 100 bytes are halved down to slices of 6 or 7 bytes (16 of them), 30 ms apart. A
    // busy machine may let two slices arrive before one read, so: most reads are small,
    // and the whole took at least the 15 gaps.
    let small = reads.iter().filter(|n| **n <= 10).count();
    assert!(reads.len() >= 4 && small * 2 >= reads.len(), "{reads:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(420),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn limit_data_closes_after_the_byte_count() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    toxic(
        &api,
        "p",
        json!({"type": "limit_data", "attributes": {"bytes": 100}}),
    )
    .await;
    let mut c = TcpStream::connect(listen).await.expect("connect");
    c.write_all(&[3u8; 1000]).await.expect("write");
    let (got, _) = read_all(&mut c).await;
    assert_eq!(got.len(), 100);
}

#[tokio::test]
async fn slow_close_holds_the_close() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    toxic(
        &api,
        "p",
        json!({"type": "slow_close", "attributes": {"delay": 400}}),
    )
    .await;
    let mut c = TcpStream::connect(listen).await.expect("connect");
    round_trip(&mut c, b"bye").await;
    let started = Instant::now();
    c.shutdown().await.expect("half-close");
    let (got, _) = read_all(&mut c).await;
    assert!(got.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(380),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn toxicity_is_rolled_per_connection() {
    let api = admin_api(None).await;
    let listen = proxy(&api, "p", echo().await).await;
    toxic(
        &api,
        "p",
        json!({"type": "timeout", "toxicity": 0.0, "attributes": {"timeout": 0}}),
    )
    .await;
    for _ in 0..5 {
        let mut c = TcpStream::connect(listen).await.expect("connect");
        round_trip(&mut c, b"untouched").await;
    }
    let (s, _) = call(
        &api,
        "POST",
        "/proxies/p/toxics/timeout_downstream",
        Some(r#"{"toxicity": 1}"#),
    )
    .await;
    assert_eq!(s, 200);
    let mut c = TcpStream::connect(listen).await.expect("connect");
    c.write_all(b"held").await.expect("write");
    let mut buf = [0u8; 8];
    let waited = tokio::time::timeout(Duration::from_millis(400), c.read(&mut buf)).await;
    assert!(waited.is_err(), "toxicity 1 always applies: {waited:?}");

    // Toxicity 0.5: some connections are hit, some not, all or nothing for each.
    call(
        &api,
        "POST",
        "/proxies/p/toxics/timeout_downstream",
        Some(r#"{"toxicity": 0.5}"#),
    )
    .await;
    // Concurrently, so an unhit connection gets a generous second to answer.
    let tries: Vec<_> = (0..16)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = TcpStream::connect(listen).await.expect("connect");
                c.write_all(b"x").await.expect("write");
                let mut b = [0u8; 1];
                match tokio::time::timeout(Duration::from_secs(1), c.read(&mut b)).await {
                    Err(_) => true,
                    Ok(r) => {
                        assert_eq!(r.expect("read"), 1);
                        round_trip(&mut c, b"same connection, same roll").await;
                        false
                    }
                }
            })
        })
        .collect();
    let mut hit = 0;
    for t in tries {
        hit += usize::from(t.await.expect("try ran"));
    }
    assert!((2..=14).contains(&hit), "{hit} of 16 connections hit");
}

#[tokio::test]
async fn populate_and_reset() {
    let api = admin_api(None).await;
    let up = echo().await.to_string();
    let body = json!([
        {"name": "a", "listen": "127.0.0.1:0", "upstream": up},
        {"name": "b", "listen": "127.0.0.1:0", "upstream": up, "enabled": false}
    ]);
    let (s, v) = call(&api, "POST", "/populate", Some(&body.to_string())).await;
    assert_eq!(s, 201, "{v}");
    let proxies = v["proxies"].as_array().expect("proxies array");
    assert_eq!(proxies.len(), 2);
    assert_eq!(
        (proxies[0]["enabled"].clone(), proxies[1]["enabled"].clone()),
        (json!(true), json!(false))
    );
    let a: SocketAddr = proxies[0]["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("addr");

    let (s, v) = call(
        &api,
        "POST",
        "/populate",
        Some(r#"[{"upstream": "127.0.0.1:9"}]"#),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], json!("missing required field: name at proxy 1"));
    assert_eq!(v["status"], json!(400));
    assert_eq!(v["proxies"], json!([]));
    let (s, _) = call(&api, "POST", "/populate", Some(r#"{"name": "not a list"}"#)).await;
    assert_eq!(s, 400);

    toxic(
        &api,
        "a",
        json!({"type": "timeout", "attributes": {"timeout": 0}}),
    )
    .await;
    call(&api, "POST", "/proxies/a", Some(r#"{"enabled": false}"#)).await;
    let (s, v) = call(&api, "POST", "/reset", None).await;
    assert_eq!((s, v), (204, Value::Null));
    let (_, v) = call(&api, "GET", "/proxies", None).await;
    assert_eq!(v["a"]["enabled"], json!(true));
    assert_eq!(v["b"]["enabled"], json!(true));
    assert_eq!(v["a"]["toxics"], json!([]));
    assert_eq!(
        v["a"]["listen"],
        json!(a.to_string()),
        "re-enabled on the same address"
    );
    let mut c = TcpStream::connect(a).await.expect("connect");
    round_trip(&mut c, b"clean").await;
}

#[tokio::test]
async fn the_token_guards_every_call() {
    let api = admin_api(Some("s3cret")).await;
    let (s, v) = call(&api, "GET", "/proxies", None).await;
    assert_eq!((s, v["status"].clone()), (401, json!(401)));
    let (s, _) = call_with(
        &api,
        "GET",
        "/proxies",
        None,
        &[("Authorization", "Bearer wrong")],
    )
    .await;
    assert_eq!(s, 401);
    let (s, v) = call_with(
        &api,
        "GET",
        "/proxies",
        None,
        &[("Authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!((s, v), (200, json!({})));
}

#[tokio::test]
async fn http_goes_through_a_tcp_proxy_with_its_latency() {
    // The admin API is itself an HTTP server: put a proxy in front of it.
    let api = admin_api(None).await;
    let listen = proxy(&api, "http", api.addr()).await;
    toxic(
        &api,
        "http",
        json!({"type": "latency", "attributes": {"latency": 250}}),
    )
    .await;
    let started = Instant::now();
    let (s, v) = call_at(listen, "GET", "/version", None, &[]).await;
    assert_eq!(s, 200);
    assert!(v["version"].is_string());
    assert!(
        started.elapsed() >= Duration::from_millis(240),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn refused_upstreams_and_connection_floods_leave_the_proxy_serving() {
    let api = admin_api(None).await;
    let gone = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let gone_addr = gone.local_addr().expect("addr");
    drop(gone);
    let dead = proxy(&api, "dead", gone_addr).await;
    let mut c = TcpStream::connect(dead).await.expect("the proxy accepts");
    let (got, _) = read_all(&mut c).await;
    assert!(got.is_empty(), "closed when the upstream refuses");

    let listen = proxy(&api, "p", echo().await).await;
    toxic(
        &api,
        "p",
        json!({"type": "latency", "attributes": {"latency": 50}}),
    )
    .await;
    let mut flood = Vec::new();
    for i in 0..200 {
        let mut c = TcpStream::connect(listen).await.expect("connect");
        if i % 2 == 0 {
            let _ = c.write_all(b"half a request").await;
        }
        flood.push(c);
    }
    drop(flood);
    let mut c = TcpStream::connect(listen).await.expect("connect");
    round_trip(&mut c, b"still here").await;
    let (s, v) = call(&api, "GET", "/proxies/p", None).await;
    assert_eq!((s, v["enabled"].clone()), (200, json!(true)));
}
