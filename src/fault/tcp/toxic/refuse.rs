//! `refuse`: while it is on a proxy, the proxy stops listening, so new connections are
//! refused (`ECONNREFUSED`, a dependency that is down or restarting); removing it listens
//! again on the same address. Connections already open are left alone.
//!
//! It acts on the proxy's listener, not on data: the proxy sees [`Toxic::refuses`] and
//! closes its port; on the streams it lets everything through. Its `stream` is irrelevant,
//! and its `toxicity` must be 1 (a share of connects cannot be refused by a closed port).

use super::super::{Attributes, Flow, LinkState, Piece, Toxic};
use std::sync::Arc;

#[derive(Debug)]
struct Refuse;

/// Parses a refuse; it has no attributes.
pub fn parse(_attrs: &Attributes) -> Result<Arc<dyn Toxic>, String> {
    Ok(Arc::new(Refuse))
}

impl Toxic for Refuse {
    fn shape(&self, _pieces: &mut Vec<Piece>, _state: &mut LinkState) -> Flow {
        Flow::Continue
    }

    fn refuses(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{json_attrs, piece, state};
    use super::*;
    use tokio::time::Instant;

    #[test]
    fn closes_the_listener_and_leaves_data_alone() {
        let now = Instant::now();
        let t = parse(&json_attrs(serde_json::json!({}))).expect("valid");
        assert!(t.refuses());
        let mut ps = vec![piece(now, 7)];
        assert_eq!(t.shape(&mut ps, &mut state(now)), Flow::Continue);
        assert_eq!(ps, vec![piece(now, 7)]);
        assert_eq!(t.deadline(&state(now)), None);
    }
}
