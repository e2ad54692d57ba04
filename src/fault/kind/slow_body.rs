//! `slow_body`: the headers come at once, the body dribbles out over `over`.

use super::{ApplyContext, Decision, FaultKind};
use crate::config::KindTable;
use std::sync::Arc;
use std::time::Duration;

/// Spreads the body over a duration.
#[derive(Debug)]
pub struct SlowBody {
    over: Duration,
}

/// Reads `over` (required): how long the body takes.
pub fn parse(t: &mut KindTable) -> Option<Arc<dyn FaultKind>> {
    let Some(over) = t.positive_duration("over") else {
        t.missing("over", "\"5s\"");
        return None;
    };
    Some(Arc::new(SlowBody {
        over: *over.get_ref(),
    }))
}

impl FaultKind for SlowBody {
    fn name(&self) -> &'static str {
        "slow_body"
    }

    fn injects_failure(&self) -> bool {
        false
    }

    fn apply(&self, decision: &mut Decision, _cx: &mut ApplyContext) -> bool {
        let over = decision.body.dribble.unwrap_or_default() + self.over;
        decision.body.dribble = Some(over);
        true
    }
}
