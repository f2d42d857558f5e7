//! The driver side of the virtio-mmio transport and split virtqueue, as a
//! guest kernel implements it (Linux drivers/virtio/virtio_mmio.c and
//! virtio_ring.c): register writes in the §3.1.1 initialization order,
//! descriptors written into guest RAM, the available index bumped, the used
//! ring read back. Unit tests, integration tests and fuzz targets drive
//! devices through it exactly as the guest would.

use crate::memory::GuestMemory;

use super::mmio::MmioTransport;
use super::queue::{VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
use super::*;

/// One buffer of a chain the driver builds.
#[derive(Debug, Clone, Copy)]
pub struct DriverBuf {
    pub addr: u64,
    pub len: u32,
    /// Device-writable.
    pub write: bool,
}

/// Where one queue's rings live in guest RAM, and the driver's positions.
#[derive(Debug, Clone)]
pub struct DriverQueue {
    pub index: u32,
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    next_desc: u16,
    avail_idx: u16,
    last_used: u16,
}

impl DriverQueue {
    /// Lays the rings out from `base` (16-byte aligned) and returns the queue
    /// plus the first free address after them.
    pub fn layout(index: u32, size: u16, base: u64) -> (DriverQueue, u64) {
        let desc = base;
        let avail = desc + 16 * size as u64;
        let used = (avail + 6 + 2 * size as u64 + 3) & !3;
        let end = (used + 6 + 8 * size as u64 + 15) & !15;
        (DriverQueue { index, size, desc, avail, used, next_desc: 0, avail_idx: 0, last_used: 0 }, end)
    }

    /// Writes raw descriptor `i` of the table.
    pub fn write_desc(&self, mem: &mut GuestMemory, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = self.desc + 16 * i as u64;
        mem.write_u64(at, addr).unwrap();
        mem.write_u32(at + 8, len).unwrap();
        mem.write_u16(at + 12, flags).unwrap();
        mem.write_u16(at + 14, next).unwrap();
    }

    /// Makes `head` available (§2.7.13).
    pub fn push_avail(&mut self, mem: &mut GuestMemory, head: u16) {
        let slot = (self.avail_idx % self.size) as u64;
        mem.write_u16(self.avail + 4 + 2 * slot, head).unwrap();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.write_u16(self.avail + 2, self.avail_idx).unwrap();
    }

    /// Sets the available index directly (to test hostile values).
    pub fn set_avail_idx(&mut self, mem: &mut GuestMemory, idx: u16) {
        self.avail_idx = idx;
        mem.write_u16(self.avail + 2, idx).unwrap();
    }

    /// Builds a chain from consecutive free descriptors and makes it available.
    pub fn add_chain(&mut self, mem: &mut GuestMemory, bufs: &[DriverBuf]) -> u16 {
        let head = self.next_desc;
        for (n, b) in bufs.iter().enumerate() {
            let i = (head as usize + n) as u16 % self.size;
            let last = n + 1 == bufs.len();
            let flags = if b.write { VIRTQ_DESC_F_WRITE } else { 0 } | if last { 0 } else { VIRTQ_DESC_F_NEXT };
            self.write_desc(mem, i, b.addr, b.len, flags, (i + 1) % self.size);
        }
        self.next_desc = (head as usize + bufs.len()) as u16 % self.size;
        self.push_avail(mem, head);
        head
    }

    /// Builds a chain as an indirect table at `table` (§2.7.5.3), using one
    /// descriptor of the ring.
    pub fn add_indirect(&mut self, mem: &mut GuestMemory, table: u64, bufs: &[DriverBuf]) -> u16 {
        for (n, b) in bufs.iter().enumerate() {
            let at = table + 16 * n as u64;
            let last = n + 1 == bufs.len();
            let flags = if b.write { VIRTQ_DESC_F_WRITE } else { 0 } | if last { 0 } else { VIRTQ_DESC_F_NEXT };
            mem.write_u64(at, b.addr).unwrap();
            mem.write_u32(at + 8, b.len).unwrap();
            mem.write_u16(at + 12, flags).unwrap();
            mem.write_u16(at + 14, n as u16 + 1).unwrap();
        }
        let head = self.next_desc;
        self.write_desc(mem, head, table, 16 * bufs.len() as u32, VIRTQ_DESC_F_INDIRECT, 0);
        self.next_desc = (head + 1) % self.size;
        self.push_avail(mem, head);
        head
    }

    /// The next used element `(id, len)` the device returned, if any.
    pub fn pop_used(&mut self, mem: &GuestMemory) -> Option<(u32, u32)> {
        let used_idx = mem.read_u16(self.used + 2).unwrap();
        if used_idx == self.last_used {
            return None;
        }
        let slot = (self.last_used % self.size) as u64;
        let id = mem.read_u32(self.used + 4 + 8 * slot).unwrap();
        let len = mem.read_u32(self.used + 8 + 8 * slot).unwrap();
        self.last_used = self.last_used.wrapping_add(1);
        Some((id, len))
    }
}

fn rd(t: &mut MmioTransport, offset: u64) -> u32 {
    let mut b = [0; 4];
    t.read(offset, &mut b);
    u32::from_le_bytes(b)
}

fn wr(t: &mut MmioTransport, offset: u64, value: u32) {
    t.write(offset, &value.to_le_bytes());
}

/// Runs the §3.1.1 initialization sequence: reset, ACKNOWLEDGE, DRIVER,
/// accept `wanted` ∩ offered features (VERSION_1 always), FEATURES_OK, set
/// up `queues` with rings from `ring_base`, DRIVER_OK. Returns the queues
/// and the first free guest address after their rings.
pub fn init_device(
    t: &mut MmioTransport,
    wanted: u64,
    queue_sizes: &[u16],
    ring_base: u64,
) -> Result<(Vec<DriverQueue>, u64), String> {
    if rd(t, 0x000) != 0x7472_6976 || rd(t, 0x004) != 2 {
        return Err("not a modern virtio-mmio device".into());
    }
    wr(t, 0x070, 0);
    wr(t, 0x070, STATUS_ACKNOWLEDGE);
    wr(t, 0x070, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    wr(t, 0x014, 0);
    let mut offered = rd(t, 0x010) as u64;
    wr(t, 0x014, 1);
    offered |= (rd(t, 0x010) as u64) << 32;
    let accepted = offered & (wanted | VIRTIO_F_VERSION_1);
    wr(t, 0x024, 0);
    wr(t, 0x020, accepted as u32);
    wr(t, 0x024, 1);
    wr(t, 0x020, (accepted >> 32) as u32);
    let s = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK;
    wr(t, 0x070, s);
    if rd(t, 0x070) & STATUS_FEATURES_OK == 0 {
        return Err("device refused FEATURES_OK".into());
    }
    let mut base = ring_base;
    let mut out = Vec::new();
    for (i, &size) in queue_sizes.iter().enumerate() {
        wr(t, 0x030, i as u32);
        let max = rd(t, 0x034);
        if max == 0 || (size as u32) > max {
            return Err(format!("queue {i}: size {size} > max {max}"));
        }
        let (q, next) = DriverQueue::layout(i as u32, size, base);
        base = next;
        wr(t, 0x038, size as u32);
        wr(t, 0x080, q.desc as u32);
        wr(t, 0x084, (q.desc >> 32) as u32);
        wr(t, 0x090, q.avail as u32);
        wr(t, 0x094, (q.avail >> 32) as u32);
        wr(t, 0x0a0, q.used as u32);
        wr(t, 0x0a4, (q.used >> 32) as u32);
        wr(t, 0x044, 1);
        out.push(q);
    }
    wr(t, 0x070, s | STATUS_DRIVER_OK);
    Ok((out, base))
}

/// Notifies queue `index` (QueueNotify) and lets the device run.
pub fn notify(t: &mut MmioTransport, mem: &mut GuestMemory, index: u32) {
    wr(t, 0x050, index);
    t.process(mem);
}

/// Reads and acknowledges InterruptStatus, as the guest's interrupt handler does.
pub fn ack_interrupt(t: &mut MmioTransport) -> u32 {
    let status = rd(t, 0x060);
    wr(t, 0x064, status);
    status
}

/// Reads `len` bytes of device config space.
pub fn read_config(t: &mut MmioTransport, offset: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    t.read(0x100 + offset, &mut v);
    v
}
