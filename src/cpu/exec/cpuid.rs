//! CPUID: one feature set that advertises exactly what this interpreter
//! implements (SDM vol. 2 "CPUID", AMD APM vol. 3 appendix E).

use crate::cpu::state::Cpu;

/// Leaf 1 EDX: FPU PSE TSC MSR PAE CX8 APIC MTRR PGE CMOV PAT CLFSH FXSR SSE
/// SSE2. MMX is not implemented and not advertised. FPU: the x87 state is
/// saved/restored by FXSAVE/FXRSTOR (x87 arithmetic: see docs/cpu.md).
const LEAF1_EDX: u32 = (1 << 0) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 9)
    | (1 << 12) | (1 << 13) | (1 << 15) | (1 << 16) | (1 << 19) | (1 << 24) | (1 << 25) | (1 << 26);
/// Leaf 1 ECX: CX16, POPCNT. (SSE3/SSSE3 not yet implemented.)
const LEAF1_ECX: u32 = (1 << 13) | (1 << 23);
/// 8000_0001h EDX: SYSCALL, NX, 1 GiB pages, RDTSCP, LM.
const EXT1_EDX: u32 = (1 << 11) | (1 << 20) | (1 << 26) | (1 << 27) | (1 << 29);
/// 8000_0001h ECX: LAHF/SAHF in 64-bit mode, ABM (LZCNT).
const EXT1_ECX: u32 = (1 << 0) | (1 << 5);

fn str_regs(s: &[u8; 12]) -> (u32, u32, u32) {
    let w = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
    (w(0), w(4), w(8))
}

impl Cpu {
    /// Returns (EAX, EBX, ECX, EDX) for leaf `eax`, subleaf `ecx`.
    pub fn cpuid(&self, leaf: u32, _sub: u32) -> (u32, u32, u32, u32) {
        match leaf {
            0 => {
                let (b, d, c) = str_regs(b"NetvmNetvmVM");
                (7, b, c, d)
            }
            // Family 6, model 0x0f, stepping 1; CLFLUSH line 8*8 bytes;
            // one logical processor.
            1 => (0x0000_06f1, (8 << 8) | (1 << 16), LEAF1_ECX, LEAF1_EDX),
            7 => (0, 0, 0, 0),
            0x8000_0000 => (0x8000_0008, 0, 0, 0),
            0x8000_0001 => (0, 0, EXT1_ECX, EXT1_EDX),
            0x8000_0002..=0x8000_0004 => {
                let name = *b"netvm x86_64 interpreter CPU\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
                let off = (leaf - 0x8000_0002) as usize * 16;
                let w = |i: usize| u32::from_le_bytes([name[off + i], name[off + i + 1], name[off + i + 2], name[off + i + 3]]);
                (w(0), w(4), w(8), w(12))
            }
            // 48-bit virtual, 40-bit physical addresses (4-level paging).
            0x8000_0008 => (0x0000_3028, 0, 0, 0),
            _ => (0, 0, 0, 0),
        }
    }
}
