//! Checked parsing of guest frames into the parts the network dispatches on,
//! and building of the UDP frames it answers with (DHCP, DNS, UDP NAT)
//! without going through the smoltcp interface.

use std::net::SocketAddrV4;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4DstUnreachable,
    Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, TcpPacket, UdpPacket, UdpRepr,
};

use crate::consts::{GATEWAY_MAC, MTU};

/// What a guest frame is, as far as dispatch needs to know.
#[derive(Debug)]
pub enum Parsed<'a> {
    Arp { source_mac: EthernetAddress, target_ip: Ipv4Address },
    Udp { src_mac: EthernetAddress, src: SocketAddrV4, dst: SocketAddrV4, payload: &'a [u8] },
    /// A TCP segment; `syn_only` marks a connection request (SYN without ACK).
    Tcp { src_mac: EthernetAddress, src: SocketAddrV4, dst: SocketAddrV4, syn_only: bool },
    /// ICMP; `echo` holds an echo request's identifier, sequence number and data.
    Icmp { src_mac: EthernetAddress, src: Ipv4Address, dst: Ipv4Address, echo: Option<(u16, u16, &'a [u8])> },
}

/// Why a frame was dropped.
#[derive(Debug)]
pub enum DropReason {
    Malformed(&'static str, smoltcp::wire::Error),
    Fragment,
    Unsupported(&'static str),
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::Malformed(what, e) => write!(f, "malformed {what}: {e}"),
            DropReason::Fragment => write!(f, "IPv4 fragment (reassembly not supported)"),
            DropReason::Unsupported(what) => write!(f, "unsupported {what}"),
        }
    }
}

/// Parses and validates (lengths and checksums) a frame from the guest.
pub fn parse(frame: &[u8]) -> Result<Parsed<'_>, DropReason> {
    let eth = EthernetFrame::new_checked(frame).map_err(|e| DropReason::Malformed("ethernet", e))?;
    let src_mac = eth.src_addr();
    match eth.ethertype() {
        EthernetProtocol::Arp => {
            let arp = ArpPacket::new_checked(eth.payload()).map_err(|e| DropReason::Malformed("arp", e))?;
            match ArpRepr::parse(&arp).map_err(|e| DropReason::Malformed("arp", e))? {
                ArpRepr::EthernetIpv4 { source_hardware_addr, target_protocol_addr, .. } => {
                    Ok(Parsed::Arp { source_mac: source_hardware_addr, target_ip: target_protocol_addr })
                }
                _ => Err(DropReason::Unsupported("arp hardware type")),
            }
        }
        EthernetProtocol::Ipv4 => parse_ipv4(src_mac, eth.payload()),
        EthernetProtocol::Ipv6 => Err(DropReason::Unsupported("IPv6")),
        _ => Err(DropReason::Unsupported("ethertype")),
    }
}

fn parse_ipv4(src_mac: EthernetAddress, bytes: &[u8]) -> Result<Parsed<'_>, DropReason> {
    let caps = ChecksumCapabilities::default();
    let ip = Ipv4Packet::new_checked(bytes).map_err(|e| DropReason::Malformed("ipv4", e))?;
    let repr = Ipv4Repr::parse(&ip, &caps).map_err(|e| DropReason::Malformed("ipv4", e))?;
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(DropReason::Fragment);
    }
    let payload = &ip.payload()[..repr.payload_len];
    match repr.next_header {
        IpProtocol::Udp => {
            let udp = UdpPacket::new_checked(payload).map_err(|e| DropReason::Malformed("udp", e))?;
            let udp_repr = UdpRepr::parse(&udp, &repr.src_addr.into(), &repr.dst_addr.into(), &caps)
                .map_err(|e| DropReason::Malformed("udp", e))?;
            let udp_payload = &payload[8..udp.len() as usize];
            Ok(Parsed::Udp {
                src_mac,
                src: SocketAddrV4::new(repr.src_addr, udp_repr.src_port),
                dst: SocketAddrV4::new(repr.dst_addr, udp_repr.dst_port),
                payload: udp_payload,
            })
        }
        IpProtocol::Tcp => {
            // Full validation (checksum, options) happens in smoltcp; here we
            // only need ports and flags to find or create the flow.
            let tcp = TcpPacket::new_checked(payload).map_err(|e| DropReason::Malformed("tcp", e))?;
            Ok(Parsed::Tcp {
                src_mac,
                src: SocketAddrV4::new(repr.src_addr, tcp.src_port()),
                dst: SocketAddrV4::new(repr.dst_addr, tcp.dst_port()),
                syn_only: tcp.syn() && !tcp.ack() && !tcp.rst(),
            })
        }
        IpProtocol::Icmp => {
            let icmp = Icmpv4Packet::new_checked(payload).map_err(|e| DropReason::Malformed("icmp", e))?;
            let echo = match Icmpv4Repr::parse(&icmp, &caps).map_err(|e| DropReason::Malformed("icmp", e))? {
                Icmpv4Repr::EchoRequest { ident, seq_no, data } => Some((ident, seq_no, data)),
                _ => None,
            };
            Ok(Parsed::Icmp { src_mac, src: repr.src_addr, dst: repr.dst_addr, echo })
        }
        _ => Err(DropReason::Unsupported("IP protocol")),
    }
}

/// Builds an Ethernet/IPv4/UDP frame from the gateway's MAC. `None` if the
/// payload does not fit the MTU (we do not fragment).
pub fn udp_frame(dst_mac: EthernetAddress, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Option<Vec<u8>> {
    udp_frame_from(GATEWAY_MAC, dst_mac, src, dst, payload)
}

/// Like [`udp_frame`] with any source MAC (tests and fuzzers build guest frames with it).
pub fn udp_frame_from(
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    if ip_len > MTU {
        return None;
    }
    let caps = ChecksumCapabilities::default();
    let mut frame = vec![0u8; 14 + ip_len];
    let eth_repr = EthernetRepr { src_addr: src_mac, dst_addr: dst_mac, ethertype: EthernetProtocol::Ipv4 };
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    eth_repr.emit(&mut eth);
    let ip_repr = Ipv4Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        next_header: IpProtocol::Udp,
        payload_len: udp_len,
        hop_limit: 64,
    };
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip_repr.emit(&mut ip, &caps);
    let udp_repr = UdpRepr { src_port: src.port(), dst_port: dst.port() };
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    udp_repr.emit(
        &mut udp,
        &(*src.ip()).into(),
        &(*dst.ip()).into(),
        payload.len(),
        |buf| buf.copy_from_slice(payload),
        &caps,
    );
    Some(frame)
}

/// Builds an ICMP echo reply frame from the gateway's MAC; `None` if too long.
pub fn echo_reply_frame(
    dst_mac: EthernetAddress,
    src: Ipv4Address,
    dst: Ipv4Address,
    ident: u16,
    seq_no: u16,
    data: &[u8],
) -> Option<Vec<u8>> {
    let icmp_repr = Icmpv4Repr::EchoReply { ident, seq_no, data };
    let ip_len = 20 + icmp_repr.buffer_len();
    if ip_len > MTU {
        return None;
    }
    let caps = ChecksumCapabilities::default();
    let mut frame = vec![0u8; 14 + ip_len];
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr { src_addr: GATEWAY_MAC, dst_addr: dst_mac, ethertype: EthernetProtocol::Ipv4 }.emit(&mut eth);
    let ip_repr =
        Ipv4Repr { src_addr: src, dst_addr: dst, next_header: IpProtocol::Icmp, payload_len: icmp_repr.buffer_len(), hop_limit: 64 };
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip_repr.emit(&mut ip, &caps);
    icmp_repr.emit(&mut Icmpv4Packet::new_unchecked(ip.payload_mut()), &caps);
    Some(frame)
}

/// An ICMP destination unreachable from `router` to the sender of the guest
/// frame `frame`, quoting its IP header and as much of its payload as keeps
/// the reply within 576 bytes (RFC 792 asks for at least 8 bytes, RFC 1812
/// §4.3.2.3 for this much), so the guest's stack can match it to the socket
/// that sent it. `None` if `frame` is not IPv4.
pub fn unreachable_frame(frame: &[u8], router: Ipv4Address, reason: Icmpv4DstUnreachable) -> Option<Vec<u8>> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let header = Ipv4Repr::parse(&ip, &ChecksumCapabilities::ignored()).ok()?;
    let payload = ip.payload();
    // 576 less our IP header, the ICMP header and the quoted IP header.
    let room = 576 - 20 - 8 - header.buffer_len();
    let data = &payload[..payload.len().min(room)];
    let icmp_repr = Icmpv4Repr::DstUnreachable { reason, header, data };
    let ip_len = 20 + icmp_repr.buffer_len();
    let caps = ChecksumCapabilities::default();
    let mut out = vec![0u8; 14 + ip_len];
    let mut out_eth = EthernetFrame::new_unchecked(&mut out[..]);
    EthernetRepr { src_addr: GATEWAY_MAC, dst_addr: eth.src_addr(), ethertype: EthernetProtocol::Ipv4 }.emit(&mut out_eth);
    let ip_repr = Ipv4Repr {
        src_addr: router,
        dst_addr: header.src_addr,
        next_header: IpProtocol::Icmp,
        payload_len: icmp_repr.buffer_len(),
        hop_limit: 64,
    };
    let mut out_ip = Ipv4Packet::new_unchecked(out_eth.payload_mut());
    ip_repr.emit(&mut out_ip, &caps);
    icmp_repr.emit(&mut Icmpv4Packet::new_unchecked(out_ip.payload_mut()), &caps);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_udp_frame_parses_back() {
        let src = SocketAddrV4::new([192, 168, 127, 1].into(), 53);
        let dst = SocketAddrV4::new([192, 168, 127, 3].into(), 4000);
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let frame = udp_frame(mac, src, dst, b"hello").unwrap();
        match parse(&frame).unwrap() {
            Parsed::Udp { src_mac, src: s, dst: d, payload } => {
                assert_eq!((src_mac, s, d, payload), (GATEWAY_MAC, src, dst, &b"hello"[..]));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn oversize_udp_payload_is_refused() {
        let a = SocketAddrV4::new([1, 1, 1, 1].into(), 1);
        assert!(udp_frame(EthernetAddress([2, 0, 0, 0, 0, 1]), a, a, &[0; MTU]).is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for len in 0..80 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = parse(&junk);
        }
        // A corrupted checksum is caught.
        let a = SocketAddrV4::new([10, 0, 0, 1].into(), 9);
        let mut frame = udp_frame(EthernetAddress([2, 0, 0, 0, 0, 1]), a, a, b"x").unwrap();
        let last = frame.len() - 1;
        frame[last] ^= 0xff;
        assert!(matches!(parse(&frame), Err(DropReason::Malformed("udp", _))));
    }
}
