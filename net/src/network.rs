//! One VM's virtual network: the gateway, its services and the NAT.
//!
//! Guest frames come in through [`VirtualNetwork::receive_frame`] and are
//! dispatched by kind: DHCP, DNS and UDP NAT are answered at the frame level;
//! ARP for the gateway's addresses, ICMP echo to them and all TCP go to the
//! smoltcp interface, which runs with "any IP" so it terminates guest TCP
//! connections to every destination. Frames for the guest are taken with
//! [`VirtualNetwork::pop_frame`]. The driver calls [`VirtualNetwork::poll`]
//! after feeding frames and whenever a peer may be ready, and again after
//! [`VirtualNetwork::poll_delay`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};

use crate::consts::*;
use crate::device::QueueDevice;
use crate::dhcp::DhcpServer;
use crate::dns::DnsServer;
use crate::icmp_nat::IcmpNat;
use crate::name_pool::NamePool;
use crate::packet::{self, Parsed};
use crate::tcp_nat::{FlowKey, TcpLimits, TcpNat, TcpStats};
use crate::udp_nat::{UdpLimits, UdpNat};
use crate::upstream::{TcpPeer, Upstream, VirtualService};

/// Settings of one virtual network.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The MAC that DHCP gives [`GUEST_IP`] (c2w-net's `--mac`).
    pub guest_mac: EthernetAddress,
    pub tcp: TcpLimits,
    pub udp: UdpLimits,
    /// Seeds smoltcp's TCP initial sequence numbers and ports; should differ per network.
    pub random_seed: u64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            guest_mac: DEFAULT_GUEST_MAC,
            tcp: TcpLimits::default(),
            udp: UdpLimits::default(),
            random_seed: 0x6e65_7476_6d00_0001,
        }
    }
}

/// Frame counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct NetStats {
    pub frames_in: u64,
    pub frames_dropped: u64,
    pub tcp: TcpStats,
}

pub struct VirtualNetwork {
    iface: Interface,
    device: QueueDevice,
    sockets: SocketSet<'static>,
    upstream: Box<dyn Upstream>,
    services: HashMap<SocketAddrV4, Box<dyn VirtualService>>,
    /// Transparent mode: every port of every pool address goes to this service.
    pool_service: Option<Box<dyn VirtualService>>,
    dhcp: DhcpServer,
    dns: DnsServer,
    tcp: TcpNat,
    udp: UdpNat,
    icmp: IcmpNat,
    /// The MAC each guest address last sent from, for frames built outside
    /// smoltcp. At most one entry per subnet address.
    guest_macs: HashMap<Ipv4Addr, EthernetAddress>,
    stats: NetStats,
}

/// Where guest traffic to `dst` goes on the host, if anywhere: the host alias
/// becomes the host's loopback; the rest of the subnet, loopback, multicast,
/// broadcast and "this network" addresses are not reachable through the NAT
/// (so a guest cannot forge its way to the host's own services).
pub fn nat_target(dst: Ipv4Addr) -> Option<Ipv4Addr> {
    if dst == HOST_ALIAS_IP {
        return Some(HOST_LOOPBACK);
    }
    let in_subnet = u32::from(dst) >> (32 - SUBNET_PREFIX) == u32::from(SUBNET) >> (32 - SUBNET_PREFIX);
    if in_subnet
        || dst.is_loopback()
        || dst.is_unspecified()
        || dst.is_broadcast()
        || dst.is_multicast()
        || dst.octets()[0] == 0
        || dst.octets()[0] >= 240
    {
        return None;
    }
    Some(dst)
}

/// The address the guest sees for a host address (inverse of [`nat_target`]).
fn guest_view(src: SocketAddrV4) -> SocketAddrV4 {
    if *src.ip() == HOST_LOOPBACK {
        SocketAddrV4::new(HOST_ALIAS_IP, src.port())
    } else {
        src
    }
}

/// Addresses the gateway itself answers ARP and ICMP echo for.
fn is_gateway_address(ip: Ipv4Addr) -> bool {
    ip == GATEWAY_IP || ip == HOST_ALIAS_IP || ip == PROXY_IP
}

fn in_subnet(ip: Ipv4Addr) -> bool {
    u32::from(ip) >> (32 - SUBNET_PREFIX) == u32::from(SUBNET) >> (32 - SUBNET_PREFIX)
}

impl VirtualNetwork {
    pub fn new(config: NetworkConfig, upstream: Box<dyn Upstream>, now: Instant) -> VirtualNetwork {
        let mut device = QueueDevice::default();
        let mut iface_config = Config::new(HardwareAddress::Ethernet(GATEWAY_MAC));
        iface_config.random_seed = config.random_seed;
        let mut iface = Interface::new(iface_config, &mut device, now);
        iface.update_ip_addrs(|addrs| {
            addrs.push(IpCidr::new(GATEWAY_IP.into(), SUBNET_PREFIX)).expect("one address fits");
        });
        // "Any IP" makes the interface accept packets for every destination
        // routed through one of its own addresses; the default route via the
        // gateway covers them all, so guest TCP to any host terminates here.
        iface.set_any_ip(true);
        iface.routes_mut().add_default_ipv4_route(GATEWAY_IP).expect("route table has room");
        VirtualNetwork {
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            upstream,
            services: HashMap::new(),
            pool_service: None,
            dhcp: DhcpServer::new(config.guest_mac),
            dns: DnsServer::new(),
            tcp: TcpNat::new(config.tcp),
            udp: UdpNat::new(config.udp),
            icmp: IcmpNat::new(),
            guest_macs: HashMap::new(),
            stats: NetStats::default(),
        }
    }

    /// Serves guest TCP connections to `addr` with an in-stack service
    /// instead of the NAT (see docs/net.md, "Virtual services").
    pub fn add_service(&mut self, addr: SocketAddrV4, service: Box<dyn VirtualService>) {
        self.services.insert(addr, service);
    }

    /// Transparent mode (see [`crate::name_pool`]): DNS answers every name
    /// with an address from `pool`, and guest TCP to any port of a pool
    /// address is served by `service`, which finds the name in the pool.
    pub fn set_name_pool(&mut self, pool: Rc<RefCell<NamePool>>, service: Box<dyn VirtualService>) {
        self.dns.set_pool(pool);
        self.pool_service = Some(service);
    }

    /// Connects `peer` (e.g. an accepted host socket of a port forward) to
    /// `guest`, from the gateway's address.
    pub fn connect_to_guest(&mut self, guest: SocketAddrV4, peer: Box<dyn TcpPeer>) -> io::Result<()> {
        self.tcp.open_to_guest(guest, peer, &mut self.iface, &mut self.sockets)
    }

    pub fn stats(&self) -> NetStats {
        NetStats { tcp: self.tcp.stats, ..self.stats }
    }

    /// Live TCP flows and UDP mappings.
    pub fn flow_counts(&self) -> (usize, usize) {
        (self.tcp.len(), self.udp.len())
    }

    fn drop_frame(&mut self, why: impl std::fmt::Display) {
        self.stats.frames_dropped += 1;
        log::debug!("dropped guest frame: {why}");
    }

    /// Takes one frame from the guest.
    pub fn receive_frame(&mut self, frame: &[u8], now: Instant) {
        self.stats.frames_in += 1;
        if frame.len() > MAX_FRAME_LEN {
            return self.drop_frame(format_args!("{} bytes exceeds the MTU", frame.len()));
        }
        let parsed = match packet::parse(frame) {
            Ok(p) => p,
            Err(why) => return self.drop_frame(why),
        };
        match parsed {
            Parsed::Arp { target_ip, .. } => {
                if is_gateway_address(target_ip) {
                    self.device.rx.push_back(frame.to_vec());
                } else {
                    // With "any IP" smoltcp would claim every address; only
                    // the gateway's own are ours to answer.
                    log::trace!("arp for {target_ip} ignored");
                }
            }
            Parsed::Udp { src_mac, src, dst, payload } => {
                if dst.port() == DHCP_SERVER_PORT {
                    return self.on_dhcp(payload);
                }
                if !self.learn(src_mac, *src.ip()) {
                    return self.drop_frame(format_args!("UDP from foreign source {src}"));
                }
                if dst == SocketAddrV4::new(GATEWAY_IP, DNS_PORT) {
                    if let Some(reply) = self.dns.on_query(payload, src, self.upstream.as_mut(), now) {
                        self.send_udp(dst, src, &reply);
                    }
                    return;
                }
                let Some(host) = nat_target(*dst.ip()) else {
                    return self.drop_frame(format_args!("UDP to unreachable {dst}"));
                };
                let host_dst = SocketAddrV4::new(host, dst.port());
                if let Err(e) = self.udp.send(src, host_dst, payload, self.upstream.as_mut(), now) {
                    log::debug!("udp {src} -> {host_dst}: {e}");
                    if matches!(e.kind(), io::ErrorKind::Unsupported | io::ErrorKind::ConnectionRefused) {
                        // No way out at all (an isolated network, as in the
                        // browser): say so rather than drop in silence.
                        // "Communication administratively prohibited", RFC 1812 §5.2.7.1.
                        let reason = smoltcp::wire::Icmpv4DstUnreachable::CommProhibited;
                        if let Some(reply) = packet::unreachable_frame(frame, GATEWAY_IP, reason) {
                            self.device.send(reply);
                        }
                    }
                }
            }
            Parsed::Tcp { src_mac, src, dst, syn_only } => {
                if !self.learn(src_mac, *src.ip()) {
                    return self.drop_frame(format_args!("TCP from foreign source {src}"));
                }
                self.on_tcp(frame, FlowKey { guest: src, remote: dst }, syn_only, now);
            }
            Parsed::Icmp { src_mac, src, dst, echo } => {
                if !self.learn(src_mac, src) {
                    return self.drop_frame(format_args!("ICMP from foreign source {src}"));
                }
                // Echo to the host alias or the outside goes to the host
                // (whose answer is the honest one); the gateway's own
                // addresses, and the host alias when the host has no echo
                // socket for us, are answered by the interface.
                if let (Some((ident, seq_no, data)), Some(host)) = (echo, nat_target(dst)) {
                    match self.icmp.send(src, ident, seq_no, data, host, self.upstream.as_mut(), now) {
                        Ok(()) => return,
                        Err(e) => log::debug!("icmp echo {src} -> {dst}: {e}"),
                    }
                }
                if is_gateway_address(dst) {
                    self.device.rx.push_back(frame.to_vec());
                } else {
                    self.drop_frame(format_args!("ICMP to {dst} not forwarded"));
                }
            }
        }
    }

    /// Remembers the guest's MAC; false if `ip` is not a guest address.
    fn learn(&mut self, mac: EthernetAddress, ip: Ipv4Addr) -> bool {
        if !in_subnet(ip) || is_gateway_address(ip) || ip == SUBNET || ip == SUBNET_BROADCAST || !mac.is_unicast() {
            return false;
        }
        self.guest_macs.insert(ip, mac);
        true
    }

    fn on_dhcp(&mut self, payload: &[u8]) {
        match self.dhcp.handle(payload) {
            Ok(Some(reply)) => {
                let src = SocketAddrV4::new(GATEWAY_IP, DHCP_SERVER_PORT);
                let dst = SocketAddrV4::new(reply.dst_ip, DHCP_CLIENT_PORT);
                match packet::udp_frame(reply.dst_mac, src, dst, &reply.payload) {
                    Some(frame) => self.device.send(frame),
                    None => log::warn!("dhcp reply does not fit the MTU"),
                }
            }
            Ok(None) => {}
            Err(e) => self.drop_frame(e),
        }
    }

    fn on_tcp(&mut self, frame: &[u8], key: FlowKey, syn_only: bool, now: Instant) {
        match self.tcp.lookup(&key) {
            // A retransmitted SYN while the peer is still connecting.
            Some(true) => {}
            Some(false) => self.device.rx.push_back(frame.to_vec()),
            None if !syn_only => {
                // Not part of any flow: smoltcp answers with a RST (RFC 793 §3.4).
                self.device.rx.push_back(frame.to_vec());
            }
            None => {
                let peer = if !self.tcp.has_room() {
                    // Rate-limited: a guest can hit this once per SYN.
                    if self.tcp.stats.refused.is_power_of_two() {
                        log::warn!("tcp flow limit reached; refusing {} -> {}", key.guest, key.remote);
                    }
                    Err(io::Error::other("flow limit"))
                } else if let Some(service) = self.services.get_mut(&key.remote) {
                    Ok(service.accept(key.guest, key.remote))
                } else if let (Some(service), true) = (self.pool_service.as_mut(), NamePool::contains(*key.remote.ip())) {
                    Ok(service.accept(key.guest, key.remote))
                } else if let Some(host) = nat_target(*key.remote.ip()) {
                    self.upstream.connect_tcp(SocketAddrV4::new(host, key.remote.port()))
                } else {
                    Err(io::ErrorKind::ConnectionRefused.into())
                };
                match peer {
                    Ok(peer) => self.tcp.start(key, frame.to_vec(), peer, now),
                    Err(e) => {
                        log::debug!("tcp {} -> {}: {e}; refusing", key.guest, key.remote);
                        self.tcp.stats.refused += 1;
                        self.device.rx.push_back(frame.to_vec());
                    }
                }
            }
        }
    }

    fn send_udp(&mut self, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) {
        let Some(mac) = self.guest_macs.get(dst.ip()).copied() else {
            return log::debug!("udp to {dst}: guest MAC unknown");
        };
        match packet::udp_frame(mac, src, dst, payload) {
            Some(frame) => self.device.send(frame),
            None => log::debug!("udp {src} -> {dst}: {} bytes do not fit the MTU; dropped", payload.len()),
        }
    }

    /// Runs timers and moves data between the guest and peers.
    pub fn poll(&mut self, now: Instant) {
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        self.tcp.poll(now, &mut self.iface, &mut self.device, &mut self.sockets);
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        self.drain_egress(now);
        let mut datagrams = Vec::new();
        self.udp.poll(now, |guest, from, payload| datagrams.push((guest, guest_view(from), payload.to_vec())));
        for (guest, from, payload) in datagrams {
            self.send_udp(from, guest, &payload);
        }
        for r in self.icmp.poll(now) {
            let from = if r.from == HOST_LOOPBACK { HOST_ALIAS_IP } else { r.from };
            let Some(mac) = self.guest_macs.get(&r.guest).copied() else { continue };
            if let Some(frame) = packet::echo_reply_frame(mac, from, r.guest, r.ident, r.seq_no, &r.data) {
                self.device.send(frame);
            }
        }
        for (client, reply) in self.dns.poll(now) {
            self.send_udp(SocketAddrV4::new(GATEWAY_IP, DNS_PORT), client, &reply);
        }
    }

    /// smoltcp's `poll` sends at most one segment per socket; keep asking
    /// while sockets have more (window permitting), so a download is not
    /// clocked out two segments per guest ACK. Bounded by the frame queue.
    fn drain_egress(&mut self, now: Instant) {
        while self.device.tx.len() < crate::device::MAX_QUEUED_FRAMES / 2 {
            match self.iface.poll_egress(now, &mut self.device, &mut self.sockets) {
                smoltcp::iface::PollResult::None => break,
                smoltcp::iface::PollResult::SocketStateChanged => {}
            }
        }
    }

    /// How long until [`poll`](Self::poll) must run again at the latest
    /// (`None`: only when frames or peer events arrive).
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        let deadlines = [
            self.iface.poll_at(now, &self.sockets),
            self.tcp.next_deadline(),
            self.dns.next_deadline(),
            self.udp.next_deadline(now),
            self.icmp.next_deadline(),
        ];
        deadlines.into_iter().flatten().min().map(|at| if at > now { at - now } else { Duration::ZERO })
    }

    /// The next frame for the guest.
    pub fn pop_frame(&mut self) -> Option<Vec<u8>> {
        self.device.tx.pop_front()
    }

    /// Frames waiting for the guest.
    pub fn queued_frames(&self) -> usize {
        self.device.tx.len()
    }
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
