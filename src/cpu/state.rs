//! Architectural state of one x86_64 logical processor.

use super::cache::CodeCache;
use super::flags::{self, LazyFlags};
use super::fpu::Fpu;
use super::mmu::Tlb;

/// General-purpose register numbers (the ModRM/REX encoding order).
pub const RAX: usize = 0;
pub const RCX: usize = 1;
pub const RDX: usize = 2;
pub const RBX: usize = 3;
pub const RSP: usize = 4;
pub const RBP: usize = 5;
pub const RSI: usize = 6;
pub const RDI: usize = 7;

/// Segment register numbers (the Sreg encoding order).
pub const ES: usize = 0;
pub const CS: usize = 1;
pub const SS: usize = 2;
pub const DS: usize = 3;
pub const FS: usize = 4;
pub const GS: usize = 5;

pub const CR0_PE: u64 = 1 << 0;
pub const CR0_MP: u64 = 1 << 1;
pub const CR0_EM: u64 = 1 << 2;
pub const CR0_TS: u64 = 1 << 3;
pub const CR0_ET: u64 = 1 << 4;
pub const CR0_NE: u64 = 1 << 5;
pub const CR0_WP: u64 = 1 << 16;
pub const CR0_AM: u64 = 1 << 18;
pub const CR0_PG: u64 = 1 << 31;
pub const CR4_PAE: u64 = 1 << 5;
pub const CR4_PGE: u64 = 1 << 7;
pub const CR4_OSFXSR: u64 = 1 << 9;
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
pub const EFER_SCE: u64 = 1 << 0;
pub const EFER_LME: u64 = 1 << 8;
pub const EFER_LMA: u64 = 1 << 10;
pub const EFER_NXE: u64 = 1 << 11;

/// A segment register with its hidden descriptor cache (SDM vol. 3 §3.4.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub selector: u16,
    pub base: u64,
    pub limit: u32,
    /// Descriptor bits 40..55 of the high dword: type, S, DPL, P, AVL, L, D/B, G.
    pub attr: u16,
}

impl Segment {
    pub const ATTR_L: u16 = 1 << 13;
    pub const ATTR_DB: u16 = 1 << 14;
    pub fn dpl(&self) -> u8 {
        ((self.attr >> 5) & 3) as u8
    }
}

/// GDTR/IDTR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableReg {
    pub base: u64,
    pub limit: u16,
}

/// Model-specific registers Linux touches (SDM vol. 4).
#[derive(Clone, Debug, Default)]
pub struct Msrs {
    pub star: u64,
    pub lstar: u64,
    pub cstar: u64,
    pub sfmask: u64,
    pub kernel_gs_base: u64,
    pub tsc_aux: u64,
    pub apic_base: u64,
    pub pat: u64,
    pub misc_enable: u64,
    pub sysenter_cs: u64,
    pub sysenter_esp: u64,
    pub sysenter_eip: u64,
    /// Added to the instruction count to form the TSC (WRMSR to TSC).
    pub tsc_offset: u64,
    /// MTRRdefType and the variable/fixed ranges read back what was written.
    pub mtrr_def_type: u64,
    pub mtrr: std::collections::BTreeMap<u32, u64>,
}

/// Why [`Cpu::run`](super::Cpu::run) returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The instruction budget ran out.
    Budget,
    /// The CPU executed HLT and no interrupt is pending: the machine may
    /// sleep until its next timer or device event.
    Halted,
    /// SYSCALL executed while [`Cpu::user_mode_syscalls`] is set (user-mode
    /// runner): the caller emulates the system call and resumes.
    Syscall,
    /// A triple fault: the machine should reset or stop.
    Shutdown,
}

/// One x86_64 processor: registers, system state and its private caches.
pub struct Cpu {
    pub gpr: [u64; 16],
    /// Address of the instruction being (or to be) executed.
    pub rip: u64,
    /// Address of the next instruction while one executes; branches write it.
    pub(crate) next_rip: u64,
    /// RFLAGS without the six status flags, which live in `cc`.
    pub(crate) rflags: u64,
    pub(crate) cc: LazyFlags,
    pub seg: [Segment; 6],
    pub gdtr: TableReg,
    pub idtr: TableReg,
    pub ldtr: Segment,
    pub tr: Segment,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cr8: u64,
    pub efer: u64,
    pub dr: [u64; 8],
    pub msr: Msrs,
    /// Current privilege level (CS.RPL in protected mode).
    pub cpl: u8,
    pub xmm: [u128; 16],
    pub mxcsr: u32,
    pub fpu: Fpu,
    /// Instructions retired since reset (also the TSC time base).
    pub icount: u64,
    /// Test/user-mode hook: SYSCALL returns [`Exit::Syscall`] to the caller
    /// instead of entering the kernel through LSTAR.
    pub user_mode_syscalls: bool,
    /// Log every executed instruction (see `trace.rs`); for debugging.
    pub trace: bool,
    /// The last exception raised by an instruction: (vector, error code,
    /// RIP). Diagnostics for the machine and tests.
    pub last_exception: Option<(u8, Option<u32>, u64)>,
    pub(crate) halted: bool,
    /// Interrupts are inhibited until after the next instruction (STI, MOV SS).
    pub(crate) int_shadow: bool,
    /// Set by anything that invalidates assumptions of the block being
    /// executed (paging or mode change, write to cached code): the run loop
    /// leaves the block after the current instruction.
    pub(crate) stop_block: bool,
    /// Compatibility mode (IA-32e with CS.L = 0): 32-bit code under a
    /// 64-bit kernel. Follows CS; refreshed at every block fetch (every
    /// CS change ends the block).
    pub(crate) compat: bool,
    /// Linear-address mask: all ones in 64-bit mode, 4 GiB in
    /// compatibility mode (addresses wrap at 4 GiB).
    pub(crate) addr_mask: u64,
    /// An instruction breakpoint is enabled in DR7 (checked per instruction).
    pub(crate) dr_exec_armed: bool,
    /// A data breakpoint is enabled in DR7 (watched pages skip the TLB).
    pub(crate) dr_data_armed: bool,
    /// DR6 B0-B3 bits of data breakpoints hit by the current instruction:
    /// a #DB trap is delivered before the next one.
    pub(crate) db_pending: u64,
    pub(crate) tlb: Tlb,
    pub(crate) code: CodeCache,
}

impl Default for Cpu {
    fn default() -> Self {
        Self::new()
    }
}

impl Cpu {
    /// A CPU in 64-bit mode, CPL 0, paging off (flat identity memory), as a
    /// starting point; the machine sets CR3/CR0/EFER and segments itself.
    pub fn new() -> Self {
        let code64 = Segment {
            selector: 0x10,
            base: 0,
            limit: 0xffff_ffff,
            attr: 0xa09b,
        };
        let data = Segment {
            selector: 0x18,
            base: 0,
            limit: 0xffff_ffff,
            attr: 0xc093,
        };
        Cpu {
            gpr: [0; 16],
            rip: 0,
            next_rip: 0,
            rflags: flags::FIXED1,
            cc: LazyFlags::default(),
            seg: [data, code64, data, data, data, data],
            gdtr: TableReg::default(),
            idtr: TableReg::default(),
            ldtr: Segment::default(),
            tr: Segment {
                selector: 0,
                base: 0,
                limit: 0xffff,
                attr: 0x8b,
            },
            cr0: CR0_PE | CR0_ET | CR0_NE,
            cr2: 0,
            cr3: 0,
            cr4: CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT,
            cr8: 0,
            efer: EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE,
            dr: [0, 0, 0, 0, 0xffff_0ff0, 0x400, 0xffff_0ff0, 0x400],
            msr: Msrs {
                pat: 0x0007_0406_0007_0406,
                apic_base: 0xfee0_0900,
                misc_enable: 1,
                ..Default::default()
            },
            cpl: 0,
            xmm: [0; 16],
            mxcsr: 0x1f80,
            fpu: Fpu::default(),
            icount: 0,
            user_mode_syscalls: false,
            trace: false,
            last_exception: None,
            halted: false,
            int_shadow: false,
            stop_block: false,
            compat: false,
            addr_mask: u64::MAX,
            dr_exec_armed: false,
            dr_data_armed: false,
            db_pending: 0,
            tlb: Tlb::new(),
            code: CodeCache::default(),
        }
    }

    /// Full RFLAGS, status flags included.
    pub fn rflags(&self) -> u64 {
        self.rflags | self.cc.get()
    }

    /// Set full RFLAGS (no privilege checks; see POPF for those).
    pub fn set_rflags(&mut self, v: u64) {
        self.cc.set_all(v);
        self.rflags = (v & !flags::ARITH & 0x3f_7fd5) | flags::FIXED1;
        self.stop_block = true;
    }

    /// The time-stamp counter: retired instructions plus an offset (set by
    /// WRMSR to IA32_TSC and by `advance_tsc`).
    pub fn tsc(&self) -> u64 {
        self.icount.wrapping_add(self.msr.tsc_offset)
    }

    /// Move the TSC forward without executing instructions, e.g. by the
    /// virtual time the machine skips while the CPU is halted, so a
    /// TSC-based guest clock stays in step with the machine's timers.
    pub fn advance_tsc(&mut self, cycles: u64) {
        self.msr.tsc_offset = self.msr.tsc_offset.wrapping_add(cycles);
    }

    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Whether a maskable interrupt would be accepted now (IF set, no
    /// STI/MOV SS shadow).
    pub fn interrupts_enabled(&self) -> bool {
        self.rflags & flags::IF != 0 && !self.int_shadow
    }

    /// 64-bit mode (IA-32e with CS.L = 1) versus compatibility mode.
    pub fn long_mode_64(&self) -> bool {
        self.seg[CS].attr & Segment::ATTR_L != 0
    }

    /// Re-derive the execution mode from CS (64-bit or compatibility).
    #[inline(always)]
    pub(crate) fn refresh_mode(&mut self) {
        self.compat = !self.long_mode_64();
        self.addr_mask = if self.compat { 0xffff_ffff } else { u64::MAX };
    }

    #[inline(always)]
    pub(crate) fn df(&self) -> bool {
        self.rflags & flags::DF != 0
    }
}
