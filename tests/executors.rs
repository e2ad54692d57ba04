//! The executors against a loopback target that records what it sees: a closed model holds
//! its virtual users (one connection each, never more requests in flight), an open-model
//! ramp sends exactly its timetable, shaped as the ramp says.

use breakerbox::config::{self, EmbeddedProfiles};
use breakerbox::drill::{PreparedDrill, Stop};
use breakerbox::plan::Overrides;
use breakerbox::report::RunResult;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the target saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    arrivals: Mutex<Vec<Instant>>,
}

/// An HTTP/1.1 keep-alive target answering every request `200 ok` after `delay`.
async fn target(delay: Duration) -> (SocketAddr, Arc<Seen>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counts.connections.fetch_add(1, Ordering::SeqCst);
            let seen = counts.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // Requests carry no body: each ends at its blank line.
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    buf.drain(..end + 4);
                    seen.arrivals.lock().expect("lock").push(Instant::now());
                    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.most_in_flight.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen, server)
}

async fn run(target: SocketAddr, phase: &str) -> RunResult {
    let text = format!(
        "name = \"executors\"\ntarget = \"http://{target}\"\nrequest_timeout = \"2s\"\n\n[[requests]]\nname = \"any\"\npath = \"/\"\n\n[[phases]]\nname = \"p\"\n{phase}\n"
    );
    let drill =
        config::parse_drill("executors.toml", &text, &EmbeddedProfiles(&[])).expect("valid drill");
    let prepared = PreparedDrill::prepare(drill, &Overrides::default())
        .await
        .expect("target accepts connections");
    let started = Instant::now();
    let result = prepared.execute(Stop::new()).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded: {:?}",
        started.elapsed()
    );
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_vus_keep_their_users_and_no_more() {
    let (addr, seen, server) = target(Duration::from_millis(50)).await;
    let result = run(
        addr,
        "executor = \"constant-vus\"\nvus = 3\nduration = \"1s\"",
    )
    .await;
    server.abort();
    let phase = &result.phases[0];
    assert_eq!(phase.executor, "constant-vus");
    let requests = phase.all.requests;
    assert_eq!(phase.all.errors, 0, "{:?}", phase.all);
    // Closed model: each user waits for its answer, so never more than 3 in flight and at
    // most 3 × (1 s / 50 ms) requests; each user kept its one connection.
    assert!(seen.most_in_flight.load(Ordering::SeqCst) <= 3);
    assert!((6..=63).contains(&requests), "{requests} requests");
    // The preflight's connection is one more than the users'.
    assert!(seen.connections.load(Ordering::SeqCst) <= 3 + 1);
    assert_eq!(seen.arrivals.lock().expect("lock").len() as u64, requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramping_arrival_rate_sends_its_timetable() {
    let (addr, seen, server) = target(Duration::ZERO).await;
    // 0 → 100/s over 1 s (50 requests), then 100/s for 0.5 s (50 more).
    let result = run(
        addr,
        "executor = \"ramping-arrival-rate\"\nmax_vus = 20\nstages = [{ duration = \"1s\", target = 100 }, { duration = \"500ms\", target = 100 }]",
    )
    .await;
    server.abort();
    let phase = &result.phases[0];
    assert_eq!(phase.executor, "ramping-arrival-rate");
    assert_eq!(phase.all.requests, 100, "{:?}", phase.all);
    assert_eq!(phase.dropped, 0);
    assert_eq!(phase.all.errors, 0);
    // The shape: the timetable puts 13 requests in the first third and 50 in the last.
    // Dispatch lag on a busy machine only moves requests later, so the test allows it.
    let arrivals = seen.arrivals.lock().expect("lock").clone();
    assert_eq!(arrivals.len(), 100);
    let first = arrivals[0];
    let third = |from: u64, to: u64| {
        arrivals
            .iter()
            .filter(|t| {
                let at = t.duration_since(first);
                at >= Duration::from_millis(from) && at < Duration::from_millis(to)
            })
            .count()
    };
    let (early, late) = (third(0, 500), third(1_000, 60_000));
    assert!(early < 25, "{early} in the first third");
    assert!(
        late > 2 * early,
        "{late} in the last third, {early} in the first"
    );
}
