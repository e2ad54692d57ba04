//! Shaping an answer's body on its way to the client: held, dribbled, cut; and turning any
//! inner service's body into a [`ProxyBody`] ([`boxed`]).
//!
//! The body is read whole first (up to [`MAX_SHAPED_BODY`]), then a task sends it on as the
//! plan says; when the client goes away the task's sends fail and it ends.

use super::kind::BodyPlan;
use super::{BoxError, ProxyBody};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use std::any::Any;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Largest body a shaping fault reads; a bigger one ends the response with an error.
pub const MAX_SHAPED_BODY: usize = 16 << 20;

/// Pause between the kept part of a truncated body and the cut.
pub(crate) const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(20);

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
pub(crate) fn pieces(bytes: Bytes, dribble: Option<Duration>) -> Vec<(Duration, Bytes)> {
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

/// Any `Send` body with `Bytes` data as a [`ProxyBody`], so [`super::FaultLayer`] wraps any
/// inner service (an axum `Router`, a `service_fn`). A `ProxyBody` is passed on as it is.
pub fn boxed<B>(body: B) -> ProxyBody
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // The fault proxy's own upstream bodies already are ProxyBody: no second box for them.
    let mut slot = Some(body);
    let any: &mut dyn Any = &mut slot;
    if let Some(same) = any
        .downcast_mut::<Option<ProxyBody>>()
        .and_then(Option::take)
    {
        return same;
    }
    match slot {
        Some(body) => BodyExt::boxed(SyncBody(Mutex::new(Box::pin(body))).map_err(Into::into)),
        None => BodyExt::boxed(http_body_util::Empty::new().map_err(|never| match never {})),
    }
}

/// A body that is `Sync` because it is only ever used through `&mut` (a `ProxyBody` must be
/// `Sync`; axum's body is not). The mutex is never locked while polling, so never contended.
struct SyncBody<B>(Mutex<Pin<Box<B>>>);

impl<B: hyper::body::Body> hyper::body::Body for SyncBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let inner = self.get_mut().0.get_mut();
        // Poisoning needs a panic while locked, and it is never locked: take it anyway.
        let inner = inner.unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.try_lock().is_ok_and(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.0.try_lock().map(|b| b.size_hint()).unwrap_or_default()
    }
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
    use hyper::body::Body;

    #[tokio::test]
    async fn any_body_is_boxed_with_its_size_and_a_proxy_body_as_it_is() {
        let full = http_body_util::Full::new(Bytes::from_static(b"hello"));
        let b = boxed(full);
        assert_eq!(b.size_hint().exact(), Some(5));
        let got = b.collect().await.expect("body").to_bytes();
        assert_eq!(got, Bytes::from_static(b"hello"));
        // A body that is Send but not Sync (as axum's is).
        let unsync = http_body_util::combinators::UnsyncBoxBody::new(http_body_util::Full::new(
            Bytes::from_static(b"unsync"),
        ));
        let got = boxed(unsync).collect().await.expect("body").to_bytes();
        assert_eq!(got, Bytes::from_static(b"unsync"));
        let already: ProxyBody = BodyExt::boxed(
            http_body_util::Full::new(Bytes::from_static(b"as is")).map_err(|n| match n {}),
        );
        let got = boxed(already).collect().await.expect("body").to_bytes();
        assert_eq!(got, Bytes::from_static(b"as is"));
    }

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
