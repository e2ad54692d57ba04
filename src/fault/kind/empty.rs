//! `empty`: close the client connection (a plain FIN) without any response.

use super::{set_terminal, ApplyContext, ConnectionEnd, Decision, FaultKind, Terminal};
use crate::config::KindTable;
use std::sync::Arc;

/// Closes the connection with nothing written.
#[derive(Debug)]
pub struct Empty;

/// An empty answer has no keys of its own.
pub fn parse(_t: &mut KindTable) -> Option<Arc<dyn FaultKind>> {
    Some(Arc::new(Empty))
}

impl FaultKind for Empty {
    fn name(&self) -> &'static str {
        "empty"
    }

    fn injects_failure(&self) -> bool {
        true
    }

    fn apply(&self, decision: &mut Decision, _cx: &mut ApplyContext) -> bool {
        set_terminal(decision, Terminal::Close(ConnectionEnd::Empty))
    }
}
