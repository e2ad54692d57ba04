//! A running TCP proxy: accepts clients, connects each to the upstream, runs both pumps.

use super::stream::{copy_plain, pump, read_into, Link, Outcome};
use super::{Chain, Direction, End};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long connecting to the upstream may take before the client is closed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Chunks in flight per direction between reading and writing.
const IN_FLIGHT: usize = 8;

/// What a listening proxy needs: where to connect, its toxics, its seed.
#[derive(Debug, Clone)]
pub struct Route {
    /// The upstream `host:port`.
    pub upstream: String,
    /// The proxy's toxics, live.
    pub chain: watch::Receiver<Chain>,
    /// The seed for toxicity rolls and toxic randomness.
    pub seed: u64,
    /// Numbers the proxy's connections (kept across restarts, so rolls do not repeat).
    pub connections: Arc<AtomicU64>,
}

/// A running proxy: its listener (closed while a `refuse` toxic is on) and its
/// connections. [`Listening::stop`] closes the listener and every connection.
#[derive(Debug)]
pub struct Listening {
    /// The bound address, bound again after a refusal.
    addr: SocketAddr,
    route: Route,
    /// The accept loop; `None` while refusing (the port is closed).
    accept: Option<JoinHandle<()>>,
    /// Cancels every connection (each holds a child token).
    cancel: CancellationToken,
}

impl Listening {
    /// Starts accepting on `listener`; an error if its bound address cannot be read.
    pub fn start(listener: TcpListener, route: Route) -> std::io::Result<Listening> {
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let accept = tokio::spawn(accept_loop(listener, route.clone(), cancel.clone()));
        Ok(Listening {
            addr,
            route,
            accept: Some(accept),
            cancel,
        })
    }

    /// The address it listens on (or will listen on again after a refusal).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the port is open (false while refusing).
    pub fn is_listening(&self) -> bool {
        self.accept.is_some()
    }

    /// Closes the port (new connects are refused) and leaves open connections alone: they
    /// run on their own tasks, outside the accept loop. The port is closed on return.
    pub async fn refuse(&mut self) {
        if let Some(mut accept) = self.accept.take() {
            accept.abort();
            let _ = (&mut accept).await;
        }
    }

    /// Listens again on the same address after [`Listening::refuse`] (a no-op when
    /// listening); an error if the port was taken in the meantime.
    pub async fn listen_again(&mut self) -> std::io::Result<()> {
        if self.accept.is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr).await?;
        self.accept = Some(tokio::spawn(accept_loop(
            listener,
            self.route.clone(),
            self.cancel.clone(),
        )));
        Ok(())
    }

    /// Stops accepting (the port is closed when this returns) and ends every connection.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        self.refuse().await;
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(accept) = &self.accept {
            accept.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, route: Route, cancel: CancellationToken) {
    crate::accept::accept_forever(listener, "tcp proxy", |client, slot| {
        let route = route.clone();
        let cancel = cancel.child_token();
        tokio::spawn(async move {
            let _slot = slot;
            connection(client, route, cancel).await;
        });
    })
    .await
}

/// Carries one direction of a connection until it ends: a plain copy while no toxic of
/// its direction is set ([`copy_plain`]), then chunks through the toxics ([`pump`]).
async fn carry(
    link: Link,
    source: &mut OwnedReadHalf,
    mut dest: impl AsyncWrite + Unpin,
    mut chain: watch::Receiver<Chain>,
    cancel: &CancellationToken,
) -> Outcome {
    if let Some(outcome) = copy_plain(
        link.direction,
        source.as_ref(),
        &mut dest,
        &mut chain,
        cancel,
    )
    .await
    {
        return outcome;
    }
    let (to_dest, from_source) = mpsc::channel(IN_FLIGHT);
    let read = read_into(source, to_dest, cancel.clone());
    let write = async {
        let outcome = pump(link, from_source, &mut dest, chain, cancel.clone()).await;
        if let Outcome::Ended(_) = outcome {
            // The reader stops with the connection.
            cancel.cancel();
        }
        outcome
    };
    let ((), outcome) = tokio::join!(read, write);
    outcome
}

/// Proxies one client connection until both directions closed or a toxic ended it.
async fn connection(client: TcpStream, route: Route, cancel: CancellationToken) {
    let n = route.connections.fetch_add(1, Ordering::Relaxed);
    let upstream = tokio::select! {
        _ = cancel.cancelled() => return,
        u = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&route.upstream)) => u,
    };
    let upstream = match upstream {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => {
            tracing::warn!(upstream = %route.upstream, error = %e, "tcp proxy: upstream refused");
            return;
        }
        Err(_) => {
            tracing::warn!(upstream = %route.upstream, "tcp proxy: upstream connect timed out");
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let link = |direction| Link {
        seed: route.seed,
        connection: n,
        direction,
    };
    let ended = |outcome: Outcome| {
        if let Outcome::Ended(_) = outcome {
            cancel.cancel();
        }
        outcome
    };
    let (up, down) = tokio::join!(
        async {
            ended(
                carry(
                    link(Direction::Upstream),
                    &mut client_read,
                    &mut upstream_write,
                    route.chain.clone(),
                    &cancel,
                )
                .await,
            )
        },
        async {
            ended(
                carry(
                    link(Direction::Downstream),
                    &mut upstream_read,
                    &mut client_write,
                    route.chain.clone(),
                    &cancel,
                )
                .await,
            )
        },
    );
    if [up, down].contains(&Outcome::Ended(End::Reset)) {
        // Whole sockets again, so dropping them sends an RST and no FIN first (a dropped
        // write half would shut down its side before the close).
        for (read, write) in [(client_read, client_write), (upstream_read, upstream_write)] {
            match read.reunite(write) {
                Ok(socket) => {
                    if let Err(e) = socket.set_zero_linger() {
                        tracing::debug!(error = %e, "tcp proxy: could not arm the reset");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "tcp proxy: halves of two sockets"),
            }
        }
    }
}
