//! virtio-net's `socket` backend against real QEMU (`-netdev stream`, the
//! same length-prefixed framing as `-netdev socket`).
//!
//! 1. No guest needed: QEMU's slirp (`-netdev user`) joined to a stream
//!    netdev on a hub. Our virtio-net device, driven through its virtqueues
//!    like a guest driver would, sends an ARP request; slirp's ARP reply comes
//!    back through QEMU into our receive queue.
//! 2. The guest image booted in QEMU with its NIC on a stream netdev that
//!    connects to us: the guest pings us, we answer its ARP and ICMP with our
//!    backend, and the guest's ping succeeds.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netvm::backends::net::{FrameBackend, SocketNet};
use netvm::devices::net::Net;
use netvm::devices::virtio::guest_driver::{self, DriverBuf};
use netvm::devices::virtio::mmio::MmioTransport;
use netvm::devices::SharedIrq;
use netvm::memory::GuestMemory;
use smoltcp::phy::ChecksumCapabilities;
use testkit::process::KillOnDrop;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4Packet,
    Icmpv4Repr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
};

fn stream_netdev(port: u16) -> String {
    format!("stream,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={port}")
}

fn arp_request(src_mac: EthernetAddress, src_ip: Ipv4Address, target: Ipv4Address) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: src_mac,
        source_protocol_addr: src_ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    let eth =
        EthernetRepr { src_addr: src_mac, dst_addr: EthernetAddress::BROADCAST, ethertype: EthernetProtocol::Arp };
    let mut buf = vec![0u8; eth.buffer_len() + arp.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut buf);
    eth.emit(&mut frame);
    arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    buf
}

#[test]
fn virtio_net_exchanges_frames_with_qemu_slirp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _qemu = KillOnDrop(
        Command::new("qemu-system-x86_64")
            .args(["-M", "none", "-nodefaults", "-display", "none"])
            .args(["-netdev", &format!("{},id=s", stream_netdev(port))])
            .args(["-netdev", "user,id=u,net=10.0.2.0/24"])
            .args(["-netdev", "hubport,id=h0,hubid=0,netdev=s", "-netdev", "hubport,id=h1,hubid=0,netdev=u"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 (package qemu-system-x86) must be installed"),
    );
    listener.set_nonblocking(false).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let backend = SocketNet::from_tcp(stream).unwrap();

    let mac = EthernetAddress([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
    let irq = SharedIrq::new();
    let mut t = MmioTransport::new(Box::new(Net::new(mac.0, Box::new(backend))), Box::new(irq.clone()));
    let mut mem = GuestMemory::new(1 << 20);
    let (mut qs, _) = guest_driver::init_device(&mut t, 1 << 5, &[64, 64], 0x1000).unwrap();
    let (rx, tx) = qs.split_at_mut(1);
    let (rx, tx) = (&mut rx[0], &mut tx[0]);
    for i in 0..8u64 {
        rx.add_chain(&mut mem, &[DriverBuf { addr: 0x40000 + i * 0x800, len: 1526, write: true }]);
    }
    guest_driver::notify(&mut t, &mut mem, 0);

    let request = arp_request(mac, Ipv4Address::new(10, 0, 2, 15), Ipv4Address::new(10, 0, 2, 2));
    let mut packet = vec![0u8; 12];
    packet.extend_from_slice(&request);
    mem.write(0x20000, &packet).unwrap();
    tx.add_chain(&mut mem, &[DriverBuf { addr: 0x20000, len: packet.len() as u32, write: false }]);
    guest_driver::notify(&mut t, &mut mem, 1);
    assert!(tx.pop_used(&mem).is_some(), "transmit completed");

    let deadline = Instant::now() + Duration::from_secs(10);
    let (id, len) = loop {
        t.process(&mut mem);
        if let Some(used) = rx.pop_used(&mem) {
            break used;
        }
        assert!(Instant::now() < deadline, "no frame from QEMU within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(irq.is_asserted(), "receive raised the interrupt");
    let buf = mem.slice(0x40000 + id as u64 * 0x800, len as u64).unwrap();
    let frame = EthernetFrame::new_checked(&buf[12..]).expect("an Ethernet frame");
    assert_eq!(frame.dst_addr(), mac);
    assert_eq!(frame.ethertype(), EthernetProtocol::Arp);
    let arp = ArpRepr::parse(&ArpPacket::new_checked(frame.payload()).unwrap()).unwrap();
    match arp {
        ArpRepr::EthernetIpv4 { operation, source_protocol_addr, target_hardware_addr, .. } => {
            assert_eq!(operation, ArpOperation::Reply);
            assert_eq!(source_protocol_addr, Ipv4Address::new(10, 0, 2, 2));
            assert_eq!(target_hardware_addr, mac);
        }
        other => panic!("unexpected ARP {other:?}"),
    }
}

/// Answers ARP requests for `ip` and ICMP echo requests to it, like a host
/// on the guest's link.
fn answer(frame: &[u8], mac: EthernetAddress, ip: Ipv4Address) -> Option<Vec<u8>> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let caps = ChecksumCapabilities::default();
    match eth.ethertype() {
        EthernetProtocol::Arp => {
            let req = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()?;
            let ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                source_hardware_addr,
                source_protocol_addr,
                target_protocol_addr,
                ..
            } = req
            else {
                return None;
            };
            if target_protocol_addr != ip {
                return None;
            }
            let arp = ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: mac,
                source_protocol_addr: ip,
                target_hardware_addr: source_hardware_addr,
                target_protocol_addr: source_protocol_addr,
            };
            let repr = EthernetRepr { src_addr: mac, dst_addr: source_hardware_addr, ethertype: EthernetProtocol::Arp };
            let mut out = vec![0u8; repr.buffer_len() + arp.buffer_len()];
            let mut f = EthernetFrame::new_unchecked(&mut out);
            repr.emit(&mut f);
            arp.emit(&mut ArpPacket::new_unchecked(f.payload_mut()));
            Some(out)
        }
        EthernetProtocol::Ipv4 => {
            let ip_pkt = Ipv4Packet::new_checked(eth.payload()).ok()?;
            let ip_repr = Ipv4Repr::parse(&ip_pkt, &caps).ok()?;
            if ip_repr.dst_addr != ip || ip_repr.next_header != IpProtocol::Icmp {
                return None;
            }
            let icmp = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(ip_pkt.payload()).ok()?, &caps).ok()?;
            let Icmpv4Repr::EchoRequest { ident, seq_no, data } = icmp else { return None };
            let reply = Icmpv4Repr::EchoReply { ident, seq_no, data };
            let reply_ip = Ipv4Repr {
                src_addr: ip,
                dst_addr: ip_repr.src_addr,
                next_header: IpProtocol::Icmp,
                payload_len: reply.buffer_len(),
                hop_limit: 64,
            };
            let repr = EthernetRepr { src_addr: mac, dst_addr: eth.src_addr(), ethertype: EthernetProtocol::Ipv4 };
            let mut out = vec![0u8; repr.buffer_len() + reply_ip.buffer_len() + reply.buffer_len()];
            let mut f = EthernetFrame::new_unchecked(&mut out);
            repr.emit(&mut f);
            let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
            reply_ip.emit(&mut p, &caps);
            reply.emit(&mut Icmpv4Packet::new_unchecked(p.payload_mut()), &caps);
            Some(out)
        }
        _ => None,
    }
}

#[test]
fn guest_in_qemu_pings_our_socket_backend() {
    let image = testkit::guest::image();
    let tmp = std::env::temp_dir().join(format!("netvm-devices-qemu-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let rootfs = image.rootfs_copy(&tmp);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let guest_mac = "52:54:00:12:34:56";
    let mut console = testkit::qemu::Qemu::microvm(&image, &rootfs)
        .net(&stream_netdev(port), Some(guest_mac))
        .spawn("qemu-guest-net");
    let (stream, _) = listener.accept().unwrap();
    let mut backend = SocketNet::from_tcp(stream).unwrap();

    // The peer side runs in a thread: it answers until told to stop and
    // reports what it saw.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_peer = stop.clone();
    let peer = std::thread::spawn(move || {
        let mac = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
        let ip = Ipv4Address::new(10, 9, 0, 1);
        let (mut frames, mut answered, mut from_guest_mac) = (0u32, 0u32, true);
        let mut buf = vec![0u8; 65536];
        while !stop_peer.load(std::sync::atomic::Ordering::Relaxed) {
            match backend.recv(&mut buf).expect("stream from QEMU stays well-formed") {
                Some(n) => {
                    frames += 1;
                    let f = EthernetFrame::new_checked(&buf[..n]).expect("QEMU delivered a whole Ethernet frame");
                    from_guest_mac &= f.src_addr() == EthernetAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
                    if let Some(reply) = answer(&buf[..n], mac, ip) {
                        assert!(backend.send(&reply).unwrap());
                        answered += 1;
                    }
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        (frames, answered, from_guest_mac)
    });

    console.wait_for(testkit::guest::READY_LINE, Duration::from_secs(120));
    console.run_ok("ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up", Duration::from_secs(10));
    let out = console.run_ok("ping -c 3 -W 5 10.9.0.1", Duration::from_secs(30));
    // Full-size frames (1400 bytes of payload): several TCP segments' worth
    // of stream framing per frame on the way through.
    let big = console.run_ok("ping -c 2 -s 1400 -W 5 10.9.0.1", Duration::from_secs(30));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (frames, answered, from_guest_mac) = peer.join().unwrap();
    assert!(out.contains("3 packets received"), "guest ping output: {out}");
    assert!(big.contains("2 packets received") && big.contains("1408 bytes from"), "guest ping output: {big}");
    assert!(frames >= 4 && answered >= 4, "frames {frames}, answered {answered}");
    assert!(from_guest_mac, "every frame came from the guest's MAC");
    let _ = std::fs::remove_dir_all(&tmp);
}
