//! SSE3 and SSSE3 instructions on XMM registers (SDM vol. 2 per
//! instruction). The MMX-register forms are not implemented (MMX is not
//! advertised).

use iced_x86::Mnemonic as M;

use super::int::lanewise;
use super::softfloat::{self as sf, Op};
use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind};
use crate::cpu::exception::{Event, Res};
use crate::cpu::state::Cpu;

fn lane(v: u128, w: u32, k: u32) -> u64 {
    let m = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
    (v >> (w * k)) as u64 & m
}

fn sx(v: u64, w: u32) -> i64 {
    ((v << (64 - w)) as i64) >> (64 - w)
}

fn sat16(v: i64) -> u64 {
    v.clamp(i16::MIN as i64, i16::MAX as i64) as u64 & 0xffff
}

/// Horizontal pairs: lanes (a0 op a1, a2 op a3, ..., b0 op b1, ...).
pub(crate) fn horizontal(a: u128, b: u128, w: u32, f: impl Fn(u64, u64) -> u64) -> u128 {
    let n = 128 / w;
    let m = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
    let mut r = 0u128;
    for k in 0..n {
        let src = if k < n / 2 { a } else { b };
        let j = (k % (n / 2)) * 2;
        r |= ((f(lane(src, w, j), lane(src, w, j + 1)) & m) as u128) << (w * k);
    }
    r
}

impl Cpu {
    pub(crate) fn sse3_ssse3<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Option<Res> {
        if i.ops[0].kind != Kind::Xmm {
            return None;
        }
        let r = match i.mnem {
            M::Addsubps | M::Addsubpd | M::Haddps | M::Haddpd | M::Hsubps | M::Hsubpd => {
                self.sse3_fp(bus, i)
            }
            M::Movsldup | M::Movshdup | M::Movddup => self.sse3_dup(bus, i),
            M::Pshufb
            | M::Phaddw
            | M::Phaddd
            | M::Phaddsw
            | M::Phsubw
            | M::Phsubd
            | M::Phsubsw
            | M::Pmaddubsw
            | M::Pmulhrsw
            | M::Psignb
            | M::Psignw
            | M::Psignd
            | M::Pabsb
            | M::Pabsw
            | M::Pabsd
            | M::Palignr => self.ssse3_int(bus, i),
            _ => return None,
        };
        Some(r)
    }

    fn sse3_dup<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let s = self.xsrc(bus, i, 1)?;
        let d = i.ops[0].reg as usize & 15;
        let l = |k: u32| lane(s, 32, k) as u128;
        self.xmm[d] = match i.mnem {
            M::Movsldup => l(0) | l(0) << 32 | l(2) << 64 | l(2) << 96,
            M::Movshdup => l(1) | l(1) << 32 | l(3) << 64 | l(3) << 96,
            _ => (s & u64::MAX as u128) | (s & u64::MAX as u128) << 64,
        };
        Ok(())
    }

    fn sse3_fp<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let env = sf::Env::from_mxcsr(self.mxcsr);
        let d = i.ops[0].reg as usize & 15;
        let a = self.xmm[d];
        let b = self.xsrc(bus, i, 1)?;
        let mut flags = 0;
        let single = matches!(i.mnem, M::Addsubps | M::Haddps | M::Hsubps);
        let r = if single {
            let f = |v: u128, k: u32| f32::from_bits(lane(v, 32, k) as u32);
            let out: [f32; 4] = match i.mnem {
                M::Addsubps => core::array::from_fn(|k| {
                    sf::arith(
                        &env,
                        if k % 2 == 0 { Op::Sub } else { Op::Add },
                        f(a, k as u32),
                        f(b, k as u32),
                        &mut flags,
                    )
                }),
                _ => {
                    let op = if i.mnem == M::Haddps {
                        Op::Add
                    } else {
                        Op::Sub
                    };
                    core::array::from_fn(|k| {
                        let src = if k < 2 { a } else { b };
                        let j = (k as u32 % 2) * 2;
                        sf::arith(&env, op, f(src, j), f(src, j + 1), &mut flags)
                    })
                }
            };
            out.iter()
                .enumerate()
                .fold(0u128, |r, (k, x)| r | (x.to_bits() as u128) << (32 * k))
        } else {
            let f = |v: u128, k: u32| f64::from_bits(lane(v, 64, k));
            let out: [f64; 2] = match i.mnem {
                M::Addsubpd => [
                    sf::arith(&env, Op::Sub, f(a, 0), f(b, 0), &mut flags),
                    sf::arith(&env, Op::Add, f(a, 1), f(b, 1), &mut flags),
                ],
                _ => {
                    let op = if i.mnem == M::Haddpd {
                        Op::Add
                    } else {
                        Op::Sub
                    };
                    [
                        sf::arith(&env, op, f(a, 0), f(a, 1), &mut flags),
                        sf::arith(&env, op, f(b, 0), f(b, 1), &mut flags),
                    ]
                }
            };
            out[0].to_bits() as u128 | (out[1].to_bits() as u128) << 64
        };
        self.mxcsr_raise(flags)?;
        self.xmm[d] = r;
        Ok(())
    }

    fn ssse3_int<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let d = i.ops[0].reg as usize & 15;
        let a = self.xmm[d];
        let b = self.xsrc(bus, i, 1)?;
        self.xmm[d] = match i.mnem {
            M::Pshufb => (0..16).fold(0u128, |r, k| {
                let sel = lane(b, 8, k);
                let v = if sel & 0x80 != 0 {
                    0
                } else {
                    lane(a, 8, (sel & 15) as u32)
                };
                r | (v as u128) << (8 * k)
            }),
            M::Phaddw => horizontal(a, b, 16, |x, y| x.wrapping_add(y)),
            M::Phaddd => horizontal(a, b, 32, |x, y| x.wrapping_add(y)),
            M::Phaddsw => horizontal(a, b, 16, |x, y| sat16(sx(x, 16) + sx(y, 16))),
            M::Phsubw => horizontal(a, b, 16, |x, y| x.wrapping_sub(y)),
            M::Phsubd => horizontal(a, b, 32, |x, y| x.wrapping_sub(y)),
            M::Phsubsw => horizontal(a, b, 16, |x, y| sat16(sx(x, 16) - sx(y, 16))),
            M::Pmaddubsw | M::Pmulhrsw | M::Psignb | M::Psignw | M::Psignd => lane_op(i.mnem, a, b),
            M::Pabsb | M::Pabsw | M::Pabsd => {
                let w = match i.mnem {
                    M::Pabsb => 8,
                    M::Pabsw => 16,
                    _ => 32,
                };
                lanewise(b, 0, w, |x, _| sx(x, w).unsigned_abs())
            }
            M::Palignr => {
                let n = (i.imm & 0xff) as u32;
                let cat = [b.to_le_bytes(), a.to_le_bytes()].concat();
                let mut out = [0u8; 16];
                for (k, o) in out.iter_mut().enumerate() {
                    *o = cat.get(n as usize + k).copied().unwrap_or(0);
                }
                u128::from_le_bytes(out)
            }
            _ => return Err(Event::ud()),
        };
        Ok(())
    }
}

/// The lane-wise SSSE3 operations (shared with the MMX forms).
pub(crate) fn lane_op(m: M, a: u128, b: u128) -> u128 {
    match m {
        M::Pmaddubsw => lanewise(a, b, 16, |x, y| {
            let p0 = (x & 0xff) as i64 * sx(y & 0xff, 8);
            let p1 = (x >> 8) as i64 * sx(y >> 8, 8);
            sat16(p0 + p1)
        }),
        M::Pmulhrsw => lanewise(a, b, 16, |x, y| {
            ((((sx(x, 16) * sx(y, 16)) >> 14) + 1) >> 1) as u64
        }),
        M::Psignb | M::Psignw | M::Psignd => {
            let w = match m {
                M::Psignb => 8,
                M::Psignw => 16,
                _ => 32,
            };
            lanewise(a, b, w, |x, y| {
                let s = sx(y, w);
                if s < 0 {
                    (sx(x, w)).wrapping_neg() as u64
                } else if s == 0 {
                    0
                } else {
                    x
                }
            })
        }
        _ => b,
    }
}
