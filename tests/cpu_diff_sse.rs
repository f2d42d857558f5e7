//! Differential tests of SSE/SSE2 against the host CPU: data movement,
//! packed integer, and floating point with random MXCSR rounding modes
//! (exception flags compared exactly).

mod cpu_harness;

use cpu_harness::*;

#[derive(Clone, Copy)]
enum Rm {
    Xmm(u8),
    Gpr(u8),
    Mem(i8),
}

/// `[pfx] [REX] 0F op modrm [disp8] [imm8]` with xmm `reg`.
fn enc(pfx: Option<u8>, w: bool, op: &[u8], reg: u8, rm: Rm, imm: Option<u8>) -> Vec<u8> {
    let mut v = Vec::new();
    if let Some(p) = pfx {
        v.push(p);
    }
    let mut rex = if w { 0x48 } else { 0 };
    if reg >= 8 {
        rex |= 0x44;
    }
    let (modrm, disp) = match rm {
        Rm::Xmm(r) | Rm::Gpr(r) => {
            if r >= 8 {
                rex |= 0x41;
            }
            (0xc0 | ((reg & 7) << 3) | (r & 7), None)
        }
        Rm::Mem(d) => (0x40 | ((reg & 7) << 3) | 6, Some(d as u8)),
    };
    if rex != 0 {
        v.push(rex | 0x40);
    }
    v.push(0x0f);
    v.extend_from_slice(op);
    v.push(modrm);
    if let Some(d) = disp {
        v.push(d);
    }
    if let Some(i) = imm {
        v.push(i);
    }
    v
}

fn f64_interesting(r: &mut Rng) -> u64 {
    match r.below(12) {
        0 => 0,
        1 => 1 << 63,
        2 => 0x7ff0_0000_0000_0000 | (r.below(2) << 63),
        3 => 0x7ff8_0000_0000_0000 | (r.next() & 0xf_ffff) | (r.below(2) << 63), // QNaN
        4 => 0x7ff0_0000_0000_0001 | (r.next() & 0x7_ffff),                      // SNaN
        5 => r.next() & 0x000f_ffff_ffff_ffff,                                   // denormal
        6 => ((r.below(2000) as i64 - 1000) as f64).to_bits(),
        7 => (r.next() & 0x800f_ffff_ffff_ffff) | (0x3f0 + r.below(32)) << 52, // near 1
        8 => 0x7fe0_0000_0000_0000 | (r.next() & 0x800f_ffff_ffff_ffff),       // huge
        9 => (r.next() & 0x800f_ffff_ffff_ffff) | (1 + r.below(4)) << 52,      // tiny normal
        _ => r.next(),
    }
}

fn f32_interesting(r: &mut Rng) -> u32 {
    match r.below(12) {
        0 => 0,
        1 => 1 << 31,
        2 => 0x7f80_0000 | (r.below(2) << 31) as u32,
        3 => 0x7fc0_0000 | (r.next() & 0xffff) as u32,
        4 => 0x7f80_0001 | (r.next() & 0x7fff) as u32,
        5 => (r.next() & 0x007f_ffff) as u32,
        6 => ((r.below(2000) as i32 - 1000) as f32).to_bits(),
        7 => ((r.next() & 0x807f_ffff) as u32) | ((0x70 + r.below(32)) << 23) as u32,
        8 => 0x7f00_0000 | (r.next() & 0x807f_ffff) as u32,
        9 => ((r.next() & 0x807f_ffff) as u32) | ((1 + r.below(4)) << 23) as u32,
        _ => r.next() as u32,
    }
}

/// Fill XMM registers and DATA with float-shaped values and pick a random
/// rounding mode (DAZ/FTZ sometimes), exceptions masked.
fn fp_prep(double: bool) -> impl Fn(&mut State, &mut Rng) {
    move |s: &mut State, r: &mut Rng| {
        s.gpr[6] = DATA + 0x100;
        let gen = |r: &mut Rng| -> u128 {
            if double {
                f64_interesting(r) as u128 | (f64_interesting(r) as u128) << 64
            } else {
                (0..4).fold(0u128, |acc, k| {
                    acc | (f32_interesting(r) as u128) << (32 * k)
                })
            }
        };
        for x in s.xmm.iter_mut() {
            *x = gen(r);
        }
        for k in 0..4 {
            let v = gen(r);
            s.data[0x110 + 16 * k..0x120 + 16 * k].copy_from_slice(&v.to_le_bytes());
        }
        s.mxcsr = 0x1f80 | ((r.below(4) as u32) << 13);
        if r.below(8) == 0 {
            s.mxcsr |= 1 << 6;
        }
        if r.below(8) == 0 {
            s.mxcsr |= 1 << 15;
        }
    }
}

fn mem_prep(s: &mut State, _r: &mut Rng) {
    s.gpr[6] = DATA + 0x100;
}

struct Suite {
    tally: Tally,
}

impl Suite {
    fn new() -> Self {
        Suite {
            tally: Tally::with_seed(seed() ^ 0x55e),
        }
    }
    fn check(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        prep: &dyn Fn(&mut State, &mut Rng),
        mask: u64,
    ) {
        self.tally
            .check_bytes(name, bytes, Mode::Long64, prep, &|_| mask);
    }
    /// xmm,xmm (two register pairs) and xmm,m forms.
    fn xform(
        &mut self,
        name: &str,
        pfx: Option<u8>,
        op: &[u8],
        imm: Option<u8>,
        prep: &dyn Fn(&mut State, &mut Rng),
        mask: u64,
    ) {
        for (reg, rm) in [
            (1u8, Rm::Xmm(2)),
            (9, Rm::Xmm(14)),
            (3, Rm::Xmm(3)),
            (4, Rm::Mem(0x10)),
        ] {
            self.check(name, enc(pfx, false, op, reg, rm, imm), prep, mask);
        }
    }
    fn finish(self) {
        self.tally.finish("forms");
    }
}

fn none(_: &mut State, _: &mut Rng) {}

/// The two-operand packed-integer forms `0F xx` that exist for both MMX
/// (no prefix) and XMM registers (0x66 prefix).
const PACKED_INTEGER_OPS: &[(&str, u8)] = &[
    ("punpcklbw", 0x60),
    ("punpcklwd", 0x61),
    ("punpckldq", 0x62),
    ("packsswb", 0x63),
    ("pcmpgtb", 0x64),
    ("pcmpgtw", 0x65),
    ("pcmpgtd", 0x66),
    ("packuswb", 0x67),
    ("punpckhbw", 0x68),
    ("punpckhwd", 0x69),
    ("punpckhdq", 0x6a),
    ("packssdw", 0x6b),
    ("pcmpeqb", 0x74),
    ("pcmpeqw", 0x75),
    ("pcmpeqd", 0x76),
    ("psrlw", 0xd1),
    ("psrld", 0xd2),
    ("psrlq", 0xd3),
    ("paddq", 0xd4),
    ("pmullw", 0xd5),
    ("psubusb", 0xd8),
    ("psubusw", 0xd9),
    ("pminub", 0xda),
    ("pand", 0xdb),
    ("paddusb", 0xdc),
    ("paddusw", 0xdd),
    ("pmaxub", 0xde),
    ("pandn", 0xdf),
    ("pavgb", 0xe0),
    ("psraw", 0xe1),
    ("psrad", 0xe2),
    ("pavgw", 0xe3),
    ("pmulhuw", 0xe4),
    ("pmulhw", 0xe5),
    ("psubsb", 0xe8),
    ("psubsw", 0xe9),
    ("pminsw", 0xea),
    ("por", 0xeb),
    ("paddsb", 0xec),
    ("paddsw", 0xed),
    ("pmaxsw", 0xee),
    ("pxor", 0xef),
    ("psllw", 0xf1),
    ("pslld", 0xf2),
    ("psllq", 0xf3),
    ("pmuludq", 0xf4),
    ("pmaddwd", 0xf5),
    ("psadbw", 0xf6),
    ("psubb", 0xf8),
    ("psubw", 0xf9),
    ("psubd", 0xfa),
    ("psubq", 0xfb),
    ("paddb", 0xfc),
    ("paddw", 0xfd),
    ("paddd", 0xfe),
];

/// SSSE3 forms `0F 38 xx`, for both MMX and XMM registers.
const SSSE3_OPS: &[(&str, u8)] = &[
    ("pshufb", 0x00),
    ("phaddw", 0x01),
    ("phaddd", 0x02),
    ("phaddsw", 0x03),
    ("pmaddubsw", 0x04),
    ("phsubw", 0x05),
    ("phsubd", 0x06),
    ("phsubsw", 0x07),
    ("psignb", 0x08),
    ("psignw", 0x09),
    ("psignd", 0x0a),
    ("pmulhrsw", 0x0b),
    ("pabsb", 0x1c),
    ("pabsw", 0x1d),
    ("pabsd", 0x1e),
];

#[test]
fn sse_moves_and_logic() {
    let mut t = Suite::new();
    let pm = &mem_prep;
    for (name, pfx, ld, st) in [
        ("movaps", None, 0x28u8, 0x29u8),
        ("movups", None, 0x10, 0x11),
        ("movapd", Some(0x66), 0x28, 0x29),
        ("movupd", Some(0x66), 0x10, 0x11),
        ("movdqa", Some(0x66), 0x6f, 0x7f),
        ("movdqu", Some(0xf3), 0x6f, 0x7f),
        ("movss", Some(0xf3), 0x10, 0x11),
        ("movsd", Some(0xf2), 0x10, 0x11),
    ] {
        t.xform(&format!("{name} load"), pfx, &[ld], None, pm, STATUS);
        t.check(
            &format!("{name} store"),
            enc(pfx, false, &[st], 5, Rm::Mem(0x20), None),
            pm,
            STATUS,
        );
        t.check(
            &format!("{name} store reg"),
            enc(pfx, false, &[st], 5, Rm::Xmm(12), None),
            pm,
            STATUS,
        );
    }
    t.check(
        "movdqu unaligned",
        enc(Some(0xf3), false, &[0x6f], 2, Rm::Mem(0x13), None),
        pm,
        STATUS,
    );
    t.check(
        "movups unaligned store",
        enc(None, false, &[0x11], 2, Rm::Mem(0x17), None),
        pm,
        STATUS,
    );
    t.check(
        "movntdq",
        enc(Some(0x66), false, &[0xe7], 2, Rm::Mem(0x30), None),
        pm,
        STATUS,
    );
    t.check(
        "movntps",
        enc(None, false, &[0x2b], 2, Rm::Mem(0x30), None),
        pm,
        STATUS,
    );
    t.check("movnti", vec![0x48, 0x0f, 0xc3, 0x5e, 0x08], pm, STATUS);
    for (name, pfx, op) in [
        ("movhps", None, 0x16u8),
        ("movlps", None, 0x12),
        ("movhpd", Some(0x66), 0x16),
        ("movlpd", Some(0x66), 0x12),
    ] {
        t.check(
            &format!("{name} load"),
            enc(pfx, false, &[op], 3, Rm::Mem(0x18), None),
            pm,
            STATUS,
        );
        t.check(
            &format!("{name} store"),
            enc(pfx, false, &[op + 1], 3, Rm::Mem(0x18), None),
            pm,
            STATUS,
        );
    }
    t.check(
        "movhlps",
        enc(None, false, &[0x12], 3, Rm::Xmm(7), None),
        &none,
        STATUS,
    );
    t.check(
        "movlhps",
        enc(None, false, &[0x16], 3, Rm::Xmm(7), None),
        &none,
        STATUS,
    );
    // MOVD/MOVQ in all directions.
    t.check(
        "movd xmm,r32",
        enc(Some(0x66), false, &[0x6e], 3, Rm::Gpr(2), None),
        &none,
        STATUS,
    );
    t.check(
        "movq xmm,r64",
        enc(Some(0x66), true, &[0x6e], 11, Rm::Gpr(9), None),
        &none,
        STATUS,
    );
    t.check(
        "movd r32,xmm",
        enc(Some(0x66), false, &[0x7e], 3, Rm::Gpr(2), None),
        &none,
        STATUS,
    );
    t.check(
        "movq r64,xmm",
        enc(Some(0x66), true, &[0x7e], 3, Rm::Gpr(12), None),
        &none,
        STATUS,
    );
    t.check(
        "movd xmm,m32",
        enc(Some(0x66), false, &[0x6e], 3, Rm::Mem(0x8), None),
        pm,
        STATUS,
    );
    t.check(
        "movd m32,xmm",
        enc(Some(0x66), false, &[0x7e], 3, Rm::Mem(0x8), None),
        pm,
        STATUS,
    );
    t.check(
        "movq xmm,xmm/m64",
        enc(Some(0xf3), false, &[0x7e], 3, Rm::Xmm(5), None),
        pm,
        STATUS,
    );
    t.check(
        "movq xmm,m64",
        enc(Some(0xf3), false, &[0x7e], 3, Rm::Mem(0x8), None),
        pm,
        STATUS,
    );
    t.check(
        "movq m64,xmm",
        enc(Some(0x66), false, &[0xd6], 3, Rm::Mem(0x8), None),
        pm,
        STATUS,
    );
    t.check(
        "movmskps",
        enc(None, false, &[0x50], 3, Rm::Xmm(5), None),
        &none,
        STATUS,
    );
    t.check(
        "movmskpd",
        enc(Some(0x66), false, &[0x50], 3, Rm::Xmm(5), None),
        &none,
        STATUS,
    );
    t.check(
        "pmovmskb",
        enc(Some(0x66), false, &[0xd7], 3, Rm::Xmm(13), None),
        &none,
        STATUS,
    );
    for (name, pfx, op) in [
        ("andps", None, 0x54u8),
        ("andnps", None, 0x55),
        ("orps", None, 0x56),
        ("xorps", None, 0x57),
        ("andpd", Some(0x66), 0x54),
        ("andnpd", Some(0x66), 0x55),
        ("orpd", Some(0x66), 0x56),
        ("xorpd", Some(0x66), 0x57),
        ("unpcklps", None, 0x14),
        ("unpckhps", None, 0x15),
        ("unpcklpd", Some(0x66), 0x14),
        ("unpckhpd", Some(0x66), 0x15),
    ] {
        t.xform(name, pfx, &[op], None, pm, STATUS);
    }
    for imm in [0x00u8, 0x1b, 0xe4, 0x4e, 0xff] {
        t.xform("shufps", None, &[0xc6], Some(imm), pm, STATUS);
        t.xform("pshufd", Some(0x66), &[0x70], Some(imm), pm, STATUS);
        t.xform("pshuflw", Some(0xf2), &[0x70], Some(imm), pm, STATUS);
        t.xform("pshufhw", Some(0xf3), &[0x70], Some(imm), pm, STATUS);
    }
    for imm in [0u8, 1, 2, 3] {
        t.xform("shufpd", Some(0x66), &[0xc6], Some(imm), pm, STATUS);
    }
    t.check(
        "stmxcsr",
        vec![0x0f, 0xae, 0x5e, 0x08],
        &|s, r| {
            mem_prep(s, r);
            s.mxcsr = 0x1f80 | (r.below(64) as u32) | ((r.below(4) as u32) << 13);
        },
        STATUS,
    );
    t.check(
        "ldmxcsr",
        vec![0x0f, 0xae, 0x56, 0x08],
        &|s, r| {
            mem_prep(s, r);
            let v = 0x1f80u32 | (r.below(64) as u32) | ((r.below(4) as u32) << 13);
            s.data[0x108..0x10c].copy_from_slice(&v.to_le_bytes());
        },
        STATUS,
    );
    t.finish();
}

#[test]
fn sse2_packed_integer() {
    let mut t = Suite::new();
    let pm = &mem_prep;
    // punpcklqdq/punpckhqdq have no MMX form.
    let xmm_only: &[(&str, u8)] = &[
        ("punpcklqdq", 0x6c),
        ("punpckhqdq", 0x6d),
    ];
    let ops = PACKED_INTEGER_OPS.iter().chain(xmm_only);
    for &(name, op) in ops {
        // Shift counts come from the low quadword: keep them small often.
        let shift = name.starts_with("ps")
            && (name.contains("ll") || name.contains("rl") || name.contains("ra"));
        let prep = move |s: &mut State, r: &mut Rng| {
            mem_prep(s, r);
            if shift && r.below(4) != 0 {
                for x in s.xmm.iter_mut() {
                    *x = (*x & !(u64::MAX as u128)) | r.below(70) as u128;
                }
                let c = r.below(70);
                s.data[0x110..0x118].copy_from_slice(&c.to_le_bytes());
            }
        };
        t.xform(name, Some(0x66), &[op], None, &prep, STATUS);
    }
    for (name, ext, op) in [
        ("psrlw", 2u8, 0x71u8),
        ("psraw", 4, 0x71),
        ("psllw", 6, 0x71),
        ("psrld", 2, 0x72),
        ("psrad", 4, 0x72),
        ("pslld", 6, 0x72),
        ("psrlq", 2, 0x73),
        ("psrldq", 3, 0x73),
        ("psllq", 6, 0x73),
        ("pslldq", 7, 0x73),
    ] {
        for imm in [0u8, 1, 7, 8, 15, 16, 31, 33, 63, 64, 200] {
            t.check(
                &format!("{name} imm"),
                enc(Some(0x66), false, &[op], ext, Rm::Xmm(10), Some(imm)),
                &none,
                STATUS,
            );
        }
    }
    for imm in [0u8, 3, 7, 9] {
        t.check(
            "pextrw",
            enc(Some(0x66), false, &[0xc5], 3, Rm::Xmm(5), Some(imm)),
            &none,
            STATUS,
        );
        t.check(
            "pinsrw r",
            enc(Some(0x66), false, &[0xc4], 3, Rm::Gpr(5), Some(imm)),
            &none,
            STATUS,
        );
        t.check(
            "pinsrw m",
            enc(Some(0x66), false, &[0xc4], 3, Rm::Mem(0x10), Some(imm)),
            pm,
            STATUS,
        );
    }
    t.finish();
}

#[test]
fn sse_floating_point() {
    let mut t = Suite::new();
    let ops: &[(&str, u8)] = &[
        ("sqrt", 0x51),
        ("add", 0x58),
        ("mul", 0x59),
        ("sub", 0x5c),
        ("min", 0x5d),
        ("div", 0x5e),
        ("max", 0x5f),
    ];
    for &(name, op) in ops {
        for (suffix, pfx, double) in [
            ("ss", Some(0xf3u8), false),
            ("sd", Some(0xf2), true),
            ("ps", None, false),
            ("pd", Some(0x66), true),
        ] {
            let prep = fp_prep(double);
            t.xform(&format!("{name}{suffix}"), pfx, &[op], None, &prep, STATUS);
        }
    }
    for pred in 0u8..8 {
        for (suffix, pfx, double) in [
            ("ss", Some(0xf3u8), false),
            ("sd", Some(0xf2), true),
            ("ps", None, false),
            ("pd", Some(0x66), true),
        ] {
            let prep = fp_prep(double);
            t.xform(
                &format!("cmp{suffix} {pred}"),
                pfx,
                &[0xc2],
                Some(pred),
                &prep,
                STATUS,
            );
        }
    }
    for (name, pfx, op, double) in [
        ("ucomiss", None, 0x2eu8, false),
        ("comiss", None, 0x2f, false),
        ("ucomisd", Some(0x66), 0x2e, true),
        ("comisd", Some(0x66), 0x2f, true),
    ] {
        let prep = fp_prep(double);
        t.xform(name, pfx, &[op], None, &prep, STATUS);
    }
    // Conversions.
    for (name, pfx, op, double) in [
        ("cvtsd2ss", Some(0xf2u8), 0x5au8, true),
        ("cvtss2sd", Some(0xf3), 0x5a, false),
        ("cvtps2pd", None, 0x5a, false),
        ("cvtpd2ps", Some(0x66), 0x5a, true),
        ("cvtdq2ps", None, 0x5b, false),
        ("cvtps2dq", Some(0x66), 0x5b, false),
        ("cvttps2dq", Some(0xf3), 0x5b, false),
        ("cvtdq2pd", Some(0xf3), 0xe6, false),
        ("cvtpd2dq", Some(0xf2), 0xe6, true),
        ("cvttpd2dq", Some(0x66), 0xe6, true),
    ] {
        let prep = fp_prep(double);
        t.xform(name, pfx, &[op], None, &prep, STATUS);
    }
    for w in [false, true] {
        let ints = move |s: &mut State, r: &mut Rng| {
            fp_prep(true)(s, r);
            for g in s.gpr.iter_mut() {
                *g = r.interesting();
            }
            s.gpr[6] = DATA + 0x100;
        };
        t.check(
            "cvtsi2sd",
            enc(Some(0xf2), w, &[0x2a], 3, Rm::Gpr(2), None),
            &ints,
            STATUS,
        );
        t.check(
            "cvtsi2ss",
            enc(Some(0xf3), w, &[0x2a], 3, Rm::Gpr(12), None),
            &ints,
            STATUS,
        );
        t.check(
            "cvtsi2sd m",
            enc(Some(0xf2), w, &[0x2a], 3, Rm::Mem(0x10), None),
            &ints,
            STATUS,
        );
        for (name, pfx, op, double) in [
            ("cvttsd2si", Some(0xf2u8), 0x2cu8, true),
            ("cvtsd2si", Some(0xf2), 0x2d, true),
            ("cvttss2si", Some(0xf3), 0x2c, false),
            ("cvtss2si", Some(0xf3), 0x2d, false),
        ] {
            let prep = fp_prep(double);
            t.check(name, enc(pfx, w, &[op], 3, Rm::Xmm(5), None), &prep, STATUS);
            t.check(
                name,
                enc(pfx, w, &[op], 11, Rm::Mem(0x10), None),
                &prep,
                STATUS,
            );
        }
    }
    t.finish();
}

#[test]
fn sse3_and_ssse3() {
    let mut t = Suite::new();
    let pm = &mem_prep;
    for (name, pfx, op, double) in [
        ("addsubps", Some(0xf2u8), 0xd0u8, false),
        ("addsubpd", Some(0x66), 0xd0, true),
        ("haddps", Some(0xf2), 0x7c, false),
        ("haddpd", Some(0x66), 0x7c, true),
        ("hsubps", Some(0xf2), 0x7d, false),
        ("hsubpd", Some(0x66), 0x7d, true),
    ] {
        let prep = fp_prep(double);
        t.xform(name, pfx, &[op], None, &prep, STATUS);
    }
    t.xform("movsldup", Some(0xf3), &[0x12], None, pm, STATUS);
    t.xform("movshdup", Some(0xf3), &[0x16], None, pm, STATUS);
    t.xform("movddup", Some(0xf2), &[0x12], None, pm, STATUS);
    t.check(
        "lddqu",
        enc(Some(0xf2), false, &[0xf0], 3, Rm::Mem(0x13), None),
        pm,
        STATUS,
    );
    for &(name, op) in SSSE3_OPS {
        t.xform(name, Some(0x66), &[0x38, op], None, pm, STATUS);
    }
    for imm in [0u8, 1, 5, 8, 15, 16, 17, 31, 32, 200] {
        t.xform("palignr", Some(0x66), &[0x3a, 0x0f], Some(imm), pm, STATUS);
    }
    t.finish();
}

/// MMX forms run as sequences: load mm0/mm1 from memory, the instruction,
/// store mm0, EMMS (the harness compares memory and registers).
#[test]
fn mmx_forms() {
    let mut t = Suite::new();
    let seq = |mid: &[u8]| -> Vec<u8> {
        let mut v = vec![0x0f, 0x6f, 0x06, 0x0f, 0x6f, 0x4e, 0x08]; // movq mm0,[rsi]; movq mm1,[rsi+8]
        v.extend_from_slice(mid);
        v.extend_from_slice(&[0x0f, 0x7f, 0x46, 0x10, 0x0f, 0x77]); // movq [rsi+0x10],mm0; emms
        v
    };
    let pm = &mem_prep;
    let ops = PACKED_INTEGER_OPS;
    let small_counts = |s: &mut State, r: &mut Rng| {
        mem_prep(s, r);
        if r.below(3) != 0 {
            let c = r.below(70);
            s.data[0x108..0x110].copy_from_slice(&c.to_le_bytes());
        }
    };
    for &(name, op) in ops {
        t.check(
            &format!("mmx {name} reg"),
            seq(&[0x0f, op, 0xc1]),
            &small_counts,
            STATUS,
        );
        t.check(
            &format!("mmx {name} mem"),
            seq(&[0x0f, op, 0x46, 0x08]),
            &small_counts,
            STATUS,
        );
    }
    for &(name, op) in SSSE3_OPS {
        t.check(
            &format!("mmx {name}"),
            seq(&[0x0f, 0x38, op, 0xc1]),
            pm,
            STATUS,
        );
    }
    for imm in [0u8, 3, 8, 9, 15, 16] {
        t.check(
            "mmx palignr",
            seq(&[0x0f, 0x3a, 0x0f, 0xc1, imm]),
            pm,
            STATUS,
        );
    }
    for (name, ext, op) in [
        ("psrlw", 2u8, 0x71u8),
        ("psraw", 4, 0x71),
        ("psllw", 6, 0x71),
        ("psrld", 2, 0x72),
        ("psrad", 4, 0x72),
        ("pslld", 6, 0x72),
        ("psrlq", 2, 0x73),
        ("psllq", 6, 0x73),
    ] {
        for imm in [0u8, 1, 7, 15, 16, 31, 33, 64] {
            t.check(
                &format!("mmx {name} imm"),
                seq(&[0x0f, op, 0xc0 | (ext << 3), imm]),
                pm,
                STATUS,
            );
        }
    }
    for imm in [0x1bu8, 0xe4, 0x00, 0xff] {
        t.check("pshufw", seq(&[0x0f, 0x70, 0xc1, imm]), pm, STATUS);
    }
    t.check("pmovmskb r,mm", seq(&[0x0f, 0xd7, 0xd8]), pm, STATUS);
    t.check("pextrw r,mm", seq(&[0x0f, 0xc5, 0xd8, 0x02]), pm, STATUS);
    t.check("pinsrw mm,r", seq(&[0x0f, 0xc4, 0xc3, 0x01]), pm, STATUS);
    t.check("movd mm,r32", seq(&[0x0f, 0x6e, 0xc3]), pm, STATUS);
    t.check("movq mm,r64", seq(&[0x48, 0x0f, 0x6e, 0xc3]), pm, STATUS);
    t.check("movd r32,mm", seq(&[0x0f, 0x7e, 0xcb]), pm, STATUS);
    t.check("movq r64,mm", seq(&[0x48, 0x0f, 0x7e, 0xcb]), pm, STATUS);
    t.check("movq2dq", seq(&[0xf3, 0x0f, 0xd6, 0xd1]), pm, STATUS);
    t.check("movdq2q", seq(&[0xf2, 0x0f, 0xd6, 0xc2]), pm, STATUS);
    t.check("movntq", seq(&[0x0f, 0xe7, 0x4e, 0x18]), pm, STATUS);
    let fp = fp_prep(false);
    let fpd = fp_prep(true);
    t.check("cvtpi2ps", seq(&[0x0f, 0x2a, 0xc8]), &fp, STATUS);
    t.check("cvtpi2pd", seq(&[0x66, 0x0f, 0x2a, 0xc8]), &fp, STATUS);
    t.check("cvtps2pi", seq(&[0x0f, 0x2d, 0xc1]), &fp, STATUS);
    t.check("cvttps2pi", seq(&[0x0f, 0x2c, 0xc1]), &fp, STATUS);
    t.check("cvtpd2pi", seq(&[0x66, 0x0f, 0x2d, 0xc1]), &fpd, STATUS);
    t.check("cvttpd2pi", seq(&[0x66, 0x0f, 0x2c, 0xc1]), &fpd, STATUS);
    let rdi = |s: &mut State, r: &mut Rng| {
        mem_prep(s, r);
        s.gpr[7] = DATA + 0x180 + r.below(16);
    };
    t.check("maskmovq", seq(&[0x0f, 0xf7, 0xc1]), &rdi, STATUS);
    t.check(
        "maskmovdqu",
        enc(Some(0x66), false, &[0xf7], 1, Rm::Xmm(2), None),
        &rdi,
        STATUS,
    );
    t.finish();
}
