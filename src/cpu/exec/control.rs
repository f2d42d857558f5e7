//! Near control transfers: JMP, Jcc, CALL, RET, LOOP*, JrCXZ, ENTER, LEAVE.

use iced_x86::{Code, Mnemonic};

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind};
use crate::cpu::exception::Res;
use crate::cpu::flags;
use crate::cpu::state::{Cpu, RBP, RCX};

/// Far JMP/CALL forms: direct ptr16:16/ptr16:32 (compatibility mode only)
/// and through memory m16:16/m16:32/m16:64.
fn is_far(i: &Insn) -> bool {
    use Code::*;
    matches!(
        i.code,
        Jmp_ptr1616
            | Jmp_ptr1632
            | Jmp_m1616
            | Jmp_m1632
            | Jmp_m1664
            | Call_ptr1616
            | Call_ptr1632
            | Call_m1616
            | Call_m1632
            | Call_m1664
    )
}

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
        if is_far(i) {
            return self.far_branch(bus, i);
        }
        let target = self.branch_target(bus, i)?;
        self.check_branch_target(target)?;
        self.next_rip = target;
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn jcc(&mut self, i: &Insn) -> Res {
        if self.cc.cond(i.imm2) {
            let target = self.next_rip.wrapping_add(i.imm);
            self.check_branch_target(target)?;
            self.next_rip = target;
        }
        Ok(())
    }

    pub(crate) fn call<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        if is_far(i) {
            return self.far_branch(bus, i);
        }
        let target = self.branch_target(bus, i)?;
        self.check_branch_target(target)?;
        let ret = self.next_rip;
        if i.osz == 8 {
            // The 64-bit case with a constant size: the store folds.
            self.push(bus, 8, ret)?;
        } else {
            self.push(bus, i.osz, ret)?;
        }
        self.next_rip = target;
        Ok(())
    }

    pub(crate) fn ret<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        if self.compat {
            return self.ret_compat(bus, i);
        }
        let t = if i.osz == 8 { self.pop(bus, 8)? } else { self.pop(bus, i.osz)? };
        if i.nops == 1 {
            let sp = self.sp().wrapping_add(i.imm & 0xffff);
            self.set_sp(sp);
        }
        self.next_rip = t;
        Ok(())
    }

    /// Near RET in compatibility mode: the popped EIP must be within the
    /// CS limit, checked before ESP moves (a fault leaves the stack).
    #[cold]
    fn ret_compat<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let sp = self.sp();
        let t = self.read_mem(bus, self.stack_addr(sp, i.osz), i.osz)?;
        self.check_branch_target(t)?;
        let extra = if i.nops == 1 { i.imm & 0xffff } else { 0 };
        self.set_sp(sp.wrapping_add(i.osz as u64).wrapping_add(extra));
        self.next_rip = t;
        Ok(())
    }

    /// LOOP/LOOPE/LOOPNE/JRCXZ/JECXZ; the counter width follows the
    /// address size.
    pub(crate) fn loop_op(&mut self, i: &Insn) -> Res {
        use Code::*;
        let size = match i.mnem {
            Mnemonic::Jcxz => 2,
            Mnemonic::Jecxz => 4,
            Mnemonic::Jrcxz => 8,
            _ => match i.code {
                Loop_rel8_16_CX | Loop_rel8_32_CX | Loope_rel8_16_CX | Loope_rel8_32_CX
                | Loopne_rel8_16_CX | Loopne_rel8_32_CX => 2,
                Loop_rel8_16_ECX | Loop_rel8_32_ECX | Loop_rel8_64_ECX | Loope_rel8_16_ECX
                | Loope_rel8_32_ECX | Loope_rel8_64_ECX | Loopne_rel8_16_ECX
                | Loopne_rel8_32_ECX | Loopne_rel8_64_ECX => 4,
                _ => 8,
            },
        };
        let take = if matches!(i.mnem, Mnemonic::Jrcxz | Mnemonic::Jecxz | Mnemonic::Jcxz) {
            self.gpr_get(RCX as u8, size) == 0
        } else {
            let c = self.gpr_get(RCX as u8, size).wrapping_sub(1);
            let take = c & flags::size_mask(size * 8) != 0
                && match i.mnem {
                    Mnemonic::Loope => self.cc.zf(),
                    Mnemonic::Loopne => !self.cc.zf(),
                    _ => true,
                };
            if take {
                // A target beyond the CS limit faults before the count
                // is written.
                self.check_branch_target(self.next_rip.wrapping_add(i.imm))?;
            }
            self.gpr_set(RCX as u8, size, c);
            take
        };
        if take {
            let target = self.next_rip.wrapping_add(i.imm);
            self.check_branch_target(target)?;
            self.next_rip = target;
        }
        Ok(())
    }

    /// LEAVE: the stack pointer takes (R/E)BP with the stack's width, then
    /// the frame pointer is popped with the operand size.
    pub(crate) fn leave<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let bp = self.gpr[RBP];
        let sp = if self.compat {
            self.stack_width_of(bp)
        } else {
            bp
        };
        let v = self.read_mem(bus, self.stack_addr(sp, i.osz), i.osz)?;
        self.set_sp(sp.wrapping_add(i.osz as u64));
        self.gpr_set(RBP as u8, i.osz, v);
        Ok(())
    }

    /// ENTER imm16, imm8 (SDM vol. 2 "ENTER"): frame pointer and nesting
    /// levels with the operand size, offsets with the stack's width.
    pub(crate) fn enter<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.imm & 0xffff;
        let level = i.imm2 as u64 & 31;
        let osz = i.osz as u64;
        let mut sp = self.sp().wrapping_sub(osz);
        self.write_mem(
            bus,
            self.stack_addr(sp, i.osz),
            i.osz,
            self.gpr_get(RBP as u8, i.osz),
        )?;
        let frame = sp;
        let mut bp = self.gpr[RBP];
        if level > 0 {
            for _ in 1..level {
                bp = bp.wrapping_sub(osz);
                let v = self.read_mem(bus, self.stack_addr(bp, i.osz), i.osz)?;
                sp = sp.wrapping_sub(osz);
                self.write_mem(bus, self.stack_addr(sp, i.osz), i.osz, v)?;
            }
            sp = sp.wrapping_sub(osz);
            self.write_mem(bus, self.stack_addr(sp, i.osz), i.osz, frame)?;
        }
        self.gpr_set(RBP as u8, i.osz, frame);
        self.set_sp(sp.wrapping_sub(size));
        Ok(())
    }

    /// `v` cut to the stack's width (ESP or SP in compatibility mode).
    fn stack_width_of(&self, v: u64) -> u64 {
        if self.seg[crate::cpu::state::SS].attr & crate::cpu::state::Segment::ATTR_DB != 0 {
            v & 0xffff_ffff
        } else {
            v & 0xffff
        }
    }
}
