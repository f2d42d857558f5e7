//! Guest RAM full of fuzzer bytes under live virtqueues: the descriptor
//! table, rings, indirect tables and request contents are all hostile. Each
//! device (block, net, 9p) is driven through the MMIO transport; any panic
//! or hang is a bug.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netvm::backends::block::FileBlock;
use netvm::backends::fs::HostDir;
use netvm::backends::net::NoNet;
use netvm::devices::virtio::mmio::MmioTransport;
use netvm::devices::virtio::queue::{ChainReader, ChainWriter, Queue};
use netvm::devices::virtio::VirtioDevice;
use netvm::devices::{block::Block, net::Net, p9::P9, SharedIrq};
use netvm::memory::GuestMemory;

// A small RAM keeps inputs short: descriptor table (up to 128 entries) at
// 0, available ring at 0x800, used ring at 0xa00, buffers from 0x1000 on
// (the layout `fuzz/seeds/make-seeds.py` writes).
const RAM: usize = 16 * 1024;
const DESC: u64 = 0x0;
const AVAIL: u64 = 0x800;
const USED: u64 = 0xa00;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("netvm-fuzz-vq-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("share")).unwrap();
        std::fs::write(dir.join("disk.img"), vec![0u8; 64 * 512]).unwrap();
        dir
    })
}

fn wr(t: &mut MmioTransport, off: u64, v: u32) {
    t.write(off, &v.to_le_bytes());
}

/// Sets up every queue of `t` over the same rings and notifies them.
fn drive(device: Box<dyn VirtioDevice>, size: u16, event_idx: bool, mem: &mut GuestMemory) {
    let queues = device.queue_max_sizes().len();
    let mut t = MmioTransport::new(device, Box::new(SharedIrq::new()));
    wr(&mut t, 0x070, 1 | 2);
    wr(&mut t, 0x024, 0);
    wr(&mut t, 0x020, if event_idx { 1 << 29 } else { 0 } | 1 /* device bit 0 */);
    wr(&mut t, 0x024, 1);
    wr(&mut t, 0x020, 1);
    wr(&mut t, 0x070, 1 | 2 | 8);
    for q in 0..queues as u32 {
        wr(&mut t, 0x030, q);
        wr(&mut t, 0x038, size as u32);
        wr(&mut t, 0x080, DESC as u32);
        wr(&mut t, 0x090, AVAIL as u32);
        wr(&mut t, 0x0a0, USED as u32);
        wr(&mut t, 0x044, 1);
    }
    wr(&mut t, 0x070, 1 | 2 | 8 | 4);
    for q in 0..queues as u32 {
        wr(&mut t, 0x050, q);
        t.process(mem);
    }
    let mut b = [0u8; 4];
    t.read(0x060, &mut b);
    wr(&mut t, 0x064, u32::from_le_bytes(b));
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let size = 1u16 << (data[0] % 8); // 1..128
    let event_idx = data[1] & 1 != 0;
    let mut mem = GuestMemory::new(RAM);
    let n = (data.len() - 2).min(RAM);
    mem.as_mut_slice()[..n].copy_from_slice(&data[2..2 + n]);

    // The queue on its own: pop everything, read and write each chain.
    let mut q = Queue::new(128);
    q.size = size;
    q.desc_table = DESC;
    q.avail_ring = AVAIL;
    q.used_ring = USED;
    q.ready = true;
    q.event_idx = event_idx;
    for _ in 0..=size {
        match q.pop(&mem) {
            Ok(Some(chain)) => {
                let v = ChainReader::new(&mem, &chain).read_to_vec(1 << 16);
                ChainWriter::new(&mut mem, &chain).write(&v);
                let _ = q.add_used(&mut mem, chain.head, v.len() as u32);
            }
            Ok(None) => break,
            Err(_) => continue,
        }
    }
    let _ = q.needs_interrupt(&mem);

    let dir = scratch();
    let mut m = GuestMemory::new(RAM);
    m.as_mut_slice()[..n].copy_from_slice(&data[2..2 + n]);
    if let Ok(disk) = FileBlock::open(&dir.join("disk.img"), data[1] & 2 != 0) {
        drive(Box::new(Block::new(Box::new(disk))), size, event_idx, &mut m);
    }
    m.as_mut_slice()[..n].copy_from_slice(&data[2..2 + n]);
    drive(Box::new(Net::new([2, 0, 0, 0, 0, 1], Box::new(NoNet))), size, event_idx, &mut m);
    m.as_mut_slice()[..n].copy_from_slice(&data[2..2 + n]);
    if let Ok(share) = HostDir::new(&dir.join("share")) {
        drive(Box::new(P9::new("wasm0", Box::new(share)).unwrap()), size, event_idx, &mut m);
    }
});
