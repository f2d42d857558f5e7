//! The virtual network's address plan, in one place.
//!
//! These values copy container2wasm's `c2w-net` (which configures
//! gvisor-tap-vsock) so that guest images and pages written for it work
//! unchanged with netvm-net.

use smoltcp::wire::{EthernetAddress, Ipv4Address};

/// The guest subnet, 192.168.127.0/24.
pub const SUBNET: Ipv4Address = Ipv4Address::new(192, 168, 127, 0);
/// Prefix length of [`SUBNET`].
pub const SUBNET_PREFIX: u8 = 24;
/// The directed broadcast address of [`SUBNET`].
pub const SUBNET_BROADCAST: Ipv4Address = Ipv4Address::new(192, 168, 127, 255);

/// The gateway: answers ARP, ICMP echo, DHCP (port 67) and DNS (port 53),
/// and is the next hop for everything the guest sends off-link.
pub const GATEWAY_IP: Ipv4Address = Ipv4Address::new(192, 168, 127, 1);
/// The gateway's MAC address, as c2w-net sets it.
pub const GATEWAY_MAC: EthernetAddress = EthernetAddress([0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xdd]);

/// The address DHCP gives the VM whose MAC is `--mac`.
pub const GUEST_IP: Ipv4Address = Ipv4Address::new(192, 168, 127, 3);
/// c2w-net's default `--mac`, which QEMU and the emulator also use by default in our setup.
pub const DEFAULT_GUEST_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);

/// Other MACs get addresses from this inclusive range (c2w-net leaves .2 and
/// .3 for static leases; .253 and .254 are virtual hosts).
pub const DHCP_POOL_FIRST: u8 = 10;
pub const DHCP_POOL_LAST: u8 = 200;
/// Lease time in seconds; short enough that a restarted daemon's plan is
/// picked up, long enough that busybox udhcpc renews rarely.
pub const DHCP_LEASE_SECS: u32 = 3600;

/// The guest's view of the host: traffic to this address is sent to the
/// host's loopback address [`HOST_LOOPBACK`] (gvisor-tap-vsock's `NAT` map).
pub const HOST_ALIAS_IP: Ipv4Address = Ipv4Address::new(192, 168, 127, 254);
pub const HOST_LOOPBACK: Ipv4Address = Ipv4Address::new(127, 0, 0, 1);

/// Where the browser-mode HTTP/HTTPS proxy lives (a virtual service, see
/// docs/net.md). Reserved here so DHCP never hands it out.
pub const PROXY_IP: Ipv4Address = Ipv4Address::new(192, 168, 127, 253);

/// Names the DNS server answers itself, as gvisor-tap-vsock's gvproxy does,
/// so the guest can reach the host by name without touching the host's resolver.
pub const STATIC_NAMES: &[(&str, Ipv4Address)] = &[
    ("gateway.containers.internal", GATEWAY_IP),
    ("host.containers.internal", HOST_ALIAS_IP),
];

/// Link MTU (IP packet size); an Ethernet frame is at most MTU + 14 bytes
/// (virtio-net does not pass the FCS).
pub const MTU: usize = 1500;
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Largest frame we accept from the guest. virtio-net may add a VLAN tag (4
/// bytes); anything longer is malformed and dropped.
pub const MAX_FRAME_LEN: usize = MTU + ETHERNET_HEADER_LEN + 4;

/// The DNS server's port on [`GATEWAY_IP`].
pub const DNS_PORT: u16 = 53;
/// DHCP server and client ports (RFC 2131 §4.1).
pub const DHCP_SERVER_PORT: u16 = 67;
pub const DHCP_CLIENT_PORT: u16 = 68;
