//! The toxic types, one file each; registered in [`super::TOXICS`].

pub mod bandwidth;
pub mod blackhole;
pub mod latency;
pub mod limit_data;
pub mod refuse;
pub mod reset_peer;
pub mod slicer;
pub mod slow_close;
pub mod timeout;

#[cfg(test)]
pub(crate) mod testing {
    use super::super::{Attributes, LinkState, Piece};
    use crate::rng::Rng;
    use bytes::Bytes;
    use tokio::time::Instant;

    pub fn state(now: Instant) -> LinkState {
        LinkState::new(now, true, Rng::new(1, 2))
    }

    pub fn json_attrs(v: serde_json::Value) -> Attributes {
        Attributes(v.as_object().cloned().unwrap_or_default())
    }

    pub fn piece(now: Instant, len: usize) -> Piece {
        Piece {
            data: Bytes::from(vec![b'x'; len]),
            read_at: now,
            due: now,
        }
    }
}
