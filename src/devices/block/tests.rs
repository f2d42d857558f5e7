use super::*;
use crate::backends::block::FileBlock;
use crate::devices::virtio::guest_driver::{self, DriverBuf, DriverQueue};
use crate::devices::virtio::mmio::MmioTransport;
use crate::devices::SharedIrq;
use crate::memory::GuestMemory;
use crate::test_util::TempDir;

const HDR: u64 = 0x10000;
const DATA: u64 = 0x20000;
const STATUS: u64 = 0x30000;

struct Rig {
    _dir: TempDir,
    image: std::path::PathBuf,
    mem: GuestMemory,
    t: MmioTransport,
    q: DriverQueue,
}

/// A 64 KiB image whose sector n is filled with byte n.
fn rig(read_only: bool) -> Rig {
    let dir = TempDir::new("blk");
    let image = dir.0.join("disk.img");
    let mut content = Vec::new();
    for s in 0..128u8 {
        content.extend_from_slice(&[s; 512]);
    }
    std::fs::write(&image, &content).unwrap();
    let backend = FileBlock::open(&image, read_only).unwrap();
    let mut t = MmioTransport::new(Box::new(Block::new(Box::new(backend))), Box::new(SharedIrq::new()));
    let (mut qs, _) = guest_driver::init_device(&mut t, VIRTIO_BLK_F_FLUSH, &[64], 0x1000).unwrap();
    Rig { _dir: dir, image, mem: GuestMemory::new(1 << 20), t, q: qs.remove(0) }
}

impl Rig {
    /// Sends one request; returns (status, used length).
    fn request(&mut self, kind: u32, sector: u64, data: DriverBuf) -> (u8, u32) {
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&kind.to_le_bytes());
        hdr[8..16].copy_from_slice(&sector.to_le_bytes());
        self.mem.write(HDR, &hdr).unwrap();
        self.mem.write(STATUS, &[0xff]).unwrap();
        let mut bufs = vec![DriverBuf { addr: HDR, len: 16, write: false }];
        if data.len > 0 {
            bufs.push(data);
        }
        bufs.push(DriverBuf { addr: STATUS, len: 1, write: true });
        let head = self.q.add_chain(&mut self.mem, &bufs);
        guest_driver::notify(&mut self.t, &mut self.mem, 0);
        let (id, len) = self.q.pop_used(&self.mem).expect("request completed");
        assert_eq!(id, head as u32);
        (self.mem.slice(STATUS, 1).unwrap()[0], len)
    }
}

fn rd(addr: u64, len: u32) -> DriverBuf {
    DriverBuf { addr, len, write: true }
}
fn wr(addr: u64, len: u32) -> DriverBuf {
    DriverBuf { addr, len, write: false }
}

#[test]
fn config_reports_capacity_and_features() {
    let mut r = rig(false);
    assert_eq!(guest_driver::read_config(&mut r.t, 0, 8), 128u64.to_le_bytes());
    let ro = rig(true);
    assert_ne!(ro.t.offered_features() & VIRTIO_BLK_F_RO, 0);
    assert_eq!(r.t.offered_features() & VIRTIO_BLK_F_RO, 0);
}

#[test]
fn read_write_flush() {
    let mut r = rig(false);
    assert_eq!(r.request(VIRTIO_BLK_T_IN, 3, rd(DATA, 1024)), (VIRTIO_BLK_S_OK, 1025));
    assert_eq!(r.mem.slice(DATA, 1024).unwrap()[..512], [3u8; 512]);
    assert_eq!(r.mem.slice(DATA, 1024).unwrap()[512..], [4u8; 512]);

    r.mem.write(DATA, &[0xee; 512]).unwrap();
    assert_eq!(r.request(VIRTIO_BLK_T_OUT, 127, wr(DATA, 512)), (VIRTIO_BLK_S_OK, 1));
    assert_eq!(r.request(VIRTIO_BLK_T_FLUSH, 0, rd(0, 0)), (VIRTIO_BLK_S_OK, 1));
    let disk = std::fs::read(&r.image).unwrap();
    assert_eq!(disk[127 * 512..], [0xee; 512]);
    assert_eq!(disk[126 * 512..127 * 512], [126u8; 512]);
}

#[test]
fn get_id() {
    let mut r = rig(false);
    assert_eq!(r.request(VIRTIO_BLK_T_GET_ID, 0, rd(DATA, 20)), (VIRTIO_BLK_S_OK, 21));
    assert_eq!(&r.mem.slice(DATA, 20).unwrap()[..8], b"disk.img");
}

#[test]
fn bad_requests_get_ioerr() {
    let mut r = rig(false);
    // Past the end, straddling the end, overflowing sector arithmetic.
    assert_eq!(r.request(VIRTIO_BLK_T_IN, 128, rd(DATA, 512)).0, VIRTIO_BLK_S_IOERR);
    assert_eq!(r.request(VIRTIO_BLK_T_IN, 127, rd(DATA, 1024)).0, VIRTIO_BLK_S_IOERR);
    assert_eq!(r.request(VIRTIO_BLK_T_OUT, u64::MAX, wr(DATA, 512)).0, VIRTIO_BLK_S_IOERR);
    assert_eq!(r.request(VIRTIO_BLK_T_IN, u64::MAX / 512, rd(DATA, 512)).0, VIRTIO_BLK_S_IOERR);
    // Not a whole number of sectors.
    assert_eq!(r.request(VIRTIO_BLK_T_IN, 0, rd(DATA, 100)).0, VIRTIO_BLK_S_IOERR);
    // Unknown type.
    assert_eq!(r.request(99, 0, rd(0, 0)).0, VIRTIO_BLK_S_UNSUPP);
    // A header shorter than 16 bytes.
    r.mem.write(STATUS, &[0xff]).unwrap();
    let head = r.q.add_chain(&mut r.mem, &[wr(HDR, 8), rd(STATUS, 1)]);
    guest_driver::notify(&mut r.t, &mut r.mem, 0);
    assert_eq!(r.q.pop_used(&r.mem), Some((head as u32, 1)));
    assert_eq!(r.mem.slice(STATUS, 1).unwrap()[0], VIRTIO_BLK_S_IOERR);
    // No writable byte for the status at all: returned with length 0.
    let head = r.q.add_chain(&mut r.mem, &[wr(HDR, 16)]);
    guest_driver::notify(&mut r.t, &mut r.mem, 0);
    assert_eq!(r.q.pop_used(&r.mem), Some((head as u32, 0)));
    // The disk is unchanged.
    assert_eq!(std::fs::read(&r.image).unwrap()[127 * 512..], [127u8; 512]);
}

#[test]
fn read_only_disk_refuses_writes() {
    let mut r = rig(true);
    r.mem.write(DATA, &[0xee; 512]).unwrap();
    assert_eq!(r.request(VIRTIO_BLK_T_OUT, 0, wr(DATA, 512)).0, VIRTIO_BLK_S_IOERR);
    assert_eq!(r.request(VIRTIO_BLK_T_IN, 0, rd(DATA, 512)), (VIRTIO_BLK_S_OK, 513));
    assert_eq!(std::fs::read(&r.image).unwrap()[..512], [0u8; 512]);
}
