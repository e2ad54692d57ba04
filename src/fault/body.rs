//! Shaping an answer's body on its way to the client: held, dribbled, cut.
//!
//! The body is read whole first (up to [`MAX_SHAPED_BODY`]), then a task sends it on as the
//! plan says; when the client goes away the task's sends fail and it ends.

use super::kind::BodyPlan;
use super::{BoxError, ProxyBody};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Largest body a shaping fault reads; a bigger one ends the response with an error.
pub const MAX_SHAPED_BODY: usize = 16 << 20;

/// Pause between the kept part of a truncated body and the cut.
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(20);

/// Most pieces a dribbled body is sent in.
const MAX_PIECES: usize = 20;

/// Why a shaped body ended early.
#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    /// A `truncate` fault cut it.
    #[error("body truncated by an injected fault")]
    Truncated,
    /// The upstream's body could not be read (or was too big to shape).
    #[error("upstream body unreadable: {0}")]
    Upstream(BoxError),
}

/// `response` with its body delivered as `plan` says.
pub fn shape(response: http::Response<ProxyBody>, plan: BodyPlan) -> http::Response<ProxyBody> {
    let (parts, body) = response.into_parts();
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let bytes = match read_whole(body).await {
            Ok(bytes) => bytes,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        tokio::time::sleep(plan.delay).await;
        let keep = plan.cut.map_or(bytes.len(), |cut| cut.keep(bytes.len()));
        let bytes = bytes.slice(..keep);
        for (wait, piece) in pieces(bytes, plan.dribble) {
            tokio::time::sleep(wait).await;
            if tx.send(Ok(piece)).await.is_err() {
                return;
            }
        }
        if plan.cut.is_some() {
            // The server aborts at the error without flushing what it buffered: let it
            // find the body pending (and flush the kept part) before the cut.
            tokio::time::sleep(FLUSH_BEFORE_CUT).await;
            let _ = tx.send(Err(ShapeError::Truncated)).await;
        }
    });
    http::Response::from_parts(parts, BodyExt::boxed(ChannelBody { rx }))
}

/// The whole body, if it is readable and no bigger than [`MAX_SHAPED_BODY`].
async fn read_whole(mut body: ProxyBody) -> Result<Bytes, ShapeError> {
    let mut whole = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ShapeError::Upstream)?;
        if let Ok(data) = frame.into_data() {
            if whole.len() + data.len() > MAX_SHAPED_BODY {
                return Err(ShapeError::Upstream("body too big to shape".into()));
            }
            whole.extend_from_slice(&data);
        }
    }
    Ok(whole.freeze())
}

/// The pieces to send and the pause before each: the whole body at once, or spread evenly
/// over `dribble` (the last piece goes out when it ends).
fn pieces(bytes: Bytes, dribble: Option<Duration>) -> Vec<(Duration, Bytes)> {
    let Some(over) = dribble else {
        return if bytes.is_empty() {
            Vec::new()
        } else {
            vec![(Duration::ZERO, bytes)]
        };
    };
    let count = bytes.len().clamp(1, MAX_PIECES);
    let size = bytes.len().div_ceil(count).max(1);
    let wait = over / count as u32;
    (0..count)
        .map(|i| {
            let from = (i * size).min(bytes.len());
            let to = ((i + 1) * size).min(bytes.len());
            (wait, bytes.slice(from..to))
        })
        .collect()
}

/// A body fed by the shaping task.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, ShapeError>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|next| next.map(|r| r.map(Frame::data).map_err(|e| Box::new(e) as BoxError)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dribbled_pieces_cover_the_body_over_the_duration() {
        let body = Bytes::from(vec![7u8; 100]);
        let p = pieces(body, Some(Duration::from_secs(2)));
        assert_eq!(p.len(), 20);
        assert_eq!(p.iter().map(|(_, b)| b.len()).sum::<usize>(), 100);
        let total: Duration = p.iter().map(|(w, _)| *w).sum();
        assert_eq!(total, Duration::from_secs(2));
        assert_eq!(pieces(Bytes::new(), None).len(), 0);
        assert_eq!(
            pieces(Bytes::from_static(b"ab"), Some(Duration::from_secs(1))).len(),
            2
        );
    }
}
