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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::consts::{DEFAULT_GUEST_MAC, GATEWAY_IP, GUEST_IP};
    use crate::memlink::MemLink;
    use crate::network::NetworkConfig;
    use crate::upstream::Isolated;
    use netvm_proxy::upstream::{ResponseBody, ResponseHead};
    use netvm_proxy::{CertificateAuthority, Exchange, ProxyConfig, Upstream, UpstreamEvent, UpstreamRequest};
    use smoltcp::socket::tcp;
    use smoltcp::time::Duration;
    use std::sync::Arc;

    /// Answers `GET .../hello` with "hi <url>"; never answers anything else.
    struct Origin;
    struct Answer(Vec<UpstreamEvent>);

    impl Upstream for Origin {
        fn start(&self, request: UpstreamRequest, _waker: Waker) -> Box<dyn Exchange> {
            let url = request.url.to_string();
            if !url.ends_with("/hello") {
                return Box::new(Answer(Vec::new()));
            }
            let body = format!("hi {url}").into_bytes();
            let head = ResponseHead {
                status: 200,
                reason: "OK".into(),
                headers: Vec::new(),
                body: ResponseBody::Length(body.len() as u64),
            };
            Box::new(Answer(vec![UpstreamEvent::End, UpstreamEvent::Body(body), UpstreamEvent::Head(head)]))
        }
    }

    impl Exchange for Answer {
        fn write_body(&mut self, data: &[u8]) -> usize {
            data.len()
        }
        fn finish_body(&mut self) {}
        fn poll_event(&mut self) -> Option<UpstreamEvent> {
            self.0.pop()
        }
    }

    fn link(transparent: bool) -> MemLink {
        let mut l = MemLink::new(NetworkConfig::default(), Box::new(Isolated), DEFAULT_GUEST_MAC);
        l.configure_guest(GUEST_IP, GATEWAY_IP);
        let ca = Arc::new(CertificateAuthority::generate(1_700_000_000).unwrap());
        let proxy = Rc::new(Proxy::new(ca, Box::new(Origin), ProxyConfig::default()));
        let clock = l.clock.clone();
        serve(&mut l.net, proxy, Waker::noop().clone(), clock, transparent);
        l
    }

    /// Connects to `dst`, sends `request`, and returns what came back once
    /// the proxy closed (or what came by `limit`), and the socket's state.
    fn exchange(l: &mut MemLink, dst: SocketAddrV4, request: &[u8], limit: Duration) -> (String, tcp::State) {
        let socket = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 8192]), tcp::SocketBuffer::new(vec![0; 8192]));
        let h = l.sockets.add(socket);
        let cx = l.guest.context();
        l.sockets.get_mut::<tcp::Socket>(h).connect(cx, (*dst.ip(), dst.port()), 40000).unwrap();
        let mut sent = false;
        let mut got = Vec::new();
        l.run_until(limit, Duration::from_millis(100), |l| {
            let s = l.sockets.get_mut::<tcp::Socket>(h);
            if !sent && s.may_send() {
                s.send_slice(request).unwrap();
                sent = true;
            }
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.recv_slice(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            !s.may_recv() && sent
        });
        let state = l.sockets.get::<tcp::Socket>(h).state();
        l.sockets.remove(h);
        (String::from_utf8_lossy(&got).into_owned(), state)
    }

    #[test]
    fn explicit_proxy_answers_and_closes() {
        let mut l = link(false);
        let dst = SocketAddrV4::new(PROXY_IP, 80);
        let (text, _) = exchange(&mut l, dst, b"GET http://example.test/hello HTTP/1.1\r\nConnection: close\r\n\r\n", Duration::from_secs(5));
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with("hi http://example.test/hello"), "{text}");
    }

    #[test]
    fn the_proxys_timers_run_through_the_network() {
        // Half a request head and silence: only the proxy's own timer
        // (request_head, 30 s) ends this, through TcpPeer::poll/poll_at.
        let mut l = link(false);
        let dst = SocketAddrV4::new(PROXY_IP, 80);
        let t0 = l.clock.now();
        let (text, _) = exchange(&mut l, dst, b"GET http://example.test/hello HTTP/1.1\r\n", Duration::from_secs(60));
        let took = l.clock.now() - t0;
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(took >= Duration::from_secs(30) && took < Duration::from_secs(32), "closed after {took}");
    }

    #[test]
    fn transparent_mode_serves_pool_addresses_by_name() {
        let mut l = link(true);
        // The DNS would have given this address to the first name looked up;
        // no lookup happened, so the proxy needs the Host field.
        let dst = SocketAddrV4::new(std::net::Ipv4Addr::new(198, 18, 0, 1), 8080);
        let (text, _) = exchange(&mut l, dst, b"GET /hello HTTP/1.1\r\nHost: named.test:8080\r\nConnection: close\r\n\r\n", Duration::from_secs(5));
        assert!(text.ends_with("hi http://named.test:8080/hello"), "{text}");
        // Not a pool address and no NAT: reset at once.
        let other = SocketAddrV4::new(std::net::Ipv4Addr::new(10, 1, 2, 3), 80);
        let (text, state) = exchange(&mut l, other, b"GET / HTTP/1.1\r\n\r\n", Duration::from_secs(1));
        assert!(text.is_empty() && state == tcp::State::Closed, "{text} {state}");
    }
}
