//! `malformed`: answer with bytes no HTTP client can parse, then close. `mode = "chunked"`
//! (the default) sends a valid status line and headers with a broken chunked body;
//! `mode = "garbage"` sends bytes that are not HTTP at all.

use super::{set_terminal, ApplyContext, ConnectionEnd, Decision, FaultKind, Terminal};
use crate::config::KindTable;
use bytes::Bytes;
use std::sync::Arc;

/// A status line and headers, then a chunk whose size line is not hexadecimal.
const BAD_CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nx-breakerbox-fault: malformed\r\n\r\nZZ\r\n{\"broken\r\n";

/// Not an HTTP response at all.
const GARBAGE: &[u8] = b"\x00\x7f\x13breakerbox: injected garbage, not HTTP\r\n\r\n";

/// Writes `bytes` raw and closes.
#[derive(Debug)]
pub struct Malformed {
    bytes: Bytes,
}

/// Reads `mode`: `chunked` (default) or `garbage`.
pub fn parse(t: &mut KindTable) -> Option<Arc<dyn FaultKind>> {
    let bytes = match t.string("mode") {
        None => BAD_CHUNKED,
        Some(m) => match m.get_ref().as_str() {
            "chunked" => BAD_CHUNKED,
            "garbage" => GARBAGE,
            other => {
                let message =
                    format!("unknown malformed mode \"{other}\" (known: chunked, garbage)");
                t.error(m.span(), message);
                return None;
            }
        },
    };
    Some(Arc::new(Malformed {
        bytes: Bytes::from_static(bytes),
    }))
}

impl FaultKind for Malformed {
    fn name(&self) -> &'static str {
        "malformed"
    }

    fn injects_failure(&self) -> bool {
        true
    }

    fn apply(&self, decision: &mut Decision, _cx: &mut ApplyContext) -> bool {
        set_terminal(
            decision,
            Terminal::Close(ConnectionEnd::Raw(self.bytes.clone())),
        )
    }
}
