//! breakerbox's own admin resources: HTTP fault proxies created over REST, given faults
//! (JSON tables, a TOML profile, a schedule on a clock the caller starts), and read back
//! (the tap, the decision log), against the stub on loopback.

use breakerbox::config::StubSettings;
use breakerbox::fault::admin::http::{DecisionPage, TapReport};
use breakerbox::fault::admin::{self, AdminOptions, AdminServer};
use breakerbox::stub::Stub;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUND: Duration = Duration::from_secs(10);

async fn admin_api(token: Option<&str>) -> AdminServer {
    let options = AdminOptions {
        token: token.map(str::to_string),
        seed: 7,
        ..AdminOptions::new("127.0.0.1:0".parse().expect("addr"))
    };
    admin::start(options).await.expect("admin API starts")
}

async fn stub() -> Stub {
    Stub::start(&StubSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        routes: Vec::new(),
    })
    .await
    .expect("stub starts")
}

/// One HTTP/1.1 request on a fresh connection; the status, the head and the body.
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.expect("connects");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: curl/8.5.0\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("sends");
    let mut got = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut got))
        .await
        .expect("answers in time")
        .expect("reads");
    let text = String::from_utf8_lossy(&got).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// One admin call; the status and the JSON body (Null when empty).
async fn call(api: &AdminServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call_with(api, method, path, body, &[]).await
}

async fn call_with(
    api: &AdminServer,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    call_text(api, method, path, &body, headers).await
}

async fn call_text(
    api: &AdminServer,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let (status, _, body) = raw(api.addr(), method, path, body, headers).await;
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("JSON body ({e}): {body}"))
    };
    (status, value)
}

/// Creates HTTP proxy `name` in front of `upstream`; its bound address.
async fn create(api: &AdminServer, name: &str, upstream: &str) -> SocketAddr {
    let (s, v) = call(
        api,
        "POST",
        "/http-proxies",
        Some(json!({"name": name, "upstream": upstream})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    v["listen"].as_str().expect("listen").parse().expect("addr")
}

/// A GET through the proxy; the status and the head.
async fn through(proxy: SocketAddr, path: &str) -> (u16, String) {
    let (status, head, _) = raw(proxy, "GET", path, "", &[]).await;
    (status, head)
}

async fn tap(api: &AdminServer, name: &str) -> TapReport {
    let (s, v) = call(api, "GET", &format!("/http-proxies/{name}/tap"), None).await;
    assert_eq!(s, 200, "{v}");
    serde_json::from_value(v).expect("a TapReport")
}

async fn decisions(api: &AdminServer, name: &str, query: &str) -> DecisionPage {
    let path = format!("/http-proxies/{name}/decisions{query}");
    let (s, v) = call(api, "GET", &path, None).await;
    assert_eq!(s, 200, "{v}");
    serde_json::from_value(v).expect("a DecisionPage")
}

fn injected(report: &TapReport, id: usize) -> u64 {
    report.buckets.iter().map(|b| b.injected[id]).sum()
}

#[tokio::test]
async fn proxies_are_created_listed_and_deleted_with_clear_errors() {
    let api = admin_api(None).await;
    let stub = stub().await;
    let (s, v) = call(
        &api,
        "POST",
        "/http-proxies",
        Some(
            json!({"name": "api", "listen": "127.0.0.1:0", "upstream": stub.url(),
                    "upstream_timeout": "5s", "seed": 3}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let listen: SocketAddr = v["listen"].as_str().expect("listen").parse().expect("addr");
    assert_ne!(listen.port(), 0, "the bound port: {v}");
    assert_eq!(
        (
            v["upstream_timeout_ms"].clone(),
            v["seed"].clone(),
            v["rules"].clone()
        ),
        (json!(5000), json!(3), json!(0)),
        "{v}"
    );
    assert_eq!(v["started"], json!(true), "{v}");
    let (status, _) = through(listen, "/item/1").await;
    assert_eq!(status, 200, "forwards at once");

    let (s, list) = call(&api, "GET", "/http-proxies", None).await;
    assert_eq!(s, 200);
    assert_eq!(list["api"]["listen"], json!(listen.to_string()), "{list}");
    let (s, one) = call(&api, "GET", "/http-proxies/api", None).await;
    assert_eq!((s, one["name"].clone()), (200, json!("api")));

    let cases = [
        (
            json!({"name": "api", "upstream": stub.url()}),
            409,
            "proxy already exists",
        ),
        (
            json!({"name": "x"}),
            400,
            "missing required field: upstream",
        ),
        (
            json!({"upstream": stub.url()}),
            400,
            "missing required field: name",
        ),
        (
            json!({"name": "x", "upstream": stub.url(), "listen": "nowhere"}),
            400,
            "listen address",
        ),
        (
            json!({"name": "x", "upstream": "ftp://h/"}),
            400,
            "ftp://h/",
        ),
        (
            json!({"name": "x", "upstream": stub.url(), "upstream_timeout": "soon"}),
            400,
            "upstream_timeout",
        ),
        (
            json!({"name": "x", "upstream": stub.url(), "listen": listen.to_string()}),
            500,
            "cannot listen on",
        ),
    ];
    for (body, status, message) in cases {
        let (s, v) = call(&api, "POST", "/http-proxies", Some(body.clone())).await;
        assert_eq!(
            (s, v["status"].clone()),
            (status, json!(status)),
            "{body}: {v}"
        );
        let error = v["error"].as_str().expect("error message");
        assert!(error.contains(message), "{body}: {error}");
    }
    let (s, v) = call(&api, "GET", "/http-proxies/nope", None).await;
    assert_eq!((s, v["error"].clone()), (404, json!("proxy not found")));
    let (s, _) = call(&api, "POST", "/http-proxies/api/tap", None).await;
    assert_eq!(s, 405);

    let (s, v) = call(&api, "DELETE", "/http-proxies/api", None).await;
    assert_eq!((s, v), (204, Value::Null));
    let (s, _) = call(&api, "GET", "/http-proxies/api", None).await;
    assert_eq!(s, 404);
    let deadline = Instant::now() + BOUND;
    while TcpStream::connect(listen).await.is_ok() {
        assert!(Instant::now() < deadline, "still listening after delete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn faults_and_profiles_take_effect_on_the_running_proxy() {
    let api = admin_api(None).await;
    let stub = stub().await;
    let proxy = create(&api, "api", &stub.url()).await;
    // A connection made before the faults are installed is served by them too.
    let mut early = TcpStream::connect(proxy).await.expect("connects");

    let bad = json!({"faults": [{"kind": "status", "status": 503}, {"kind": "stauts"}]});
    let (s, v) = call(&api, "PUT", "/http-proxies/api/faults", Some(bad)).await;
    assert_eq!(s, 400, "{v}");
    let error = v["error"].as_str().expect("error");
    assert!(
        error.starts_with("faults[1]: unknown fault kind \"stauts\" (known: status, latency"),
        "{error}"
    );

    let table = json!({"kind": "status", "status": 503, "path": "/item/*"});
    let (s, v) = call(
        &api,
        "PUT",
        "/http-proxies/api/faults",
        Some(json!({"faults": [table.clone()]})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let expected = json!({"rules": [{"id": 0, "from_ms": 0, "until_ms": null, "kind": "status",
                                      "fault": table}]});
    assert_eq!(v, expected);
    let (_, v) = call(&api, "GET", "/http-proxies/api/faults", None).await;
    assert_eq!(v, expected);

    early
        .write_all(b"GET /item/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("sends");
    let mut answer = Vec::new();
    tokio::time::timeout(BOUND, early.read_to_end(&mut answer))
        .await
        .expect("in time")
        .expect("reads");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    for _ in 0..4 {
        assert_eq!(through(proxy, "/item/2").await.0, 503);
    }
    let (status, head) = through(proxy, "/health").await;
    assert_ne!(status, 503, "outside the path, forwarded: {head}");
    let report = tap(&api, "api").await;
    assert_eq!(injected(&report, 0), 5);
    assert!(report.first_injection_ms[0].is_some(), "{report:?}");
    let forwarded: u64 = report.buckets.iter().map(|b| b.forwarded).sum();
    assert_eq!(forwarded, 1);
    assert_eq!((report.bucket_ms, report.slot_ms), (100, 10));

    let (s, v) = call(&api, "DELETE", "/http-proxies/api/faults", None).await;
    assert_eq!((s, v), (204, Value::Null));
    assert_eq!(through(proxy, "/item/2").await.0, 200);

    let profile =
        std::fs::read_to_string("fault-profiles/total-outage.toml").expect("shipped profile");
    let (s, v) = call_text(&api, "PUT", "/http-proxies/api/profile", &profile, &[]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["rules"][0]["fault"]["status"], json!(503), "{v}");
    let (status, head) = through(proxy, "/anything").await;
    assert_eq!(status, 503);
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 5"),
        "{head}"
    );
    let (s, v) = call(&api, "GET", "/http-proxies/api", None).await;
    assert_eq!((s, v["rules"].clone()), (200, json!(1)));

    let (s, v) = call_text(
        &api,
        "PUT",
        "/http-proxies/api/profile",
        "[[faults]]\nkind = \"status\"\nstatus = \n",
        &[],
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .expect("error")
            .starts_with("profile:3:"),
        "{v}"
    );
    assert_eq!(
        through(proxy, "/anything").await.0,
        503,
        "a bad profile changes nothing"
    );
}

/// Requests every few milliseconds for `total`; each with the span of proxy-clock time its
/// decision fell in (`start` is when the start call was sent) and its status.
async fn drive(
    proxy: SocketAddr,
    start: Instant,
    total: Duration,
) -> Vec<(Duration, Duration, u16)> {
    let mut seen = Vec::new();
    while start.elapsed() < total {
        let sent = start.elapsed();
        let (status, _) = through(proxy, "/item/1").await;
        seen.push((sent, start.elapsed(), status));
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    seen
}

#[tokio::test]
async fn a_schedule_waits_for_start_and_follows_its_window() {
    let api = admin_api(None).await;
    let stub = stub().await;
    let proxy = create(&api, "api", &stub.url()).await;
    let schedule = json!({"seed": 42, "span_ms": 5000, "rules": [
        {"id": 2, "from_ms": 300, "until_ms": 800,
         "fault": {"kind": "status", "status": 503, "start": "1h"}}
    ]});
    let (s, v) = call(&api, "PUT", "/http-proxies/api/schedule", Some(schedule)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["rules"][0]["id"].clone(),
            v["rules"][0]["from_ms"].clone(),
            v["rules"][0]["until_ms"].clone()
        ),
        (json!(2), json!(300), json!(800)),
        "{v}"
    );
    let (_, view) = call(&api, "GET", "/http-proxies/api", None).await;
    assert_eq!(
        (
            view["started"].clone(),
            view["elapsed_ms"].clone(),
            view["seed"].clone()
        ),
        (json!(false), Value::Null, json!(42)),
        "{view}"
    );
    for _ in 0..3 {
        assert_eq!(through(proxy, "/item/1").await.0, 200, "not started");
    }
    let report = tap(&api, "api").await;
    assert_eq!(report.elapsed_ms, None);
    assert!(report.buckets.is_empty(), "nothing counted before start");
    assert_eq!(report.first_injection_ms, vec![None, None, None]);
    assert!(decisions(&api, "api", "").await.decisions.is_empty());

    let start = Instant::now();
    let (s, first) = call(&api, "POST", "/http-proxies/api/start", None).await;
    assert_eq!(s, 200, "{first}");
    let lag = start.elapsed();
    assert!(first["started_unix_ms"].as_u64().is_some(), "{first}");
    let (_, again) = call(&api, "POST", "/http-proxies/api/start", None).await;
    assert_eq!(first, again, "start is idempotent");

    let window = Duration::from_millis(300)..Duration::from_millis(800);
    let seen = drive(proxy, start, Duration::from_millis(1300)).await;
    let (mut inside, mut outside) = (0, 0);
    for &(sent, answered, status) in &seen {
        // The decision happened on the proxy clock somewhere in [sent - lag, answered].
        let earliest = sent.saturating_sub(lag);
        if window.contains(&earliest) && window.contains(&answered) {
            assert_eq!(status, 503, "inside the window: {seen:?}");
            inside += 1;
        } else if answered < window.start || earliest >= window.end {
            assert_eq!(status, 200, "outside the window: {seen:?}");
            outside += 1;
        }
    }
    assert!(inside > 0 && outside > 0, "{seen:?}");

    let report = tap(&api, "api").await;
    let injections = seen.iter().filter(|s| s.2 == 503).count() as u64;
    assert_eq!(injected(&report, 2), injections);
    let first = report.first_injection_ms[2].expect("rule 2 fired");
    assert!((300..800).contains(&first), "{first}");
    assert_eq!(report.first_injection_ms[..2], [None, None]);
    for bucket in &report.buckets {
        if bucket.injected[2] > 0 {
            assert!((300..800).contains(&bucket.at_ms), "{bucket:?}");
        }
    }
    let received: u64 = report.buckets.iter().map(|b| b.received).sum();
    assert_eq!(received, seen.len() as u64);
    assert!(report.elapsed_ms.is_some_and(|e| e >= 1000), "{report:?}");
}

/// Installs the replay schedule, starts it and sends 20 requests; the decision log.
async fn replay(api: &AdminServer, proxy: SocketAddr) -> DecisionPage {
    let schedule = json!({"seed": 42, "rules": [
        {"id": 0, "from_ms": 0, "until_ms": null,
         "fault": {"kind": "status", "status": 503, "probability": 0.5}},
        {"id": 1, "from_ms": 0,
         "fault": {"kind": "status", "status": 500, "path": "/item/"}}
    ]});
    let (s, v) = call(api, "PUT", "/http-proxies/api/schedule", Some(schedule)).await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = call(api, "POST", "/http-proxies/api/start", None).await;
    assert_eq!(s, 200);
    for i in 0..20 {
        let path = if i % 4 == 0 { "/other" } else { "/item/1" };
        through(proxy, path).await;
    }
    decisions(api, "api", "?limit=10000").await
}

#[tokio::test]
async fn the_decision_log_explains_pages_and_replays() {
    let api = admin_api(None).await;
    let stub = stub().await;
    let proxy = create(&api, "api", &stub.url()).await;
    let first = replay(&api, proxy).await;
    // 20 requests see rule 0; the 15 on /item/ see rule 1 too.
    assert_eq!(first.decisions.len(), 35);
    assert_eq!((first.next, first.dropped), (35, 0));
    let hits = first
        .decisions
        .iter()
        .filter(|d| d.rule == 0 && d.injected)
        .count();
    assert!(hits > 0 && hits < 20, "probability 0.5: {hits} of 20");
    for d in &first.decisions {
        assert_eq!(d.method, "GET");
        assert!(
            d.reason.starts_with(&format!("rule {} (status): ", d.rule)),
            "{d:?}"
        );
        if d.injected {
            assert!(d.roll < d.probability, "{d:?}");
            assert!(d.reason.contains(" < probability "), "{d:?}");
        } else if d.rule == 0 {
            assert!(
                d.roll >= d.probability && d.reason.contains(">= probability"),
                "{d:?}"
            );
        }
    }
    // Where rule 0 answered, rule 1 says so; where it missed, rule 1 answered.
    for d in first.decisions.iter().filter(|d| d.rule == 1) {
        let zero = first
            .decisions
            .iter()
            .find(|z| z.rule == 0 && z.request == d.request)
            .expect("rule 0 on the same request");
        assert_eq!(d.injected, !zero.injected, "{zero:?} {d:?}");
        if zero.injected {
            assert!(d.reason.contains("already answered by rule 0"), "{d:?}");
        }
    }

    let page = decisions(&api, "api", "?since=0&limit=10").await;
    assert_eq!(page.decisions.len(), 10);
    assert_eq!(page.next, 10);
    let page = decisions(&api, "api", &format!("?since={}&limit=10", page.next)).await;
    assert_eq!(page.decisions[0].seq, 10);
    assert_eq!(page.decisions, first.decisions[10..20]);
    let (s, _) = call(&api, "GET", "/http-proxies/api/decisions?since=x", None).await;
    assert_eq!(s, 400);

    // The same schedule, seed and requests decide the same way.
    let second = replay(&api, proxy).await;
    let key = |p: &DecisionPage| {
        p.decisions
            .iter()
            .map(|d| {
                (
                    d.seq,
                    d.request,
                    d.connection,
                    d.rule,
                    d.path.clone(),
                    d.injected,
                    d.roll.to_bits(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&first), key(&second));
}

#[tokio::test]
async fn the_token_guards_the_http_proxies() {
    let api = admin_api(Some("s3cret")).await;
    let stub = stub().await;
    let body = json!({"name": "api", "upstream": stub.url()});
    let (s, v) = call(&api, "POST", "/http-proxies", Some(body.clone())).await;
    assert_eq!((s, v["status"].clone()), (401, json!(401)), "{v}");
    let (s, _) = call(&api, "GET", "/http-proxies", None).await;
    assert_eq!(s, 401);
    let auth = [("Authorization", "Bearer s3cret")];
    let (s, v) = call_with(&api, "POST", "/http-proxies", Some(body), &auth).await;
    assert_eq!(s, 201, "{v}");
    let (s, _) = call(&api, "GET", "/http-proxies/api/tap", None).await;
    assert_eq!(s, 401);
    let (s, _) = call_with(&api, "GET", "/http-proxies/api/tap", None, &auth).await;
    assert_eq!(s, 200);
}
