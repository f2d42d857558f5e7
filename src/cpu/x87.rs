//! x87 floating point (Intel SDM vol. 1 ch. 8). Registers hold the exact
//! 80-bit format. FADD/FSUB/FMUL/FDIV (all forms), FSQRT, the compares,
//! FCHS/FABS and FST m32/m64 work on those 80 bits (f80.rs): one rounding
//! to the precision control's width (24, 53 or 64 bits) with the control
//! word's rounding mode; FRNDINT and the integer stores round the 80 bits
//! to an integer directly, FSCALE scales them, FPREM/FPREM1/FXTRACT are
//! exact on them; the transcendentals are computed in double-double
//! arithmetic and rounded once to 64 bits (f80_math.rs).

use iced_x86::Mnemonic as M;

use super::bus::Bus;
use super::decode::{Insn, Kind};
use super::exception::{Event, Res, MF};
use super::f80;
use super::f80_math;
use super::flags::{CF, PF, ZF};
use super::fpu::{f64_to_f80, f80_to_f64};
use super::sse::softfloat as sf;
use super::state::{Cpu, CR0_EM, CR0_NE, CR0_TS, RAX};

const C0: u16 = 1 << 8;
const C1: u16 = 1 << 9;
const C2: u16 = 1 << 10;
const C3: u16 = 1 << 14;
const IE: u16 = 1;
const PE: u16 = 1 << 5;
const SF: u16 = 1 << 6;

impl Cpu {
    fn st_raw(&self, i: u8) -> [u8; 10] {
        self.fpu.regs[(self.fpu.top as usize + i as usize) & 7]
    }
    fn set_st_raw(&mut self, i: u8, v: [u8; 10]) {
        let p = (self.fpu.top as usize + i as usize) & 7;
        self.fpu.regs[p] = v;
        self.fpu.tag |= 1 << p;
    }
    fn st_valid(&self, i: u8) -> bool {
        self.fpu.tag & (1 << ((self.fpu.top as usize + i as usize) & 7)) != 0
    }
    fn push_raw(&mut self, raw: [u8; 10]) {
        self.fpu.top = self.fpu.top.wrapping_sub(1) & 7;
        let p = self.fpu.top as usize;
        let overflow = self.fpu.tag & (1 << p) != 0;
        self.fpu.sw &= !C1;
        if overflow {
            // Stack overflow: invalid operation, C1 = 1 (SDM vol. 1
            // §8.5.1.1); masked, the pushed value is the real indefinite.
            self.fpu.sw |= IE | SF | C1;
        }
        self.fpu.regs[p] = if overflow { f80::INDEFINITE } else { raw };
        self.fpu.tag |= 1 << p;
    }
    fn fpush(&mut self, v: f64) {
        self.push_raw(f64_to_f80(v));
    }
    fn fpop(&mut self) {
        self.fpu.tag &= !(1 << self.fpu.top);
        self.fpu.top = (self.fpu.top + 1) & 7;
    }

    /// ST(i) as an operand: an empty register is a stack underflow (IE,
    /// SF, C1 = 0) and reads as the real indefinite, which then yields the
    /// masked response (an indefinite result, "unordered" compares).
    fn st_operand(&mut self, i: u8) -> [u8; 10] {
        if self.x87_underflow(&[i]) {
            f80::INDEFINITE
        } else {
            self.st_raw(i)
        }
    }

    /// Stack underflow check for the registers an instruction reads: an
    /// empty one is an invalid operation with SF, C1 = 0 (SDM vol. 1
    /// §8.5.1.1). Returns whether it happened.
    fn x87_underflow(&mut self, regs: &[u8]) -> bool {
        if regs.iter().all(|&r| self.st_valid(r)) {
            return false;
        }
        self.fpu.sw = (self.fpu.sw | IE | SF) & !C1;
        true
    }

    /// For the instructions that replace ST0 and push a second result
    /// (FXTRACT, FPTAN, FSINCOS): with ST7 in use the push would overflow,
    /// so nothing is computed: IE, SF, C1 and, masked, the real indefinite
    /// in both ST0 and the new top. Returns whether it happened.
    fn x87_push_overflow(&mut self) -> bool {
        if !self.st_valid(7) {
            return false;
        }
        self.fpu.sw |= IE | SF | C1;
        if self.fpu.cw & IE != 0 {
            self.set_st_raw(0, f80::INDEFINITE);
            self.fpu.top = self.fpu.top.wrapping_sub(1) & 7;
            self.set_st_raw(0, f80::INDEFINITE);
        }
        true
    }

    /// The masked response to an invalid operation: the destination gets
    /// the real indefinite; unmasked, it is left alone (#MF follows).
    fn x87_masked_indefinite(&mut self, dst: u8) {
        if self.fpu.cw & IE != 0 {
            self.set_st_raw(dst, f80::INDEFINITE);
        }
    }

    /// Did `flags` raise an exception the control word leaves unmasked
    /// among those that suppress the result (invalid, zero divide,
    /// denormal)? Then the destination is not written.
    fn x87_unmasked(&self, flags: u16) -> bool {
        flags & (IE | 2 | 4) & !self.fpu.cw != 0
    }

    /// Load an m32/m64/m80 real; denormal sources report DE and signalling
    /// NaNs IE (quieted), as the conversion to extended format does.
    fn x87_mem_f<B: Bus>(&mut self, bus: &mut B, i: &Insn, n: usize) -> Res<f64> {
        let a = self.ea(i);
        let (v, denormal, snan) = match i.ops[n].size {
            4 => {
                let f = f32::from_bits(self.read_mem(bus, a, 4)? as u32);
                (
                    f as f64,
                    f.is_subnormal(),
                    f.is_nan() && f.to_bits() & (1 << 22) == 0,
                )
            }
            8 => {
                let f = f64::from_bits(self.read_mem(bus, a, 8)?);
                (
                    f,
                    f.is_subnormal(),
                    f.is_nan() && f.to_bits() & (1 << 51) == 0,
                )
            }
            _ => return Ok(f80_to_f64(self.read_m80(bus, a)?)),
        };
        if denormal {
            self.fpu.sw |= 2;
        }
        if snan {
            self.fpu.sw |= IE;
            return Ok(f64::from_bits(v.to_bits() | (1 << 51)));
        }
        Ok(v)
    }

    /// An m32/m64 real operand of arithmetic or a compare, exactly in
    /// register format with a signalling NaN kept signalling (the operation
    /// decides which NaN wins and raises IE); DE if it is denormal.
    fn x87_mem_real<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res<([u8; 10], u16)> {
        let a = self.ea(i);
        let (bits, denormal) = if i.ops[0].size == 4 {
            let raw = self.read_mem(bus, a, 4)? as u32;
            let f = f32::from_bits(raw);
            let bits = if f.is_nan() {
                // Widened by hand: a conversion through f64 would quiet it.
                (raw as u64 >> 31) << 63 | 0x7ff << 52 | (raw as u64 & 0x7f_ffff) << 29
            } else {
                (f as f64).to_bits()
            };
            (bits, f.is_subnormal())
        } else {
            let bits = self.read_mem(bus, a, 8)?;
            (bits, f64::from_bits(bits).is_subnormal())
        };
        Ok((
            f64_to_f80(f64::from_bits(bits)),
            if denormal { f80::DE } else { 0 },
        ))
    }

    fn x87_mem_i<B: Bus>(&mut self, bus: &mut B, i: &Insn, n: usize) -> Res<f64> {
        let a = self.ea(i);
        let s = i.ops[n].size;
        let v = self.read_mem(bus, a, s.min(8))?;
        Ok(match s {
            2 => v as u16 as i16 as f64,
            4 => v as u32 as i32 as f64,
            _ => v as i64 as f64,
        })
    }

    pub(super) fn read_m80<B: Bus>(&mut self, bus: &mut B, a: u64) -> Res<[u8; 10]> {
        let lo = self.read_mem(bus, a, 8)?;
        let hi = self.read_mem(bus, a.wrapping_add(8), 2)? as u16;
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&lo.to_le_bytes());
        b[8..].copy_from_slice(&hi.to_le_bytes());
        Ok(b)
    }

    pub(super) fn write_m80<B: Bus>(&mut self, bus: &mut B, a: u64, b: [u8; 10]) -> Res {
        self.translate(bus, a.wrapping_add(9), super::mmu::Access::Write)?;
        self.write_mem(bus, a, 8, u64::from_le_bytes(b[..8].try_into().unwrap()))?;
        self.write_mem(
            bus,
            a.wrapping_add(8),
            2,
            u16::from_le_bytes([b[8], b[9]]) as u64,
        )
    }

    /// Store ST0 as an integer of `size` bytes (FIST/FISTP/FISTTP).
    fn x87_store_int<B: Bus>(&mut self, bus: &mut B, i: &Insn, truncate: bool) -> Res {
        // Rounded from all 80 bits (not through f64, which would round
        // twice).
        let rc = if truncate {
            sf::Round::Zero
        } else {
            self.x87_rc()
        };
        let size = i.ops[0].size;
        let bits = size as u32 * 8;
        let lim = 1u128 << (bits - 1);
        let v = self.st_operand(0);
        let out = match f80::round_int(v, rc) {
            Some((neg, mag, flags)) if mag < lim || (neg && mag == lim) => {
                self.fpu.sw = (self.fpu.sw & !C1) | flags;
                if neg {
                    (mag as u64).wrapping_neg()
                } else {
                    mag as u64
                }
            }
            // NaN, infinity or out of range: the integer indefinite.
            _ => {
                self.fpu.sw = (self.fpu.sw & !C1) | IE;
                1u64 << (bits - 1)
            }
        };
        let a = self.ea(i);
        self.write_mem(bus, a, size.min(8), out)
    }

    /// Compare two register-format values (all 64 significand bits).
    fn x87_compare(
        &mut self,
        a: [u8; 10],
        b: [u8; 10],
        to_eflags: bool,
        unordered_ok: bool,
        load: u16,
    ) {
        use std::cmp::Ordering;
        let order = f80::compare(a, b);
        let mut flags = f80::compare_flags(a, b, unordered_ok) | load;
        if order.is_none() || flags & IE != 0 {
            flags &= !f80::DE;
        }
        self.fpu.sw |= flags;
        let (c3, c2, c0) = match order {
            None => (true, true, true),
            Some(Ordering::Less) => (false, false, true),
            Some(Ordering::Equal) => (true, false, false),
            Some(Ordering::Greater) => (false, false, false),
        };
        if to_eflags {
            self.fpu.sw &= !C1;
            let f = (self.cc.get()
                & !(ZF | PF | CF | super::flags::OF | super::flags::SF | super::flags::AF))
                | if c3 { ZF } else { 0 }
                | if c2 { PF } else { 0 }
                | if c0 { CF } else { 0 };
            self.cc.set_all(f);
        } else {
            self.fpu.sw = (self.fpu.sw & !(C0 | C1 | C2 | C3))
                | if c3 { C3 } else { 0 }
                | if c2 { C2 } else { 0 }
                | if c0 { C0 } else { 0 };
        }
    }

    /// FXAM class codes (SDM vol. 1 table 8-? "FXAM results").
    fn fxam(&mut self) {
        let p = self.fpu.top as usize;
        let raw = self.fpu.regs[p];
        let sign = raw[9] & 0x80 != 0;
        let exp = u16::from_le_bytes([raw[8], raw[9]]) & 0x7fff;
        let mant = u64::from_le_bytes(raw[..8].try_into().unwrap());
        let (c3, c2, c0) = if self.fpu.tag & (1 << p) == 0 {
            (true, false, true) // empty
        } else if exp == 0x7fff {
            if mant << 1 == 0 {
                (false, true, true) // infinity
            } else {
                (false, false, true) // NaN
            }
        } else if exp == 0 {
            if mant == 0 {
                (true, false, false) // zero
            } else {
                (true, true, false) // denormal
            }
        } else {
            (false, true, false) // normal
        };
        self.fpu.sw = (self.fpu.sw & !(C0 | C1 | C2 | C3))
            | if c3 { C3 } else { 0 }
            | if c2 { C2 } else { 0 }
            | if c0 { C0 } else { 0 }
            | if sign { C1 } else { 0 };
    }

    /// The control word's rounding control (RC encodings match MXCSR's:
    /// 00 nearest, 01 down, 10 up, 11 toward zero).
    fn x87_rc(&self) -> sf::Round {
        sf::Round::from_rc((self.fpu.cw >> 10) as u32)
    }

    /// FADD..FDIVR on 80-bit operands: one rounding of the exact result to
    /// the precision control's width (f80.rs), exception bits into SW.
    fn x87_binop(&mut self, m: M, a: [u8; 10], b: [u8; 10], load: u16) -> [u8; 10] {
        use f80::Op;
        let (op, x, y) = match m {
            M::Fadd | M::Faddp | M::Fiadd => (Op::Add, a, b),
            M::Fsub | M::Fsubp | M::Fisub => (Op::Sub, a, b),
            M::Fsubr | M::Fsubrp | M::Fisubr => (Op::Sub, b, a),
            M::Fmul | M::Fmulp | M::Fimul => (Op::Mul, a, b),
            M::Fdiv | M::Fdivp | M::Fidiv => (Op::Div, a, b),
            _ => (Op::Div, b, a),
        };
        let (r, flags) = f80::arith(op, x, y, f80::precision(self.fpu.cw), self.x87_rc());
        self.fpu.sw = (self.fpu.sw & !C1) | without_lone_denormal(flags | load, r);
        r
    }

    /// Execute an x87 instruction; `None` if `i` is not one.
    pub(crate) fn x87<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Option<Res> {
        if !is_x87(i.mnem) {
            return None;
        }
        if self.cr0 & CR0_EM != 0 {
            return Some(Err(Event::nm()));
        }
        // WAIT faults on TS only when MP is set (SDM vol. 3 §2.5 table 2-2).
        let ts = self.cr0 & CR0_TS != 0;
        if ts && (i.mnem != M::Wait || self.cr0 & super::state::CR0_MP != 0) {
            return Some(Err(Event::nm()));
        }
        // A pending unmasked exception is delivered at the next waiting
        // x87 instruction (#MF with CR0.NE).
        let pending = self.fpu.sw & !self.fpu.cw & 0x3f != 0;
        if pending
            && !matches!(
                i.mnem,
                M::Fninit
                    | M::Fnclex
                    | M::Fnstsw
                    | M::Fnstcw
                    | M::Fnstenv
                    | M::Fnsave
                    | M::Fldcw
                    | M::Fldenv
                    | M::Frstor
            )
        {
            if self.cr0 & CR0_NE != 0 {
                return Some(Err(Event::Fault {
                    vector: MF,
                    error: None,
                }));
            }
        }
        Some(self.x87_exec(bus, i))
    }

    fn x87_exec<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let st_op = |n: usize| i.ops[n].reg;
        match i.mnem {
            M::Wait | M::Fnop => {}
            M::Fninit => {
                self.fpu = super::fpu::Fpu::default();
            }
            M::Fnclex => self.fpu.sw &= !0x80ff,
            M::Fnstcw => {
                let a = self.ea(i);
                self.write_mem(bus, a, 2, self.fpu.cw as u64)?;
            }
            M::Fldcw => {
                let a = self.ea(i);
                self.fpu.cw = self.read_mem(bus, a, 2)? as u16 | 0x40;
            }
            M::Fnstsw => {
                let s = self.fpu.status() as u64;
                if i.ops[0].kind == Kind::Gpr {
                    self.gpr_set(RAX as u8, 2, s);
                } else {
                    let a = self.ea(i);
                    self.write_mem(bus, a, 2, s)?;
                }
            }
            M::Fnstenv | M::Fldenv | M::Fnsave | M::Frstor => return self.x87_env(bus, i),
            M::Fld => {
                if i.ops[0].kind == Kind::St {
                    let raw = self.st_operand(st_op(0));
                    self.push_raw(raw);
                } else if i.ops[0].size == 10 {
                    let a = self.ea(i);
                    let raw = self.read_m80(bus, a)?;
                    self.push_raw(raw);
                } else {
                    let v = self.x87_mem_f(bus, i, 0)?;
                    self.fpush(v);
                }
            }
            M::Fild => {
                // Exact: a 64-bit integer fits the 64-bit significand
                // (through f64 one above 2^53 would be rounded).
                let a = self.ea(i);
                let s = i.ops[0].size;
                let raw = self.read_mem(bus, a, s.min(8))?;
                let v = match s {
                    2 => raw as u16 as i16 as i64,
                    4 => raw as u32 as i32 as i64,
                    _ => raw as i64,
                };
                self.push_raw(f80::from_int(v < 0, v.unsigned_abs() as u128));
            }
            M::Fld1 => self.fpush(1.0),
            M::Fldz => self.fpush(0.0),
            // The constants at full precision (SDM vol. 1 §8.3.8): the
            // 64-bit significand below the exact value, rounded up when RC
            // says so (to nearest: when the rest exceeds one half). No
            // exception: hardware reports none for these loads.
            M::Fldpi | M::Fldl2e | M::Fldl2t | M::Fldlg2 | M::Fldln2 => {
                let (exp, below, rest_above_half) = match i.mnem {
                    M::Fldpi => (1, 0xc90f_daa2_2168_c234u64, true),
                    M::Fldl2e => (0, 0xb8aa_3b29_5c17_f0bb, true),
                    M::Fldl2t => (1, 0xd49a_784b_cd1b_8afe, false),
                    M::Fldlg2 => (-2, 0x9a20_9a84_fbcf_f798, true),
                    _ => (-1, 0xb172_17f7_d1cf_79ab, true),
                };
                let up = match self.x87_rc() {
                    sf::Round::Nearest => rest_above_half,
                    sf::Round::Up => true,
                    sf::Round::Down | sf::Round::Zero => false,
                };
                let mut raw = [0u8; 10];
                raw[..8].copy_from_slice(&(below + up as u64).to_le_bytes());
                raw[8..].copy_from_slice(&((16383 + exp) as u16).to_le_bytes());
                self.push_raw(raw);
            }
            M::Fst | M::Fstp => {
                // C1: rounded up (m32/m64 stores), else cleared.
                self.fpu.sw &= !C1;
                if self.x87_underflow(&[0]) {
                    // Masked: the real indefinite is stored; unmasked,
                    // nothing (and #MF at the next x87 instruction).
                    if self.fpu.cw & IE == 0 {
                        return Ok(());
                    }
                    self.fpu.regs[self.fpu.top as usize] = f80::INDEFINITE;
                }
                if i.ops[0].kind == Kind::St {
                    let raw = self.fpu.regs[self.fpu.top as usize];
                    let p = (self.fpu.top as usize + st_op(0) as usize) & 7;
                    self.fpu.regs[p] = raw;
                    self.fpu.tag |= 1 << p;
                } else {
                    let a = self.ea(i);
                    match i.ops[0].size {
                        4 | 8 => {
                            // One rounding from the register's 80 bits
                            // with RC (not through f64 first).
                            let (frac, exp) = if i.ops[0].size == 4 {
                                (23, 8)
                            } else {
                                (52, 11)
                            };
                            let (bits, flags) =
                                f80::to_ieee(self.st_raw(0), frac, exp, self.x87_rc());
                            self.write_mem(bus, a, i.ops[0].size, bits)?;
                            self.fpu.sw = (self.fpu.sw & !C1) | flags;
                        }
                        _ => {
                            let raw = self.fpu.regs[self.fpu.top as usize];
                            self.write_m80(bus, a, raw)?;
                        }
                    }
                }
                if i.mnem == M::Fstp {
                    self.fpop();
                }
            }
            M::Fist | M::Fistp => {
                self.x87_store_int(bus, i, false)?;
                if i.mnem == M::Fistp {
                    self.fpop();
                }
            }
            M::Fisttp => {
                self.x87_store_int(bus, i, true)?;
                self.fpop();
            }
            M::Fxch => {
                self.fpu.sw &= !C1;
                let k = if i.nops == 2 { st_op(1) } else { st_op(0) };
                // Empty registers take part as the real indefinite.
                for r in [0, k] {
                    let v = self.st_operand(r);
                    self.set_st_raw(r, v);
                }
                let a = (self.fpu.top as usize) & 7;
                let b = (self.fpu.top as usize + k as usize) & 7;
                self.fpu.regs.swap(a, b);
                let (ta, tb) = (self.fpu.tag >> a & 1, self.fpu.tag >> b & 1);
                self.fpu.tag = (self.fpu.tag & !(1 << a) & !(1 << b)) | tb << a | ta << b;
            }
            M::Ffree => {
                let p = (self.fpu.top as usize + st_op(0) as usize) & 7;
                self.fpu.tag &= !(1 << p);
            }
            M::Fincstp => {
                self.fpu.sw &= !C1;
                self.fpu.top = (self.fpu.top + 1) & 7;
            }
            M::Fdecstp => {
                self.fpu.sw &= !C1;
                self.fpu.top = self.fpu.top.wrapping_sub(1) & 7;
            }
            M::Fadd
            | M::Fsub
            | M::Fsubr
            | M::Fmul
            | M::Fdiv
            | M::Fdivr
            | M::Faddp
            | M::Fsubp
            | M::Fsubrp
            | M::Fmulp
            | M::Fdivp
            | M::Fdivrp
            | M::Fiadd
            | M::Fisub
            | M::Fisubr
            | M::Fimul
            | M::Fidiv
            | M::Fidivr => {
                let pops = matches!(
                    i.mnem,
                    M::Faddp | M::Fsubp | M::Fsubrp | M::Fmulp | M::Fdivp | M::Fdivrp
                );
                // Stack underflow: nothing is computed (no other flag, not
                // even from a NaN or denormal operand), the masked result
                // is the indefinite. A memory operand is still read (its
                // faults come first).
                let regs = if i.nops == 2 {
                    [st_op(0), st_op(1)]
                } else {
                    [0, 0]
                };
                if !regs.iter().all(|&r| self.st_valid(r)) {
                    if i.nops != 2 {
                        let a = self.ea(i);
                        self.read_mem(bus, a, i.ops[0].size.min(8))?;
                    }
                    self.x87_underflow(&regs);
                    self.x87_masked_indefinite(regs[0]);
                    if pops {
                        self.fpop();
                    }
                    return Ok(());
                }
                // Register operands in their full 80-bit form; memory
                // operands (m32/m64 reals, m16/m32 integers) are exact in
                // f64 and so in extended format.
                let (dst, (src, load)) = if i.nops == 2 {
                    (st_op(0), (self.st_raw(st_op(1)), 0))
                } else if matches!(
                    i.mnem,
                    M::Fiadd | M::Fisub | M::Fisubr | M::Fimul | M::Fidiv | M::Fidivr
                ) {
                    (0, (f64_to_f80(self.x87_mem_i(bus, i, 0)?), 0))
                } else {
                    (0, self.x87_mem_real(bus, i)?)
                };
                let d = self.st_raw(dst);
                let r = self.x87_binop(i.mnem, d, src, load);
                self.set_st_raw(dst, r);
                if pops {
                    self.fpop();
                }
            }
            // Sign-bit operations on the register's 80 bits (exact).
            M::Fchs => {
                self.fpu.sw &= !C1;
                if self.x87_underflow(&[0]) {
                    self.x87_masked_indefinite(0);
                    return Ok(());
                }
                let mut r = self.st_raw(0);
                r[9] ^= 0x80;
                self.set_st_raw(0, r);
            }
            M::Fabs => {
                self.fpu.sw &= !C1;
                if self.x87_underflow(&[0]) {
                    self.x87_masked_indefinite(0);
                    return Ok(());
                }
                let mut r = self.st_raw(0);
                r[9] &= 0x7f;
                self.set_st_raw(0, r);
            }
            M::Fsqrt => {
                let v = self.st_operand(0);
                let (r, flags) = f80::sqrt(v, f80::precision(self.fpu.cw), self.x87_rc());
                self.fpu.sw = (self.fpu.sw & !C1) | flags;
                self.set_st_raw(0, r);
            }
            M::Frndint => {
                // NaNs, infinities and values already integral stay as they are.
                self.fpu.sw &= !C1;
                let v = self.st_operand(0);
                self.set_st_raw(0, v);
                if let Some((neg, mag, flags)) = f80::round_int(v, self.x87_rc()) {
                    if flags & PE != 0 {
                        self.fpu.sw |= flags;
                        self.set_st_raw(0, f80::from_int(neg, mag));
                    }
                }
            }
            M::Fscale => {
                if self.x87_underflow(&[0, 1]) {
                    self.x87_masked_indefinite(0);
                    return Ok(());
                }
                let (a, b) = (self.st_raw(0), self.st_raw(1));
                let (r, flags) = f80::scale(a, b, self.x87_rc());
                self.fpu.sw = (self.fpu.sw & !C1) | flags;
                self.set_st_raw(0, r);
            }
            M::Fprem | M::Fprem1 => {
                if self.x87_underflow(&[0, 1]) {
                    self.x87_masked_indefinite(0);
                    return Ok(());
                }
                let (r, flags, red) = f80::rem(self.st_raw(0), self.st_raw(1), i.mnem == M::Fprem1);
                self.fpu.sw |= flags;
                let cc = match red {
                    f80::Reduction::Complete(q) => {
                        (if q & 1 != 0 { C1 } else { 0 })
                            | (if q & 2 != 0 { C3 } else { 0 })
                            | (if q & 4 != 0 { C0 } else { 0 })
                    }
                    f80::Reduction::Partial => C2,
                    f80::Reduction::None => 0,
                };
                self.fpu.sw = (self.fpu.sw & !(C0 | C1 | C2 | C3)) | cc;
                if !self.x87_unmasked(flags) {
                    self.set_st_raw(0, r);
                }
            }
            M::Fxtract => {
                if self.x87_push_overflow() {
                    return Ok(());
                }
                if self.x87_underflow(&[0]) {
                    self.x87_masked_indefinite(0);
                    if self.fpu.cw & IE != 0 {
                        self.push_raw(f80::INDEFINITE);
                    }
                    return Ok(());
                }
                let (exp, sig, flags) = f80::extract(self.st_raw(0));
                self.fpu.sw = (self.fpu.sw & !C1) | flags;
                if !self.x87_unmasked(flags) {
                    self.set_st_raw(0, exp);
                    self.push_raw(sig);
                }
            }
            M::Fsin | M::Fcos | M::Fptan | M::Fsincos => return self.x87_trig(i.mnem),
            M::Fpatan | M::Fyl2x | M::Fyl2xp1 => {
                // ST1 <- f(ST0, ST1), then pop.
                if self.x87_underflow(&[0, 1]) {
                    self.x87_masked_indefinite(1);
                    self.fpop();
                    return Ok(());
                }
                let (x, y, rc) = (self.st_raw(0), self.st_raw(1), self.x87_rc());
                let (r, flags) = match i.mnem {
                    M::Fpatan => f80_math::patan(x, y, rc),
                    M::Fyl2x => f80_math::yl2x(x, y, false, rc),
                    _ => f80_math::yl2x(x, y, true, rc),
                };
                self.x87_result(1, r, flags);
                self.fpop();
            }
            M::F2xm1 => {
                if self.x87_underflow(&[0]) {
                    self.x87_masked_indefinite(0);
                    return Ok(());
                }
                let (r, flags) = f80_math::f2xm1(self.st_raw(0), self.x87_rc());
                self.x87_result(0, r, flags);
            }
            M::Fcom
            | M::Fcomp
            | M::Fcompp
            | M::Fucom
            | M::Fucomp
            | M::Fucompp
            | M::Ficom
            | M::Ficomp => {
                let mut load_flags = 0;
                let b = if i.nops == 2 {
                    self.st_operand(st_op(1))
                } else if i.nops == 1 && i.ops[0].kind == Kind::St {
                    self.st_operand(st_op(0))
                } else if i.nops == 0 {
                    self.st_operand(1)
                } else if matches!(i.mnem, M::Ficom | M::Ficomp) {
                    f64_to_f80(self.x87_mem_i(bus, i, 0)?)
                } else {
                    let (v, load) = self.x87_mem_real(bus, i)?;
                    load_flags = load;
                    v
                };
                let a = self.st_operand(0);
                let unordered_ok = matches!(i.mnem, M::Fucom | M::Fucomp | M::Fucompp);
                self.x87_compare(a, b, false, unordered_ok, load_flags);
                if matches!(i.mnem, M::Fcomp | M::Fucomp | M::Ficomp) {
                    self.fpop();
                } else if matches!(i.mnem, M::Fcompp | M::Fucompp) {
                    self.fpop();
                    self.fpop();
                }
            }
            M::Fcomi | M::Fcomip | M::Fucomi | M::Fucomip => {
                let (a, b) = (self.st_operand(0), self.st_operand(st_op(1)));
                let unordered_ok = matches!(i.mnem, M::Fucomi | M::Fucomip);
                self.x87_compare(a, b, true, unordered_ok, 0);
                if matches!(i.mnem, M::Fcomip | M::Fucomip) {
                    self.fpop();
                }
            }
            M::Ftst => {
                let a = self.st_operand(0);
                self.x87_compare(a, [0; 10], false, false, 0);
            }
            M::Fxam => self.fxam(),
            M::Fcmovb
            | M::Fcmove
            | M::Fcmovbe
            | M::Fcmovu
            | M::Fcmovnb
            | M::Fcmovne
            | M::Fcmovnbe
            | M::Fcmovnu => {
                let cond = match i.mnem {
                    M::Fcmovb => self.cc.cf(),
                    M::Fcmove => self.cc.zf(),
                    M::Fcmovbe => self.cc.cf() || self.cc.zf(),
                    M::Fcmovu => self.cc.pf(),
                    M::Fcmovnb => !self.cc.cf(),
                    M::Fcmovne => !self.cc.zf(),
                    M::Fcmovnbe => !(self.cc.cf() || self.cc.zf()),
                    _ => !self.cc.pf(),
                };
                if cond {
                    let raw = self.fpu.regs[(self.fpu.top as usize + st_op(1) as usize) & 7];
                    self.fpu.regs[self.fpu.top as usize] = raw;
                }
            }
            _ => return Err(Event::ud()),
        }
        Ok(())
    }

    /// Write a computed result to ST(dst) with its exception bits: C1
    /// cleared (round-up is not reported for these), the destination
    /// left alone when an unmasked exception suppresses the result.
    fn x87_result(&mut self, dst: u8, r: [u8; 10], flags: u16) {
        self.fpu.sw = (self.fpu.sw & !C1) | flags;
        if !self.x87_unmasked(flags) {
            self.set_st_raw(dst, r);
        }
    }

    /// FSIN, FCOS, FSINCOS, FPTAN (f80_math.rs): C2 = 1 and nothing else
    /// changes for |ST0| >= 2^63; FPTAN then pushes 1.0, FSINCOS the cosine
    /// (ST1 = sine).
    fn x87_trig(&mut self, m: M) -> Res {
        use f80_math::Trig;
        if matches!(m, M::Fptan | M::Fsincos) && self.x87_push_overflow() {
            return Ok(());
        }
        if self.x87_underflow(&[0]) {
            self.fpu.sw &= !C2;
            self.x87_masked_indefinite(0);
            if matches!(m, M::Fptan | M::Fsincos) && self.fpu.cw & IE != 0 {
                self.push_raw(f80::INDEFINITE);
            }
            return Ok(());
        }
        let (x, rc) = (self.st_raw(0), self.x87_rc());
        let first = match m {
            M::Fcos => Trig::Cos,
            M::Fptan => Trig::Tan,
            _ => Trig::Sin,
        };
        let Some((r, mut flags)) = f80_math::trig(x, first, rc) else {
            self.fpu.sw |= C2;
            return Ok(());
        };
        self.fpu.sw &= !C2;
        let second = match m {
            M::Fptan => {
                // 1.0 for finite results; a NaN result is pushed again.
                let nan = r[9] & 0x7f == 0x7f && r[8] == 0xff;
                Some(if nan {
                    r
                } else {
                    f80::pack_raw(false, 0x3fff, 1 << 63)
                })
            }
            M::Fsincos => {
                let (c, f) = f80_math::trig(x, Trig::Cos, rc).expect("in range as for sin");
                flags |= f;
                Some(c)
            }
            _ => None,
        };
        self.x87_result(0, r, flags);
        if let Some(v) = second {
            if !self.x87_unmasked(flags) {
                self.push_raw(v);
            }
        }
        Ok(())
    }
}

fn is_x87(m: M) -> bool {
    use M::*;
    matches!(
        m,
        Wait | Fnop
            | Fninit
            | Fnclex
            | Fnstcw
            | Fldcw
            | Fnstsw
            | Fnstenv
            | Fldenv
            | Fnsave
            | Frstor
            | Fld
            | Fild
            | Fld1
            | Fldz
            | Fldpi
            | Fldl2e
            | Fldl2t
            | Fldlg2
            | Fldln2
            | Fst
            | Fstp
            | Fist
            | Fistp
            | Fisttp
            | Fxch
            | Ffree
            | Fincstp
            | Fdecstp
            | Fadd
            | Fsub
            | Fsubr
            | Fmul
            | Fdiv
            | Fdivr
            | Faddp
            | Fsubp
            | Fsubrp
            | Fmulp
            | Fdivp
            | Fdivrp
            | Fiadd
            | Fisub
            | Fisubr
            | Fimul
            | Fidiv
            | Fidivr
            | Fchs
            | Fabs
            | Fsqrt
            | Frndint
            | Fscale
            | Fprem
            | Fprem1
            | Fxtract
            | Fsin
            | Fcos
            | Fptan
            | Fsincos
            | Fpatan
            | F2xm1
            | Fyl2x
            | Fyl2xp1
            | Fcom
            | Fcomp
            | Fcompp
            | Fucom
            | Fucomp
            | Fucompp
            | Ficom
            | Ficomp
            | Fcomi
            | Fcomip
            | Fucomi
            | Fucomip
            | Ftst
            | Fxam
            | Fcmovb
            | Fcmove
            | Fcmovbe
            | Fcmovu
            | Fcmovnb
            | Fcmovne
            | Fcmovnbe
            | Fcmovnu
    )
}

/// A denormal operand is not reported beside an invalid operation, a zero
/// divide or a NaN result (measured on the host).
fn without_lone_denormal(flags: u16, result: [u8; 10]) -> u16 {
    let nan =
        result[9] & 0x7f == 0x7f && result[8] == 0xff && result[..8] != (1u64 << 63).to_le_bytes();
    if nan || flags & (IE | f80::ZE) != 0 {
        flags & !f80::DE
    } else {
        flags
    }
}
