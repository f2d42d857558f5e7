//! Differential tests of x87 against the host CPU. The emulator computes in
//! f64, so the native side runs with the control word's precision set to
//! double (PC = 10b) and normal-range operands: results, rounding (all four
//! RC modes), exception flags and condition codes must then agree exactly.
//! Each form is a short sequence: FNINIT; FLDCW; loads; the instruction;
//! stores; FNSTSW AX; AND AX, C0|C2|C3|exceptions; FNINIT.

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
const STATUS_TO_AX: [u8; 6] = [0xdf, 0xe0, 0x66, 0x25, 0x3f, 0x45]; // fnstsw ax; and ax,0x453f

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = FNINIT.to_vec();
    v.extend_from_slice(&FLDCW);
    for p in parts {
        v.extend_from_slice(p);
    }
    v.extend_from_slice(&STATUS_TO_AX);
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
