//! IEEE-754 arithmetic with x86 semantics on top of the host's
//! round-to-nearest f32/f64: MXCSR rounding control through exact error
//! terms (TwoSum, FMA residuals), the six exception flags, DAZ/FTZ, and the
//! x86 NaN rules (first-operand NaN wins, default NaN is negative QNaN).
//! References: Intel SDM vol. 1 §4.8, §11.5, table 4-7 and 11-1.

pub const IE: u32 = 1 << 0;
pub const DE: u32 = 1 << 1;
pub const ZE: u32 = 1 << 2;
pub const OE: u32 = 1 << 3;
pub const UE: u32 = 1 << 4;
pub const PE: u32 = 1 << 5;

/// MXCSR.RC values.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Round {
    Nearest,
    Down,
    Up,
    Zero,
}

impl Round {
    pub fn from_rc(rc: u32) -> Round {
        match rc & 3 {
            0 => Round::Nearest,
            1 => Round::Down,
            2 => Round::Up,
            _ => Round::Zero,
        }
    }
}

/// Operating environment of one operation (from MXCSR).
#[derive(Clone, Copy, Debug)]
pub struct Env {
    pub round: Round,
    pub daz: bool,
    pub ftz: bool,
}

impl Env {
    pub fn from_mxcsr(m: u32) -> Env {
        Env { round: Round::from_rc(m >> 13), daz: m & (1 << 6) != 0, ftz: m & (1 << 15) != 0 }
    }
}

/// The float formats x86 SSE works on.
pub trait Float: Copy + PartialOrd + core::fmt::Debug {
    type Bits: Copy;
    const DEFAULT_NAN: Self;
    const MAX: Self;
    fn is_nan(self) -> bool;
    fn is_snan(self) -> bool;
    fn quiet(self) -> Self;
    fn is_denormal(self) -> bool;
    fn is_infinite(self) -> bool;
    fn is_zero(self) -> bool;
    fn neg_sign(self) -> bool;
    fn tiny(self) -> bool;
    fn zero_of(neg: bool) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn sqrt(self) -> Self;
    fn next_up(self) -> Self;
    fn next_down(self) -> Self;
    fn neg(self) -> Self;
    /// Sign of the exact error (exact - r) of the nearest-rounded result
    /// `r` of `a op b`: (negative, zero). Computed without underflow.
    fn residual(op: Op, a: Self, b: Self, r: Self) -> (bool, bool);
}

/// floor(log2 |x|) for finite nonzero x (subnormals included).
fn ilog2_f64(x: f64) -> i32 {
    let b = x.to_bits() & !(1 << 63);
    let e = (b >> 52) as i32;
    if e == 0 {
        -1074 + (63 - b.leading_zeros() as i32)
    } else {
        e - 1023
    }
}

/// x * 2^k, exact when the result is normal (k may exceed one exponent step).
fn scale_f64(mut x: f64, mut k: i32) -> f64 {
    while k > 1000 {
        x *= 2f64.powi(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= 2f64.powi(-1000);
        k += 1000;
    }
    x * 2f64.powi(k)
}

fn sign_of(e: f64) -> (bool, bool) {
    (e < 0.0, e == 0.0)
}

macro_rules! impl_float {
    ($t:ty, $bits:ty, $qbit:expr, $dnan:expr) => {
        impl Float for $t {
            type Bits = $bits;
            const DEFAULT_NAN: Self = <$t>::from_bits($dnan);
            const MAX: Self = <$t>::MAX;
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn is_snan(self) -> bool {
                <$t>::is_nan(self) && self.to_bits() & $qbit == 0
            }
            fn quiet(self) -> Self {
                <$t>::from_bits(self.to_bits() | $qbit)
            }
            fn is_denormal(self) -> bool {
                <$t>::is_subnormal(self)
            }
            fn is_infinite(self) -> bool {
                <$t>::is_infinite(self)
            }
            fn is_zero(self) -> bool {
                self == 0.0
            }
            fn neg_sign(self) -> bool {
                self.is_sign_negative()
            }
            fn tiny(self) -> bool {
                self != 0.0 && self.abs() < <$t>::MIN_POSITIVE
            }
            fn zero_of(neg: bool) -> Self {
                if neg {
                    -0.0
                } else {
                    0.0
                }
            }
            fn add(self, o: Self) -> Self {
                self + o
            }
            fn sub(self, o: Self) -> Self {
                self - o
            }
            fn mul(self, o: Self) -> Self {
                self * o
            }
            fn div(self, o: Self) -> Self {
                self / o
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn next_up(self) -> Self {
                <$t>::next_up(self)
            }
            fn next_down(self) -> Self {
                <$t>::next_down(self)
            }
            fn neg(self) -> Self {
                -self
            }
            fn residual(op: Op, a: Self, b: Self, r: Self) -> (bool, bool) {
                residual_impl(op, a, b, r)
            }
        }
    };
}

impl_float!(f32, u32, 1u32 << 22, 0xffc0_0000);
impl_float!(f64, u64, 1u64 << 51, 0xfff8_0000_0000_0000);

trait Residual: Sized {
    fn residual_of(op: Op, a: Self, b: Self, r: Self) -> (bool, bool);
}

fn residual_impl<T: Residual>(op: Op, a: T, b: T, r: T) -> (bool, bool) {
    T::residual_of(op, a, b, r)
}

impl Residual for f32 {
    /// f32 operands: products and squares are exact in f64.
    fn residual_of(op: Op, a: f32, b: f32, r: f32) -> (bool, bool) {
        let (a, b, r) = (a as f64, b as f64, r as f64);
        match op {
            Op::Add | Op::Sub => {
                let b = if op == Op::Sub { -b } else { b };
                let s = a + b;
                if s != r {
                    return sign_of(s - r);
                }
                let bb = s - a;
                sign_of((a - (s - bb)) + (b - bb))
            }
            Op::Mul => sign_of(a * b - r),
            Op::Div => {
                let (n, z) = sign_of(a - r * b);
                (n != (b < 0.0), z)
            }
            Op::Sqrt => sign_of(a - r * r),
        }
    }
}

impl Residual for f64 {
    /// Operands are scaled near 1 first so FMA residuals cannot underflow.
    fn residual_of(op: Op, a: f64, b: f64, r: f64) -> (bool, bool) {
        match op {
            Op::Add | Op::Sub => {
                let b = if op == Op::Sub { -b } else { b };
                let bb = r - a;
                sign_of((a - (r - bb)) + (b - bb))
            }
            Op::Mul => {
                if a == 0.0 || b == 0.0 {
                    return (false, true);
                }
                let (ea, eb) = (ilog2_f64(a), ilog2_f64(b));
                let (a2, b2, r2) = (scale_f64(a, -ea), scale_f64(b, -eb), scale_f64(r, -(ea + eb)));
                sign_of(a2.mul_add(b2, -r2))
            }
            Op::Div => {
                if a == 0.0 {
                    return (false, true);
                }
                let (ea, eb) = (ilog2_f64(a), ilog2_f64(b));
                let (a2, b2, r2) = (scale_f64(a, -ea), scale_f64(b, -eb), scale_f64(r, -(ea - eb)));
                let (n, z) = sign_of((-r2).mul_add(b2, a2));
                (n != (b < 0.0), z)
            }
            Op::Sqrt => {
                if a == 0.0 {
                    return (false, true);
                }
                let m = ilog2_f64(a) / 2;
                let (a2, r2) = (scale_f64(a, -2 * m), scale_f64(r, -m));
                sign_of((-r2).mul_add(r2, a2))
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Sqrt,
}

/// Denormals-are-zero on an input.
#[inline]
pub fn daz<F: Float>(env: &Env, x: F, flags: &mut u32) -> F {
    if x.is_denormal() {
        if env.daz {
            return F::zero_of(x.neg_sign());
        }
        *flags |= DE;
    }
    x
}

/// NaN operand rules for two-source arithmetic: SNaN signals IE; the first
/// NaN operand (quieted) is the result.
#[inline]
pub fn nan_result<F: Float>(a: F, b: F, flags: &mut u32) -> Option<F> {
    if a.is_nan() || b.is_nan() {
        if a.is_snan() || b.is_snan() {
            *flags |= IE;
        }
        return Some(if a.is_nan() { a.quiet() } else { b.quiet() });
    }
    None
}

/// Move a round-to-nearest result one ulp as the rounding mode requires,
/// given the sign of the exact error (true = r + err).
#[inline]
fn directed<F: Float>(r: F, err_neg: bool, err_zero: bool, round: Round) -> F {
    if err_zero {
        return r;
    }
    match round {
        Round::Nearest => r,
        Round::Down if err_neg => r.next_down(),
        Round::Up if !err_neg => r.next_up(),
        Round::Zero if r.neg_sign() != err_neg => {
            if err_neg {
                r.next_down()
            } else {
                r.next_up()
            }
        }
        _ => r,
    }
}

/// One arithmetic operation with x86 SSE semantics. `flags` collects the
/// MXCSR exception bits.
pub fn arith<F: Float>(env: &Env, op: Op, a: F, b: F, flags: &mut u32) -> F {
    // DE is only reported when no NaN or invalid condition takes priority
    // (SDM vol. 1 §11.5.2.1 precedence).
    let mut de = 0;
    let mut lf = 0;
    let r = arith_inner(env, op, a, b, &mut lf, &mut de);
    let nan = a.is_nan() || (op != Op::Sqrt && b.is_nan());
    *flags |= priority(lf | de, nan);
    r
}

/// Apply the exception priority of SDM vol. 1 §4.9.2: a NaN operand, an
/// invalid operation or a divide by zero suppress the denormal flag.
pub fn priority(f: u32, nan_operand: bool) -> u32 {
    if nan_operand || f & (IE | ZE) != 0 {
        f & !DE
    } else {
        f
    }
}

fn arith_inner<F: Float>(env: &Env, op: Op, a: F, b: F, flags: &mut u32, de: &mut u32) -> F {
    let a = daz(env, a, de);
    let b = if op == Op::Sqrt { b } else { daz(env, b, de) };
    if op == Op::Sqrt {
        if a.is_nan() {
            if a.is_snan() {
                *flags |= IE;
            }
            return a.quiet();
        }
        if a.neg_sign() && !a.is_zero() {
            *flags |= IE;
            return F::DEFAULT_NAN;
        }
    } else if let Some(n) = nan_result(a, b, flags) {
        return n;
    }
    // Invalid operations (SDM vol. 1 §4.9.1.2).
    let invalid = match op {
        Op::Add => a.is_infinite() && b.is_infinite() && a.neg_sign() != b.neg_sign(),
        Op::Sub => a.is_infinite() && b.is_infinite() && a.neg_sign() == b.neg_sign(),
        Op::Mul => (a.is_infinite() && b.is_zero()) || (a.is_zero() && b.is_infinite()),
        Op::Div => (a.is_zero() && b.is_zero()) || (a.is_infinite() && b.is_infinite()),
        Op::Sqrt => false,
    };
    if invalid {
        *flags |= IE;
        return F::DEFAULT_NAN;
    }
    if op == Op::Div && b.is_zero() && !a.is_infinite() {
        *flags |= ZE;
        let neg = a.neg_sign() != b.neg_sign();
        return if neg { F::MAX.neg().next_down() } else { F::MAX.next_up() };
    }
    let r = match op {
        Op::Add => a.add(b),
        Op::Sub => a.sub(b),
        Op::Mul => a.mul(b),
        Op::Div => a.div(b),
        Op::Sqrt => a.sqrt(),
    };
    let operands_finite = !a.is_infinite() && !b.is_infinite() || (op == Op::Sqrt && !a.is_infinite());
    if r.is_infinite() && operands_finite {
        *flags |= OE | PE;
        let to_max = match env.round {
            Round::Nearest => false,
            Round::Zero => true,
            Round::Down => !r.neg_sign(),
            Round::Up => r.neg_sign(),
        };
        return if to_max {
            if r.neg_sign() {
                F::MAX.neg()
            } else {
                F::MAX
            }
        } else {
            r
        };
    }
    if r.is_infinite() || a.is_infinite() || (op != Op::Sqrt && b.is_infinite()) {
        return r;
    }
    // Exact error of the nearest-rounded result.
    let (err_neg, err_zero) = F::residual(op, a, b, r);
    let mut res = r;
    if !err_zero {
        *flags |= PE;
        res = directed(r, err_neg, false, env.round);
    }
    if res.tiny() || (res.is_zero() && !err_zero) {
        if !err_zero {
            *flags |= UE;
        }
        if env.ftz && (res.tiny() || !err_zero) {
            *flags |= UE | PE;
            return F::zero_of(res.neg_sign());
        }
    }
    // An exact zero sum takes its sign from the rounding mode.
    if res.is_zero() && err_zero && matches!(op, Op::Add | Op::Sub) {
        let b2neg = if op == Op::Sub { !b.neg_sign() } else { b.neg_sign() };
        if a.neg_sign() != b2neg {
            return F::zero_of(env.round == Round::Down);
        }
    }
    res
}

/// f64 -> f32 with rounding control (CVTSD2SS, CVTPD2PS).
pub fn f64_to_f32(env: &Env, a: f64, flags: &mut u32) -> f32 {
    let a = daz(env, a, flags);
    if a.is_nan() {
        if a.is_snan() {
            *flags |= IE;
        }
        let bits = a.to_bits();
        return f32::from_bits(((bits >> 32) as u32 & 0x8000_0000) | 0x7fc0_0000 | ((bits >> 29) as u32 & 0x003f_ffff));
    }
    let r = a as f32;
    if a.is_infinite() {
        return r;
    }
    if r.is_infinite() {
        *flags |= OE | PE;
        let to_max = match env.round {
            Round::Nearest => false,
            Round::Zero => true,
            Round::Down => !r.is_sign_negative(),
            Round::Up => r.is_sign_negative(),
        };
        return if to_max { f32::MAX.copysign(r) } else { r };
    }
    let e = a - r as f64;
    let mut res = r;
    if e != 0.0 {
        *flags |= PE;
        res = directed(r, e < 0.0, false, env.round);
    }
    if (res.tiny() || res == 0.0) && e != 0.0 {
        *flags |= UE;
        if env.ftz {
            return f32::zero_of(res.is_sign_negative());
        }
    } else if res.tiny() && env.ftz {
        *flags |= UE | PE;
        return f32::zero_of(res.is_sign_negative());
    }
    res
}

/// Integer -> float with rounding control (CVTSI2SD/SS, CVTDQ2PS).
pub fn int_to_f64(env: &Env, x: i64, flags: &mut u32) -> f64 {
    let r = x as f64;
    // r is within i64 range except for 2^63; compare exactly in i128.
    let e = x as i128 - r as i128;
    if e != 0 {
        *flags |= PE;
        return directed(r, e < 0, false, env.round);
    }
    r
}

pub fn int_to_f32(env: &Env, x: i64, flags: &mut u32) -> f32 {
    let r = x as f32;
    let e = x as i128 - r as i128;
    if e != 0 {
        *flags |= PE;
        return directed(r, e < 0, false, env.round);
    }
    r
}

/// Float -> signed integer of `bits` (32/64) with rounding or truncation;
/// out of range or NaN gives the "integer indefinite" 1 << (bits-1) and IE.
pub fn f64_to_int(env: &Env, a: f64, bits: u32, truncate: bool, flags: &mut u32) -> i64 {
    // Conversions to integer never report DE (SDM vol. 2 "CVTSD2SI").
    let a = daz(env, a, &mut 0);
    let indefinite = i64::MIN >> (64 - bits);
    if a.is_nan() {
        *flags |= IE;
        return indefinite;
    }
    let r = if truncate {
        a.trunc()
    } else {
        match env.round {
            Round::Nearest => a.round_ties_even(),
            Round::Down => a.floor(),
            Round::Up => a.ceil(),
            Round::Zero => a.trunc(),
        }
    };
    let lim = 2f64.powi(bits as i32 - 1);
    if r >= lim || r < -lim {
        *flags |= IE;
        return indefinite;
    }
    if r != a {
        *flags |= PE;
    }
    r as i64
}

/// Compare for CMPxx predicates 0..7 (SDM vol. 2 "CMPPD" table 3-1).
pub fn compare<F: Float>(env: &Env, a: F, b: F, pred: u8, flags: &mut u32) -> bool {
    let mut lf = 0;
    let r = compare_inner(env, a, b, pred, &mut lf);
    *flags |= priority(lf, a.is_nan() || b.is_nan());
    r
}

fn compare_inner<F: Float>(env: &Env, a: F, b: F, pred: u8, flags: &mut u32) -> bool {
    let a = daz(env, a, flags);
    let b = daz(env, b, flags);
    let unordered = a.is_nan() || b.is_nan();
    let signals_qnan = matches!(pred & 7, 1 | 2 | 5 | 6);
    if a.is_snan() || b.is_snan() || (unordered && signals_qnan) {
        *flags |= IE;
    }
    match pred & 7 {
        0 => !unordered && a == b,
        1 => !unordered && a < b,
        2 => !unordered && a <= b,
        3 => unordered,
        4 => unordered || a != b,
        5 => unordered || !(a < b),
        6 => unordered || !(a <= b),
        _ => !unordered,
    }
}

/// MINSS/MAXSS family: returns the second operand for NaNs and equal
/// values (SDM vol. 2 "MINSS"); any NaN signals IE.
pub fn min_max<F: Float>(env: &Env, a: F, b: F, max: bool, flags: &mut u32) -> F {
    let mut lf = 0;
    let r = min_max_inner(env, a, b, max, &mut lf);
    *flags |= priority(lf, a.is_nan() || b.is_nan());
    r
}

fn min_max_inner<F: Float>(env: &Env, a: F, b: F, max: bool, flags: &mut u32) -> F {
    let a = daz(env, a, flags);
    let b = daz(env, b, flags);
    if a.is_nan() || b.is_nan() {
        *flags |= IE;
        return b;
    }
    let pick_a = if max { a > b } else { a < b };
    if pick_a {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(r: Round) -> Env {
        Env { round: r, daz: false, ftz: false }
    }

    #[test]
    fn directed_rounding_of_one_third() {
        let mut f = 0;
        let down = arith(&env(Round::Down), Op::Div, 1.0f64, 3.0, &mut f);
        let up = arith(&env(Round::Up), Op::Div, 1.0f64, 3.0, &mut f);
        assert_eq!(up, down.next_up());
        assert!(f & PE != 0);
    }

    #[test]
    fn invalid_gives_default_nan() {
        let mut f = 0;
        let r = arith(&env(Round::Nearest), Op::Sub, f64::INFINITY, f64::INFINITY, &mut f);
        assert_eq!(r.to_bits(), 0xfff8_0000_0000_0000);
        assert_eq!(f, IE);
    }

    #[test]
    fn conversion_indefinite() {
        let mut f = 0;
        assert_eq!(f64_to_int(&env(Round::Nearest), 1e20, 32, false, &mut f), i32::MIN as i64);
        assert_eq!(f, IE);
    }
}
