//! Every HTTP fault kind's effect, seen by a raw TCP client (bytes, how the connection
//! ended, time taken) and by the stub upstream behind the proxy (calls served).

use breakerbox::config::{parse_profile, StubRoute, StubSettings};
use breakerbox::fault::{FaultLayer, FaultProxy, Rules, Tap};
use breakerbox::stub::Stub;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The stub's answer to `GET /big/{id}`: 1,000 bytes, so cuts and dribbles are visible.
const BIG: usize = 1000;

fn rules(text: &str, until: Duration) -> Rules {
    let p = parse_profile("test", "test.toml", text).expect("valid profile");
    Rules::all_in(p.faults, Duration::ZERO, until)
}

struct Rig {
    stub: Stub,
    proxy: FaultProxy,
    tap: Arc<Tap>,
}

async fn rig_seeded(text: &str, until: Duration, seed: u64) -> Rig {
    rig_with(text, until, seed, Duration::from_secs(30)).await
}

async fn rig_with(text: &str, until: Duration, seed: u64, upstream_timeout: Duration) -> Rig {
    let mut big = breakerbox::stub::default_route();
    big.path = "/big/{id}".into();
    big.body = "x".repeat(BIG);
    let mut slow = breakerbox::stub::default_route();
    slow.path = "/slow/{id}".into();
    slow.delay = Duration::from_secs(3);
    let stub = Stub::start(&StubSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        routes: vec![breakerbox::stub::default_route(), big as StubRoute, slow],
    })
    .await
    .expect("stub starts");
    let rules = rules(text, until);
    let layer = FaultLayer::starting_now(rules, seed, Duration::from_secs(60));
    let tap = layer.tap();
    let proxy = FaultProxy::start(
        "127.0.0.1:0".parse().expect("addr"),
        &stub.url(),
        layer,
        upstream_timeout,
    )
    .await
    .expect("proxy starts");
    Rig { stub, proxy, tap }
}

async fn start(text: &str) -> Rig {
    rig_seeded(text, Duration::from_secs(600), 1).await
}

/// How a raw connection ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Eof,
    Reset,
    Timeout,
}

#[derive(Debug)]
struct Raw {
    bytes: Vec<u8>,
    end: End,
    took: Duration,
    first_byte: Option<Duration>,
}

impl Raw {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The bytes after the header block.
    fn body(&self) -> &[u8] {
        let at = self
            .bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(self.bytes.len(), |p| p + 4);
        &self.bytes[at..]
    }
}

/// One `GET path` on a fresh connection that asks to be closed after it.
async fn raw_get(rig: &Rig, path: &str) -> Raw {
    let addr = rig.proxy.url().trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut s = TcpStream::connect(&addr).await.expect("connects");
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .expect("writes");
    let mut bytes = Vec::new();
    let mut first_byte = None;
    let mut buf = [0u8; 4096];
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Err(_) => break End::Timeout,
            Ok(Ok(0)) => break End::Eof,
            Ok(Ok(n)) => {
                first_byte.get_or_insert_with(|| started.elapsed());
                bytes.extend_from_slice(&buf[..n]);
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => break End::Reset,
            Ok(Err(e)) => panic!("unexpected read error {e}"),
        }
    };
    Raw {
        bytes,
        end,
        took: started.elapsed(),
        first_byte,
    }
}

#[tokio::test]
async fn status_answers_any_code_with_headers_and_the_upstream_is_spared() {
    let rig = start(
        "[[faults]]\nkind = \"status\"\nstatus = 429\nbody = \"slow down\"\nheaders = { retry-after = \"7\" }\n",
    )
    .await;
    let raw = raw_get(&rig, "/item/1").await;
    let text = raw.text();
    assert!(text.starts_with("HTTP/1.1 429"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 7"),
        "{text}"
    );
    assert_eq!(raw.body(), b"slow down");
    assert_eq!(raw.end, End::Eof);
    assert_eq!(rig.stub.served(), 0);
}

#[tokio::test]
async fn latency_on_headers_delays_the_first_byte_and_on_body_only_the_end() {
    let rig = start("[[faults]]\nkind = \"latency\"\ndelay = \"300ms\"\npath = \"/item/\"\n[[faults]]\nkind = \"latency\"\ndelay = \"1s\"\non = \"body\"\npath = \"/big/\"\n").await;
    let raw = raw_get(&rig, "/item/1").await;
    assert!(raw.text().starts_with("HTTP/1.1 200"), "{}", raw.text());
    assert!(raw.first_byte.expect("answered") >= Duration::from_millis(300));
    let raw = raw_get(&rig, "/big/1").await;
    assert_eq!(raw.body().len(), BIG);
    assert!(raw.took >= Duration::from_secs(1), "took {:?}", raw.took);
    // The headers came first: well before the held body (generous for a loaded machine).
    assert!(
        raw.first_byte.expect("answered") < Duration::from_millis(800),
        "{raw:?}"
    );
    assert_eq!(rig.stub.served(), 2);
}

#[tokio::test]
async fn slow_body_dribbles_the_whole_body_over_the_duration() {
    let rig = start("[[faults]]\nkind = \"slow_body\"\nover = \"600ms\"\n").await;
    let raw = raw_get(&rig, "/big/1").await;
    assert!(raw.text().starts_with("HTTP/1.1 200"));
    assert_eq!(raw.body().len(), BIG, "the whole body arrives");
    assert!(
        raw.took >= Duration::from_millis(600),
        "took {:?}",
        raw.took
    );
    assert_eq!(raw.end, End::Eof);
    assert_eq!(rig.stub.served(), 1);
}

#[tokio::test]
async fn truncate_sends_part_of_the_body_then_closes() {
    let rig = start("[[faults]]\nkind = \"truncate\"\nfraction = 0.3\n").await;
    let raw = raw_get(&rig, "/big/1").await;
    let text = raw.text();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(&format!("content-length: {BIG}")), "{text}");
    assert_eq!(raw.body().len(), 300, "30 % of the body, then the close");
    assert_ne!(raw.end, End::Timeout);
    assert_eq!(rig.stub.served(), 1);

    let short = start("[[faults]]\nkind = \"truncate\"\nbytes = 10\n").await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/big/1", short.proxy.url()))
        .send()
        .await
        .expect("headers arrive");
    assert!(response.bytes().await.is_err(), "a cut body is an error");
}

#[tokio::test]
async fn malformed_answers_cannot_be_parsed() {
    let rig = start("[[faults]]\nkind = \"malformed\"\npath = \"/item/1\"\n[[faults]]\nkind = \"malformed\"\nmode = \"garbage\"\n").await;
    let raw = raw_get(&rig, "/item/1").await;
    let text = raw.text();
    assert!(
        text.contains("transfer-encoding: chunked\r\n") && text.contains("\r\n\r\nZZ\r\n"),
        "{text}"
    );
    let raw = raw_get(&rig, "/item/2").await;
    assert!(raw.bytes.starts_with(b"\x00"), "{:?}", raw.text());
    assert!(!raw.text().contains("HTTP/1.1"));
    assert_eq!(rig.stub.served(), 0);
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    for path in ["/item/1", "/item/2"] {
        let got = match client
            .get(format!("{}{path}", rig.proxy.url()))
            .send()
            .await
        {
            Ok(r) => r.bytes().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(got.is_err(), "{path}: a malformed answer is an error");
    }
}

#[tokio::test]
async fn empty_closes_cleanly_and_reset_resets() {
    let rig =
        start("[[faults]]\nkind = \"empty\"\npath = \"/item/1\"\n[[faults]]\nkind = \"reset\"\n")
            .await;
    let raw = raw_get(&rig, "/item/1").await;
    assert!(raw.bytes.is_empty(), "{}", raw.text());
    assert_eq!(raw.end, End::Eof);
    let raw = raw_get(&rig, "/item/2").await;
    assert!(raw.bytes.is_empty());
    assert_eq!(raw.end, End::Reset);
    assert_eq!(rig.stub.served(), 0);
    let injected: Vec<u64> = (0..2)
        .map(|i| rig.tap.snapshot().iter().map(|b| b.injected[i]).sum())
        .collect();
    assert_eq!(injected, vec![1, 1]);
}

#[tokio::test]
async fn blackhole_holds_the_request_until_the_window_ends() {
    let rig = rig_seeded(
        "[[faults]]\nkind = \"blackhole\"\n",
        Duration::from_millis(700),
        1,
    )
    .await;
    let raw = raw_get(&rig, "/item/1").await;
    assert!(raw.bytes.is_empty(), "{}", raw.text());
    assert_eq!(
        raw.end,
        End::Eof,
        "closed at the window's end, not timed out"
    );
    assert!(
        raw.took >= Duration::from_millis(600),
        "took {:?}",
        raw.took
    );
    assert_eq!(rig.stub.served(), 0);
    // After the window, requests pass.
    let raw = raw_get(&rig, "/item/2").await;
    assert!(raw.text().starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn per_connection_probability_is_all_or_nothing_per_keep_alive_connection() {
    let rig = start(
        "[[faults]]\nkind = \"status\"\nstatus = 503\nprobability = 0.5\nper = \"connection\"\n",
    )
    .await;
    let mut faulted = 0;
    for _ in 0..16 {
        // One client, one kept-alive connection, five requests in a row.
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        let mut statuses = Vec::new();
        for id in 0..5 {
            let r = client
                .get(format!("{}/item/{id}", rig.proxy.url()))
                .send()
                .await
                .expect("answered");
            statuses.push(r.status().as_u16());
            let _ = r.bytes().await;
        }
        assert!(
            statuses.iter().all(|&s| s == statuses[0]),
            "one connection, one roll: {statuses:?}"
        );
        faulted += usize::from(statuses[0] == 503);
    }
    assert!((1..16).contains(&faulted), "{faulted} of 16 connections");
    assert_eq!(rig.stub.served(), 5 * (16 - faulted) as u64);
}

#[tokio::test]
async fn the_same_seed_and_traffic_give_the_same_decisions() {
    let profile = "[[faults]]\nkind = \"status\"\nstatus = 503\nprobability = 0.5\n[[faults]]\nkind = \"latency\"\ndistribution = \"lognormal\"\ndelay = \"1ms\"\nprobability = 0.5\n";
    let run = |seed: u64| async move {
        let rig = rig_seeded(profile, Duration::from_secs(600), seed).await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let mut statuses = Vec::new();
        for id in 0..40 {
            let r = client
                .get(format!("{}/item/{id}", rig.proxy.url()))
                .send()
                .await
                .expect("answered");
            statuses.push(r.status().as_u16());
        }
        let injected: Vec<u64> = (0..2)
            .map(|i| rig.tap.snapshot().iter().map(|b| b.injected[i]).sum())
            .collect();
        (statuses, injected)
    };
    let first = run(42).await;
    let again = run(42).await;
    assert_eq!(first, again);
    assert!(first.0.contains(&503) && first.0.contains(&200));
    assert_ne!(first.0, run(43).await.0, "another seed, other decisions");
}

#[tokio::test]
async fn the_proxy_times_out_a_silent_upstream_with_a_504_and_counts_it() {
    let rig = rig_with(
        "[[faults]]\nkind = \"status\"\nstatus = 500\npath = \"/never\"\n",
        Duration::from_secs(600),
        1,
        Duration::from_millis(300),
    )
    .await;
    let raw = raw_get(&rig, "/slow/1").await;
    assert!(raw.text().starts_with("HTTP/1.1 504"), "{}", raw.text());
    assert!(raw.took < Duration::from_secs(3), "took {:?}", raw.took);
    let tap = rig.tap.snapshot();
    let sum = |f: fn(&breakerbox::fault::TapBucket) -> u64| tap.iter().map(f).sum::<u64>();
    assert_eq!(sum(|b| b.upstream_timeouts), 1);
    assert_eq!(sum(|b| b.upstream_errors), 1);
}
