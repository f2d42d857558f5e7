//! Integer arithmetic and logic: ADD..CMP, TEST, INC/DEC/NEG/NOT,
//! MUL/IMUL/DIV/IDIV (SDM vol. 2 per instruction).

use iced_x86::Mnemonic;

use crate::cpu::bus::Bus;
use crate::cpu::decode::Insn;
use crate::cpu::exception::{Event, Res};
use crate::cpu::flags::{size_mask, CcOp, CF, OF};
use crate::cpu::state::{Cpu, RAX, RDX};

use super::fast::{writes_back, ADC, ADD, AND, CMP, OR, SBB, SUB, TEST, XOR};

/// Sign-extend the low `bits` of `v`.
#[inline(always)]
pub(crate) fn sext(v: u64, bits: u32) -> i64 {
    let s = 64 - bits;
    ((v << s) as i64) >> s
}

impl Cpu {
    /// Two-operand arithmetic/logic with the destination in operand 0.
    #[inline(always)]
    pub(crate) fn alu2<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.ops[0].size;
        let bits = size * 8;
        let m = size_mask(bits);
        let op = match i.mnem {
            Mnemonic::Add => ADD,
            Mnemonic::Or => OR,
            Mnemonic::Adc => ADC,
            Mnemonic::Sbb => SBB,
            Mnemonic::And => AND,
            Mnemonic::Sub => SUB,
            Mnemonic::Xor => XOR,
            Mnemonic::Cmp => CMP,
            Mnemonic::Test => TEST,
            _ => return Err(Event::ud()),
        };
        let a = self.op_read(bus, i, 0)?;
        let b = self.op_read(bus, i, 1)? & m;
        let (r, carry) = self.alu_result(op, a, b);
        // Flags after the write-back: a faulting write leaves them as they
        // were (the restarted ADC/SBB needs the original CF).
        if writes_back(op) {
            self.op_write(bus, i, 0, r & m)?;
        }
        self.alu_flags(op, bits, r, a, b, carry);
        Ok(())
    }

    /// INC, DEC, NEG, NOT.
    pub(crate) fn alu1<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.ops[0].size;
        let bits = size * 8;
        let m = size_mask(bits);
        let a = self.op_read(bus, i, 0)?;
        let r = match i.mnem {
            Mnemonic::Inc => {
                let cf = self.cc.cf() as u64;
                let r = a.wrapping_add(1);
                self.op_write(bus, i, 0, r & m)?;
                self.cc.set(CcOp::Inc, bits, r, a, 1);
                self.cc.aux = cf;
                return Ok(());
            }
            Mnemonic::Dec => {
                let cf = self.cc.cf() as u64;
                let r = a.wrapping_sub(1);
                self.op_write(bus, i, 0, r & m)?;
                self.cc.set(CcOp::Dec, bits, r, a, 1);
                self.cc.aux = cf;
                return Ok(());
            }
            Mnemonic::Neg => {
                let r = 0u64.wrapping_sub(a);
                self.op_write(bus, i, 0, r & m)?;
                self.cc.set(CcOp::Sub, bits, r, 0, a);
                return Ok(());
            }
            Mnemonic::Not => !a,
            _ => return Err(Event::ud()),
        };
        self.op_write(bus, i, 0, r & m)
    }

    /// MUL and the one-operand IMUL: rDX:rAX = rAX * src.
    pub(crate) fn mul1<B: Bus>(&mut self, bus: &mut B, i: &Insn, signed: bool) -> Res {
        let size = i.ops[0].size;
        let bits = size as u32 * 8;
        let src = self.op_read(bus, i, 0)?;
        let acc = self.gpr_get(RAX as u8, size);
        let (lo, hi, overflow) = if signed {
            let p = sext(acc, bits) as i128 * sext(src, bits) as i128;
            let lo = p as u64 & size_mask(bits as u8);
            let hi = (p >> bits) as u64 & size_mask(bits as u8);
            (lo, hi, p != sext(lo, bits) as i128)
        } else {
            let p = acc as u128 * src as u128;
            let lo = p as u64 & size_mask(bits as u8);
            let hi = (p >> bits) as u64 & size_mask(bits as u8);
            (lo, hi, hi != 0)
        };
        if size == 1 {
            self.gpr_set(RAX as u8, 2, lo | hi << 8);
        } else {
            self.gpr_set(RAX as u8, size, lo);
            self.gpr_set(RDX as u8, size, hi);
        }
        self.cc
            .set_res_aux(bits as u8, lo, if overflow { CF | OF } else { 0 });
        Ok(())
    }

    /// IMUL r, r/m and IMUL r, r/m, imm.
    pub(crate) fn imul_n<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.ops[0].size;
        let bits = size as u32 * 8;
        let (a, b) = if i.nops == 3 {
            (self.op_read(bus, i, 1)?, self.op_read(bus, i, 2)?)
        } else {
            (self.op_read(bus, i, 0)?, self.op_read(bus, i, 1)?)
        };
        let p = sext(a, bits) as i128 * sext(b, bits) as i128;
        let lo = p as u64 & size_mask(bits as u8);
        let overflow = p != sext(lo, bits) as i128;
        self.op_write(bus, i, 0, lo)?;
        self.cc
            .set_res_aux(bits as u8, lo, if overflow { CF | OF } else { 0 });
        Ok(())
    }

    /// DIV/IDIV: rDX:rAX / src, #DE on zero divisor or quotient overflow.
    /// All flags are undefined afterwards; they are left unchanged.
    pub(crate) fn div<B: Bus>(&mut self, bus: &mut B, i: &Insn, signed: bool) -> Res {
        let size = i.ops[0].size;
        let bits = size as u32 * 8;
        let m = size_mask(bits as u8);
        let src = self.op_read(bus, i, 0)?;
        if src == 0 {
            return Err(Event::de());
        }
        let (lo, hi) = if size == 1 {
            let ax = self.gpr_get(RAX as u8, 2);
            (ax & 0xff, ax >> 8)
        } else {
            (self.gpr_get(RAX as u8, size), self.gpr_get(RDX as u8, size))
        };
        let dividend = (hi as u128) << bits | lo as u128;
        let (q, r) = if signed {
            // Sign-extend the 2*bits-wide dividend.
            let w = 2 * bits;
            let d = ((dividend << (128 - w)) as i128) >> (128 - w);
            let s = sext(src, bits) as i128;
            let q = d.checked_div(s).ok_or(Event::de())?;
            let r = d % s;
            let min = -(1i128 << (bits - 1));
            let max = (1i128 << (bits - 1)) - 1;
            if q < min || q > max {
                return Err(Event::de());
            }
            (q as u64 & m, r as u64 & m)
        } else {
            let q = dividend / src as u128;
            if q > m as u128 {
                return Err(Event::de());
            }
            (q as u64, (dividend % src as u128) as u64)
        };
        if size == 1 {
            self.gpr_set(RAX as u8, 2, q | r << 8);
        } else {
            self.gpr_set(RAX as u8, size, q);
            self.gpr_set(RDX as u8, size, r);
        }
        Ok(())
    }
}
