//! Operand access: registers with x86's partial-width rules, effective
//! addresses and memory operands.

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind, NO_REG, P_ADDR32, RIP_REG};
use crate::cpu::exception::{Event, Res};
use crate::cpu::state::{Cpu, FS, GS};

impl Cpu {
    /// Read the low `size` bytes of GPR `r`.
    #[inline(always)]
    pub(crate) fn gpr_get(&self, r: u8, size: u8) -> u64 {
        let v = self.gpr[r as usize & 15];
        match size {
            1 => v & 0xff,
            2 => v & 0xffff,
            4 => v & 0xffff_ffff,
            _ => v,
        }
    }

    /// Write GPR `r` with x86-64 rules: 32-bit writes zero the upper half,
    /// 8/16-bit writes merge.
    #[inline(always)]
    pub(crate) fn gpr_set(&mut self, r: u8, size: u8, v: u64) {
        let slot = &mut self.gpr[r as usize & 15];
        *slot = match size {
            1 => (*slot & !0xff) | (v & 0xff),
            2 => (*slot & !0xffff) | (v & 0xffff),
            4 => v & 0xffff_ffff,
            _ => v,
        };
    }

    /// Effective address of the memory operand, segment base included.
    #[inline(always)]
    pub(crate) fn ea(&self, i: &Insn) -> u64 {
        self.seg_base(i.mem.seg as usize).wrapping_add(self.mem_offset(i))
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
        if i.prefixes & P_ADDR32 != 0 {
            a &= 0xffff_ffff;
        }
        a
    }

    /// In 64-bit mode only FS and GS have a base (SDM vol. 1 §3.3.7.1).
    #[inline(always)]
    pub(crate) fn seg_base(&self, seg: usize) -> u64 {
        if seg == FS || seg == GS {
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

    pub(crate) fn push<B: Bus>(&mut self, bus: &mut B, size: u8, v: u64) -> Res {
        let sp = self.gpr[4].wrapping_sub(size as u64);
        self.write_mem(bus, sp, size, v)?;
        self.gpr[4] = sp;
        Ok(())
    }

    pub(crate) fn pop<B: Bus>(&mut self, bus: &mut B, size: u8) -> Res<u64> {
        let sp = self.gpr[4];
        let v = self.read_mem(bus, sp, size)?;
        self.gpr[4] = sp.wrapping_add(size as u64);
        Ok(v)
    }
}
