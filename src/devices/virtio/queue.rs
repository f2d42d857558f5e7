//! The split virtqueue (virtio 1.2 §2.7), device side.
//!
//! Everything in the rings is written by the guest and is hostile: every
//! index is checked against the queue size, every buffer address and length
//! against guest RAM, and a descriptor chain is walked at most as many steps
//! as it can legally have, so a cycle is an error rather than a hang.
//! Chains are collected eagerly into a [`DescriptorChain`] (a list of
//! validated buffers, like QEMU's `VirtQueueElement`), which devices then read
//! with [`ChainReader`] and fill with [`ChainWriter`].

use std::fmt;

use crate::memory::{GuestMemory, MemoryError};

/// Descriptor flag: the chain continues in `next` (§2.7.5).
pub const VIRTQ_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the buffer is device-writable (§2.7.5).
pub const VIRTQ_DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer is a table of descriptors (§2.7.5.3).
pub const VIRTQ_DESC_F_INDIRECT: u16 = 4;
/// Available ring flag: the driver asks for no interrupts (§2.7.7).
pub const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Largest queue size the split ring format allows (§2.7: "Queue Size ... maximum 32768").
pub const MAX_QUEUE_SIZE: u16 = 32768;
/// Size of one descriptor in the table (§2.7.5).
const DESC_SIZE: u64 = 16;
/// Largest indirect table we walk; Linux never builds one larger than a queue.
const MAX_INDIRECT_DESCS: u64 = MAX_QUEUE_SIZE as u64;

/// Why a queue or a chain is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// A ring structure itself is outside guest RAM.
    Memory(MemoryError),
    /// The driver claims more new buffers than the queue holds (§2.7.6).
    AvailIdx { avail_idx: u16, next_avail: u16, size: u16 },
    /// A descriptor index from the ring or a `next` field is out of range.
    DescIndex { index: u16, size: u16 },
    /// The chain visits more descriptors than exist: a cycle.
    Cycle { head: u16 },
    /// An indirect descriptor whose table length is empty, not a multiple of
    /// 16, or too large (§2.7.5.3.1).
    IndirectLen { len: u32 },
    /// An indirect table inside an indirect table, or INDIRECT combined with
    /// NEXT (§2.7.5.3.1 forbids both).
    NestedIndirect,
    /// A device-readable buffer after a device-writable one (§2.7.4.2).
    ReadableAfterWritable,
    /// A buffer outside guest RAM.
    Buffer(MemoryError),
    /// The queue was not set up with a valid size and aligned rings.
    NotReady,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Memory(e) => write!(f, "virtqueue ring: {e}"),
            QueueError::AvailIdx { avail_idx, next_avail, size } => {
                write!(f, "available index {avail_idx} is more than queue size {size} ahead of {next_avail}")
            }
            QueueError::DescIndex { index, size } => {
                write!(f, "descriptor index {index} out of range for queue size {size}")
            }
            QueueError::Cycle { head } => write!(f, "descriptor chain starting at {head} loops"),
            QueueError::IndirectLen { len } => write!(f, "bad indirect descriptor table length {len}"),
            QueueError::NestedIndirect => write!(f, "nested or chained indirect descriptor"),
            QueueError::ReadableAfterWritable => {
                write!(f, "device-readable descriptor after a device-writable one")
            }
            QueueError::Buffer(e) => write!(f, "descriptor buffer: {e}"),
            QueueError::NotReady => write!(f, "queue used before it was set up"),
        }
    }
}

impl std::error::Error for QueueError {}

/// One validated buffer of a chain: `len` bytes at guest address `addr`,
/// all inside guest RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    pub addr: u64,
    pub len: u32,
}

/// A descriptor chain taken from the available ring, its buffers split into
/// the device-readable part (driver → device) and the device-writable part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorChain {
    /// Head descriptor index, returned in the used ring.
    pub head: u16,
    pub readable: Vec<Buffer>,
    pub writable: Vec<Buffer>,
}

impl DescriptorChain {
    /// Total bytes the driver gave the device to read.
    pub fn readable_len(&self) -> u64 {
        self.readable.iter().map(|b| b.len as u64).sum()
    }

    /// Total bytes the device may write.
    pub fn writable_len(&self) -> u64 {
        self.writable.iter().map(|b| b.len as u64).sum()
    }
}

/// What [`Queue::pop`] can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PopError {
    /// The chain at `head` is malformed; the head was consumed and should be
    /// returned to the driver with length 0 so it is not stuck waiting.
    Chain { head: u16, error: QueueError },
    /// The rings themselves are broken; the device needs a reset (§2.1.2).
    Fatal(QueueError),
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopError::Chain { head, error } => write!(f, "chain at head {head}: {error}"),
            PopError::Fatal(e) => write!(f, "{e}"),
        }
    }
}

/// A raw descriptor as it sits in guest memory (§2.7.5).
#[derive(Debug, Clone, Copy)]
struct RawDesc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

fn read_desc(mem: &GuestMemory, table: u64, index: u64) -> Result<RawDesc, MemoryError> {
    let at = table.checked_add(index * DESC_SIZE).ok_or(MemoryError {
        addr: table,
        len: DESC_SIZE,
        ram_size: mem.size(),
    })?;
    let raw = mem.slice(at, DESC_SIZE)?;
    Ok(RawDesc {
        addr: u64::from_le_bytes(raw[0..8].try_into().unwrap()),
        len: u32::from_le_bytes(raw[8..12].try_into().unwrap()),
        flags: u16::from_le_bytes(raw[12..14].try_into().unwrap()),
        next: u16::from_le_bytes(raw[14..16].try_into().unwrap()),
    })
}

/// One split virtqueue: the registers the driver programs through the
/// transport plus the device's private ring positions.
#[derive(Debug, Clone)]
pub struct Queue {
    /// Largest size the device offers (QueueNumMax).
    pub max_size: u16,
    /// Size the driver chose (QueueNum).
    pub size: u16,
    /// QueueReady.
    pub ready: bool,
    /// Guest addresses of the descriptor table, available ring ("driver
    /// area") and used ring ("device area").
    pub desc_table: u64,
    pub avail_ring: u64,
    pub used_ring: u64,
    /// VIRTIO_F_EVENT_IDX negotiated (§2.7.7.2, §2.7.10).
    pub event_idx: bool,
    next_avail: u16,
    next_used: u16,
    /// `next_used` when the driver was last interrupted, for event idx.
    signalled_used: Option<u16>,
}

impl Queue {
    pub fn new(max_size: u16) -> Queue {
        Queue {
            max_size,
            size: max_size,
            ready: false,
            desc_table: 0,
            avail_ring: 0,
            used_ring: 0,
            event_idx: false,
            next_avail: 0,
            next_used: 0,
            signalled_used: None,
        }
    }

    /// Back to the state after device reset (§4.2.3.1: registers read 0 but
    /// QueueNumMax).
    pub fn reset(&mut self) {
        *self = Queue::new(self.max_size);
    }

    /// Whether the driver's settings are usable: size a power of two no larger
    /// than the maximum, rings aligned as §2.7 (table 16, available 2, used 4)
    /// requires, and all three rings inside guest RAM.
    pub fn is_valid(&self, mem: &GuestMemory) -> bool {
        let size = self.size as u64;
        self.ready
            && self.size != 0
            && self.size <= self.max_size
            && self.size.is_power_of_two()
            && self.desc_table % 16 == 0
            && self.avail_ring % 2 == 0
            && self.used_ring % 4 == 0
            && mem.check_range(self.desc_table, DESC_SIZE * size).is_ok()
            && mem.check_range(self.avail_ring, 6 + 2 * size).is_ok()
            && mem.check_range(self.used_ring, 6 + 8 * size).is_ok()
    }

    fn avail_idx(&self, mem: &GuestMemory) -> Result<u16, QueueError> {
        mem.read_u16(self.avail_ring + 2).map_err(QueueError::Memory)
    }

    /// Number of chains the driver has made available and we have not taken.
    pub fn pending(&self, mem: &GuestMemory) -> Result<u16, QueueError> {
        if !self.is_valid(mem) {
            return Err(QueueError::NotReady);
        }
        let avail_idx = self.avail_idx(mem)?;
        let pending = avail_idx.wrapping_sub(self.next_avail);
        if pending > self.size {
            return Err(QueueError::AvailIdx { avail_idx, next_avail: self.next_avail, size: self.size });
        }
        Ok(pending)
    }

    /// Takes the next available chain, or `Ok(None)` when there is none.
    pub fn pop(&mut self, mem: &GuestMemory) -> Result<Option<DescriptorChain>, PopError> {
        if self.pending(mem).map_err(PopError::Fatal)? == 0 {
            return Ok(None);
        }
        let slot = (self.next_avail % self.size) as u64;
        let head = mem.read_u16(self.avail_ring + 4 + 2 * slot).map_err(|e| PopError::Fatal(QueueError::Memory(e)))?;
        if head >= self.size {
            return Err(PopError::Fatal(QueueError::DescIndex { index: head, size: self.size }));
        }
        self.next_avail = self.next_avail.wrapping_add(1);
        self.walk_chain(mem, head).map(Some).map_err(|error| PopError::Chain { head, error })
    }

    /// Puts a chain back so the next `pop` returns it again (used when a
    /// device cannot finish it yet, e.g. no receive room).
    pub fn undo_pop(&mut self) {
        self.next_avail = self.next_avail.wrapping_sub(1);
    }

    fn walk_chain(&self, mem: &GuestMemory, head: u16) -> Result<DescriptorChain, QueueError> {
        let mut chain = DescriptorChain { head, readable: Vec::new(), writable: Vec::new() };
        let mut index = head;
        // A legal chain visits each descriptor of the table at most once.
        let mut budget = self.size as u32;
        loop {
            if budget == 0 {
                return Err(QueueError::Cycle { head });
            }
            budget -= 1;
            let desc = read_desc(mem, self.desc_table, index as u64).map_err(QueueError::Memory)?;
            if desc.flags & VIRTQ_DESC_F_INDIRECT != 0 {
                // §2.7.5.3.1: the driver MUST NOT set INDIRECT and NEXT together.
                if desc.flags & VIRTQ_DESC_F_NEXT != 0 {
                    return Err(QueueError::NestedIndirect);
                }
                self.walk_indirect(mem, desc, &mut chain)?;
                return Ok(chain);
            }
            push_buffer(mem, &mut chain, desc)?;
            if desc.flags & VIRTQ_DESC_F_NEXT == 0 {
                return Ok(chain);
            }
            if desc.next >= self.size {
                return Err(QueueError::DescIndex { index: desc.next, size: self.size });
            }
            index = desc.next;
        }
    }

    fn walk_indirect(&self, mem: &GuestMemory, desc: RawDesc, chain: &mut DescriptorChain) -> Result<(), QueueError> {
        let len = desc.len as u64;
        if len == 0 || len % DESC_SIZE != 0 || len / DESC_SIZE > MAX_INDIRECT_DESCS {
            return Err(QueueError::IndirectLen { len: desc.len });
        }
        mem.check_range(desc.addr, len).map_err(QueueError::Buffer)?;
        let count = len / DESC_SIZE;
        // §2.7.5.3.2: an indirect table's chain starts at entry 0.
        let mut index = 0u64;
        for _ in 0..count {
            let d = read_desc(mem, desc.addr, index).map_err(QueueError::Memory)?;
            if d.flags & VIRTQ_DESC_F_INDIRECT != 0 {
                return Err(QueueError::NestedIndirect);
            }
            push_buffer(mem, chain, d)?;
            if d.flags & VIRTQ_DESC_F_NEXT == 0 {
                return Ok(());
            }
            if d.next as u64 >= count {
                return Err(QueueError::DescIndex { index: d.next, size: count as u16 });
            }
            index = d.next as u64;
        }
        Err(QueueError::Cycle { head: chain.head })
    }

    /// Returns a finished chain to the driver with `len` bytes written
    /// (§2.7.8), and, with event idx, publishes `avail_event`.
    pub fn add_used(&mut self, mem: &mut GuestMemory, head: u16, len: u32) -> Result<(), QueueError> {
        if !self.is_valid(mem) {
            return Err(QueueError::NotReady);
        }
        let slot = (self.next_used % self.size) as u64;
        let elem = self.used_ring + 4 + 8 * slot;
        mem.write_u32(elem, head as u32).map_err(QueueError::Memory)?;
        mem.write_u32(elem + 4, len).map_err(QueueError::Memory)?;
        self.next_used = self.next_used.wrapping_add(1);
        mem.write_u16(self.used_ring + 2, self.next_used).map_err(QueueError::Memory)?;
        if self.event_idx {
            let avail_event = self.used_ring + 4 + 8 * self.size as u64;
            mem.write_u16(avail_event, self.next_avail).map_err(QueueError::Memory)?;
        }
        Ok(())
    }

    /// Whether the driver wants an interrupt for what was added to the used
    /// ring since the last one: the NO_INTERRUPT flag (§2.7.7), or with event
    /// idx the `used_event` threshold (§2.7.10, `vring_need_event`).
    pub fn needs_interrupt(&mut self, mem: &GuestMemory) -> bool {
        if !self.event_idx {
            return match mem.read_u16(self.avail_ring) {
                Ok(flags) => flags & VIRTQ_AVAIL_F_NO_INTERRUPT == 0,
                Err(_) => true,
            };
        }
        let new = self.next_used;
        let old = self.signalled_used.replace(new);
        let Some(old) = old else { return true };
        let used_event = match mem.read_u16(self.avail_ring + 4 + 2 * self.size as u64) {
            Ok(v) => v,
            Err(_) => return true,
        };
        new.wrapping_sub(used_event).wrapping_sub(1) < new.wrapping_sub(old)
    }

    /// Device-private positions, for tests and state inspection.
    pub fn next_avail(&self) -> u16 {
        self.next_avail
    }
    pub fn next_used(&self) -> u16 {
        self.next_used
    }
}

fn push_buffer(mem: &GuestMemory, chain: &mut DescriptorChain, d: RawDesc) -> Result<(), QueueError> {
    mem.check_range(d.addr, d.len as u64).map_err(QueueError::Buffer)?;
    let buffer = Buffer { addr: d.addr, len: d.len };
    if d.flags & VIRTQ_DESC_F_WRITE != 0 {
        chain.writable.push(buffer);
    } else {
        if !chain.writable.is_empty() {
            return Err(QueueError::ReadableAfterWritable);
        }
        chain.readable.push(buffer);
    }
    Ok(())
}

/// Reads the device-readable part of a chain as one byte stream.
pub struct ChainReader<'a> {
    mem: &'a GuestMemory,
    buffers: &'a [Buffer],
    /// Offset into `buffers[0]`.
    offset: u32,
}

impl<'a> ChainReader<'a> {
    pub fn new(mem: &'a GuestMemory, chain: &'a DescriptorChain) -> ChainReader<'a> {
        ChainReader { mem, buffers: &chain.readable, offset: 0 }
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> u64 {
        self.buffers.iter().map(|b| b.len as u64).sum::<u64>() - self.offset as u64
    }

    /// Fills `out` as far as the chain allows; returns how many bytes were read.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let mut done = 0;
        while done < out.len() {
            let Some(buf) = self.buffers.first() else { break };
            let left = buf.len - self.offset;
            if left == 0 {
                self.buffers = &self.buffers[1..];
                self.offset = 0;
                continue;
            }
            let n = left.min((out.len() - done) as u32);
            // In range: validated when the chain was built.
            let src = self.mem.slice(buf.addr + self.offset as u64, n as u64).unwrap_or(&[]);
            if src.len() != n as usize {
                break;
            }
            out[done..done + n as usize].copy_from_slice(src);
            done += n as usize;
            self.offset += n;
        }
        done
    }

    /// Reads exactly `out.len()` bytes or returns `None` (a short request).
    pub fn read_exact(&mut self, out: &mut [u8]) -> Option<()> {
        (self.read(out) == out.len()).then_some(())
    }

    /// Reads everything left, at most `limit` bytes.
    pub fn read_to_vec(&mut self, limit: usize) -> Vec<u8> {
        let n = (self.remaining() as usize).min(limit);
        let mut v = vec![0; n];
        let got = self.read(&mut v);
        v.truncate(got);
        v
    }
}

/// Writes into the device-writable part of a chain as one byte stream.
pub struct ChainWriter<'a> {
    mem: &'a mut GuestMemory,
    buffers: &'a [Buffer],
    offset: u32,
    written: u32,
}

impl<'a> ChainWriter<'a> {
    pub fn new(mem: &'a mut GuestMemory, chain: &'a DescriptorChain) -> ChainWriter<'a> {
        ChainWriter { mem, buffers: &chain.writable, offset: 0, written: 0 }
    }

    /// Room left.
    pub fn remaining(&self) -> u64 {
        self.buffers.iter().map(|b| b.len as u64).sum::<u64>() - self.offset as u64
    }

    /// Bytes written so far (the used-ring length).
    pub fn written(&self) -> u32 {
        self.written
    }

    /// Writes as much of `data` as fits; returns how many bytes were written.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let mut done = 0;
        while done < data.len() {
            let Some(buf) = self.buffers.first() else { break };
            let left = buf.len - self.offset;
            if left == 0 {
                self.buffers = &self.buffers[1..];
                self.offset = 0;
                continue;
            }
            let n = left.min((data.len() - done) as u32);
            let Ok(dst) = self.mem.slice_mut(buf.addr + self.offset as u64, n as u64) else { break };
            dst.copy_from_slice(&data[done..done + n as usize]);
            done += n as usize;
            self.offset += n;
            self.written = self.written.saturating_add(n);
        }
        done
    }

    /// Writes all of `data` or returns `None` when the chain is too short.
    pub fn write_all(&mut self, data: &[u8]) -> Option<()> {
        (self.write(data) == data.len()).then_some(())
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
