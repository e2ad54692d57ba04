//! `slow_close`: the close is held `delay` ms after the source closed.

use super::super::{Attributes, Flow, LinkState, Piece, Toxic};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
struct SlowClose {
    delay: Duration,
}

/// Parses `delay` (milliseconds).
pub fn parse(attrs: &Attributes) -> Result<Arc<dyn Toxic>, String> {
    Ok(Arc::new(SlowClose {
        delay: attrs.millis("delay")?,
    }))
}

impl Toxic for SlowClose {
    fn shape(&self, _pieces: &mut Vec<Piece>, _state: &mut LinkState) -> Flow {
        Flow::Continue
    }

    fn close_delay(&self) -> Duration {
        self.delay
    }
}
