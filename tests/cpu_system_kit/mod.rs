//! Building blocks shared by the hand-assembled system tests (cpu_system,
//! cpu_compat_system, cpu_debug_registers): RAM words, flat segments, IDT
//! gates, TSS descriptors and loading assembled code. Each test lays out
//! its own machine (GDT selectors, paging) from these.
#![allow(dead_code)]

use iced_x86::code_asm::CodeAssembler;
use netvm::cpu::{Cpu, Segment, TableReg};

/// Segment attributes (descriptor bits 40..55 as the CPU caches them).
pub const CODE64_DPL0: u16 = 0xa09b;
pub const DATA_DPL0: u16 = 0xc093;
pub const CODE64_DPL3: u16 = 0xa0fb;
pub const CODE32_DPL3: u16 = 0xc0fb;
pub const DATA_DPL3: u16 = 0xc0f3;

pub fn w64(m: &mut [u8], a: u64, v: u64) {
    m[a as usize..a as usize + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn r64(m: &[u8], a: u64) -> u64 {
    u64::from_le_bytes(m[a as usize..a as usize + 8].try_into().unwrap())
}

/// Identity-maps the first 4 MiB with two user-accessible 2 MiB pages,
/// through a PML4 at `pml4` and its PDPT and PD in the next two pages.
pub fn identity_map_4mib(m: &mut [u8], pml4: u64) {
    let (pdpt, pd) = (pml4 + 0x1000, pml4 + 0x2000);
    w64(m, pml4, pdpt | 7);
    w64(m, pdpt, pd | 7);
    w64(m, pd, 0x87);
    w64(m, pd + 8, 0x20_0000 | 0x87);
}

/// The GDT's first entries in the compatibility-mode suites, in Linux's
/// layout (selectors as loaded at CPL 3).
pub const LINUX_GDT: [u64; 7] = [
    0,
    0,
    0x00af_9b00_0000_ffff, // 0x10 kernel code
    0x00cf_9300_0000_ffff, // 0x18 kernel data
    0x00cf_fb00_0000_ffff, // 0x23 32-bit user code
    0x00cf_f300_0000_ffff, // 0x2b user data
    0x00af_fb00_0000_ffff, // 0x33 64-bit user code
];

/// Writes the descriptors `gdt` at `base`; returns the GDTR covering them.
pub fn write_gdt(m: &mut [u8], base: u64, gdt: &[u64]) -> TableReg {
    for (k, d) in gdt.iter().enumerate() {
        w64(m, base + 8 * k as u64, *d);
    }
    TableReg {
        base,
        limit: (8 * gdt.len() - 1) as u16,
    }
}

/// A flat 4 GiB segment (base 0) with `attr`.
pub fn flat(selector: u16, attr: u16) -> Segment {
    Segment {
        selector,
        base: 0,
        limit: 0xffff_ffff,
        attr,
    }
}

/// A 64-bit IDT interrupt gate (SDM vol. 3 §6.14.1) at `idt` for `vector`:
/// handler in code segment `cs`, gate DPL `dpl`, stack table entry `ist`.
pub fn set_gate(mem: &mut [u8], idt: u64, vector: u8, handler: u64, cs: u16, dpl: u64, ist: u64) {
    let lo = (handler & 0xffff)
        | (cs as u64) << 16
        | ist << 32
        | (0x8e | dpl << 5) << 40
        | ((handler >> 16) & 0xffff) << 48;
    w64(mem, idt + 16 * vector as u64, lo);
    w64(mem, idt + 16 * vector as u64 + 8, handler >> 32);
}

/// The two GDT quadwords of an available 64-bit TSS at `base` (limit 0x67).
pub fn tss_descriptor(base: u64) -> [u64; 2] {
    let lo = 0x67 | ((base & 0xff_ffff) << 16) | (0x89u64 << 40) | ((base >> 24) & 0xff) << 56;
    [lo, base >> 32]
}

/// Copy code into RAM at `at`, dropping decoded blocks of those pages.
pub fn load_bytes(cpu: &mut Cpu, mem: &mut [u8], at: u64, bytes: &[u8]) {
    mem[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    cpu.notify_ram_write(at, bytes.len() as u64);
}

pub fn asm64() -> CodeAssembler {
    CodeAssembler::new(64).unwrap()
}
