use super::*;
use crate::devices::virtio::guest_driver::{self, DriverBuf};
use crate::devices::virtio::queue::QueueError;
use crate::devices::SharedIrq;

/// A device that echoes readable bytes, reversed, into the writable part:
/// enough to exercise the transport on its own.
struct Echo {
    features: u64,
    acked: std::rc::Rc<std::cell::Cell<u64>>,
    config: [u8; 8],
}

impl VirtioDevice for Echo {
    fn device_type(&self) -> u32 {
        42
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[16, 8]
    }
    fn device_features(&self) -> u64 {
        self.features
    }
    fn ack_features(&mut self, f: u64) {
        self.acked.set(f);
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        crate::devices::block::read_bytes(&self.config, offset, data);
    }
    fn write_config(&mut self, offset: u64, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            if let Some(slot) = self.config.get_mut(offset as usize + i) {
                *slot = *b;
            }
        }
    }
    fn reset(&mut self) {}
    fn notify(&mut self, index: usize, queues: &mut Queues) -> Result<(), QueueError> {
        while let Some(chain) = queues.pop(index)? {
            let mut data = super::super::queue::ChainReader::new(queues.mem(), &chain).read_to_vec(4096);
            data.reverse();
            let mut w = super::super::queue::ChainWriter::new(queues.mem(), &chain);
            w.write(&data);
            let n = w.written();
            queues.add_used(index, chain.head, n)?;
        }
        Ok(())
    }
}

fn echo() -> (MmioTransport, SharedIrq, std::rc::Rc<std::cell::Cell<u64>>) {
    let irq = SharedIrq::new();
    let acked = std::rc::Rc::new(std::cell::Cell::new(0));
    let dev = Echo { features: 1 << 3, acked: acked.clone(), config: *b"cfgbytes" };
    (MmioTransport::new(Box::new(dev), Box::new(irq.clone())), irq, acked)
}

fn rd(t: &mut MmioTransport, off: u64) -> u32 {
    let mut b = [0; 4];
    t.read(off, &mut b);
    u32::from_le_bytes(b)
}

#[test]
fn identification_registers() {
    let (mut t, _, _) = echo();
    assert_eq!(rd(&mut t, 0x000), 0x7472_6976);
    assert_eq!(rd(&mut t, 0x004), 2);
    assert_eq!(rd(&mut t, 0x008), 42);
    t.write(0x014, &1u32.to_le_bytes());
    assert_eq!(rd(&mut t, 0x010), 1, "VERSION_1 is bit 32");
    t.write(0x014, &0u32.to_le_bytes());
    assert_eq!(rd(&mut t, 0x010), (1 << 3) | (1 << 28) | (1 << 29));
    t.write(0x030, &1u32.to_le_bytes());
    assert_eq!(rd(&mut t, 0x034), 8);
    t.write(0x030, &7u32.to_le_bytes());
    assert_eq!(rd(&mut t, 0x034), 0, "no such queue");
    assert_eq!(rd(&mut t, 0x0b0), u32::MAX, "no shared memory regions");
    // Narrow register accesses are ignored, not fatal.
    let mut b = [0xaa; 2];
    t.read(0x000, &mut b);
    assert_eq!(b, [0, 0]);
}

#[test]
fn negotiation_queue_and_interrupts() {
    let (mut t, irq, acked) = echo();
    let mut mem = GuestMemory::new(1 << 20);
    let (mut qs, free) =
        guest_driver::init_device(&mut t, (1 << 3) | VIRTIO_F_RING_EVENT_IDX, &[16, 8], 0x1000).unwrap();
    assert_eq!(acked.get(), (1 << 3) | VIRTIO_F_RING_EVENT_IDX | VIRTIO_F_VERSION_1);
    assert_eq!(t.status() & STATUS_DRIVER_OK, STATUS_DRIVER_OK);
    mem.write(free, b"hello").unwrap();
    let head = qs[1].add_chain(
        &mut mem,
        &[DriverBuf { addr: free, len: 5, write: false }, DriverBuf { addr: free + 0x100, len: 16, write: true }],
    );
    assert!(!irq.is_asserted());
    guest_driver::notify(&mut t, &mut mem, 1);
    assert_eq!(qs[1].pop_used(&mem), Some((head as u32, 5)));
    assert_eq!(mem.slice(free + 0x100, 5).unwrap(), b"olleh");
    assert!(irq.is_asserted());
    assert_eq!(guest_driver::ack_interrupt(&mut t), INT_USED_BUFFER);
    assert!(!irq.is_asserted());
    // Config space reads and writes.
    assert_eq!(guest_driver::read_config(&mut t, 3, 5), b"bytes");
    t.write(0x100, b"CF");
    assert_eq!(guest_driver::read_config(&mut t, 0, 4), b"CFgb");
    assert_eq!(guest_driver::read_config(&mut t, 6, 4), b"es\0\0", "past the end reads 0");
    // Reset clears status and queues.
    t.write(0x070, &0u32.to_le_bytes());
    assert_eq!(t.status(), 0);
    t.write(0x030, &0u32.to_le_bytes());
    assert_eq!(rd(&mut t, 0x044), 0, "queue not ready after reset");
}

#[test]
fn features_not_offered_are_refused() {
    let (mut t, _, _) = echo();
    t.write(0x070, &(STATUS_ACKNOWLEDGE | STATUS_DRIVER).to_le_bytes());
    t.write(0x024, &0u32.to_le_bytes());
    t.write(0x020, &(1u32 << 5).to_le_bytes());
    t.write(0x024, &1u32.to_le_bytes());
    t.write(0x020, &1u32.to_le_bytes());
    t.write(0x070, &(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK).to_le_bytes());
    assert_eq!(rd(&mut t, 0x070) & STATUS_FEATURES_OK, 0, "bit 5 was never offered");
    // Legacy drivers (no VERSION_1) are refused too.
    let (mut t, _, _) = echo();
    t.write(0x070, &(STATUS_ACKNOWLEDGE | STATUS_DRIVER).to_le_bytes());
    t.write(0x070, &(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK).to_le_bytes());
    assert_eq!(rd(&mut t, 0x070) & STATUS_FEATURES_OK, 0);
}

#[test]
fn broken_ring_sets_needs_reset() {
    let (mut t, irq, _) = echo();
    let mut mem = GuestMemory::new(1 << 20);
    let (mut qs, _) = guest_driver::init_device(&mut t, 0, &[16, 8], 0x1000).unwrap();
    qs[0].set_avail_idx(&mut mem, 5000);
    guest_driver::notify(&mut t, &mut mem, 0);
    assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert!(irq.is_asserted());
    assert_eq!(guest_driver::ack_interrupt(&mut t), INT_CONFIG_CHANGE);
    // Further notifies do nothing until reset.
    guest_driver::notify(&mut t, &mut mem, 0);
    assert!(!irq.is_asserted());
    // Notifying a queue that does not exist is ignored.
    t.write(0x050, &999u32.to_le_bytes());
    t.process(&mut mem);
}

#[test]
fn malformed_chain_is_returned_with_zero_length() {
    let (mut t, _, _) = echo();
    let mut mem = GuestMemory::new(1 << 20);
    let (mut qs, _) = guest_driver::init_device(&mut t, 0, &[16, 8], 0x1000).unwrap();
    let q = &mut qs[0];
    q.write_desc(&mut mem, 0, 0x8000, 1, 1, 0); // loops onto itself
    q.push_avail(&mut mem, 0);
    guest_driver::notify(&mut t, &mut mem, 0);
    assert_eq!(q.pop_used(&mem), Some((0, 0)));
    assert_eq!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0, "one bad chain does not break the device");
}

#[test]
fn queue_registers_are_frozen_while_ready() {
    let (mut t, _, _) = echo();
    let mut mem = GuestMemory::new(1 << 20);
    let (qs, _) = guest_driver::init_device(&mut t, 0, &[16, 8], 0x1000).unwrap();
    t.write(0x030, &0u32.to_le_bytes());
    t.write(0x080, &0xdead_0000u32.to_le_bytes());
    // The queue still works at its original address.
    let mut q = qs[0].clone();
    let head = q.add_chain(&mut mem, &[DriverBuf { addr: 0x9000, len: 4, write: true }]);
    guest_driver::notify(&mut t, &mut mem, 0);
    assert_eq!(q.pop_used(&mem), Some((head as u32, 0)));
}

#[test]
fn cmdline_entry() {
    assert_eq!(kernel_cmdline_entry(0xfeb0_0000, MMIO_SIZE, 5), "virtio_mmio.device=0x200@0xfeb00000:5");
}
