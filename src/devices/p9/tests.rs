use super::*;
use crate::backends::fs::HostDir;
use crate::devices::virtio::guest_driver::{self, DriverBuf};
use crate::devices::virtio::mmio::MmioTransport;
use crate::devices::SharedIrq;
use crate::memory::GuestMemory;
use crate::test_util::TempDir;
use wire::{msg, Writer};

#[test]
fn tag_in_config_and_messages_over_the_queue() {
    let dir = TempDir::new("p9dev");
    std::fs::write(dir.0.join("f"), b"data").unwrap();
    let dev = P9::new("wasm0", Box::new(HostDir::new(&dir.0).unwrap())).unwrap();
    let irq = SharedIrq::new();
    let mut t = MmioTransport::new(Box::new(dev), Box::new(irq.clone()));
    assert_eq!(guest_driver::read_config(&mut t, 0, 7), b"\x05\x00wasm0");
    let mut mem = GuestMemory::new(1 << 20);
    let (mut qs, _) = guest_driver::init_device(&mut t, VIRTIO_9P_MOUNT_TAG, &[128], 0x1000).unwrap();
    let q = &mut qs[0];

    let mut w = Writer::new(msg::TVERSION, 0xffff);
    w.u32(8192).string("9P2000.L");
    let req = w.finish();
    // The request split over two descriptors, the reply buffer over two.
    mem.write(0x10000, &req[..5]).unwrap();
    mem.write(0x10100, &req[5..]).unwrap();
    let head = q.add_chain(
        &mut mem,
        &[
            DriverBuf { addr: 0x10000, len: 5, write: false },
            DriverBuf { addr: 0x10100, len: req.len() as u32 - 5, write: false },
            DriverBuf { addr: 0x20000, len: 9, write: true },
            DriverBuf { addr: 0x20100, len: 4096, write: true },
        ],
    );
    guest_driver::notify(&mut t, &mut mem, 0);
    let (id, len) = q.pop_used(&mem).unwrap();
    assert_eq!(id, head as u32);
    let mut reply = mem.slice(0x20000, 9).unwrap().to_vec();
    reply.extend_from_slice(mem.slice(0x20100, len as u64 - 9).unwrap());
    assert_eq!(reply.len(), len as usize);
    assert_eq!(reply[4], msg::TVERSION + 1);
    assert_eq!(&reply[reply.len() - 8..], b"9P2000.L");
    assert!(irq.is_asserted());

    // A truncated message and a reply buffer too small for anything.
    mem.write(0x10000, &[200, 0, 0, 0, msg::TWALK, 1, 0]).unwrap();
    let bad = q.add_chain(
        &mut mem,
        &[DriverBuf { addr: 0x10000, len: 7, write: false }, DriverBuf { addr: 0x20000, len: 64, write: true }],
    );
    let tiny = q.add_chain(
        &mut mem,
        &[DriverBuf { addr: 0x10000, len: 7, write: false }, DriverBuf { addr: 0x20000, len: 3, write: true }],
    );
    guest_driver::notify(&mut t, &mut mem, 0);
    assert_eq!(q.pop_used(&mem), Some((bad as u32, 11)));
    assert_eq!(mem.slice(0x20000, 11).unwrap()[4], msg::RLERROR);
    assert_eq!(q.pop_used(&mem), Some((tiny as u32, 0)));
}

#[test]
fn bad_tags_are_refused() {
    let dir = TempDir::new("p9tag");
    assert!(P9::new("", Box::new(HostDir::new(&dir.0).unwrap())).is_err());
    assert!(P9::new(&"t".repeat(300), Box::new(HostDir::new(&dir.0).unwrap())).is_err());
}
