//! What request and response heads share: which headers stay on one hop, and writing them.

/// Whether a header describes one hop's connection, not the message (RFC 9110 §7.6.1); the
/// framing headers are among them, as each hop writes its own.
pub(super) fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP: [&[u8]; 9] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    ];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Whether a `Connection` header among `headers` names `name` as hop-by-hop.
pub(super) fn named_in_connection(headers: &[httparse::Header<'_>], name: &[u8]) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .any(|h| crate::load::h1::contains_token(h.value, name))
}

/// Appends `name: value\r\n`.
pub(super) fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `content-length: n\r\n`.
pub(super) fn put_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(crate::load::h1::itoa_buf(n as usize).as_bytes_mut());
    out.extend_from_slice(b"\r\n");
}

/// Appends a status line `HTTP/1.1 code reason`.
pub(super) fn put_status(out: &mut Vec<u8>, code: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(crate::load::h1::itoa_buf(usize::from(code)).as_bytes_mut());
    out.push(b' ');
    let reason = http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A whole answer of our own (an error the proxy gives): `code` with a text body.
pub(super) fn simple_answer(out: &mut Vec<u8>, code: u16, message: &str, close: bool) {
    out.clear();
    put_status(out, code);
    put_length(out, message.len() as u64);
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(message.as_bytes());
}
