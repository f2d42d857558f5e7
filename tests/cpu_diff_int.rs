//! Differential tests of the general-purpose integer instructions against
//! the host CPU (see tests/cpu_harness). Every form runs `cases()` random
//! inputs from a fixed seed; undefined flags (SDM vol. 2 "Flags Affected")
//! are masked per form and input.

mod cpu_harness;

use cpu_harness::*;

const CF: u64 = 0x1;
const AF: u64 = 0x10;
const ZF: u64 = 0x40;
const OF: u64 = 0x800;

/// Where the r/m operand of a form points.
#[derive(Clone, Copy)]
enum Rm {
    Reg(u8),
    /// [rsi + disp8], RSI set to DATA + 0x100 by `mem_prep`.
    Mem(i8),
}

/// Encode `[pre] [66] [REX] opcode modrm [disp] [imm]`.
fn enc(pre: &[u8], size: u8, opc: &[u8], reg: u8, rm: Rm, imm: &[u8]) -> Vec<u8> {
    let mut v = pre.to_vec();
    if size == 2 {
        v.insert(0, 0x66);
    }
    let mut rex = 0u8;
    if size == 8 {
        rex |= 0x48;
    }
    if reg >= 8 {
        rex |= 0x44;
    }
    let (modrm, disp) = match rm {
        Rm::Reg(r) => {
            if r >= 8 {
                rex |= 0x41;
            }
            // SPL/BPL/SIL/DIL need a REX prefix.
            if size == 1 && ((4..8).contains(&r) && reg >= 16 || r >= 16) {
                rex |= 0x40;
            }
            (0xc0 | ((reg & 7) << 3) | (r & 7), None)
        }
        Rm::Mem(d) => (0x40 | ((reg & 7) << 3) | 6, Some(d as u8)),
    };
    if rex != 0 {
        v.push(rex | 0x40);
    }
    v.extend_from_slice(opc);
    v.push(modrm);
    if let Some(d) = disp {
        v.push(d);
    }
    v.extend_from_slice(imm);
    v
}

fn mem_prep(s: &mut State, _r: &mut Rng) {
    s.gpr[6] = DATA + 0x100;
}

fn imm_for(size: u8, rng: &mut Rng) -> Vec<u8> {
    let v = rng.interesting();
    match size {
        1 => vec![v as u8],
        2 => (v as u16).to_le_bytes().to_vec(),
        _ => (v as u32).to_le_bytes().to_vec(),
    }
}

struct Suite {
    tally: Tally,
}

impl Suite {
    fn new() -> Self {
        Suite {
            tally: Tally::new(),
        }
    }
    fn check(
        &mut self,
        name: String,
        bytes: Vec<u8>,
        prep: &dyn Fn(&mut State, &mut Rng),
        mask: &dyn Fn(&State) -> u64,
    ) {
        self.tally
            .check_bytes(name, bytes, Mode::Long64, prep, mask);
    }
    /// Register and memory variants of an r/m form.
    fn rm_forms(
        &mut self,
        name: &str,
        pre: &[u8],
        sizes: &[u8],
        opc8: Option<&[u8]>,
        opc: &[u8],
        reg: u8,
        imm: Option<u8>,
        prep: &dyn Fn(&mut State, &mut Rng),
        mask: &dyn Fn(&State, u8) -> u64,
    ) {
        for &size in sizes {
            let o = if size == 1 {
                match opc8 {
                    Some(o) => o,
                    None => continue,
                }
            } else {
                opc
            };
            let isz = imm.map(|i| if i == 0 { size.min(4) } else { i });
            let rms: &[(Rm, u8)] = &[(Rm::Reg(2), reg), (Rm::Reg(14), reg), (Rm::Mem(0x10), reg)];
            for &(rm, r) in rms {
                let immb = isz
                    .map(|n| imm_for(n, &mut self.tally.rng))
                    .unwrap_or_default();
                let bytes = enc(pre, size, o, r, rm, &immb);
                let m = |s: &State| mask(s, size);
                let p = |s: &mut State, rng: &mut Rng| {
                    mem_prep(s, rng);
                    prep(s, rng);
                };
                self.check(format!("{name}/{}", size * 8), bytes, &p, &m);
            }
        }
    }
    fn finish(self) {
        self.tally.finish("forms");
    }
}

fn none(_: &mut State, _: &mut Rng) {}
fn all(_: &State, _: u8) -> u64 {
    STATUS
}

#[test]
fn alu_binary_forms() {
    let mut t = Suite::new();
    let names = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
    for (op, name) in names.iter().enumerate() {
        let logic = matches!(op, 1 | 4 | 6);
        let mask = move |_: &State, _: u8| if logic { STATUS & !AF } else { STATUS };
        let b = op as u8 * 8;
        // r/m, reg (reg = rbx or r9)
        for reg in [3u8, 9] {
            t.rm_forms(
                &format!("{name} rm,r{reg}"),
                &[],
                &[1, 2, 4, 8],
                Some(&[b]),
                &[b + 1],
                reg,
                None,
                &none,
                &mask,
            );
            t.rm_forms(
                &format!("{name} r{reg},rm"),
                &[],
                &[1, 2, 4, 8],
                Some(&[b + 2]),
                &[b + 3],
                reg,
                None,
                &none,
                &mask,
            );
        }
        t.rm_forms(
            &format!("{name} rm,imm"),
            &[],
            &[1, 2, 4, 8],
            Some(&[0x80]),
            &[0x81],
            op as u8,
            Some(0),
            &none,
            &mask,
        );
        t.rm_forms(
            &format!("{name} rm,imm8"),
            &[],
            &[2, 4, 8],
            None,
            &[0x83],
            op as u8,
            Some(1),
            &none,
            &mask,
        );
        // accumulator, imm
        for size in [1u8, 2, 4, 8] {
            let mut v = match size {
                2 => vec![0x66, b + 5],
                8 => vec![0x48, b + 5],
                4 => vec![b + 5],
                _ => vec![b + 4],
            };
            v.extend(imm_for(size.min(4), &mut t.tally.rng));
            t.check(format!("{name} acc,imm/{}", size * 8), v, &none, &|_| {
                if logic {
                    STATUS & !AF
                } else {
                    STATUS
                }
            });
        }
    }
    let lmask = |_: &State, _: u8| STATUS & !AF;
    t.rm_forms(
        "test rm,r",
        &[],
        &[1, 2, 4, 8],
        Some(&[0x84]),
        &[0x85],
        3,
        None,
        &none,
        &lmask,
    );
    t.rm_forms(
        "test rm,imm",
        &[],
        &[1, 2, 4, 8],
        Some(&[0xf6]),
        &[0xf7],
        0,
        Some(0),
        &none,
        &lmask,
    );
    t.finish();
}

#[test]
fn alu_unary_mul_div_forms() {
    let mut t = Suite::new();
    let mulmask = |_: &State, _: u8| CF | OF;
    // (name, byte opcode, wider opcode, ModRM.reg extension)
    let unary: [(&str, u8, u8, u8); 6] = [
        ("not", 0xf6, 0xf7, 2),
        ("neg", 0xf6, 0xf7, 3),
        ("inc", 0xfe, 0xff, 0),
        ("dec", 0xfe, 0xff, 1),
        ("mul", 0xf6, 0xf7, 4),
        ("imul1", 0xf6, 0xf7, 5),
    ];
    for (name, opc8, opc, ext) in unary {
        let mask: &dyn Fn(&State, u8) -> u64 = if name.contains("mul") { &mulmask } else { &all };
        t.rm_forms(name, &[], &[1, 2, 4, 8], Some(&[opc8]), &[opc], ext, None, &none, mask);
    }
    for reg in [3u8, 10] {
        t.rm_forms(
            "imul r,rm",
            &[],
            &[2, 4, 8],
            None,
            &[0x0f, 0xaf],
            reg,
            None,
            &none,
            &mulmask,
        );
        t.rm_forms(
            "imul r,rm,imm",
            &[],
            &[2, 4, 8],
            None,
            &[0x69],
            reg,
            Some(0),
            &none,
            &mulmask,
        );
        t.rm_forms(
            "imul r,rm,imm8",
            &[],
            &[2, 4, 8],
            None,
            &[0x6b],
            reg,
            Some(1),
            &none,
            &mulmask,
        );
    }
    // DIV/IDIV: shape the dividend so the quotient fits (no #DE natively).
    for (signed, ext) in [(false, 6u8), (true, 7u8)] {
        for size in [1u8, 2, 4, 8] {
            let bits = size as u32 * 8;
            let m = if size == 8 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            for rm in [Rm::Reg(3), Rm::Reg(13), Rm::Mem(0x18)] {
                let bytes = enc(
                    &[],
                    size,
                    if size == 1 { &[0xf6] } else { &[0xf7] },
                    ext,
                    rm,
                    &[],
                );
                let prep = move |s: &mut State, rng: &mut Rng| {
                    s.gpr[6] = DATA + 0x100;
                    let mut d = rng.interesting() & m;
                    if d == 0 {
                        d = 1 + rng.below(m.min(1000));
                    }
                    match rm {
                        Rm::Reg(r) => s.gpr[r as usize] = (s.gpr[r as usize] & !m) | d,
                        Rm::Mem(o) => {
                            let at = 0x100 + o as usize;
                            s.data[at..at + size as usize]
                                .copy_from_slice(&d.to_le_bytes()[..size as usize]);
                        }
                    }
                    let lo = rng.interesting() & m;
                    let hi = if signed {
                        // Sign-extend lo: the quotient then always fits,
                        // except MIN / -1.
                        let neg = lo >> (bits - 1) & 1 == 1;
                        if neg && d == m && lo == 1u64 << (bits - 1) {
                            0
                        } else if neg {
                            m
                        } else {
                            0
                        }
                    } else {
                        (rng.next() & m) % d
                    };
                    let lo = if signed && hi == 0 && lo >> (bits - 1) & 1 == 1 {
                        lo & (m >> 1)
                    } else {
                        lo
                    };
                    if size == 1 {
                        s.gpr[0] = (s.gpr[0] & !0xffff) | lo | hi << 8;
                    } else {
                        s.gpr[0] = (s.gpr[0] & !m) | lo;
                        s.gpr[2] = (s.gpr[2] & !m) | hi;
                    }
                };
                t.check(
                    format!("{} /{}", if signed { "idiv" } else { "div" }, bits),
                    bytes,
                    &prep,
                    &|_| 0,
                );
            }
        }
    }
    t.finish();
}

/// Defined flags of shifts/rotates for a given count (SDM vol. 2 SAL/SHL, RCL).
fn shift_mask(ext: u8, size: u8, count: u64) -> u64 {
    let bits = size as u64 * 8;
    let c = count & if size == 8 { 63 } else { 31 };
    if c == 0 {
        return STATUS;
    }
    let mut m = match ext {
        0..=3 => STATUS, // rotates leave SF/ZF/AF/PF alone
        _ => STATUS & !AF,
    };
    if c != 1 {
        m &= !OF;
    }
    if (ext == 4 || ext == 5) && c >= bits {
        m &= !CF;
    }
    m
}

#[test]
fn shift_rotate_forms() {
    let mut t = Suite::new();
    let names = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"];
    for ext in [0u8, 1, 2, 3, 4, 5, 7] {
        let name = names[ext as usize];
        for size in [1u8, 2, 4, 8] {
            for rm in [Rm::Reg(2), Rm::Reg(12), Rm::Mem(0x20)] {
                let (o1, oc, oi) = if size == 1 {
                    (0xd0, 0xd2, 0xc0)
                } else {
                    (0xd1, 0xd3, 0xc1)
                };
                t.check(
                    format!("{name} rm,1 /{}", size * 8),
                    enc(&[], size, &[o1], ext, rm, &[]),
                    &mem_prep,
                    &move |_| shift_mask(ext, size, 1),
                );
                t.check(
                    format!("{name} rm,cl /{}", size * 8),
                    enc(&[], size, &[oc], ext, rm, &[]),
                    &|s, r| {
                        mem_prep(s, r);
                        s.gpr[1] = r.below(80);
                    },
                    &move |s| shift_mask(ext, size, s.gpr[1] & 0xff),
                );
                for n in [0u8, 3, 7, 8, 9, 16, 17, 31, 32, 33, 63, 64] {
                    t.check(
                        format!("{name} rm,{n} /{}", size * 8),
                        enc(&[], size, &[oi], ext, rm, &[n]),
                        &mem_prep,
                        &move |_| shift_mask(ext, size, n as u64),
                    );
                }
            }
        }
    }
    // SHLD/SHRD: 16-bit counts above 16 are undefined, so bound them.
    for (name, oi, oc) in [("shld", 0xa4u8, 0xa5u8), ("shrd", 0xac, 0xad)] {
        for size in [2u8, 4, 8] {
            let maxc = if size == 2 { 17 } else { 70 };
            let dmask = move |c: u64| {
                let c = c & if size == 8 { 63 } else { 31 };
                if c == 0 {
                    STATUS
                } else if c == 1 {
                    STATUS & !AF
                } else {
                    STATUS & !AF & !OF
                }
            };
            for rm in [Rm::Reg(2), Rm::Reg(11), Rm::Mem(0x20)] {
                t.check(
                    format!("{name} rm,r,cl /{}", size * 8),
                    enc(&[], size, &[0x0f, oc], 3, rm, &[]),
                    &move |s, r| {
                        mem_prep(s, r);
                        s.gpr[1] = r.below(maxc);
                    },
                    &move |s| dmask(s.gpr[1] & 0xff),
                );
                for n in [1u8, 4, 15, 16, 31, 40, 63] {
                    if size == 2 && n > 16 {
                        continue;
                    }
                    t.check(
                        format!("{name} rm,r,{n} /{}", size * 8),
                        enc(&[], size, &[0x0f, oi], 3, rm, &[n]),
                        &mem_prep,
                        &move |_| dmask(n as u64),
                    );
                }
            }
        }
    }
    t.finish();
}

/// ROL/ROR r, imm keep SF/ZF/PF/AF of the instruction before them, which
/// the emulator may still hold lazily (an ADD's operands, a logic result, a
/// shift's result): each flag writer followed by a rotate, at every width
/// (32/64-bit operands run the width-specialised forms).
#[test]
fn rotate_after_flag_writers() {
    let mut t = Suite::new();
    for size in [1u8, 2, 4, 8] {
        let wide = size != 1;
        // (name, first instruction, flags it leaves undefined)
        let firsts: [(&str, Vec<u8>, u64); 6] = [
            ("add", enc(&[], size, &[if wide { 0x01 } else { 0x00 }], 1, Rm::Reg(2), &[]), 0),
            ("sub", enc(&[], size, &[if wide { 0x29 } else { 0x28 }], 1, Rm::Reg(2), &[]), 0),
            ("xor", enc(&[], size, &[if wide { 0x31 } else { 0x30 }], 1, Rm::Reg(2), &[]), AF),
            ("and", enc(&[], size, &[if wide { 0x21 } else { 0x20 }], 1, Rm::Reg(2), &[]), AF),
            ("inc", enc(&[], size, &[if wide { 0xff } else { 0xfe }], 0, Rm::Reg(2), &[]), 0),
            ("shl 5", enc(&[], size, &[if wide { 0xc1 } else { 0xc0 }], 4, Rm::Reg(2), &[5]), AF | OF),
        ];
        for (first, bytes, undef) in firsts {
            for (ext, rot) in [(0u8, "rol"), (1, "ror")] {
                for n in [0u8, 1, 3, 17, 32] {
                    let mut b = bytes.clone();
                    b.extend(enc(&[], size, &[if wide { 0xc1 } else { 0xc0 }], ext, Rm::Reg(2), &[n]));
                    t.check(
                        format!("{first}; {rot} r,{n} /{}", size * 8),
                        b,
                        &none,
                        &move |_| shift_mask(ext, size, n as u64) & !undef,
                    );
                }
            }
        }
    }
    t.finish();
}

#[test]
fn bit_forms() {
    let mut t = Suite::new();
    for (k, name) in ["bt", "bts", "btr", "btc"].iter().enumerate() {
        let opc = [0x0f, 0xa3 + 8 * k as u8];
        for size in [2u8, 4, 8] {
            for rm in [Rm::Reg(2), Rm::Reg(9), Rm::Mem(0x40)] {
                t.check(
                    format!("{name} rm,r /{}", size * 8),
                    enc(&[], size, &opc, 3, rm, &[]),
                    &move |s, r| {
                        mem_prep(s, r);
                        // Bit offsets reach +-0x80 bytes around the operand.
                        s.gpr[3] = (r.below(2048) as i64 - 1024) as u64;
                    },
                    &|_| CF,
                );
                for n in [0u8, 5, 15, 31, 45, 63, 200] {
                    t.check(
                        format!("{name} rm,{n} /{}", size * 8),
                        enc(&[], size, &[0x0f, 0xba], 4 + k as u8, rm, &[n]),
                        &mem_prep,
                        &|_| CF,
                    );
                }
            }
        }
    }
    for reg in [3u8, 12] {
        let zf = |_: &State, _: u8| ZF;
        let cf_zf = |_: &State, _: u8| CF | ZF;
        // (name, mandatory prefix, second opcode byte, flags defined)
        let scans: [(&str, &[u8], u8, &dyn Fn(&State, u8) -> u64); 4] = [
            ("bsf", &[], 0xbc, &zf),
            ("bsr", &[], 0xbd, &zf),
            ("lzcnt", &[0xf3], 0xbd, &cf_zf),
            ("popcnt", &[0xf3], 0xb8, &all),
        ];
        for (name, pre, op, mask) in scans {
            t.rm_forms(name, pre, &[2, 4, 8], None, &[0x0f, op], reg, None, &none, mask);
        }
    }
    for r in [0u8, 3, 9, 15] {
        for size in [4u8, 8] {
            let mut v = Vec::new();
            let rex = if size == 8 { 0x48 } else { 0 } | if r >= 8 { 0x41 } else { 0 };
            if rex != 0 {
                v.push(rex | 0x40);
            }
            v.extend_from_slice(&[0x0f, 0xc8 + (r & 7)]);
            t.check(format!("bswap r{r}/{}", size * 8), v, &none, &|_| STATUS);
        }
    }
    t.finish();
}

#[test]
fn data_movement_forms() {
    let mut t = Suite::new();
    for reg in [3u8, 8] {
        // (name, operand sizes, byte-form opcode, wider opcode)
        let moves: [(&str, &[u8], Option<&[u8]>, &[u8]); 8] = [
            ("mov rm,r", &[1, 2, 4, 8], Some(&[0x88]), &[0x89]),
            ("mov r,rm", &[1, 2, 4, 8], Some(&[0x8a]), &[0x8b]),
            ("xchg rm,r", &[1, 2, 4, 8], Some(&[0x86]), &[0x87]),
            ("movzx b", &[2, 4, 8], None, &[0x0f, 0xb6]),
            ("movzx w", &[4, 8], None, &[0x0f, 0xb7]),
            ("movsx b", &[2, 4, 8], None, &[0x0f, 0xbe]),
            ("movsx w", &[4, 8], None, &[0x0f, 0xbf]),
            ("movsxd", &[8], None, &[0x63]),
        ];
        for (name, sizes, opc8, opc) in moves {
            t.rm_forms(name, &[], sizes, opc8, opc, reg, None, &none, &all);
        }
        t.rm_forms(
            "cmpxchg",
            &[],
            &[1, 2, 4, 8],
            Some(&[0x0f, 0xb0]),
            &[0x0f, 0xb1],
            reg,
            None,
            &|s: &mut State, r: &mut Rng| {
                if r.below(2) == 0 {
                    s.gpr[0] = s.gpr[2];
                }
            },
            &all,
        );
        t.rm_forms(
            "xadd",
            &[],
            &[1, 2, 4, 8],
            Some(&[0x0f, 0xc0]),
            &[0x0f, 0xc1],
            reg,
            None,
            &none,
            &all,
        );
    }
    t.rm_forms(
        "mov rm,imm",
        &[],
        &[1, 2, 4, 8],
        Some(&[0xc6]),
        &[0xc7],
        0,
        Some(0),
        &none,
        &all,
    );
    // 8-bit high registers and REX byte registers.
    t.check("mov ah,bh".into(), vec![0x88, 0xfc], &none, &|_| STATUS);
    t.check("mov sil,dil".into(), vec![0x40, 0x88, 0xfe], &none, &|_| {
        STATUS
    });
    t.check("add ch,dl".into(), vec![0x00, 0xd5], &none, &|_| STATUS);
    t.check(
        "movzx eax,bh".into(),
        vec![0x0f, 0xb6, 0xc7],
        &none,
        &|_| STATUS,
    );
    for r in [0u8, 5, 9, 15] {
        let rex = 0x48 | if r >= 8 { 1 } else { 0 };
        let mut v = vec![rex, 0xb8 + (r & 7)];
        v.extend_from_slice(&0x1234_5678_9abc_def0u64.to_le_bytes());
        t.check(format!("mov r{r},imm64"), v, &none, &|_| STATUS);
        let mut v = if r >= 8 { vec![0x41] } else { vec![] };
        v.extend_from_slice(&[0x90 + (r & 7)]);
        if r != 0 {
            t.check(format!("xchg eax,r{r}"), v.clone(), &none, &|_| STATUS);
        }
    }
    // CMOVcc / SETcc for all 16 conditions.
    for cc in 0u8..16 {
        t.rm_forms(
            &format!("cmov{cc:x}"),
            &[],
            &[2, 4, 8],
            None,
            &[0x0f, 0x40 + cc],
            3,
            None,
            &none,
            &all,
        );
        t.rm_forms(
            &format!("set{cc:x}"),
            &[],
            &[1],
            Some(&[0x0f, 0x90 + cc]),
            &[],
            0,
            None,
            &none,
            &all,
        );
    }
    // CMPXCHG8B/16B at [rsi+0x10] (16-byte aligned).
    for (name, size) in [("cmpxchg8b", 4u8), ("cmpxchg16b", 8u8)] {
        t.check(
            name.into(),
            enc(&[], size, &[0x0f, 0xc7], 1, Rm::Mem(0x10), &[]),
            &move |s, r| {
                mem_prep(s, r);
                if r.below(2) == 0 {
                    let lo = u64::from_le_bytes(s.data[0x110..0x118].try_into().unwrap());
                    let hi = u64::from_le_bytes(s.data[0x118..0x120].try_into().unwrap());
                    if size == 4 {
                        s.gpr[0] = lo & 0xffff_ffff;
                        s.gpr[2] = lo >> 32;
                    } else {
                        s.gpr[0] = lo;
                        s.gpr[2] = hi;
                    }
                }
            },
            &|_| STATUS,
        );
    }
    // LEA with every addressing shape, including RIP-relative and addr32.
    let lea = [
        vec![0x48, 0x8d, 0x44, 0x8b, 0x7f], // lea rax,[rbx+rcx*4+0x7f]
        vec![0x48, 0x8d, 0x84, 0xcb, 0x00, 0x00, 0x00, 0x80], // [rbx+rcx*8-0x80000000]
        vec![0x4a, 0x8d, 0x04, 0x2d, 0x10, 0x00, 0x00, 0x00], // lea rax,[r13*1+0x10]
        vec![0x8d, 0x04, 0x13],             // lea eax,[rbx+rdx]
        vec![0x67, 0x48, 0x8d, 0x04, 0x13], // lea rax,[ebx+edx]
        vec![0x66, 0x8d, 0x44, 0x13, 0xf0], // lea ax,[rbx+rdx-0x10]
        vec![0x48, 0x8d, 0x05, 0x10, 0x20, 0x00, 0x00], // lea rax,[rip+0x2010]
        vec![0x4d, 0x8d, 0x64, 0x24, 0x08], // lea r12,[r12+8]
        vec![0x49, 0x8d, 0x45, 0x00],       // lea rax,[r13+0]
    ];
    for (k, b) in lea.into_iter().enumerate() {
        t.check(format!("lea #{k}"), b, &none, &|_| STATUS);
    }
    for (name, b) in [
        ("cbw", vec![0x66, 0x98]),
        ("cwde", vec![0x98]),
        ("cdqe", vec![0x48, 0x98]),
        ("cwd", vec![0x66, 0x99]),
        ("cdq", vec![0x99]),
        ("cqo", vec![0x48, 0x99]),
        ("lahf", vec![0x9f]),
        ("sahf", vec![0x9e]),
        ("clc", vec![0xf8]),
        ("stc", vec![0xf9]),
        ("cmc", vec![0xf5]),
        ("nop5", vec![0x0f, 0x1f, 0x44, 0x00, 0x00]),
        ("xlat", vec![0xd7]),
    ] {
        t.check(name.into(), b, &|s, _| s.gpr[3] = DATA + 0x100, &|_| STATUS);
    }
    t.check(
        "cld".into(),
        vec![0xfc],
        &|s, r| s.rflags |= r.below(2) * DF,
        &|_| STATUS | DF,
    );
    t.check(
        "std".into(),
        vec![0xfd],
        &|s, r| s.rflags |= r.below(2) * DF,
        &|_| STATUS | DF,
    );
    t.finish();
}

#[test]
fn rip_relative_forms() {
    // Encoded per harness layout: the displacement is computed from the
    // instruction's address, known once the snippet is built.
    let mut t = Suite::new();
    let probe = Harness::new(&Form {
        name: "probe".into(),
        bytes: vec![0x48, 0x8b, 0x05, 0, 0, 0, 0],
    });
    let end = probe.insn_end();
    drop(probe);
    let disp = (DATA + 0x40) as i64 - end as i64;
    let mut b = vec![0x48, 0x8b, 0x05];
    b.extend_from_slice(&(disp as i32).to_le_bytes());
    t.check("mov rax,[rip+d]".into(), b, &none, &|_| STATUS);
    let mut b = vec![0x48, 0x01, 0x1d];
    b.extend_from_slice(&(disp as i32).to_le_bytes());
    t.check("add [rip+d],rbx".into(), b, &none, &|_| STATUS);
    t.finish();
}

#[test]
fn stack_forms() {
    let mut t = Suite::new();
    for r in [0u8, 3, 4, 5, 12] {
        let p = if r >= 8 { vec![0x41] } else { vec![] };
        let mut push = p.clone();
        push.push(0x50 + (r & 7));
        t.check(format!("push r{r}"), push, &none, &|_| STATUS);
        let mut pop = p.clone();
        pop.push(0x58 + (r & 7));
        t.check(format!("pop r{r}"), pop, &none, &|_| STATUS);
    }
    t.check("push word bx".into(), vec![0x66, 0x53], &none, &|_| STATUS);
    t.check("push imm8".into(), vec![0x6a, 0x80], &none, &|_| STATUS);
    t.check(
        "push imm32".into(),
        vec![0x68, 0x78, 0x56, 0x34, 0x92],
        &none,
        &|_| STATUS,
    );
    t.check(
        "push [rsi+8]".into(),
        vec![0xff, 0x76, 0x08],
        &mem_prep,
        &|_| STATUS,
    );
    t.check(
        "pop [rsi+8]".into(),
        vec![0x8f, 0x46, 0x08],
        &mem_prep,
        &|_| STATUS,
    );
    t.check(
        "pop [rsp+8]".into(),
        vec![0x8f, 0x44, 0x24, 0x08],
        &none,
        &|_| STATUS,
    );
    t.check("pushfq".into(), vec![0x9c], &none, &|_| STATUS);
    t.check(
        "popfq".into(),
        vec![0x9d],
        &|s, r| {
            let v = (r.next() & (STATUS | DF)) | 0x202;
            s.stack[0x100..0x108].copy_from_slice(&v.to_le_bytes());
        },
        &|_| STATUS | DF,
    );
    t.check(
        "leave".into(),
        vec![0xc9],
        &|s, r| s.gpr[5] = STACK_TOP + 8 * r.below(16),
        &|_| STATUS,
    );
    for level in [0u8, 1, 3] {
        t.check(
            format!("enter 0x20,{level}"),
            vec![0xc8, 0x20, 0x00, level],
            &|s, r| s.gpr[5] = STACK_TOP + 8 * r.below(16),
            &|_| STATUS,
        );
    }
    t.finish();
}

#[test]
fn string_forms() {
    let mut t = Suite::new();
    let ops = [
        ("movs", 0xa4u8),
        ("cmps", 0xa6),
        ("stos", 0xaa),
        ("lods", 0xac),
        ("scas", 0xae),
    ];
    for (name, op) in ops {
        for size in [1u8, 2, 4, 8] {
            for rep in [None, Some(0xf3u8), Some(0xf2)] {
                if rep == Some(0xf2) && !(op == 0xa6 || op == 0xae) {
                    continue;
                }
                let mut b = Vec::new();
                if let Some(p) = rep {
                    b.push(p);
                }
                match size {
                    2 => b.insert(0, 0x66),
                    8 => b.push(0x48),
                    _ => {}
                }
                b.push(if size == 1 { op } else { op + 1 });
                t.check(
                    format!(
                        "{}{name}/{}",
                        rep.map(|p| if p == 0xf3 { "rep " } else { "repne " })
                            .unwrap_or(""),
                        size * 8
                    ),
                    b,
                    &|s, r| {
                        s.gpr[6] = DATA + 0x180;
                        s.gpr[7] = DATA + 0x300;
                        s.gpr[1] = r.below(17);
                        s.rflags |= r.below(2) * DF;
                        // Make runs of equal data so REPE/REPNE stop at
                        // different places.
                        if r.below(2) == 0 {
                            for i in 0..0x80 {
                                s.data[0x300 - 0x80 + i] = s.data[0x180 - 0x80 + i];
                                s.data[0x300 + i] = s.data[0x180 + i];
                            }
                            s.gpr[0] = u64::from_le_bytes(s.data[0x300..0x308].try_into().unwrap());
                        }
                    },
                    &|_| STATUS | DF,
                );
            }
        }
    }
    t.finish();
}
