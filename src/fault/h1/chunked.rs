//! Finding the end of a chunked body while passing its framing through verbatim, and
//! collecting its data when the whole body is wanted.

use crate::load::h1::parse_hex;

/// Longest chunk-size line (size, extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;

/// Where the scanner is in the chunked framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line (hex digits, then maybe `;extensions`).
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Reading trailer lines, up to an empty one.
    Trailer,
    /// The body is complete.
    Done,
}

/// A malformed chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body")]
pub(super) struct ChunkError;

/// Scans a chunked body fed in pieces; it keeps only the current line's bytes.
#[derive(Debug)]
pub(super) struct Chunked {
    state: State,
    line: Vec<u8>,
}

impl Chunked {
    /// A scanner at the start of a body.
    pub(super) fn new() -> Self {
        Chunked {
            state: State::Size,
            line: Vec::new(),
        }
    }

    /// Feeds `input`; `data` gets every piece of chunk data. Returns how many bytes of
    /// `input` belong to the body and whether the body ended there.
    pub(super) fn feed(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<(usize, bool), ChunkError> {
        let mut at = 0;
        while at < input.len() {
            match self.state {
                State::Done => return Ok((at, true)),
                State::Data(left) => {
                    let take = (input.len() - at).min(usize::try_from(left).unwrap_or(usize::MAX));
                    data(&input[at..at + take]);
                    at += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::Size | State::DataEnd | State::Trailer => {
                    let rest = &input[at..];
                    let Some(lf) = rest.iter().position(|b| *b == b'\n') else {
                        self.push_line(rest)?;
                        at = input.len();
                        break;
                    };
                    self.push_line(&rest[..=lf])?;
                    at += lf + 1;
                    self.end_line()?;
                }
            }
        }
        Ok((at, self.state == State::Done))
    }

    fn push_line(&mut self, part: &[u8]) -> Result<(), ChunkError> {
        if self.line.len() + part.len() > MAX_LINE {
            return Err(ChunkError);
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    /// A whole line (with its LF) is in `self.line`: act on it.
    fn end_line(&mut self) -> Result<(), ChunkError> {
        let line = self.line.strip_suffix(b"\r\n").ok_or(ChunkError)?;
        self.state = match self.state {
            State::Size => {
                let size_text = line.split(|b| *b == b';').next().unwrap_or_default();
                match parse_hex(size_text).map_err(|_| ChunkError)? {
                    0 => State::Trailer,
                    n => State::Data(n),
                }
            }
            State::DataEnd if line.is_empty() => State::Size,
            State::Trailer if line.is_empty() => State::Done,
            State::Trailer => State::Trailer,
            _ => return Err(ChunkError),
        };
        self.line.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_in_pieces(body: &[u8], piece: usize) -> Result<(usize, Vec<u8>), ChunkError> {
        let mut c = Chunked::new();
        let mut data = Vec::new();
        let mut used = 0;
        for part in body.chunks(piece) {
            let (n, done) = c.feed(part, |d| data.extend_from_slice(d))?;
            used += n;
            if done {
                return Ok((used, data));
            }
        }
        Err(ChunkError)
    }

    #[test]
    fn the_end_is_found_in_any_split_and_what_follows_is_left() {
        let body = b"5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-t: 1\r\n\r\nGET / HTTP/1.1\r\n";
        let end = body.len() - b"GET / HTTP/1.1\r\n".len();
        for piece in 1..body.len() {
            let (used, data) = scan_in_pieces(body, piece).expect("valid");
            assert_eq!(used, end, "piece {piece}");
            assert_eq!(data, b"helloabcdefghijklmnopqrstuvwxyz");
        }
    }

    #[test]
    fn bad_sizes_and_missing_crlf_are_errors() {
        assert!(scan_in_pieces(b"ZZ\r\nhello\r\n0\r\n\r\n", 64).is_err());
        assert!(scan_in_pieces(b"5\r\nhelloXX0\r\n\r\n", 64).is_err());
        assert!(scan_in_pieces(b"5\nhello\r\n0\r\n\r\n", 64).is_err());
        let long = vec![b'1'; MAX_LINE + 10];
        assert!(scan_in_pieces(&long, 64).is_err());
    }
}
