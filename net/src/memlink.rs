//! A test tool: a smoltcp "guest" wired to a [`VirtualNetwork`] through an
//! in-memory link that carries the real QEMU stream framing, both driven by
//! one manual clock. Unit tests, integration tests and fuzzers use it to talk
//! to the network the way a VM would.

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::time::Duration;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address};

use crate::clock::{Clock, ManualClock};
use crate::device::QueueDevice;
use crate::framing::{encode_frame, FrameDecoder};
use crate::network::{NetworkConfig, VirtualNetwork};
use crate::upstream::Upstream;

pub struct MemLink {
    pub clock: ManualClock,
    pub net: VirtualNetwork,
    /// The guest side: an interface and its sockets.
    pub guest: Interface,
    pub guest_dev: QueueDevice,
    pub sockets: SocketSet<'static>,
    to_net: FrameDecoder,
    to_guest: FrameDecoder,
    /// Stream bytes carried so far in each direction.
    pub bytes_to_net: u64,
    pub bytes_to_guest: u64,
}

impl MemLink {
    /// A network and a guest with `guest_mac` and no address yet.
    pub fn new(config: NetworkConfig, upstream: Box<dyn Upstream>, guest_mac: EthernetAddress) -> MemLink {
        let clock = ManualClock::new();
        let net = VirtualNetwork::new(config, upstream, clock.now());
        let mut guest_dev = QueueDevice::default();
        let mut cfg = Config::new(HardwareAddress::Ethernet(guest_mac));
        cfg.random_seed = 0x1234_5678;
        let guest = Interface::new(cfg, &mut guest_dev, clock.now());
        MemLink {
            clock,
            net,
            guest,
            guest_dev,
            sockets: SocketSet::new(Vec::new()),
            to_net: FrameDecoder::default(),
            to_guest: FrameDecoder::default(),
            bytes_to_net: 0,
            bytes_to_guest: 0,
        }
    }

    /// Gives the guest an address and default route, as DHCP would.
    pub fn configure_guest(&mut self, ip: Ipv4Address, gateway: Ipv4Address) {
        self.guest.update_ip_addrs(|a| {
            a.clear();
            a.push(IpCidr::new(ip.into(), 24)).expect("room for one address");
        });
        self.guest.routes_mut().add_default_ipv4_route(gateway).expect("route table room");
    }

    /// One round: the guest emits, frames cross the link (as a length-prefixed
    /// byte stream), the network answers, the guest receives.
    pub fn step(&mut self) {
        let now = self.clock.now();
        self.guest.poll(now, &mut self.guest_dev, &mut self.sockets);
        let mut stream = Vec::new();
        while let Some(frame) = self.guest_dev.tx.pop_front() {
            encode_frame(&frame, &mut stream);
        }
        self.bytes_to_net += stream.len() as u64;
        self.to_net.push(&stream);
        while let Ok(Some(frame)) = self.to_net.next_frame() {
            self.net.receive_frame(&frame, now);
        }
        self.net.poll(now);
        let mut stream = Vec::new();
        while let Some(frame) = self.net.pop_frame() {
            encode_frame(&frame, &mut stream);
        }
        self.bytes_to_guest += stream.len() as u64;
        self.to_guest.push(&stream);
        while let Ok(Some(frame)) = self.to_guest.next_frame() {
            self.guest_dev.rx.push_back(frame);
        }
        self.guest.poll(now, &mut self.guest_dev, &mut self.sockets);
    }

    /// Steps, advancing the clock by `tick` each time, until `done` holds or
    /// `limit` of virtual time passed. Returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, tick: Duration, mut done: impl FnMut(&mut MemLink) -> bool) -> bool {
        let end = self.clock.now() + limit;
        loop {
            self.step();
            if done(self) {
                return true;
            }
            if self.clock.now() >= end {
                return false;
            }
            self.clock.advance(tick);
        }
    }
}
