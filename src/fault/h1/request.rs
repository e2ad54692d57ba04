//! A client's request head: parsed, checked, and rewritten for the upstream.

use super::head::{is_hop_by_hop, named_in_connection, put_header, put_length};
use crate::load::h1::{contains_token, parse_length, Framing};
use std::ops::Range;

/// Most header lines a request may have.
const MAX_HEADERS: usize = 100;

/// A request head, parsed; its rewritten form is in the caller's output buffer.
#[derive(Debug)]
pub(super) struct Request {
    /// The method.
    pub(super) method: http::Method,
    /// Where the path (without the query) is in the parsed bytes.
    pub(super) path: Range<usize>,
    /// How the body is delimited (`None` or `Length` or `Chunked`).
    pub(super) framing: Framing,
    /// Whether the client wants the connection closed after the answer.
    pub(super) close: bool,
    /// Whether the client waits for `100 Continue` before its body.
    pub(super) expect_continue: bool,
    /// Whether the client asks to switch protocols (`Connection: upgrade` with `Upgrade`),
    /// which the rewritten head passes on.
    pub(super) upgrade: bool,
    /// The head's length in the parsed bytes.
    pub(super) head_len: usize,
}

/// Why a request head is refused, with the status to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Malformed: 400.
    Bad,
    /// Too many or too large headers: 431.
    TooLarge,
}

impl Refusal {
    /// The status to answer with.
    pub(super) fn status(self) -> u16 {
        match self {
            Refusal::Bad => 400,
            Refusal::TooLarge => 431,
        }
    }

    /// The answer's body.
    pub(super) fn message(self) -> &'static str {
        match self {
            Refusal::Bad => "malformed request",
            Refusal::TooLarge => "request header fields too large",
        }
    }
}

/// Where the upstream lives and how its requests are addressed.
#[derive(Debug)]
pub(super) struct Rewrite {
    /// The `Host` header value sent upstream.
    pub(super) host: String,
    /// The upstream base URL's path, without a trailing `/`.
    pub(super) base_path: String,
}

/// Parses a request head from `input`; `Ok(None)` while incomplete. The head rewritten for
/// the upstream (target under the base path, `Host`, hop-by-hop headers gone, the framing
/// header) goes into `out`; the original headers into `headers` when given.
pub(super) fn parse(
    input: &[u8],
    rewrite: &Rewrite,
    out: &mut Vec<u8>,
    mut headers: Option<&mut http::HeaderMap>,
) -> Result<Option<Request>, Refusal> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooLarge),
        Err(_) => return Err(Refusal::Bad),
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Refusal::Bad);
    };
    let method = http::Method::from_bytes(method.as_bytes()).map_err(|_| Refusal::Bad)?;
    let path_and_query = origin_form(target).ok_or(Refusal::Bad)?;
    let offset = path_and_query.as_ptr() as usize - input.as_ptr() as usize;
    let path_len = path_and_query.find('?').unwrap_or(path_and_query.len());

    let mut framing = Framing::None;
    let mut chunked = false;
    let mut close = version == 0;
    let mut expect_continue = false;
    let mut lists_headers = false;
    let mut connection_upgrade = false;
    let mut upgrade_to: Option<&[u8]> = None;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_length(h.value).map_err(|_| Refusal::Bad)?;
            match framing {
                Framing::Length(m) if m != n => return Err(Refusal::Bad),
                _ => framing = Framing::Length(n),
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only chunked (last) is understood; anything else cannot be framed.
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or_default();
            if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(Refusal::Bad);
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            if contains_token(h.value, b"close") {
                close = true;
            } else if contains_token(h.value, b"keep-alive") {
                close = false;
            }
            connection_upgrade |= contains_token(h.value, b"upgrade");
            lists_headers = true;
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade_to = Some(h.value);
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue = contains_token(h.value, b"100-continue");
        }
        if let Some(map) = headers.as_deref_mut() {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(h.value),
            ) {
                map.append(n, v);
            }
        }
    }
    if chunked {
        framing = Framing::Chunked;
    }

    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(rewrite.base_path.as_bytes());
    out.extend_from_slice(path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(rewrite.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"host")
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"expect")
            || (lists_headers && named_in_connection(req.headers, name))
        {
            continue;
        }
        put_header(out, name, h.value);
    }
    let upgrade_to = upgrade_to.filter(|_| connection_upgrade);
    if let Some(protocol) = upgrade_to {
        put_header(out, b"connection", b"upgrade");
        put_header(out, b"upgrade", protocol);
    }
    match framing {
        Framing::Length(n) => put_length(out, n),
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::None | Framing::UntilClose => {}
    }
    out.extend_from_slice(b"\r\n");
    Ok(Some(Request {
        method,
        path: offset..offset + path_len,
        framing,
        close,
        expect_continue: expect_continue && framing != Framing::None,
        upgrade: upgrade_to.is_some(),
        head_len,
    }))
}

/// The path and query of a request target in origin form (`/a?b`) or absolute form
/// (`http://host/a?b`); `None` for anything else.
fn origin_form(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return Some(target);
    }
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))?;
    Some(rest.find('/').map_or("/", |at| &rest[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite() -> Rewrite {
        Rewrite {
            host: "up:8080".into(),
            base_path: "/base".into(),
        }
    }

    fn parse_str(text: &str) -> Result<Option<(Request, String)>, Refusal> {
        let mut out = Vec::new();
        let r = parse(text.as_bytes(), &rewrite(), &mut out, None)?;
        Ok(r.map(|r| (r, String::from_utf8(out).expect("ascii"))))
    }

    #[test]
    fn the_head_is_rewritten_for_the_upstream() {
        let text = "POST http://me/x/y?q=1 HTTP/1.1\r\nHost: me\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\nTE: trailers\r\nX-Keep: 2\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc";
        let (r, out) = parse_str(text).expect("valid").expect("complete");
        assert_eq!(
            out,
            "POST /base/x/y?q=1 HTTP/1.1\r\nhost: up:8080\r\nX-Keep: 2\r\ncontent-length: 3\r\n\r\n"
        );
        assert_eq!(&text[r.path.clone()], "/x/y");
        assert_eq!(r.framing, Framing::Length(3));
        assert!(!r.close && r.expect_continue);
        assert_eq!(r.head_len, text.len() - 3);
    }

    #[test]
    fn framing_and_connection_handling() {
        let (r, out) =
            parse_str("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n")
                .expect("valid")
                .expect("complete");
        assert_eq!(r.framing, Framing::Chunked);
        assert!(out.ends_with("transfer-encoding: chunked\r\n\r\n") && !out.contains("ength"));
        let (r, _) = parse_str("GET / HTTP/1.0\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(r.close, "HTTP/1.0 closes");
        let (r, _) = parse_str("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(!r.close);
        let (r, _) = parse_str("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(r.close && r.framing == Framing::None);
        assert!(parse_str("GET / HTTP/1.1\r\nHost: x\r\n")
            .expect("valid")
            .is_none());
    }

    #[test]
    fn malformed_heads_are_refused() {
        let bad = [
            "GET\r\n\r\n",
            "GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "GET * HTTP/1.1\r\n\r\n",
        ];
        for text in bad {
            assert_eq!(parse_str(text).err(), Some(Refusal::Bad), "{text:?}");
        }
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "a: b\r\n".repeat(200));
        assert_eq!(parse_str(&many).err(), Some(Refusal::TooLarge));
    }

    #[test]
    fn an_upgrade_keeps_its_headers_only_when_the_connection_names_it() {
        let (r, out) = parse_str(
            "GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .expect("valid")
        .expect("complete");
        assert!(r.upgrade);
        assert!(
            out.ends_with("connection: upgrade\r\nupgrade: websocket\r\n\r\n"),
            "{out}"
        );

        let (r, out) = parse_str("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(!r.upgrade);
        assert!(!out.to_ascii_lowercase().contains("upgrade"), "{out}");
    }
}
