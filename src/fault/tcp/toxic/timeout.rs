//! `timeout`: no data gets through; the connection is closed `timeout` ms after the toxic
//! became active on it (0: never closed, data dropped while the toxic is on).

use super::super::{Attributes, End, Flow, LinkState, Piece, Toxic};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
struct Timeout {
    timeout: Duration,
}

/// Parses `timeout` (milliseconds).
pub fn parse(attrs: &Attributes) -> Result<Arc<dyn Toxic>, String> {
    Ok(Arc::new(Timeout {
        timeout: attrs.millis("timeout")?,
    }))
}

impl Toxic for Timeout {
    fn shape(&self, pieces: &mut Vec<Piece>, _state: &mut LinkState) -> Flow {
        pieces.clear();
        Flow::Continue
    }

    fn deadline(&self, state: &LinkState) -> Option<(Instant, End)> {
        (!self.timeout.is_zero()).then(|| (state.started + self.timeout, End::Close))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{json_attrs, piece, state};
    use super::*;
    use crate::fault::tcp::millis;

    #[test]
    fn drops_data_and_closes_after_the_timeout_unless_zero() {
        let now = Instant::now();
        let st = state(now);
        let t = parse(&json_attrs(serde_json::json!({"timeout": 300}))).expect("valid");
        let mut ps = vec![piece(now, 5)];
        t.shape(&mut ps, &mut state(now));
        assert!(ps.is_empty());
        assert_eq!(t.deadline(&st), Some((now + millis(300), End::Close)));
        let t = parse(&json_attrs(serde_json::json!({"timeout": 0}))).expect("valid");
        assert_eq!(t.deadline(&st), None);
    }
}
