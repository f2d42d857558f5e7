//! Handlers for the specialised instruction forms of `form::Op`: the
//! operand shapes are known from the form, so each handler reads its
//! registers, immediate or memory operand directly instead of matching on
//! operand kinds. Each computes exactly what the generic handler of the
//! same mnemonic does (`alu.rs`, `data.rs`, `shift.rs`, `control.rs`);
//! the differential suites run both (forms the classifier does not take,
//! e.g. with a LOCK prefix or AH..BH operands, go the generic way).
//!
//! The register-operand handlers take a const width `W`: 4 or 8 for the
//! forms the classifier specialised to 32- or 64-bit operands (register
//! reads and writes are then one plain load or store, and the flag and
//! memory-access widths fold to constants), 0 for the forms that read the
//! width from the instruction (8- and 16-bit operands).

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Opnd};
use crate::cpu::exception::Res;
use crate::cpu::flags::{size_mask, CcOp, CF, OF};
use crate::cpu::state::Cpu;

use super::alu::sext;
use super::shift::shift_result;

/// Two-operand ALU operations, the const parameter of the ALU handlers.
pub(super) const ADD: u8 = 0;
pub(super) const OR: u8 = 1;
pub(super) const ADC: u8 = 2;
pub(super) const SBB: u8 = 3;
pub(super) const AND: u8 = 4;
pub(super) const SUB: u8 = 5;
pub(super) const XOR: u8 = 6;
pub(super) const CMP: u8 = 7;
pub(super) const TEST: u8 = 8;

/// CMP and TEST only set flags.
#[inline(always)]
pub(super) const fn writes_back(op: u8) -> bool {
    op != CMP && op != TEST
}

/// Shifts and rotates by a constant, the const parameter of `shift_ri`.
pub(super) const SHL: u8 = 0;
pub(super) const SHR: u8 = 1;
pub(super) const SAR: u8 = 2;
pub(super) const ROL: u8 = 3;
pub(super) const ROR: u8 = 4;

/// The width in bytes of operand `o` in a handler of width `W`.
#[inline(always)]
pub(super) const fn width<const W: u8>(o: Opnd) -> u8 {
    if W == 0 {
        o.size
    } else {
        W
    }
}

impl Cpu {
    /// Read register operand `o` (width `W`, see the module comment).
    #[inline(always)]
    pub(super) fn reg_get<const W: u8>(&self, o: Opnd) -> u64 {
        match W {
            8 => self.gpr[o.reg as usize & 15],
            4 => self.gpr[o.reg as usize & 15] as u32 as u64,
            _ => self.gpr_get(o.reg, o.size),
        }
    }

    /// Write register operand `o`: a 32-bit write zeroes the upper half,
    /// narrower ones merge (`gpr_set`).
    #[inline(always)]
    pub(super) fn reg_set<const W: u8>(&mut self, o: Opnd, v: u64) {
        match W {
            8 => self.gpr[o.reg as usize & 15] = v,
            4 => self.gpr[o.reg as usize & 15] = v as u32 as u64,
            _ => self.gpr_set(o.reg, o.size, v),
        }
    }

    /// `a op b` at `size` bytes (both already truncated to it): the result
    /// to write back and the carry-in ADC/SBB used. Flags are set
    /// separately by `alu_flags`, after the write-back, so a faulting
    /// memory write leaves them as they were. (`op` is a constant in the
    /// specialised forms, so inlined it folds to the one operation; the
    /// generic `alu2` shares it.)
    #[inline(always)]
    pub(super) fn alu_result(&self, op: u8, a: u64, b: u64) -> (u64, u64) {
        match op {
            ADD => (a.wrapping_add(b), 0),
            ADC => {
                let c = self.cc.cf() as u64;
                (a.wrapping_add(b).wrapping_add(c), c)
            }
            SUB | CMP => (a.wrapping_sub(b), 0),
            SBB => {
                let c = self.cc.cf() as u64;
                (a.wrapping_sub(b).wrapping_sub(c), c)
            }
            AND | TEST => (a & b, 0),
            OR => (a | b, 0),
            _ => (a ^ b, 0),
        }
    }

    #[inline(always)]
    pub(super) fn alu_flags(&mut self, op: u8, bits: u8, r: u64, a: u64, b: u64, carry: u64) {
        match op {
            ADD => self.cc.set(CcOp::Add, bits, r, a, b),
            ADC => {
                self.cc.set(CcOp::Adc, bits, r, a, b);
                self.cc.aux = carry;
            }
            SUB | CMP => self.cc.set(CcOp::Sub, bits, r, a, b),
            SBB => {
                self.cc.set(CcOp::Sbb, bits, r, a, b);
                self.cc.aux = carry;
            }
            _ => self.cc.set(CcOp::Logic, bits, r, 0, 0),
        }
    }

    /// ALU r, r / r, imm / r, m: the destination is a register.
    #[inline(always)]
    pub(super) fn alu_to_reg<const OP: u8, const W: u8>(&mut self, i: &Insn, b: u64) {
        let d = i.ops[0];
        let bits = width::<W>(d) * 8;
        let a = self.reg_get::<W>(d);
        let b = b & size_mask(bits);
        let (r, carry) = self.alu_result(OP, a, b);
        if writes_back(OP) {
            self.reg_set::<W>(d, r);
        }
        self.alu_flags(OP, bits, r, a, b, carry);
    }

    /// ALU m, r / m, imm: read, write back, then set the flags.
    #[inline(always)]
    pub(super) fn alu_to_mem<const OP: u8, B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Insn,
        b: u64,
    ) -> Res {
        let size = i.ops[0].size;
        let bits = size * 8;
        let addr = self.ea(i);
        let a = self.read_mem(bus, addr, size)?;
        let b = b & size_mask(bits);
        let (r, carry) = self.alu_result(OP, a, b);
        if writes_back(OP) {
            self.write_mem(bus, addr, size, r & size_mask(bits))?;
        }
        self.alu_flags(OP, bits, r, a, b, carry);
        Ok(())
    }

    /// The second operand of an ALU form: register, immediate or memory.
    #[inline(always)]
    pub(super) fn src_reg<const W: u8>(&self, i: &Insn) -> u64 {
        self.reg_get::<W>(i.ops[1])
    }

    #[inline(always)]
    pub(super) fn src_mem<const W: u8, B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res<u64> {
        let a = self.ea(i);
        self.read_mem(bus, a, width::<W>(i.ops[1]))
    }

    /// INC/DEC r: CF is kept (saved in `aux`).
    #[inline(always)]
    pub(super) fn inc_dec_reg<const DEC: bool, const W: u8>(&mut self, i: &Insn) {
        let d = i.ops[0];
        let bits = width::<W>(d) * 8;
        let cf = self.cc.cf() as u64;
        let a = self.reg_get::<W>(d);
        let r = if DEC {
            a.wrapping_sub(1)
        } else {
            a.wrapping_add(1)
        };
        self.reg_set::<W>(d, r);
        self.cc
            .set(if DEC { CcOp::Dec } else { CcOp::Inc }, bits, r, a, 1);
        self.cc.aux = cf;
    }

    /// SHL/SHR/SAR/ROL/ROR r, imm8 (the results as in `shift`).
    #[inline(always)]
    pub(super) fn shift_ri<const OP: u8, const W: u8>(&mut self, i: &Insn) {
        let d = i.ops[0];
        let size = width::<W>(d);
        let bits = size as u32 * 8;
        let a = self.reg_get::<W>(d);
        let c = i.imm as u32 & if size == 8 { 63 } else { 31 };
        if c == 0 {
            // No flags change; a 32-bit destination is still written
            // (zeroing its upper half).
            self.reg_set::<W>(d, a);
            return;
        }
        let (r, cf, of) = shift_result(OP, a, c, bits);
        self.reg_set::<W>(d, r);
        let cf_of = if cf != 0 { CF } else { 0 } | if of != 0 { OF } else { 0 };
        if OP == ROL || OP == ROR {
            // Rotates change only CF and OF. After a logic operation, a
            // shift or explicit flags (most rotates in hash code) the other
            // flags stay described by what is pending, so only CF and OF
            // are replaced; otherwise the others are materialised first.
            match self.cc.op {
                CcOp::Logic => {
                    // Logic leaves AF clear; ZF/SF/PF come from `res`.
                    self.cc.op = CcOp::ResAux;
                    self.cc.aux = cf_of;
                }
                CcOp::ResAux | CcOp::Eflags => {
                    self.cc.aux = (self.cc.aux & !(CF | OF)) | cf_of;
                }
                _ => {
                    let others = self.cc.get_inline();
                    self.cc.set_all((others & !(CF | OF)) | cf_of);
                }
            }
        } else {
            self.cc.set_res_aux(bits as u8, r, cf_of);
        }
    }

    /// MOVZX/MOVSX/MOVSXD r, v where `v` is the source at its own size.
    #[inline(always)]
    pub(super) fn movx<const SIGNED: bool>(&mut self, i: &Insn, v: u64) {
        let d = i.ops[0];
        let v = if SIGNED {
            sext(v, i.ops[1].size as u32 * 8) as u64
        } else {
            v
        };
        self.gpr_set(d.reg, d.size, v & size_mask(d.size * 8));
    }

    /// CMOVcc r, v: a 32-bit destination is zero-extended even when the
    /// condition is false.
    #[inline(always)]
    pub(super) fn cmov_to_reg(&mut self, i: &Insn, v: u64) {
        let d = i.ops[0];
        let v = if self.cc.cond(i.imm2) {
            v
        } else {
            self.gpr_get(d.reg, d.size)
        };
        self.gpr_set(d.reg, d.size, v);
    }
}
