//! What the built-in servers (fault proxy, stub, demo service) share: the accept loop, the
//! HTTP/1 server settings with their timeouts, the warning for listening beyond loopback.

use std::net::SocketAddr;
use std::time::Duration;

/// How long a client may take to send a request's headers, idle keep-alive connections
/// included: silent connections (slowloris) are closed instead of holding descriptors.
/// Longer than any sensible think time, so a virtual user's kept-alive connection survives.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP/1 server settings of the parts we run (stub, demo service): a header-read
/// timeout on a tokio timer.
pub(crate) fn http1_server() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
}
use tokio::net::{TcpListener, TcpStream};

/// Warns, once per server started, when it listens beyond loopback: the fault proxy, stub
/// and demo service are test parts, open to anyone who can reach the address.
pub(crate) fn warn_if_exposed(server: &str, addr: SocketAddr) {
    if !addr.ip().is_loopback() {
        tracing::warn!(
            server,
            %addr,
            "listening beyond loopback: other hosts can reach this {server}"
        );
    }
}

/// Accepts connections forever, handing each (with `TCP_NODELAY` set) to `serve`.
///
/// An accept error (out of file descriptors, say) is retried after a short pause instead of
/// spinning or ending the server, and logged at most once a second with the count since.
pub(crate) async fn accept_forever(
    listener: TcpListener,
    server: &'static str,
    mut serve: impl FnMut(TcpStream),
) {
    let mut failed = 0u64;
    let mut last_warning: Option<std::time::Instant> = None;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                serve(stream);
            }
            Err(e) => {
                failed += 1;
                if last_warning.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1)) {
                    tracing::warn!(server, error = %e, failed, "accept failed");
                    last_warning = Some(std::time::Instant::now());
                    failed = 0;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
