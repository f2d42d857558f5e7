//! Operand access: registers with x86's partial-width rules, effective
//! addresses and memory operands.

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind, NO_REG, P_ADDR16, P_ADDR32, RIP_REG};
use crate::cpu::exception::{Event, Res};
use crate::cpu::state::{Cpu, Segment, FS, GS, SS};

/// By operand size in bytes: the bits of a register an access of that
/// size reads or writes (sizes other than 1, 2, 4 cover the whole register).
const WIDTH_MASK: [u64; 16] = {
    let mut t = [u64::MAX; 16];
    t[1] = 0xff;
    t[2] = 0xffff;
    t[4] = 0xffff_ffff;
    t
};

/// By operand size in bytes: the bits of the register a write of that size
/// keeps (8/16-bit writes merge; 32-bit writes zero the upper half).
const WIDTH_KEEP: [u64; 16] = {
    let mut t = [0u64; 16];
    t[1] = !0xff;
    t[2] = !0xffff;
    t
};

impl Cpu {
    /// Read the low `size` bytes of GPR `r`.
    #[inline(always)]
    pub(crate) fn gpr_get(&self, r: u8, size: u8) -> u64 {
        // A table lookup instead of a match on the size: the same handler
        // runs for every width, so a branch on it would mispredict.
        self.gpr[r as usize & 15] & WIDTH_MASK[size as usize & 15]
    }

    /// Write GPR `r` with x86-64 rules: 32-bit writes zero the upper half,
    /// 8/16-bit writes merge.
    #[inline(always)]
    pub(crate) fn gpr_set(&mut self, r: u8, size: u8, v: u64) {
        let slot = &mut self.gpr[r as usize & 15];
        let s = size as usize & 15;
        *slot = (*slot & WIDTH_KEEP[s]) | (v & WIDTH_MASK[s]);
    }

    /// Linear address of the memory operand: segment base plus offset.
    /// In compatibility mode the segment's limit and null selector are
    /// checked too (`ea_compat`); 64-bit mode has neither, so its path is
    /// one test of `compat` and at most one base.
    #[inline(always)]
    pub(crate) fn ea(&self, i: &Insn) -> u64 {
        let off = self.mem_offset(i);
        if self.compat {
            return self.ea_compat(i, off);
        }
        let seg = i.mem.seg as usize;
        if seg == FS || seg == GS {
            self.seg[seg].base.wrapping_add(off)
        } else {
            off
        }
    }

    /// Linear address of `size` bytes at `offset` in segment `seg` (string
    /// operands, XLAT), checked against the limit in compatibility mode.
    #[inline(always)]
    pub(crate) fn linear(&self, seg: usize, offset: u64, size: u8) -> u64 {
        if self.compat {
            return self.segment_linear(seg, offset, size);
        }
        self.seg_base(seg).wrapping_add(offset)
    }

    /// The compatibility-mode memory operand: its size is the memory
    /// operand's (multi-part images such as FXSAVE's are checked for their
    /// first part only).
    #[cold]
    #[inline(never)]
    fn ea_compat(&self, i: &Insn, off: u64) -> u64 {
        let size = i.ops[..(i.nops as usize).min(4)]
            .iter()
            .find(|o| o.kind == Kind::Mem)
            .map_or(1, |o| o.size.max(1));
        self.segment_linear(i.mem.seg as usize, off, size)
    }

    /// The memory operand's offset (base + index << scale + displacement,
    /// truncated for a 32-bit address size), without the segment base: what
    /// LEA computes and what `ea` adds the segment base to.
    #[inline(always)]
    pub(crate) fn mem_offset(&self, i: &Insn) -> u64 {
        let m = &i.mem;
        let mut a = m.disp as u64;
        if m.base != NO_REG {
            a = a.wrapping_add(if m.base == RIP_REG {
                self.next_rip
            } else {
                self.gpr[m.base as usize & 15]
            });
        }
        if m.index != NO_REG {
            a = a.wrapping_add(self.gpr[m.index as usize & 15] << m.scale);
        }
        if i.prefixes & (P_ADDR32 | P_ADDR16) != 0 {
            a &= if i.prefixes & P_ADDR16 != 0 {
                0xffff
            } else {
                0xffff_ffff
            };
        }
        a
    }

    /// In 64-bit mode only FS and GS have a base (SDM vol. 1 §3.3.7.1); in
    /// compatibility mode every segment's base applies.
    #[inline(always)]
    pub(crate) fn seg_base(&self, seg: usize) -> u64 {
        if seg == FS || seg == GS || self.compat {
            self.seg[seg].base
        } else {
            0
        }
    }

    /// Read operand `n` zero-extended to 64 bits.
    #[inline(always)]
    pub(crate) fn op_read<B: Bus>(&mut self, bus: &mut B, i: &Insn, n: usize) -> Res<u64> {
        let o = i.ops[n];
        match o.kind {
            Kind::Gpr => Ok(self.gpr_get(o.reg, o.size)),
            Kind::Imm => Ok(if o.reg == 1 { i.imm2 as u64 } else { i.imm }),
            Kind::Mem => {
                let a = self.ea(i);
                self.read_mem(bus, a, o.size.min(8))
            }
            Kind::GprHi => Ok((self.gpr[o.reg as usize & 3] >> 8) & 0xff),
            Kind::Seg => Ok(self.seg[o.reg as usize % 6].selector as u64),
            _ => Err(Event::ud()),
        }
    }

    /// Write operand `n` (register or memory) with `v`.
    #[inline(always)]
    pub(crate) fn op_write<B: Bus>(&mut self, bus: &mut B, i: &Insn, n: usize, v: u64) -> Res {
        let o = i.ops[n];
        match o.kind {
            Kind::Gpr => {
                self.gpr_set(o.reg, o.size, v);
                Ok(())
            }
            Kind::Mem => {
                let a = self.ea(i);
                self.write_mem(bus, a, o.size.min(8), v)
            }
            Kind::GprHi => {
                let r = &mut self.gpr[o.reg as usize & 3];
                *r = (*r & !0xff00) | ((v & 0xff) << 8);
                Ok(())
            }
            _ => Err(Event::ud()),
        }
    }

    #[inline(always)]
    pub(crate) fn push<B: Bus>(&mut self, bus: &mut B, size: u8, v: u64) -> Res {
        if self.compat {
            return self.push_compat(bus, size, v);
        }
        let sp = self.gpr[4].wrapping_sub(size as u64);
        self.write_mem(bus, sp, size, v)?;
        self.gpr[4] = sp;
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn pop<B: Bus>(&mut self, bus: &mut B, size: u8) -> Res<u64> {
        if self.compat {
            return self.pop_compat(bus, size);
        }
        let sp = self.gpr[4];
        let v = self.read_mem(bus, sp, size)?;
        self.gpr[4] = sp.wrapping_add(size as u64);
        Ok(v)
    }

    /// The stack pointer as an offset into SS: RSP in 64-bit mode; ESP or
    /// SP (SS.B) in compatibility mode.
    #[inline(always)]
    pub(crate) fn sp(&self) -> u64 {
        self.gpr[4] & self.sp_mask()
    }

    #[inline(always)]
    fn sp_mask(&self) -> u64 {
        if !self.compat {
            u64::MAX
        } else if self.seg[SS].attr & Segment::ATTR_DB != 0 {
            0xffff_ffff
        } else {
            0xffff
        }
    }

    /// Set the stack pointer with the stack's width: a 16-bit stack keeps
    /// the rest of RSP, a 32-bit one writes ESP (zero-extended).
    #[inline(always)]
    pub(crate) fn set_sp(&mut self, v: u64) {
        match self.sp_mask() {
            0xffff => self.gpr_set(4, 2, v),
            0xffff_ffff => self.gpr_set(4, 4, v),
            _ => self.gpr[4] = v,
        }
    }

    /// Linear address of a `size`-byte stack access at offset `sp` (SS
    /// base and limit in compatibility mode).
    #[inline(always)]
    pub(crate) fn stack_addr(&self, sp: u64, size: u8) -> u64 {
        if self.compat {
            self.segment_linear(SS, sp & self.sp_mask(), size)
        } else {
            sp
        }
    }

    #[cold]
    fn push_compat<B: Bus>(&mut self, bus: &mut B, size: u8, v: u64) -> Res {
        let sp = self.sp().wrapping_sub(size as u64) & self.sp_mask();
        self.write_mem(bus, self.stack_addr(sp, size), size, v)?;
        self.set_sp(sp);
        Ok(())
    }

    #[cold]
    fn pop_compat<B: Bus>(&mut self, bus: &mut B, size: u8) -> Res<u64> {
        let sp = self.sp();
        let v = self.read_mem(bus, self.stack_addr(sp, size), size)?;
        self.set_sp(sp.wrapping_add(size as u64));
        Ok(v)
    }
}
