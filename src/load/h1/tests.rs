use super::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A server that answers each request (read up to its blank line) with the next of
/// `responses`, written in two pieces to exercise partial reads.
async fn server(
    responses: Vec<&'static [u8]>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut requests = Vec::new();
        for response in responses {
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") {
                if s.read(&mut byte).await.expect("read") == 0 {
                    return requests;
                }
                request.push(byte[0]);
            }
            requests.push(request);
            let (a, b) = response.split_at(response.len() / 2);
            s.write_all(a).await.expect("write");
            s.flush().await.expect("flush");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            s.write_all(b).await.expect("write");
        }
        requests
    });
    (addr, task)
}

fn get<'a>(
    host: &'a HeaderValue,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    method: &'a Method,
) -> RequestHead<'a> {
    RequestHead {
        method,
        base: "/base",
        path: "/x?y=1",
        host,
        auth: None,
        headers,
        body,
    }
}

#[tokio::test]
async fn length_chunked_and_head_responses_share_one_connection() {
    let (addr, task) = server(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
    ])
    .await;
    let mut c = H1::new(Stream::Tcp(
        TcpStream::connect(addr).await.expect("connect"),
    ));
    let host = HeaderValue::from_static("h:1");
    let mut headers = HeaderMap::new();
    headers.insert("x-token", HeaderValue::from_static("t"));
    let none = Bytes::new();
    let r = c
        .exchange(&get(&host, &headers, &none, &Method::GET), true, 3)
        .await
        .expect("first");
    assert_eq!((r.status.as_u16(), r.body.as_slice()), (200, &b"hel"[..]));
    assert_eq!(r.headers.get("x-a").map(|v| v.as_bytes()), Some(&b"1"[..]));
    assert!(c.usable().await);
    let body = Bytes::from_static(b"{}");
    let r = c
        .exchange(&get(&host, &headers, &body, &Method::POST), false, 100)
        .await
        .expect("chunked");
    assert_eq!((r.status.as_u16(), r.body.as_slice()), (201, &b"abcde"[..]));
    assert!(r.headers.is_empty());
    assert!(c.usable().await);
    let r = c
        .exchange(&get(&host, &headers, &none, &Method::HEAD), false, 0)
        .await
        .expect("head");
    assert_eq!(r.status.as_u16(), 200);
    let r = c
        .exchange(&get(&host, &headers, &none, &Method::GET), false, 0)
        .await
        .expect("close");
    assert_eq!(r.status.as_u16(), 503);
    assert!(!c.usable().await, "the server said close");
    let requests = task.await.expect("server");
    let first = String::from_utf8_lossy(&requests[0]);
    assert!(
        first.starts_with(
            "GET /base/x?y=1 HTTP/1.1\r\nhost: h:1\r\nuser-agent: breakerbox\r\nx-token: t\r\n"
        ),
        "{first}"
    );
    let second = String::from_utf8_lossy(&requests[1]);
    assert!(
        second.starts_with("POST ") && second.contains("content-length: 2\r\n"),
        "{second}"
    );
}

#[tokio::test]
async fn a_large_body_is_read_whole_with_a_growing_buffer() {
    static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let big = BIG.get_or_init(|| {
        let mut r = b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n".to_vec();
        r.extend(std::iter::repeat_n(b'x', 300_000));
        r.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
        r
    });
    let (first, second) = big.split_at(big.len() - 27);
    let (addr, _task) = server(vec![first, second]).await;
    let mut c = H1::new(Stream::Tcp(
        TcpStream::connect(addr).await.expect("connect"),
    ));
    let host = HeaderValue::from_static("h");
    let (headers, none) = (HeaderMap::new(), Bytes::new());
    let r = c
        .exchange(&get(&host, &headers, &none, &Method::GET), false, 10)
        .await
        .expect("big");
    assert_eq!((r.status.as_u16(), r.body.len()), (200, 10));
    assert!(c.buf.len() > MIN_BUFFER, "the buffer grew: {}", c.buf.len());
    c.idle();
    assert!(c.buf.is_empty());
    let r = c
        .exchange(&get(&host, &headers, &none, &Method::GET), false, 10)
        .await
        .expect("after");
    assert_eq!(r.status.as_u16(), 204);
}

#[tokio::test]
async fn a_close_while_idle_is_noticed_before_the_next_request() {
    let (addr, task) = server(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]).await;
    let mut c = H1::new(Stream::Tcp(
        TcpStream::connect(addr).await.expect("connect"),
    ));
    let host = HeaderValue::from_static("h");
    let (headers, none) = (HeaderMap::new(), Bytes::new());
    c.exchange(&get(&host, &headers, &none, &Method::GET), false, 0)
        .await
        .expect("one");
    task.await.expect("server"); // the server closes its side now
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(!c.usable().await);
}

#[tokio::test]
async fn garbage_and_early_close_are_named() {
    let (addr, _task) = server(vec![b"SSH-2.0-OpenSSH\r\n\r\n"]).await;
    let mut c = H1::new(Stream::Tcp(
        TcpStream::connect(addr).await.expect("connect"),
    ));
    let host = HeaderValue::from_static("h");
    let (headers, none) = (HeaderMap::new(), Bytes::new());
    let e = c
        .exchange(&get(&host, &headers, &none, &Method::GET), false, 0)
        .await
        .err();
    assert_eq!(e, Some("protocol"));
    let (addr, _task) = server(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]).await;
    let mut c = H1::new(Stream::Tcp(
        TcpStream::connect(addr).await.expect("connect"),
    ));
    let e = c
        .exchange(&get(&host, &headers, &none, &Method::GET), false, 0)
        .await
        .err();
    assert_eq!(e, Some("closed"));
}
