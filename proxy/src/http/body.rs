//! Message body framing (RFC 9112 §6.3): how many bytes belong to a body,
//! decoded incrementally so no body is ever held whole.

use super::chunked::ChunkedDecoder;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    Chunked(String),
    /// The peer closed before the body's end.
    Truncated {
        missing: Option<u64>,
    },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Chunked(m) => write!(f, "bad chunked body: {m}"),
            BodyError::Truncated { missing: Some(n) } => {
                write!(f, "body truncated, {n} bytes missing")
            }
            BodyError::Truncated { missing: None } => write!(f, "chunked body truncated"),
        }
    }
}

impl std::error::Error for BodyError {}

/// Result of [`BodyDecoder::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyStep {
    /// Framing bytes to drop from the front of the input.
    pub framing: usize,
    /// Data bytes right after them.
    pub data: usize,
}

/// Tracks one body's framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyDecoder {
    Length {
        remaining: u64,
    },
    Chunked(ChunkedDecoder),
    /// Delimited by the connection's close (responses only, RFC 9112 §6.3 rule 8).
    UntilClose,
    Done,
}

impl BodyDecoder {
    pub fn length(n: u64) -> BodyDecoder {
        if n == 0 {
            BodyDecoder::Done
        } else {
            BodyDecoder::Length { remaining: n }
        }
    }

    pub fn chunked() -> BodyDecoder {
        BodyDecoder::Chunked(ChunkedDecoder::default())
    }

    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Done => true,
            BodyDecoder::Chunked(c) => c.is_done(),
            _ => false,
        }
    }

    /// Looks at buffered input: skips framing, reports available data.
    /// After using `k` of the reported data bytes call `consume_data(k)`.
    pub fn advance(&mut self, input: &[u8]) -> Result<BodyStep, BodyError> {
        Ok(match self {
            BodyDecoder::Length { remaining } => BodyStep {
                framing: 0,
                data: (input.len() as u64).min(*remaining) as usize,
            },
            BodyDecoder::Chunked(c) => {
                let a = c.advance(input)?;
                BodyStep {
                    framing: a.framing,
                    data: a.data,
                }
            }
            BodyDecoder::UntilClose => BodyStep {
                framing: 0,
                data: input.len(),
            },
            BodyDecoder::Done => BodyStep {
                framing: 0,
                data: 0,
            },
        })
    }

    pub fn consume_data(&mut self, n: usize) {
        match self {
            BodyDecoder::Length { remaining } => {
                *remaining -= (n as u64).min(*remaining);
                if *remaining == 0 {
                    *self = BodyDecoder::Done;
                }
            }
            BodyDecoder::Chunked(c) => c.consume_data(n),
            _ => {}
        }
    }

    /// The peer closed its side: fine for close-delimited bodies, an error
    /// for any body not yet complete.
    pub fn on_eof(&mut self) -> Result<(), BodyError> {
        match self {
            BodyDecoder::UntilClose | BodyDecoder::Done => {
                *self = BodyDecoder::Done;
                Ok(())
            }
            BodyDecoder::Length { remaining } => Err(BodyError::Truncated {
                missing: Some(*remaining),
            }),
            BodyDecoder::Chunked(c) if c.is_done() => Ok(()),
            BodyDecoder::Chunked(_) => Err(BodyError::Truncated { missing: None }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_body_stops_at_its_end() {
        let mut d = BodyDecoder::length(5);
        let s = d.advance(b"helloGET /").unwrap();
        assert_eq!(
            s,
            BodyStep {
                framing: 0,
                data: 5
            }
        );
        d.consume_data(3);
        assert!(!d.is_done());
        assert_eq!(d.on_eof(), Err(BodyError::Truncated { missing: Some(2) }));
        d.consume_data(2);
        assert!(d.is_done());
        assert!(BodyDecoder::length(0).is_done());
    }

    #[test]
    fn close_delimited_ends_at_eof() {
        let mut d = BodyDecoder::UntilClose;
        assert_eq!(d.advance(b"abc").unwrap().data, 3);
        assert!(d.on_eof().is_ok());
        assert!(d.is_done());
    }
}
