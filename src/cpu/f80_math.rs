//! The x87 transcendental instructions (FSIN, FCOS, FSINCOS, FPTAN,
//! FPATAN, F2XM1, FYL2X, FYL2XP1) on 80-bit register values.
//!
//! The functions are evaluated in double-double arithmetic (a pair of f64
//! whose sum carries ~106 significand bits) from the exact 64-bit
//! significand, and the result is rounded once to 64 bits with the
//! control word's RC. That is far below the 64-bit ulp, so results are
//! within about one ulp of the hardware's, which is not correctly rounded
//! either. The precision control does not apply to these instructions
//! (SDM vol. 1 §8.1.5.2).
//!
//! FSIN/FCOS/FSINCOS/FPTAN reduce the argument by pi/2 the way the x87
//! does: with pi rounded to 66 bits (SDM vol. 1 §8.3.10), exactly, in
//! integers, so large arguments give the hardware's answer and not the
//! mathematically exact one; |x| >= 2^63 is out of range (C2 = 1, the
//! operand is left alone).

use super::f80::{self, Val, PE, ZE};
use super::sse::softfloat::Round;

/// A double-double: the unevaluated sum hi + lo with |lo| <= ulp(hi) / 2.
#[derive(Clone, Copy, Debug)]
struct Dd {
    hi: f64,
    lo: f64,
}

fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// Dekker's split into two 26-bit halves (no FMA needed, so the same
/// arithmetic runs natively and in wasm).
fn split(a: f64) -> (f64, f64) {
    let t = 134_217_729.0 * a;
    let hi = t - (t - a);
    (hi, a - hi)
}

fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
}

impl Dd {
    const ZERO: Dd = Dd { hi: 0.0, lo: 0.0 };
    const ONE: Dd = Dd { hi: 1.0, lo: 0.0 };
    /// ln 2, pi/2, pi/4 to ~107 bits.
    const LN2: Dd = Dd {
        hi: 6.931_471_805_599_452_862e-1,
        lo: 2.319_046_813_846_299_558e-17,
    };
    const PI_2: Dd = Dd {
        hi: 1.570_796_326_794_896_558e0,
        lo: 6.123_233_995_736_766_036e-17,
    };

    fn f(v: f64) -> Dd {
        Dd { hi: v, lo: 0.0 }
    }

    fn scale(self, k: i32) -> Dd {
        let s = 2f64.powi(k);
        Dd {
            hi: self.hi * s,
            lo: self.lo * s,
        }
    }

    fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }

    fn add(self, o: Dd) -> Dd {
        let (s, e) = two_sum(self.hi, o.hi);
        let (t, f) = two_sum(self.lo, o.lo);
        let (s, e) = quick_two_sum(s, e + t);
        let (hi, lo) = quick_two_sum(s, e + f);
        Dd { hi, lo }
    }

    fn sub(self, o: Dd) -> Dd {
        self.add(o.neg())
    }

    fn mul(self, o: Dd) -> Dd {
        let (p, e) = two_prod(self.hi, o.hi);
        let (hi, lo) = quick_two_sum(p, e + (self.hi * o.lo + self.lo * o.hi));
        Dd { hi, lo }
    }

    fn div(self, o: Dd) -> Dd {
        // Long division: three quotient digits.
        let q1 = self.hi / o.hi;
        let r = self.sub(o.mul(Dd::f(q1)));
        let q2 = r.hi / o.hi;
        let r = r.sub(o.mul(Dd::f(q2)));
        let q3 = r.hi / o.hi;
        let (hi, lo) = quick_two_sum(q1, q2);
        Dd { hi, lo }.add(Dd::f(q3))
    }

    fn sqrt(self) -> Dd {
        // One Newton step from the f64 root doubles its precision.
        let s = self.hi.sqrt();
        let r = self.sub(Dd::f(s).mul(Dd::f(s)));
        Dd::f(s).add(Dd::f(r.hi / (2.0 * s)))
    }
}

/// A finite non-zero register value: sign, significand in [1, 2) as an
/// exact double-double, and its exponent.
fn parts(s: bool, e: i32, m: u64) -> (bool, Dd, i32) {
    let hi = (m >> 11) as f64 * 2f64.powi(-52);
    let lo = (m & 0x7ff) as f64 * 2f64.powi(-63);
    (s, Dd { hi, lo }, e)
}

/// Round `sign * v * 2^k` (v > 0 a double-double) to the register format
/// at 64 bits with `rc`; PE/UE/OE into `flags`.
fn round_dd(sign: bool, v: Dd, k: i32, rc: Round, flags: &mut u16) -> [u8; 10] {
    // The two halves as integers at a common scale: hi's 53 bits at bit
    // 125 (room for a carry), lo shifted in with a sticky bit.
    let decompose = |x: f64| {
        let b = x.to_bits();
        let exp = ((b >> 52) & 0x7ff) as i32;
        let frac = b & ((1 << 52) - 1);
        if exp == 0 {
            (frac, -1074)
        } else {
            (frac | 1 << 52, exp - 1075)
        }
    };
    let (v, sign) = if v.hi < 0.0 {
        (v.neg(), !sign)
    } else {
        (v, sign)
    };
    if v.hi == 0.0 {
        return f80::pack_raw(sign, 0, 0);
    }
    if !v.hi.is_finite() {
        // Only operands outside an instruction's defined domain get here.
        return f80::invalid(flags);
    }
    let (mh, eh) = decompose(v.hi);
    let lz = (mh.leading_zeros() - 11) as i32; // a subnormal hi: normalise
    let base = eh - lz - 73;
    let hi_int = (mh as u128) << (73 + lz);
    let (ml, el) = decompose(v.lo.abs());
    let shift = el - base;
    let (lo_int, sticky) = if ml == 0 {
        (0, false)
    } else if shift >= 0 {
        ((ml as u128) << shift.min(50), false)
    } else if shift <= -128 {
        (0, true)
    } else {
        let s = (-shift) as u32;
        ((ml as u128) >> s, (ml as u128) & ((1u128 << s) - 1) != 0)
    };
    let sum = if v.lo >= 0.0 {
        hi_int + lo_int
    } else if sticky {
        hi_int - lo_int - 1
    } else {
        hi_int - lo_int
    };
    let lz = sum.leading_zeros() as i32;
    f80::round_to(sign, base + 127 - lz + k, sum << lz, sticky, rc, flags)
}

/// The hardware reports these results as inexact even when they happen
/// to be exact (log2 of a power of two, 2^1 - 1), and a tiny one as
/// underflowing (measured on the host).
fn always_inexact(r: [u8; 10], flags: &mut u16) -> [u8; 10] {
    *flags |= PE;
    let exp = u16::from_le_bytes([r[8], r[9]]) & 0x7fff;
    if exp == 0 && r[..8].iter().any(|&b| b != 0) {
        *flags |= f80::UE;
    }
    r
}

/// A value a hair below (`above` false) or above |x| = m * 2^(e - 63),
/// rounded: sin x, tan x, 2^x - 1 and the like for arguments so small that
/// the next term of the series only decides the rounding direction.
fn nudged(sign: bool, e: i32, m: u64, above: bool, rc: Round, flags: &mut u16) -> [u8; 10] {
    let mut p = (m as u128) << 64;
    let mut e = e;
    if !above {
        p -= 1;
        if p >> 127 == 0 {
            p = p << 1 | 1;
            e -= 1;
        }
    }
    f80::round_to(sign, e, p, true, rc, flags)
}

/// sin and cos of |t| <= pi/4 by their Taylor series.
fn sin_cos_small(t: Dd) -> (Dd, Dd) {
    let t2 = t.mul(t);
    let (mut sin, mut cos) = (t, Dd::ONE);
    let (mut ts, mut tc) = (t, Dd::ONE);
    for k in 1..40 {
        let k = k as f64;
        ts = ts.mul(t2).div(Dd::f(-(2.0 * k) * (2.0 * k + 1.0)));
        tc = tc.mul(t2).div(Dd::f(-(2.0 * k - 1.0) * (2.0 * k)));
        sin = sin.add(ts);
        cos = cos.add(tc);
        if tc.hi.abs() < 1e-40 && ts.hi.abs() < 1e-40 * t.hi.abs() {
            break;
        }
    }
    (sin, cos)
}

/// pi/2 rounded to 66 bits, in units of 2^-65: the x87's reduction constant.
const PI_2_66: u128 = 0x3_243f_6a88_85a3_08d3;

/// Reduce |x| = m * 2^(e - 63) < 2^63 by the 66-bit pi/2: (quadrant mod 4,
/// the reduced argument in [-pi/4, pi/4]). Exact: the remainder is formed
/// in integers by shifting the significand in one bit at a time.
fn reduce(e: i32, m: u64) -> (u32, Dd) {
    if e < -1 {
        let (_, v, _) = parts(false, e, m);
        return (0, v.scale(e));
    }
    let (mut r, mut q) = (m as u128, 0u32);
    for _ in 0..e + 2 {
        r <<= 1;
        q = q.wrapping_shl(1);
        if r >= PI_2_66 {
            r -= PI_2_66;
            q |= 1;
        }
    }
    let (neg, r) = if 2 * r > PI_2_66 {
        q = q.wrapping_add(1);
        (true, PI_2_66 - r)
    } else {
        (false, r)
    };
    // r < 2^65: its top 53 bits and the rest, both exact in f64.
    let sh = (128 - r.leading_zeros()).saturating_sub(53);
    let hi = (r >> sh) as f64 * 2f64.powi(sh as i32 - 65);
    let lo = (r & ((1u128 << sh) - 1)) as f64 * 2f64.powi(-65);
    let t = Dd { hi, lo };
    (q & 3, if neg { t.neg() } else { t })
}

/// Which trigonometric result.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Trig {
    Sin,
    Cos,
    Tan,
}

/// FSIN/FCOS/FPTAN's value of `a` (FSINCOS is Sin and Cos of the same
/// operand). `None`: |a| >= 2^63, out of range (C2 = 1, nothing changes).
/// Infinities are invalid; NaNs propagate.
pub fn trig(a: [u8; 10], which: Trig, rc: Round) -> Option<([u8; 10], u16)> {
    let mut flags = 0;
    let x = f80::unpack(a, &mut flags);
    if let Some(n) = f80::nan_result(x, None, &mut flags) {
        return Some((n, flags));
    }
    let r = match x {
        Val::Inf(_) => f80::invalid(&mut flags),
        Val::Zero(_) if which == Trig::Cos => f80::pack_raw(false, 0x3fff, 1 << 63),
        Val::Zero(s) => f80::pack_raw(s, 0, 0),
        Val::Fin(_, e, _) if e >= 63 => return None,
        // The series' next term (x^2 / 6 relative) is far below the 64-bit
        // ulp and near the double-double's precision: it only decides the
        // rounding of the exact x.
        Val::Fin(s, e, m) if e < -40 => match which {
            Trig::Sin => nudged(s, e, m, false, rc, &mut flags),
            Trig::Tan => nudged(s, e, m, true, rc, &mut flags),
            Trig::Cos => nudged(false, 0, 1 << 63, false, rc, &mut flags),
        },
        Val::Fin(s, e, m) => {
            let (q, t) = reduce(e, m);
            let (sin, cos) = sin_cos_small(t);
            let v = match (which, q) {
                (Trig::Sin, 0) | (Trig::Cos, 3) => sin,
                (Trig::Sin, 1) | (Trig::Cos, 0) => cos,
                (Trig::Sin, 2) | (Trig::Cos, 1) => sin.neg(),
                (Trig::Sin, _) | (Trig::Cos, _) => cos.neg(),
                (Trig::Tan, q) if q % 2 == 0 => sin.div(cos),
                (Trig::Tan, _) => cos.div(sin).neg(),
            };
            // sin and tan are odd, cos even.
            let sign = s && which != Trig::Cos;
            round_dd(sign, v, 0, rc, &mut flags)
        }
        _ => unreachable!("NaNs are handled before"),
    };
    Some((r, flags))
}

/// expm1 of a double-double |t| <= ln 2: halved until tiny, the series,
/// then doubled back with expm1(2u) = expm1(u) * (expm1(u) + 2), which
/// keeps the relative precision of small results.
fn expm1(t: Dd) -> Dd {
    const HALVINGS: i32 = 8;
    let u = t.scale(-HALVINGS);
    let (mut sum, mut term) = (u, u);
    for k in 2..30 {
        term = term.mul(u).div(Dd::f(k as f64));
        sum = sum.add(term);
        if term.hi.abs() < 1e-36 * sum.hi.abs() {
            break;
        }
    }
    for _ in 0..HALVINGS {
        sum = sum.mul(sum.add(Dd::f(2.0)));
    }
    sum
}

/// F2XM1: 2^a - 1 (the SDM defines it for -1 <= a <= 1; larger operands
/// get the same formula, which stays finite up to |a| ~ 1000).
pub fn f2xm1(a: [u8; 10], rc: Round) -> ([u8; 10], u16) {
    let mut flags = 0;
    let x = f80::unpack(a, &mut flags);
    if let Some(n) = f80::nan_result(x, None, &mut flags) {
        return (n, flags);
    }
    let r = match x {
        Val::Zero(s) => f80::pack_raw(s, 0, 0),
        Val::Inf(false) => a,
        Val::Inf(true) => f80::pack_raw(true, 0x3fff, 1 << 63),
        Val::Fin(s, e, m) if e < -100 => {
            // 2^x - 1 = x ln2 (1 + x ln2 / 2 + ...) with the second term
            // below the double-double's precision: x ln2, nudged up in
            // value (the square term is positive).
            let (_, v, _) = parts(s, e, m);
            let p = v.mul(Dd::LN2);
            let bump = Dd::f(p.hi * 1e-30);
            let p = if s { p.sub(bump) } else { p.add(bump) };
            round_dd(s, p, e, rc, &mut flags)
        }
        Val::Fin(s, e, m) if e < 9 => {
            let (_, v, _) = parts(s, e, m);
            let t = v.scale(e).mul(Dd::LN2);
            let t = if s { t.neg() } else { t };
            // |t| > ln 2: split off the integer part of a (2^n * 2^f - 1).
            let n = (t.hi / Dd::LN2.hi).trunc();
            let f = t.sub(Dd::LN2.mul(Dd::f(n)));
            let em1 = expm1(f);
            let v = if n == 0.0 {
                em1
            } else {
                // 2^n (em1 + 1) - 1
                em1.add(Dd::ONE).scale(n as i32).sub(Dd::ONE)
            };
            always_inexact(round_dd(false, v, 0, rc, &mut flags), &mut flags)
        }
        Val::Fin(true, ..) => {
            flags |= PE;
            f80::pack_raw(true, 0x3fff, 1 << 63)
        }
        Val::Fin(false, ..) => {
            flags |= f80::OE | PE;
            f80::pack_raw(false, 0x7fff, 1 << 63)
        }
        _ => unreachable!("NaNs are handled before"),
    };
    (r, flags)
}

/// ln(1 + z) for a double-double z > -1 of moderate size, as
/// 2 atanh(z / (2 + z)).
fn ln1p(z: Dd) -> Dd {
    let s = z.div(z.add(Dd::f(2.0)));
    let s2 = s.mul(s);
    let (mut sum, mut pow) = (s, s);
    for k in 1..80 {
        pow = pow.mul(s2);
        let term = pow.div(Dd::f((2 * k + 1) as f64));
        sum = sum.add(term);
        if term.hi.abs() < 1e-36 * sum.hi.abs() {
            break;
        }
    }
    sum.scale(1)
}

/// log2 of a finite positive m * 2^(e - 63), as a double-double.
fn log2(e: i32, m: u64) -> Dd {
    let (_, mut v, mut e) = parts(false, e, m);
    if v.hi > std::f64::consts::SQRT_2 {
        v = v.scale(-1);
        e += 1;
    }
    // v in (sqrt(1/2), sqrt 2]: ln v = ln(1 + (v - 1)), v - 1 exact.
    let l = ln1p(v.sub(Dd::ONE)).div(Dd::LN2);
    l.add(Dd::f(e as f64))
}

/// FYL2X (`plus_one` false): b * log2(a); FYL2XP1: b * log2(1 + a). The
/// special cases follow the SDM's tables; a < 0 (a < -1) is invalid.
pub fn yl2x(a: [u8; 10], b: [u8; 10], plus_one: bool, rc: Round) -> ([u8; 10], u16) {
    let mut flags = 0;
    let (x, y) = (f80::unpack(a, &mut flags), f80::unpack(b, &mut flags));
    if let Some(n) = f80::nan_result(x, Some(y), &mut flags) {
        return (n, flags);
    }
    let inf = |s: bool| f80::pack_raw(s, 0x7fff, 1 << 63);
    // The sign and class of log2(x) (or log2(1 + x)): -1, 0 or +1, and
    // whether it is infinite.
    let (log_sign, log_inf): (i32, bool) = match (x, plus_one) {
        (Val::Fin(true, ..), false) | (Val::Inf(true), _) => {
            return (f80::invalid(&mut flags), flags)
        }
        (Val::Zero(_), false) => (-1, true),
        (Val::Inf(false), _) => (1, true),
        (Val::Zero(s), true) => (if s { -2 } else { 2 }, false), // +-0 exactly
        (Val::Fin(s, ..), true) => (if s { -1 } else { 1 }, false),
        (Val::Fin(false, e, m), false) => {
            if e == 0 && m == 1 << 63 {
                (0, false)
            } else if e < 0 {
                (-1, false)
            } else {
                (1, false)
            }
        }
        _ => unreachable!("NaNs are handled before"),
    };
    let r = match y {
        Val::Inf(ys) => match log_sign {
            0 | 2 | -2 => f80::invalid(&mut flags),
            l => inf(ys != (l < 0)),
        },
        Val::Zero(ys) => {
            if log_inf {
                f80::invalid(&mut flags)
            } else {
                // +-0 times a finite log: a signed zero.
                let neg = match log_sign {
                    0 | 2 => ys,
                    -2 => !ys,
                    l => ys != (l < 0),
                };
                f80::pack_raw(neg, 0, 0)
            }
        }
        Val::Fin(ys, ey, my) => {
            if log_inf {
                if log_sign < 0 {
                    // Zero divide; a denormal y is then not reported
                    // (measured on the host).
                    flags = (flags | ZE) & !f80::DE;
                }
                inf(ys != (log_sign < 0))
            } else if log_sign == 0 {
                f80::pack_raw(ys, 0, 0)
            } else if log_sign.abs() == 2 {
                f80::pack_raw(ys != (log_sign < 0), 0, 0)
            } else {
                // The logarithm as a signed double-double times 2^k.
                let (l, k) = match x {
                    Val::Fin(xs, ex, mx) if plus_one && ex < -100 => {
                        // log2(1 + x) = x / ln 2 * (1 - x / 2 ...): the
                        // quotient, nudged toward zero for x > 0 and away
                        // from it for x < 0.
                        let (_, v, _) = parts(false, ex, mx);
                        let q = v.div(Dd::LN2);
                        let bump = Dd::f(q.hi * 1e-30);
                        let q = if xs { q.add(bump).neg() } else { q.sub(bump) };
                        (q, ex)
                    }
                    Val::Fin(xs, ex, mx) if plus_one => {
                        let (_, v, _) = parts(false, ex, mx);
                        let z = v.scale(ex);
                        (ln1p(if xs { z.neg() } else { z }).div(Dd::LN2), 0)
                    }
                    Val::Fin(_, ex, mx) => (log2(ex, mx), 0),
                    _ => unreachable!("classified above"),
                };
                let (_, yv, _) = parts(false, ey, my);
                let neg = ys != (l.hi < 0.0);
                let l = if l.hi < 0.0 { l.neg() } else { l };
                let r = round_dd(neg, yv.mul(l), ey + k, rc, &mut flags);
                always_inexact(r, &mut flags)
            }
        }
        _ => unreachable!("NaNs are handled before"),
    };
    (r, flags)
}

/// atan of a double-double 0 <= t <= 1: three halvings of the angle
/// (t / (1 + sqrt(1 + t^2))), then the series.
fn atan_small(t: Dd) -> Dd {
    let mut t = t;
    for _ in 0..3 {
        t = t.div(Dd::ONE.add(Dd::ONE.add(t.mul(t)).sqrt()));
    }
    let t2 = t.mul(t);
    let (mut sum, mut pow) = (t, t);
    for k in 1..60 {
        pow = pow.mul(t2).neg();
        let term = pow.div(Dd::f((2 * k + 1) as f64));
        sum = sum.add(term);
        if term.hi.abs() < 1e-36 * sum.hi.abs() {
            break;
        }
    }
    sum.scale(3)
}

/// FPATAN: the angle of the point (x = a, y = b), i.e. atan2(b, a), with
/// the SDM's table for zeros and infinities.
pub fn patan(a: [u8; 10], b: [u8; 10], rc: Round) -> ([u8; 10], u16) {
    let mut flags = 0;
    let (x, y) = (f80::unpack(a, &mut flags), f80::unpack(b, &mut flags));
    if let Some(n) = f80::nan_result(x, Some(y), &mut flags) {
        return (n, flags);
    }
    let pi = Dd::PI_2.scale(1);
    let ys = match y {
        Val::Zero(s) | Val::Inf(s) | Val::Fin(s, ..) => s,
        _ => unreachable!("NaNs are handled before"),
    };
    let x_neg = matches!(x, Val::Zero(true) | Val::Inf(true) | Val::Fin(true, ..));
    let angle = match (x, y) {
        (_, Val::Zero(_)) => {
            if x_neg {
                pi
            } else {
                return (f80::pack_raw(ys, 0, 0), flags);
            }
        }
        (Val::Inf(_), Val::Inf(_)) => {
            let q = Dd::PI_2.scale(-1);
            if x_neg {
                pi.sub(q)
            } else {
                q
            }
        }
        (Val::Inf(_), Val::Fin(..)) => {
            if x_neg {
                pi
            } else {
                return (f80::pack_raw(ys, 0, 0), flags);
            }
        }
        (Val::Zero(_), _) | (Val::Fin(..), Val::Inf(_)) => Dd::PI_2,
        (Val::Fin(_, ex, mx), Val::Fin(_, ey, my)) => {
            let (_, vx, _) = parts(false, ex, mx);
            let (_, vy, _) = parts(false, ey, my);
            let y_big = (ey, my) > (ex, mx);
            let (num, den, d) = if y_big {
                (vx, vy, ex - ey)
            } else {
                (vy, vx, ey - ex)
            };
            // t = small / big = q * 2^d in (0, 1].
            let q = num.div(den);
            if d < -50 && !y_big && !x_neg {
                // atan t = t (1 - t^2 / 3 ...): t, nudged down.
                let q = q.sub(Dd::f(q.hi * 1e-30));
                return (round_dd(ys, q, d, rc, &mut flags), flags);
            }
            let at = if d < -400 {
                Dd::ZERO // below the precision of pi/2 or pi it is added to
            } else {
                atan_small(q.scale(d))
            };
            let mut v = if y_big { Dd::PI_2.sub(at) } else { at };
            if x_neg {
                v = pi.sub(v);
            }
            v
        }
        _ => unreachable!("NaNs are handled before"),
    };
    (round_dd(ys, angle, 0, rc, &mut flags), flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::fpu::{f64_to_f80, f80_to_f64};

    fn f(v: f64) -> [u8; 10] {
        f64_to_f80(v)
    }

    /// Against f64 libm at double precision (the 64-bit results rounded
    /// to double agree to a couple of double ulps).
    #[test]
    fn close_to_libm() {
        let near = |got: [u8; 10], want: f64, what: &str| {
            let g = f80_to_f64(got);
            let tol = want.abs() * 4.0 * f64::EPSILON + 1e-300;
            assert!((g - want).abs() <= tol, "{what}: {g} vs {want}");
        };
        for &x in &[0.1, 0.5, 1.0, 2.0, 3.0, 10.0, 1000.0, -7.25, 1e-5] {
            let r = |t| trig(f(x), t, Round::Nearest).unwrap().0;
            near(r(Trig::Sin), x.sin(), "sin");
            near(r(Trig::Cos), x.cos(), "cos");
            near(r(Trig::Tan), x.tan(), "tan");
            near(
                patan(f(x), f(1.5), Round::Nearest).0,
                1.5f64.atan2(x),
                "atan2",
            );
            if x.abs() <= 1.0 {
                let want = (x * std::f64::consts::LN_2).exp_m1();
                near(f2xm1(f(x), Round::Nearest).0, want, "f2xm1");
            }
            if x > 0.0 {
                near(
                    yl2x(f(x), f(3.0), false, Round::Nearest).0,
                    3.0 * x.log2(),
                    "yl2x",
                );
            }
            if x.abs() < 0.25 {
                let want = 3.0 * x.ln_1p() / std::f64::consts::LN_2;
                near(yl2x(f(x), f(3.0), true, Round::Nearest).0, want, "yl2xp1");
            }
        }
        // Out of range for the trigonometric instructions.
        assert!(trig(f(2f64.powi(63)), Trig::Sin, Round::Nearest).is_none());
    }

    /// Guest-chosen bit patterns never panic.
    #[test]
    fn any_bit_pattern_is_survived() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for k in 0..5000 {
            let mut v = [[0u8; 10]; 2];
            for b in v.iter_mut() {
                b[..8].copy_from_slice(&next().to_le_bytes());
                let e = match k % 4 {
                    0 => next() as u16,
                    1 => 0x3fff + (next() % 140) as u16 - 70,
                    2 => 0,
                    _ => 0x7fff | (next() as u16 & 0x8000),
                };
                b[8..].copy_from_slice(&e.to_le_bytes());
            }
            let rc = [Round::Nearest, Round::Down, Round::Up, Round::Zero][k % 4];
            for t in [Trig::Sin, Trig::Cos, Trig::Tan] {
                trig(v[0], t, rc);
            }
            patan(v[0], v[1], rc);
            f2xm1(v[0], rc);
            yl2x(v[0], v[1], false, rc);
            yl2x(v[0], v[1], true, rc);
        }
    }
}
