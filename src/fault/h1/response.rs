//! The upstream's response head: parsed, and rewritten for the client.

use super::head::{is_hop_by_hop, named_in_connection, put_header, put_length, put_status};
use crate::load::h1::{contains_token, parse_length, Framing};

/// Most header lines a response may have.
const MAX_HEADERS: usize = 100;

/// A response head, parsed; its rewritten start is in the caller's output buffer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Response {
    /// The status code.
    pub(super) code: u16,
    /// How the body is delimited (`None` for 1xx, 204, 304 and answers to `HEAD`).
    pub(super) framing: Framing,
    /// Whether the upstream closes the connection after it.
    pub(super) close: bool,
    /// The head's length in the parsed bytes.
    pub(super) head_len: usize,
}

/// A response head the proxy cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed response head from the upstream")]
pub(super) struct BadResponse;

/// Parses a response head from `input`; `Ok(None)` while incomplete. The status line and the
/// end-to-end headers go into `out`, without the framing header or the final CRLF
/// ([`finish`] adds them).
pub(super) fn parse(
    input: &[u8],
    head_request: bool,
    out: &mut Vec<u8>,
) -> Result<Option<Response>, BadResponse> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut slots);
    let head_len = match res.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(BadResponse),
    };
    let code = res.code.ok_or(BadResponse)?;
    let mut framing = Framing::UntilClose;
    let mut close = res.version == Some(0);
    let mut lists_headers = false;
    for h in res.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            if framing != Framing::Chunked {
                framing = Framing::Length(parse_length(h.value).map_err(|_| BadResponse)?);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if contains_token(h.value, b"chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            if contains_token(h.value, b"close") {
                close = true;
            } else if contains_token(h.value, b"keep-alive") {
                close = false;
            }
            lists_headers = true;
        }
    }
    if head_request || (100..200).contains(&code) || code == 204 || code == 304 {
        framing = Framing::None;
    }
    out.clear();
    put_status(out, code);
    for h in res.headers.iter() {
        let name = h.name.as_bytes();
        if is_hop_by_hop(name)
            || (name.eq_ignore_ascii_case(b"content-length") && !head_request && code != 304)
            || (lists_headers && named_in_connection(res.headers, name))
        {
            continue;
        }
        put_header(out, name, h.value);
    }
    if code == 101 {
        // Switching protocols: the client must see which, and that the connection changes.
        put_header(out, b"connection", b"upgrade");
        for h in res.headers.iter() {
            if h.name.eq_ignore_ascii_case("upgrade") {
                put_header(out, b"upgrade", h.value);
            }
        }
    }
    Ok(Some(Response {
        code,
        framing,
        close,
        head_len,
    }))
}

/// Ends a head started by [`parse`]: the framing header for a body of `framing` and, when
/// the connection ends after this answer, `connection: close`.
pub(super) fn finish(out: &mut Vec<u8>, framing: Framing, close: bool) {
    match framing {
        Framing::Length(n) => put_length(out, n),
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::None | Framing::UntilClose => {}
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(text: &str, head_request: bool, close: bool) -> (Response, String) {
        let mut out = Vec::new();
        let r = parse(text.as_bytes(), head_request, &mut out)
            .expect("valid")
            .expect("complete");
        finish(&mut out, r.framing, close);
        (r, String::from_utf8(out).expect("ascii"))
    }

    #[test]
    fn hop_by_hop_headers_go_and_the_framing_is_rewritten() {
        let (r, out) = rewritten(
            "HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\nKeep-Alive: t=5\r\nTransfer-Encoding: chunked\r\nX-B: 2\r\n\r\n",
            false,
            false,
        );
        assert_eq!(r.framing, Framing::Chunked);
        assert!(!r.close);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nX-B: 2\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let (r, out) = rewritten(
            "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello",
            false,
            true,
        );
        assert_eq!(r.framing, Framing::Length(5));
        assert_eq!(r.head_len, 43);
        assert_eq!(
            out,
            "HTTP/1.1 201 Created\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn bodiless_answers_and_closing_upstreams() {
        let (r, out) = rewritten("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, false);
        assert_eq!(r.framing, Framing::None);
        assert!(
            out.contains("Content-Length: 5"),
            "HEAD keeps the length: {out}"
        );
        let (r, _) = rewritten("HTTP/1.1 204 No Content\r\n\r\n", false, false);
        assert_eq!(r.framing, Framing::None);
        let (r, _) = rewritten("HTTP/1.0 200 OK\r\n\r\n", false, false);
        assert!(r.close && r.framing == Framing::UntilClose);
        let (r, _) = rewritten("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false, false);
        assert!(r.close);
        assert!(parse(b"HTTP/1.1 abc\r\n\r\n", false, &mut Vec::new()).is_err());
    }
}
