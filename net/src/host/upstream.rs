//! [`Upstream`] on host sockets: non-blocking mio TCP and UDP sockets
//! registered with the daemon's event loop under the owning VM's token, so
//! any readiness re-polls that VM's network.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::rc::Rc;

use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};

use super::resolver::HostResolver;
use crate::upstream::{ConnectState, IcmpPeer, PendingLookup, TcpPeer, UdpPeer, Upstream};

/// Local addresses of the daemon's outgoing NAT connections. The listeners
/// consult it: a connection arriving from one of these is the guest reaching
/// the daemon through its own NAT, and is dropped.
pub type NatSources = Rc<RefCell<HashSet<SocketAddr>>>;

pub struct HostUpstream {
    registry: Registry,
    token: Token,
    resolver: HostResolver,
    /// The daemon's own listening addresses, refused as destinations.
    own_listeners: Rc<Vec<SocketAddr>>,
    nat_sources: NatSources,
}

impl HostUpstream {
    pub fn new(
        registry: Registry,
        token: Token,
        resolver: HostResolver,
        own_listeners: Rc<Vec<SocketAddr>>,
        nat_sources: NatSources,
    ) -> HostUpstream {
        HostUpstream { registry, token, resolver, own_listeners, nat_sources }
    }

    fn is_own_listener(&self, dst: SocketAddrV4) -> bool {
        self.own_listeners.iter().any(|l| {
            l.port() == dst.port() && (l.ip().is_unspecified() || l.ip() == std::net::IpAddr::V4(*dst.ip()))
        })
    }
}

impl Upstream for HostUpstream {
    fn connect_tcp(&mut self, dst: SocketAddrV4) -> io::Result<Box<dyn TcpPeer>> {
        if self.is_own_listener(dst) {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "destination is netvm-net itself"));
        }
        let mut stream = TcpStream::connect(SocketAddr::V4(dst))?;
        self.registry.register(&mut stream, self.token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Box::new(HostTcpPeer { stream, state: ConnectState::Pending, local: None, nat_sources: self.nat_sources.clone() }))
    }

    fn bind_udp(&mut self) -> io::Result<Box<dyn UdpPeer>> {
        let mut socket = UdpSocket::bind("0.0.0.0:0".parse().expect("literal address"))?;
        self.registry.register(&mut socket, self.token, Interest::READABLE)?;
        Ok(Box::new(HostUdpPeer { socket }))
    }

    fn lookup(&mut self, name: &str) -> Box<dyn PendingLookup> {
        self.resolver.lookup(name)
    }

    fn open_icmp(&mut self) -> io::Result<Box<dyn IcmpPeer>> {
        // An unprivileged "ping" socket (Linux icmp(7)): fails with EACCES
        // unless our group is in net.ipv4.ping_group_range.
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, Some(socket2::Protocol::ICMPV4))?;
        s.set_nonblocking(true)?;
        let mut socket = UdpSocket::from_std(std::net::UdpSocket::from(s));
        self.registry.register(&mut socket, self.token, Interest::READABLE)?;
        Ok(Box::new(HostIcmpPeer { socket }))
    }
}

/// A ping socket; mio's UdpSocket is only the fd wrapper here (sendto and
/// recvfrom on an ICMP datagram socket carry ICMP messages).
struct HostIcmpPeer {
    socket: UdpSocket,
}

impl IcmpPeer for HostIcmpPeer {
    fn send_echo(&mut self, dst: Ipv4Addr, seq_no: u16, data: &[u8]) -> io::Result<()> {
        // Type 8 (echo request), code 0; the kernel sets identifier and checksum.
        let mut msg = Vec::with_capacity(8 + data.len());
        msg.extend_from_slice(&[8, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(&seq_no.to_be_bytes());
        msg.extend_from_slice(data);
        self.socket.send_to(&msg, SocketAddr::V4(SocketAddrV4::new(dst, 0))).map(|_| ())
    }
    fn recv_echo(&mut self, buf: &mut [u8]) -> io::Result<(Ipv4Addr, u16, usize)> {
        let mut msg = [0u8; 2048];
        loop {
            let (n, from) = self.socket.recv_from(&mut msg)?;
            let SocketAddr::V4(from) = from else { continue };
            // Only echo replies (type 0) with a full header.
            if n < 8 || msg[0] != 0 {
                continue;
            }
            let seq_no = u16::from_be_bytes([msg[6], msg[7]]);
            let len = (n - 8).min(buf.len());
            buf[..len].copy_from_slice(&msg[8..8 + len]);
            return Ok((*from.ip(), seq_no, len));
        }
    }
}

struct HostTcpPeer {
    stream: TcpStream,
    state: ConnectState,
    local: Option<SocketAddr>,
    nat_sources: NatSources,
}

impl TcpPeer for HostTcpPeer {
    fn poll_connect(&mut self) -> ConnectState {
        if self.state != ConnectState::Pending {
            return self.state;
        }
        // A non-blocking connect has finished when the socket has an error
        // or a peer address (mio's documented way, see TcpStream::connect).
        self.state = match self.stream.take_error() {
            Ok(Some(e)) | Err(e) => ConnectState::Failed(e.kind()),
            Ok(None) => match self.stream.peer_addr() {
                Ok(_) => ConnectState::Connected,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => ConnectState::Pending,
                Err(e) => ConnectState::Failed(e.kind()),
            },
        };
        if self.state == ConnectState::Connected {
            let _ = self.stream.set_nodelay(true);
            if let Ok(local) = self.stream.local_addr() {
                self.nat_sources.borrow_mut().insert(local);
                self.local = Some(local);
            }
        }
        self.state
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

impl Drop for HostTcpPeer {
    fn drop(&mut self) {
        if let Some(local) = self.local {
            self.nat_sources.borrow_mut().remove(&local);
        }
    }
}

struct HostUdpPeer {
    socket: UdpSocket,
}

impl UdpPeer for HostUdpPeer {
    fn send_to(&mut self, payload: &[u8], dst: SocketAddrV4) -> io::Result<()> {
        self.socket.send_to(payload, SocketAddr::V4(dst)).map(|_| ())
    }
    fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        loop {
            let (n, from) = self.socket.recv_from(buf)?;
            match from {
                SocketAddr::V4(v4) => return Ok((n, v4)),
                SocketAddr::V6(_) => continue,
            }
        }
    }
}

/// A host socket as the far end of a port-forwarded connection into the guest.
pub struct AcceptedPeer {
    pub stream: TcpStream,
}

impl TcpPeer for AcceptedPeer {
    fn poll_connect(&mut self) -> ConnectState {
        ConnectState::Connected
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}
