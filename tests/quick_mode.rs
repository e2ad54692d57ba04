//! `breakerbox load URL` (quick mode) against a loopback server that records what it
//! receives: the closed model, the open model, virtual users with think time, the request's
//! method, headers and body, and bad input rejected in one line with exit code 2.

mod common;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// What the server saw: requests answered, and the last one's method, token and body.
#[derive(Default)]
struct Seen {
    requests: u64,
    method: String,
    token: Option<String>,
    body: Vec<u8>,
}

async fn server() -> (SocketAddr, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    async move {
                        let method = req.method().to_string();
                        let token = req
                            .headers()
                            .get("x-token")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes().to_vec())
                            .unwrap_or_default();
                        let mut seen = log.lock().expect("lock");
                        seen.requests += 1;
                        seen.method = method;
                        seen.token = token;
                        seen.body = body;
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("ok"))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

async fn load(args: &[&str]) -> common::Finished {
    let args: Vec<std::ffi::OsString> = std::iter::once("load")
        .chain(args.iter().copied())
        .map(Into::into)
        .collect();
    tokio::task::spawn_blocking(move || common::run_args(&args))
        .await
        .expect("ran")
}

fn report(finished: &common::Finished) -> serde_json::Value {
    assert_eq!(finished.code, Some(0), "{finished}");
    assert_eq!(finished.stdout.trim().lines().count(), 1, "{finished}");
    serde_json::from_str(finished.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {finished}"))
}

#[tokio::test]
async fn connections_send_the_method_headers_and_body_asked_for() {
    let (addr, seen) = server().await;
    let url = format!("http://{addr}/submit?x=1");
    let finished = load(&[
        &url,
        "-c",
        "2",
        "-d",
        "1s",
        "-m",
        "post",
        "-H",
        "X-Token: abc",
        "--body",
        "hello",
        "--json",
    ])
    .await;
    let r = report(&finished);
    for key in [
        "rps", "requests", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms",
    ] {
        assert!(r[key].is_number(), "{key} missing: {finished}");
    }
    assert_eq!(r["model"], "closed");
    assert_eq!(r["errors"], 0);
    assert!(r.get("dropped").is_none(), "closed model has no drops: {r}");
    let requests = r["requests"].as_u64().expect("requests");
    assert!(requests >= 10, "{r}");
    let seen = seen.lock().expect("lock");
    assert!(seen.requests >= requests);
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.token.as_deref(), Some("abc"));
    assert_eq!(seen.body, b"hello");
}

#[tokio::test]
async fn a_rate_runs_the_open_model_on_schedule() {
    let (addr, seen) = server().await;
    let url = format!("http://{addr}/");
    let r = report(&load(&[&url, "--rate", "50", "-d", "2s", "--json"]).await);
    assert_eq!(r["model"], "open");
    // 100 intended starts; generous bounds for a loaded machine.
    let requests = r["requests"].as_u64().expect("requests");
    assert!((90..=101).contains(&requests), "{r}");
    assert_eq!(r["dropped"], 0, "{r}");
    for key in [
        "service_p50_ms",
        "service_p90_ms",
        "service_p99_ms",
        "service_max_ms",
    ] {
        assert!(r[key].is_number(), "{key} missing: {r}");
    }
    assert!(seen.lock().expect("lock").requests >= requests);
}

#[tokio::test]
async fn virtual_users_pause_between_requests() {
    let (addr, _seen) = server().await;
    let url = format!("http://{addr}/");
    let r = report(
        &load(&[
            &url,
            "--vus",
            "4",
            "--think",
            "100ms-200ms",
            "-d",
            "2s",
            "--json",
        ])
        .await,
    );
    assert_eq!(r["model"], "closed");
    // 4 users ramping over the first 0.2 s, each pausing 150 ms on average: about 50
    // requests, and surely fewer than 4 users with no pause would send.
    let requests = r["requests"].as_u64().expect("requests");
    assert!((20..=80).contains(&requests), "{r}");
}

#[tokio::test]
async fn the_human_summary_names_the_numbers() {
    let (addr, _seen) = server().await;
    let url = format!("http://{addr}/");
    let finished = load(&[&url, "-c", "1", "-d", "1s"]).await;
    assert_eq!(finished.code, Some(0), "{finished}");
    for word in [
        "requests",
        "req/s",
        "p50",
        "p99",
        "200 ×",
        "closed-model latency hides stalls",
    ] {
        assert!(finished.stdout.contains(word), "{word}: {finished}");
    }
}

#[tokio::test]
async fn bad_input_is_one_line_and_exit_2() {
    let (addr, seen) = server().await;
    let url = format!("http://{addr}/");
    let cases: [&[&str]; 8] = [
        &[&url, "-c", "0"],
        &[&url, "--rate", "0"],
        &[&url, "--rate", "fast"],
        &[&url, "--vus", "2", "--think", "5s-1s"],
        &[&url, "-H", "no colon here"],
        &[&url, "-d", "soon"],
        &["ftp://127.0.0.1/"],
        &[&url, "-c", "2", "--rate", "10"],
    ];
    for args in cases {
        let finished = load(args).await;
        assert_eq!(finished.code, Some(2), "{args:?}: {finished}");
        assert_eq!(
            finished.stderr.trim().lines().count(),
            1,
            "{args:?}: {finished}"
        );
        assert!(
            finished.stderr.starts_with("error:"),
            "{args:?}: {finished}"
        );
    }
    assert_eq!(seen.lock().expect("lock").requests, 0);
    // Nothing listens: an invalid run (exit 4), said in one line.
    let closed = format!("http://127.0.0.1:{}/", common::free_port());
    let finished = load(&[&closed, "-c", "1", "-d", "1s"]).await;
    assert_eq!(finished.code, Some(4), "{finished}");
    assert_eq!(finished.stderr.trim().lines().count(), 1, "{finished}");
}
