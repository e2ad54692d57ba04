//! Protocol upgrades through the HTTP fault proxy: a client asking to switch protocols
//! (a WebSocket, an h2c upgrade) gets the upstream's `101` and a byte tunnel both ways; a
//! `101` nobody asked for is a 502; faults still apply to the upgrade request itself.

use breakerbox::config::parse_profile;
use breakerbox::fault::{FaultLayer, FaultProxy, ProxyOptions, Rules};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An upstream that answers every request `101 Switching Protocols` (asked or not), greets
/// with the protocol it was asked for (`hello echo`, or `hello none`), then echoes.
async fn switching_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let head = read_head(&mut tcp).await.to_ascii_lowercase();
                let protocol = head
                    .lines()
                    .find_map(|l| l.strip_prefix("upgrade: "))
                    .filter(|_| head.contains("connection: upgrade"))
                    .unwrap_or("none")
                    .trim()
                    .to_string();
                let answer = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: {protocol}\r\n\r\nhello {protocol}\n"
                );
                if tcp.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                let mut buf = [0u8; 1024];
                while let Ok(n) = tcp.read(&mut buf).await {
                    if n == 0 || tcp.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Reads up to the end of a head (`\r\n\r\n`), byte by byte so nothing after it is taken.
async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads exactly `n` bytes, within 5 s.
async fn read_exactly(tcp: &mut TcpStream, n: usize) -> String {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut buf))
        .await
        .expect("answers within 5 s")
        .expect("reads");
    String::from_utf8_lossy(&buf).into_owned()
}

/// A proxy in front of `upstream` with the faults of the inline profile `profile` (none
/// when empty).
async fn proxy(upstream: &str, profile: &str) -> (FaultProxy, String) {
    let faults = match profile {
        "" => Vec::new(),
        text => {
            parse_profile("test", "test.toml", text)
                .expect("valid profile")
                .faults
        }
    };
    let rules = Rules::all_in(faults, Duration::ZERO, Duration::from_secs(600));
    let layer = FaultLayer::starting_now(rules, 7, Duration::from_secs(60));
    let proxy = FaultProxy::start_with(
        "127.0.0.1:0".parse().expect("addr"),
        upstream,
        layer,
        Duration::from_secs(10),
        ProxyOptions::default(),
    )
    .await
    .expect("proxy starts");
    let addr = proxy.url().trim_start_matches("http://").to_string();
    (proxy, addr)
}

const UPGRADE: &str =
    "GET /chat HTTP/1.1\r\nHost: dep\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\n\r\n";

#[tokio::test]
async fn an_upgrade_gets_the_101_and_a_tunnel_both_ways() {
    let upstream = switching_upstream().await;
    let (_proxy, addr) = proxy(&upstream, "").await;
    let mut client = TcpStream::connect(&addr).await.expect("connects");
    client.write_all(UPGRADE.as_bytes()).await.expect("sends");
    let head = read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("connection: upgrade\r\n"), "{head}");
    assert!(lower.contains("upgrade: echo\r\n"), "{head}");
    // The upstream saw the upgrade headers (it greets with the protocol asked for).
    assert_eq!(read_exactly(&mut client, 11).await, "hello echo\n");
    for message in ["ping", "a longer message through the tunnel"] {
        client.write_all(message.as_bytes()).await.expect("sends");
        assert_eq!(read_exactly(&mut client, message.len()).await, message);
    }
}

#[tokio::test]
async fn a_101_nobody_asked_for_is_a_502() {
    let upstream = switching_upstream().await;
    let (_proxy, addr) = proxy(&upstream, "").await;
    let mut client = TcpStream::connect(&addr).await.expect("connects");
    client
        .write_all(b"GET /plain HTTP/1.1\r\nHost: dep\r\n\r\n")
        .await
        .expect("sends");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_string(&mut answer))
        .await
        .expect("answers and closes within 5 s")
        .expect("reads");
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("switched protocols unasked"), "{answer}");
}

#[tokio::test]
async fn faults_apply_to_the_upgrade_request() {
    let upstream = switching_upstream().await;
    let profile = "[[faults]]\nkind = \"status\"\nstatus = 503\npath = \"/chat\"";
    let (_proxy, addr) = proxy(&upstream, profile).await;
    let mut client = TcpStream::connect(&addr).await.expect("connects");
    client.write_all(UPGRADE.as_bytes()).await.expect("sends");
    let head = read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
}
