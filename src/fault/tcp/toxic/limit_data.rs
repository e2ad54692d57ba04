//! `limit_data`: the connection is closed once `bytes` bytes went through this way.

use super::super::{Attributes, End, Flow, LinkState, Piece, Toxic};
use std::sync::Arc;

#[derive(Debug)]
struct LimitData {
    bytes: u64,
}

/// Parses `bytes`.
pub fn parse(attrs: &Attributes) -> Result<Arc<dyn Toxic>, String> {
    Ok(Arc::new(LimitData {
        bytes: attrs.int("bytes")?,
    }))
}

impl Toxic for LimitData {
    fn shape(&self, pieces: &mut Vec<Piece>, state: &mut LinkState) -> Flow {
        let mut kept = Vec::with_capacity(pieces.len());
        for mut p in pieces.drain(..) {
            let left = self.bytes.saturating_sub(state.sent);
            if left == 0 {
                break;
            }
            let take = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(p.data.len());
            p.data.truncate(take);
            state.sent += take as u64;
            kept.push(p);
        }
        *pieces = kept;
        if state.sent >= self.bytes {
            Flow::EndAfter(End::Close)
        } else {
            Flow::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{json_attrs, piece, state};
    use super::*;
    use tokio::time::Instant;

    #[test]
    fn lets_the_limit_through_then_closes() {
        let now = Instant::now();
        let mut st = state(now);
        let t = parse(&json_attrs(serde_json::json!({"bytes": 100}))).expect("valid");
        let mut ps = vec![piece(now, 60)];
        assert_eq!(t.shape(&mut ps, &mut st), Flow::Continue);
        assert_eq!(ps[0].data.len(), 60);
        let mut ps = vec![piece(now, 60), piece(now, 10)];
        assert_eq!(t.shape(&mut ps, &mut st), Flow::EndAfter(End::Close));
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].data.len(), 40);
    }
}
