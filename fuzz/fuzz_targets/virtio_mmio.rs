//! Arbitrary sequences of guest register accesses to a virtio-mmio device
//! (any offset, width and value, in any order: resets mid-setup, queue
//! registers after QueueReady, notifies of missing queues), interleaved with
//! queue processing over RAM the same input fills. Any panic or hang is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvm::backends::net::NoNet;
use netvm::devices::net::Net;
use netvm::devices::virtio::mmio::MmioTransport;
use netvm::devices::SharedIrq;
use netvm::memory::GuestMemory;

const RAM: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut mem = GuestMemory::new(RAM);
    let n = data.len().min(RAM);
    mem.as_mut_slice()[..n].copy_from_slice(&data[..n]);
    let mut t = MmioTransport::new(Box::new(Net::new([2, 0, 0, 0, 0, 1], Box::new(NoNet))), Box::new(SharedIrq::new()));
    // Each access: op (bit 0 read/write, bits 1-2 width), offset u16, value u32.
    for access in data.chunks_exact(7).take(512) {
        let width = [1usize, 2, 4, 8][((access[0] >> 1) & 3) as usize];
        let offset = u16::from_le_bytes([access[1], access[2]]) as u64 % 0x200;
        let mut value = [0u8; 8];
        value[..4].copy_from_slice(&access[3..7]);
        if access[0] & 1 == 0 {
            t.write(offset, &value[..width]);
        } else {
            t.read(offset, &mut value[..width]);
        }
        if access[0] & 0x80 != 0 {
            t.process(&mut mem);
        }
    }
    t.process(&mut mem);
});
