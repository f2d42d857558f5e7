//! Differential tests of x87 against the host CPU. `x87_forms` runs with
//! the control word's precision at double (PC = 10b) on f64 operands, the
//! other suites at single and extended precision and on full 80-bit
//! operands (denormals, NaNs, infinities included): results, rounding (all
//! four RC modes), exception flags and condition codes must agree exactly;
//! the transcendentals within a few ulps (`x87_transcendentals`).
//! Each form is a short sequence: FNINIT; FLDCW; loads; the instruction;
//! stores; FNSTSW AX; AND AX, C0|C1|C2|C3|exceptions; FNINIT.

mod cpu_harness;

use cpu_harness::*;

const ZF: u64 = 0x40;
const PF: u64 = 0x4;
const CF: u64 = 0x1;

fn normal_f64(r: &mut Rng, exp_range: u64) -> f64 {
    match r.below(10) {
        0 => 0.0,
        1 => (r.below(200) as i64 - 100) as f64,
        2 => f64::INFINITY * if r.below(2) == 0 { 1.0 } else { -1.0 },
        _ => {
            let e = 1023 + r.below(2 * exp_range + 1) - exp_range;
            f64::from_bits((r.below(2) << 63) | (e << 52) | (r.next() & ((1 << 52) - 1)))
        }
    }
}

fn prep(exp_range: u64, nearest_only: bool) -> impl Fn(&mut State, &mut Rng) {
    move |s: &mut State, r: &mut Rng| {
        s.gpr[6] = DATA + 0x100;
        let put = |s: &mut State, off: usize, v: u64| {
            s.data[0x100 + off..0x108 + off].copy_from_slice(&v.to_le_bytes())
        };
        let a = normal_f64(r, exp_range);
        let b = normal_f64(r, exp_range);
        put(s, 0, a.to_bits());
        put(s, 8, b.to_bits());
        put(
            s,
            0x20,
            (r.interesting() as i32 as i64) as u64 & 0xffff_ffff,
        );
        put(s, 0x28, (r.next() as i64 >> 11) as u64); // |x| < 2^53: exact in f64
        let rc = if nearest_only { 0 } else { r.below(4) };
        put(s, 0x30, 0x027f | rc << 10);
        put(s, 0x38, ((r.below(40) as i64 - 20) as f64).to_bits());
    }
}

const FNINIT: [u8; 2] = [0xdb, 0xe3];
const FLDCW: [u8; 3] = [0xd9, 0x6e, 0x30];
const FLD_A: [u8; 2] = [0xdd, 0x06];
const FLD_B: [u8; 3] = [0xdd, 0x46, 0x08];
const FSTP_R: [u8; 3] = [0xdd, 0x5e, 0x10];
// fnstsw ax; and ax, 0x473f: C0..C3 (C1: round-up, stack overflow) and
// the exception flags.
const STATUS_TO_AX: [u8; 6] = [0xdf, 0xe0, 0x66, 0x25, 0x3f, 0x47];

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    seq_status(parts, 0x473f)
}

/// FNINIT; FLDCW; `parts`; FNSTSW AX; AND AX, `status_mask`; FNINIT.
fn seq_status(parts: &[&[u8]], status_mask: u16) -> Vec<u8> {
    let mut v = FNINIT.to_vec();
    v.extend_from_slice(&FLDCW);
    for p in parts {
        v.extend_from_slice(p);
    }
    v.extend_from_slice(&STATUS_TO_AX[..4]);
    v.extend_from_slice(&status_mask.to_le_bytes());
    v.extend_from_slice(&FNINIT);
    v
}

#[test]
fn x87_forms() {
    let mut tally = Tally::with_seed(seed() ^ 0x87);
    let mut check = |name: &str, bytes: Vec<u8>, p: &dyn Fn(&mut State, &mut Rng), flags: u64| {
        tally.check_bytes(name, bytes, Mode::Long64, p, &|_| flags)
    };
    let p = prep(100, false);
    let near = prep(100, true);
    let close = prep(20, false);
    for (name, op) in [
        ("faddp", [0xde, 0xc1]),
        ("fsubp", [0xde, 0xe9]),
        ("fsubrp", [0xde, 0xe1]),
        ("fmulp", [0xde, 0xc9]),
        ("fdivp", [0xde, 0xf9]),
        ("fdivrp", [0xde, 0xf1]),
        ("fadd st0,st1", [0xd8, 0xc1]),
        ("fdiv st1,st0", [0xdc, 0xf9]),
    ] {
        let tail: &[u8] = if name.contains(',') {
            &[0xdd, 0xd8, 0xdd, 0x5e, 0x10]
        } else {
            &FSTP_R
        };
        let tail2: Vec<u8> = if name == "fadd st0,st1" {
            [&FSTP_R[..], &[0xdd, 0xd8][..]].concat()
        } else {
            tail.to_vec()
        };
        check(name, seq(&[&FLD_A, &FLD_B, &op, &tail2]), &p, STATUS);
    }
    for (name, op) in [
        ("fadd m64", [0xdc, 0x46, 0x08]),
        ("fsub m64", [0xdc, 0x66, 0x08]),
        ("fsubr m64", [0xdc, 0x6e, 0x08]),
        ("fmul m64", [0xdc, 0x4e, 0x08]),
        ("fdiv m64", [0xdc, 0x76, 0x08]),
        ("fdivr m64", [0xdc, 0x7e, 0x08]),
        ("fadd m32", [0xd8, 0x46, 0x08]),
        ("fmul m32", [0xd8, 0x4e, 0x08]),
        ("fiadd m32", [0xda, 0x46, 0x20]),
        ("fimul m32", [0xda, 0x4e, 0x20]),
        ("fidiv m32", [0xda, 0x76, 0x20]),
        ("fisub m32", [0xda, 0x66, 0x20]),
    ] {
        check(name, seq(&[&FLD_A, &op, &FSTP_R]), &p, STATUS);
    }
    for (name, op) in [
        ("fsqrt", [0xd9, 0xfa]),
        ("fabs", [0xd9, 0xe1]),
        ("fchs", [0xd9, 0xe0]),
        ("frndint", [0xd9, 0xfc]),
    ] {
        check(name, seq(&[&FLD_A, &op, &FSTP_R]), &p, STATUS);
    }
    for (name, op) in [
        ("fistp m32", vec![0xdb, 0x5e, 0x18]),
        ("fistp m64", vec![0xdf, 0x7e, 0x18]),
        ("fisttp m64", vec![0xdd, 0x4e, 0x18]),
        ("fistp m16", vec![0xdf, 0x5e, 0x18]),
        ("fisttp m32", vec![0xdb, 0x4e, 0x18]),
    ] {
        check(name, seq(&[&FLD_A, &op]), &prep(40, false), STATUS);
    }
    check("fild m32", seq(&[&[0xdb, 0x46, 0x20], &FSTP_R]), &p, STATUS);
    check("fild m64", seq(&[&[0xdf, 0x6e, 0x28], &FSTP_R]), &p, STATUS);
    check("fild m16", seq(&[&[0xdf, 0x46, 0x20], &FSTP_R]), &p, STATUS);
    check(
        "fld/fstp m32",
        seq(&[&[0xd9, 0x46, 0x08], &[0xd9, 0x5e, 0x10]]),
        &p,
        STATUS,
    );
    check(
        "fld m64 fstp m32",
        seq(&[&FLD_A, &[0xd9, 0x5e, 0x10]]),
        &p,
        STATUS,
    );
    check(
        "fld/fstp m80",
        seq(&[
            &FLD_A,
            &[0xdb, 0x7e, 0x10],
            &[0xdb, 0x6e, 0x10],
            &[0xdd, 0x5e, 0x20],
        ]),
        &p,
        STATUS,
    );
    check(
        "fcomip",
        seq(&[&FLD_B, &FLD_A, &[0xdf, 0xf1], &[0xdd, 0xd8]]),
        &p,
        STATUS | ZF | PF | CF,
    );
    check(
        "fucomip",
        seq(&[&FLD_B, &FLD_A, &[0xdf, 0xe9], &[0xdd, 0xd8]]),
        &p,
        STATUS | ZF | PF | CF,
    );
    check(
        "fcom st1",
        seq(&[&FLD_B, &FLD_A, &[0xd8, 0xd1]]),
        &p,
        STATUS,
    );
    check("fcomp m64", seq(&[&FLD_A, &[0xdc, 0x5e, 0x08]]), &p, STATUS);
    check("ftst", seq(&[&FLD_A, &[0xd9, 0xe4]]), &p, STATUS);
    check("fxam", seq(&[&FLD_A, &[0xd9, 0xe5]]), &p, STATUS);
    check(
        "fxch",
        seq(&[&FLD_A, &FLD_B, &[0xd9, 0xc9], &FSTP_R, &[0xdd, 0x5e, 0x18]]),
        &p,
        STATUS,
    );
    for (name, op) in [
        ("fld1", [0xd9, 0xe8]),
        ("fldz", [0xd9, 0xee]),
        ("fldpi", [0xd9, 0xeb]),
        ("fldl2e", [0xd9, 0xea]),
        ("fldln2", [0xd9, 0xed]),
    ] {
        check(name, seq(&[&op, &FSTP_R]), &near, STATUS);
    }
    check(
        "fscale",
        seq(&[
            &[0xdd, 0x46, 0x38],
            &FLD_A,
            &[0xd9, 0xfd],
            &FSTP_R,
            &[0xdd, 0xd8],
        ]),
        &p,
        STATUS,
    );
    check(
        "fprem",
        seq(&[&FLD_B, &FLD_A, &[0xd9, 0xf8], &FSTP_R, &[0xdd, 0xd8]]),
        &close,
        STATUS | 0x4700,
    );
    check(
        "fprem1",
        seq(&[&FLD_B, &FLD_A, &[0xd9, 0xf5], &FSTP_R, &[0xdd, 0xd8]]),
        &close,
        STATUS | 0x4700,
    );
    check(
        "fnstcw",
        vec![0xdb, 0xe3, 0xd9, 0x6e, 0x30, 0xd9, 0x7e, 0x18, 0xdb, 0xe3],
        &p,
        STATUS,
    );
    tally.finish("x87 forms");
}

/// The arithmetic forms again with the control word's precision control at
/// single precision (PC = 00): the significand of each result is rounded to
/// 24 bits in all four rounding modes, the exponent range stays the
/// register's.
#[test]
fn x87_single_precision_forms() {
    let mut tally = Tally::with_seed(seed() ^ 0x8724);
    let single = |s: &mut State, r: &mut Rng| {
        prep(100, false)(s, r);
        let rc = r.below(4);
        s.data[0x130..0x138].copy_from_slice(&(0x007f | rc << 10).to_le_bytes());
    };
    for (name, op) in [
        ("faddp", vec![0xde, 0xc1]),
        ("fsubp", vec![0xde, 0xe9]),
        ("fmulp", vec![0xde, 0xc9]),
        ("fdivp", vec![0xde, 0xf9]),
        ("fdivrp", vec![0xde, 0xf1]),
    ] {
        let bytes = seq(&[&FLD_A, &FLD_B, &op, &FSTP_R]);
        tally.check_bytes(name, bytes, Mode::Long64, &single, &|_| STATUS);
    }
    for (name, op) in [
        ("fadd m64", vec![0xdc, 0x46, 0x08]),
        ("fmul m64", vec![0xdc, 0x4e, 0x08]),
        ("fdiv m64", vec![0xdc, 0x76, 0x08]),
        ("fsubr m64", vec![0xdc, 0x6e, 0x08]),
        ("fiadd m32", vec![0xda, 0x46, 0x20]),
        ("fsqrt", vec![0xd9, 0xfa]),
    ] {
        let bytes = seq(&[&FLD_A, &op, &FSTP_R]);
        tally.check_bytes(name, bytes, Mode::Long64, &single, &|_| STATUS);
    }
    tally.finish("single-precision x87 forms");
}

/// The arithmetic forms at extended precision (PC = 11b, Linux's i386
/// default), results stored as m80 so all 64 significand bits are compared,
/// in all four rounding modes; chains keep 64-bit intermediates in
/// registers, and FST m64/m32 round such a value once with RC. Found by
/// i386 busybox awk (tests/cpu_busybox_i386.rs), whose harmonic sum differed
/// in the last digits while this model computed at 53 bits.
#[test]
fn x87_extended_precision_forms() {
    let mut tally = Tally::with_seed(seed() ^ 0x8764);
    let extended = |s: &mut State, r: &mut Rng| {
        prep(100, false)(s, r);
        let rc = r.below(4);
        s.data[0x130..0x138].copy_from_slice(&(0x037f | rc << 10).to_le_bytes());
    };
    const FSTP_M80: [u8; 3] = [0xdb, 0x7e, 0x10];
    const FSTP_M64_18: [u8; 3] = [0xdd, 0x5e, 0x18];
    const FSTP_M32_20: [u8; 3] = [0xd9, 0x5e, 0x20];
    const FILD_M32: [u8; 3] = [0xdb, 0x46, 0x20];
    let forms_list: Vec<(&str, Vec<u8>)> = vec![
        ("faddp", seq(&[&FLD_A, &FLD_B, &[0xde, 0xc1], &FSTP_M80])),
        ("fsubp", seq(&[&FLD_A, &FLD_B, &[0xde, 0xe9], &FSTP_M80])),
        ("fmulp", seq(&[&FLD_A, &FLD_B, &[0xde, 0xc9], &FSTP_M80])),
        ("fdivp", seq(&[&FLD_A, &FLD_B, &[0xde, 0xf9], &FSTP_M80])),
        ("fdivrp", seq(&[&FLD_A, &FLD_B, &[0xde, 0xf1], &FSTP_M80])),
        ("fdiv m64", seq(&[&FLD_A, &[0xdc, 0x76, 0x08], &FSTP_M80])),
        ("fidivr m32", seq(&[&FLD_A, &[0xda, 0x7e, 0x20], &FSTP_M80])),
        ("fsqrt", seq(&[&FLD_A, &[0xd9, 0xfa], &FSTP_M80])),
        // a/b kept in ST1 at 64 bits, then (a/b) * i + a/b and its square root.
        (
            "chain",
            seq(&[
                &FLD_A,
                &[0xdc, 0x76, 0x08], // fdiv m64 b
                &FILD_M32,
                &[0xd8, 0xc9], // fmul st0, st1
                &[0xde, 0xc1], // faddp
                &[0xd9, 0xe1], // fabs
                &[0xd9, 0xfa], // fsqrt
                &FSTP_M80,
            ]),
        ),
        // One extended quotient stored three ways: m80, m64 and m32 (RC).
        (
            "fst m64/m32 of extended",
            seq(&[
                &FLD_A,
                &[0xdc, 0x76, 0x08],
                &[0xd9, 0xc0], // fld st0
                &[0xd9, 0xc0],
                &FSTP_M80,
                &FSTP_M64_18,
                &FSTP_M32_20,
            ]),
        ),
        // An extended quotient against its own m64 rounding: they differ
        // in the low significand bits only, which FCOMI must see.
        (
            "fcomip extended vs m64",
            seq(&[
                &FLD_A,
                &[0xdc, 0x76, 0x08],
                &[0xdd, 0x56, 0x18], // fst m64
                &[0xdd, 0x46, 0x18], // fld m64
                &[0xdf, 0xf1],       // fcomip st0, st1
                &[0xdd, 0xd8],
            ]),
        ),
    ];
    for (name, bytes) in forms_list {
        tally.check_bytes(name, bytes, Mode::Long64, &extended, &|_| {
            STATUS | ZF | PF | CF
        });
    }
    // Integer results of an extended quotient, operands within 2^±20 so
    // most results are in range: rounded from all 64 bits with RC (a
    // detour through f64 would round twice).
    let close = |s: &mut State, r: &mut Rng| {
        prep(20, false)(s, r);
        let rc = r.below(4);
        s.data[0x130..0x138].copy_from_slice(&(0x037f | rc << 10).to_le_bytes());
    };
    for (name, store) in [
        ("fistp m64 of extended", vec![0xdf, 0x7e, 0x18]),
        ("fistp m32 of extended", vec![0xdb, 0x5e, 0x18]),
        ("fisttp m64 of extended", vec![0xdd, 0x4e, 0x18]),
        ("frndint of extended", vec![0xd9, 0xfc, 0xdb, 0x7e, 0x10]),
    ] {
        let bytes = seq(&[&FLD_A, &[0xdc, 0x76, 0x08], &store]);
        tally.check_bytes(name, bytes, Mode::Long64, &close, &|_| STATUS);
    }
    // FSCALE of an extended quotient keeps all its bits.
    let bytes = seq(&[
        &[0xdd, 0x46, 0x38],
        &FLD_A,
        &[0xdc, 0x76, 0x08],
        &[0xd9, 0xfd],
        &[0xdb, 0x7e, 0x10],
        &[0xdd, 0xd8],
    ]);
    tally.check_bytes(
        "fscale of extended",
        bytes,
        Mode::Long64,
        &extended,
        &|_| STATUS,
    );
    // The constants at 64 bits in each rounding mode.
    for (name, op) in [
        ("fldpi m80", [0xd9, 0xeb]),
        ("fldl2e m80", [0xd9, 0xea]),
        ("fldl2t m80", [0xd9, 0xe9]),
        ("fldlg2 m80", [0xd9, 0xec]),
        ("fldln2 m80", [0xd9, 0xed]),
    ] {
        let bytes = seq(&[&op, &[0xdb, 0x7e, 0x10]]);
        tally.check_bytes(name, bytes, Mode::Long64, &extended, &|_| STATUS);
    }
    // FILD m64 of a full 64-bit integer is exact in the register (m80),
    // and FIADD m32 adds to it at 64 bits.
    let wide_int = |s: &mut State, r: &mut Rng| {
        extended(s, r);
        let v = r.next();
        s.data[0x128..0x130].copy_from_slice(&v.to_le_bytes());
    };
    let bytes = seq(&[
        &[0xdf, 0x6e, 0x28],
        &[0xda, 0x46, 0x20],
        &[0xdb, 0x7e, 0x10],
    ]);
    tally.check_bytes(
        "fild m64 wide, fiadd m32",
        bytes,
        Mode::Long64,
        &wide_int,
        &|_| STATUS,
    );
    tally.finish("extended-precision x87 forms");
}

/// A random 80-bit register value: sign, an exponent within `spread` of
/// `center` (biased), a full 64-bit significand; one case in eight a
/// special: zero, infinity, quiet or signalling NaN, denormal.
fn extended(r: &mut Rng, center: u64, spread: u64) -> [u8; 10] {
    let sign = r.below(2) << 15;
    let (exp, mant) = match r.below(32) {
        0 => (0, 0),
        1 => (0x7fff, 1 << 63),
        2 => (0x7fff, 0xc000_0000_0000_0000 | r.next() >> 2),
        3 => (0x7fff, 0x8000_0000_0000_0000 | (r.next() >> 2).max(1)),
        4 => (0, r.next() >> r.below(64)),
        _ => {
            let e = (center + r.below(2 * spread + 1)).saturating_sub(spread);
            (e.clamp(1, 0x7ffe), r.next() | 1 << 63)
        }
    };
    let mut b = [0u8; 10];
    b[..8].copy_from_slice(&mant.to_le_bytes());
    b[8..].copy_from_slice(&((sign | exp) as u16).to_le_bytes());
    b
}

/// Like `extended`, always a normal number.
fn normal_extended(r: &mut Rng, center: u64, spread: u64) -> [u8; 10] {
    let e = (center + r.below(2 * spread + 1)).saturating_sub(spread);
    let mut b = [0u8; 10];
    b[..8].copy_from_slice(&(r.next() | 1 << 63).to_le_bytes());
    b[8..].copy_from_slice(&((r.below(2) << 15 | e.clamp(1, 0x7ffe)) as u16).to_le_bytes());
    b
}

/// Offsets (from RSI = DATA + 0x100) of two m80 operands and two m80
/// results for the extended forms below.
const X_A: u8 = 0x40;
const X_B: u8 = 0x50;
const X_R0: u8 = 0x60;
const X_R1: u8 = 0x70;

/// Operands as m80 at X_A/X_B, control word with a random RC and PC
/// (neither may change an exact result).
fn prep_extended(
    a: impl Fn(&mut Rng) -> [u8; 10],
    b: impl Fn(&mut Rng) -> [u8; 10],
) -> impl Fn(&mut State, &mut Rng) {
    move |s: &mut State, r: &mut Rng| {
        s.gpr[6] = DATA + 0x100;
        let (va, vb) = (a(r), b(r));
        s.data[0x100 + X_A as usize..][..10].copy_from_slice(&va);
        s.data[0x100 + X_B as usize..][..10].copy_from_slice(&vb);
        let pc = [0, 2, 3][r.below(3) as usize];
        let cw = 0x007f | pc << 8 | r.below(4) << 10;
        s.data[0x130..0x138].copy_from_slice(&cw.to_le_bytes());
    }
}

type Prep = Box<dyn Fn(&mut State, &mut Rng)>;

const FLD_XA: [u8; 3] = [0xdb, 0x6e, X_A];
const FLD_XB: [u8; 3] = [0xdb, 0x6e, X_B];
const FSTP_XR0: [u8; 3] = [0xdb, 0x7e, X_R0];
const FSTP_XR1: [u8; 3] = [0xdb, 0x7e, X_R1];

/// FPREM/FPREM1 and FXTRACT are exact operations on the 80-bit values:
/// every bit of the results, the quotient bits C0/C3/C1, C2 (incomplete
/// reduction for exponent differences >= 64, one partial step) and the
/// exception flags must equal the host's. Operands: close exponents,
/// differences of up to a few hundred (partial steps), anything in the
/// exponent range, denormals and specials.
#[test]
fn x87_exact_remainder_and_extract() {
    let mut tally = Tally::with_seed(seed() ^ 0x8780);
    let close: Prep = Box::new(prep_extended(
        |r| extended(r, 16383, 70),
        |r| extended(r, 16383, 70),
    ));
    let far: Prep = Box::new(prep_extended(
        |r| extended(r, 16383 + 200, 200),
        |r| extended(r, 16383, 20),
    ));
    let any: Prep = Box::new(prep_extended(
        |r| extended(r, 16383, 16383),
        |r| extended(r, 16383, 16383),
    ));
    let tiny: Prep = Box::new(prep_extended(
        |r| extended(r, 40, 40),
        |r| extended(r, 0, 70),
    ));
    for (name, op) in [("fprem", [0xd9, 0xf8]), ("fprem1", [0xd9, 0xf5])] {
        let bytes = seq(&[&FLD_XB, &FLD_XA, &op, &FSTP_XR0, &FSTP_XR1]);
        for (what, p) in [
            ("close", &close),
            ("far", &far),
            ("any", &any),
            ("tiny", &tiny),
        ] {
            let p: &dyn Fn(&mut State, &mut Rng) = &**p;
            tally.check_bytes(
                format!("{name} {what}"),
                bytes.clone(),
                Mode::Long64,
                p,
                &|_| STATUS,
            );
        }
        // Repeated until complete, as fmod loops do: the same final
        // remainder and quotient bits.
        let mut looped = seq(&[&FLD_XB, &FLD_XA]);
        let at = looped.len();
        looped.extend_from_slice(&op);
        looped.extend_from_slice(&[0xdf, 0xe0, 0xf6, 0xc4, 0x04]); // fnstsw ax; test ah, 4
        let back = at as i64 - (looped.len() as i64 + 2);
        looped.extend_from_slice(&[0x75, back as u8]); // jnz back to the FPREM
        let tail = seq(&[&FSTP_XR0, &FSTP_XR1]);
        looped.extend_from_slice(&tail[FNINIT.len() + FLDCW.len()..]);
        // (Normal operands only: a denormal divisor would need hundreds of
        // steps, more than the harness runs.)
        let far_normal = prep_extended(
            |r| normal_extended(r, 16383 + 200, 200),
            |r| normal_extended(r, 16383, 20),
        );
        tally.check_bytes(
            format!("{name} loop"),
            looped,
            Mode::Long64,
            &far_normal,
            &|_| STATUS,
        );
    }
    for (what, p) in [("close", &close), ("any", &any), ("tiny", &tiny)] {
        let p: &dyn Fn(&mut State, &mut Rng) = &**p;
        let bytes = seq(&[&FLD_XA, &[0xd9, 0xf4], &FSTP_XR0, &FSTP_XR1]);
        tally.check_bytes(format!("fxtract {what}"), bytes, Mode::Long64, p, &|_| {
            STATUS
        });
    }
    // Stack faults: FPREM with ST1 empty, FXTRACT with ST0 empty and with
    // a full stack (the push overflows): SF, IE, C1 and the indefinite.
    let bytes = seq(&[&FLD_XA, &[0xd9, 0xf8], &FSTP_XR0]);
    tally.check_bytes("fprem underflow", bytes, Mode::Long64, &*close, &|_| STATUS);
    let bytes = seq(&[&[0xd9, 0xf4], &FSTP_XR0, &FSTP_XR1]);
    tally.check_bytes("fxtract underflow", bytes, Mode::Long64, &*close, &|_| {
        STATUS
    });
    // FXTRACT, FPTAN and FSINCOS with a full stack (the push overflows).
    for (name, op) in [
        ("fxtract", [0xd9, 0xf4]),
        ("fptan", [0xd9, 0xf2]),
        ("fsincos", [0xd9, 0xfb]),
    ] {
        let mut full: Vec<&[u8]> = vec![&FLD_XA; 8];
        full.extend_from_slice(&[&op, &FSTP_XR0, &FSTP_XR1]);
        let bytes = seq(&full);
        tally.check_bytes(
            format!("{name} overflow"),
            bytes,
            Mode::Long64,
            &*close,
            &|_| STATUS,
        );
    }
    // FPTAN/FSINCOS with ST0 empty.
    for (name, op) in [("fptan", [0xd9, 0xf2]), ("fsincos", [0xd9, 0xfb])] {
        let bytes = seq(&[&op, &FSTP_XR0, &FSTP_XR1]);
        tally.check_bytes(
            format!("{name} underflow"),
            bytes,
            Mode::Long64,
            &*close,
            &|_| STATUS,
        );
    }
    tally.finish("exact x87 remainder/extract forms");
}

/// Distance in units in the last place between two 80-bit values of the
/// same sign (normals and denormals; `None` if the signs differ or either
/// is a NaN or infinity, unless they are identical).
fn ulps(a: &[u8], b: &[u8]) -> Option<u64> {
    if a == b {
        return Some(0);
    }
    let key = |v: &[u8]| {
        let m = u64::from_le_bytes(v[..8].try_into().unwrap());
        let se = u16::from_le_bytes([v[8], v[9]]);
        let e = (se & 0x7fff) as u64;
        (se >> 15, e, e << 63 | (m & !(1 << 63)))
    };
    let ((sa, ea, ka), (sb, eb, kb)) = (key(a), key(b));
    if sa != sb || ea == 0x7fff || eb == 0x7fff {
        return None;
    }
    Some(ka.abs_diff(kb))
}

/// Runs a transcendental form natively and emulated: the two m80 results
/// may differ by at most `tol` ulps (neither the host nor the emulator
/// rounds these correctly), everything else (status word with C0/C2/C3
/// and the exception flags, registers, memory) must be equal. Returns the
/// largest distance seen and how many results were not identical.
fn check_approx(
    fails: &mut Vec<String>,
    rng: &mut Rng,
    name: &str,
    bytes: Vec<u8>,
    prepare: &dyn Fn(&mut State, &mut Rng),
    tol: u64,
) -> (u64, u64) {
    let form = Form {
        name: name.into(),
        bytes,
    };
    let mut h = Harness::new(&form);
    let (mut worst, mut off_by_some) = (0, 0);
    for case in 0..cases() {
        let mut s = random_state(rng);
        prepare(&mut s, rng);
        let mut emu = match h.run_emulated(&s) {
            Ok(e) => e,
            Err(e) => {
                fails.push(format!("{name} case {case}: {e}"));
                return (worst, off_by_some);
            }
        };
        let nat = h.run_native(&s);
        let mut bad = None;
        for off in [0x100 + X_R0 as usize, 0x100 + X_R1 as usize] {
            let (n, e) = (&nat.data[off..off + 10], &emu.data[off..off + 10]);
            match ulps(n, e) {
                Some(d) if d <= tol => {
                    worst = worst.max(d);
                    off_by_some += (d != 0) as u64;
                    emu.data[off..off + 10].copy_from_slice(n);
                }
                d => {
                    bad = Some(format!(
                        "result at {off:#x}: host {n:02x?} emulator {e:02x?} ({d:?} ulps)"
                    ))
                }
            }
        }
        let d = diff(&nat, &emu, STATUS).or(bad);
        if let Some(d) = d {
            let a = &s.data[0x100 + X_A as usize..][..10];
            let b = &s.data[0x100 + X_B as usize..][..10];
            fails.push(format!("{name} case {case}: a {a:02x?} b {b:02x?}\n{d}"));
            if fails.len() >= 3 {
                break;
            }
        }
    }
    (worst, off_by_some)
}

/// The transcendental instructions at 64-bit precision against the host's
/// x87, in their defined domains and with specials: results within a few
/// ulps, status word and exceptions exact. The largest distance per form
/// is printed with how many results were not identical (docs/cpu.md
/// quotes them).
#[test]
fn x87_transcendentals() {
    let mut rng = Rng::new(seed() ^ 0x87f5);
    let mut fails = Vec::new();
    // Arguments within 2^±70 of 1 (beyond 2^63 out of range for FSIN..).
    let trig_arg: Prep = Box::new(prep_extended(
        |r| extended(r, 16383, 70),
        |r| extended(r, 16383, 10),
    ));
    // Moderate arguments, the common case (|x| < 2^8).
    let trig_small: Prep = Box::new(prep_extended(
        |r| extended(r, 16383 - 20, 28),
        |r| extended(r, 16383, 10),
    ));
    let any: Prep = Box::new(prep_extended(
        |r| extended(r, 16383, 16383),
        |r| extended(r, 16383, 16383),
    ));
    let wide: Prep = Box::new(prep_extended(
        |r| extended(r, 16383, 200),
        |r| extended(r, 16383, 200),
    ));
    // F2XM1: -1 <= x <= 1. FYL2XP1: |x| < 1 - sqrt(2) / 2 (below 1/4 here).
    let unit: Prep = Box::new(prep_extended(
        |r| extended(r, 16382 - 70, 70),
        |r| extended(r, 16383, 10),
    ));
    let quarter: Prep = Box::new(prep_extended(
        |r| extended(r, 16380 - 70, 70),
        |r| extended(r, 16383, 100),
    ));
    let positive = |f: fn(&mut Rng) -> [u8; 10]| {
        move |r: &mut Rng| {
            let mut v = f(r);
            if r.below(8) != 0 {
                v[9] &= 0x7f;
            }
            v
        }
    };
    let log_arg: Prep = Box::new(prep_extended(
        positive(|r| extended(r, 16383, 16383)),
        |r| extended(r, 16383, 200),
    ));
    let log_near_one: Prep = Box::new(prep_extended(positive(|r| extended(r, 16383, 2)), |r| {
        extended(r, 16383, 100)
    }));
    const TOL: u64 = 2;
    let mut report = Vec::new();
    for (name, op, preps) in [
        (
            "fsin",
            [0xd9, 0xfe],
            vec![("arg", &trig_arg), ("small", &trig_small)],
        ),
        (
            "fcos",
            [0xd9, 0xff],
            vec![("arg", &trig_arg), ("small", &trig_small)],
        ),
        (
            "fsincos",
            [0xd9, 0xfb],
            vec![("arg", &trig_arg), ("small", &trig_small)],
        ),
        (
            "fptan",
            [0xd9, 0xf2],
            vec![("arg", &trig_arg), ("small", &trig_small)],
        ),
        ("fpatan", [0xd9, 0xf3], vec![("wide", &wide), ("any", &any)]),
        ("f2xm1", [0xd9, 0xf0], vec![("unit", &unit)]),
        (
            "fyl2x",
            [0xd9, 0xf1],
            vec![("any", &log_arg), ("near 1", &log_near_one)],
        ),
        ("fyl2xp1", [0xd9, 0xf9], vec![("quarter", &quarter)]),
    ] {
        // C1 (rounded up) follows the last ulp, where host and emulator
        // may differ: not compared here.
        let bytes = seq_status(&[&FLD_XB, &FLD_XA, &op, &FSTP_XR0, &FSTP_XR1], 0x453f);
        for (what, p) in preps {
            let p: &dyn Fn(&mut State, &mut Rng) = &**p;
            let label = format!("{name} {what}");
            let (w, n) = check_approx(&mut fails, &mut rng, &label, bytes.clone(), p, TOL);
            report.push(format!("{label}: {w} ({n} of {} results off)", 2 * cases()));
        }
    }
    eprintln!(
        "x87 transcendentals, largest ulp distance from the host: {}",
        report.join(", ")
    );
    assert!(
        fails.is_empty(),
        "{} differences:\n{}",
        fails.len(),
        fails.join("\n")
    );
}

/// Stack underflow (SDM vol. 1 §8.5.1.1): an instruction reading an empty
/// register raises IE with SF and C1 = 0, and with IE masked its result is
/// the real indefinite (integer indefinite for FIST, "unordered" for the
/// compares). One register loaded, the instruction reads ST1 or a second
/// one; all registers left are stored.
#[test]
fn x87_stack_underflow_forms() {
    let mut tally = Tally::with_seed(seed() ^ 0x87e7);
    let p = prep_extended(|r| extended(r, 16383, 70), |r| extended(r, 16383, 70));
    let forms: Vec<(&str, Vec<u8>)> = vec![
        ("faddp", seq(&[&FLD_XA, &[0xde, 0xc1], &FSTP_XR0])),
        ("fadd st0,st1", seq(&[&FLD_XA, &[0xd8, 0xc1], &FSTP_XR0])),
        (
            "fdiv st1,st0",
            seq(&[&FLD_XA, &[0xdc, 0xf9], &FSTP_XR0, &FSTP_XR1]),
        ),
        ("fmul m64 empty", seq(&[&[0xdc, 0x4e, 0x08], &FSTP_XR0])),
        ("fsqrt", seq(&[&[0xd9, 0xfa], &FSTP_XR0])),
        ("fchs", seq(&[&[0xd9, 0xe0], &FSTP_XR0])),
        ("fabs", seq(&[&[0xd9, 0xe1], &FSTP_XR0])),
        ("frndint", seq(&[&[0xd9, 0xfc], &FSTP_XR0])),
        ("fscale", seq(&[&FLD_XA, &[0xd9, 0xfd], &FSTP_XR0])),
        (
            "fld st1",
            seq(&[&FLD_XA, &[0xd9, 0xc1], &FSTP_XR0, &FSTP_XR1]),
        ),
        ("fxch", seq(&[&FLD_XA, &[0xd9, 0xc9], &FSTP_XR0, &FSTP_XR1])),
        ("fistp m32", seq(&[&[0xdb, 0x5e, 0x18]])),
        ("fisttp m64", seq(&[&[0xdd, 0x4e, 0x18]])),
        ("fcom st1", seq(&[&FLD_XA, &[0xd8, 0xd1], &FSTP_XR0])),
        ("fucompp", seq(&[&FLD_XA, &[0xda, 0xe9]])),
        ("ftst", seq(&[&[0xd9, 0xe4]])),
        ("fcomip", seq(&[&FLD_XA, &[0xdf, 0xf1]])),
        ("fpatan", seq(&[&FLD_XA, &[0xd9, 0xf3], &FSTP_XR0])),
        ("fyl2x", seq(&[&FLD_XA, &[0xd9, 0xf1], &FSTP_XR0])),
        ("fsin", seq(&[&[0xd9, 0xfe], &FSTP_XR0])),
        ("f2xm1", seq(&[&[0xd9, 0xf0], &FSTP_XR0])),
        ("fprem1", seq(&[&FLD_XA, &[0xd9, 0xf5], &FSTP_XR0])),
    ];
    for (name, bytes) in forms {
        tally.check_bytes(name, bytes, Mode::Long64, &p, &|_| STATUS | ZF | PF | CF);
    }
    tally.finish("x87 stack underflow forms");
}

/// The compares on 80-bit operands with denormals, zeros, infinities and
/// quiet/signalling NaNs: FCOM/FCOMI raise IE for any NaN, FUCOM/FUCOMI
/// only for signalling ones; denormal operands report DE.
#[test]
fn x87_extended_compares() {
    let mut tally = Tally::with_seed(seed() ^ 0x87c0);
    let p = prep_extended(|r| extended(r, 16383, 3), |r| extended(r, 16383, 3));
    for (name, op, pops) in [
        ("fcom st1", vec![0xd8, 0xd1], 0),
        ("fucom st1", vec![0xdd, 0xe1], 0),
        ("fcompp", vec![0xde, 0xd9], 2),
        ("fucompp", vec![0xda, 0xe9], 2),
        ("fcomi", vec![0xdb, 0xf1], 0),
        ("fucomip", vec![0xdf, 0xe9], 1),
        ("ftst", vec![0xd9, 0xe4], 0),
        ("fcom m64", vec![0xdc, 0x56, 0x08], 0),
    ] {
        let mut parts: Vec<&[u8]> = vec![&FLD_XB, &FLD_XA, &op];
        let stores: [&[u8]; 2] = [&FSTP_XR0, &FSTP_XR1];
        parts.extend_from_slice(&stores[..2 - pops]);
        tally.check_bytes(name, seq(&parts), Mode::Long64, &p, &|_| {
            STATUS | ZF | PF | CF
        });
    }
    tally.finish("x87 compares of extended operands");
}

/// Arithmetic and compares of an extended ST0 (specials included) with an
/// m64/m32 real that is often a denormal, a NaN, an infinity or zero: the
/// load's DE/IE merge with the operation's as on the host (no DE beside
/// IE or a NaN result).
#[test]
fn x87_memory_operand_specials() {
    let mut tally = Tally::with_seed(seed() ^ 0x87ad);
    let base = prep_extended(|r| extended(r, 16383, 3), |r| extended(r, 16383, 3));
    let p = move |s: &mut State, r: &mut Rng| {
        base(s, r);
        let d: u64 = match r.below(6) {
            0 => r.next() >> 12,                                  // denormal (or zero)
            1 => 0x7ff0_0000_0000_0000 | (r.next() >> 13).max(1), // signalling NaN
            2 => 0x7ff8_0000_0000_0000 | r.next() >> 13,          // quiet NaN
            3 => 0x7ff0_0000_0000_0000,                           // infinity
            _ => 0x3ff0_0000_0000_0000 | r.next() >> 12,
        } | r.below(2) << 63;
        s.data[0x108..0x110].copy_from_slice(&d.to_le_bytes());
        let f = (d >> 32) as u32; // an m32 of the same kind
        s.data[0x10c..0x110].copy_from_slice(&f.to_le_bytes());
    };
    for (name, op) in [
        ("fadd m64", vec![0xdc, 0x46, 0x08]),
        ("fmul m64", vec![0xdc, 0x4e, 0x08]),
        ("fdivr m64", vec![0xdc, 0x7e, 0x08]),
        ("fsub m32", vec![0xd8, 0x66, 0x0c]),
        ("fcomp m64", vec![0xdc, 0x5e, 0x08]),
        ("fcom m32", vec![0xd8, 0x56, 0x0c]),
    ] {
        let bytes = seq(&[&FLD_XA, &op, &FSTP_XR0]);
        tally.check_bytes(name, bytes, Mode::Long64, &p, &|_| STATUS);
    }
    tally.finish("x87 forms with special memory operands");
}
