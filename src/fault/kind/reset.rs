//! `reset`: close the client connection with a TCP RST and no response.

use super::{set_terminal, ApplyContext, ConnectionEnd, Decision, FaultKind, Terminal};
use crate::config::KindTable;
use std::sync::Arc;

/// Resets the connection.
#[derive(Debug)]
pub struct Reset;

/// A reset has no keys of its own.
pub fn parse(_t: &mut KindTable) -> Option<Arc<dyn FaultKind>> {
    Some(Arc::new(Reset))
}

impl FaultKind for Reset {
    fn name(&self) -> &'static str {
        "reset"
    }

    fn injects_failure(&self) -> bool {
        true
    }

    fn apply(&self, decision: &mut Decision, _cx: &mut ApplyContext) -> bool {
        set_terminal(decision, Terminal::Close(ConnectionEnd::Reset))
    }
}
