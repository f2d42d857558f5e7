//! Fuzz the CPU with hostile code and state: the input supplies register
//! values, control bits and the bytes of guest RAM (code, page tables, IDT,
//! GDT all live there). Whatever happens must be an exception, a halt, a
//! triple fault or a used-up budget: never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvm::cpu::state::{CR0_PG, CS};
use netvm::cpu::{Cpu, RamBus, Segment};

fuzz_target!(|data: &[u8]| {
    if data.len() < 160 {
        return;
    }
    let (head, body) = data.split_at(160);
    let word = |k: usize| u64::from_le_bytes(head[8 * k..8 * k + 8].try_into().unwrap());
    let mut bus = RamBus::new(64 << 10);
    let n = body.len().min(bus.mem.len() - 0x1000);
    bus.mem[0x1000..0x1000 + n].copy_from_slice(&body[..n]);
    let mut cpu = Cpu::new();
    for k in 0..16 {
        cpu.gpr[k] = word(k);
    }
    let ctl = word(16);
    cpu.set_rflags(word(17) & 0x3f_7fd5 | 2);
    cpu.mxcsr = (word(18) as u32) & 0xffff;
    cpu.idtr.base = 0x1000 + (ctl & 0x3000);
    cpu.idtr.limit = (ctl >> 16) as u16;
    cpu.gdtr.base = 0x2000;
    cpu.gdtr.limit = (ctl >> 32) as u16 & 0xff;
    cpu.tr.base = 0x3000;
    if ctl & 1 != 0 {
        cpu.cpl = 3;
        cpu.seg[CS] = Segment { selector: 0x33, base: 0, limit: 0xffff_ffff, attr: 0xa0fb };
    }
    if ctl & 2 != 0 {
        cpu.cr3 = 0x1000 + ((ctl >> 8) & 0xf) * 0x1000;
        cpu.cr0 |= CR0_PG;
    }
    cpu.rip = 0x1000 + (word(19) & 0xfff);
    let _ = cpu.run(&mut bus, 2000);
});
