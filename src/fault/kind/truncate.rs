//! `truncate`: send part of the body, then close the connection mid-response.

use super::{ApplyContext, Cut, Decision, FaultKind};
use crate::config::KindTable;
use std::sync::Arc;

/// Cuts the body.
#[derive(Debug)]
pub struct Truncate {
    cut: Cut,
}

/// Reads `bytes` (how many to send) or `fraction` (of the body; default 0.5).
pub fn parse(t: &mut KindTable) -> Option<Arc<dyn FaultKind>> {
    let bytes = t.integer("bytes");
    let fraction = t.fraction("fraction");
    let cut = match (bytes, fraction) {
        (Some(b), Some(_)) => {
            t.error(b.span(), "give `bytes` or `fraction`, not both");
            return None;
        }
        (Some(b), None) if *b.get_ref() < 0 => {
            t.error(b.span(), "bytes must not be negative");
            return None;
        }
        (Some(b), None) => Cut::Bytes(*b.get_ref() as u64),
        (None, Some(f)) => Cut::Fraction(*f.get_ref()),
        (None, None) => Cut::Fraction(0.5),
    };
    Some(Arc::new(Truncate { cut }))
}

impl FaultKind for Truncate {
    fn name(&self) -> &'static str {
        "truncate"
    }

    fn injects_failure(&self) -> bool {
        true
    }

    fn apply(&self, decision: &mut Decision, _cx: &mut ApplyContext) -> bool {
        if decision.body.cut.is_some() {
            return false;
        }
        decision.body.cut = Some(self.cut);
        true
    }
}
