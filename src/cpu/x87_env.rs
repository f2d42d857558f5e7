//! The x87 environment and state images (SDM vol. 1 §8.1.10, figures
//! 8-9 and 8-10): FNSTENV/FLDENV and FNSAVE/FRSTOR in the 32-bit
//! protected-mode layout.

use iced_x86::Mnemonic as M;

use super::bus::Bus;
use super::decode::Insn;
use super::exception::Res;
use super::fpu::Fpu;
use super::state::Cpu;

impl Cpu {
    /// FNSTENV/FLDENV/FNSAVE/FRSTOR, 32-bit protected-mode layout (28 bytes
    /// of environment, then 8 x 10-byte registers for FNSAVE/FRSTOR).
    pub(super) fn x87_env<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let a = self.ea(i);
        let save = matches!(i.mnem, M::Fnstenv | M::Fnsave);
        let full = matches!(i.mnem, M::Fnsave | M::Frstor);
        if save {
            let tw = self.full_tag_word();
            let words = [
                self.fpu.cw as u32 | 0xffff_0000,
                self.fpu.status() as u32 | 0xffff_0000,
                tw as u32 | 0xffff_0000,
                self.fpu.fip as u32,
                0,
                self.fpu.fdp as u32,
                0,
            ];
            for (k, w) in words.iter().enumerate() {
                self.write_mem(bus, a.wrapping_add(4 * k as u64), 4, *w as u64)?;
            }
            if full {
                for k in 0..8u64 {
                    let raw = self.fpu.regs[(self.fpu.top as usize + k as usize) & 7];
                    self.write_m80(bus, a.wrapping_add(28 + 10 * k), raw)?;
                }
                self.fpu = Fpu::default();
            } else {
                // FNSTENV masks all exceptions afterwards.
                self.fpu.cw |= 0x3f;
            }
        } else {
            let cw = self.read_mem(bus, a, 2)? as u16;
            let sw = self.read_mem(bus, a.wrapping_add(4), 2)? as u16;
            let tw = self.read_mem(bus, a.wrapping_add(8), 2)? as u16;
            self.fpu.cw = cw;
            self.fpu.top = ((sw >> 11) & 7) as u8;
            self.fpu.sw = sw & !0x3800;
            self.fpu.tag = (0..8).fold(0u8, |t, p| t | (((tw >> (2 * p)) & 3 != 3) as u8) << p);
            if full {
                for k in 0..8u64 {
                    let raw = self.read_m80(bus, a.wrapping_add(28 + 10 * k))?;
                    self.fpu.regs[(self.fpu.top as usize + k as usize) & 7] = raw;
                }
            }
        }
        Ok(())
    }

    /// The full 2-bit-per-register tag word (valid/zero/special/empty).
    fn full_tag_word(&self) -> u16 {
        (0..8).fold(0u16, |tw, p| {
            let t = if self.fpu.tag & (1 << p) == 0 {
                3
            } else {
                let raw = self.fpu.regs[p];
                let exp = u16::from_le_bytes([raw[8], raw[9]]) & 0x7fff;
                let mant = u64::from_le_bytes(raw[..8].try_into().unwrap());
                if exp == 0 && mant == 0 {
                    1
                } else if exp == 0x7fff || exp == 0 || mant >> 63 == 0 {
                    2
                } else {
                    0
                }
            };
            tw | t << (2 * p)
        })
    }
}
