//! x87 arithmetic on the 80-bit extended format itself (Intel SDM vol. 1
//! §4.2, §8.1.5.2): add, subtract, multiply, divide and square root of
//! register values, computed exactly in integers and rounded once to the
//! precision control's significand width (24, 53 or 64 bits) with the
//! control word's rounding mode, in the register's 15-bit exponent range.
//! So results at PC = 64 (Linux's i386 default) carry the full 64-bit
//! significand, and PC = 53/24 results are those of one rounding of the
//! exact value, as the hardware gives.

use super::sse::softfloat::Round;

/// Status word exception bits (same positions as the x87 SW).
pub const IE: u16 = 1;
pub const DE: u16 = 2;
pub const ZE: u16 = 4;
pub const OE: u16 = 8;
pub const UE: u16 = 0x10;
pub const PE: u16 = 0x20;
/// C1 of the status word: after a rounding, set when the magnitude was
/// rounded up (SDM vol. 1 §8.1.3.3), as measured on hardware.
pub const C1_UP: u16 = 0x200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// An unpacked operand.
#[derive(Clone, Copy, Debug)]
pub(super) enum Val {
    Zero(bool),
    Inf(bool),
    /// NaN: sign, significand (bit 62 = quiet).
    NaN(bool, u64),
    /// Finite non-zero: sign, exponent e, normalised significand m (bit 63
    /// set); the value is m * 2^(e - 63).
    Fin(bool, i32, u64),
}

/// The real indefinite: the default NaN of invalid operations.
pub const INDEFINITE: [u8; 10] = pack_raw(true, 0x7fff, 0xc000_0000_0000_0000);

pub(super) const fn pack_raw(sign: bool, exp: u16, mant: u64) -> [u8; 10] {
    let m = mant.to_le_bytes();
    let se = ((sign as u16) << 15 | exp).to_le_bytes();
    [m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], se[0], se[1]]
}

/// Unpack a register; denormal operands set DE, unsupported encodings
/// (unnormals, pseudo-NaNs) read as an invalid operand (SDM vol. 1 §8.2.2).
pub(super) fn unpack(b: [u8; 10], flags: &mut u16) -> Val {
    let mant = u64::from_le_bytes(b[..8].try_into().unwrap());
    let se = u16::from_le_bytes([b[8], b[9]]);
    let sign = se >> 15 != 0;
    let exp = (se & 0x7fff) as i32;
    match exp {
        0x7fff if mant >> 63 == 0 => {
            *flags |= IE;
            Val::NaN(true, 0xc000_0000_0000_0000)
        }
        0x7fff if mant << 1 == 0 => Val::Inf(sign),
        0x7fff => Val::NaN(sign, mant),
        0 if mant == 0 => Val::Zero(sign),
        0 => {
            *flags |= DE;
            let lz = mant.leading_zeros() as i32;
            Val::Fin(sign, -16382 - lz, mant << lz)
        }
        _ if mant >> 63 == 0 => {
            *flags |= IE;
            Val::NaN(true, 0xc000_0000_0000_0000)
        }
        _ => Val::Fin(sign, exp - 16383, mant),
    }
}

/// The NaN result of an operation with NaN operands: signalling NaNs
/// raise IE, the result is quiet; of a signalling and a quiet NaN the
/// quiet one wins, of two alike the larger significand (SDM vol. 1
/// table 4-7).
pub(super) fn nan_result(a: Val, b: Option<Val>, flags: &mut u16) -> Option<[u8; 10]> {
    let nan = |v: Val| match v {
        Val::NaN(s, m) => Some((s, m)),
        _ => None,
    };
    let (na, nb) = (nan(a), b.and_then(nan));
    for (_, m) in [na, nb].into_iter().flatten() {
        if m & (1 << 62) == 0 {
            *flags |= IE;
        }
    }
    if na.is_none() && nb.is_none() {
        return None;
    }
    // A NaN result reports no denormal operand (measured on the host).
    *flags &= !DE;
    let pick = match (na, nb) {
        (None, None) => unreachable!("checked above"),
        (Some(x), None) | (None, Some(x)) => x,
        // A signalling and a quiet NaN: the quiet one; two of a kind:
        // the larger significand.
        (Some(x), Some(y)) if x.1 & 1 << 62 != y.1 & 1 << 62 => {
            if y.1 & 1 << 62 != 0 {
                y
            } else {
                x
            }
        }
        (Some(x), Some(y)) => {
            if (y.1 | 1 << 62) > (x.1 | 1 << 62) {
                y
            } else {
                x
            }
        }
    };
    Some(pack_raw(pick.0, 0x7fff, pick.1 | 1 << 62))
}

/// The significand width selected by the control word's PC field.
pub fn precision(cw: u16) -> u32 {
    match (cw >> 8) & 3 {
        0 => 24,
        2 => 53,
        _ => 64,
    }
}

/// Round the exact value (-1)^sign * (p + sticky) * 2^(e - 127), p with bit
/// 127 set and `sticky` meaning non-zero bits below p, to `prec` bits.
fn round_pack(
    sign: bool,
    mut e: i32,
    mut p: u128,
    mut sticky: bool,
    prec: u32,
    rc: Round,
    flags: &mut u16,
) -> [u8; 10] {
    let mut biased = e + 16383;
    let tiny = biased <= 0;
    if tiny {
        // Below the normal range: denormalise first (the significand
        // loses bits at the bottom), then round.
        let shift = (1 - biased) as u32;
        if shift >= 128 {
            sticky |= p != 0;
            p = 0;
        } else {
            sticky |= p & ((1u128 << shift) - 1) != 0;
            p >>= shift;
        }
        biased = 0;
    }
    let drop = 128 - prec;
    let mut kept = p >> drop;
    let rest = p & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    let inexact = rest != 0 || sticky;
    let up = match rc {
        Round::Nearest => rest > half || (rest == half && (sticky || kept & 1 == 1)),
        Round::Up => inexact && !sign,
        Round::Down => inexact && sign,
        Round::Zero => false,
    };
    kept += up as u128;
    if up {
        *flags |= C1_UP;
    }
    if inexact {
        *flags |= PE;
        if tiny {
            *flags |= UE;
        }
    }
    if kept >> prec != 0 {
        // Carry out of the significand: one binade up.
        kept >>= 1;
        biased += 1;
    } else if tiny && kept >> (prec - 1) != 0 {
        // A denormal rounded up into the smallest normal.
        biased = 1;
    }
    e = biased;
    if e >= 0x7fff {
        *flags |= OE | PE;
        let to_inf = match rc {
            Round::Nearest => true,
            Round::Up => !sign,
            Round::Down => sign,
            Round::Zero => false,
        };
        *flags = if to_inf {
            *flags | C1_UP
        } else {
            *flags & !C1_UP
        };
        return if to_inf {
            pack_raw(sign, 0x7fff, 1 << 63)
        } else {
            let ones = (u64::MAX >> (64 - prec)) << (64 - prec);
            pack_raw(sign, 0x7ffe, ones)
        };
    }
    let mant = (kept << (64 - prec)) as u64;
    pack_raw(sign, e as u16, mant)
}

/// `round_pack` at the full 64 bits: the transcendental instructions
/// ignore the precision control.
pub(super) fn round_to(
    sign: bool,
    e: i32,
    p: u128,
    sticky: bool,
    rc: Round,
    flags: &mut u16,
) -> [u8; 10] {
    round_pack(sign, e, p, sticky, 64, rc, flags)
}

/// a op b for the x87 arithmetic instructions (FADD..FDIVR with their
/// operands already in order), with precision `prec` and rounding `rc`;
/// returns the result and the status word exception bits.
pub fn arith(op: Op, a: [u8; 10], b: [u8; 10], prec: u32, rc: Round) -> ([u8; 10], u16) {
    let mut flags = 0;
    let (x, y) = (unpack(a, &mut flags), unpack(b, &mut flags));
    if let Some(n) = nan_result(x, Some(y), &mut flags) {
        return (n, flags);
    }
    let r = match op {
        Op::Add => add(x, y, prec, rc, &mut flags),
        Op::Sub => {
            let y = match y {
                Val::Zero(s) => Val::Zero(!s),
                Val::Inf(s) => Val::Inf(!s),
                Val::Fin(s, e, m) => Val::Fin(!s, e, m),
                n => n,
            };
            add(x, y, prec, rc, &mut flags)
        }
        Op::Mul => mul(x, y, prec, rc, &mut flags),
        Op::Div => div(x, y, prec, rc, &mut flags),
    };
    (r, flags)
}

pub(super) fn invalid(flags: &mut u16) -> [u8; 10] {
    // An invalid operation reports no denormal operand besides.
    *flags = (*flags | IE) & !DE;
    INDEFINITE
}

fn add(x: Val, y: Val, prec: u32, rc: Round, flags: &mut u16) -> [u8; 10] {
    use Val::*;
    // Exact zero results: +0, or -0 when rounding down (SDM vol. 1 §4.8.3.8).
    let zero_sign = |a: bool, b: bool| if a == b { a } else { rc == Round::Down };
    match (x, y) {
        (Inf(a), Inf(b)) if a != b => invalid(flags),
        (Inf(s), _) | (_, Inf(s)) => pack_raw(s, 0x7fff, 1 << 63),
        (Zero(a), Zero(b)) => pack_raw(zero_sign(a, b), 0, 0),
        (Zero(_), Fin(s, e, m)) | (Fin(s, e, m), Zero(_)) => {
            round_pack(s, e, (m as u128) << 64, false, prec, rc, flags)
        }
        (Fin(sa, ea, ma), Fin(sb, eb, mb)) => {
            // Order by magnitude: |big| >= |small|.
            let ((sb_, eb_, mb_), (ss, es, ms)) = if (ea, ma) >= (eb, mb) {
                ((sa, ea, ma), (sb, eb, mb))
            } else {
                ((sb, eb, mb), (sa, ea, ma))
            };
            // Both significands at bit 126 (room for a carry), the small
            // one shifted right by the exponent difference with a sticky bit.
            let big = (mb_ as u128) << 63;
            let d = (eb_ - es) as u32;
            let full = (ms as u128) << 63;
            let (small, sticky) = if d >= 128 {
                (0, true)
            } else {
                (full >> d, full & ((1u128 << d) - 1) != 0)
            };
            let (sum, sticky) = if sb_ == ss {
                (big + small, sticky)
            } else if sticky {
                // big - (small + a fraction): one less, and a fraction left.
                (big - small - 1, true)
            } else {
                (big - small, false)
            };
            if sum == 0 {
                return pack_raw(zero_sign(sa, sb), 0, 0);
            }
            let lz = sum.leading_zeros();
            // sum * 2^(eb_ - 126) = (sum << lz) * 2^(e - 127)
            round_pack(sb_, eb_ + 1 - lz as i32, sum << lz, sticky, prec, rc, flags)
        }
        _ => unreachable!("NaNs are handled before"),
    }
}

fn mul(x: Val, y: Val, prec: u32, rc: Round, flags: &mut u16) -> [u8; 10] {
    use Val::*;
    match (x, y) {
        (Inf(_), Zero(_)) | (Zero(_), Inf(_)) => invalid(flags),
        (Inf(a), Inf(b)) | (Inf(a), Fin(b, ..)) | (Fin(b, ..), Inf(a)) => {
            pack_raw(a != b, 0x7fff, 1 << 63)
        }
        (Zero(a), Zero(b)) | (Zero(a), Fin(b, ..)) | (Fin(b, ..), Zero(a)) => {
            pack_raw(a != b, 0, 0)
        }
        (Fin(sa, ea, ma), Fin(sb, eb, mb)) => {
            let p = ma as u128 * mb as u128;
            let lz = p.leading_zeros() as i32; // 0 or 1
            round_pack(sa != sb, ea + eb + 1 - lz, p << lz, false, prec, rc, flags)
        }
        _ => unreachable!("NaNs are handled before"),
    }
}

fn div(x: Val, y: Val, prec: u32, rc: Round, flags: &mut u16) -> [u8; 10] {
    use Val::*;
    match (x, y) {
        (Inf(_), Inf(_)) | (Zero(_), Zero(_)) => invalid(flags),
        (Inf(a), Zero(b)) | (Inf(a), Fin(b, ..)) => pack_raw(a != b, 0x7fff, 1 << 63),
        (Fin(a, ..), Zero(b)) => {
            *flags |= ZE;
            pack_raw(a != b, 0x7fff, 1 << 63)
        }
        (Zero(a), Inf(b)) | (Zero(a), Fin(b, ..)) | (Fin(a, ..), Inf(b)) => pack_raw(a != b, 0, 0),
        (Fin(sa, ea, ma), Fin(sb, eb, mb)) => {
            // Long division to 128 quotient bits: q1 = ma * 2^64 / mb
            // (64 or 65 bits), then 64 more from the remainder.
            let n = (ma as u128) << 64;
            let (q1, r1) = (n / mb as u128, n % mb as u128);
            let n2 = r1 << 64;
            let (q2, r2) = (n2 / mb as u128, n2 % mb as u128);
            let p = q1 << 63 | q2 >> 1;
            let sticky = q2 & 1 != 0 || r2 != 0;
            // p ~ (ma / mb) * 2^127
            let lz = p.leading_zeros() as i32; // 0 or 1
            round_pack(sa != sb, ea - eb - lz, p << lz, sticky, prec, rc, flags)
        }
        _ => unreachable!("NaNs are handled before"),
    }
}

/// FSQRT of a register value.
pub fn sqrt(a: [u8; 10], prec: u32, rc: Round) -> ([u8; 10], u16) {
    let mut flags = 0;
    let x = unpack(a, &mut flags);
    if let Some(n) = nan_result(x, None, &mut flags) {
        return (n, flags);
    }
    let r = match x {
        Val::Zero(s) => pack_raw(s, 0, 0),
        Val::Inf(false) => pack_raw(false, 0x7fff, 1 << 63),
        Val::Inf(true) | Val::Fin(true, ..) => invalid(&mut flags),
        Val::Fin(false, e, m) => {
            // value = m * 2^(e - 63) = x * 2^k with k even and x < 2^128.
            let (xv, k) = if (e - 127) % 2 == 0 {
                ((m as u128) << 64, e - 127)
            } else {
                ((m as u128) << 63, e - 126)
            };
            let root = isqrt(xv); // 2^63 <= root < 2^64
            let rem = xv - root * root;
            // The fraction beyond the integer root: above one half exactly
            // when rem > root (a square root is never exactly halfway).
            let mut p = root << 64;
            if rem > root {
                p |= 3 << 62;
            } else if rem != 0 {
                p |= 1 << 62;
            }
            round_pack(false, k / 2 + 63, p, false, prec, rc, &mut flags)
        }
        _ => unreachable!("NaNs are handled before"),
    };
    (r, flags)
}

/// FST/FSTP to an m32 or m64 real: the register value rounded with RC to
/// an IEEE format of `frac_bits` fraction and `exp_bits` exponent bits
/// (PE, OE, UE as the store reports them; a signalling NaN is quieted
/// with IE). Returns the raw bits.
pub fn to_ieee(a: [u8; 10], frac_bits: u32, exp_bits: u32, rc: Round) -> (u64, u16) {
    let mut flags = 0;
    let x = unpack(a, &mut flags);
    flags &= !DE; // stores do not report denormal operands
    let sign_bit = 1u64 << (frac_bits + exp_bits);
    let exp_max = (1u64 << exp_bits) - 1;
    let inf = exp_max << frac_bits;
    let sgn = |s: bool| if s { sign_bit } else { 0 };
    let bits = match x {
        Val::Zero(s) => sgn(s),
        Val::Inf(s) => sgn(s) | inf,
        Val::NaN(s, m) => {
            if m & (1 << 62) == 0 {
                flags |= IE;
            }
            let frac = ((m << 1) >> (64 - frac_bits)) | 1 << (frac_bits - 1);
            sgn(s) | inf | frac
        }
        Val::Fin(s, e, m) => {
            let bias = (exp_max >> 1) as i32;
            let biased = e + bias;
            // Bits of m to drop: 64 - (frac_bits + 1), more when denormal.
            let drop = (63 - frac_bits) + if biased < 1 { (1 - biased) as u32 } else { 0 };
            let wide = (m as u128) << 64;
            let (kept, rest, half) = if drop + 64 > 128 {
                // Below half of the smallest denormal: only a sticky rest.
                (0u128, 1, 1u128 << 127)
            } else if drop + 64 == 128 {
                (0u128, wide, 1u128 << 127)
            } else {
                let d = drop + 64;
                (wide >> d, wide & ((1u128 << d) - 1), 1u128 << (d - 1))
            };
            let inexact = rest != 0;
            let up = match rc {
                Round::Nearest => rest > half || (rest == half && kept & 1 == 1),
                Round::Up => inexact && !s,
                Round::Down => inexact && s,
                Round::Zero => false,
            };
            let kept = (kept + up as u128) as u64;
            if up {
                flags |= C1_UP;
            }
            if inexact {
                flags |= PE;
                if biased < 1 {
                    flags |= UE;
                }
            }
            if biased < 1 {
                // Denormal (a carry into the exponent field makes it the
                // smallest normal, as the encoding intends).
                sgn(s) | kept
            } else {
                // kept has the implicit bit at frac_bits (or frac_bits + 1
                // after a carry).
                let (kept, biased) = if kept >> (frac_bits + 1) != 0 {
                    (kept >> 1, biased + 1)
                } else {
                    (kept, biased)
                };
                if biased as u64 >= exp_max {
                    flags |= OE | PE;
                    let to_inf = match rc {
                        Round::Nearest => true,
                        Round::Up => !s,
                        Round::Down => s,
                        Round::Zero => false,
                    };
                    flags = if to_inf {
                        flags | C1_UP
                    } else {
                        flags & !C1_UP
                    };
                    if to_inf {
                        sgn(s) | inf
                    } else {
                        sgn(s) | (inf - 1)
                    }
                } else {
                    sgn(s) | (biased as u64) << frac_bits | (kept & ((1 << frac_bits) - 1))
                }
            }
        }
    };
    (bits, flags)
}

/// A register value rounded to an integer with `rc` (FIST/FISTP/FISTTP,
/// FRNDINT): `(negative, magnitude, flags)`, the magnitude saturated at
/// u128::MAX for huge values, flags PE when inexact and C1_UP when the
/// magnitude was rounded up; `None` for NaNs, infinities and unsupported
/// encodings.
pub fn round_int(a: [u8; 10], rc: Round) -> Option<(bool, u128, u16)> {
    let mut flags = 0;
    let (s, e, m) = match unpack(a, &mut flags) {
        Val::Zero(s) => return Some((s, 0, 0)),
        Val::Fin(s, e, m) => (s, e, m),
        _ => return None,
    };
    if e >= 63 {
        let shift = (e - 63) as u32;
        let mag = if shift >= 64 {
            u128::MAX
        } else {
            (m as u128) << shift
        };
        return Some((s, mag, 0));
    }
    // value = m / 2^shift with shift >= 1: integer part, the rest and half.
    let shift = (63 - e) as u32;
    let (int, rest, half) = match shift {
        1..=63 => (m >> shift, m & ((1u64 << shift) - 1), 1u64 << (shift - 1)),
        64 => (0, m, 1 << 63),
        _ => (0, 1, u64::MAX), // below one half: a non-zero rest under `half`
    };
    let inexact = rest != 0;
    let up = match rc {
        Round::Nearest => rest > half || (rest == half && int & 1 == 1),
        Round::Up => inexact && !s,
        Round::Down => inexact && s,
        Round::Zero => false,
    };
    let flags = if inexact { PE } else { 0 } | if up { C1_UP } else { 0 };
    Some((s, int as u128 + up as u128, flags))
}

/// An integer magnitude back in register format (FRNDINT's result).
pub fn from_int(negative: bool, mag: u128) -> [u8; 10] {
    if mag == 0 {
        return pack_raw(negative, 0, 0);
    }
    let lz = mag.leading_zeros();
    let mant = ((mag << lz) >> 64) as u64;
    pack_raw(negative, (127 - lz as i32 + 16383) as u16, mant)
}

/// FSCALE: a * 2^trunc(b), exact unless the result leaves the exponent
/// range (then rounded with `rc`, OE/UE as for arithmetic).
pub fn scale(a: [u8; 10], b: [u8; 10], rc: Round) -> ([u8; 10], u16) {
    let mut flags = 0;
    let (x, y) = (unpack(a, &mut flags), unpack(b, &mut flags));
    if let Some(n) = nan_result(x, Some(y), &mut flags) {
        return (n, flags);
    }
    let r = match (x, y) {
        (Val::Zero(_), Val::Inf(false)) | (Val::Inf(_), Val::Inf(true)) => invalid(&mut flags),
        (Val::Zero(s), _) | (Val::Fin(s, ..), Val::Inf(true)) => pack_raw(s, 0, 0),
        (Val::Inf(s), _) | (Val::Fin(s, ..), Val::Inf(false)) => pack_raw(s, 0x7fff, 1 << 63),
        (Val::Fin(s, e, m), _) => {
            // Far beyond the exponent range either way: clamp the scale.
            let k = match round_int(b, Round::Zero) {
                Some((neg, mag, _)) => {
                    let k = mag.min(1 << 20) as i32;
                    if neg {
                        -k
                    } else {
                        k
                    }
                }
                None => 0,
            };
            round_pack(s, e + k, (m as u128) << 64, false, 64, rc, &mut flags)
        }
        _ => unreachable!("NaNs are handled before"),
    };
    (r, flags)
}

/// What FPREM/FPREM1 leave besides the new ST0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Complete: the low three bits of the quotient (C0 = Q2, C3 = Q1,
    /// C1 = Q0).
    Complete(u8),
    /// Partial (exponent difference >= 64): C2 = 1, the quotient bits are
    /// not reported (the hardware clears C0/C1/C3).
    Partial,
    /// NaN or invalid operands, or nothing to reduce: quotient 0.
    None,
}

/// FPREM (`nearest` false: quotient truncated) and FPREM1 (`nearest`
/// true: quotient rounded to nearest-even) of a by b, exactly (SDM vol. 2
/// "FPREM", "FPREM1"). With an exponent difference D >= 64 one partial
/// step runs: the quotient is truncated after N = 32 + D mod 32 bits,
/// which leaves a difference that is a multiple of 32 for the next step
/// (measured on the host's x87; the SDM only says 32 <= N <= 63).
/// The remainder is always representable, so there is no rounding.
pub fn rem(a: [u8; 10], b: [u8; 10], nearest: bool) -> ([u8; 10], u16, Reduction) {
    let mut flags = 0;
    let (x, y) = (unpack(a, &mut flags), unpack(b, &mut flags));
    if let Some(n) = nan_result(x, Some(y), &mut flags) {
        return (n, flags, Reduction::None);
    }
    let (sa, ea, ma, eb, mb) = match (x, y) {
        (Val::Inf(_), _) | (_, Val::Zero(_)) => {
            return (invalid(&mut flags), flags, Reduction::None)
        }
        // 0 rem b and a rem inf: a itself.
        (Val::Zero(_), _) | (_, Val::Inf(_)) => {
            return (canonical(x), flags, Reduction::Complete(0))
        }
        (Val::Fin(sa, ea, ma), Val::Fin(_, eb, mb)) => (sa, ea, ma, eb, mb),
        _ => unreachable!("NaNs are handled before"),
    };
    let d = ea - eb;
    if d >= 64 {
        let n = 32 + d % 32;
        // a / b / 2^(d - n) = (ma / mb) * 2^n: the remainder of ma * 2^n
        // by mb, in units of 2^(ea - n - 63).
        let r = ((ma as u128) << n) % mb as u128;
        let out = pack_exact(sa, r, ea - n - 63);
        return (out, flags, Reduction::Partial);
    }
    if d < -1 || (d == -1 && !nearest) {
        // |a| < |b| / 2 (or FPREM with |a| < |b|): quotient 0, a stays.
        return (canonical(x), flags, Reduction::Complete(0));
    }
    // Both significands in units of 2^(low - 63), low the smaller exponent.
    let low = ea.min(eb);
    let big_a = (ma as u128) << (ea - low);
    let big_b = (mb as u128) << (eb - low);
    let (mut q, mut r) = (big_a / big_b, big_a % big_b);
    let mut sign = sa;
    if nearest && (2 * r > big_b || (2 * r == big_b && q & 1 == 1)) {
        q += 1;
        r = big_b - r;
        sign = !sa;
    }
    let out = pack_exact(sign, r, low - 63);
    (out, flags, Reduction::Complete((q & 7) as u8))
}

/// A non-NaN value in its canonical encoding (a pseudo-denormal becomes
/// the normal number it stands for, as the hardware writes it back).
fn canonical(v: Val) -> [u8; 10] {
    match v {
        Val::Zero(s) => pack_raw(s, 0, 0),
        Val::Inf(s) => pack_raw(s, 0x7fff, 1 << 63),
        Val::Fin(s, e, m) => pack_exact(s, m as u128, e - 63),
        Val::NaN(s, m) => pack_raw(s, 0x7fff, m),
    }
}

/// The exact value (-1)^sign * r * 2^scale (r < 2^127) in register format;
/// a zero keeps the sign (FPREM's zero remainder has the dividend's sign).
fn pack_exact(sign: bool, r: u128, scale: i32) -> [u8; 10] {
    if r == 0 {
        return pack_raw(sign, 0, 0);
    }
    let lz = r.leading_zeros() as i32;
    let mut ignored = 0;
    // r * 2^scale = (r << lz) * 2^(scale + 127 - lz - 127)
    round_pack(
        sign,
        scale + 127 - lz,
        r << lz,
        false,
        64,
        Round::Nearest,
        &mut ignored,
    )
}

/// FXTRACT: (exponent as a real, significand with exponent 0) of a
/// register value (SDM vol. 2 "FXTRACT"); a zero gives (-inf, the zero)
/// with ZE, an infinity (+inf, itself), NaNs propagate to both.
pub fn extract(a: [u8; 10]) -> ([u8; 10], [u8; 10], u16) {
    let mut flags = 0;
    let x = unpack(a, &mut flags);
    if let Some(n) = nan_result(x, None, &mut flags) {
        return (n, n, flags);
    }
    match x {
        Val::Zero(s) => {
            flags |= ZE;
            (pack_raw(true, 0x7fff, 1 << 63), pack_raw(s, 0, 0), flags)
        }
        Val::Inf(s) => (
            pack_raw(false, 0x7fff, 1 << 63),
            pack_raw(s, 0x7fff, 1 << 63),
            flags,
        ),
        Val::Fin(s, e, m) => {
            let exp = from_int(e < 0, e.unsigned_abs() as u128);
            (exp, pack_raw(s, 0x3fff, m), flags)
        }
        _ => unreachable!("NaNs are handled before"),
    }
}

/// Order of two register values for the compare instructions (`None`:
/// unordered, a NaN operand). Compares all 64 significand bits.
pub fn compare(a: [u8; 10], b: [u8; 10]) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering::*;
    let mut flags = 0;
    let key = |v: Val| match v {
        Val::Zero(s) => Some((s, 0u8, 0i32, 0u64)),
        Val::Fin(s, e, m) => Some((s, 1, e, m)),
        Val::Inf(s) => Some((s, 2, 0, 0)),
        Val::NaN(..) => None,
    };
    let (sa, ca, ea, ma) = key(unpack(a, &mut flags))?;
    let (sb, cb, eb, mb) = key(unpack(b, &mut flags))?;
    if ca == 0 && cb == 0 {
        return Some(Equal); // +0 == -0
    }
    // Zeros are unsigned for ordering against non-zeros.
    let neg_a = sa && ca != 0;
    let neg_b = sb && cb != 0;
    Some(match (neg_a, neg_b) {
        (true, false) => Less,
        (false, true) => Greater,
        (neg, _) => {
            let o = (ca, ea, ma).cmp(&(cb, eb, mb));
            if neg {
                o.reverse()
            } else {
                o
            }
        }
    })
}

/// The exception bits of a compare (FCOM*/FUCOM*/FCOMI*/FUCOMI*/FTST):
/// an unsupported encoding or a signalling NaN is IE, any NaN too unless
/// `unordered_ok` (the FUCOM forms); otherwise denormal operands give DE
/// (not reported beside IE or a NaN, as measured on the host).
pub fn compare_flags(a: [u8; 10], b: [u8; 10], unordered_ok: bool) -> u16 {
    let mut flags = 0;
    let vals = [unpack(a, &mut flags), unpack(b, &mut flags)];
    let mut nan = false;
    for v in vals {
        if let Val::NaN(_, m) = v {
            nan = true;
            if m & 1 << 62 == 0 || !unordered_ok {
                flags |= IE;
            }
        }
    }
    if nan || flags & IE != 0 {
        flags &= !DE;
    }
    flags
}

/// floor(sqrt(v)) for a u128, bit by bit.
fn isqrt(v: u128) -> u128 {
    let mut rem = v;
    let mut root: u128 = 0;
    let mut bit: u128 = 1 << 126;
    while bit > rem {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::fpu::{f64_to_f80, f80_to_f64};

    fn f(v: f64) -> [u8; 10] {
        f64_to_f80(v)
    }

    #[test]
    fn double_results_match_ieee_at_pc53() {
        let vals = [1.0, 3.0, 0.1, -2.5, 1e300, 7e-300, 123456.789, -0.0];
        for &a in &vals {
            for &b in &vals {
                for (op, want) in [
                    (Op::Add, a + b),
                    (Op::Sub, a - b),
                    (Op::Mul, a * b),
                    (Op::Div, a / b),
                ] {
                    let (r, _) = arith(op, f(a), f(b), 53, Round::Nearest);
                    let got = f80_to_f64(r);
                    // Far from the double range limits the single rounding
                    // at 53 bits equals IEEE double arithmetic.
                    if want.is_finite()
                        && want.abs() < 1e300
                        && (want == 0.0 || want.abs() > 1e-290)
                    {
                        assert_eq!(got.to_bits(), want.to_bits(), "{a} {op:?} {b}");
                    }
                }
            }
            if a >= 0.0 {
                let (r, _) = sqrt(f(a), 53, Round::Nearest);
                assert_eq!(f80_to_f64(r).to_bits(), a.sqrt().to_bits(), "sqrt {a}");
            }
        }
    }

    #[test]
    fn extended_precision_keeps_64_bits() {
        // 1/3 at PC = 64: significand 0xaaaa...aaab (round to nearest).
        let (r, fl) = arith(Op::Div, f(1.0), f(3.0), 64, Round::Nearest);
        assert_eq!(
            u64::from_le_bytes(r[..8].try_into().unwrap()),
            0xaaaa_aaaa_aaaa_aaab
        );
        assert_eq!(u16::from_le_bytes([r[8], r[9]]), 16383 - 2);
        assert_eq!(fl, PE | C1_UP, "inexact, rounded up");
        // 1 + 2^-63 is exact in extended, lost in double.
        let tiny = f64_to_f80(2f64.powi(-63));
        let (r, fl) = arith(Op::Add, f(1.0), tiny, 64, Round::Nearest);
        assert_eq!(
            u64::from_le_bytes(r[..8].try_into().unwrap()),
            (1 << 63) | 1
        );
        assert_eq!(fl, 0);
    }

    /// Guest-chosen register contents (FLD m80 loads any 80 bits):
    /// unnormals, pseudo-NaNs, denormals, extreme exponents never panic.
    #[test]
    fn any_bit_pattern_is_survived() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let exps = [
            0u16, 1, 2, 0x3fff, 0x7ffe, 0x7fff, 0x8000, 0xffff, 0x4040, 0x3f00,
        ];
        for k in 0..20_000 {
            let mut v = [[0u8; 10]; 2];
            for b in v.iter_mut() {
                let m = match next() % 4 {
                    0 => 0,
                    1 => 1 << 63,
                    2 => next() >> (next() % 64),
                    _ => next(),
                };
                let e = if k % 3 == 0 {
                    next() as u16
                } else {
                    exps[next() as usize % exps.len()]
                };
                b[..8].copy_from_slice(&m.to_le_bytes());
                b[8..].copy_from_slice(&e.to_le_bytes());
            }
            let rc = [Round::Nearest, Round::Down, Round::Up, Round::Zero][k % 4];
            let prec = [24, 53, 64][k % 3];
            for op in [Op::Add, Op::Sub, Op::Mul, Op::Div] {
                arith(op, v[0], v[1], prec, rc);
            }
            sqrt(v[0], prec, rc);
            scale(v[0], v[1], rc);
            rem(v[0], v[1], k % 2 == 0);
            extract(v[0]);
            to_ieee(v[0], 23, 8, rc);
            to_ieee(v[1], 52, 11, rc);
            compare(v[0], v[1]);
            if let Some((neg, mag, _)) = round_int(v[0], rc) {
                if mag < 1 << 64 {
                    from_int(neg, mag);
                }
            }
        }
    }

    #[test]
    fn remainders_and_extract() {
        let (r, fl, red) = rem(f(5.0), f(3.0), false);
        assert_eq!((f80_to_f64(r), fl, red), (2.0, 0, Reduction::Complete(1)));
        // FPREM1 rounds 3.5 to the even quotient 4: 7 - 4 * 2 = -1.
        let (r, _, red) = rem(f(7.0), f(2.0), true);
        assert_eq!((f80_to_f64(r), red), (-1.0, Reduction::Complete(4)));
        // A zero remainder keeps the dividend's sign.
        let (r, _, _) = rem(f(-6.0), f(3.0), false);
        assert_eq!(f80_to_f64(r).to_bits(), (-0.0f64).to_bits());
        // Exponent difference 100: one partial step (C2), exact.
        let (r, _, red) = rem(f(2f64.powi(100) * 1.5), f(3.0), false);
        assert_eq!(red, Reduction::Partial);
        assert!(f80_to_f64(r) < 2f64.powi(100));
        let (e, m, fl) = extract(f(-12.0));
        assert_eq!((f80_to_f64(e), f80_to_f64(m), fl), (3.0, -1.5, 0));
        let (e, m, fl) = extract(f(0.0));
        assert_eq!(
            (f80_to_f64(e), f80_to_f64(m), fl),
            (f64::NEG_INFINITY, 0.0, ZE)
        );
    }

    #[test]
    fn specials() {
        let (r, fl) = arith(
            Op::Sub,
            f(f64::INFINITY),
            f(f64::INFINITY),
            64,
            Round::Nearest,
        );
        assert_eq!((r, fl), (INDEFINITE, IE));
        let (r, fl) = arith(Op::Div, f(1.0), f(0.0), 64, Round::Nearest);
        assert_eq!((f80_to_f64(r), fl), (f64::INFINITY, ZE));
        let (r, _) = arith(Op::Sub, f(1.0), f(1.0), 64, Round::Down);
        assert_eq!(f80_to_f64(r).to_bits(), (-0.0f64).to_bits());
        let (r, fl) = sqrt(f(-1.0), 64, Round::Nearest);
        assert_eq!((r, fl), (INDEFINITE, IE));
    }
}
