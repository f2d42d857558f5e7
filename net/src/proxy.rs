//! The HTTP/HTTPS proxy (`netvm-proxy`) as virtual services of the network
//! (feature `proxy`): each guest TCP connection to 192.168.127.253:80/443,
//! or in transparent mode to any port of a name-pool address, becomes a
//! [`ProxyConnection`] driven through the [`TcpPeer`] seam.
//!
//! Nothing here knows where requests go: the [`Proxy`] carries the upstream
//! (`NativeUpstream` for `netvm-net --proxy`, `FetchUpstream` in the
//! browser's worker), so the daemon and the wasm stack share this glue.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::task::Waker;

use netvm_proxy::{Destination, Proxy, ProxyConnection, Role};
use smoltcp::time::Instant;

use crate::clock::Clock;
use crate::consts::PROXY_IP;
use crate::name_pool::NamePool;
use crate::network::VirtualNetwork;
use crate::upstream::{ConnectState, TcpPeer, VirtualService};

/// The proxy's ports on [`PROXY_IP`], as c2w-net-proxy serves them: 80 for
/// proxy requests (`http_proxy`/`https_proxy` point here), 443 for TLS
/// named by SNI.
pub const PROXY_PORTS: [u16; 2] = [80, 443];

/// The stack's time on the proxy's clock (milliseconds, never negative).
pub fn proxy_instant(now: Instant) -> netvm_proxy::Instant {
    netvm_proxy::Instant::from_millis(now.total_millis().max(0) as u64)
}

fn stack_instant(t: netvm_proxy::Instant) -> Instant {
    Instant::from_millis(i64::try_from(t.total_millis()).unwrap_or(i64::MAX))
}

/// Puts the proxy on `net`: [`PROXY_IP`] ports 80 and 443 and, when
/// `transparent`, a fresh name pool for DNS whose addresses the proxy serves
/// on every port. `waker` must make the driver call `net.poll` soon (it is
/// woken from upstream threads natively, from promise callbacks in wasm).
pub fn serve<C: Clock + Clone + 'static>(
    net: &mut VirtualNetwork,
    proxy: Rc<Proxy>,
    waker: Waker,
    clock: C,
    transparent: bool,
) {
    let pool = transparent.then(|| Rc::new(RefCell::new(NamePool::default())));
    let service = ProxyService { proxy, waker, clock, pool: pool.clone() };
    for port in PROXY_PORTS {
        net.add_service(SocketAddrV4::new(PROXY_IP, port), Box::new(service.clone()));
    }
    if let Some(pool) = pool {
        net.set_name_pool(pool, Box::new(service));
    }
}

/// Makes a [`ProxyPeer`] for each accepted guest connection.
#[derive(Clone)]
pub struct ProxyService<C> {
    proxy: Rc<Proxy>,
    waker: Waker,
    clock: C,
    pool: Option<Rc<RefCell<NamePool>>>,
}

impl<C: Clock> VirtualService for ProxyService<C> {
    fn accept(&mut self, guest: SocketAddrV4, dst: SocketAddrV4) -> Box<dyn TcpPeer> {
        let role = if *dst.ip() == PROXY_IP {
            Role::ExplicitProxy
        } else {
            // An address the pool never gave out (or gave to another name
            // since) has no name: the proxy then needs SNI or Host.
            let name = self.pool.as_ref().and_then(|p| p.borrow().name_of(*dst.ip()).map(str::to_string));
            log::debug!("proxy: {guest} -> {dst} is {name:?}");
            Role::Transparent { name }
        };
        let now = self.clock.now();
        let conn = ProxyConnection::new(
            self.proxy.clone(),
            Destination { port: dst.port(), role },
            self.waker.clone(),
            proxy_instant(now),
        );
        Box::new(ProxyPeer { conn, now })
    }
}

/// One guest connection served by the proxy.
pub struct ProxyPeer {
    conn: ProxyConnection,
    /// The time of the latest `poll`, which runs before every data exchange.
    now: Instant,
}

impl TcpPeer for ProxyPeer {
    fn poll_connect(&mut self) -> ConnectState {
        ConnectState::Connected
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.conn.is_aborted() {
            // The response failed after its head: a RST tells the client,
            // where a FIN would pass a short body off as complete.
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "proxy aborted the response"));
        }
        match self.conn.take_guest_output(buf) {
            0 if self.conn.is_finished() => Ok(0),
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // What the proxy leaves stays in the socket's receive buffer, so the
        // guest's window closes: backpressure down to the guest's TCP.
        match self.conn.feed_guest(buf, proxy_instant(self.now)) {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn shutdown_write(&mut self) {
        self.conn.on_guest_close(proxy_instant(self.now));
    }

    fn poll(&mut self, now: Instant) {
        self.now = now;
        self.conn.poll(proxy_instant(now));
    }

    fn poll_at(&self) -> Option<Instant> {
        self.conn.poll_at().map(stack_instant)
    }
}
