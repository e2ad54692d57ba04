//! `status`: answer with an HTTP status instead of forwarding; the upstream never sees the call.

use super::{set_terminal, ApplyContext, Decision, FaultKind, Terminal};
use crate::config::KindTable;
use bytes::Bytes;
use std::sync::Arc;

/// Answers with `code`, `body` and `headers`.
#[derive(Debug)]
pub struct Status {
    code: u16,
    body: Bytes,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// Reads `status` (required), `body`, `headers` (e.g. `{ retry-after = "5" }`).
pub fn parse(t: &mut KindTable) -> Option<Arc<dyn FaultKind>> {
    let code = match t.integer("status") {
        Some(s) if (100..=599).contains(s.get_ref()) => Some(*s.get_ref() as u16),
        Some(s) => {
            let message = format!("status {} is not an HTTP status (100-599)", s.get_ref());
            t.error(s.span(), message);
            None
        }
        None => {
            t.missing("status", "500");
            None
        }
    };
    let body = t.string("body").map(|b| b.into_inner());
    let mut headers = Vec::new();
    if let Some(table) = t.string_table("headers") {
        for (name, value) in table.get_ref() {
            match (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                (Ok(n), Ok(v)) => headers.push((n, v)),
                _ => t.error(
                    table.span(),
                    format!("header `{name}: {value}` is not a valid HTTP header"),
                ),
            }
        }
    }
    let code = code?;
    let body = body
        .unwrap_or_else(|| format!("{{\"error\":\"injected by breakerbox\",\"status\":{code}}}"));
    Some(Arc::new(Status {
        code,
        body: Bytes::from(body),
        headers,
    }))
}

impl FaultKind for Status {
    fn name(&self) -> &'static str {
        "status"
    }

    fn injects_failure(&self) -> bool {
        self.code >= 500
    }

    fn apply(&self, decision: &mut Decision, _cx: &mut ApplyContext) -> bool {
        set_terminal(
            decision,
            Terminal::Status {
                code: self.code,
                body: self.body.clone(),
                headers: self.headers.clone(),
            },
        )
    }
}
