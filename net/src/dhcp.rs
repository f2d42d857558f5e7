//! DHCPv4 server (RFC 2131) for the virtual subnet: the configured MAC gets
//! [`GUEST_IP`] (c2w-net's static lease), other MACs get pool addresses.
//! Sans-IO: takes a request's UDP payload, returns the reply and where it goes.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};
use smoltcp::wire::EthernetAddress;

use crate::consts::*;

/// A reply to send: UDP payload plus its IP and MAC destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpReply {
    pub payload: Vec<u8>,
    pub dst_ip: Ipv4Addr,
    pub dst_mac: EthernetAddress,
}

#[derive(Debug)]
pub enum DhcpError {
    Decode(dhcproto::error::DecodeError),
    Encode(dhcproto::error::EncodeError),
    NotARequest,
    NoMessageType,
    BadHardwareAddress,
    /// Relayed requests (giaddr set) cannot happen on a point-to-point link.
    Relayed,
    PoolExhausted,
}

impl std::fmt::Display for DhcpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DhcpError::Decode(e) => write!(f, "undecodable DHCP message: {e}"),
            DhcpError::Encode(e) => write!(f, "cannot encode DHCP reply: {e}"),
            DhcpError::NotARequest => write!(f, "DHCP message is not a BOOTREQUEST"),
            DhcpError::NoMessageType => write!(f, "DHCP message lacks option 53 (message type)"),
            DhcpError::BadHardwareAddress => write!(f, "DHCP chaddr is not an Ethernet address"),
            DhcpError::Relayed => write!(f, "relayed DHCP request (giaddr set) on a direct link"),
            DhcpError::PoolExhausted => write!(f, "DHCP pool exhausted"),
        }
    }
}

impl std::error::Error for DhcpError {}

#[derive(Debug)]
pub struct DhcpServer {
    static_mac: EthernetAddress,
    /// Pool leases by MAC. Bounded by the pool size.
    leases: HashMap<EthernetAddress, Ipv4Addr>,
}

impl DhcpServer {
    pub fn new(static_mac: EthernetAddress) -> DhcpServer {
        DhcpServer { static_mac, leases: HashMap::new() }
    }

    /// The address `mac` has or would get.
    fn address_for(&mut self, mac: EthernetAddress) -> Result<Ipv4Addr, DhcpError> {
        if mac == self.static_mac {
            return Ok(GUEST_IP);
        }
        if let Some(ip) = self.leases.get(&mac) {
            return Ok(*ip);
        }
        let taken: std::collections::HashSet<Ipv4Addr> = self.leases.values().copied().collect();
        let [a, b, c, _] = SUBNET.octets();
        let ip = (DHCP_POOL_FIRST..=DHCP_POOL_LAST)
            .map(|d| Ipv4Addr::new(a, b, c, d))
            .find(|ip| !taken.contains(ip))
            .ok_or(DhcpError::PoolExhausted)?;
        self.leases.insert(mac, ip);
        Ok(ip)
    }

    /// Handles one message from a client; `Ok(None)` when no reply is due
    /// (RELEASE, DECLINE, or a REQUEST aimed at another server).
    pub fn handle(&mut self, payload: &[u8]) -> Result<Option<DhcpReply>, DhcpError> {
        let req = Message::from_bytes(payload).map_err(DhcpError::Decode)?;
        if req.opcode() != Opcode::BootRequest {
            return Err(DhcpError::NotARequest);
        }
        if req.giaddr() != Ipv4Addr::UNSPECIFIED {
            return Err(DhcpError::Relayed);
        }
        // Check hlen before chaddr(): dhcproto slices chaddr by hlen and
        // panics when a hostile hlen exceeds 16 (found by fuzz/dhcp).
        if req.hlen() != 6 {
            return Err(DhcpError::BadHardwareAddress);
        }
        let chaddr = req.chaddr();
        let mac = EthernetAddress::from_bytes(&chaddr[..6]);
        if !mac.is_unicast() {
            return Err(DhcpError::BadHardwareAddress);
        }
        let kind = req.opts().msg_type().ok_or(DhcpError::NoMessageType)?;
        let (reply_type, yiaddr) = match kind {
            MessageType::Discover => (MessageType::Offer, self.address_for(mac)?),
            MessageType::Request => {
                // RFC 2131 §4.3.2: a REQUEST naming another server is that
                // server's business; otherwise the wanted address is option 50
                // (SELECTING/INIT-REBOOT) or ciaddr (RENEWING/REBINDING).
                if let Some(DhcpOption::ServerIdentifier(id)) = req.opts().get(OptionCode::ServerIdentifier) {
                    if *id != GATEWAY_IP {
                        return Ok(None);
                    }
                }
                let wanted = match req.opts().get(OptionCode::RequestedIpAddress) {
                    Some(DhcpOption::RequestedIpAddress(ip)) => *ip,
                    _ => req.ciaddr(),
                };
                let ours = self.address_for(mac)?;
                if wanted == ours {
                    (MessageType::Ack, ours)
                } else {
                    log::debug!("dhcp: {mac} asked for {wanted}, has {ours}: NAK");
                    (MessageType::Nak, Ipv4Addr::UNSPECIFIED)
                }
            }
            MessageType::Inform => (MessageType::Ack, Ipv4Addr::UNSPECIFIED),
            MessageType::Release => {
                self.leases.remove(&mac);
                return Ok(None);
            }
            _ => return Ok(None),
        };
        let mut reply =
            Message::new_with_id(req.xid(), Ipv4Addr::UNSPECIFIED, yiaddr, GATEWAY_IP, Ipv4Addr::UNSPECIFIED, &chaddr[..6]);
        reply.set_opcode(Opcode::BootReply).set_flags(req.flags());
        if kind == MessageType::Inform || kind == MessageType::Request {
            reply.set_ciaddr(req.ciaddr());
        }
        let opts = reply.opts_mut();
        opts.insert(DhcpOption::MessageType(reply_type));
        opts.insert(DhcpOption::ServerIdentifier(GATEWAY_IP));
        if reply_type != MessageType::Nak {
            opts.insert(DhcpOption::SubnetMask(prefix_mask(SUBNET_PREFIX)));
            opts.insert(DhcpOption::Router(vec![GATEWAY_IP]));
            opts.insert(DhcpOption::DomainNameServer(vec![GATEWAY_IP]));
            opts.insert(DhcpOption::BroadcastAddr(SUBNET_BROADCAST));
            opts.insert(DhcpOption::InterfaceMtu(MTU as u16));
            if kind != MessageType::Inform {
                opts.insert(DhcpOption::AddressLeaseTime(DHCP_LEASE_SECS));
            }
        }
        let payload = reply.to_vec().map_err(DhcpError::Encode)?;
        // RFC 2131 §4.1 "If the 'giaddr' field is zero...": unicast to
        // ciaddr if set; broadcast if the client asked for it or for a NAK;
        // else unicast to chaddr/yiaddr (the client accepts unicast before
        // it has configured the address).
        let broadcast = EthernetAddress::BROADCAST;
        let (dst_ip, dst_mac) = if req.ciaddr() != Ipv4Addr::UNSPECIFIED && reply_type != MessageType::Nak {
            (req.ciaddr(), mac)
        } else if reply_type == MessageType::Nak || req.flags().broadcast() || yiaddr.is_unspecified() {
            (Ipv4Addr::BROADCAST, broadcast)
        } else {
            (yiaddr, mac)
        };
        log::debug!("dhcp: {kind:?} from {mac} -> {reply_type:?} {yiaddr}");
        Ok(Some(DhcpReply { payload, dst_ip, dst_mac }))
    }
}

fn prefix_mask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: MessageType, mac: [u8; 6], opts: Vec<DhcpOption>) -> Vec<u8> {
        let z = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(0x1234, z, z, z, z, &mac);
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        for o in opts {
            m.opts_mut().insert(o);
        }
        m.to_vec().unwrap()
    }

    fn decode(reply: &DhcpReply) -> Message {
        Message::from_bytes(&reply.payload).unwrap()
    }

    #[test]
    fn static_mac_gets_the_guest_address_through_offer_and_ack() {
        let mac = DEFAULT_GUEST_MAC.0;
        let mut server = DhcpServer::new(DEFAULT_GUEST_MAC);
        let offer = server.handle(&request(MessageType::Discover, mac, vec![])).unwrap().unwrap();
        let m = decode(&offer);
        assert_eq!(m.yiaddr(), GUEST_IP);
        assert_eq!(m.xid(), 0x1234);
        assert_eq!(m.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(offer.dst_mac, DEFAULT_GUEST_MAC);
        assert_eq!(offer.dst_ip, GUEST_IP);
        assert_eq!(m.opts().get(OptionCode::Router), Some(&DhcpOption::Router(vec![GATEWAY_IP])));
        assert_eq!(
            m.opts().get(OptionCode::SubnetMask),
            Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)))
        );

        let ack = server
            .handle(&request(
                MessageType::Request,
                mac,
                vec![DhcpOption::RequestedIpAddress(GUEST_IP), DhcpOption::ServerIdentifier(GATEWAY_IP)],
            ))
            .unwrap()
            .unwrap();
        assert_eq!(decode(&ack).opts().msg_type(), Some(MessageType::Ack));
        assert_eq!(decode(&ack).yiaddr(), GUEST_IP);
    }

    #[test]
    fn other_macs_get_distinct_pool_addresses_that_stick() {
        let mut server = DhcpServer::new(DEFAULT_GUEST_MAC);
        let a = decode(&server.handle(&request(MessageType::Discover, [2, 0, 0, 0, 0, 9], vec![])).unwrap().unwrap());
        let b = decode(&server.handle(&request(MessageType::Discover, [2, 0, 0, 0, 0, 8], vec![])).unwrap().unwrap());
        let a2 = decode(&server.handle(&request(MessageType::Discover, [2, 0, 0, 0, 0, 9], vec![])).unwrap().unwrap());
        assert_ne!(a.yiaddr(), b.yiaddr());
        assert_eq!(a.yiaddr(), a2.yiaddr());
        assert_eq!(a.yiaddr(), Ipv4Addr::new(192, 168, 127, DHCP_POOL_FIRST));
    }

    #[test]
    fn wrong_address_is_nakked_by_broadcast_and_other_servers_are_ignored() {
        let mut server = DhcpServer::new(DEFAULT_GUEST_MAC);
        let mac = DEFAULT_GUEST_MAC.0;
        let nak = server
            .handle(&request(MessageType::Request, mac, vec![DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 5))]))
            .unwrap()
            .unwrap();
        assert_eq!(decode(&nak).opts().msg_type(), Some(MessageType::Nak));
        assert_eq!(nak.dst_mac, EthernetAddress::BROADCAST);
        let other = request(
            MessageType::Request,
            mac,
            vec![DhcpOption::RequestedIpAddress(GUEST_IP), DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 1))],
        );
        assert_eq!(server.handle(&other).unwrap(), None);
    }

    #[test]
    fn pool_exhaustion_is_an_error() {
        let mut server = DhcpServer::new(DEFAULT_GUEST_MAC);
        let n = (DHCP_POOL_LAST - DHCP_POOL_FIRST) as u32 + 1;
        for i in 0..n {
            let mac = [2, 1, 0, 0, (i >> 8) as u8, i as u8];
            server.handle(&request(MessageType::Discover, mac, vec![])).unwrap().unwrap();
        }
        assert!(matches!(
            server.handle(&request(MessageType::Discover, [2, 9, 9, 9, 9, 9], vec![])),
            Err(DhcpError::PoolExhausted)
        ));
    }

    #[test]
    fn garbage_is_rejected() {
        let mut server = DhcpServer::new(DEFAULT_GUEST_MAC);
        assert!(server.handle(b"").is_err());
        assert!(server.handle(&[0u8; 300]).is_err());
        let mut no_type = request(MessageType::Discover, [2, 0, 0, 0, 0, 1], vec![]);
        no_type.truncate(240);
        assert!(server.handle(&no_type).is_err());
        // hlen (byte 2) beyond the 16-byte chaddr field.
        let mut long_hlen = request(MessageType::Discover, [2, 0, 0, 0, 0, 1], vec![]);
        long_hlen[2] = 200;
        assert!(matches!(server.handle(&long_hlen), Err(DhcpError::BadHardwareAddress)));
    }
}
