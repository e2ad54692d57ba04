//! breakerbox's `FaultLayer` inside your own service: an axum hello service that answers
//! 503 half the time and always ~50 ms late, on a free loopback port; the example sends it
//! 20 requests, prints what came back, and exits.
//!
//! Run with `cargo run --example fault_layer`. The seed makes the run repeatable: the same
//! seed and the same request order give the same answers.

use axum::error_handling::HandleErrorLayer;
use axum::routing::get;
use axum::Router;
use breakerbox::fault::{BoxError, FaultLayer};
use http::StatusCode;
use std::time::{Duration, Instant};
use tower::ServiceBuilder;

/// The faults, as a fault profile (the same TOML as `fault-profiles/*.toml`).
const PROFILE: &str = r#"
[[faults]]
kind = "status"
status = 503
probability = 0.5
body = '{"error": "injected by breakerbox"}'

[[faults]]
kind = "latency"
delay = "50ms"
"#;

const SEED: u64 = 42;
const REQUESTS: usize = 20;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let faults = FaultLayer::from_profile_str(PROFILE, SEED)?;
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .layer(
            ServiceBuilder::new()
                // axum wants services that cannot fail: a fault that ends the connection
                // (reset, empty, malformed, blackhole) becomes a 502 here.
                .layer(HandleErrorLayer::new(|e: BoxError| async move {
                    (StatusCode::BAD_GATEWAY, e.to_string())
                }))
                .layer(faults.clone()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hello", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .retry(reqwest::retry::never())
        .build()?;
    let mut unavailable = 0;
    let mut took = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let response = client.get(&url).send().await?;
        let status = response.status();
        response.bytes().await?;
        took.push(started.elapsed());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            unavailable += 1;
        }
    }
    server.abort();

    took.sort();
    println!("{REQUESTS} requests to {url} (seed {SEED}):");
    println!("  503 (injected): {unavailable}");
    println!("  200 (hello):    {}", REQUESTS - unavailable);
    println!(
        "  latency: min {:?}, median {:?}, max {:?} (50 ms injected on each)",
        took[0],
        took[REQUESTS / 2],
        took[REQUESTS - 1]
    );
    println!(
        "  injections per fault (status, latency): {:?}",
        faults.injected()
    );
    Ok(())
}
