//! QEMU's stream netdev framing: every Ethernet frame travels as a 4-byte
//! big-endian length followed by that many bytes (QEMU `net/stream.c` and
//! `-netdev socket`; the same format gvisor-tap-vsock calls `QemuProtocol`).
//!
//! The byte stream may be cut anywhere: a WebSocket message or a `read()` can
//! hold half a length prefix or several frames, so the decoder keeps state
//! between calls.

use crate::consts::MAX_FRAME_LEN;

/// Why a length prefix was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The prefix announced more than [`MAX_FRAME_LEN`] bytes (or zero); the
    /// stream can no longer be trusted to be in sync.
    BadLength(u32),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::BadLength(len) => {
                write!(f, "frame length prefix {len} outside 1..={MAX_FRAME_LEN}; stream out of sync")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Incremental decoder from a byte stream to frames.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_len: usize,
    /// Set once a bad prefix was seen: the stream is unrecoverable.
    broken: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// A decoder that rejects frames longer than `max_len`.
    pub fn new(max_len: usize) -> FrameDecoder {
        FrameDecoder { buf: Vec::new(), max_len, broken: false }
    }

    /// Appends stream bytes. Frames are then taken with [`next_frame`](Self::next_frame).
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.broken {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or an
    /// error if the stream announced an impossible length. After an error
    /// the decoder stays broken: a length-prefixed stream has no resync point,
    /// so the caller should close the connection.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.broken {
            return Err(FrameError::BadLength(0));
        }
        let Some(prefix) = self.buf.get(..4) else { return Ok(None) };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if len == 0 || len as usize > self.max_len {
            self.broken = true;
            self.buf = Vec::new();
            return Err(FrameError::BadLength(len));
        }
        let end = 4 + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let frame = self.buf[4..end].to_vec();
        self.buf.drain(..end);
        Ok(Some(frame))
    }
}

/// Appends `frame` with its length prefix to `out`.
pub fn encode_frame(frame: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(frame.len()).expect("an Ethernet frame is far below 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(frame);
}

/// `frame` with its length prefix, as one buffer (one WebSocket message).
pub fn encoded(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + 4);
    encode_frame(frame, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames {
            encode_frame(f, &mut out);
        }
        out
    }

    #[test]
    fn decodes_frames_split_at_every_byte() {
        let frames: [&[u8]; 3] = [b"first frame", &[7u8; 60], b"x"];
        let stream = stream_of(&frames);
        let mut dec = FrameDecoder::default();
        let mut got = Vec::new();
        for b in &stream {
            dec.push(std::slice::from_ref(b));
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames.iter().map(|f| f.to_vec()).collect::<Vec<_>>());
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn decodes_several_frames_in_one_push() {
        let stream = stream_of(&[b"ab", b"cde"]);
        let mut dec = FrameDecoder::default();
        dec.push(&stream[..stream.len() - 1]);
        assert_eq!(dec.next_frame().unwrap().unwrap(), b"ab");
        assert_eq!(dec.next_frame().unwrap(), None);
        dec.push(&stream[stream.len() - 1..]);
        assert_eq!(dec.next_frame().unwrap().unwrap(), b"cde");
    }

    #[test]
    fn rejects_oversize_and_zero_lengths_and_stays_broken() {
        let mut dec = FrameDecoder::default();
        dec.push(&((MAX_FRAME_LEN + 1) as u32).to_be_bytes());
        assert_eq!(dec.next_frame(), Err(FrameError::BadLength(MAX_FRAME_LEN as u32 + 1)));
        dec.push(&stream_of(&[b"ok"]));
        assert!(dec.next_frame().is_err());

        let mut dec = FrameDecoder::default();
        dec.push(&[0, 0, 0, 0]);
        assert_eq!(dec.next_frame(), Err(FrameError::BadLength(0)));
    }

    #[test]
    fn accepts_a_max_size_frame() {
        let frame = vec![0xabu8; MAX_FRAME_LEN];
        let mut dec = FrameDecoder::default();
        dec.push(&encoded(&frame));
        assert_eq!(dec.next_frame().unwrap().unwrap(), frame);
    }
}
