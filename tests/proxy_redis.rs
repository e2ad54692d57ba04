//! The TCP proxy in front of a real Redis server (Debian's `redis-server`, installed by
//! `make test-deps`), driven by the `redis` crate's client: commands work through it, and
//! its toxics show up in the client as Redis users meet them (slow answers, reset
//! connections, hung commands that only the client's timeout ends, refused connects).

mod common;

use breakerbox::fault::admin::{self, AdminOptions, AdminServer, ProxyConfig};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, AsyncTypedCommands, Client, RedisError};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A generous bound on anything expected to succeed (the machine is loaded).
const BOUND: Duration = Duration::from_secs(5);

/// A `redis-server` child process on a free loopback port, killed (by its PID) on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one, with no persistence, and waits until it answers PING. Fails (never
    /// skips) when `redis-server` is not installed.
    async fn start() -> RedisServer {
        // The port is free when picked but could be taken before Redis binds it: retry.
        for _ in 0..3 {
            let port = common::free_port();
            let spawned = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "redis-server is not installed (not on PATH): run `make test-deps` \
                     (it installs Debian's redis-server package), then run the tests again"
                ),
                Err(e) => panic!("cannot start redis-server: {e}"),
            };
            let mut server = RedisServer { child, port };
            if server.ready().await {
                return server;
            }
        }
        panic!("redis-server did not answer PING on three free ports in a row");
    }

    /// Waits until the server answers PING; false if it exited (port taken) or never did.
    async fn ready(&mut self) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut c) = connect(&format!("127.0.0.1:{}", self.port), BOUND).await {
                if c.ping().await.is_ok() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis connection to `addr`, giving up on each answer after `timeout` (the client's
/// own response timeout).
async fn connect(addr: &str, timeout: Duration) -> Result<MultiplexedConnection, RedisError> {
    let client = Client::open(format!("redis://{addr}/"))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(BOUND))
        .set_response_timeout(Some(timeout));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// A real Redis, the admin API, and a proxy `redis` in front of it.
struct Setup {
    _redis: RedisServer,
    api: AdminServer,
    listen: String,
}

async fn setup() -> Setup {
    let redis = RedisServer::start().await;
    let api = admin::start(AdminOptions {
        seed: 11,
        ..AdminOptions::new("127.0.0.1:0".parse().expect("addr"))
    })
    .await
    .expect("admin API starts");
    let proxy = api
        .proxies()
        .create(ProxyConfig {
            name: "redis".into(),
            upstream: redis.addr(),
            ..ProxyConfig::default()
        })
        .await
        .expect("proxy created");
    let listen = proxy["listen"].as_str().expect("listen").to_string();
    Setup {
        _redis: redis,
        api,
        listen,
    }
}

impl Setup {
    async fn add(&self, toxic: Value) {
        self.api
            .proxies()
            .add_toxic("redis", toxic)
            .await
            .expect("toxic added");
    }

    async fn remove(&self, toxic: &str) {
        self.api
            .proxies()
            .remove_toxic("redis", toxic)
            .await
            .expect("toxic removed");
    }

    /// A connection through the proxy.
    async fn client(&self, timeout: Duration) -> MultiplexedConnection {
        connect(&self.listen, timeout)
            .await
            .expect("connect through the proxy")
    }
}

#[tokio::test]
async fn commands_go_through_and_latency_slows_every_answer() {
    let s = setup().await;
    let mut c = s.client(BOUND).await;
    c.set("drill", "breakerbox").await.expect("SET");
    let got = c.get("drill").await.expect("GET");
    assert_eq!(got.as_deref(), Some("breakerbox"));

    s.add(json!({"type": "latency", "attributes": {"latency": 300}}))
        .await;
    // On the connection already open, and on a new one.
    for conn in [&mut c, &mut s.client(BOUND).await] {
        let started = Instant::now();
        let got = conn.get("drill").await.expect("GET through latency");
        let took = started.elapsed();
        assert_eq!(got.as_deref(), Some("breakerbox"));
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert!(took < BOUND, "{took:?}");
    }

    s.remove("latency_downstream").await;
    c.set("drill", "again").await.expect("SET after removal");
    let got = c.get("drill").await.expect("GET after removal");
    assert_eq!(got.as_deref(), Some("again"));
}

#[tokio::test]
async fn reset_peer_drops_the_connection_under_the_client() {
    let s = setup().await;
    let mut c = s.client(BOUND).await;
    c.set("k", "v").await.expect("SET");

    s.add(json!({"type": "reset_peer", "attributes": {"timeout": 0}}))
        .await;
    let started = Instant::now();
    let e = c.get("k").await.expect_err("the answer never comes");
    assert!(
        e.is_connection_dropped() && !e.is_timeout(),
        "a dropped connection, not a timeout: {e} ({:?})",
        e.kind()
    );
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());

    s.remove("reset_peer_downstream").await;
    let mut fresh = s.client(BOUND).await;
    let got = fresh.get("k").await.expect("GET on a new connection");
    assert_eq!(got.as_deref(), Some("v"));
}

#[tokio::test]
async fn blackhole_leaves_only_the_clients_timeout() {
    let s = setup().await;
    let timeout = Duration::from_millis(800);
    let mut c = s.client(timeout).await;
    c.set("k", "v").await.expect("SET");

    s.add(json!({"type": "blackhole"})).await;
    let started = Instant::now();
    let e = c.get("k").await.expect_err("no answer");
    let took = started.elapsed();
    assert!(
        e.is_timeout(),
        "the client's own timeout: {e} ({:?})",
        e.kind()
    );
    assert!(took >= Duration::from_millis(750), "{took:?}");

    s.remove("blackhole_downstream").await;
    let mut fresh = s.client(BOUND).await;
    let got = fresh.get("k").await.expect("GET after removal");
    assert_eq!(got.as_deref(), Some("v"));
}

#[tokio::test]
async fn refuse_fails_new_connections_and_keeps_open_ones() {
    let s = setup().await;
    let mut pooled = s.client(BOUND).await;
    pooled.set("k", "v").await.expect("SET");

    s.add(json!({"type": "refuse"})).await;
    let e = connect(&s.listen, BOUND)
        .await
        .expect_err("the port is closed");
    assert!(e.is_connection_refusal(), "{e} ({:?})", e.kind());
    let got = pooled
        .get("k")
        .await
        .expect("an open connection still works");
    assert_eq!(got.as_deref(), Some("v"));

    s.remove("refuse_downstream").await;
    let mut fresh = s.client(BOUND).await;
    let got = fresh.get("k").await.expect("GET on the same port again");
    assert_eq!(got.as_deref(), Some("v"));
}
