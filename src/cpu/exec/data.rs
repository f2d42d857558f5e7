//! Data movement: MOV/MOVZX/MOVSX/LEA/XCHG/CMOVcc/SETcc, stack pushes and
//! pops, flag transfers, sign extensions and the atomic exchanges.

use iced_x86::Mnemonic;

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind};
use crate::cpu::exception::{Event, Res};
use crate::cpu::flags::{self, size_mask, CcOp, ARITH, ZF};
use crate::cpu::state::{Cpu, RAX, RBX, RCX, RDX};

use super::alu::sext;

impl Cpu {
    pub(crate) fn mov<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        match (i.ops[0].kind, i.ops[1].kind) {
            (Kind::Seg, _) => {
                let v = self.op_read(bus, i, 1)?;
                self.load_segment(bus, i.ops[0].reg as usize, v as u16)
            }
            (Kind::Cr, _) | (_, Kind::Cr) | (Kind::Dr, _) | (_, Kind::Dr) => self.mov_cr_dr(i),
            (_, Kind::Seg) => {
                // MOV r/m, Sreg: a 32/64-bit register destination is
                // zero-extended, memory is always written as 16 bits.
                let v = self.seg[i.ops[1].reg as usize % 6].selector as u64;
                self.op_write(bus, i, 0, v)
            }
            _ => {
                let v = self.op_read(bus, i, 1)?;
                self.op_write(bus, i, 0, v)
            }
        }
    }

    pub(crate) fn movzx_sx<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        // The destination is always a general-purpose register.
        let v = self.op_read(bus, i, 1)?;
        match i.mnem {
            Mnemonic::Movzx => self.movx::<false>(i, v),
            _ => self.movx::<true>(i, v),
        }
        Ok(())
    }

    /// LEA: the offset only, no segment base.
    #[inline(always)]
    pub(crate) fn lea(&mut self, i: &Insn) -> Res {
        let a = self.mem_offset(i);
        let o = i.ops[0];
        self.gpr_set(o.reg, o.size, a & size_mask(o.size * 8));
        Ok(())
    }

    pub(crate) fn xchg<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let a = self.op_read(bus, i, 0)?;
        let b = self.op_read(bus, i, 1)?;
        // Memory first so a fault leaves the register untouched.
        self.op_write(bus, i, 0, b)?;
        self.op_write(bus, i, 1, a)
    }

    /// CMOVcc: the source is always read, and a 32-bit destination is
    /// zero-extended even when the condition is false.
    pub(crate) fn cmov<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        // The destination is always a general-purpose register.
        let v = self.op_read(bus, i, 1)?;
        self.cmov_to_reg(i, v);
        Ok(())
    }

    pub(crate) fn setcc<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let v = self.cc.cond(i.imm2) as u64;
        self.op_write(bus, i, 0, v)
    }

    pub(crate) fn push_op<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let v = self.op_read(bus, i, 0)?;
        self.push(bus, i.osz, v)
    }

    /// POP: a memory destination addressed through RSP uses the value of
    /// RSP after the increment (SDM vol. 2 "POP").
    pub(crate) fn pop_op<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.osz;
        let old_rsp = self.gpr[4];
        let sp = self.sp();
        let v = self.read_mem(bus, self.stack_addr(sp, size), size)?;
        match i.ops[0].kind {
            Kind::Seg => {
                self.load_segment(bus, i.ops[0].reg as usize, v as u16)?;
                self.set_sp(sp.wrapping_add(size as u64));
                Ok(())
            }
            Kind::Mem => {
                self.set_sp(sp.wrapping_add(size as u64));
                if let Err(e) = self.op_write(bus, i, 0, v) {
                    self.gpr[4] = old_rsp;
                    return Err(e);
                }
                Ok(())
            }
            _ => {
                self.set_sp(sp.wrapping_add(size as u64));
                self.op_write(bus, i, 0, v)
            }
        }
    }

    pub(crate) fn pushf<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let f = self.rflags() & !(flags::VM | flags::RF);
        self.push(bus, i.osz, f)
    }

    /// POPF with the privilege rules of SDM vol. 2 "POPF": IOPL only at
    /// CPL 0, IF only when CPL <= IOPL; VM and RF are cleared.
    pub(crate) fn popf<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.osz;
        let v = self.pop(bus, size)?;
        let iopl = ((self.rflags & flags::IOPL) >> 12) as u8;
        let mut mask = ARITH | flags::TF | flags::DF | flags::NT | flags::AC | flags::ID;
        if self.cpl == 0 {
            mask |= flags::IOPL;
        }
        if self.cpl <= iopl {
            mask |= flags::IF;
        }
        if size == 2 {
            mask &= 0xffff;
        }
        let newf = (self.rflags() & !mask) | (v & mask);
        self.set_rflags(newf & !(flags::VM | flags::RF));
        Ok(())
    }

    pub(crate) fn lahf(&mut self) -> Res {
        let f = (self.cc.get() & 0xd5) | flags::FIXED1;
        let r = &mut self.gpr[RAX];
        *r = (*r & !0xff00) | (f << 8);
        Ok(())
    }

    pub(crate) fn sahf(&mut self) -> Res {
        let ah = (self.gpr[RAX] >> 8) & 0xd5;
        let f = (self.cc.get() & !0xd5) | ah;
        self.cc.set_all(f);
        Ok(())
    }

    /// CBW/CWDE/CDQE and CWD/CDQ/CQO.
    pub(crate) fn sign_extend_acc(&mut self, i: &Insn) -> Res {
        let a = self.gpr[RAX];
        match i.mnem {
            Mnemonic::Cbw => self.gpr_set(RAX as u8, 2, sext(a, 8) as u64),
            Mnemonic::Cwde => self.gpr_set(RAX as u8, 4, sext(a, 16) as u64),
            Mnemonic::Cdqe => self.gpr_set(RAX as u8, 8, sext(a, 32) as u64),
            Mnemonic::Cwd => self.gpr_set(RDX as u8, 2, (sext(a, 16) >> 16) as u64),
            Mnemonic::Cdq => self.gpr_set(RDX as u8, 4, (sext(a, 32) >> 32) as u64),
            Mnemonic::Cqo => self.gpr_set(RDX as u8, 8, ((a as i64) >> 63) as u64),
            _ => return Err(Event::ud()),
        }
        Ok(())
    }

    /// CMPXCHG r/m, r: compare the accumulator with the destination.
    pub(crate) fn cmpxchg<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.ops[0].size;
        let bits = size * 8;
        let dest = self.op_read(bus, i, 0)?;
        let src = self.op_read(bus, i, 1)?;
        let acc = self.gpr_get(RAX as u8, size);
        if acc == dest {
            self.op_write(bus, i, 0, src)?;
        } else {
            if i.ops[0].kind == Kind::Mem {
                // The locked cycle writes the old value back.
                self.op_write(bus, i, 0, dest)?;
            }
            self.gpr_set(RAX as u8, size, dest);
        }
        self.cc
            .set(CcOp::Sub, bits, acc.wrapping_sub(dest), acc, dest);
        Ok(())
    }

    pub(crate) fn xadd<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let bits = i.ops[0].size * 8;
        let a = self.op_read(bus, i, 0)?;
        let b = self.op_read(bus, i, 1)?;
        let r = a.wrapping_add(b);
        self.op_write(bus, i, 0, r & size_mask(bits))?;
        self.op_write(bus, i, 1, a)?;
        // When both operands are the same register the sum wins.
        if i.ops[0] == i.ops[1] {
            self.op_write(bus, i, 0, r & size_mask(bits))?;
        }
        self.cc.set(CcOp::Add, bits, r, a, b);
        Ok(())
    }

    /// CMPXCHG8B / CMPXCHG16B (16B requires 16-byte alignment).
    pub(crate) fn cmpxchg_wide<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let addr = self.ea(i);
        let f = self.cc.get() & !ZF;
        if i.mnem == Mnemonic::Cmpxchg16b {
            if addr & 15 != 0 {
                return Err(Event::gp(0));
            }
            let lo = self.read_mem(bus, addr, 8)?;
            let hi = self.read_mem(bus, addr.wrapping_add(8), 8)?;
            if lo == self.gpr[RAX] && hi == self.gpr[RDX] {
                let v = self.gpr[RBX] as u128 | (self.gpr[RCX] as u128) << 64;
                self.write_u128(bus, addr, v)?;
                self.cc.set_all(f | ZF);
            } else {
                self.write_u128(bus, addr, lo as u128 | (hi as u128) << 64)?;
                self.gpr[RAX] = lo;
                self.gpr[RDX] = hi;
                self.cc.set_all(f);
            }
        } else {
            let m = self.read_mem(bus, addr, 8)?;
            let cmp = (self.gpr[RDX] & 0xffff_ffff) << 32 | (self.gpr[RAX] & 0xffff_ffff);
            if m == cmp {
                let v = (self.gpr[RCX] & 0xffff_ffff) << 32 | (self.gpr[RBX] & 0xffff_ffff);
                self.write_mem(bus, addr, 8, v)?;
                self.cc.set_all(f | ZF);
            } else {
                self.write_mem(bus, addr, 8, m)?;
                self.gpr[RAX] = m & 0xffff_ffff;
                self.gpr[RDX] = m >> 32;
                self.cc.set_all(f);
            }
        }
        Ok(())
    }

    /// CLC/STC/CMC/CLD/STD.
    pub(crate) fn flag_op(&mut self, i: &Insn) -> Res {
        let f = self.cc.get();
        match i.mnem {
            Mnemonic::Clc => self.cc.set_all(f & !flags::CF),
            Mnemonic::Stc => self.cc.set_all(f | flags::CF),
            Mnemonic::Cmc => self.cc.set_all(f ^ flags::CF),
            Mnemonic::Cld => self.rflags &= !flags::DF,
            Mnemonic::Std => self.rflags |= flags::DF,
            _ => return Err(Event::ud()),
        }
        Ok(())
    }
}
