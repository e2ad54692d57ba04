//! `reset_peer`: the first data to arrive is dropped and the connection is reset (RST)
//! `timeout` ms later (at once with 0).

use super::super::{Attributes, End, Flow, LinkState, Piece, Toxic};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
struct ResetPeer {
    timeout: Duration,
}

/// Parses `timeout` (milliseconds).
pub fn parse(attrs: &Attributes) -> Result<Arc<dyn Toxic>, String> {
    Ok(Arc::new(ResetPeer {
        timeout: attrs.millis("timeout")?,
    }))
}

impl Toxic for ResetPeer {
    fn shape(&self, pieces: &mut Vec<Piece>, state: &mut LinkState) -> Flow {
        if state.fire_at.is_none() {
            let first = pieces.iter().map(|p| p.read_at).min();
            state.fire_at = first.map(|t| t + self.timeout);
        }
        pieces.clear();
        Flow::Continue
    }

    fn deadline(&self, state: &LinkState) -> Option<(Instant, End)> {
        state.fire_at.map(|t| (t, End::Reset))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{json_attrs, piece, state};
    use super::*;
    use crate::fault::tcp::millis;

    #[test]
    fn arms_on_the_first_data() {
        let now = Instant::now();
        let mut st = state(now);
        let t = parse(&json_attrs(serde_json::json!({"timeout": 100}))).expect("valid");
        assert_eq!(t.deadline(&st), None);
        let mut ps = vec![piece(now, 5)];
        t.shape(&mut ps, &mut st);
        assert!(ps.is_empty());
        assert_eq!(t.deadline(&st), Some((now + millis(100), End::Reset)));
    }
}
