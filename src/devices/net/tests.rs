use super::*;
use crate::backends::net::SocketNet;
use crate::devices::virtio::guest_driver::{self, DriverBuf, DriverQueue};
use crate::devices::virtio::mmio::MmioTransport;
use crate::devices::SharedIrq;
use crate::memory::GuestMemory;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

struct Rig {
    mem: GuestMemory,
    t: MmioTransport,
    irq: SharedIrq,
    rx: DriverQueue,
    tx: DriverQueue,
    peer: TcpStream,
}

fn rig() -> Rig {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = SocketNet::connect(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let irq = SharedIrq::new();
    let mut t = MmioTransport::new(Box::new(Net::new(MAC, Box::new(backend))), Box::new(irq.clone()));
    let (mut qs, _) = guest_driver::init_device(&mut t, VIRTIO_NET_F_MAC, &[32, 32], 0x1000).unwrap();
    let tx = qs.pop().unwrap();
    let rx = qs.pop().unwrap();
    Rig { mem: GuestMemory::new(1 << 20), t, irq, rx, tx, peer }
}

#[test]
fn mac_in_config() {
    let mut r = rig();
    assert_eq!(guest_driver::read_config(&mut r.t, 0, 6), MAC);
    assert_eq!(guest_driver::read_config(&mut r.t, 6, 2), [1, 0], "link up");
}

#[test]
fn transmit_reaches_the_peer_with_stream_framing() {
    let mut r = rig();
    let frame: Vec<u8> = (0..60u8).collect();
    r.mem.write(0x10000, &[0u8; NET_HDR_LEN]).unwrap();
    r.mem.write(0x10100, &frame).unwrap();
    // Header and frame in separate descriptors, as Linux may send them.
    let head = r.tx.add_chain(
        &mut r.mem,
        &[DriverBuf { addr: 0x10000, len: 12, write: false }, DriverBuf { addr: 0x10100, len: 60, write: false }],
    );
    guest_driver::notify(&mut r.t, &mut r.mem, 1);
    assert_eq!(r.tx.pop_used(&r.mem), Some((head as u32, 0)));
    let mut wire = [0u8; 64];
    r.peer.read_exact(&mut wire).unwrap();
    assert_eq!(wire[..4], 60u32.to_be_bytes());
    assert_eq!(wire[4..], frame[..]);
}

#[test]
fn receive_waits_for_buffers_then_delivers() {
    let mut r = rig();
    let frame = [0xabu8; 100];
    let mut wire = 100u32.to_be_bytes().to_vec();
    wire.extend_from_slice(&frame);
    r.peer.write_all(&wire).unwrap();
    // No receive buffer yet: the frame waits.
    let deadline = Instant::now() + Duration::from_millis(200);
    while Instant::now() < deadline {
        r.t.process(&mut r.mem);
    }
    assert!(!r.irq.is_asserted());
    let head = r.rx.add_chain(&mut r.mem, &[DriverBuf { addr: 0x20000, len: 1526, write: true }]);
    guest_driver::notify(&mut r.t, &mut r.mem, 0);
    assert_eq!(r.rx.pop_used(&r.mem), Some((head as u32, 112)));
    assert!(r.irq.is_asserted());
    let got = r.mem.slice(0x20000, 112).unwrap();
    assert_eq!(got[10..12], [1, 0], "num_buffers = 1");
    assert_eq!(got[12..], frame[..]);
}

#[test]
fn hostile_transmit_chains_are_dropped() {
    let mut r = rig();
    // Shorter than the header.
    let a = r.tx.add_chain(&mut r.mem, &[DriverBuf { addr: 0x10000, len: 4, write: false }]);
    // Larger than any frame.
    let b = r.tx.add_chain(&mut r.mem, &[DriverBuf { addr: 0x10000, len: 200_000, write: false }]);
    // Outside RAM.
    let c = r.tx.add_chain(&mut r.mem, &[DriverBuf { addr: 1 << 40, len: 64, write: false }]);
    guest_driver::notify(&mut r.t, &mut r.mem, 1);
    let mut used: Vec<_> = std::iter::from_fn(|| r.tx.pop_used(&r.mem)).collect();
    used.sort();
    assert_eq!(used, [(a as u32, 0), (b as u32, 0), (c as u32, 0)]);
    // Nothing reached the peer: the next bytes it sees are a good frame.
    r.mem.write(0x10000, &[0u8; 20]).unwrap();
    r.tx.add_chain(&mut r.mem, &[DriverBuf { addr: 0x10000, len: 20, write: false }]);
    guest_driver::notify(&mut r.t, &mut r.mem, 1);
    let mut len = [0u8; 4];
    r.peer.read_exact(&mut len).unwrap();
    assert_eq!(u32::from_be_bytes(len), 8);
}

#[test]
fn peer_hangup_takes_the_link_down() {
    let Rig { mut mem, mut t, irq, peer, .. } = rig();
    assert_eq!(guest_driver::read_config(&mut t, 6, 2), [1, 0]);
    drop(peer);
    let deadline = Instant::now() + Duration::from_secs(5);
    while guest_driver::read_config(&mut t, 6, 2) != [0, 0] {
        assert!(Instant::now() < deadline, "link still up");
        t.process(&mut mem);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(irq.is_asserted());
    assert_eq!(guest_driver::ack_interrupt(&mut t), crate::devices::virtio::INT_CONFIG_CHANGE);
}

#[test]
fn small_receive_buffer_drops_the_frame() {
    let mut r = rig();
    let mut wire = 200u32.to_be_bytes().to_vec();
    wire.extend_from_slice(&[1u8; 200]);
    wire.extend_from_slice(&10u32.to_be_bytes());
    wire.extend_from_slice(&[2u8; 10]);
    r.peer.write_all(&wire).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let small = r.rx.add_chain(&mut r.mem, &[DriverBuf { addr: 0x20000, len: 64, write: true }]);
    let big = r.rx.add_chain(&mut r.mem, &[DriverBuf { addr: 0x21000, len: 64, write: true }]);
    guest_driver::notify(&mut r.t, &mut r.mem, 0);
    assert_eq!(r.rx.pop_used(&r.mem), Some((small as u32, 0)));
    assert_eq!(r.rx.pop_used(&r.mem), Some((big as u32, 22)));
    assert_eq!(r.mem.slice(0x21000 + 12, 10).unwrap(), [2u8; 10]);
}
