//! A VM's link to the daemon: a byte stream carrying QEMU stream framing,
//! either raw over TCP / a unix socket, or inside WebSocket binary messages.
//! All non-blocking; output is held here only up to a bound, the rest waits
//! in the network's frame queue.

use std::io::{self, Read, Write};

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use tungstenite::handshake::server::ServerHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use super::ws::Policy;
use crate::framing::{encode_frame, encoded};

/// Unsent output beyond this makes the link "congested": no more frames
/// are taken from the network until it drains.
const MAX_PENDING_OUTPUT: usize = 1024 * 1024;
/// Largest WebSocket message accepted from a client (a message normally
/// carries a frame or a few).
const MAX_WS_MESSAGE: usize = 1024 * 1024;

/// A connected stream socket.
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            Socket::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            Socket::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Socket {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.register(r, t, i),
            Socket::Unix(s) => s.register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.reregister(r, t, i),
            Socket::Unix(s) => s.reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.deregister(r),
            Socket::Unix(s) => s.deregister(r),
        }
    }
}

enum Kind {
    Raw { socket: Socket, out: Vec<u8>, sent: usize },
    Handshaking(Option<MidHandshake<ServerHandshake<Socket, Policy>>>),
    Ws { ws: WebSocket<Socket>, blocked: bool },
}

/// What a read produced.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadResult {
    /// Stream bytes were appended (maybe zero, e.g. a ping or handshake step).
    Progress,
    WouldBlock,
    Closed,
}

pub struct Transport {
    kind: Kind,
}

fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

impl Transport {
    /// A raw framed stream (`--listen`, `--connect`, unix sockets).
    pub fn raw(socket: Socket) -> Transport {
        Transport { kind: Kind::Raw { socket, out: Vec::new(), sent: 0 } }
    }

    /// A WebSocket server connection; the handshake runs as bytes arrive.
    pub fn websocket(socket: Socket, policy: Policy) -> io::Result<Transport> {
        let config = WebSocketConfig::default().max_message_size(Some(MAX_WS_MESSAGE)).max_frame_size(Some(MAX_WS_MESSAGE));
        let mut t = Transport { kind: Kind::Handshaking(None) };
        t.kind = match tungstenite::accept_hdr_with_config(socket, policy, Some(config)) {
            Ok(ws) => Kind::Ws { ws, blocked: false },
            Err(HandshakeError::Interrupted(mid)) => Kind::Handshaking(Some(mid)),
            Err(HandshakeError::Failure(e)) => return Err(io::Error::other(format!("websocket handshake: {e}"))),
        };
        Ok(t)
    }

    /// A link already closed: reads report `Closed`.
    pub fn closed() -> Transport {
        Transport { kind: Kind::Handshaking(None) }
    }

    pub fn is_handshaking(&self) -> bool {
        matches!(self.kind, Kind::Handshaking(Some(_)))
    }

    pub fn socket_mut(&mut self) -> Option<&mut Socket> {
        match &mut self.kind {
            Kind::Raw { socket, .. } => Some(socket),
            Kind::Handshaking(Some(mid)) => Some(mid.get_mut().get_mut()),
            Kind::Handshaking(None) => None,
            Kind::Ws { ws, .. } => Some(ws.get_mut()),
        }
    }

    /// Reads available stream bytes into `into` (at most about `limit`).
    pub fn read(&mut self, into: &mut Vec<u8>, limit: usize) -> io::Result<ReadResult> {
        match &mut self.kind {
            Kind::Raw { socket, .. } => {
                let start = into.len();
                into.resize(start + limit, 0);
                let r = socket.read(&mut into[start..]);
                match r {
                    Ok(0) => {
                        into.truncate(start);
                        Ok(ReadResult::Closed)
                    }
                    Ok(n) => {
                        into.truncate(start + n);
                        Ok(ReadResult::Progress)
                    }
                    Err(e) => {
                        into.truncate(start);
                        match e.kind() {
                            io::ErrorKind::WouldBlock => Ok(ReadResult::WouldBlock),
                            io::ErrorKind::Interrupted => Ok(ReadResult::Progress),
                            _ => Err(e),
                        }
                    }
                }
            }
            Kind::Handshaking(mid) => {
                let Some(m) = mid.take() else { return Ok(ReadResult::Closed) };
                match m.handshake() {
                    Ok(ws) => {
                        log::debug!("websocket handshake done");
                        self.kind = Kind::Ws { ws, blocked: false };
                        Ok(ReadResult::Progress)
                    }
                    Err(HandshakeError::Interrupted(m)) => {
                        *mid = Some(m);
                        Ok(ReadResult::WouldBlock)
                    }
                    Err(HandshakeError::Failure(e)) => Err(io::Error::other(format!("websocket handshake: {e}"))),
                }
            }
            Kind::Ws { ws, .. } => match ws.read() {
                Ok(Message::Binary(data)) => {
                    into.extend_from_slice(&data);
                    Ok(ReadResult::Progress)
                }
                Ok(Message::Close(_)) => Ok(ReadResult::Closed),
                Ok(Message::Text(_)) => {
                    log::debug!("websocket text message ignored (the stream is binary)");
                    Ok(ReadResult::Progress)
                }
                Ok(_) => Ok(ReadResult::Progress),
                Err(e) if is_would_block(&e) => Ok(ReadResult::WouldBlock),
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => Ok(ReadResult::Closed),
                Err(e) => Err(io::Error::other(format!("websocket: {e}"))),
            },
        }
    }

    /// Whether more frames may be queued.
    pub fn accepts_frames(&self) -> bool {
        match &self.kind {
            Kind::Raw { out, sent, .. } => out.len() - sent < MAX_PENDING_OUTPUT,
            Kind::Handshaking(_) => false,
            Kind::Ws { blocked, .. } => !blocked,
        }
    }

    /// Queues one frame (one WebSocket message per frame, prefix included).
    pub fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        match &mut self.kind {
            Kind::Raw { out, .. } => {
                encode_frame(frame, out);
                Ok(())
            }
            Kind::Handshaking(_) => Err(io::Error::other("websocket handshake not finished")),
            Kind::Ws { ws, blocked } => match ws.write(Message::Binary(encoded(frame).into())) {
                Ok(()) => Ok(()),
                // The message stays in tungstenite's buffer; wait for writability.
                Err(e) if is_would_block(&e) => {
                    *blocked = true;
                    Ok(())
                }
                Err(e) => Err(io::Error::other(format!("websocket: {e}"))),
            },
        }
    }

    /// Writes queued output as far as the socket takes it.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.kind {
            Kind::Raw { socket, out, sent } => {
                while *sent < out.len() {
                    match socket.write(&out[*sent..]) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => *sent += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if *sent == out.len() {
                    out.clear();
                    *sent = 0;
                } else if *sent > MAX_PENDING_OUTPUT {
                    out.drain(..*sent);
                    *sent = 0;
                }
                Ok(())
            }
            Kind::Handshaking(_) => Ok(()),
            Kind::Ws { ws, blocked } => match ws.flush() {
                Ok(()) => {
                    *blocked = false;
                    Ok(())
                }
                Err(e) if is_would_block(&e) => {
                    *blocked = true;
                    Ok(())
                }
                Err(e) => Err(io::Error::other(format!("websocket: {e}"))),
            },
        }
    }
}
