//! Journeys end to end against a small shop on loopback: setup and teardown around the
//! load, login → bearer token → authenticated calls, create → view the created id, CSV
//! rows unique per virtual user, a capture that finds nothing skipping its dependent
//! request, checks counted, redirects followed or not.

use breakerbox::config::{self, EmbeddedProfiles};
use breakerbox::drill::{DrillError, PreparedDrill, Stop};
use breakerbox::plan::Overrides;
use breakerbox::report::RunResult;
use breakerbox::verdict::Outcome;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// One request as the shop saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
    header_x: Option<String>,
}

#[derive(Debug, Default)]
struct Shop {
    seen: Vec<Seen>,
    items: Vec<u64>,
    stock: Option<i64>,
}

type State = Arc<Mutex<Shop>>;

fn json(status: u16, body: serde_json::Value) -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

fn redirect(to: &str) -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(302)
        .header("location", to)
        .body(Full::new(Bytes::new()))
        .expect("response")
}

async fn handle(
    state: State,
    req: http::Request<hyper::body::Incoming>,
) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header("authorization");
    let mut shop = state.lock().expect("lock");
    shop.seen.push(Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        authorization: authorization.clone(),
        body: body.clone(),
        header_x: header("x-env"),
    });
    let user = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer tok-"))
        .map(str::to_string);
    match (parts.method.as_str(), path.as_str()) {
        ("POST", "/init") => {
            let stock = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["stock"].as_i64());
            shop.stock = stock;
            json(200, serde_json::json!({ "shop": "s1" }))
        }
        ("POST", "/init-broken") => json(500, serde_json::json!({ "error": "no" })),
        ("POST", "/reset") => json(200, serde_json::json!({ "reset": true })),
        ("POST", "/login") => {
            // Form body: user=NAME&pass=PASS; the password must be NAME's reversed.
            let form: BTreeMap<&str, &str> = body
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let (name, pass) = (form.get("user").copied(), form.get("pass").copied());
            match (name, pass) {
                (Some(n), Some(p)) if n.chars().rev().collect::<String>() == p => {
                    json(200, serde_json::json!({ "token": format!("tok-{n}") }))
                }
                _ => json(403, serde_json::json!({ "error": "bad login" })),
            }
        }
        ("GET", "/me") => match user {
            Some(u) => json(200, serde_json::json!({ "user": u, "ok": true })),
            None => json(401, serde_json::json!({ "error": "who?" })),
        },
        ("POST", "/shops/s1/items") if user.is_some() => {
            let id = shop.items.len() as u64 + 1000;
            shop.items.push(id);
            json(201, serde_json::json!({ "id": id }))
        }
        ("GET", p) if p.starts_with("/shops/s1/items/") => {
            let id: Option<u64> = p["/shops/s1/items/".len()..].parse().ok();
            if id.is_some_and(|id| shop.items.contains(&id)) {
                json(200, serde_json::json!({ "id": id }))
            } else {
                json(404, serde_json::json!({ "error": "no such item" }))
            }
        }
        ("GET", "/health") => json(200, serde_json::json!({ "status": "up" })),
        ("GET", "/empty") => json(200, serde_json::json!({ "nothing": true })),
        ("GET", "/old") => redirect("/new"),
        ("GET", "/new") => json(200, serde_json::json!({ "new": true })),
        ("GET", "/away") => redirect("http://example.invalid/x"),
        _ => json(404, serde_json::json!({ "error": "not found" })),
    }
}

/// Starts the shop on a free loopback port.
async fn shop() -> (SocketAddr, State, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = State::default();
    let served = state.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = served.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(state, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, state, task)
}

/// A scratch directory for a test's data files.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("breakerbox-journeys-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Parses `body` (after a `target` line) as a drill read from `dir`, prepares and runs it.
async fn run(addr: SocketAddr, dir: &std::path::Path, body: &str) -> Result<RunResult, DrillError> {
    let text = format!("target = \"http://{addr}\"\nseed = 3\nrequest_timeout = \"2s\"\n{body}");
    let file = dir.join("drill.toml");
    let drill = config::parse_drill(&file.display().to_string(), &text, &EmbeddedProfiles(&[]))
        .unwrap_or_else(|e| panic!("valid drill: {e}"));
    let prepared = PreparedDrill::prepare(drill, &Overrides::default()).await?;
    let started = Instant::now();
    let result = prepared.execute(Stop::new()).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded: {:?}",
        started.elapsed()
    );
    Ok(result)
}

fn group<'a>(result: &'a RunResult, name: &str) -> &'a breakerbox::report::GroupSummary {
    result.phases[0]
        .groups
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("group {name}"))
}

#[tokio::test]
async fn login_then_authenticated_calls_with_setup_teardown_and_unique_rows() {
    let (addr, state, server) = shop().await;
    let dir = scratch("login");
    std::fs::write(
        dir.join("users.csv"),
        "name,pass\nann,nna\nbob,bob\ncid,dic\n",
    )
    .expect("csv");
    let result = run(
        addr,
        &dir,
        r#"
[data.users]
file = "users.csv"
mode = "unique"

[[setup]]
name = "init"
method = "POST"
path = "/init"
json = { stock = 100 }
capture = { shop = { json = "/shop" } }

[[teardown]]
name = "reset"
method = "POST"
path = "/reset"
headers = { x-env = "{{env.PATH}}" }

[[requests]]
name = "login"
method = "POST"
path = "/login"
form = { user = "{{data.users.name}}", pass = "{{data.users.pass}}" }
capture = { token = { json = "/token" } }
check = { status = 200 }

[[requests]]
name = "me"
path = "/me"
headers = { authorization = "Bearer {{capture.token}}" }
tags = ["auth"]
check = { status = 200, body_pointer = "/ok", body_equals = true, max_duration = "1s" }

[[requests]]
name = "create"
method = "POST"
path = "/shops/{{capture.shop}}/items"
headers = { authorization = "Bearer {{capture.token}}" }
capture = { id = { regex = '"id":(\d+)' } }
tags = ["auth", "write"]
check = { status = 201 }

[[requests]]
name = "view"
path = "/shops/{{capture.shop}}/items/{{capture.id}}"
check = { status = 200 }

[[users]]
name = "member"
on_start = ["login"]
flow = ["me", "create", "view"]

[[phases]]
name = "load"
executor = "ramping-vus"
start_vus = 3
stages = [{ duration = "1s", target = 3 }]
think_time = "50ms"

[[expect.thresholds]]
min_check_rate = 0.99

[[expect.thresholds]]
user = "member"
tag = "auth"
max_error_rate = 0.0
min_check_rate = 1.0
"#,
    )
    .await
    .expect("runs");
    server.abort();
    let shop = state.lock().expect("lock");
    let seen = &shop.seen;

    // Setup once, first; teardown once, last.
    assert_eq!(
        seen.first().map(|s| (s.method.as_str(), s.path.as_str())),
        Some(("POST", "/init"))
    );
    assert_eq!(seen.iter().filter(|s| s.path == "/init").count(), 1);
    assert_eq!(shop.stock, Some(100), "{:?}", seen.first());
    assert_eq!(seen.last().map(|s| s.path.as_str()), Some("/reset"));
    assert_eq!(seen.iter().filter(|s| s.path == "/reset").count(), 1);
    assert_eq!(
        seen.last().and_then(|s| s.header_x.clone()),
        std::env::var("PATH").ok(),
        "env placeholder"
    );
    assert_eq!(result.setup.len(), 1);
    assert!(
        result.setup[0].ok && result.teardown[0].ok,
        "{:?} {:?}",
        result.setup,
        result.teardown
    );

    // Three users, three rows, each its own: one login each (on_start succeeded once).
    let logins: Vec<&str> = seen
        .iter()
        .filter(|s| s.path == "/login")
        .map(|s| s.body.as_str())
        .collect();
    let mut users: Vec<&str> = logins.clone();
    users.sort_unstable();
    assert_eq!(
        users,
        [
            "pass=bob&user=bob",
            "pass=dic&user=cid",
            "pass=nna&user=ann"
        ]
    );

    // Every authenticated call carried a real token; every view asked for a created id.
    let authed: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path == "/me" || s.path.ends_with("/items"))
        .collect();
    assert!(authed.len() >= 6, "{}", authed.len());
    for s in &authed {
        let token = s.authorization.as_deref().unwrap_or("");
        assert!(
            ["Bearer tok-ann", "Bearer tok-bob", "Bearer tok-cid"].contains(&token),
            "{s:?}"
        );
    }
    let views = seen
        .iter()
        .filter(|s| s.path.starts_with("/shops/s1/items/"))
        .count();
    assert!(views >= 3, "{views}");
    drop(shop);

    assert_eq!(result.outcome, Outcome::Passed, "{:#?}", result.verdicts);
    let view = group(&result, "view");
    assert_eq!(view.statuses.keys().copied().collect::<Vec<_>>(), [200]);
    let me = group(&result, "me");
    let checks = me.checks.as_ref().expect("checks");
    assert_eq!(checks.failed, 0);
    assert_eq!(
        checks.passed,
        me.requests * 3,
        "status, body_pointer, max_duration"
    );
    assert_eq!(result.phases[0].users.len(), 1);
    assert_eq!(result.phases[0].users[0].name, "member");
    let tags: Vec<&str> = result.phases[0]
        .tags
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(tags, ["auth", "write"]);
    assert!(result.phases[0].groups.iter().all(|g| g.skipped.is_empty()));
}

#[tokio::test]
async fn a_capture_that_finds_nothing_skips_what_needs_it_and_checks_count() {
    let (addr, state, server) = shop().await;
    let dir = scratch("skip");
    let result = run(
        addr,
        &dir,
        r#"
[[requests]]
name = "find"
path = "/empty"
capture = { id = { json = "/id" } }
check = { status = 201 }

[[requests]]
name = "view"
path = "/shops/s1/items/{{capture.id}}"

[[users]]
name = "looker"
flow = ["find", "view"]

[[phases]]
name = "load"
executor = "ramping-vus"
start_vus = 2
stages = [{ duration = "600ms", target = 2 }]
think_time = "50ms"

[[expect.thresholds]]
request = "find"
min_check_rate = 0.99
"#,
    )
    .await
    .expect("runs");
    server.abort();
    let seen = state.lock().expect("lock").seen.clone();
    assert!(seen.iter().any(|s| s.path == "/empty"));
    assert!(
        !seen.iter().any(|s| s.path.starts_with("/shops/")),
        "a dependent request was sent: {seen:?}"
    );
    let find = group(&result, "find");
    assert_eq!(find.captures_missed.get("id"), Some(&find.requests));
    let checks = find.checks.as_ref().expect("checks");
    assert_eq!((checks.passed, checks.failed), (0, find.requests));
    assert_eq!(checks.failures.get("status"), Some(&find.requests));
    let view = group(&result, "view");
    assert_eq!(view.requests, 0);
    assert_eq!(
        view.skipped.get("capture \"id\" has no value"),
        Some(&find.requests),
        "{:?}",
        view.skipped
    );
    assert_eq!(result.outcome, Outcome::Failed, "the check rate fails");
    let verdict = result
        .verdicts
        .iter()
        .find(|v| v.criterion.starts_with("check pass rate"))
        .expect("check verdict");
    assert!(verdict.measured.starts_with("0.00% (0 of"), "{verdict:?}");
}

#[tokio::test]
async fn redirects_are_followed_on_the_target_and_recorded_otherwise() {
    let (addr, state, server) = shop().await;
    let dir = scratch("redirect");
    let result = run(
        addr,
        &dir,
        r#"
[[requests]]
name = "follow"
path = "/old"

[[requests]]
name = "stay"
path = "/old"
follow_redirects = false

[[requests]]
name = "away"
path = "/away"

[[users]]
name = "r"
flow = ["follow", "stay", "away"]

[[phases]]
name = "load"
executor = "ramping-vus"
start_vus = 1
stages = [{ duration = "500ms", target = 1 }]
think_time = "50ms"
"#,
    )
    .await
    .expect("runs");
    server.abort();
    let seen = state.lock().expect("lock").seen.clone();
    let follow = group(&result, "follow");
    assert!(follow.requests > 0);
    assert_eq!(follow.statuses.keys().copied().collect::<Vec<_>>(), [200]);
    assert_eq!(
        group(&result, "stay")
            .statuses
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [302]
    );
    assert_eq!(
        group(&result, "away")
            .statuses
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [302]
    );
    let news = seen.iter().filter(|s| s.path == "/new").count() as u64;
    assert_eq!(news, follow.requests, "one hop per followed request");
    assert!(!seen.iter().any(|s| s.path == "/x"));
}

#[tokio::test]
async fn a_failing_setup_stops_the_run_before_any_load() {
    let (addr, state, server) = shop().await;
    let dir = scratch("setup-fails");
    let err = run(
        addr,
        &dir,
        r#"
[[setup]]
name = "init"
method = "POST"
path = "/init-broken"

[[requests]]
name = "me"
path = "/me"

[[phases]]
name = "load"
executor = "constant-arrival-rate"
rate = 50
duration = "1s"
"#,
    )
    .await
    .expect_err("setup fails");
    server.abort();
    assert!(err.is_invalid_run());
    assert_eq!(
        err.to_string(),
        "setup request \"init\" failed: answered 500"
    );
    let seen = state.lock().expect("lock").seen.clone();
    assert_eq!(seen.len(), 1, "only the setup request: {seen:?}");
}

#[tokio::test]
async fn the_shipped_login_journey_passes_against_the_shop() {
    let (addr, state, server) = shop().await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("drills/login-journey.toml");
    let drill = config::load_drill(&path).unwrap_or_else(|e| panic!("{e}"));
    let overrides = Overrides {
        target: Some(format!("http://{addr}")),
        ..Overrides::default()
    };
    let prepared = PreparedDrill::prepare(drill, &overrides)
        .await
        .expect("prepares");
    let result = prepared.execute(Stop::new()).await;
    server.abort();
    assert_eq!(
        result.outcome,
        Outcome::Passed,
        "{}",
        breakerbox::report::render_console(&result)
    );
    let load = &result.phases[0];
    let users: BTreeMap<&str, u64> = load
        .users
        .iter()
        .map(|u| (u.name.as_str(), u.requests))
        .collect();
    for user in ["authenticated", "anonymous", "writer", "health"] {
        assert!(users.get(user).is_some_and(|n| *n > 0), "{users:?}");
    }
    let shop = state.lock().expect("lock");
    assert_eq!(shop.stock, Some(100));
    assert_eq!(shop.seen.iter().filter(|s| s.path == "/init").count(), 1);
    assert_eq!(shop.seen.last().map(|s| s.path.as_str()), Some("/reset"));
    assert!(!shop.items.is_empty(), "writers created items");
    assert!(
        load.groups.iter().all(|g| g.skipped.is_empty()),
        "50 rows for at most 40 users who log in: {:?}",
        load.groups
    );
}

#[tokio::test]
async fn unique_rows_run_out_and_the_extra_user_is_skipped_with_a_reason() {
    let (addr, state, server) = shop().await;
    let dir = scratch("exhausted");
    std::fs::write(dir.join("users.csv"), "name,pass\nann,nna\nbob,bob\n").expect("csv");
    let result = run(
        addr,
        &dir,
        r#"
[data.users]
file = "users.csv"
mode = "unique"

[[requests]]
name = "login"
method = "POST"
path = "/login"
form = { user = "{{data.users.name}}", pass = "{{data.users.pass}}" }

[[phases]]
name = "load"
executor = "ramping-vus"
start_vus = 3
stages = [{ duration = "500ms", target = 3 }]
think_time = "100ms"
"#,
    )
    .await
    .expect("runs");
    server.abort();
    let seen = state.lock().expect("lock").seen.clone();
    let mut users: Vec<&str> = seen.iter().map(|s| s.body.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    assert_eq!(
        users,
        ["pass=bob&user=bob", "pass=nna&user=ann"],
        "two rows, two users"
    );
    let login = group(&result, "login");
    assert_eq!(login.statuses.keys().copied().collect::<Vec<_>>(), [200]);
    assert!(
        login
            .skipped
            .get("data \"users\": every row is taken")
            .is_some_and(|n| *n > 0),
        "{:?}",
        login.skipped
    );
}
