//! The stub upstream under hostile clients: malformed bodies end only their own connection,
//! silent connections are closed after the header timeout, and real requests go on.

use breakerbox::config::StubSettings;
use breakerbox::stub::Stub;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn stub() -> (Stub, std::net::SocketAddr) {
    let stub = Stub::start(&StubSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        routes: Vec::new(),
    })
    .await
    .expect("stub starts");
    let addr = stub
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    (stub, addr)
}

async fn get_item(addr: std::net::SocketAddr) -> String {
    let mut conn = TcpStream::connect(addr).await.expect("connects");
    conn.write_all(b"GET /item/7 HTTP/1.1\r\nhost: stub\r\nconnection: close\r\n\r\n")
        .await
        .expect("writes");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("reads");
    answer
}

#[tokio::test]
async fn bad_chunked_bodies_end_only_their_connection() {
    let (stub, addr) = stub().await;
    for garbage in [
        &b"POST /item/1 HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nnot hex\r\n"[..],
        b"POST /item/1 HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
        b"GET /item/1 HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\n",
        b"\x00\x01\x02 garbage\r\n\r\n",
    ] {
        let mut conn = TcpStream::connect(addr).await.expect("connects");
        conn.write_all(garbage).await.expect("writes");
        let mut sink = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut sink)).await;
        assert!(read.is_ok(), "the stub closes a connection it cannot parse");
    }
    let answer = get_item(addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""id":"7""#), "{answer}");
    assert_eq!(stub.served(), 1, "only the real request reached a route");
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_header_timeout() {
    let (_stub, addr) = stub().await;
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(addr).await.expect("connects"));
    }
    assert!(get_item(addr).await.starts_with("HTTP/1.1 200"));
    let limit = breakerbox::accept::HEADER_READ_TIMEOUT + Duration::from_secs(3);
    for mut conn in silent {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(limit, conn.read(&mut buf))
            .await
            .expect("closed within the header timeout");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}
