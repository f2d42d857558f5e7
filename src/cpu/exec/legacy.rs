//! Instructions that only exist outside 64-bit mode and therefore only run
//! in compatibility mode (the 64-bit decoder rejects their encodings, so
//! they raise #UD there): PUSHA/POPA, the BCD adjustments AAA/AAS/DAA/DAS/
//! AAM/AAD, BOUND, INTO, ARPL, SALC, LDS/LES; plus the far-pointer loads
//! LSS/LFS/LGS valid in both modes (SDM vol. 2, per instruction).

use iced_x86::Mnemonic;

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind};
use crate::cpu::exception::{Event, Res, BR, OF as OF_VECTOR};
use crate::cpu::flags::{parity, AF, CF, OF, PF, SF, ZF};
use crate::cpu::state::{Cpu, DS, ES, FS, GS, RAX, SS};

impl Cpu {
    pub(crate) fn legacy<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Option<Res> {
        Some(match i.mnem {
            Mnemonic::Pusha | Mnemonic::Pushad => self.pusha(bus, i),
            Mnemonic::Popa | Mnemonic::Popad => self.popa(bus, i),
            Mnemonic::Daa | Mnemonic::Das => self.decimal_adjust(i.mnem == Mnemonic::Das),
            Mnemonic::Aaa | Mnemonic::Aas => self.ascii_adjust(i.mnem == Mnemonic::Aas),
            Mnemonic::Aam => self.aam(i.imm as u8),
            Mnemonic::Aad => self.aad(i.imm as u8),
            Mnemonic::Bound => self.bound(bus, i),
            Mnemonic::Into => {
                if self.cc.of() {
                    Err(Event::Soft { vector: OF_VECTOR })
                } else {
                    Ok(())
                }
            }
            Mnemonic::Arpl => self.arpl(bus, i),
            Mnemonic::Salc => {
                let v = if self.cc.cf() { 0xff } else { 0 };
                self.gpr_set(RAX as u8, 1, v);
                Ok(())
            }
            Mnemonic::Lds | Mnemonic::Les | Mnemonic::Lss | Mnemonic::Lfs | Mnemonic::Lgs => {
                self.load_far_pointer(bus, i)
            }
            _ => return None,
        })
    }

    /// PUSHA/PUSHAD: AX CX DX BX (original SP) BP SI DI. All eight slots
    /// are written before the stack pointer moves, so a fault leaves it.
    fn pusha<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let osz = i.osz;
        let sp = self.sp();
        for r in 0..8u8 {
            let v = self.gpr_get(r, osz);
            let at = sp.wrapping_sub((r as u64 + 1) * osz as u64);
            self.write_mem(bus, self.stack_addr(at, osz), osz, v)?;
        }
        self.set_sp(sp.wrapping_sub(8 * osz as u64));
        Ok(())
    }

    /// POPA/POPAD: the reverse order; the saved SP slot is skipped.
    fn popa<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let osz = i.osz;
        let sp = self.sp();
        let mut vals = [0u64; 8];
        for (k, v) in vals.iter_mut().enumerate() {
            *v = self.read_mem(
                bus,
                self.stack_addr(sp.wrapping_add(k as u64 * osz as u64), osz),
                osz,
            )?;
        }
        for (k, v) in vals.iter().enumerate() {
            let r = 7 - k as u8;
            if r != 4 {
                self.gpr_set(r, osz, *v);
            }
        }
        self.set_sp(sp.wrapping_add(8 * osz as u64));
        Ok(())
    }

    /// Status flags from AL with the given CF/AF (and OF cleared: the SDM
    /// leaves it undefined for these instructions).
    fn flags_from_al(&mut self, cf: bool, af: bool) {
        let al = self.gpr[RAX] & 0xff;
        let mut f = 0;
        if cf {
            f |= CF;
        }
        if af {
            f |= AF;
        }
        if al == 0 {
            f |= ZF;
        }
        if al & 0x80 != 0 {
            f |= SF;
        }
        if parity(al) {
            f |= PF;
        }
        self.cc.set_all(f & !OF);
    }

    /// DAA/DAS (SDM vol. 2 "DAA", "DAS").
    fn decimal_adjust(&mut self, sub: bool) -> Res {
        let old_al = (self.gpr[RAX] & 0xff) as u8;
        let old_cf = self.cc.cf();
        let mut al = old_al;
        let mut cf = false;
        let mut af = false;
        if al & 0xf > 9 || self.cc.af() {
            af = true;
            if sub {
                cf = old_cf || al < 6;
                al = al.wrapping_sub(6);
            } else {
                cf = old_cf || al > 0xf9;
                al = al.wrapping_add(6);
            }
        }
        if old_al > 0x99 || old_cf {
            al = if sub {
                al.wrapping_sub(0x60)
            } else {
                al.wrapping_add(0x60)
            };
            cf = true;
        }
        self.gpr_set(RAX as u8, 1, al as u64);
        self.flags_from_al(cf, af);
        Ok(())
    }

    /// AAA/AAS (SDM vol. 2 "AAA", "AAS"): AX is adjusted as a whole.
    fn ascii_adjust(&mut self, sub: bool) -> Res {
        let ax = self.gpr[RAX] & 0xffff;
        let adjust = ax & 0xf > 9 || self.cc.af();
        let ax = if !adjust {
            ax
        } else if sub {
            ax.wrapping_sub(6).wrapping_sub(0x100)
        } else {
            ax.wrapping_add(0x106)
        };
        self.gpr_set(RAX as u8, 2, ax & 0xff0f);
        self.flags_from_al(adjust, adjust);
        Ok(())
    }

    fn aam(&mut self, base: u8) -> Res {
        if base == 0 {
            return Err(Event::de());
        }
        let al = (self.gpr[RAX] & 0xff) as u8;
        self.gpr_set(RAX as u8, 2, ((al / base) as u64) << 8 | (al % base) as u64);
        self.flags_from_al(false, false);
        Ok(())
    }

    fn aad(&mut self, base: u8) -> Res {
        let ax = self.gpr[RAX];
        let al = ((ax & 0xff) as u8).wrapping_add(((ax >> 8) as u8).wrapping_mul(base));
        self.gpr_set(RAX as u8, 2, al as u64);
        self.flags_from_al(false, false);
        Ok(())
    }

    /// BOUND r, m: #BR unless lower <= r <= upper (signed).
    fn bound<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let size = i.ops[0].size;
        let a = self.ea(i);
        let sext = |v: u64| {
            if size == 2 {
                v as i16 as i64
            } else {
                v as i32 as i64
            }
        };
        let lower = sext(self.read_mem(bus, a, size)?);
        let upper = sext(self.read_mem(bus, a.wrapping_add(size as u64) & self.addr_mask, size)?);
        let idx = sext(self.gpr_get(i.ops[0].reg, size));
        if idx < lower || idx > upper {
            return Err(Event::Fault {
                vector: BR,
                error: None,
            });
        }
        Ok(())
    }

    /// ARPL r/m16, r16: raise the destination selector's RPL to the source's.
    fn arpl<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let dst = self.op_read(bus, i, 0)?;
        let src = self.op_read(bus, i, 1)?;
        let f = self.cc.get() & !ZF;
        if dst & 3 < src & 3 {
            self.op_write(bus, i, 0, (dst & !3) | (src & 3))?;
            self.cc.set_all(f | ZF);
        } else {
            self.cc.set_all(f);
        }
        Ok(())
    }

    /// LDS/LES/LSS/LFS/LGS r, m16:16/m16:32/m16:64: offset then selector.
    fn load_far_pointer<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        if i.ops[1].kind != Kind::Mem {
            return Err(Event::ud());
        }
        let size = i.ops[0].size;
        let a = self.ea(i);
        let offset = self.read_mem(bus, a, size)?;
        let sel = self.read_mem(bus, a.wrapping_add(size as u64) & self.addr_mask, 2)? as u16;
        let seg = match i.mnem {
            Mnemonic::Lds => DS,
            Mnemonic::Les => ES,
            Mnemonic::Lss => SS,
            Mnemonic::Lfs => FS,
            _ => GS,
        };
        self.load_segment(bus, seg, sel)?;
        self.gpr_set(i.ops[0].reg, size, offset);
        Ok(())
    }
}
