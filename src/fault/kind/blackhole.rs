//! `blackhole`: accept and read the request, never answer; the connection is closed when
//! the fault's window ends (so a run, and a test, always ends).

use super::{set_terminal, ApplyContext, Decision, FaultKind, Terminal};
use crate::config::KindTable;
use std::sync::Arc;

/// Holds the request until the window closes.
#[derive(Debug)]
pub struct Blackhole;

/// A blackhole has no keys of its own.
pub fn parse(_t: &mut KindTable) -> Option<Arc<dyn FaultKind>> {
    Some(Arc::new(Blackhole))
}

impl FaultKind for Blackhole {
    fn name(&self) -> &'static str {
        "blackhole"
    }

    fn injects_failure(&self) -> bool {
        true
    }

    fn apply(&self, decision: &mut Decision, cx: &mut ApplyContext) -> bool {
        set_terminal(decision, Terminal::Blackhole { until: cx.until })
    }
}
