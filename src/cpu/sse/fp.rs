//! SSE/SSE2 floating point: arithmetic, compares, conversions, with MXCSR
//! rounding and exception flags (see `softfloat`).

use iced_x86::Mnemonic as M;

use super::softfloat::{self as sf, Env, Float, Op};
use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind};
use crate::cpu::exception::{Event, Res};
use crate::cpu::flags::{CF, PF, ZF};
use crate::cpu::state::Cpu;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Low element only, the rest of the destination kept.
    Scalar,
    Packed,
}

fn f32s(v: u128, k: u32) -> f32 {
    f32::from_bits((v >> (32 * k)) as u32)
}
fn f64s(v: u128, k: u32) -> f64 {
    f64::from_bits((v >> (64 * k)) as u64)
}
fn put32(v: u128, k: u32, x: f32) -> u128 {
    (v & !(0xffff_ffffu128 << (32 * k))) | (x.to_bits() as u128) << (32 * k)
}
fn put64(v: u128, k: u32, x: f64) -> u128 {
    (v & !((u64::MAX as u128) << (64 * k))) | (x.to_bits() as u128) << (64 * k)
}

impl Cpu {
    fn env(&self) -> Env {
        Env::from_mxcsr(self.mxcsr)
    }

    pub(crate) fn sse_fp<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Option<Res> {
        use Shape::*;
        let (op, single, shape) = match i.mnem {
            M::Addss => (Some(Op::Add), true, Scalar),
            M::Addsd => (Some(Op::Add), false, Scalar),
            M::Addps => (Some(Op::Add), true, Packed),
            M::Addpd => (Some(Op::Add), false, Packed),
            M::Subss => (Some(Op::Sub), true, Scalar),
            M::Subsd => (Some(Op::Sub), false, Scalar),
            M::Subps => (Some(Op::Sub), true, Packed),
            M::Subpd => (Some(Op::Sub), false, Packed),
            M::Mulss => (Some(Op::Mul), true, Scalar),
            M::Mulsd => (Some(Op::Mul), false, Scalar),
            M::Mulps => (Some(Op::Mul), true, Packed),
            M::Mulpd => (Some(Op::Mul), false, Packed),
            M::Divss => (Some(Op::Div), true, Scalar),
            M::Divsd => (Some(Op::Div), false, Scalar),
            M::Divps => (Some(Op::Div), true, Packed),
            M::Divpd => (Some(Op::Div), false, Packed),
            M::Sqrtss => (Some(Op::Sqrt), true, Scalar),
            M::Sqrtsd => (Some(Op::Sqrt), false, Scalar),
            M::Sqrtps => (Some(Op::Sqrt), true, Packed),
            M::Sqrtpd => (Some(Op::Sqrt), false, Packed),
            M::Minss | M::Maxss | M::Cmpss => (None, true, Scalar),
            M::Minsd | M::Maxsd | M::Cmpsd => (None, false, Scalar),
            M::Minps | M::Maxps | M::Cmpps => (None, true, Packed),
            M::Minpd | M::Maxpd | M::Cmppd => (None, false, Packed),
            _ => return self.sse_fp_misc(bus, i),
        };
        Some(self.fp_lanes(bus, i, op, single, shape))
    }

    /// Element-wise arithmetic, MIN/MAX and CMP.
    fn fp_lanes<B: Bus>(&mut self, bus: &mut B, i: &Insn, op: Option<Op>, single: bool, shape: Shape) -> Res {
        let env = self.env();
        let d = i.ops[0].reg as usize & 15;
        let a = self.xmm[d];
        let b = self.xsrc(bus, i, 1)?;
        let n = match (shape, single) {
            (Shape::Scalar, _) => 1,
            (Shape::Packed, true) => 4,
            (Shape::Packed, false) => 2,
        };
        let mut flags = 0;
        let mut r = a;
        for k in 0..n {
            if single {
                let (x, y) = (f32s(a, k), f32s(b, k));
                let v = lane_op(&env, i, op, x, y, &mut flags);
                r = match v {
                    Lane::F(f) => put32(r, k, f),
                    Lane::Mask(m) => put32(r, k, f32::from_bits(if m { u32::MAX } else { 0 })),
                };
            } else {
                let (x, y) = (f64s(a, k), f64s(b, k));
                let v = lane_op(&env, i, op, x, y, &mut flags);
                r = match v {
                    Lane::F(f) => put64(r, k, f),
                    Lane::Mask(m) => put64(r, k, f64::from_bits(if m { u64::MAX } else { 0 })),
                };
            }
        }
        self.mxcsr_raise(flags)?;
        self.xmm[d] = r;
        Ok(())
    }

    fn sse_fp_misc<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Option<Res> {
        Some(match i.mnem {
            M::Comiss | M::Ucomiss | M::Comisd | M::Ucomisd => self.comis(bus, i),
            M::Cvtsi2sd | M::Cvtsi2ss | M::Cvtsd2si | M::Cvttsd2si | M::Cvtss2si | M::Cvttss2si | M::Cvtsd2ss
            | M::Cvtss2sd | M::Cvtdq2ps | M::Cvtps2dq | M::Cvttps2dq | M::Cvtdq2pd | M::Cvtpd2dq | M::Cvttpd2dq
            | M::Cvtps2pd | M::Cvtpd2ps => self.cvt(bus, i),
            _ => return None,
        })
    }

    /// COMISS/UCOMISS/COMISD/UCOMISD: ZF/PF/CF from the comparison, OF/SF/AF
    /// cleared. COMIS signals invalid on any NaN, UCOMIS only on SNaN.
    fn comis<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let env = self.env();
        let a = self.xreg(i, 0);
        let b = self.xsrc(bus, i, 1)?;
        let signal_qnan = matches!(i.mnem, M::Comiss | M::Comisd);
        let mut flags = 0;
        let (unordered, lt, eq) = if matches!(i.mnem, M::Comiss | M::Ucomiss) {
            comis_core(&env, f32s(a, 0), f32s(b, 0), signal_qnan, &mut flags)
        } else {
            comis_core(&env, f64s(a, 0), f64s(b, 0), signal_qnan, &mut flags)
        };
        self.mxcsr_raise(flags)?;
        let f = if unordered {
            ZF | PF | CF
        } else if lt {
            CF
        } else if eq {
            ZF
        } else {
            0
        };
        self.cc.set_all(f);
        Ok(())
    }

    fn cvt<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let env = self.env();
        let mut flags = 0;
        let src = self.xsrc(bus, i, 1)?;
        let dk = i.ops[0].kind;
        let d = i.ops[0].reg as usize & 15;
        let old = if dk == Kind::Xmm { self.xmm[d] } else { 0 };
        let to_int = |x: f64, bits: u32, t: bool, fl: &mut u32| sf::f64_to_int(&env, x, bits, t, fl);
        let r: u128 = match i.mnem {
            M::Cvtsi2sd => {
                let v = if i.ops[1].size == 8 { src as u64 as i64 } else { src as u32 as i32 as i64 };
                put64(old, 0, sf::int_to_f64(&env, v, &mut flags))
            }
            M::Cvtsi2ss => {
                let v = if i.ops[1].size == 8 { src as u64 as i64 } else { src as u32 as i32 as i64 };
                put32(old, 0, sf::int_to_f32(&env, v, &mut flags))
            }
            M::Cvtsd2si | M::Cvttsd2si | M::Cvtss2si | M::Cvttss2si => {
                let x = if matches!(i.mnem, M::Cvtsd2si | M::Cvttsd2si) {
                    f64s(src, 0)
                } else {
                    let f = sf::daz(&env, f32s(src, 0), &mut 0);
                    f as f64
                };
                let bits = i.ops[0].size as u32 * 8;
                let t = matches!(i.mnem, M::Cvttsd2si | M::Cvttss2si);
                let v = to_int(x, bits, t, &mut flags) as u64;
                self.mxcsr_raise(flags)?;
                self.gpr_set(i.ops[0].reg, i.ops[0].size, v);
                return Ok(());
            }
            M::Cvtsd2ss => put32(old, 0, sf::f64_to_f32(&env, f64s(src, 0), &mut flags)),
            M::Cvtss2sd => put64(old, 0, widen(&env, f32s(src, 0), &mut flags)),
            M::Cvtdq2ps => (0..4).fold(0, |r, k| put32(r, k, sf::int_to_f32(&env, (src >> (32 * k)) as u32 as i32 as i64, &mut flags))),
            M::Cvtps2dq | M::Cvttps2dq => {
                let t = i.mnem == M::Cvttps2dq;
                (0..4).fold(0u128, |r, k| {
                    let x = widen_quiet(&env, f32s(src, k), &mut flags);
                    r | ((to_int(x, 32, t, &mut flags) as u32 as u128) << (32 * k))
                })
            }
            M::Cvtdq2pd => (0..2).fold(0, |r, k| put64(r, k, (src >> (32 * k)) as u32 as i32 as f64)),
            M::Cvtpd2dq | M::Cvttpd2dq => {
                let t = i.mnem == M::Cvttpd2dq;
                (0..2).fold(0u128, |r, k| r | ((to_int(f64s(src, k), 32, t, &mut flags) as u32 as u128) << (32 * k)))
            }
            M::Cvtps2pd => (0..2).fold(0, |r, k| put64(r, k, widen(&env, f32s(src, k), &mut flags))),
            M::Cvtpd2ps => (0..2).fold(0, |r, k| put32(r, k, sf::f64_to_f32(&env, f64s(src, k), &mut flags))),
            _ => return Err(Event::ud()),
        };
        self.mxcsr_raise(flags)?;
        self.xmm[d] = r;
        Ok(())
    }
}

enum Lane<F> {
    F(F),
    Mask(bool),
}

fn lane_op<F: Float>(env: &Env, i: &Insn, op: Option<Op>, x: F, y: F, flags: &mut u32) -> Lane<F> {
    if let Some(op) = op {
        let (a, b) = if op == Op::Sqrt { (y, y) } else { (x, y) };
        return Lane::F(sf::arith(env, op, a, b, flags));
    }
    match i.mnem {
        M::Minss | M::Minsd | M::Minps | M::Minpd => Lane::F(sf::min_max(env, x, y, false, flags)),
        M::Maxss | M::Maxsd | M::Maxps | M::Maxpd => Lane::F(sf::min_max(env, x, y, true, flags)),
        _ => Lane::Mask(sf::compare(env, x, y, i.imm as u8, flags)),
    }
}

fn comis_core<F: Float>(env: &Env, a: F, b: F, signal_qnan: bool, flags: &mut u32) -> (bool, bool, bool) {
    let mut lf = 0;
    let a = sf::daz(env, a, &mut lf);
    let b = sf::daz(env, b, &mut lf);
    let unordered = a.is_nan() || b.is_nan();
    if a.is_snan() || b.is_snan() || (unordered && signal_qnan) {
        lf |= sf::IE;
    }
    *flags |= sf::priority(lf, unordered);
    (unordered, a < b, a == b)
}

/// f32 -> f64 (exact); SNaN signals IE and is quieted.
fn widen(env: &Env, x: f32, flags: &mut u32) -> f64 {
    if x.is_nan() {
        if Float::is_snan(x) {
            *flags |= sf::IE;
        }
        let b = x.to_bits() as u64;
        return f64::from_bits(((b >> 31) << 63) | 0x7ff8_0000_0000_0000 | ((b & 0x3f_ffff) << 29));
    }
    let x = sf::daz(env, x, flags);
    x as f64
}

/// f32 -> f64 for integer conversion (NaN handled by the conversion).
fn widen_quiet(env: &Env, x: f32, _flags: &mut u32) -> f64 {
    let x = sf::daz(env, x, &mut 0);
    x as f64
}
