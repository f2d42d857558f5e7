//! Debug registers (SDM vol. 3 ch. 17): DR0-DR3 instruction and data
//! breakpoints enabled by DR7, reported in DR6 with #DB.
//!
//! - Instruction breakpoints (R/W = 00) are faults checked before an
//!   instruction runs, suppressed for one instruction by RFLAGS.RF.
//! - Data breakpoints (R/W = 01 write, 11 read/write) are traps after the
//!   instruction. Pages holding a watched address never get a TLB tag for
//!   the watched access kinds, so those accesses take the slow path, which
//!   compares them with the breakpoints.
//! - I/O breakpoints (R/W = 10, defined only with CR4.DE; SDM vol. 3
//!   §17.2.4) are traps after an IN/OUT/INS/OUTS whose port range overlaps
//!   the breakpoint's (DRn's low 16 bits, LENn bytes); a REP INS/OUTS stops
//!   after the iteration that hit. Without CR4.DE the encoding is
//!   undefined and watches nothing here.

use super::flags;
use super::state::Cpu;

/// CR4.DE: debugging extensions (I/O breakpoints, DR4/DR5 #UD).
const CR4_DE: u64 = 1 << 3;

/// DR6 bits.
pub const DR6_BD: u64 = 1 << 13;
pub const DR6_BS: u64 = 1 << 14;
/// DR7.GD: general detect (MOV DR raises #DB).
pub const DR7_GD: u64 = 1 << 13;

/// What one DR7 slot watches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watch {
    Off,
    Exec,
    Write,
    ReadWrite,
    Io,
}

impl Cpu {
    fn watch(&self, n: usize) -> Watch {
        let dr7 = self.dr[7];
        if (dr7 >> (2 * n)) & 3 == 0 {
            return Watch::Off;
        }
        match (dr7 >> (16 + 4 * n)) & 3 {
            0 => Watch::Exec,
            1 => Watch::Write,
            3 => Watch::ReadWrite,
            _ if self.cr4 & CR4_DE != 0 => Watch::Io,
            _ => Watch::Off,
        }
    }

    /// Bytes covered by breakpoint `n` (DR7.LENn: 1, 2, 8, 4 bytes).
    fn watch_len(&self, n: usize) -> u64 {
        match (self.dr[7] >> (18 + 4 * n)) & 3 {
            0 => 1,
            1 => 2,
            2 => 8,
            _ => 4,
        }
    }

    /// Re-derive which kinds of breakpoints are armed after DR0-DR3/DR7
    /// change; the TLB is flushed so watched pages lose their fast tags.
    pub(crate) fn debug_registers_changed(&mut self) {
        self.dr_exec_armed = (0..4).any(|n| self.watch(n) == Watch::Exec);
        self.dr_data_armed =
            (0..4).any(|n| matches!(self.watch(n), Watch::Write | Watch::ReadWrite));
        self.flush_tlb();
    }

    /// Instruction breakpoints matching `rip` (DR6 B0-B3 bits), unless RF
    /// suppresses them for this instruction.
    pub(crate) fn exec_breakpoints(&self, rip: u64) -> u64 {
        if self.rflags & flags::RF != 0 {
            return 0;
        }
        (0..4)
            .filter(|&n| self.watch(n) == Watch::Exec && self.dr[n] == rip)
            .fold(0, |bits, n| bits | 1 << n)
    }

    /// Does page `page` (a linear page address) hold an address watched
    /// for writes (`write`) or for reads?
    pub(crate) fn page_watched(&self, page: u64, write: bool) -> bool {
        (0..4).any(|n| {
            let hit_kind = match self.watch(n) {
                Watch::ReadWrite => true,
                Watch::Write => write,
                _ => false,
            };
            let len = self.watch_len(n);
            let start = self.dr[n] & !(len - 1);
            hit_kind && start & !0xfff <= page && page <= (start + len - 1) & !0xfff
        })
    }

    /// Compare a data access with the data breakpoints; hits become a #DB
    /// trap after the instruction.
    pub(crate) fn note_data_access(&mut self, va: u64, size: u8, write: bool) {
        let end = va.wrapping_add(size as u64 - 1);
        for n in 0..4 {
            let kind_hit = match self.watch(n) {
                Watch::ReadWrite => true,
                Watch::Write => write,
                _ => false,
            };
            let len = self.watch_len(n);
            let start = self.dr[n] & !(len - 1);
            if kind_hit && va <= start + len - 1 && start <= end {
                self.db_pending |= 1 << n;
                // End the block: the trap is delivered at the next boundary.
                self.stop_block = true;
            }
        }
    }

    /// Compare a port access (IN/OUT/INS/OUTS) with the I/O breakpoints;
    /// hits become a #DB trap after the instruction (or after the REP
    /// iteration), like data breakpoints.
    pub(crate) fn note_io_access(&mut self, port: u16, size: u8) {
        // Cheap exit on the common path: no breakpoint enabled at all.
        if self.dr[7] & 0xff == 0 || self.cr4 & CR4_DE == 0 {
            return;
        }
        let (first, last) = (port as u64, port as u64 + size as u64 - 1);
        for n in 0..4 {
            let len = self.watch_len(n);
            let start = self.dr[n] & 0xffff & !(len - 1);
            if self.watch(n) == Watch::Io && first <= start + len - 1 && start <= last {
                self.db_pending |= 1 << n;
                self.stop_block = true;
            }
        }
    }
}
