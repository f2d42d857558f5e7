//! SSE2 packed integer instructions (on XMM registers).

use iced_x86::Mnemonic as M;

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind};
use crate::cpu::exception::Res;
use crate::cpu::state::Cpu;

#[inline]
fn lane(v: u128, w: u32, k: u32) -> u64 {
    let m = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
    (v >> (w * k)) as u64 & m
}

#[inline]
fn sx(v: u64, w: u32) -> i64 {
    ((v << (64 - w)) as i64) >> (64 - w)
}

/// Apply `f` lane by lane to two 128-bit values with lanes of `w` bits.
#[inline]
pub(crate) fn lanewise(a: u128, b: u128, w: u32, f: impl Fn(u64, u64) -> u64) -> u128 {
    let m = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
    let mut r = 0u128;
    for k in 0..128 / w {
        r |= ((f(lane(a, w, k), lane(b, w, k)) & m) as u128) << (w * k);
    }
    r
}

/// PUNPCKL*/PUNPCKH*/UNPCK*PS: interleave the low (or high) halves.
pub(crate) fn interleave(a: u128, b: u128, w: u32, high: bool) -> u128 {
    let n = 64 / w;
    let base = if high { n } else { 0 };
    let mut r = 0u128;
    for k in 0..n {
        r |= (lane(a, w, base + k) as u128) << (w * 2 * k);
        r |= (lane(b, w, base + k) as u128) << (w * (2 * k + 1));
    }
    r
}

fn sat_s(v: i64, w: u32) -> u64 {
    let max = (1i64 << (w - 1)) - 1;
    let min = -(1i64 << (w - 1));
    v.clamp(min, max) as u64
}

fn sat_u(v: i64, w: u32) -> u64 {
    v.clamp(0, (1i64 << w) - 1) as u64
}

/// PACKSS*/PACKUS*: narrow the lanes of a then b with saturation.
fn pack(a: u128, b: u128, w: u32, signed_out: bool) -> u128 {
    let n = 128 / w;
    let ow = w / 2;
    let mut r = 0u128;
    for k in 0..2 * n {
        let src = if k < n { a } else { b };
        let v = sx(lane(src, w, k % n), w);
        let o = if signed_out { sat_s(v, ow) } else { sat_u(v, ow) } & ((1u64 << ow) - 1);
        r |= (o as u128) << (ow * k);
    }
    r
}

fn shift_lanes(a: u128, w: u32, count: u64, kind: M) -> u128 {
    lanewise(a, 0, w, |x, _| match kind {
        M::Psllw | M::Pslld | M::Psllq => {
            if count >= w as u64 {
                0
            } else {
                x << count
            }
        }
        M::Psrlw | M::Psrld | M::Psrlq => {
            if count >= w as u64 {
                0
            } else {
                x >> count
            }
        }
        _ => (sx(x, w) >> count.min(w as u64 - 1)) as u64,
    })
}

impl Cpu {
    pub(crate) fn sse_int<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Option<Res> {
        let w = match i.mnem {
            M::Paddb | M::Psubb | M::Paddsb | M::Paddusb | M::Psubsb | M::Psubusb | M::Pcmpeqb | M::Pcmpgtb
            | M::Pminub | M::Pmaxub | M::Pavgb | M::Punpcklbw | M::Punpckhbw => 8,
            M::Paddw | M::Psubw | M::Paddsw | M::Paddusw | M::Psubsw | M::Psubusw | M::Pcmpeqw | M::Pcmpgtw
            | M::Pminsw | M::Pmaxsw | M::Pavgw | M::Pmullw | M::Pmulhw | M::Pmulhuw | M::Punpcklwd
            | M::Punpckhwd | M::Psllw | M::Psrlw | M::Psraw | M::Packsswb | M::Packuswb => 16,
            M::Paddd | M::Psubd | M::Pcmpeqd | M::Pcmpgtd | M::Punpckldq | M::Punpckhdq | M::Pslld | M::Psrld
            | M::Psrad | M::Packssdw => 32,
            M::Paddq | M::Psubq | M::Punpcklqdq | M::Punpckhqdq | M::Psllq | M::Psrlq | M::Pmuludq => 64,
            M::Pand | M::Pandn | M::Por | M::Pxor | M::Pshufd | M::Pshuflw | M::Pshufhw | M::Pmovmskb
            | M::Pslldq | M::Psrldq | M::Psadbw | M::Pmaddwd | M::Pextrw | M::Pinsrw => 128,
            _ => return None,
        };
        Some(self.sse_int_exec(bus, i, w))
    }

    fn sse_int_exec<B: Bus>(&mut self, bus: &mut B, i: &Insn, w: u32) -> Res {
        let d = i.ops[0].reg as usize & 15;
        match i.mnem {
            M::Pmovmskb => {
                let v = self.xreg(i, 1);
                let r = (0..16).fold(0u64, |acc, k| acc | (((v >> (8 * k + 7)) & 1) as u64) << k);
                self.gpr_set(i.ops[0].reg, i.ops[0].size.max(4), r);
                return Ok(());
            }
            M::Pextrw => {
                let v = self.xreg(i, 1);
                let r = lane(v, 16, (i.imm & 7) as u32);
                self.gpr_set(i.ops[0].reg, i.ops[0].size.max(4), r);
                return Ok(());
            }
            M::Pinsrw => {
                let v = self.xsrc(bus, i, 1)? as u64 & 0xffff;
                let k = (i.imm & 7) as u32 * 16;
                self.xmm[d] = (self.xmm[d] & !(0xffffu128 << k)) | (v as u128) << k;
                return Ok(());
            }
            M::Pslldq | M::Psrldq => {
                let n = (i.imm & 0xff) as u32;
                let a = self.xmm[d];
                self.xmm[d] = if n > 15 {
                    0
                } else if i.mnem == M::Pslldq {
                    a << (8 * n)
                } else {
                    a >> (8 * n)
                };
                return Ok(());
            }
            M::Psllw | M::Pslld | M::Psllq | M::Psrlw | M::Psrld | M::Psrlq | M::Psraw | M::Psrad => {
                let count = if i.ops[1].kind == Kind::Imm { i.imm & 0xff } else { self.xsrc(bus, i, 1)? as u64 };
                self.xmm[d] = shift_lanes(self.xmm[d], w, count, i.mnem);
                return Ok(());
            }
            M::Pshufd | M::Pshuflw | M::Pshufhw => {
                let s = self.xsrc(bus, i, 1)?;
                let imm = i.imm as u32;
                self.xmm[d] = match i.mnem {
                    M::Pshufd => (0..4).fold(0, |r, k| r | (lane(s, 32, (imm >> (2 * k)) & 3) as u128) << (32 * k)),
                    M::Pshuflw => {
                        (s & !0xffff_ffff_ffff_ffffu128)
                            | (0..4).fold(0, |r, k| r | (lane(s, 16, (imm >> (2 * k)) & 3) as u128) << (16 * k))
                    }
                    _ => {
                        (s & 0xffff_ffff_ffff_ffffu128)
                            | (0..4).fold(0, |r, k| r | (lane(s, 16, 4 + ((imm >> (2 * k)) & 3)) as u128) << (16 * (k + 4)))
                    }
                };
                return Ok(());
            }
            _ => {}
        }
        let a = self.xmm[d];
        let b = self.xsrc(bus, i, 1)?;
        let r = match i.mnem {
            M::Pand => a & b,
            M::Pandn => !a & b,
            M::Por => a | b,
            M::Pxor => a ^ b,
            M::Paddb | M::Paddw | M::Paddd | M::Paddq => lanewise(a, b, w, |x, y| x.wrapping_add(y)),
            M::Psubb | M::Psubw | M::Psubd | M::Psubq => lanewise(a, b, w, |x, y| x.wrapping_sub(y)),
            M::Paddsb | M::Paddsw => lanewise(a, b, w, |x, y| sat_s(sx(x, w) + sx(y, w), w)),
            M::Psubsb | M::Psubsw => lanewise(a, b, w, |x, y| sat_s(sx(x, w) - sx(y, w), w)),
            M::Paddusb | M::Paddusw => lanewise(a, b, w, |x, y| sat_u(x as i64 + y as i64, w)),
            M::Psubusb | M::Psubusw => lanewise(a, b, w, |x, y| sat_u(x as i64 - y as i64, w)),
            M::Pcmpeqb | M::Pcmpeqw | M::Pcmpeqd => lanewise(a, b, w, |x, y| if x == y { u64::MAX } else { 0 }),
            M::Pcmpgtb | M::Pcmpgtw | M::Pcmpgtd => {
                lanewise(a, b, w, |x, y| if sx(x, w) > sx(y, w) { u64::MAX } else { 0 })
            }
            M::Pminub => lanewise(a, b, w, |x, y| x.min(y)),
            M::Pmaxub => lanewise(a, b, w, |x, y| x.max(y)),
            M::Pminsw => lanewise(a, b, w, |x, y| sx(x, w).min(sx(y, w)) as u64),
            M::Pmaxsw => lanewise(a, b, w, |x, y| sx(x, w).max(sx(y, w)) as u64),
            M::Pavgb | M::Pavgw => lanewise(a, b, w, |x, y| (x + y + 1) >> 1),
            M::Pmullw => lanewise(a, b, w, |x, y| x.wrapping_mul(y)),
            M::Pmulhw => lanewise(a, b, w, |x, y| ((sx(x, w) * sx(y, w)) >> 16) as u64),
            M::Pmulhuw => lanewise(a, b, w, |x, y| (x * y) >> 16),
            M::Pmuludq => lanewise(a, b, 64, |x, y| (x & 0xffff_ffff) * (y & 0xffff_ffff)),
            M::Pmaddwd => lanewise(a, b, 32, |x, y| {
                let p0 = sx(x & 0xffff, 16) * sx(y & 0xffff, 16);
                let p1 = sx(x >> 16, 16) * sx(y >> 16, 16);
                p0.wrapping_add(p1) as u64
            }),
            M::Psadbw => lanewise(a, b, 64, |x, y| {
                (0..8).map(|k| ((x >> (8 * k)) & 0xff).abs_diff((y >> (8 * k)) & 0xff)).sum()
            }),
            M::Punpcklbw | M::Punpcklwd | M::Punpckldq | M::Punpcklqdq => interleave(a, b, w, false),
            M::Punpckhbw | M::Punpckhwd | M::Punpckhdq | M::Punpckhqdq => interleave(a, b, w, true),
            M::Packsswb | M::Packssdw => pack(a, b, w, true),
            M::Packuswb => pack(a, b, w, false),
            _ => return Err(crate::cpu::exception::Event::ud()),
        };
        self.xmm[d] = r;
        Ok(())
    }
}
