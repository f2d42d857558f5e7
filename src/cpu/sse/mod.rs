//! SSE/SSE2: data movement, logic, MXCSR and FXSAVE/FXRSTOR here; packed
//! integer arithmetic in `int`, floating point in `fp` (on `softfloat`).
//! Intel SDM vol. 1 ch. 10-11, vol. 2 per instruction.

mod fp;
mod int;
pub mod softfloat;

use iced_x86::Mnemonic as M;

use super::bus::Bus;
use super::decode::{Insn, Kind};
use super::exception::{Event, Res, XM};
use super::state::{Cpu, CR0_EM, CR0_TS, CR4_OSFXSR, CR4_OSXMMEXCPT};

/// MXCSR bits software may set (DAZ supported, so MXCSR_MASK = 0xffff).
pub const MXCSR_MASK: u32 = 0xffff;

impl Cpu {
    /// Read an SSE source operand (XMM, memory of the operand's size, or GPR).
    pub(crate) fn xsrc<B: Bus>(&mut self, bus: &mut B, i: &Insn, n: usize) -> Res<u128> {
        let o = i.ops[n];
        match o.kind {
            Kind::Xmm => Ok(self.xmm[o.reg as usize & 15]),
            Kind::Mem => {
                let a = self.ea(i);
                match o.size {
                    16 => {
                        if a & 15 != 0 && !unaligned_ok(i.mnem) {
                            return Err(Event::gp(0));
                        }
                        self.read_u128(bus, a)
                    }
                    s => Ok(self.read_mem(bus, a, s.min(8))? as u128),
                }
            }
            Kind::Gpr => Ok(self.gpr_get(o.reg, o.size) as u128),
            Kind::Imm => Ok(i.imm as u128),
            _ => Err(Event::ud()),
        }
    }

    /// Write an SSE destination (whole XMM register, memory, or GPR).
    pub(crate) fn xdst<B: Bus>(&mut self, bus: &mut B, i: &Insn, n: usize, v: u128) -> Res {
        let o = i.ops[n];
        match o.kind {
            Kind::Xmm => {
                self.xmm[o.reg as usize & 15] = v;
                Ok(())
            }
            Kind::Mem => {
                let a = self.ea(i);
                match o.size {
                    16 => {
                        if a & 15 != 0 && !unaligned_ok(i.mnem) {
                            return Err(Event::gp(0));
                        }
                        self.write_u128(bus, a, v)
                    }
                    s => self.write_mem(bus, a, s.min(8), v as u64),
                }
            }
            Kind::Gpr => {
                self.gpr_set(o.reg, o.size, v as u64);
                Ok(())
            }
            _ => Err(Event::ud()),
        }
    }

    #[inline]
    pub(crate) fn xreg(&self, i: &Insn, n: usize) -> u128 {
        self.xmm[i.ops[n].reg as usize & 15]
    }

    /// OR new exception flags into MXCSR, or raise #XM/#UD if one of them
    /// is unmasked (the destination must not have been written yet).
    pub(crate) fn mxcsr_raise(&mut self, flags: u32) -> Res {
        let unmasked = flags & !(self.mxcsr >> 7) & 0x3f;
        if unmasked != 0 {
            self.mxcsr |= flags;
            return Err(if self.cr4 & CR4_OSXMMEXCPT != 0 { Event::Fault { vector: XM, error: None } } else { Event::ud() });
        }
        self.mxcsr |= flags;
        Ok(())
    }

    fn sse_enabled(&self) -> Res {
        if self.cr0 & CR0_EM != 0 || self.cr4 & CR4_OSFXSR == 0 {
            return Err(Event::ud());
        }
        if self.cr0 & CR0_TS != 0 {
            return Err(Event::nm());
        }
        Ok(())
    }

    /// Execute an SSE/SSE2 instruction; `None` if `i` is not one.
    pub(crate) fn sse<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Option<Res> {
        if !is_sse(i) {
            return None;
        }
        Some(self.sse_enabled().and_then(|_| self.sse_exec(bus, i)))
    }

    fn sse_exec<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        match i.mnem {
            M::Movaps | M::Movups | M::Movapd | M::Movupd | M::Movdqa | M::Movdqu | M::Movntps | M::Movntpd
            | M::Movntdq | M::Lddqu | M::Movntdqa => {
                let v = self.xsrc(bus, i, 1)?;
                self.xdst(bus, i, 0, v)
            }
            M::Movnti => {
                let v = self.op_read(bus, i, 1)?;
                self.op_write(bus, i, 0, v)
            }
            M::Movd | M::Movq => self.movd_q(bus, i),
            M::Movss | M::Movsd => self.mov_scalar(bus, i),
            M::Movhps | M::Movhpd | M::Movlps | M::Movlpd | M::Movhlps | M::Movlhps => self.mov_half(bus, i),
            M::Movmskps | M::Movmskpd => {
                let v = self.xreg(i, 1);
                let r = if i.mnem == M::Movmskps {
                    (0..4).fold(0u64, |acc, k| acc | (((v >> (32 * k + 31)) & 1) as u64) << k)
                } else {
                    (((v >> 63) & 1) | ((v >> 126) & 2)) as u64
                };
                self.gpr_set(i.ops[0].reg, i.ops[0].size.max(4), r);
                Ok(())
            }
            M::Andps | M::Andpd | M::Andnps | M::Andnpd | M::Orps | M::Orpd | M::Xorps | M::Xorpd => {
                let a = self.xreg(i, 0);
                let b = self.xsrc(bus, i, 1)?;
                self.xmm[i.ops[0].reg as usize & 15] = match i.mnem {
                    M::Andps | M::Andpd => a & b,
                    M::Andnps | M::Andnpd => !a & b,
                    M::Orps | M::Orpd => a | b,
                    _ => a ^ b,
                };
                Ok(())
            }
            M::Shufps => {
                let a = self.xreg(i, 0);
                let b = self.xsrc(bus, i, 1)?;
                let imm = i.imm as u32;
                let l = |v: u128, k: u32| (v >> (32 * k)) as u32 as u128;
                let r = l(a, imm & 3) | l(a, (imm >> 2) & 3) << 32 | l(b, (imm >> 4) & 3) << 64 | l(b, (imm >> 6) & 3) << 96;
                self.xmm[i.ops[0].reg as usize & 15] = r;
                Ok(())
            }
            M::Shufpd => {
                let a = self.xreg(i, 0);
                let b = self.xsrc(bus, i, 1)?;
                let lo = if i.imm & 1 != 0 { a >> 64 } else { a & u64::MAX as u128 };
                let hi = if i.imm & 2 != 0 { b >> 64 } else { b & u64::MAX as u128 };
                self.xmm[i.ops[0].reg as usize & 15] = lo | hi << 64;
                Ok(())
            }
            M::Unpcklps | M::Unpckhps | M::Unpcklpd | M::Unpckhpd => {
                let a = self.xreg(i, 0);
                let b = self.xsrc(bus, i, 1)?;
                let r = match i.mnem {
                    M::Unpcklpd => (a & u64::MAX as u128) | b << 64,
                    M::Unpckhpd => a >> 64 | (b >> 64) << 64,
                    M::Unpcklps => int::interleave(a, b, 32, false),
                    _ => int::interleave(a, b, 32, true),
                };
                self.xmm[i.ops[0].reg as usize & 15] = r;
                Ok(())
            }
            M::Ldmxcsr => {
                let a = self.ea(i);
                let v = self.read_mem(bus, a, 4)? as u32;
                if v & !MXCSR_MASK != 0 {
                    return Err(Event::gp(0));
                }
                self.mxcsr = v;
                Ok(())
            }
            M::Stmxcsr => {
                let a = self.ea(i);
                self.write_mem(bus, a, 4, self.mxcsr as u64)
            }
            M::Fxsave | M::Fxsave64 => self.fxsave(bus, i),
            M::Fxrstor | M::Fxrstor64 => self.fxrstor(bus, i),
            _ => {
                if let Some(r) = self.sse_int(bus, i) {
                    return r;
                }
                if let Some(r) = self.sse_fp(bus, i) {
                    return r;
                }
                Err(Event::ud())
            }
        }
    }

    /// MOVD/MOVQ between XMM, GPR and memory (zero-extending into XMM).
    fn movd_q<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let (d, s) = (i.ops[0], i.ops[1]);
        if d.kind == Kind::Xmm {
            let v = self.xsrc(bus, i, 1)?;
            let size = if s.kind == Kind::Xmm { 8 } else { s.size };
            let m = if size >= 8 { u64::MAX as u128 } else { (1u128 << (size * 8)) - 1 };
            self.xmm[d.reg as usize & 15] = v & m;
            Ok(())
        } else {
            let v = self.xreg(i, 1);
            self.xdst(bus, i, 0, v & u64::MAX as u128)
        }
    }

    /// MOVSS/MOVSD: register-register merges the low element; a load zeroes
    /// the rest; a store writes the low element.
    fn mov_scalar<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let w = if i.mnem == M::Movss { 32 } else { 64 };
        let m = (1u128 << w) - 1;
        match (i.ops[0].kind, i.ops[1].kind) {
            (Kind::Xmm, Kind::Xmm) => {
                let a = self.xreg(i, 0);
                let b = self.xreg(i, 1);
                self.xmm[i.ops[0].reg as usize & 15] = (a & !m) | (b & m);
                Ok(())
            }
            (Kind::Xmm, Kind::Mem) => {
                let v = self.xsrc(bus, i, 1)?;
                self.xmm[i.ops[0].reg as usize & 15] = v & m;
                Ok(())
            }
            _ => {
                let v = self.xreg(i, 1) & m;
                self.xdst(bus, i, 0, v)
            }
        }
    }

    fn mov_half<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let lo = u64::MAX as u128;
        match i.mnem {
            M::Movhlps => {
                let a = self.xreg(i, 0);
                let b = self.xreg(i, 1);
                self.xmm[i.ops[0].reg as usize & 15] = (a & !lo) | (b >> 64);
                Ok(())
            }
            M::Movlhps => {
                let a = self.xreg(i, 0);
                let b = self.xreg(i, 1);
                self.xmm[i.ops[0].reg as usize & 15] = (a & lo) | (b << 64);
                Ok(())
            }
            _ => {
                let high = matches!(i.mnem, M::Movhps | M::Movhpd);
                if i.ops[0].kind == Kind::Xmm {
                    let v = self.xsrc(bus, i, 1)? & lo;
                    let a = self.xreg(i, 0);
                    self.xmm[i.ops[0].reg as usize & 15] = if high { (a & lo) | v << 64 } else { (a & !lo) | v };
                    Ok(())
                } else {
                    let x = self.xreg(i, 1);
                    self.xdst(bus, i, 0, if high { x >> 64 } else { x & lo })
                }
            }
        }
    }

    /// FXSAVE (SDM vol. 1 §10.5.1, table 10-2; 64-bit layout).
    fn fxsave<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let a = self.ea(i);
        if a & 15 != 0 {
            return Err(Event::gp(0));
        }
        let mut img = [0u8; 512];
        let f = &self.fpu;
        img[0..2].copy_from_slice(&f.cw.to_le_bytes());
        img[2..4].copy_from_slice(&f.status().to_le_bytes());
        img[4] = f.tag;
        img[6..8].copy_from_slice(&f.fop.to_le_bytes());
        img[8..16].copy_from_slice(&f.fip.to_le_bytes());
        img[16..24].copy_from_slice(&f.fdp.to_le_bytes());
        img[24..28].copy_from_slice(&self.mxcsr.to_le_bytes());
        img[28..32].copy_from_slice(&MXCSR_MASK.to_le_bytes());
        for k in 0..8 {
            // ST(k) in stack order.
            let phys = (f.top as usize + k) & 7;
            img[32 + 16 * k..][..10].copy_from_slice(&f.reg_bytes(phys));
        }
        for k in 0..16 {
            img[160 + 16 * k..][..16].copy_from_slice(&self.xmm[k].to_le_bytes());
        }
        self.translate(bus, a, super::mmu::Access::Write)?;
        self.translate(bus, a + 511, super::mmu::Access::Write)?;
        for (k, c) in img.chunks(8).enumerate() {
            self.write_mem(bus, a + 8 * k as u64, 8, u64::from_le_bytes(c.try_into().unwrap()))?;
        }
        Ok(())
    }

    fn fxrstor<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let a = self.ea(i);
        if a & 15 != 0 {
            return Err(Event::gp(0));
        }
        let mut img = [0u8; 512];
        for k in 0..64 {
            let v = self.read_mem(bus, a + 8 * k as u64, 8)?;
            img[8 * k..8 * k + 8].copy_from_slice(&v.to_le_bytes());
        }
        let mxcsr = u32::from_le_bytes(img[24..28].try_into().unwrap());
        if mxcsr & !MXCSR_MASK != 0 {
            return Err(Event::gp(0));
        }
        self.mxcsr = mxcsr;
        let f = &mut self.fpu;
        f.cw = u16::from_le_bytes([img[0], img[1]]);
        let sw = u16::from_le_bytes([img[2], img[3]]);
        f.top = ((sw >> 11) & 7) as u8;
        f.sw = sw & !0x3800;
        f.tag = img[4];
        f.fop = u16::from_le_bytes([img[6], img[7]]);
        f.fip = u64::from_le_bytes(img[8..16].try_into().unwrap());
        f.fdp = u64::from_le_bytes(img[16..24].try_into().unwrap());
        for k in 0..8 {
            let phys = (f.top as usize + k) & 7;
            let mut b = [0u8; 10];
            b.copy_from_slice(&img[32 + 16 * k..][..10]);
            f.set_reg_bytes(phys, b);
        }
        for k in 0..16 {
            self.xmm[k] = u128::from_le_bytes(img[160 + 16 * k..][..16].try_into().unwrap());
        }
        Ok(())
    }
}

/// Forms that accept unaligned 16-byte memory operands.
fn unaligned_ok(m: M) -> bool {
    matches!(m, M::Movups | M::Movupd | M::Movdqu | M::Lddqu)
}

/// Does this instruction belong to the SSE unit (needs CR0/CR4 checks)?
fn is_sse(i: &Insn) -> bool {
    i.ops[..i.nops as usize].iter().any(|o| o.kind == Kind::Xmm)
        || matches!(
            i.mnem,
            M::Ldmxcsr | M::Stmxcsr | M::Fxsave | M::Fxsave64 | M::Fxrstor | M::Fxrstor64 | M::Movnti
                | M::Cvtsd2si | M::Cvttsd2si | M::Cvtss2si | M::Cvttss2si
        )
}
