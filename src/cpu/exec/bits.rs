//! Bit instructions: BT/BTS/BTR/BTC, BSF/BSR, LZCNT, POPCNT, BSWAP.

use iced_x86::Mnemonic;

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind};
use crate::cpu::exception::{Event, Res};
use crate::cpu::flags::{size_mask, CF, ZF};
use crate::cpu::state::Cpu;

use super::alu::sext;

impl Cpu {
    /// BT/BTS/BTR/BTC: CF = selected bit; ZF unchanged (Intel), the other
    /// flags are undefined and kept.
    pub(crate) fn bt<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.ops[0].size;
        let bits = size as u64 * 8;
        let off = self.op_read(bus, i, 1)?;
        let (bit, addr) = if i.ops[0].kind == Kind::Mem && i.ops[1].kind != Kind::Imm {
            // A register bit offset addresses memory beyond the operand
            // (SDM vol. 2 "BT": bit string addressing).
            let soff = sext(off, bits as u32 * 1);
            let elem = soff.div_euclid(bits as i64);
            let a = self.ea(i).wrapping_add((elem * size as i64) as u64);
            (soff.rem_euclid(bits as i64) as u64, Some(a))
        } else {
            (off & (bits - 1), None)
        };
        let v = match addr {
            Some(a) => self.read_mem(bus, a, size)?,
            None => self.op_read(bus, i, 0)?,
        };
        let cf = (v >> bit) & 1;
        let nv = match i.mnem {
            Mnemonic::Bt => None,
            Mnemonic::Bts => Some(v | 1 << bit),
            Mnemonic::Btr => Some(v & !(1 << bit)),
            Mnemonic::Btc => Some(v ^ 1 << bit),
            _ => return Err(Event::ud()),
        };
        if let Some(nv) = nv {
            match addr {
                Some(a) => self.write_mem(bus, a, size, nv)?,
                None => self.op_write(bus, i, 0, nv)?,
            }
        }
        let f = (self.cc.get() & !CF) | if cf != 0 { CF } else { 0 };
        self.cc.set_all(f);
        Ok(())
    }

    /// BSF/BSR (and TZCNT, which CPUID does not advertise, so it executes
    /// as BSF like on pre-BMI1 processors). Source zero: ZF = 1, destination
    /// unchanged.
    pub(crate) fn bit_scan<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.ops[0].size;
        let src = self.op_read(bus, i, 1)?;
        let f = self.cc.get() & !ZF;
        if src == 0 {
            self.cc.set_all(f | ZF);
            return Ok(());
        }
        let r = if i.mnem == Mnemonic::Bsr {
            63 - src.leading_zeros() as u64
        } else {
            src.trailing_zeros() as u64
        };
        self.op_write(bus, i, 0, r)?;
        let _ = size;
        self.cc.set_all(f);
        Ok(())
    }

    /// LZCNT (advertised via CPUID 8000_0001h ECX.ABM): CF = source zero,
    /// ZF = result zero.
    pub(crate) fn lzcnt<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let bits = i.ops[0].size as u32 * 8;
        let src = self.op_read(bus, i, 1)?;
        let r = (src.leading_zeros() - (64 - bits)) as u64;
        self.op_write(bus, i, 0, r)?;
        let f = (self.cc.get() & !(CF | ZF))
            | if src == 0 { CF } else { 0 }
            | if r == 0 { ZF } else { 0 };
        self.cc.set_all(f);
        Ok(())
    }

    /// POPCNT: ZF = source zero, the other status flags cleared.
    pub(crate) fn popcnt<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let src = self.op_read(bus, i, 1)?;
        self.op_write(bus, i, 0, src.count_ones() as u64)?;
        self.cc.set_all(if src == 0 { ZF } else { 0 });
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn bswap(&mut self, i: &Insn) -> Res {
        let o = i.ops[0];
        let v = self.gpr_get(o.reg, o.size);
        let r = match o.size {
            8 => v.swap_bytes(),
            4 => (v as u32).swap_bytes() as u64,
            // 16-bit BSWAP is undefined; hardware clears the register.
            _ => 0,
        };
        self.gpr_set(o.reg, o.size, r & size_mask(o.size * 8));
        Ok(())
    }
}
