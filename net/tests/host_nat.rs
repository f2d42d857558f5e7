//! The network's NAT on real host sockets: a smoltcp guest on an in-memory
//! link, the daemon's mio-based upstream, and servers on loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use mio::{Poll, Token, Waker};
use netvm_net::consts::*;
use netvm_net::host::resolver::HostResolver;
use netvm_net::host::upstream::HostUpstream;
use netvm_net::memlink::MemLink;
use netvm_net::NetworkConfig;
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Duration;

struct Host {
    _poll: Poll,
    link: MemLink,
}

/// A link whose upstream is the daemon's real one. `own` lists addresses
/// the guest must not reach (the daemon's listeners).
fn host_link(own: Vec<SocketAddr>) -> Host {
    let poll = Poll::new().unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
    let upstream = HostUpstream::new(
        poll.registry().try_clone().unwrap(),
        Token(1),
        HostResolver::new(waker),
        Rc::new(own),
        Default::default(),
    );
    let mut link = MemLink::new(NetworkConfig::default(), Box::new(upstream), DEFAULT_GUEST_MAC);
    link.configure_guest(GUEST_IP, GATEWAY_IP);
    Host { _poll: poll, link }
}

/// Steps in real time too, since host sockets answer in real time.
fn run(link: &mut MemLink, secs: u64, mut done: impl FnMut(&mut MemLink) -> bool) -> bool {
    link.run_until(Duration::from_secs(secs), Duration::from_millis(1), |l| {
        std::thread::sleep(StdDuration::from_micros(500));
        done(l)
    })
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 65536]), tcp::SocketBuffer::new(vec![0; 65536]))
}

#[test]
fn tcp_nat_carries_bytes_both_ways_to_a_loopback_server() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let echo = std::thread::spawn(move || {
        let (mut c, _) = server.accept().unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).unwrap();
        let reply: Vec<u8> = all.iter().rev().copied().collect();
        c.write_all(&reply).unwrap();
        all.len()
    });
    let mut h = host_link(vec![]);
    let s = h.link.sockets.add(tcp_socket());
    let cx = h.link.guest.context();
    h.link.sockets.get_mut::<tcp::Socket>(s).connect(cx, (HOST_ALIAS_IP, port), 41000).unwrap();
    let msg: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    assert!(run(&mut h.link, 60, |l| {
        let sock = l.sockets.get_mut::<tcp::Socket>(s);
        if sock.may_send() && sent < msg.len() {
            sent += sock.send_slice(&msg[sent..]).unwrap();
            if sent == msg.len() {
                sock.close();
            }
        }
        let mut buf = [0u8; 8192];
        while let Ok(n) = sock.recv_slice(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == msg.len()
    }));
    assert_eq!(echo.join().unwrap(), msg.len());
    assert!(got.iter().eq(msg.iter().rev()));
    assert!(run(&mut h.link, 10, |l| l.net.flow_counts().0 == 0), "flow not reaped");
}

#[test]
fn refused_host_ports_and_the_daemons_own_listener_become_rst() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let own = TcpListener::bind("127.0.0.1:0").unwrap();
    let own_addr = own.local_addr().unwrap();
    let mut h = host_link(vec![own_addr]);
    for (i, port) in [closed_port, own_addr.port()].into_iter().enumerate() {
        let s = h.link.sockets.add(tcp_socket());
        let cx = h.link.guest.context();
        h.link.sockets.get_mut::<tcp::Socket>(s).connect(cx, (HOST_ALIAS_IP, port), 42000 + i as u16).unwrap();
        assert!(
            run(&mut h.link, 10, |l| l.sockets.get::<tcp::Socket>(s).state() == tcp::State::Closed),
            "no RST for port {port}"
        );
    }
    assert_eq!(h.link.net.stats().tcp.refused, 2);
    // Nothing reached the daemon's own listener.
    own.set_nonblocking(true).unwrap();
    assert!(own.accept().is_err());
}

#[test]
fn udp_nat_round_trips_and_replies_come_from_the_host_alias() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            buf[..n].reverse();
            server.send_to(&buf[..n], from).unwrap();
        }
    });
    let mut h = host_link(vec![]);
    let s = h.link.sockets.add(udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0; 8192]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0; 8192]),
    ));
    h.link.sockets.get_mut::<udp::Socket>(s).bind(5000).unwrap();
    for msg in [&b"one"[..], b"second datagram", &[7u8; 1400]] {
        h.link.sockets.get_mut::<udp::Socket>(s).send_slice(msg, (HOST_ALIAS_IP, port)).unwrap();
        let mut got = None;
        assert!(run(&mut h.link, 10, |l| {
            if let Ok((data, meta)) = l.sockets.get_mut::<udp::Socket>(s).recv() {
                got = Some((data.to_vec(), meta.endpoint));
            }
            got.is_some()
        }));
        let (data, from) = got.unwrap();
        assert_eq!(data, msg.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!(from, (HOST_ALIAS_IP, port).into());
    }
    assert_eq!(h.link.net.flow_counts().1, 1, "one mapping per guest endpoint");
}

#[test]
fn dns_answers_from_the_host_resolver() {
    use hickory_proto::op::{Message, Query, ResponseCode};
    use hickory_proto::rr::{Name, RData, RecordType};
    use std::str::FromStr;
    let mut h = host_link(vec![]);
    let s = h.link.sockets.add(udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0; 8192]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0; 8192]),
    ));
    h.link.sockets.get_mut::<udp::Socket>(s).bind(5353).unwrap();
    let ask = |h: &mut Host, name: &str| {
        let mut q = Message::new();
        q.set_id(1).set_recursion_desired(true);
        q.add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
        h.link.sockets.get_mut::<udp::Socket>(s).send_slice(&q.to_vec().unwrap(), (GATEWAY_IP, DNS_PORT)).unwrap();
        let mut got = None;
        assert!(run(&mut h.link, 15, |l| {
            if let Ok((data, _)) = l.sockets.get_mut::<udp::Socket>(s).recv() {
                got = Some(Message::from_vec(data).unwrap());
            }
            got.is_some()
        }));
        got.unwrap()
    };
    // The host maps localhost to 127.0.0.1, which the guest reaches as .254.
    let m = ask(&mut h, "localhost.");
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(m.answers()[0].data(), &RData::A(hickory_proto::rr::rdata::A(HOST_ALIAS_IP)));
    let m = ask(&mut h, "no-such-host.invalid.");
    assert_ne!(m.response_code(), ResponseCode::NoError);
}
