//! The live `/metrics` endpoint: serves the [`LiveBoard`] as Prometheus or OpenMetrics
//! text (as the `Accept` header asks) while the run goes on.

use super::exposition::{self, Format};
use super::LiveBoard;
use bytes::Bytes;
use http_body_util::Full;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Why the endpoint did not start.
#[derive(Debug, thiserror::Error)]
#[error("metrics endpoint: cannot listen on {addr}: {source}")]
pub struct EndpointError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why not.
    #[source]
    pub source: std::io::Error,
}

/// A running metrics endpoint; dropping it stops it.
#[derive(Debug)]
pub struct MetricsEndpoint {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Listens on `addr` and serves `board` at `/metrics`.
    pub async fn start(
        addr: SocketAddr,
        board: Arc<Mutex<LiveBoard>>,
    ) -> Result<MetricsEndpoint, EndpointError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EndpointError { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| EndpointError { addr, source })?;
        crate::accept::warn_if_exposed("metrics endpoint", bound);
        let task = tokio::spawn(crate::accept::serve_http1(
            listener,
            "metrics endpoint",
            board,
            |board, req| async move { answer(&board, &req) },
        ));
        Ok(MetricsEndpoint { addr: bound, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer<B>(board: &Mutex<LiveBoard>, req: &http::Request<B>) -> http::Response<Full<Bytes>> {
    let reply = |status: u16, content_type: &str, body: String| {
        let mut r = http::Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
        if let Ok(v) = http::HeaderValue::from_str(content_type) {
            r.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
        r
    };
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return reply(405, "text/plain", "GET /metrics\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            let format = Format::from_accept(
                req.headers()
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok()),
            );
            let text = {
                let board = board.lock().unwrap_or_else(PoisonError::into_inner);
                exposition::render(&board, format)
            };
            reply(200, format.content_type(), text)
        }
        "/" => reply(
            200,
            "text/plain",
            "breakerbox live metrics: GET /metrics\n".into(),
        ),
        _ => reply(404, "text/plain", "not found; GET /metrics\n".into()),
    }
}
