//! Near control transfers: JMP, Jcc, CALL, RET, LOOP*, JrCXZ, ENTER, LEAVE.

use iced_x86::{Code, Mnemonic};

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind};
use crate::cpu::exception::{Event, Res};
use crate::cpu::state::{Cpu, RBP, RCX, RSP};

impl Cpu {
    #[inline(always)]
    fn branch_target<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res<u64> {
        if i.ops[0].kind == Kind::Rel {
            Ok(self.next_rip.wrapping_add(i.imm))
        } else {
            // JMP/CALL r/m64 (operand size is always 64 in 64-bit mode).
            self.op_read(bus, i, 0)
        }
    }

    pub(crate) fn jmp<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        if i.ops[0].kind == Kind::Mem && i.ops[0].size > 8 {
            return self.far_jmp_mem(bus, i);
        }
        self.next_rip = self.branch_target(bus, i)?;
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn jcc(&mut self, i: &Insn) -> Res {
        if self.cc.cond(i.imm2) {
            self.next_rip = self.next_rip.wrapping_add(i.imm);
        }
        Ok(())
    }

    pub(crate) fn call<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        if i.ops[0].kind == Kind::Mem && i.ops[0].size > 8 {
            return Err(Event::ud());
        }
        let target = self.branch_target(bus, i)?;
        let ret = self.next_rip;
        self.push(bus, 8, ret)?;
        self.next_rip = target;
        Ok(())
    }

    pub(crate) fn ret<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let t = self.pop(bus, 8)?;
        if i.nops == 1 {
            self.gpr[RSP] = self.gpr[RSP].wrapping_add(i.imm & 0xffff);
        }
        self.next_rip = t;
        Ok(())
    }

    /// LOOP/LOOPE/LOOPNE/JRCXZ/JECXZ; the counter width follows the
    /// address size.
    pub(crate) fn loop_op(&mut self, i: &Insn) -> Res {
        let wide = !matches!(
            i.code,
            Code::Loop_rel8_64_ECX | Code::Loope_rel8_64_ECX | Code::Loopne_rel8_64_ECX | Code::Jecxz_rel8_64
        );
        let size = if wide { 8 } else { 4 };
        let take = if matches!(i.mnem, Mnemonic::Jrcxz | Mnemonic::Jecxz) {
            self.gpr_get(RCX as u8, size) == 0
        } else {
            let c = self.gpr_get(RCX as u8, size).wrapping_sub(1);
            self.gpr_set(RCX as u8, size, c);
            let c = if wide { c } else { c & 0xffff_ffff };
            c != 0
                && match i.mnem {
                    Mnemonic::Loope => self.cc.zf(),
                    Mnemonic::Loopne => !self.cc.zf(),
                    _ => true,
                }
        };
        if take {
            self.next_rip = self.next_rip.wrapping_add(i.imm);
        }
        Ok(())
    }

    pub(crate) fn leave<B: Bus>(&mut self, bus: &mut B) -> Res {
        let bp = self.gpr[RBP];
        let v = self.read_mem(bus, bp, 8)?;
        self.gpr[RSP] = bp.wrapping_add(8);
        self.gpr[RBP] = v;
        Ok(())
    }

    /// ENTER imm16, imm8 (SDM vol. 2 "ENTER", 64-bit operand size).
    pub(crate) fn enter<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.imm & 0xffff;
        let level = i.imm2 as u64 & 31;
        let old_rsp = self.gpr[RSP];
        let mut sp = old_rsp.wrapping_sub(8);
        self.write_mem(bus, sp, 8, self.gpr[RBP])?;
        let frame = sp;
        let mut bp = self.gpr[RBP];
        if level > 0 {
            for _ in 1..level {
                bp = bp.wrapping_sub(8);
                let v = self.read_mem(bus, bp, 8)?;
                sp = sp.wrapping_sub(8);
                self.write_mem(bus, sp, 8, v)?;
            }
            sp = sp.wrapping_sub(8);
            self.write_mem(bus, sp, 8, frame)?;
        }
        self.gpr[RBP] = frame;
        self.gpr[RSP] = sp.wrapping_sub(size);
        Ok(())
    }
}
