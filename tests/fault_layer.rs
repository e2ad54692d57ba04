//! `FaultLayer` inside a user's own tower stack: a plain `service_fn` and an axum `Router`
//! wrapped in it, called in-process (no proxy, no sockets).

use axum::error_handling::HandleErrorLayer;
use breakerbox::fault::{BoxError, FaultLayer, InjectedClose};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tower::{Layer, ServiceBuilder, ServiceExt};

/// The user's service: answers `hello` with a header of its own.
async fn hello(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"hello")));
    response
        .headers_mut()
        .insert("x-inner", http::HeaderValue::from_static("yes"));
    Ok(response)
}

fn request(path: &str) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.uri_mut() = path.parse().expect("path");
    req
}

fn layer(profile: &str) -> FaultLayer {
    FaultLayer::from_profile_str(profile, 7).expect("valid profile")
}

/// One call through `layer` around [`hello`]: the answer (status, body text, its
/// `x-inner` header) or the call's error.
async fn call(layer: &FaultLayer, path: &str) -> Result<(StatusCode, String, bool), BoxError> {
    let service = layer.layer(tower::service_fn(hello));
    let response = service.oneshot(request(path)).await?;
    let status = response.status();
    let inner = response.headers().contains_key("x-inner");
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned(), inner))
}

#[tokio::test]
async fn a_status_fault_answers_instead_of_the_service() {
    let l = layer(
        "[[faults]]\nkind = \"status\"\nstatus = 503\nbody = \"down for the drill\"\nheaders = { retry-after = \"5\" }\n",
    );
    let service = l.layer(tower::service_fn(hello));
    let response = service.oneshot(request("/x")).await.expect("answered");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["x-breakerbox-fault"], "status");
    assert_eq!(response.headers()["retry-after"], "5");
    assert!(!response.headers().contains_key("x-inner"), "never called");
    let body = response.into_body().collect().await.expect("body");
    assert_eq!(body.to_bytes(), Bytes::from_static(b"down for the drill"));
    assert_eq!(l.injected(), vec![1]);
}

#[tokio::test]
async fn a_latency_fault_delays_the_answer() {
    let l = layer("[[faults]]\nkind = \"latency\"\ndelay = \"300ms\"\n");
    let started = Instant::now();
    let (status, body, inner) = call(&l, "/x").await.expect("answered");
    let took = started.elapsed();
    assert_eq!(
        (status, body.as_str(), inner),
        (StatusCode::OK, "hello", true)
    );
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn without_a_matching_fault_the_inner_answer_passes_through() {
    let l = layer("[[faults]]\nkind = \"status\"\nstatus = 500\npath = \"/only-here\"\n");
    let got = call(&l, "/elsewhere").await.expect("answered");
    assert_eq!(got, (StatusCode::OK, "hello".to_string(), true));
    assert_eq!(l.injected(), vec![0]);
    let (status, _, _) = call(&l, "/only-here/1").await.expect("answered");
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(l.injected(), vec![1]);
}

#[tokio::test]
async fn connection_ending_faults_surface_as_errors_in_a_plain_stack() {
    for kind in ["reset", "empty", "malformed"] {
        let l = layer(&format!("[[faults]]\nkind = \"{kind}\"\n"));
        let e = call(&l, "/x").await.expect_err(kind);
        assert!(e.downcast_ref::<InjectedClose>().is_some(), "{kind}: {e}");
    }

    let l = layer("[[faults]]\nkind = \"truncate\"\nbytes = 2\n");
    let service = l.layer(tower::service_fn(hello));
    let response = service.oneshot(request("/x")).await.expect("headers");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut got = Vec::new();
    let end = loop {
        match body.frame().await {
            Some(Ok(frame)) => got.extend_from_slice(frame.data_ref().expect("data")),
            Some(Err(e)) => break Some(e),
            None => break None,
        }
    };
    assert_eq!(got, b"he");
    assert!(end.is_some(), "the body ends with an error, not cleanly");

    // A blackhole holds the call until its window ends.
    let l = layer("[[faults]]\nkind = \"blackhole\"\nduration = \"300ms\"\n");
    let started = Instant::now();
    let e = call(&l, "/x").await.expect_err("no answer");
    assert!(e.downcast_ref::<InjectedClose>().is_some(), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn decisions_replay_with_the_same_seed() {
    let profile = "[[faults]]\nkind = \"status\"\nstatus = 503\nprobability = 0.5\n";
    let run = |seed| async move {
        let l = FaultLayer::from_profile_str(profile, seed).expect("valid");
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(call(&l, "/x").await.expect("answered").0.as_u16());
        }
        statuses
    };
    let a = run(1).await;
    assert_eq!(a, run(1).await, "same seed, same order: same answers");
    assert_ne!(a, run(2).await);
    let hit = a.iter().filter(|s| **s == 503).count();
    assert!((8..=32).contains(&hit), "{hit} of 40");
}

#[tokio::test]
async fn a_bad_profile_is_a_located_error() {
    let e =
        FaultLayer::from_profile_str("[[faults]]\nkind = \"nope\"\n", 1).expect_err("unknown kind");
    let shown = e.to_string();
    assert!(shown.contains("<profile>:2:"), "{shown}");
    assert!(shown.contains("nope"), "{shown}");
}

#[tokio::test]
async fn an_axum_router_takes_the_layer_behind_an_error_handler() {
    let l = layer("[[faults]]\nkind = \"status\"\nstatus = 503\npath = \"/down\"\n[[faults]]\nkind = \"reset\"\npath = \"/cut\"\n");
    let app = axum::Router::new()
        .route("/down", axum::routing::get(|| async { "up" }))
        .route("/cut", axum::routing::get(|| async { "up" }))
        .route("/fine", axum::routing::get(|| async { "up" }))
        .layer(
            ServiceBuilder::new()
                // axum wants infallible services: an injected close becomes a 502 here.
                .layer(HandleErrorLayer::new(|e: BoxError| async move {
                    (StatusCode::BAD_GATEWAY, e.to_string())
                }))
                .layer(l.clone()),
        );
    let mut seen = Vec::new();
    for path in ["/down", "/cut", "/fine"] {
        let req = Request::get(path)
            .body(axum::body::Body::empty())
            .expect("request");
        let response = app.clone().oneshot(req).await.expect("infallible");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        seen.push((status, String::from_utf8_lossy(&body).into_owned()));
    }
    assert_eq!(seen[0].0, 503);
    assert_eq!(
        seen[1],
        (502, "connection ended by an injected fault".to_string())
    );
    assert_eq!(seen[2], (200, "up".to_string()));
    assert_eq!(l.injected(), vec![1, 1]);
}
