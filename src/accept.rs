//! The accept loop the built-in servers (fault proxy, demo service) share.

use tokio::net::{TcpListener, TcpStream};

/// Accepts connections forever, handing each (with `TCP_NODELAY` set) to `serve`.
///
/// An accept error (out of file descriptors, say) is logged and retried after a short pause
/// instead of spinning or ending the server.
pub(crate) async fn accept_forever(
    listener: TcpListener,
    server: &'static str,
    mut serve: impl FnMut(TcpStream),
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                serve(stream);
            }
            Err(e) => {
                tracing::warn!(server, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
