//! Segment limit and null-selector checks of compatibility mode (SDM vol. 3
//! §5.3, §5.4.1; 64-bit mode has neither, §3.2.4).
//!
//! Memory accessors take a linear address only, so a data access that
//! fails its segment check is given a *fault address* instead: a
//! non-canonical address no compatibility-mode access can produce (its
//! linear addresses are 32-bit, system structures' are canonical). It never
//! hits the TLB; the TLB-miss path
//! turns it into #GP(0) or, for SS-based accesses, #SS(0)
//! (`limit_fault`). This keeps the checks out of the accessors and out of
//! 64-bit mode entirely: only the compatibility-mode address computation
//! (`segment_linear`) knows about limits.

use std::rc::Rc;

use crate::cpu::bus::Bus;
use crate::cpu::cache::Block;
use crate::cpu::exception::{Event, Res, GP, SS_FAULT};
use crate::cpu::state::{Cpu, Segment, CS, SS};

/// Fault address of a DS/ES/FS/GS/CS access that fails its segment check.
pub(crate) const FAULT_ADDR_GP: u64 = 0x8000_0000_0000_0000;
/// Fault address of an SS access beyond the stack segment's limit.
pub(crate) const FAULT_ADDR_SS: u64 = 0x8000_0000_0001_0000;

/// Descriptor type bits (attribute bits 0..4): S=1, code=0, expand-down=1.
const ATTR_S: u16 = 1 << 4;
const TYPE_CODE: u16 = 1 << 3;
const TYPE_EXPAND_DOWN: u16 = 1 << 2;

/// Is `[off, off + size)` inside segment `s`? Expand-up segments allow
/// offsets 0..=limit; expand-down data segments limit+1..=0xffff (B=0) or
/// 0xffffffff (B=1). A flat 4 GiB expand-up segment accepts every offset:
/// accesses that wrap at 4 GiB are not faulted (as Bochs does for such
/// segments), so Linux's flat segments never fault.
pub(crate) fn within_limit(s: &Segment, off: u64, size: u8) -> bool {
    let last = off.wrapping_add(size.max(1) as u64 - 1);
    let limit = s.limit as u64;
    let expand_down = s.attr & (ATTR_S | TYPE_CODE | TYPE_EXPAND_DOWN) == ATTR_S | TYPE_EXPAND_DOWN;
    if expand_down {
        let upper = if s.attr & Segment::ATTR_DB != 0 {
            0xffff_ffff
        } else {
            0xffff
        };
        off > limit && last <= upper && last >= off
    } else {
        limit == 0xffff_ffff || (last <= limit && last >= off)
    }
}

impl Cpu {
    /// Compatibility mode: the linear address of `size` bytes at `off` in
    /// segment `seg` (base added, wrapped at 4 GiB), or a fault address if
    /// the selector is null (DS/ES/FS/GS) or the bytes exceed the limit.
    #[cold]
    #[inline(never)]
    pub(crate) fn segment_linear(&self, seg: usize, off: u64, size: u8) -> u64 {
        let s = &self.seg[seg % 6];
        let null = seg != SS && seg != CS && s.selector & !3 == 0;
        if null || !within_limit(s, off, size) {
            return if seg == SS && !null {
                FAULT_ADDR_SS
            } else {
                FAULT_ADDR_GP
            };
        }
        s.base.wrapping_add(off) & 0xffff_ffff
    }

    /// The exception for a compatibility-mode fault address (called by the
    /// TLB-miss path for any non-canonical address in compatibility mode).
    pub(crate) fn limit_fault(va: u64) -> Event {
        Event::Fault {
            vector: if va == FAULT_ADDR_SS { SS_FAULT } else { GP },
            error: Some(0),
        }
    }

    /// A branch target (EIP) must lie within the CS limit in compatibility
    /// mode: #GP(0) at the branch instruction otherwise.
    #[inline(always)]
    pub(crate) fn check_branch_target(&self, target: u64) -> Res {
        if self.compat && target > self.seg[CS].limit as u64 {
            return Err(Event::gp(0));
        }
        Ok(())
    }

    /// Block fetch in compatibility mode: an instruction whose bytes are
    /// not all within the CS limit raises #GP(0) when it is reached (its
    /// own RIP saved); a block running past the limit is cut before that
    /// instruction, so the ones ahead of it still execute.
    #[cold]
    #[inline(never)]
    pub(crate) fn fetch_block_compat<B: Bus>(&mut self, bus: &mut B) -> Res<Rc<Block>> {
        let limit = self.seg[CS].limit as u64;
        if self.rip > limit {
            return Err(Event::gp(0));
        }
        let block = self.fetch_decoded(bus)?;
        let mut end = self.rip;
        let mut fits = 0;
        for insn in block.insns.iter() {
            end += insn.len as u64;
            if end - 1 > limit {
                break;
            }
            fits += 1;
        }
        if fits == block.insns.len() {
            return Ok(block);
        }
        if fits == 0 {
            return Err(Event::gp(0));
        }
        Ok(Rc::new(Block {
            insns: block.insns[..fits].into(),
        }))
    }
}
