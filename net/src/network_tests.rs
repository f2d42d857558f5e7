//! The network against a smoltcp guest over an in-memory link.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddrV4;

use smoltcp::socket::{dhcpv4, icmp, tcp, udp};
use smoltcp::time::Duration;
use smoltcp::wire::{EthernetAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, Ipv4Address};

use crate::clock::Clock;
use crate::consts::*;
use crate::memlink::MemLink;
use crate::network::{nat_target, NetworkConfig};
use crate::upstream::{ConnectState, Isolated, TcpPeer};

const TICK: Duration = Duration::from_millis(10);

/// A virtual service that answers each byte upper-cased and closes after the guest does.
#[derive(Default)]
struct Upper {
    out: VecDeque<u8>,
    guest_done: bool,
}

impl TcpPeer for Upper {
    fn poll_connect(&mut self) -> ConnectState {
        ConnectState::Connected
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out.is_empty() {
            return if self.guest_done { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        }
        let n = buf.len().min(self.out.len());
        for (d, s) in buf.iter_mut().zip(self.out.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend(buf.iter().map(|b| b.to_ascii_uppercase()));
        Ok(buf.len())
    }
    fn shutdown_write(&mut self) {
        self.guest_done = true;
    }
}

fn link() -> MemLink {
    MemLink::new(NetworkConfig::default(), Box::new(Isolated), DEFAULT_GUEST_MAC)
}

fn configured_link() -> MemLink {
    let mut l = link();
    l.configure_guest(GUEST_IP, GATEWAY_IP);
    l
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 8192]), tcp::SocketBuffer::new(vec![0; 8192]))
}

#[test]
fn dhcp_gives_the_static_address_router_and_dns() {
    let mut l = link();
    let h = l.sockets.add(dhcpv4::Socket::new());
    let mut got = None;
    let ok = l.run_until(Duration::from_secs(30), TICK, |l| {
        if let Some(dhcpv4::Event::Configured(c)) = l.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            got = Some((c.address, c.router, c.dns_servers.to_vec()));
        }
        got.is_some()
    });
    assert!(ok, "no DHCP lease");
    let (addr, router, dns) = got.unwrap();
    assert_eq!(addr.address(), GUEST_IP);
    assert_eq!(addr.prefix_len(), 24);
    assert_eq!(router, Some(GATEWAY_IP));
    assert_eq!(dns, vec![GATEWAY_IP]);
}

#[test]
fn dhcp_gives_pool_addresses_to_other_macs() {
    let mut l = MemLink::new(NetworkConfig::default(), Box::new(Isolated), EthernetAddress([2, 0, 0, 0, 0, 0x42]));
    let h = l.sockets.add(dhcpv4::Socket::new());
    let mut addr = None;
    assert!(l.run_until(Duration::from_secs(30), TICK, |l| {
        if let Some(dhcpv4::Event::Configured(c)) = l.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            addr = Some(c.address.address());
        }
        addr.is_some()
    }));
    assert_eq!(addr, Some(Ipv4Address::new(192, 168, 127, DHCP_POOL_FIRST)));
}

fn ping(l: &mut MemLink, target: Ipv4Address) -> bool {
    let h = l.sockets.add(icmp::Socket::new(
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
    ));
    let ident = 0x22;
    l.sockets.get_mut::<icmp::Socket>(h).bind(icmp::Endpoint::Ident(ident)).unwrap();
    let repr = Icmpv4Repr::EchoRequest { ident, seq_no: 1, data: b"netvm ping" };
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut bytes), &Default::default());
    l.sockets.get_mut::<icmp::Socket>(h).send_slice(&bytes, IpAddress::Ipv4(target)).unwrap();
    let answered = l.run_until(Duration::from_secs(3), TICK, |l| {
        let s = l.sockets.get_mut::<icmp::Socket>(h);
        match s.recv() {
            Ok((data, from)) => {
                let p = Icmpv4Packet::new_checked(data).unwrap();
                let r = Icmpv4Repr::parse(&p, &Default::default()).unwrap();
                assert_eq!(from, IpAddress::Ipv4(target));
                assert!(matches!(r, Icmpv4Repr::EchoReply { ident: 0x22, seq_no: 1, data: b"netvm ping" }));
                true
            }
            Err(_) => false,
        }
    });
    l.sockets.remove(h);
    answered
}

#[test]
fn arp_and_icmp_echo_to_the_gateway_and_host_alias() {
    let mut l = configured_link();
    assert!(ping(&mut l, GATEWAY_IP), "gateway did not answer");
    assert!(ping(&mut l, HOST_ALIAS_IP), "host alias did not answer");
    // Addresses that are not the gateway's stay silent.
    assert!(!ping(&mut l, Ipv4Address::new(192, 168, 127, 77)));
    assert!(!ping(&mut l, Ipv4Address::new(10, 9, 9, 9)));
    assert!(l.net.stats().frames_dropped > 0);
}

#[test]
fn tcp_to_a_virtual_service_round_trips_and_closes() {
    let mut l = configured_link();
    let svc = SocketAddrV4::new(PROXY_IP, 80);
    l.net.add_service(svc, Box::new(|_g: SocketAddrV4, _d: SocketAddrV4| Box::new(Upper::default()) as Box<dyn TcpPeer>));
    let h = l.sockets.add(tcp_socket());
    let cx = l.guest.context();
    l.sockets.get_mut::<tcp::Socket>(h).connect(cx, (PROXY_IP, 80), 40000).unwrap();
    assert!(l.run_until(Duration::from_secs(5), TICK, |l| l.sockets.get::<tcp::Socket>(h).may_send()));
    let msg = b"hello through the stack".repeat(1000);
    let mut sent = 0;
    let mut got = Vec::new();
    assert!(l.run_until(Duration::from_secs(30), TICK, |l| {
        let s = l.sockets.get_mut::<tcp::Socket>(h);
        if sent < msg.len() {
            sent += s.send_slice(&msg[sent..]).unwrap();
            if sent == msg.len() {
                s.close();
            }
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.recv_slice(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        !s.is_open()
    }));
    assert_eq!(got, msg.to_ascii_uppercase());
    assert_eq!(l.net.stats().tcp.opened, 1);
    // The flow is reaped once both sides closed.
    assert!(l.run_until(Duration::from_secs(5), TICK, |l| l.net.flow_counts().0 == 0));
}

#[test]
fn tcp_bytes_arrive_intact_from_a_virtual_service() {
    let mut l = configured_link();
    l.net.add_service(
        SocketAddrV4::new(PROXY_IP, 443),
        Box::new(|_g: SocketAddrV4, _d: SocketAddrV4| Box::new(Upper::default()) as Box<dyn TcpPeer>),
    );
    let h = l.sockets.add(tcp_socket());
    let cx = l.guest.context();
    l.sockets.get_mut::<tcp::Socket>(h).connect(cx, (PROXY_IP, 443), 40001).unwrap();
    let msg: Vec<u8> = (0..50_000u32).map(|i| b"abcdefghijklmnopqrstuvwxyz"[(i % 26) as usize]).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    assert!(l.run_until(Duration::from_secs(60), TICK, |l| {
        let s = l.sockets.get_mut::<tcp::Socket>(h);
        if s.may_send() && sent < msg.len() {
            sent += s.send_slice(&msg[sent..]).unwrap();
            if sent == msg.len() {
                s.close();
            }
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.recv_slice(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == msg.len() && !s.may_recv()
    }));
    assert_eq!(got, msg.to_ascii_uppercase());
}

#[test]
fn tcp_to_unreachable_destinations_is_reset() {
    let mut l = configured_link();
    // The isolated upstream refuses everything; the gateway's own ports are closed.
    for dst in [Ipv4Address::new(10, 0, 0, 1), GATEWAY_IP, HOST_ALIAS_IP] {
        let h = l.sockets.add(tcp_socket());
        let cx = l.guest.context();
        l.sockets.get_mut::<tcp::Socket>(h).connect(cx, (dst, 80), 40100).unwrap();
        let reset = l.run_until(Duration::from_secs(5), TICK, |l| l.sockets.get::<tcp::Socket>(h).state() == tcp::State::Closed);
        assert!(reset, "no RST for {dst}");
        l.sockets.remove(h);
    }
    assert_eq!(l.net.stats().tcp.refused, 3);
    assert_eq!(l.net.flow_counts(), (0, 0));
}

#[test]
fn port_forward_reaches_a_guest_listener() {
    let mut l = configured_link();
    let h = l.sockets.add(tcp_socket());
    l.sockets.get_mut::<tcp::Socket>(h).listen(8080).unwrap();
    let mut peer = Upper::default();
    peer.out.extend(b"from the host");
    l.net.connect_to_guest(SocketAddrV4::new(GUEST_IP, 8080), Box::new(peer)).unwrap();
    let mut got = Vec::new();
    assert!(l.run_until(Duration::from_secs(5), TICK, |l| {
        let s = l.sockets.get_mut::<tcp::Socket>(h);
        let mut buf = [0u8; 64];
        if let Ok(n) = s.recv_slice(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got == b"from the host"
    }));
    let remote = l.sockets.get::<tcp::Socket>(h).remote_endpoint().unwrap();
    assert_eq!(remote.addr, IpAddress::Ipv4(GATEWAY_IP));
}

#[test]
fn dns_answers_static_names_over_udp() {
    use hickory_proto::op::Message;
    use hickory_proto::rr::{Name, RData, RecordType};
    use std::str::FromStr;
    let mut l = configured_link();
    let h = l.sockets.add(udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 2048]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 2048]),
    ));
    l.sockets.get_mut::<udp::Socket>(h).bind(5353).unwrap();
    let mut q = Message::new();
    q.set_id(9).set_recursion_desired(true);
    q.add_query(hickory_proto::op::Query::query(Name::from_str("host.containers.internal.").unwrap(), RecordType::A));
    l.sockets.get_mut::<udp::Socket>(h).send_slice(&q.to_vec().unwrap(), (GATEWAY_IP, DNS_PORT)).unwrap();
    let mut answer = None;
    assert!(l.run_until(Duration::from_secs(3), TICK, |l| {
        if let Ok((data, _)) = l.sockets.get_mut::<udp::Socket>(h).recv() {
            answer = Some(Message::from_vec(data).unwrap());
        }
        answer.is_some()
    }));
    let answer = answer.unwrap();
    assert_eq!(answer.id(), 9);
    assert_eq!(answer.answers()[0].data(), &RData::A(hickory_proto::rr::rdata::A(HOST_ALIAS_IP)));
}

#[test]
fn hostile_frames_are_dropped_without_harm() {
    let mut l = configured_link();
    let now = l.clock.now();
    for len in [0usize, 1, 13, 14, 15, 33, 60, 600, MAX_FRAME_LEN + 1, 9000] {
        let frame: Vec<u8> = (0..len).map(|i| (i * 131 + 7) as u8).collect();
        l.net.receive_frame(&frame, now);
    }
    l.net.poll(now);
    assert!(ping(&mut l, GATEWAY_IP), "network broken after garbage");
}

#[test]
fn nat_target_blocks_the_host_and_the_subnet() {
    assert_eq!(nat_target(HOST_ALIAS_IP), Some(HOST_LOOPBACK));
    assert_eq!(nat_target(Ipv4Address::new(93, 184, 216, 34)), Some(Ipv4Address::new(93, 184, 216, 34)));
    for blocked in [
        Ipv4Address::new(127, 0, 0, 1),
        Ipv4Address::new(0, 0, 0, 0),
        GATEWAY_IP,
        PROXY_IP,
        GUEST_IP,
        Ipv4Address::new(224, 0, 0, 1),
        Ipv4Address::new(255, 255, 255, 255),
    ] {
        assert_eq!(nat_target(blocked), None, "{blocked}");
    }
}

/// A service whose far side never answers: its flows stay "connecting".
struct Silent;

impl TcpPeer for Silent {
    fn poll_connect(&mut self) -> ConnectState {
        ConnectState::Pending
    }
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
    fn shutdown_write(&mut self) {}
}

#[test]
fn flow_cap_refuses_with_rst_and_connect_timeout_resets() {
    let mut config = NetworkConfig::default();
    config.tcp.max_flows = 3;
    config.tcp.connect_timeout = Duration::from_secs(5);
    let mut l = MemLink::new(config, Box::new(Isolated), DEFAULT_GUEST_MAC);
    l.configure_guest(GUEST_IP, GATEWAY_IP);
    l.net.add_service(SocketAddrV4::new(PROXY_IP, 80), Box::new(|_g: SocketAddrV4, _d: SocketAddrV4| Box::new(Silent) as Box<dyn TcpPeer>));
    let handles: Vec<_> = (0..4u16)
        .map(|i| {
            let h = l.sockets.add(tcp_socket());
            let cx = l.guest.context();
            l.sockets.get_mut::<tcp::Socket>(h).connect(cx, (PROXY_IP, 80), 45000 + i).unwrap();
            h
        })
        .collect();
    // The fourth connection is over the cap: reset at once.
    assert!(l.run_until(Duration::from_secs(1), TICK, |l| l.sockets.get::<tcp::Socket>(handles[3]).state() == tcp::State::Closed));
    assert_eq!(l.net.flow_counts().0, 3);
    assert_eq!(l.sockets.get::<tcp::Socket>(handles[0]).state(), tcp::State::SynSent);
    // The others are reset when their peer's connect times out.
    assert!(l.run_until(Duration::from_secs(10), TICK, |l| {
        handles[..3].iter().all(|h| l.sockets.get::<tcp::Socket>(*h).state() == tcp::State::Closed)
    }));
    assert_eq!(l.net.flow_counts().0, 0);
    assert_eq!(l.net.stats().tcp.refused, 4);
}

#[test]
fn udp_without_a_way_out_is_answered_unreachable() {
    // An isolated network (browser mode) has no UDP NAT: the guest hears so.
    let mut l = configured_link();
    let h = l.sockets.add(icmp::Socket::new(
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
    ));
    l.sockets.get_mut::<icmp::Socket>(h).bind(icmp::Endpoint::Udp(4000.into())).unwrap();
    let u = l.sockets.add(udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 1024]),
    ));
    l.sockets.get_mut::<udp::Socket>(u).bind(4000).unwrap();
    let dst = (IpAddress::Ipv4(Ipv4Address::new(10, 1, 2, 3)), 9);
    l.sockets.get_mut::<udp::Socket>(u).send_slice(b"anyone?", dst).unwrap();
    let mut seen = None;
    assert!(l.run_until(Duration::from_secs(1), TICK, |l| {
        if let Ok((data, from)) = l.sockets.get_mut::<icmp::Socket>(h).recv() {
            let p = Icmpv4Packet::new_checked(data).unwrap();
            if let Icmpv4Repr::DstUnreachable { reason, header, .. } = Icmpv4Repr::parse(&p, &Default::default()).unwrap() {
                seen = Some((from, reason, header.dst_addr));
            }
        }
        seen.is_some()
    }), "no ICMP unreachable");
    let (from, reason, about) = seen.unwrap();
    assert_eq!(from, IpAddress::Ipv4(GATEWAY_IP));
    assert_eq!(reason, smoltcp::wire::Icmpv4DstUnreachable::CommProhibited);
    assert_eq!(about, Ipv4Address::new(10, 1, 2, 3));
}
