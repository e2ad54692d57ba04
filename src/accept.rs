//! What the built-in servers (fault proxy, stub, demo service) share: the accept loop, the
//! HTTP/1 server settings with their timeouts, the warning for listening beyond loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Serves HTTP/1 on `listener` with [`http1_server`] settings until aborted: each request
/// goes to `handle` with the server's shared `state`.
pub(crate) async fn serve_http1<S, F, Fut>(
    listener: TcpListener,
    server: &'static str,
    state: Arc<S>,
    handle: F,
) where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, http::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = http::Response<http_body_util::Full<bytes::Bytes>>>
        + Send
        + 'static,
{
    accept_forever(listener, server, |stream, slot| {
        let state = state.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req| {
                let answer = handle(state.clone(), req);
                async move { Ok::<_, std::convert::Infallible>(answer.await) }
            });
            if let Err(e) = http1_server()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(server, error = %e, "connection ended");
            }
        });
    })
    .await
}

/// Open connections one server keeps at most: past it, new connections are closed at once
/// (and said so, at most once a second), so a flood cannot take every descriptor.
pub fn connection_cap() -> usize {
    (crate::budget::Limits::of_this_machine().fds as usize / 2).max(256)
}

/// Held by a connection's task while it runs; dropping it frees a place under the cap.
#[derive(Debug)]
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Logs a warning at most once a second, with how many were held back.
struct RateLimited {
    held: u64,
    last: Option<Instant>,
}

impl RateLimited {
    fn ready(&mut self) -> Option<u64> {
        self.held += 1;
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.held))
    }
}

/// Accepts connections forever, handing each (with `TCP_NODELAY` set) to `serve` with the
/// [`Slot`] its task must hold; at most [`connection_cap`] are open at once.
///
/// An accept error (out of file descriptors, say) is retried after a short pause instead of
/// spinning or ending the server. Both it and the cap are logged at most once a second.
pub(crate) async fn accept_forever(
    listener: TcpListener,
    server: &'static str,
    mut serve: impl FnMut(TcpStream, Slot),
) {
    let cap = connection_cap();
    let open = Arc::new(AtomicUsize::new(0));
    let mut accept_failed = RateLimited {
        held: 0,
        last: None,
    };
    let mut over_cap = RateLimited {
        held: 0,
        last: None,
    };
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if open.fetch_add(1, Ordering::AcqRel) >= cap {
                    open.fetch_sub(1, Ordering::AcqRel);
                    drop(stream);
                    if let Some(refused) = over_cap.ready() {
                        tracing::warn!(
                            server,
                            cap,
                            refused,
                            %peer,
                            "connection cap reached: closing new connections"
                        );
                    }
                    continue;
                }
                let _ = stream.set_nodelay(true);
                serve(stream, Slot(open.clone()));
            }
            Err(e) => {
                if let Some(failed) = accept_failed.ready() {
                    tracing::warn!(server, error = %e, failed, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_held_back_within_a_second_and_counted() {
        let mut r = RateLimited {
            held: 0,
            last: None,
        };
        assert_eq!(r.ready(), Some(1));
        assert_eq!(r.ready(), None);
        assert_eq!(r.ready(), None);
        r.last = Some(Instant::now() - Duration::from_secs(2));
        assert_eq!(
            r.ready(),
            Some(3),
            "the held-back ones are reported with the next"
        );
    }

    #[test]
    fn slots_count_open_connections() {
        let open = Arc::new(AtomicUsize::new(2));
        drop(Slot(open.clone()));
        assert_eq!(open.load(Ordering::Acquire), 1);
    }
}
