//! The demo service in process against a switchable upstream: the rate breaker's whole
//! cycle as seen through headers, `/breaker`, `/metrics` and the transition log, and the
//! knobs that make broken variants.

mod common;

use breakerbox::config::{DemoBreaker, DemoSettings, RateSettings, StateHeader};
use breakerbox::demo::DemoService;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers `GET /item/{id}` with 200 while healthy, else 500.
struct Switchable(Arc<AtomicBool>);

impl Respond for Switchable {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.load(Ordering::Relaxed) {
            ResponseTemplate::new(200).set_body_string(r#"{"name":"item"}"#)
        } else {
            ResponseTemplate::new(500)
        }
    }
}

struct Rig {
    _upstream: MockServer,
    healthy: Arc<AtomicBool>,
    service: DemoService,
    client: reqwest::Client,
    next_id: AtomicU64,
}

/// What one item request got back.
#[derive(Debug)]
struct Got {
    status: u16,
    state: Option<String>,
    fallback: bool,
}

impl Rig {
    async fn start(settings: DemoSettings) -> Rig {
        let healthy = Arc::new(AtomicBool::new(false));
        let upstream = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        Mock::given(wiremock::matchers::method("GET"))
            .respond_with(Switchable(healthy.clone()))
            .mount(&upstream)
            .await;
        let service = DemoService::start(&settings, &upstream.uri())
            .await
            .expect("demo service starts");
        let client = reqwest::Client::builder()
            .no_proxy()
            .retry(reqwest::retry::never())
            .build()
            .expect("client");
        Rig {
            _upstream: upstream,
            healthy,
            service,
            client,
            next_id: AtomicU64::new(0),
        }
    }

    /// Requests a never-cached item.
    async fn item(&self) -> Got {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let r = self
            .client
            .get(format!("{}/api/item/i{id}", self.service.url()))
            .send()
            .await
            .expect("demo service answers");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Got {
            status: r.status().as_u16(),
            state: header("x-circuit-state"),
            fallback: header("x-fallback").is_some(),
        }
    }

    /// The service's socket address, for raw TCP clients.
    fn addr(&self) -> std::net::SocketAddr {
        self.service
            .url()
            .trim_start_matches("http://")
            .parse()
            .expect("address")
    }

    async fn get(&self, path: &str) -> (Option<String>, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.service.url()))
            .send()
            .await
            .expect("demo service answers");
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        (content_type, r.text().await.expect("body"))
    }

    async fn breaker(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/breaker").await.1).expect("JSON")
    }
}

fn rate_settings(log: Option<std::path::PathBuf>) -> DemoSettings {
    DemoSettings {
        breaker: DemoBreaker::Rate,
        open_duration: Duration::from_millis(300),
        rate: RateSettings {
            failure_rate: 0.5,
            minimum_calls: 4,
            window: 8,
            half_open_calls: 3,
        },
        transition_log: log,
        ..DemoSettings::default()
    }
}

#[tokio::test]
async fn rate_breaker_cycle_through_every_channel() {
    let dir = common::scratch("demo-rate");
    let log = dir.join("transitions.jsonl");
    let rig = Rig::start(rate_settings(Some(log.clone()))).await;

    let (content_type, metrics) = rig.get("/metrics").await;
    assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4"));
    assert!(metrics.contains(r#"demo_circuitbreaker_state{name="upstream",state="closed"} 1"#));

    // Four failures: the minimum volume at a 100 % failure rate.
    for n in 1..=4 {
        let got = rig.item().await;
        assert!(got.fallback, "{got:?}");
        let want = if n < 4 { "closed" } else { "open" };
        assert_eq!(got.state.as_deref(), Some(want), "call {n}");
    }
    let got = rig.item().await;
    assert_eq!((got.state.as_deref(), got.fallback), (Some("open"), true));
    let (_, metrics) = rig.get("/metrics").await;
    for line in [
        r#"demo_circuitbreaker_state{name="upstream",state="open"} 1"#,
        r#"demo_circuitbreaker_state{name="upstream",state="closed"} 0"#,
        r#"demo_circuitbreaker_state_code{name="upstream"} 1"#,
        "demo_upstream_calls_total 4",
        "demo_fallbacks_total 5",
        "demo_rejected_calls_total 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }

    // The upstream recovers; after the wait the next three calls are the half-open trials.
    rig.healthy.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rig.breaker().await["state"], "open", "half-open is lazy");
    for n in 1..=3 {
        let got = rig.item().await;
        assert_eq!(
            (got.status, got.state.as_deref(), got.fallback),
            (200, Some("half_open"), false),
            "trial {n}"
        );
    }
    let got = rig.item().await;
    assert_eq!(got.state.as_deref(), Some("closed"));

    let view = rig.breaker().await;
    assert_eq!(view["kind"], "rate");
    assert_eq!(view["breaker"], "on");
    assert_eq!(view["state"], "closed");
    assert_eq!(view["rate"]["half_open_calls"], 3);
    let to: Vec<&str> = view["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| t["to"].as_str().expect("to"))
        .collect();
    assert_eq!(to, ["closed", "open", "half_open", "closed"]);

    let text = std::fs::read_to_string(&log).expect("transition log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let pairs: Vec<(serde_json::Value, serde_json::Value)> = lines
        .iter()
        .map(|l| (l["from"].clone(), l["to"].clone()))
        .collect();
    assert_eq!(
        pairs,
        [
            (serde_json::Value::Null, "closed".into()),
            ("closed".into(), "open".into()),
            ("open".into(), "half_open".into()),
            ("half_open".into(), "closed".into()),
        ]
    );
    assert!(lines.iter().all(|l| l["breaker"] == "rate"));
    // The file and /breaker agree on every wall-clock time.
    let memory: Vec<u64> = view["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| t["unix_ms"].as_u64().expect("unix_ms"))
        .collect();
    let file: Vec<u64> = lines
        .iter()
        .map(|l| l["unix_ms"].as_u64().expect("unix_ms"))
        .collect();
    assert_eq!(memory, file);
    assert!(file.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn broken_variants_no_fallback_and_a_lying_header() {
    let rig = Rig::start(DemoSettings {
        fallback: false,
        state_header: StateHeader::Closed,
        failure_threshold: 2,
        open_duration: Duration::from_secs(60),
        ..DemoSettings::default()
    })
    .await;
    for _ in 0..3 {
        let got = rig.item().await;
        assert_eq!(
            (got.status, got.state.as_deref(), got.fallback),
            (503, Some("closed"), false)
        );
    }
    let view = rig.breaker().await;
    assert_eq!(view["state"], "open", "the endpoint tells the truth");
    assert_eq!(view["kind"], "consecutive");
    assert_eq!(view["fallbacks"], 0);
    assert_eq!(view["rejected"], 1);
}

#[tokio::test]
async fn broken_variants_no_header_and_pybreaker_style_labels() {
    let quiet = Rig::start(DemoSettings {
        state_header: StateHeader::None,
        ..DemoSettings::default()
    })
    .await;
    assert_eq!(quiet.item().await.state, None);

    let rig = Rig::start(DemoSettings {
        label_probe: false,
        failure_threshold: 2,
        open_duration: Duration::from_millis(200),
        ..DemoSettings::default()
    })
    .await;
    for _ in 0..2 {
        rig.item().await;
    }
    assert_eq!(rig.item().await.state.as_deref(), Some("open"));
    rig.healthy.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let probe = rig.item().await;
    assert_eq!(
        (probe.status, probe.state.as_deref()),
        (200, Some("closed")),
        "the successful probe already says closed"
    );
    let to: Vec<String> = rig.breaker().await["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| t["to"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(to, ["closed", "open", "half_open", "closed"]);
}

#[tokio::test]
async fn without_a_breaker_there_are_no_state_gauges() {
    let rig = Rig::start(DemoSettings {
        breaker: DemoBreaker::Off,
        ..DemoSettings::default()
    })
    .await;
    let got = rig.item().await;
    assert_eq!((got.state, got.fallback), (None, true));
    let (_, metrics) = rig.get("/metrics").await;
    assert!(!metrics.contains("circuitbreaker"), "{metrics}");
    assert!(metrics.contains("demo_upstream_calls_total 1\n"));
    let view = rig.breaker().await;
    assert_eq!(
        (&view["state"], &view["kind"]),
        (&"disabled".into(), &"off".into())
    );
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_header_timeout_and_requests_still_served() {
    use tokio::io::AsyncReadExt;
    let rig = Rig::start(rate_settings(None)).await;
    let addr = rig.addr();
    // A slowloris: connections that never send a byte.
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(
            tokio::net::TcpStream::connect(addr)
                .await
                .expect("connects"),
        );
    }
    let health = rig
        .client
        .get(format!("{}/health", rig.service.url()))
        .send()
        .await
        .expect("a real request is served meanwhile");
    assert_eq!(health.status(), 200);
    let limit = breakerbox::accept::HEADER_READ_TIMEOUT + Duration::from_secs(3);
    for mut conn in silent {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(limit, conn.read(&mut buf))
            .await
            .expect("closed by the server within the header timeout");
        // Closed: end of stream, or a reset; never a response to a request never sent.
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}

#[tokio::test]
async fn bad_chunked_bodies_end_only_their_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rig = Rig::start(rate_settings(None)).await;
    let addr = rig.addr();
    for garbage in [
        &b"POST /api/item/1 HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nnot hex\r\n"[..],
        b"GET /api/item/1 HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\n",
        b"\x00\x01 garbage\r\n\r\n",
    ] {
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connects");
        conn.write_all(garbage).await.expect("writes");
        let mut sink = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut sink)).await;
        assert!(closed.is_ok(), "the service closes a connection it cannot parse");
    }
    let (_, health) = rig.get("/health").await;
    assert_eq!(health, "ok");
}
