use super::*;
use crate::devices::virtio::guest_driver::{DriverBuf, DriverQueue};

const RAM: usize = 1 << 20;

fn setup(size: u16) -> (GuestMemory, Queue, DriverQueue) {
    let mem = GuestMemory::new(RAM);
    let (dq, _) = DriverQueue::layout(0, size, 0x1000);
    let mut q = Queue::new(size);
    q.size = size;
    q.desc_table = dq.desc;
    q.avail_ring = dq.avail;
    q.used_ring = dq.used;
    q.ready = true;
    (mem, q, dq)
}

fn r(addr: u64, len: u32) -> DriverBuf {
    DriverBuf { addr, len, write: false }
}
fn w(addr: u64, len: u32) -> DriverBuf {
    DriverBuf { addr, len, write: true }
}

fn chain_err(q: &mut Queue, mem: &GuestMemory) -> QueueError {
    match q.pop(mem) {
        Err(PopError::Chain { error, .. }) => error,
        other => panic!("expected a chain error, got {other:?}"),
    }
}

#[test]
fn pops_a_chain_and_returns_it() {
    let (mut mem, mut q, mut dq) = setup(8);
    mem.write(0x8000, b"request").unwrap();
    let head = dq.add_chain(&mut mem, &[r(0x8000, 7), w(0x9000, 100), w(0xa000, 28)]);
    let chain = q.pop(&mem).unwrap().unwrap();
    assert_eq!(chain.head, head);
    assert_eq!(chain.readable, [Buffer { addr: 0x8000, len: 7 }]);
    assert_eq!(chain.writable_len(), 128);
    assert_eq!(q.pop(&mem).unwrap(), None, "nothing more");
    q.add_used(&mut mem, chain.head, 5).unwrap();
    assert_eq!(dq.pop_used(&mem), Some((head as u32, 5)));
}

#[test]
fn reader_and_writer_span_buffers() {
    let (mut mem, mut q, mut dq) = setup(8);
    mem.write(0x8000, b"abc").unwrap();
    mem.write(0x8100, b"defgh").unwrap();
    dq.add_chain(&mut mem, &[r(0x8000, 3), r(0x8100, 5), w(0x9000, 2), w(0x9100, 4)]);
    let chain = q.pop(&mem).unwrap().unwrap();
    let mut reader = ChainReader::new(&mem, &chain);
    let mut buf = [0u8; 6];
    assert_eq!(reader.read(&mut buf), 6);
    assert_eq!(&buf, b"abcdef");
    assert_eq!(reader.remaining(), 2);
    assert_eq!(reader.read_to_vec(100), b"gh");
    let mut writer = ChainWriter::new(&mut mem, &chain);
    assert_eq!(writer.write(b"0123456789"), 6, "only 6 bytes of room");
    assert_eq!(writer.written(), 6);
    assert!(writer.write_all(b"x").is_none());
    assert_eq!(mem.slice(0x9000, 2).unwrap(), b"01");
    assert_eq!(mem.slice(0x9100, 4).unwrap(), b"2345");
}

#[test]
fn indirect_chain() {
    let (mut mem, mut q, mut dq) = setup(8);
    let head = dq.add_indirect(&mut mem, 0x7000, &[r(0x8000, 16), w(0x9000, 512), w(0x9200, 1)]);
    let chain = q.pop(&mem).unwrap().unwrap();
    assert_eq!(chain.head, head);
    assert_eq!(chain.readable.len(), 1);
    assert_eq!(chain.writable, [Buffer { addr: 0x9000, len: 512 }, Buffer { addr: 0x9200, len: 1 }]);
}

#[test]
fn descriptor_cycle_is_an_error_not_a_hang() {
    let (mut mem, mut q, mut dq) = setup(4);
    dq.write_desc(&mut mem, 0, 0x8000, 1, VIRTQ_DESC_F_NEXT, 1);
    dq.write_desc(&mut mem, 1, 0x8000, 1, VIRTQ_DESC_F_NEXT, 0);
    dq.push_avail(&mut mem, 0);
    assert_eq!(chain_err(&mut q, &mem), QueueError::Cycle { head: 0 });
    // A self-loop too.
    dq.write_desc(&mut mem, 2, 0x8000, 1, VIRTQ_DESC_F_NEXT, 2);
    dq.push_avail(&mut mem, 2);
    assert_eq!(chain_err(&mut q, &mem), QueueError::Cycle { head: 2 });
}

#[test]
fn indirect_cycle_is_an_error() {
    let (mut mem, mut q, mut dq) = setup(4);
    let table = 0x7000;
    for i in 0..2u64 {
        mem.write_u64(table + 16 * i, 0x8000).unwrap();
        mem.write_u32(table + 16 * i + 8, 4).unwrap();
        mem.write_u16(table + 16 * i + 12, VIRTQ_DESC_F_NEXT).unwrap();
        mem.write_u16(table + 16 * i + 14, (1 - i) as u16).unwrap();
    }
    dq.write_desc(&mut mem, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    dq.push_avail(&mut mem, 0);
    assert!(matches!(chain_err(&mut q, &mem), QueueError::Cycle { .. }));
}

#[test]
fn hostile_indices_and_addresses() {
    let (mut mem, mut q, mut dq) = setup(4);
    // next out of range.
    dq.write_desc(&mut mem, 0, 0x8000, 1, VIRTQ_DESC_F_NEXT, 9);
    dq.push_avail(&mut mem, 0);
    assert_eq!(chain_err(&mut q, &mem), QueueError::DescIndex { index: 9, size: 4 });
    // Buffer past the end of RAM, and one whose end overflows u64.
    dq.write_desc(&mut mem, 1, RAM as u64 - 4, 8, 0, 0);
    dq.push_avail(&mut mem, 1);
    assert!(matches!(chain_err(&mut q, &mem), QueueError::Buffer(_)));
    dq.write_desc(&mut mem, 1, u64::MAX - 2, u32::MAX, VIRTQ_DESC_F_WRITE, 0);
    dq.push_avail(&mut mem, 1);
    assert!(matches!(chain_err(&mut q, &mem), QueueError::Buffer(_)));
    // Readable after writable.
    dq.write_desc(&mut mem, 2, 0x8000, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
    dq.write_desc(&mut mem, 3, 0x8000, 1, 0, 0);
    dq.push_avail(&mut mem, 2);
    assert_eq!(chain_err(&mut q, &mem), QueueError::ReadableAfterWritable);
    // Head index out of range in the ring: the ring is broken.
    dq.push_avail(&mut mem, 77);
    assert_eq!(q.pop(&mem), Err(PopError::Fatal(QueueError::DescIndex { index: 77, size: 4 })));
}

#[test]
fn hostile_available_index() {
    let (mut mem, mut q, mut dq) = setup(4);
    dq.set_avail_idx(&mut mem, 1000);
    assert!(matches!(q.pop(&mem), Err(PopError::Fatal(QueueError::AvailIdx { .. }))));
}

#[test]
fn bad_indirect_tables() {
    let (mut mem, mut q, mut dq) = setup(4);
    for (len, flags) in [(0, 0), (17, 0), (u32::MAX & !15, 0), (16, VIRTQ_DESC_F_NEXT)] {
        dq.write_desc(&mut mem, 0, 0x7000, len, VIRTQ_DESC_F_INDIRECT | flags, 1);
        dq.push_avail(&mut mem, 0);
        let e = chain_err(&mut q, &mem);
        assert!(
            matches!(e, QueueError::IndirectLen { .. } | QueueError::NestedIndirect | QueueError::Buffer(_)),
            "len {len}: {e:?}"
        );
    }
    // An indirect descriptor inside an indirect table.
    mem.write_u64(0x7000, 0x7100).unwrap();
    mem.write_u32(0x7008, 16).unwrap();
    mem.write_u16(0x700c, VIRTQ_DESC_F_INDIRECT).unwrap();
    dq.write_desc(&mut mem, 0, 0x7000, 16, VIRTQ_DESC_F_INDIRECT, 0);
    dq.push_avail(&mut mem, 0);
    assert_eq!(chain_err(&mut q, &mem), QueueError::NestedIndirect);
    // Table outside RAM.
    dq.write_desc(&mut mem, 0, RAM as u64 - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    dq.push_avail(&mut mem, 0);
    assert!(matches!(chain_err(&mut q, &mem), QueueError::Buffer(_)));
}

#[test]
fn invalid_setup_is_not_ready() {
    let (mem, q, _) = setup(8);
    assert!(q.is_valid(&mem));
    let mut bad = q.clone();
    bad.size = 6;
    assert!(!bad.is_valid(&mem), "not a power of two");
    let mut bad = q.clone();
    bad.size = 16;
    assert!(!bad.is_valid(&mem), "larger than max");
    let mut bad = q.clone();
    bad.desc_table += 8;
    assert!(!bad.is_valid(&mem), "misaligned");
    let mut bad = q.clone();
    bad.used_ring = RAM as u64 - 8;
    assert!(!bad.is_valid(&mem), "used ring past RAM");
    let mut bad = q.clone();
    bad.ready = false;
    assert_eq!(bad.pending(&mem), Err(QueueError::NotReady));
}

#[test]
fn interrupt_suppression() {
    let (mut mem, mut q, mut dq) = setup(8);
    dq.add_chain(&mut mem, &[w(0x9000, 4)]);
    let c = q.pop(&mem).unwrap().unwrap();
    q.add_used(&mut mem, c.head, 0).unwrap();
    assert!(q.needs_interrupt(&mem));
    mem.write_u16(dq.avail, VIRTQ_AVAIL_F_NO_INTERRUPT).unwrap();
    assert!(!q.needs_interrupt(&mem), "driver asked for no interrupts");

    // Event idx (§2.7.10): interrupt only when used crosses used_event.
    let (mut mem, mut q, mut dq) = setup(8);
    q.event_idx = true;
    let used_event = dq.avail + 4 + 2 * 8;
    let used_one = |mem: &mut GuestMemory, q: &mut Queue, dq: &mut DriverQueue| {
        dq.add_chain(mem, &[w(0x9000, 4)]);
        let c = q.pop(mem).unwrap().unwrap();
        q.add_used(mem, c.head, 0).unwrap();
    };
    used_one(&mut mem, &mut q, &mut dq);
    assert!(q.needs_interrupt(&mem), "first interrupt always goes out");
    mem.write_u16(used_event, 2).unwrap(); // interrupt me when used idx passes 2
    used_one(&mut mem, &mut q, &mut dq); // used idx 2
    assert!(!q.needs_interrupt(&mem));
    used_one(&mut mem, &mut q, &mut dq); // used idx 3 > used_event
    assert!(q.needs_interrupt(&mem));
    // avail_event is published after the used ring.
    assert_eq!(mem.read_u16(dq.used + 4 + 8 * 8).unwrap(), 3);
}
