//! The fault proxy really injects each fault kind: the client sees the fault and the stub
//! behind the proxy sees fewer calls (or the delay).

use breakerbox::config::{parse_profile, StubSettings};
use breakerbox::fault::{FaultLayer, FaultProxy, Rules, Tap};
use breakerbox::stub::Stub;
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The faults of a profile written inline, each always on.
fn profile(text: &str) -> Rules {
    let p = parse_profile("test", "test.toml", text).expect("valid profile");
    Rules::all_in(p.faults, Duration::ZERO, Duration::from_secs(600))
}

struct Rig {
    stub: Stub,
    proxy: FaultProxy,
    tap: Arc<Tap>,
    client: reqwest::Client,
}

async fn rig(rules: Rules) -> Rig {
    let stub = Stub::start(&StubSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        routes: Vec::new(),
    })
    .await
    .expect("stub starts");
    let layer = FaultLayer::starting_now(rules, 1, Duration::from_secs(60));
    let tap = layer.tap();
    let proxy = FaultProxy::start(
        "127.0.0.1:0".parse().expect("addr"),
        &stub.url(),
        layer,
        Duration::from_secs(30),
    )
    .await
    .expect("proxy starts");
    let client = reqwest::Client::builder()
        .no_proxy()
        .retry(reqwest::retry::never())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    Rig {
        stub,
        proxy,
        tap,
        client,
    }
}

impl Rig {
    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client
            .get(format!("{}{path}", self.proxy.url()))
            .send()
            .await
    }
}

#[tokio::test]
async fn requests_without_an_active_fault_pass_through_to_the_stub() {
    let rig = rig(profile("[[faults]]\nkind = \"reset\"\npath = \"/item/9\"")).await;
    let response = rig.get("/item/42").await.expect("answered");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert!(body.contains("\"id\":\"42\""), "{body}");
    assert_eq!(rig.stub.served(), 1);
    let forwarded: u64 = rig.tap.snapshot().iter().map(|b| b.forwarded).sum();
    assert_eq!(forwarded, 1);
}

#[tokio::test]
async fn status_fault_answers_500_and_the_stub_never_sees_the_call() {
    let rig = rig(profile(
        "[[faults]]\nkind = \"status\"\nstatus = 500\nbody = \"boom\"\npath = \"/item/\"",
    ))
    .await;
    for id in 0..5 {
        let response = rig.get(&format!("/item/{id}")).await.expect("answered");
        assert_eq!(response.status(), 500);
        assert_eq!(response.text().await.expect("body"), "boom");
    }
    assert_eq!(rig.stub.served(), 0);
    let injected: u64 = rig.tap.snapshot().iter().map(|b| b.injected[0]).sum();
    assert_eq!(injected, 5);
}

#[tokio::test]
async fn reset_fault_resets_the_connection_without_a_response() {
    let rig = rig(profile("[[faults]]\nkind = \"reset\"\npath = \"/item/\"")).await;
    let err = rig.get("/item/1").await.expect_err("no response");
    let mut source = err.source();
    let mut saw_reset = false;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            saw_reset |= io.kind() == std::io::ErrorKind::ConnectionReset;
        }
        source = s.source();
    }
    assert!(saw_reset, "expected a TCP reset, got: {err:?}");
    assert_eq!(rig.stub.served(), 0);
}

#[tokio::test]
async fn latency_fault_delays_the_call_which_still_reaches_the_stub() {
    let delay = Duration::from_millis(300);
    let rig = rig(profile(
        "[[faults]]\nkind = \"latency\"\ndelay = \"300ms\"\npath = \"/item/\"",
    ))
    .await;
    let started = Instant::now();
    let response = rig.get("/item/7").await.expect("answered");
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= delay, "took {:?}", started.elapsed());
    assert_eq!(rig.stub.served(), 1);
}

#[tokio::test]
async fn probability_applies_per_request_not_per_connection() {
    let rig = rig(profile(
        "[[faults]]\nkind = \"status\"\nstatus = 503\nprobability = 0.5\npath = \"/item/\"",
    ))
    .await;
    let mut failed = 0;
    for id in 0..200 {
        let response = rig.get(&format!("/item/{id}")).await.expect("answered");
        if response.status() == 503 {
            failed += 1;
        }
        let _ = response.bytes().await;
    }
    // Per request, not per connection: sequential requests from one pooled client (one
    // keep-alive connection) see a mix, not all-or-nothing.
    assert!((60..140).contains(&failed), "{failed} of 200 failed");
    assert_eq!(rig.stub.served(), 200 - failed);
}
