//! The fault proxy's decision log as a file beside the result: one JSON object per line,
//! each a rule's verdict on one request (injected, roll missed, off in its cycle, already
//! answered by another rule) with the roll, the probability and the reason, oldest first.
//! It answers "why did this request get (or not get) a fault" after the run.

use super::{write_atomically, ReportError};
use crate::fault::decisions::DecisionPage;
use std::path::Path;

/// Writes every decision in `log` to `path` as NDJSON, atomically.
pub fn write_decisions(log: &DecisionPage, path: &Path) -> Result<(), ReportError> {
    let mut text = Vec::with_capacity(log.decisions.len() * 200);
    for decision in &log.decisions {
        serde_json::to_writer(&mut text, decision)?;
        text.push(b'\n');
    }
    write_atomically(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::decisions::DecisionRecord;

    #[test]
    fn one_decision_per_line_that_reads_back() {
        let record = |seq: u64, injected: bool| DecisionRecord {
            seq,
            at_ms: 1.5,
            request: seq,
            connection: 0,
            method: "GET".into(),
            path: "/item/1".into(),
            rule: 0,
            kind: "status".into(),
            roll: 0.25,
            probability: 0.5,
            injected,
            reason: if injected { "injected" } else { "roll missed" }.into(),
        };
        let log = DecisionPage {
            next: 2,
            dropped: 0,
            decisions: vec![record(0, true), record(1, false)],
        };
        let dir = std::env::temp_dir().join(format!("bb-decisions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("run.decisions.ndjson");
        write_decisions(&log, &path).expect("writes");
        let text = std::fs::read_to_string(&path).expect("reads");
        let back: Vec<DecisionRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is a decision"))
            .collect();
        assert_eq!(back, log.decisions);
        let _ = std::fs::remove_dir_all(dir);
    }
}
