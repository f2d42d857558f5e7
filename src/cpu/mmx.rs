//! MMX (and the MMX-register forms of SSE, SSE2 and SSSE3): eight 64-bit
//! registers aliased onto the x87 register mantissas (Intel SDM vol. 1
//! ch. 9). Every MMX instruction except EMMS sets TOP = 0 and tags all
//! registers valid; a write sets the aliased exponent to all ones.

use iced_x86::Mnemonic as M;

use super::bus::Bus;
use super::decode::{Insn, Kind};
use super::exception::{Event, Res};
use super::sse::int::{binary, interleave, lanewise, pack, shift_lanes, width};
use super::sse::ssse3::horizontal;
use super::state::{Cpu, CR0_EM, CR0_TS};

const LOW: u128 = u64::MAX as u128;

impl Cpu {
    pub(crate) fn mm(&self, r: u8) -> u64 {
        u64::from_le_bytes(self.fpu.regs[r as usize & 7][..8].try_into().unwrap())
    }

    fn set_mm(&mut self, r: u8, v: u64) {
        let reg = &mut self.fpu.regs[r as usize & 7];
        reg[..8].copy_from_slice(&v.to_le_bytes());
        reg[8] = 0xff;
        reg[9] = 0xff;
    }

    /// Source operand: MMX register, memory (its size), GPR or XMM low half.
    fn mmx_src<B: Bus>(&mut self, bus: &mut B, i: &Insn, n: usize) -> Res<u64> {
        let o = i.ops[n];
        match o.kind {
            Kind::Mmx => Ok(self.mm(o.reg)),
            Kind::Mem => {
                let a = self.ea(i);
                self.read_mem(bus, a, o.size.clamp(1, 8))
            }
            Kind::Gpr => Ok(self.gpr_get(o.reg, o.size)),
            Kind::Xmm => Ok(self.xmm[o.reg as usize & 15] as u64),
            _ => Err(Event::ud()),
        }
    }

    /// The MMX <-> float conversions (SDM vol. 2 "CVTPI2PS" etc.), with
    /// MXCSR rounding and flags like the SSE conversions.
    fn mmx_cvt<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        use super::sse::softfloat as sf;
        let env = sf::Env::from_mxcsr(self.mxcsr);
        let mut flags = 0;
        let d = i.ops[0];
        match i.mnem {
            M::Cvtpi2ps | M::Cvtpi2pd => {
                let s = self.mmx_src(bus, i, 1)?;
                let lo = s as u32 as i32 as i64;
                let hi = (s >> 32) as u32 as i32 as i64;
                let x = &mut self.xmm[d.reg as usize & 15];
                if i.mnem == M::Cvtpi2ps {
                    let a = sf::int_to_f32(&env, lo, &mut flags).to_bits() as u128;
                    let b = sf::int_to_f32(&env, hi, &mut flags).to_bits() as u128;
                    *x = (*x & !LOW) | a | b << 32;
                } else {
                    *x = (lo as f64).to_bits() as u128 | ((hi as f64).to_bits() as u128) << 64;
                }
            }
            _ => {
                let s = if i.ops[1].kind == Kind::Xmm {
                    self.xmm[i.ops[1].reg as usize & 15]
                } else if i.mnem == M::Cvtpd2pi || i.mnem == M::Cvttpd2pi {
                    let a = self.ea(i);
                    if a & 15 != 0 {
                        return Err(Event::gp(0));
                    }
                    self.read_u128(bus, a)?
                } else {
                    self.mmx_src(bus, i, 1)? as u128
                };
                let t = matches!(i.mnem, M::Cvttps2pi | M::Cvttpd2pi);
                let (x0, x1) = if matches!(i.mnem, M::Cvtps2pi | M::Cvttps2pi) {
                    let f = |k: u32| {
                        sf::daz(&env, f32::from_bits((s >> (32 * k)) as u32), &mut 0) as f64
                    };
                    (f(0), f(1))
                } else {
                    (f64::from_bits(s as u64), f64::from_bits((s >> 64) as u64))
                };
                let r0 = sf::f64_to_int(&env, x0, 32, t, &mut flags) as u32 as u64;
                let r1 = sf::f64_to_int(&env, x1, 32, t, &mut flags) as u32 as u64;
                self.mxcsr_raise(flags)?;
                self.set_mm(d.reg, r0 | r1 << 32);
                return Ok(());
            }
        }
        self.mxcsr_raise(flags)
    }

    /// MASKMOVQ/MASKMOVDQU: store the bytes whose mask byte has its top
    /// bit set to DS:[RDI].
    fn maskmov<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let (src, mask, n) = if i.mnem == M::Maskmovq {
            (
                self.mm(i.ops[1].reg) as u128,
                self.mm(i.ops[2].reg) as u128,
                8,
            )
        } else {
            (
                self.xmm[i.ops[1].reg as usize & 15],
                self.xmm[i.ops[2].reg as usize & 15],
                16,
            )
        };
        let mut base = self.gpr[7];
        if i.prefixes & super::decode::P_ADDR32 != 0 {
            base &= 0xffff_ffff;
        }
        let base = self.seg_base(i.mem.seg as usize).wrapping_add(base);
        for k in 0..n {
            if (mask >> (8 * k + 7)) & 1 != 0 {
                self.write_mem(
                    bus,
                    base.wrapping_add(k as u64),
                    1,
                    ((src >> (8 * k)) & 0xff) as u64,
                )?;
            }
        }
        Ok(())
    }

    /// Execute an instruction with an MMX operand (or EMMS); `None` if `i`
    /// is not one.
    pub(crate) fn mmx<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Option<Res> {
        let uses_mm = i.ops[..i.nops as usize].iter().any(|o| o.kind == Kind::Mmx);
        if !uses_mm && !matches!(i.mnem, M::Emms | M::Maskmovdqu) {
            return None;
        }
        if self.cr0 & CR0_EM != 0 {
            return Some(Err(Event::ud()));
        }
        if self.cr0 & CR0_TS != 0 {
            return Some(Err(Event::nm()));
        }
        Some(self.mmx_exec(bus, i))
    }

    fn mmx_exec<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        if i.mnem == M::Emms {
            self.fpu.tag = 0;
            return Ok(());
        }
        // SSE2's MASKMOVDQU uses no MMX register: no x87 state transition.
        if i.mnem == M::Maskmovdqu {
            return self.maskmov(bus, i);
        }
        self.fpu.top = 0;
        self.fpu.tag = 0xff;
        let d = i.ops[0];
        match i.mnem {
            M::Cvtpi2ps | M::Cvtps2pi | M::Cvttps2pi | M::Cvtpi2pd | M::Cvtpd2pi | M::Cvttpd2pi => {
                return self.mmx_cvt(bus, i);
            }
            M::Maskmovq | M::Maskmovdqu => return self.maskmov(bus, i),
            M::Movd | M::Movq | M::Movntq | M::Movdq2q | M::Movq2dq => {
                let v = self.mmx_src(bus, i, 1)?;
                match d.kind {
                    Kind::Mmx => self.set_mm(d.reg, v),
                    Kind::Xmm => self.xmm[d.reg as usize & 15] = v as u128,
                    _ => self.op_write(bus, i, 0, v)?,
                }
                return Ok(());
            }
            M::Pmovmskb => {
                let v = self.mm(i.ops[1].reg);
                let r = (0..8).fold(0u64, |acc, k| acc | ((v >> (8 * k + 7)) & 1) << k);
                self.gpr_set(d.reg, d.size.max(4), r);
                return Ok(());
            }
            M::Pextrw => {
                let v = (self.mm(i.ops[1].reg) >> (16 * (i.imm & 3))) & 0xffff;
                self.gpr_set(d.reg, d.size.max(4), v);
                return Ok(());
            }
            M::Pinsrw => {
                let v = self.mmx_src(bus, i, 1)? & 0xffff;
                let k = 16 * (i.imm & 3);
                let r = (self.mm(d.reg) & !(0xffff << k)) | v << k;
                self.set_mm(d.reg, r);
                return Ok(());
            }
            M::Pshufw => {
                let s = self.mmx_src(bus, i, 1)?;
                let r = (0..4).fold(0u64, |acc, k| {
                    acc | ((s >> (16 * ((i.imm >> (2 * k)) & 3))) & 0xffff) << (16 * k)
                });
                self.set_mm(d.reg, r);
                return Ok(());
            }
            _ => {}
        }
        let a = self.mm(d.reg) as u128;
        let r: u128 = match i.mnem {
            M::Psllw
            | M::Pslld
            | M::Psllq
            | M::Psrlw
            | M::Psrld
            | M::Psrlq
            | M::Psraw
            | M::Psrad => {
                let count = if i.ops[1].kind == Kind::Imm {
                    i.imm & 0xff
                } else {
                    self.mmx_src(bus, i, 1)?
                };
                shift_lanes(a, width(i.mnem).unwrap_or(64), count, i.mnem)
            }
            M::Punpckhbw | M::Punpckhwd | M::Punpckhdq => {
                let b = self.mmx_src(bus, i, 1)? as u128;
                interleave(a >> 32, b >> 32, width(i.mnem).unwrap_or(8), false)
            }
            M::Packsswb | M::Packssdw | M::Packuswb => {
                let b = self.mmx_src(bus, i, 1)? as u128;
                pack(
                    a | b << 64,
                    0,
                    width(i.mnem).unwrap_or(16),
                    i.mnem != M::Packuswb,
                )
            }
            M::Phaddw | M::Phaddd | M::Phaddsw | M::Phsubw | M::Phsubd | M::Phsubsw => {
                let b = self.mmx_src(bus, i, 1)? as u128;
                let c = a | b << 64;
                let sat = |v: i64| v.clamp(i16::MIN as i64, i16::MAX as i64) as u64;
                let s16 = |v: u64| v as u16 as i16 as i64;
                match i.mnem {
                    M::Phaddw => horizontal(c, 0, 16, |x, y| x.wrapping_add(y)),
                    M::Phaddd => horizontal(c, 0, 32, |x, y| x.wrapping_add(y)),
                    M::Phaddsw => horizontal(c, 0, 16, |x, y| sat(s16(x) + s16(y))),
                    M::Phsubw => horizontal(c, 0, 16, |x, y| x.wrapping_sub(y)),
                    M::Phsubd => horizontal(c, 0, 32, |x, y| x.wrapping_sub(y)),
                    _ => horizontal(c, 0, 16, |x, y| sat(s16(x) - s16(y))),
                }
            }
            M::Pshufb => {
                let b = self.mmx_src(bus, i, 1)?;
                (0..8).fold(0u128, |acc, k| {
                    let sel = (b >> (8 * k)) & 0xff;
                    let v = if sel & 0x80 != 0 {
                        0
                    } else {
                        (a >> (8 * (sel & 7))) & 0xff
                    };
                    acc | v << (8 * k)
                })
            }
            M::Palignr => {
                let b = self.mmx_src(bus, i, 1)? as u128;
                let n = (i.imm & 0xff) as u32;
                let cat = b | a << 64;
                if n >= 16 {
                    0
                } else {
                    cat >> (8 * n)
                }
            }
            M::Pabsb | M::Pabsw | M::Pabsd => {
                let b = self.mmx_src(bus, i, 1)? as u128;
                let w = match i.mnem {
                    M::Pabsb => 8,
                    M::Pabsw => 16,
                    _ => 32,
                };
                lanewise(b, 0, w, |x, _| {
                    (((x << (64 - w)) as i64) >> (64 - w)).unsigned_abs()
                })
            }
            M::Psignb | M::Psignw | M::Psignd | M::Pmaddubsw | M::Pmulhrsw => {
                let b = self.mmx_src(bus, i, 1)? as u128;
                super::sse::ssse3::lane_op(i.mnem, a, b)
            }
            _ => {
                let w = width(i.mnem).ok_or(Event::ud())?;
                let b = self.mmx_src(bus, i, 1)? as u128;
                binary(i.mnem, a, b, if w == 128 { 64 } else { w }).ok_or(Event::ud())?
            }
        };
        self.set_mm(d.reg, (r & LOW) as u64);
        Ok(())
    }
}
