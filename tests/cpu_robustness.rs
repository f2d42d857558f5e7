//! Hostile code must never panic or hang the CPU: random byte sequences run
//! with random registers, with paging on (page tables built from random
//! entries too) and off. Every outcome (exceptions, triple faults, halts)
//! is fine; a panic or a budget overrun fails the test.

use netvm::cpu::state::{CR0_PG, CS};
use netvm::cpu::{Cpu, Exit, RamBus, Segment};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn iterations() -> u64 {
    std::env::var("NETVM_CPU_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 3000 } else { 30000 })
}

#[test]
fn random_code_never_panics() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut bus = RamBus::new(1 << 20);
    for iter in 0..iterations() {
        let mut cpu = Cpu::new();
        // Random RAM contents in the code and data region.
        for k in 0..512 {
            let v = rng.next().to_le_bytes();
            let at = 0x8000 + 8 * k;
            bus.mem[at..at + 8].copy_from_slice(&v);
        }
        // Favour real opcode prefixes/escapes so deep decode paths run.
        for k in 0..32 {
            if rng.next() % 3 == 0 {
                bus.mem[0x8000 + k] =
                    [0x0f, 0x66, 0xf3, 0xf2, 0x48, 0xd9, 0xdd, 0xdf][(rng.next() % 8) as usize];
            }
        }
        for g in cpu.gpr.iter_mut() {
            *g = match rng.next() % 4 {
                0 => rng.next(),
                1 => rng.next() % 0x10_0000,
                2 => 0x8000 + rng.next() % 0x1000,
                _ => rng.next() & 0xff,
            };
        }
        cpu.xmm
            .iter_mut()
            .for_each(|x| *x = rng.next() as u128 | (rng.next() as u128) << 64);
        cpu.set_rflags(rng.next() & 0xcd5 | 2);
        cpu.mxcsr = 0x1f80 | (rng.next() as u32 & 0x7fff & !0x1f80);
        cpu.cpl = if rng.next() % 2 == 0 { 0 } else { 3 };
        if cpu.cpl == 3 {
            cpu.seg[CS] = Segment {
                selector: 0x33,
                base: 0,
                limit: 0xffff_ffff,
                attr: 0xa0fb,
            };
        }
        cpu.idtr.base = 0x8000;
        cpu.idtr.limit = (rng.next() % 0x1000) as u16;
        cpu.gdtr.base = 0x8800;
        cpu.gdtr.limit = (rng.next() % 0x100) as u16;
        if iter % 4 == 0 {
            cpu.cr3 = 0x8000 + (rng.next() % 4) * 0x1000;
            cpu.cr0 |= CR0_PG;
        }
        cpu.rip = 0x8000;
        let before = cpu.icount;
        let exit = cpu.run(&mut bus, 64);
        assert!(cpu.icount - before <= 64, "budget overrun: {exit:?}");
        let _ = matches!(
            exit,
            Exit::Budget | Exit::Halted | Exit::Shutdown | Exit::Syscall
        );
    }
}
