//! Shifts and rotates: SHL/SHR/SAR, ROL/ROR, RCL/RCR, SHLD/SHRD.
//! Counts are masked to 5 bits (6 for 64-bit operands); a masked count of
//! zero changes no flags (SDM vol. 2 "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR").

use iced_x86::Mnemonic;

use crate::cpu::bus::Bus;
use crate::cpu::decode::Insn;
use crate::cpu::exception::{Event, Res};
use crate::cpu::flags::{size_mask, CF, OF};
use crate::cpu::state::Cpu;

use super::alu::sext;
use super::fast::{ROL, ROR, SAR, SHL, SHR};

impl Cpu {
    #[inline(always)]
    fn shift_count<B: Bus>(&mut self, bus: &mut B, i: &Insn, n: usize) -> Res<u32> {
        let mask = if i.ops[0].size == 8 { 63 } else { 31 };
        Ok(self.op_read(bus, i, n)? as u32 & mask)
    }

    #[inline(always)]
    pub(crate) fn shift<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.ops[0].size;
        let bits = size as u32 * 8;
        let a = self.op_read(bus, i, 0)?;
        let c = self.shift_count(bus, i, 1)?;
        if c == 0 {
            // No flags change, but a 32-bit register destination is still
            // written, which zeroes its upper half.
            if i.ops[0].kind == crate::cpu::decode::Kind::Gpr && size == 4 {
                self.op_write(bus, i, 0, a)?;
            }
            return Ok(());
        }
        let kind = match i.mnem {
            Mnemonic::Shl | Mnemonic::Sal => SHL,
            Mnemonic::Shr => SHR,
            Mnemonic::Sar => SAR,
            Mnemonic::Rol => ROL,
            Mnemonic::Ror => ROR,
            _ => return self.rotate_through_carry(bus, i, a, c),
        };
        let (r, cf, of) = shift_result(kind, a, c, bits);
        self.op_write(bus, i, 0, r)?;
        let cf_of = if cf != 0 { CF } else { 0 } | if of != 0 { OF } else { 0 };
        if kind == ROL || kind == ROR {
            // Rotates change only CF and OF.
            let f = (self.cc.get() & !(CF | OF)) | cf_of;
            self.cc.set_all(f);
        } else {
            self.cc.set_res_aux(bits as u8, r, cf_of);
        }
        Ok(())
    }

    /// RCL/RCR change only CF and OF.
    fn rotate_through_carry<B: Bus>(&mut self, bus: &mut B, i: &Insn, a: u64, c: u32) -> Res {
        let bits = i.ops[0].size as u32 * 8;
        let m = size_mask(bits as u8);
        let msb = |v: u64| (v >> (bits - 1)) & 1;
        let old_cf = self.cc.cf() as u64;
        let (r, cf, of) = match i.mnem {
            Mnemonic::Rcl => {
                let w = bits + 1;
                let k = c % w;
                let x = (old_cf as u128) << bits | a as u128;
                let wm = (1u128 << w) - 1;
                let v = if k == 0 {
                    x
                } else {
                    ((x << k) | (x >> (w - k))) & wm
                };
                let r = v as u64 & m;
                let cf = (v >> bits) as u64 & 1;
                (r, cf, msb(r) ^ cf)
            }
            Mnemonic::Rcr => {
                let w = bits + 1;
                let k = c % w;
                let x = (old_cf as u128) << bits | a as u128;
                let wm = (1u128 << w) - 1;
                let v = if k == 0 {
                    x
                } else {
                    ((x >> k) | (x << (w - k))) & wm
                };
                let r = v as u64 & m;
                let cf = (v >> bits) as u64 & 1;
                (r, cf, msb(r) ^ ((r >> (bits - 2)) & 1))
            }
            _ => return Err(Event::ud()),
        };
        self.op_write(bus, i, 0, r)?;
        let f = (self.cc.get() & !(CF | OF))
            | if cf != 0 { CF } else { 0 }
            | if of != 0 { OF } else { 0 };
        self.cc.set_all(f);
        Ok(())
    }

    /// SHLD/SHRD dest, src, count.
    pub(crate) fn shift_double<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.ops[0].size;
        let bits = size as u32 * 8;
        let m = size_mask(bits as u8);
        let a = self.op_read(bus, i, 0)?;
        let b = self.op_read(bus, i, 1)?;
        let c = self.shift_count(bus, i, 2)?;
        if c == 0 {
            // No flags change, but a 32-bit register destination is still
            // written, which zeroes its upper half.
            if i.ops[0].kind == crate::cpu::decode::Kind::Gpr && size == 4 {
                self.op_write(bus, i, 0, a)?;
            }
            return Ok(());
        }
        let msb = |v: u64| (v >> (bits - 1)) & 1;
        // Work in a double-width value so 16-bit counts above 16 behave
        // like hardware's concatenated shifter.
        let (r, cf) = if i.mnem == Mnemonic::Shld {
            let x = (a as u128) << bits | b as u128;
            let full = if bits == 16 { x << 16 | (a as u128) } else { x };
            let wide = if bits == 16 { 48 } else { 2 * bits };
            let sh = full << c;
            let r = (sh >> (wide - bits)) as u64 & m;
            let cf = (full >> (wide - c)) as u64 & 1;
            (r, cf)
        } else {
            let x = (b as u128) << bits | a as u128;
            let full = if bits == 16 { (a as u128) << 32 | x } else { x };
            let r = (full >> c) as u64 & m;
            let cf = (full >> (c - 1)) as u64 & 1;
            (r, cf)
        };
        self.op_write(bus, i, 0, r)?;
        let of = msb(r) ^ msb(a);
        self.cc.set_res_aux(
            bits as u8,
            r,
            if cf != 0 { CF } else { 0 } | if of != 0 { OF } else { 0 },
        );
        Ok(())
    }
}

/// Result, CF and OF of SHL/SHR/SAR/ROL/ROR (`kind`, one of fast.rs's
/// constants) of the `bits`-wide value `a` by a masked count `c` != 0; the
/// generic path and the decode-time register forms share it.
#[inline(always)]
pub(super) fn shift_result(kind: u8, a: u64, c: u32, bits: u32) -> (u64, u64, u64) {
    let m = size_mask(bits as u8);
    let msb = |v: u64| (v >> (bits - 1)) & 1;
    match kind {
        SHL => {
            let r = if c < bits { (a << c) & m } else { 0 };
            let cf = if c <= bits { (a >> (bits - c)) & 1 } else { 0 };
            (r, cf, msb(r) ^ cf)
        }
        SHR => {
            let r = if c < bits { a >> c } else { 0 };
            let cf = if c <= bits { (a >> (c - 1)) & 1 } else { 0 };
            (r, cf, msb(a))
        }
        SAR => {
            let sa = sext(a, bits);
            let r = (sa >> c.min(63)) as u64 & m;
            let cf = (sa >> (c - 1).min(63)) as u64 & 1;
            (r, cf, 0)
        }
        ROL => {
            let k = c % bits;
            let r = if k == 0 { a } else { ((a << k) | (a >> (bits - k))) & m };
            let cf = r & 1;
            (r, cf, msb(r) ^ cf)
        }
        _ => {
            let k = c % bits;
            let r = if k == 0 { a } else { ((a >> k) | (a << (bits - k))) & m };
            (r, msb(r), msb(r) ^ ((r >> (bits - 2)) & 1))
        }
    }
}
