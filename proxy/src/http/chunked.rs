//! The chunked transfer coding (RFC 9112 §7.1), decoded incrementally
//! from whatever bytes have arrived, so bodies stream through.

use super::body::BodyError;

/// Chunk-size lines longer than this are refused (size + extensions).
const MAX_LINE: usize = 4096;
/// Total trailer section size accepted (trailers are read and dropped).
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading the hex chunk size; `line` counts bytes of this line.
    Size {
        size: u64,
        digits: u32,
        line: usize,
    },
    /// In chunk extensions (ignored, RFC 9112 §7.1.1) until CRLF.
    Extension {
        size: u64,
        line: usize,
    },
    /// Got CR at the end of the size line.
    SizeLf {
        size: u64,
    },
    /// `remaining` data bytes of the current chunk follow.
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line; `total` bytes of trailers so far.
    TrailerStart {
        total: usize,
    },
    TrailerLine {
        total: usize,
    },
    TrailerLf {
        total: usize,
        empty: bool,
    },
    Done,
}

/// An incremental chunked decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size {
                size: 0,
                digits: 0,
                line: 0,
            },
        }
    }
}

/// What one call to [`ChunkedDecoder::advance`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advance {
    /// Framing bytes consumed from the front of the input.
    pub framing: usize,
    /// Data bytes available right after them (call `consume_data` for the
    /// ones used).
    pub data: usize,
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes framing bytes from `input` until data or the end of input
    /// is reached.
    pub fn advance(&mut self, input: &[u8]) -> Result<Advance, BodyError> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data { remaining } = self.state {
                let data = (input.len() - i).min(usize::try_from(remaining).unwrap_or(usize::MAX));
                return Ok(Advance { framing: i, data });
            }
            if self.state == State::Done {
                break;
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(Advance {
            framing: i,
            data: 0,
        })
    }

    /// Records that `n` data bytes reported by `advance` were used.
    pub fn consume_data(&mut self, n: usize) {
        if let State::Data { remaining } = &mut self.state {
            *remaining -= (n as u64).min(*remaining);
            if *remaining == 0 {
                self.state = State::DataCr;
            }
        }
    }

    fn step(&mut self, b: u8) -> Result<(), BodyError> {
        let bad = |what: &str| BodyError::Chunked(format!("{what} (byte {:#04x})", b));
        self.state = match self.state.clone() {
            State::Size { size, digits, line } => {
                if line >= MAX_LINE {
                    return Err(BodyError::Chunked("chunk size line too long".into()));
                }
                match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits >= 16 {
                            return Err(BodyError::Chunked("chunk size over 64 bits".into()));
                        }
                        let v = (b as char).to_digit(16).unwrap_or(0) as u64;
                        State::Size {
                            size: size << 4 | v,
                            digits: digits + 1,
                            line: line + 1,
                        }
                    }
                    _ if digits == 0 => return Err(bad("chunk size expected")),
                    b';' | b' ' | b'\t' => State::Extension {
                        size,
                        line: line + 1,
                    },
                    b'\r' => State::SizeLf { size },
                    _ => return Err(bad("bad chunk size")),
                }
            }
            State::Extension { size, line } => {
                if line >= MAX_LINE {
                    return Err(BodyError::Chunked("chunk extension too long".into()));
                }
                match b {
                    b'\r' => State::SizeLf { size },
                    b'\n' => return Err(bad("bare LF in chunk extension")),
                    _ => State::Extension {
                        size,
                        line: line + 1,
                    },
                }
            }
            State::SizeLf { size } => match b {
                b'\n' if size == 0 => State::TrailerStart { total: 0 },
                b'\n' => State::Data { remaining: size },
                _ => return Err(bad("LF expected after chunk size")),
            },
            State::Data { .. } => unreachable!("data bytes are handed out by advance"),
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return Err(bad("CRLF expected after chunk data")),
            },
            State::DataLf => match b {
                b'\n' => State::Size {
                    size: 0,
                    digits: 0,
                    line: 0,
                },
                _ => return Err(bad("LF expected after chunk data")),
            },
            State::TrailerStart { total } | State::TrailerLine { total } => {
                if total >= MAX_TRAILERS {
                    return Err(BodyError::Chunked("trailer section too long".into()));
                }
                let at_start = matches!(self.state, State::TrailerStart { .. });
                match b {
                    b'\r' => State::TrailerLf {
                        total: total + 1,
                        empty: at_start,
                    },
                    _ => State::TrailerLine { total: total + 1 },
                }
            }
            State::TrailerLf { total, empty } => match b {
                b'\n' if empty => State::Done,
                b'\n' => State::TrailerStart { total: total + 1 },
                _ => return Err(bad("LF expected in trailer section")),
            },
            State::Done => State::Done,
        };
        Ok(())
    }
}

/// Writes the chunk header for `len` data bytes (`len` > 0).
pub fn chunk_header(len: usize) -> String {
    format!("{len:x}\r\n")
}

/// Ends a chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `piece` bytes.
    fn decode(input: &[u8], piece: usize) -> Result<(Vec<u8>, bool, usize), BodyError> {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut used = 0;
        for part in input.chunks(piece) {
            pending.extend_from_slice(part);
            loop {
                let a = d.advance(&pending)?;
                used += a.framing;
                pending.drain(..a.framing);
                if a.data == 0 {
                    break;
                }
                out.extend_from_slice(&pending[..a.data]);
                d.consume_data(a.data);
                used += a.data;
                pending.drain(..a.data);
            }
        }
        Ok((out, d.is_done(), used))
    }

    #[test]
    fn decodes_in_any_split() {
        let wire = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for piece in 1..wire.len() {
            let (out, done, used) = decode(wire, piece).unwrap();
            assert_eq!(out, b"hello0123456789");
            assert!(done);
            assert_eq!(used, wire.len() - 4, "stops before the next message");
        }
    }

    #[test]
    fn refuses_bad_framing() {
        for bad in [
            &b"x\r\n"[..],
            b"5\r\nhelloXX",
            b"5\nhello\r\n",
            b"11111111111111111\r\n",
            b"\r\n",
            b"0\r\nbad\rX",
        ] {
            assert!(decode(bad, 3).is_err(), "{bad:?} accepted");
        }
        let long = [b'1'; 1]
            .iter()
            .chain([b';'; MAX_LINE + 2].iter())
            .copied()
            .collect::<Vec<u8>>();
        assert!(decode(&long, 100).is_err());
    }

    #[test]
    fn huge_chunk_sizes_do_not_overflow() {
        let (out, done, _) = decode(b"ffffffffffffffff\r\nabc", 4).unwrap();
        assert_eq!(out, b"abc");
        assert!(!done);
    }
}
