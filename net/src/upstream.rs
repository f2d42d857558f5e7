//! The seam between the virtual network and whatever lies beyond it.
//!
//! The stack never opens OS sockets itself. Each guest TCP connection is
//! paired with a [`TcpPeer`]: a host socket (from an [`Upstream`], the `host`
//! feature's mio implementation) or an in-stack [`VirtualService`] such as the
//! browser-mode HTTP proxy. Every method is non-blocking: "nothing yet" is
//! `Err(WouldBlock)`, and the driver calls [`crate::VirtualNetwork::poll`]
//! again whenever a peer may have become ready.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

/// Progress of a peer's connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectState {
    Pending,
    Connected,
    /// The far side refused, was unreachable or timed out: the guest gets a RST.
    Failed(io::ErrorKind),
}

/// The far end of one guest TCP connection.
pub trait TcpPeer {
    /// Whether the connection is established yet. The guest's SYN is only
    /// answered once this says `Connected`, so a refusal becomes a RST.
    fn poll_connect(&mut self) -> ConnectState;
    /// Bytes for the guest. `Ok(0)` is end of stream, `WouldBlock` means none yet.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Bytes from the guest; may accept fewer than offered, or `WouldBlock`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// The guest closed its sending side (sent FIN) after all written bytes.
    fn shutdown_write(&mut self);
    /// Runs the peer's own timers; called on every pass of the network's
    /// poll while the connection is open. Host sockets have none; in-stack
    /// services (the proxy) time out idle or stalled requests here.
    fn poll(&mut self, _now: smoltcp::time::Instant) {}
    /// When [`poll`](Self::poll) must run next even if nothing else happens.
    fn poll_at(&self) -> Option<smoltcp::time::Instant> {
        None
    }
}

/// A host UDP socket serving one guest endpoint (endpoint-independent
/// mapping, RFC 4787 §4.1: one host socket per guest address and port).
pub trait UdpPeer {
    fn send_to(&mut self, payload: &[u8], dst: SocketAddrV4) -> io::Result<()>;
    /// One datagram and its sender, or `WouldBlock`.
    fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)>;
}

/// A host ICMP echo socket for one guest echo identifier (Linux "ping"
/// sockets: unprivileged where `net.ipv4.ping_group_range` allows).
pub trait IcmpPeer {
    /// Sends an echo request; the host may replace the identifier.
    fn send_echo(&mut self, dst: Ipv4Addr, seq_no: u16, data: &[u8]) -> io::Result<()>;
    /// One echo reply: `(from, seq_no, data length)` with the data in `buf`, or `WouldBlock`.
    fn recv_echo(&mut self, buf: &mut [u8]) -> io::Result<(Ipv4Addr, u16, usize)>;
}

/// Why a name lookup produced no addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// The name does not exist (DNS NXDOMAIN).
    NoSuchName,
    /// The resolver failed or timed out (DNS SERVFAIL).
    Failed,
}

/// A name lookup in progress.
pub trait PendingLookup {
    /// `None` while the lookup runs.
    fn poll(&mut self) -> Option<Result<Vec<IpAddr>, LookupError>>;
}

/// A lookup whose answer is already known.
pub struct ReadyLookup(pub Option<Result<Vec<IpAddr>, LookupError>>);

impl PendingLookup for ReadyLookup {
    fn poll(&mut self) -> Option<Result<Vec<IpAddr>, LookupError>> {
        self.0.take().or(Some(Err(LookupError::Failed)))
    }
}

/// The outside world as seen from one virtual network.
pub trait Upstream {
    /// Starts a TCP connection to `dst` (already translated, e.g. .254 → 127.0.0.1).
    fn connect_tcp(&mut self, dst: SocketAddrV4) -> io::Result<Box<dyn TcpPeer>>;
    /// A fresh UDP socket for one guest endpoint.
    fn bind_udp(&mut self) -> io::Result<Box<dyn UdpPeer>>;
    /// Resolves `name` to all its addresses (A and AAAA).
    fn lookup(&mut self, name: &str) -> Box<dyn PendingLookup>;
    /// An ICMP echo socket, if the host allows one. Without it, pings to
    /// the outside are dropped and the host alias is answered by the gateway.
    fn open_icmp(&mut self) -> io::Result<Box<dyn IcmpPeer>> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// An upstream with no outside: every connection is refused and every name
/// fails. The network still gives DHCP, ARP, ICMP and virtual services.
#[derive(Debug, Default)]
pub struct Isolated;

impl Upstream for Isolated {
    fn connect_tcp(&mut self, _dst: SocketAddrV4) -> io::Result<Box<dyn TcpPeer>> {
        Err(io::ErrorKind::ConnectionRefused.into())
    }
    fn bind_udp(&mut self) -> io::Result<Box<dyn UdpPeer>> {
        Err(io::ErrorKind::Unsupported.into())
    }
    fn lookup(&mut self, _name: &str) -> Box<dyn PendingLookup> {
        Box::new(ReadyLookup(Some(Err(LookupError::Failed))))
    }
}

/// A TCP service that lives inside the stack (no host socket): for each
/// guest connection to its address it makes a handler. The handler is fed
/// the guest's bytes through [`TcpPeer::write`] and produces the replies
/// through [`TcpPeer::read`]; it should report `Connected` at once.
pub trait VirtualService {
    fn accept(&mut self, guest: SocketAddrV4, dst: SocketAddrV4) -> Box<dyn TcpPeer>;
}

impl<F: FnMut(SocketAddrV4, SocketAddrV4) -> Box<dyn TcpPeer>> VirtualService for F {
    fn accept(&mut self, guest: SocketAddrV4, dst: SocketAddrV4) -> Box<dyn TcpPeer> {
        self(guest, dst)
    }
}
