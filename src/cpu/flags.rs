//! RFLAGS with lazily evaluated arithmetic flags.
//!
//! Most instructions set CF/PF/AF/ZF/SF/OF but few readers ever look at them
//! (the next compare overwrites them). Like QEMU's `CC_OP` scheme we record
//! the operation, its operands and its result, and compute a flag only when
//! a Jcc/SETcc/PUSHF/ADC... asks for it. Flag definitions: Intel SDM vol. 1
//! §3.4.3 and the per-instruction "Flags Affected" sections of vol. 2.

pub const CF: u64 = 1 << 0;
pub const PF: u64 = 1 << 2;
pub const AF: u64 = 1 << 4;
pub const ZF: u64 = 1 << 6;
pub const SF: u64 = 1 << 7;
pub const TF: u64 = 1 << 8;
pub const IF: u64 = 1 << 9;
pub const DF: u64 = 1 << 10;
pub const OF: u64 = 1 << 11;
pub const IOPL: u64 = 3 << 12;
pub const NT: u64 = 1 << 14;
pub const RF: u64 = 1 << 16;
pub const VM: u64 = 1 << 17;
pub const AC: u64 = 1 << 18;
pub const VIF: u64 = 1 << 19;
pub const VIP: u64 = 1 << 20;
pub const ID: u64 = 1 << 21;
/// The six status flags kept lazily.
pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;
/// Bit 1 of RFLAGS always reads as one.
pub const FIXED1: u64 = 1 << 1;

/// Which operation produced the pending flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CcOp {
    /// `aux` holds the materialised status flags.
    Eflags,
    /// res = a + b (+ carry-in in `aux` for ADC).
    Add,
    Adc,
    /// res = a - b (- borrow-in in `aux` for SBB). Also CMP, NEG (a = 0).
    Sub,
    Sbb,
    /// AND/OR/XOR/TEST: CF = OF = 0.
    Logic,
    /// INC/DEC keep CF, which is saved in `aux`.
    Inc,
    Dec,
    /// ZF/SF/PF from the result; CF, OF and AF are the bits in `aux`
    /// (shifts, multiplies, bit scans: computed by the instruction).
    ResAux,
}

#[derive(Clone, Copy, Debug)]
pub struct LazyFlags {
    pub op: CcOp,
    /// Operand width in bits: 8, 16, 32 or 64.
    pub bits: u8,
    pub res: u64,
    pub a: u64,
    pub b: u64,
    pub aux: u64,
}

impl Default for LazyFlags {
    fn default() -> Self {
        LazyFlags {
            op: CcOp::Eflags,
            bits: 64,
            res: 0,
            a: 0,
            b: 0,
            aux: 0,
        }
    }
}

#[inline(always)]
pub fn size_mask(bits: u8) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[inline(always)]
fn sign_bit(bits: u8) -> u64 {
    1u64 << (bits - 1)
}

#[inline(always)]
pub fn parity(v: u64) -> bool {
    (v as u8).count_ones() & 1 == 0
}

impl LazyFlags {
    #[inline(always)]
    pub fn set(&mut self, op: CcOp, bits: u8, res: u64, a: u64, b: u64) {
        self.op = op;
        self.bits = bits;
        self.res = res & size_mask(bits);
        self.a = a;
        self.b = b;
    }

    /// Replace the status flags by explicit values (POPF, SAHF, ...).
    pub fn set_all(&mut self, flags: u64) {
        self.op = CcOp::Eflags;
        self.aux = flags & ARITH;
    }

    /// Result-based flags with explicit CF/OF/AF (shifts, MUL, BSF...).
    #[inline(always)]
    pub fn set_res_aux(&mut self, bits: u8, res: u64, aux: u64) {
        self.op = CcOp::ResAux;
        self.bits = bits;
        self.res = res & size_mask(bits);
        self.aux = aux;
    }

    #[inline]
    pub fn cf(&self) -> bool {
        let m = size_mask(self.bits);
        match self.op {
            CcOp::Eflags | CcOp::Inc | CcOp::Dec | CcOp::ResAux => self.aux & CF != 0,
            CcOp::Add => self.res < (self.a & m),
            CcOp::Adc => self.res < (self.a & m) || (self.aux != 0 && self.res == (self.a & m)),
            CcOp::Sub => (self.a & m) < (self.b & m),
            CcOp::Sbb => {
                (self.a & m) < (self.b & m) || (self.aux != 0 && (self.a & m) == (self.b & m))
            }
            CcOp::Logic => false,
        }
    }

    #[inline]
    pub fn zf(&self) -> bool {
        match self.op {
            CcOp::Eflags => self.aux & ZF != 0,
            _ => self.res == 0,
        }
    }

    #[inline]
    pub fn sf(&self) -> bool {
        match self.op {
            CcOp::Eflags => self.aux & SF != 0,
            _ => self.res & sign_bit(self.bits) != 0,
        }
    }

    #[inline]
    pub fn pf(&self) -> bool {
        match self.op {
            CcOp::Eflags => self.aux & PF != 0,
            _ => parity(self.res),
        }
    }

    #[inline]
    pub fn of(&self) -> bool {
        let s = sign_bit(self.bits);
        match self.op {
            CcOp::Eflags | CcOp::ResAux => self.aux & OF != 0,
            CcOp::Add | CcOp::Adc => (self.a ^ self.res) & (self.b ^ self.res) & s != 0,
            CcOp::Sub | CcOp::Sbb => (self.a ^ self.b) & (self.a ^ self.res) & s != 0,
            CcOp::Logic => false,
            CcOp::Inc => self.res == s,
            CcOp::Dec => self.res == s - 1,
        }
    }

    #[inline]
    pub fn af(&self) -> bool {
        match self.op {
            CcOp::Eflags | CcOp::ResAux => self.aux & AF != 0,
            CcOp::Add | CcOp::Adc | CcOp::Sub | CcOp::Sbb => (self.a ^ self.b ^ self.res) & AF != 0,
            CcOp::Logic => false,
            CcOp::Inc => self.res & 0xf == 0,
            CcOp::Dec => self.res & 0xf == 0xf,
        }
    }

    /// All six status flags as RFLAGS bits.
    #[inline]
    pub fn get(&self) -> u64 {
        self.get_inline()
    }

    /// `get`, inlined into hot callers (ROL/ROR materialise the flags they
    /// keep).
    #[inline(always)]
    pub fn get_inline(&self) -> u64 {
        if self.op == CcOp::Eflags {
            return self.aux & ARITH;
        }
        // ZF/SF/PF come from the result for every other operation.
        let s = sign_bit(self.bits);
        let common = if self.res == 0 { ZF } else { 0 }
            | if self.res & s != 0 { SF } else { 0 }
            | if parity(self.res) { PF } else { 0 };
        if self.op == CcOp::ResAux {
            return common | (self.aux & (CF | OF | AF));
        }
        if self.op == CcOp::Logic {
            return common;
        }
        common | (self.cf() as u64) | (self.af() as u64) << 4 | (self.of() as u64) << 11
    }

    /// Slow reference for `get` (kept for the unit test below).
    #[cfg(test)]
    fn get_slow(&self) -> u64 {
        if self.op == CcOp::Eflags {
            return self.aux & ARITH;
        }
        (self.cf() as u64)
            | (self.pf() as u64) << 2
            | (self.af() as u64) << 4
            | (self.zf() as u64) << 6
            | (self.sf() as u64) << 7
            | (self.of() as u64) << 11
    }

    /// Evaluate condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc
    /// opcodes, SDM vol. 1 appendix B).
    #[inline(always)]
    pub fn cond(&self, cc: u8) -> bool {
        // Most conditions follow a CMP/SUB or a TEST/AND/...: those compare
        // the operands directly instead of assembling SF/OF/CF.
        match self.op {
            CcOp::Sub => self.cond_sub(cc),
            CcOp::Logic => self.cond_logic(cc),
            _ => self.cond_flags(cc),
        }
    }

    /// `cond` after `a - b` (res = a - b, no borrow-in).
    #[inline(always)]
    fn cond_sub(&self, cc: u8) -> bool {
        let m = size_mask(self.bits);
        let (a, b) = (self.a & m, self.b & m);
        let shift = 64 - self.bits as u32;
        let (sa, sb) = (
            ((a << shift) as i64) >> shift,
            ((b << shift) as i64) >> shift,
        );
        let r = match cc >> 1 {
            0 => self.of(),
            1 => a < b,
            2 => a == b,
            3 => a <= b,
            4 => self.res & sign_bit(self.bits) != 0,
            5 => parity(self.res),
            6 => sa < sb,
            _ => sa <= sb,
        };
        r ^ (cc & 1 != 0)
    }

    /// `cond` after a logic operation (CF = OF = 0).
    #[inline(always)]
    fn cond_logic(&self, cc: u8) -> bool {
        let sf = self.res & sign_bit(self.bits) != 0;
        let zf = self.res == 0;
        let r = match cc >> 1 {
            0 | 1 => false,
            2 | 3 => zf,
            4 | 6 => sf,
            5 => parity(self.res),
            _ => zf || sf,
        };
        r ^ (cc & 1 != 0)
    }

    /// `cond` from the individual flags (any operation).
    #[inline]
    fn cond_flags(&self, cc: u8) -> bool {
        let r = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || (self.sf() != self.of()),
        };
        r ^ (cc & 1 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_carry_and_overflow() {
        let mut f = LazyFlags::default();
        f.set(CcOp::Add, 8, 0x7f + 1, 0x7f, 1);
        assert!(!f.cf() && f.of() && f.sf() && !f.zf() && f.af());
        f.set(CcOp::Add, 8, 0xff + 1, 0xff, 1);
        assert!(f.cf() && !f.of() && f.zf());
    }

    #[test]
    fn sub_borrow_and_conditions() {
        let mut f = LazyFlags::default();
        f.set(CcOp::Sub, 32, 1u64.wrapping_sub(2), 1, 2);
        assert!(f.cf() && f.sf() && !f.of());
        assert!(f.cond(0x2)); // B
        assert!(f.cond(0xc)); // L
        assert!(!f.cond(0x7)); // A
    }

    #[test]
    fn fast_get_matches_per_flag_evaluation() {
        let mut f = LazyFlags::default();
        let vals = [
            0u64,
            1,
            0x7f,
            0x80,
            0xff,
            0x7fff_ffff,
            0x8000_0000,
            u64::MAX,
            0x1234_5678_9abc_def0,
        ];
        for op in [
            CcOp::Add,
            CcOp::Adc,
            CcOp::Sub,
            CcOp::Sbb,
            CcOp::Logic,
            CcOp::Inc,
            CcOp::Dec,
            CcOp::ResAux,
        ] {
            for bits in [8u8, 16, 32, 64] {
                for &a in &vals {
                    for &b in &vals {
                        f.set(op, bits, a.wrapping_add(b), a, b);
                        f.aux = (a ^ b) & (CF | OF | AF);
                        assert_eq!(f.get(), f.get_slow(), "{op:?}/{bits} {a:#x} {b:#x}");
                    }
                }
            }
        }
    }

    #[test]
    fn fast_conditions_match_flag_evaluation() {
        let vals = [
            0u64,
            1,
            2,
            0x7f,
            0x80,
            0xff,
            0x7fff,
            0x8000,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            u64::MAX,
            0x8000_0000_0000_0000,
            0x1234_5678_9abc_def0,
        ];
        let mut f = LazyFlags::default();
        for bits in [8u8, 16, 32, 64] {
            for &a in &vals {
                for &b in &vals {
                    let (a, b) = (a & size_mask(bits), b & size_mask(bits));
                    for (op, res) in [(CcOp::Sub, a.wrapping_sub(b)), (CcOp::Logic, a & b)] {
                        f.set(op, bits, res, a, b);
                        for cc in 0..16 {
                            assert_eq!(
                                f.cond(cc),
                                f.cond_flags(cc),
                                "{op:?}/{bits} {a:#x} {b:#x} cc {cc}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn set_all_roundtrip() {
        let mut f = LazyFlags::default();
        f.set_all(ARITH);
        assert_eq!(f.get(), ARITH);
    }
}
