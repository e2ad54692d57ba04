//! `blackhole`: data in this direction is read and discarded, never forwarded, and the
//! connection stays open, so the peer waits for an answer until its own timeout gives up.
//! Removing the toxic lets later data through again (what was discarded stays lost).

use super::super::{Attributes, Flow, LinkState, Piece, Toxic};
use std::sync::Arc;

#[derive(Debug)]
struct Blackhole;

/// Parses a blackhole; it has no attributes.
pub fn parse(_attrs: &Attributes) -> Result<Arc<dyn Toxic>, String> {
    Ok(Arc::new(Blackhole))
}

impl Toxic for Blackhole {
    fn shape(&self, pieces: &mut Vec<Piece>, _state: &mut LinkState) -> Flow {
        pieces.clear();
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{json_attrs, piece, state};
    use super::*;
    use tokio::time::Instant;

    #[test]
    fn swallows_every_chunk_and_never_ends_the_connection() {
        let now = Instant::now();
        let mut st = state(now);
        let t = parse(&json_attrs(serde_json::json!({}))).expect("valid");
        for len in [1, 5, 32 * 1024] {
            let mut ps = vec![piece(now, len), piece(now, 3)];
            assert_eq!(t.shape(&mut ps, &mut st), Flow::Continue);
            assert!(ps.is_empty(), "nothing is forwarded");
        }
        assert_eq!(
            t.deadline(&st),
            None,
            "no deadline: the connection stays open"
        );
        assert!(t.close_delay().is_zero());
    }
}
