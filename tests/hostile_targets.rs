//! Targets that misbehave: garbage instead of HTTP, or silence. The run must finish on
//! time, classify every request as an error of the right kind, and never panic.

use breakerbox::config::{self, EmbeddedProfiles};
use breakerbox::drill::{PreparedDrill, Stop};
use breakerbox::plan::Overrides;
use breakerbox::verdict::Outcome;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn drill(target: SocketAddr) -> config::Drill {
    let text = format!(
        r#"
name = "hostile"
target = "http://{target}"
request_timeout = "300ms"

[[requests]]
name = "any"
path = "/x/{{{{random_int 1 9}}}}"

[[phases]]
name = "open"
executor = "constant-arrival-rate"
rate = 20
duration = "1s"

[[phases]]
name = "closed"
executor = "ramping-vus"
stages = [{{ duration = "1s", target = 2 }}]

[[expect.thresholds]]
max_error_rate = 0.0
"#
    );
    config::parse_drill("hostile.toml", &text, &EmbeddedProfiles(&[])).expect("valid drill")
}

async fn run(target: SocketAddr) -> breakerbox::report::RunResult {
    let prepared = PreparedDrill::prepare(drill(target), &Overrides::default())
        .await
        .expect("target accepts connections");
    let started = Instant::now();
    let result = prepared.execute(Stop::new()).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded: {:?}",
        started.elapsed()
    );
    result
}

#[tokio::test]
async fn garbage_responses_are_protocol_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(b"SMTP READY\r\n\r\n").await;
            });
        }
    });
    let result = run(addr).await;
    server.abort();
    assert_eq!(result.outcome, Outcome::Failed);
    assert!(result.total.requests >= 20, "{}", result.total.requests);
    assert_eq!(result.total.errors, result.total.requests);
    assert!(
        result.total.failures.get("protocol").copied().unwrap_or(0) > 0,
        "{:?}",
        result.total.failures
    );
}

#[tokio::test]
async fn a_silent_target_times_out_within_the_request_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            held.push(stream); // accept, read nothing, answer nothing
        }
    });
    let result = run(addr).await;
    server.abort();
    assert_eq!(result.outcome, Outcome::Failed);
    assert!(result.total.requests > 0);
    assert_eq!(
        result.total.failures.get("timeout").copied(),
        Some(result.total.requests)
    );
    // The open model kept its schedule although every request hung for the whole timeout.
    assert_eq!(result.phases[0].all.requests, 20);
    assert_eq!(result.phases[0].dropped, 0);
    // Timeouts are errors, not latencies.
    assert_eq!(result.total.latency_ms.p50, 0.0);
}
