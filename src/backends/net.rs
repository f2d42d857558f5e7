//! Ethernet frame transport for virtio-net.
//!
//! [`SocketNet`] speaks QEMU's stream framing (`-netdev socket,connect=` and
//! `-netdev stream`): each frame is preceded by its length as a 4-byte
//! big-endian integer (QEMU net/stream.c). The same code runs in the
//! browser, where emscripten turns the TCP connection into a WebSocket.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

/// Largest frame accepted from the peer. A virtio-net device without
/// offloads sees at most 1514 bytes (1518 with a VLAN tag); QEMU's stream
/// backend allows up to its 68 KiB receive buffer. Anything larger is a
/// corrupted stream.
pub const MAX_FRAME: usize = 65536 + 4096;

/// Outgoing bytes buffered while the socket is busy before `send` pushes
/// back (the device then leaves frames in its transmit queue).
const TX_BUFFER_LIMIT: usize = 256 * 1024;

/// A network backend: moves whole Ethernet frames (no virtio header).
pub trait FrameBackend {
    /// Copies the next received frame into `buf` and returns its length, or
    /// `Ok(None)` when no complete frame is waiting. A frame longer than
    /// `buf` is truncated.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// Sends one frame. `Ok(false)` means "not now" (backpressure): call
    /// again later with the same frame.
    fn send(&mut self, frame: &[u8]) -> io::Result<bool>;
    /// Pushes out anything `send` buffered; called on every device poll so
    /// buffered frames leave even when the guest sends nothing more.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// No network: transmitted frames are dropped, nothing is received (QEMU
/// `-nic none` keeps no device at all; this keeps the device and no link).
#[derive(Debug, Default)]
pub struct NoNet;

impl FrameBackend for NoNet {
    fn recv(&mut self, _buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(None)
    }
    fn send(&mut self, _frame: &[u8]) -> io::Result<bool> {
        Ok(true)
    }
}

/// Frames over a connected stream socket with 4-byte big-endian length
/// prefixes, nonblocking.
pub struct SocketNet<S = TcpStream> {
    stream: S,
    /// Bytes received and not yet returned as frames.
    rx: Vec<u8>,
    /// Bytes queued for the peer.
    tx: Vec<u8>,
    /// The peer closed or the stream broke; reported once, then quiet.
    closed: bool,
}

impl SocketNet<TcpStream> {
    /// Connects to `addr` (`host:port`) and switches to nonblocking mode.
    pub fn connect<A: ToSocketAddrs + std::fmt::Debug>(addr: A) -> io::Result<SocketNet<TcpStream>> {
        let stream = TcpStream::connect(&addr)
            .map_err(|e| io::Error::new(e.kind(), format!("connecting network socket to {addr:?}: {e}")))?;
        SocketNet::from_tcp(stream)
    }

    /// Wraps an already connected TCP stream.
    pub fn from_tcp(stream: TcpStream) -> io::Result<SocketNet<TcpStream>> {
        stream.set_nonblocking(true)?;
        // Frames are latency-sensitive and already batched by the guest.
        let _ = stream.set_nodelay(true);
        Ok(SocketNet::new(stream))
    }
}

impl<S: Read + Write> SocketNet<S> {
    /// Wraps any nonblocking byte stream (reads and writes may return
    /// `WouldBlock`).
    pub fn new(stream: S) -> SocketNet<S> {
        SocketNet { stream, rx: Vec::new(), tx: Vec::new(), closed: false }
    }

    /// Writes out as much of the transmit buffer as the socket takes.
    fn flush_tx(&mut self) -> io::Result<()> {
        while !self.tx.is_empty() {
            match self.stream.write(&self.tx) {
                Ok(0) => return Err(self.close(io::ErrorKind::WriteZero, "peer stopped accepting data")),
                Ok(n) => {
                    self.tx.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.close(e.kind(), &format!("sending: {e}"))),
            }
        }
        Ok(())
    }

    /// Reads what the socket has, up to one maximal frame beyond what is buffered.
    fn fill_rx(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16384];
        while self.rx.len() < 4 + MAX_FRAME {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(self.close(io::ErrorKind::UnexpectedEof, "peer closed the connection")),
                Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.close(e.kind(), &format!("receiving: {e}"))),
            }
        }
        Ok(())
    }

    fn close(&mut self, kind: io::ErrorKind, why: &str) -> io::Error {
        self.closed = true;
        self.rx.clear();
        self.tx.clear();
        io::Error::new(kind, format!("network socket: {why}"))
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: Read + Write> FrameBackend for SocketNet<S> {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if self.closed {
            return Ok(None);
        }
        self.flush_tx()?;
        if self.rx.len() < 4 + MAX_FRAME {
            self.fill_rx()?;
        }
        if self.rx.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.rx[0], self.rx[1], self.rx[2], self.rx[3]]) as usize;
        if len > MAX_FRAME {
            // The framing is lost; nothing after this can be trusted.
            return Err(self.close(
                io::ErrorKind::InvalidData,
                &format!("peer sent a frame length of {len} bytes (limit {MAX_FRAME})"),
            ));
        }
        if self.rx.len() < 4 + len {
            return Ok(None);
        }
        let n = len.min(buf.len());
        buf[..n].copy_from_slice(&self.rx[4..4 + n]);
        self.rx.drain(..4 + len);
        Ok(Some(n))
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<bool> {
        if self.closed {
            // Like a cable pulled: frames go nowhere.
            return Ok(true);
        }
        if frame.len() > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {} bytes too long", frame.len()),
            ));
        }
        self.flush_tx()?;
        if self.tx.len() + 4 + frame.len() > TX_BUFFER_LIMIT {
            return Ok(false);
        }
        self.tx.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        self.tx.extend_from_slice(frame);
        self.flush_tx()?;
        Ok(true)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.flush_tx()
    }
}

#[cfg(test)]
#[path = "net_tests.rs"]
mod tests;
