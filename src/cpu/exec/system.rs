//! System instructions: control/debug registers, MSRs, descriptor tables,
//! segment loads, SYSCALL/SYSRET, IRETQ, far returns, port I/O, HLT/CLI/STI,
//! RDTSC (SDM vol. 2 per instruction, vol. 3 ch. 2, 5, 6).

use iced_x86::Mnemonic;

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind};
use crate::cpu::exception::{Event, Res, GP, NP, SS_FAULT};
use crate::cpu::flags;
use crate::cpu::state::*;

const CR4_TSD: u64 = 1 << 2;
const CR4_DE: u64 = 1 << 3;
/// CR4 bits we accept: VME..PGE, OSFXSR, OSXMMEXCPT, FSGSBASE is not
/// advertised so it is refused.
const CR4_ALLOWED: u64 = 0x7ff & !1 | (1 << 9) | (1 << 10);

impl Cpu {
    #[inline]
    pub(crate) fn require_cpl0(&self) -> Res {
        if self.cpl != 0 {
            return Err(Event::gp(0));
        }
        Ok(())
    }

    /// Port I/O permission: CPL <= IOPL, or the TSS I/O permission bitmap
    /// clears every bit of `port..port+size` (SDM vol. 1 §19.5).
    pub(crate) fn check_io_privilege<B: Bus>(&mut self, bus: &mut B, port: u16, size: u8) -> Res {
        let iopl = ((self.rflags & flags::IOPL) >> 12) as u8;
        if self.cpl <= iopl {
            return Ok(());
        }
        let limit = self.tr.limit as u64;
        if limit < 0x67 {
            return Err(Event::gp(0));
        }
        let base = self.read_sys_u64(bus, self.tr.base.wrapping_add(0x60))? >> 48;
        let at = base + port as u64 / 8;
        if at + 1 > limit {
            return Err(Event::gp(0));
        }
        let bits = self.read_sys_u64(bus, self.tr.base.wrapping_add(at))? & 0xffff;
        let mask = ((1u64 << size) - 1) << (port % 8);
        if bits & mask != 0 {
            return Err(Event::gp(0));
        }
        Ok(())
    }

    /// Load a data segment register (MOV/POP/LxS; SDM vol. 2 "MOV",
    /// vol. 3 §5.4.1 and §5.7): type and privilege checks, then the hidden
    /// base/limit/attributes from the descriptor. A null selector is
    /// accepted for DS/ES/FS/GS (and for SS in 64-bit mode below CPL 3).
    pub(crate) fn load_segment<B: Bus>(&mut self, bus: &mut B, seg: usize, sel: u16) -> Res {
        if seg == CS {
            return Err(Event::ud());
        }
        let rpl = (sel & 3) as u8;
        if sel & !3 == 0 {
            if seg == SS && (self.compat || self.cpl == 3 || rpl != self.cpl) {
                return Err(Event::gp(0));
            }
            self.seg[seg] = Segment {
                selector: sel,
                base: 0,
                limit: 0,
                attr: 0,
            };
        } else {
            let d = self.read_descriptor(bus, sel)?;
            let system = d & (1 << 44) == 0;
            let ty = (d >> 40) & 0xf;
            let code = ty & 8 != 0;
            let dpl = ((d >> 45) & 3) as u8;
            let allowed = if seg == SS {
                // A writable data segment at exactly the current privilege.
                !system && !code && ty & 2 != 0 && rpl == self.cpl && dpl == self.cpl
            } else {
                let readable = !code || ty & 2 != 0;
                let conforming_code = code && ty & 4 != 0;
                !system && readable && (conforming_code || dpl >= self.cpl.max(rpl))
            };
            if !allowed {
                return Err(Event::gp(sel as u32 & !3));
            }
            if d & (1 << 47) == 0 {
                let v = if seg == SS { SS_FAULT } else { NP };
                return Err(Event::Fault {
                    vector: v,
                    error: Some(sel as u32 & !3),
                });
            }
            self.seg[seg] = descriptor_cache(sel, d);
        }
        if seg == SS {
            self.int_shadow = true;
        }
        self.stop_block = true;
        Ok(())
    }

    pub(crate) fn mov_cr_dr(&mut self, i: &Insn) -> Res {
        self.require_cpl0()?;
        let (dst, src) = (i.ops[0], i.ops[1]);
        if dst.kind == Kind::Gpr {
            let v = match src.kind {
                Kind::Cr => match src.reg {
                    0 => self.cr0,
                    2 => self.cr2,
                    3 => self.cr3,
                    4 => self.cr4,
                    8 => self.cr8,
                    _ => return Err(Event::ud()),
                },
                _ => {
                    let n = self.debug_register_access(src.reg)?;
                    self.dr[n]
                }
            };
            self.gpr[dst.reg as usize & 15] = v;
            return Ok(());
        }
        let v = self.gpr[src.reg as usize & 15];
        if dst.kind == Kind::Cr {
            match dst.reg {
                0 => {
                    if v >> 32 != 0 || (v & CR0_PG != 0 && v & CR0_PE == 0) {
                        return Err(Event::gp(0));
                    }
                    let changed = self.cr0 ^ v;
                    self.cr0 = v | CR0_ET;
                    if changed & (CR0_PG | CR0_WP | CR0_PE) != 0 {
                        self.flush_tlb();
                    }
                }
                2 => self.cr2 = v,
                3 => {
                    self.cr3 = v & 0x000f_ffff_ffff_f000 | (v & 0x18);
                    self.flush_tlb();
                }
                4 => {
                    if v & !CR4_ALLOWED != 0 {
                        return Err(Event::gp(0));
                    }
                    self.cr4 = v;
                    self.flush_tlb();
                }
                8 => self.cr8 = v & 15,
                _ => return Err(Event::ud()),
            }
        } else {
            let n = self.debug_register_access(dst.reg)?;
            if n >= 6 && v >> 32 != 0 {
                return Err(Event::gp(0));
            }
            match n {
                6 => self.dr[6] = (v & 0xe00f) | 0xffff_0ff0,
                7 => self.dr[7] = (v & !0xd800) | 0x400,
                _ => self.dr[n] = v,
            }
            if n != 6 {
                self.debug_registers_changed();
            }
        }
        self.stop_block = true;
        Ok(())
    }

    /// Which debug register a MOV DR names (SDM vol. 2 "MOV—Move to/from
    /// Debug Registers"): DR4/DR5 alias DR6/DR7 unless CR4.DE makes them
    /// #UD; with DR7.GD set the access is a #DB fault with DR6.BD.
    fn debug_register_access(&mut self, reg: u8) -> Res<usize> {
        let n = match reg {
            0..=3 | 6 | 7 => reg as usize,
            4 | 5 if self.cr4 & CR4_DE == 0 => reg as usize + 2,
            _ => return Err(Event::ud()),
        };
        if self.dr[7] & crate::cpu::debug::DR7_GD != 0 {
            self.dr[7] &= !crate::cpu::debug::DR7_GD;
            self.dr[6] |= crate::cpu::debug::DR6_BD;
            return Err(Event::db());
        }
        Ok(n)
    }

    pub(crate) fn rdmsr_value(&self, msr: u32) -> Option<u64> {
        let m = &self.msr;
        Some(match msr {
            0x10 => self.tsc(),
            0x1b => m.apic_base,
            0x8b => 0,
            0xfe => 0x508, // MTRRCAP: 8 variable ranges, fixed ranges, WC
            0x174 => m.sysenter_cs,
            0x175 => m.sysenter_esp,
            0x176 => m.sysenter_eip,
            0x1a0 => m.misc_enable,
            0x200..=0x20f | 0x250 | 0x258 | 0x259 | 0x268..=0x26f => {
                *m.mtrr.get(&msr).unwrap_or(&0)
            }
            0x277 => m.pat,
            0x2ff => m.mtrr_def_type,
            0xc000_0080 => self.efer,
            0xc000_0081 => m.star,
            0xc000_0082 => m.lstar,
            0xc000_0083 => m.cstar,
            0xc000_0084 => m.sfmask,
            0xc000_0100 => self.seg[FS].base,
            0xc000_0101 => self.seg[GS].base,
            0xc000_0102 => m.kernel_gs_base,
            0xc000_0103 => m.tsc_aux,
            _ => return None,
        })
    }

    /// WRMSR semantics; `Err` is #GP(0) for unknown MSRs or bad values.
    pub(crate) fn wrmsr_value(&mut self, msr: u32, v: u64) -> Res {
        let canon = |v: u64| ((v as i64) << 16 >> 16) as u64 == v;
        let m = &mut self.msr;
        match msr {
            0x10 => m.tsc_offset = v.wrapping_sub(self.icount),
            0x1b => m.apic_base = v,
            0x8b => {}
            0x174 => m.sysenter_cs = v,
            0x175 => m.sysenter_esp = v,
            0x176 => m.sysenter_eip = v,
            0x1a0 => m.misc_enable = v,
            0x200..=0x20f | 0x250 | 0x258 | 0x259 | 0x268..=0x26f => {
                m.mtrr.insert(msr, v);
            }
            0x277 => m.pat = v,
            0x2ff => m.mtrr_def_type = v,
            0xc000_0080 => {
                if v & !(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE) != 0 {
                    return Err(Event::gp(0));
                }
                // LMA is read-only: it follows LME once paging is on.
                let nv = (v & !EFER_LMA) | (self.efer & EFER_LMA);
                if (nv ^ self.efer) & EFER_NXE != 0 {
                    self.flush_tlb();
                }
                self.efer = nv;
            }
            0xc000_0081 => m.star = v,
            0xc000_0082 | 0xc000_0083 | 0xc000_0100 | 0xc000_0101 | 0xc000_0102 if !canon(v) => {
                return Err(Event::gp(0))
            }
            0xc000_0082 => m.lstar = v,
            0xc000_0083 => m.cstar = v,
            0xc000_0084 => m.sfmask = v & 0xffff_ffff,
            0xc000_0100 => self.seg[FS].base = v,
            0xc000_0101 => self.seg[GS].base = v,
            0xc000_0102 => m.kernel_gs_base = v,
            0xc000_0103 => m.tsc_aux = v & 0xffff_ffff,
            _ => {
                log::debug!("wrmsr to unknown MSR {msr:#x} = {v:#x}");
                return Err(Event::gp(0));
            }
        }
        Ok(())
    }

    pub(crate) fn system<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        match i.mnem {
            Mnemonic::Cpuid => {
                let (leaf, subleaf) = (self.gpr[RAX] as u32, self.gpr[RCX] as u32);
                let (a, b, c, d) = self.cpuid(leaf, subleaf);
                let [a, b, c, d] = bus.cpuid(leaf, subleaf, [a, b, c, d]);
                self.gpr[RAX] = a as u64;
                self.gpr[RBX] = b as u64;
                self.gpr[RCX] = c as u64;
                self.gpr[RDX] = d as u64;
            }
            Mnemonic::Rdtsc | Mnemonic::Rdtscp => {
                if self.cr4 & CR4_TSD != 0 && self.cpl != 0 {
                    return Err(Event::gp(0));
                }
                let t = self.tsc();
                self.gpr[RAX] = t & 0xffff_ffff;
                self.gpr[RDX] = t >> 32;
                if i.mnem == Mnemonic::Rdtscp {
                    self.gpr[RCX] = self.msr.tsc_aux & 0xffff_ffff;
                }
            }
            Mnemonic::Rdmsr => {
                self.require_cpl0()?;
                let msr = self.gpr[RCX] as u32;
                let v = bus.read_msr(msr).or_else(|| self.rdmsr_value(msr)).ok_or_else(|| {
                    log::debug!("rdmsr of unknown MSR {msr:#x}");
                    Event::gp(0)
                })?;
                self.gpr[RAX] = v & 0xffff_ffff;
                self.gpr[RDX] = v >> 32;
            }
            Mnemonic::Wrmsr => {
                self.require_cpl0()?;
                let v = (self.gpr[RDX] & 0xffff_ffff) << 32 | (self.gpr[RAX] & 0xffff_ffff);
                let msr = self.gpr[RCX] as u32;
                self.stop_block = true;
                if bus.write_msr(msr, v).is_some() {
                    return Err(Event::Exit(Exit::Budget));
                }
                self.wrmsr_value(msr, v)?;
            }
            Mnemonic::Hlt => {
                self.require_cpl0()?;
                self.halted = true;
                self.stop_block = true;
            }
            Mnemonic::Cli | Mnemonic::Sti => {
                let iopl = ((self.rflags & flags::IOPL) >> 12) as u8;
                if self.cpl > iopl {
                    return Err(Event::gp(0));
                }
                if i.mnem == Mnemonic::Cli {
                    self.rflags &= !flags::IF;
                } else {
                    if self.rflags & flags::IF == 0 {
                        self.int_shadow = true;
                    }
                    self.rflags |= flags::IF;
                }
                self.stop_block = true;
            }
            Mnemonic::Int => {
                return Err(Event::Soft {
                    vector: i.imm as u8,
                })
            }
            Mnemonic::Int3 => return Err(Event::Soft { vector: 3 }),
            Mnemonic::Int1 => return Err(Event::Soft { vector: 1 }),
            Mnemonic::Syscall => return self.syscall(),
            Mnemonic::Sysret | Mnemonic::Sysretq => return self.sysret(i),
            Mnemonic::Iret | Mnemonic::Iretd | Mnemonic::Iretq => return self.iret(bus, i),
            Mnemonic::Retf => return self.retf(bus, i),
            Mnemonic::Swapgs => {
                self.require_cpl0()?;
                std::mem::swap(&mut self.seg[GS].base, &mut self.msr.kernel_gs_base);
            }
            Mnemonic::Lgdt | Mnemonic::Lidt => {
                self.require_cpl0()?;
                let a = self.ea(i);
                let limit = self.read_mem(bus, a, 2)? as u16;
                let base = self.read_mem(bus, a.wrapping_add(2), 8)?;
                let t = TableReg { base, limit };
                if i.mnem == Mnemonic::Lgdt {
                    self.gdtr = t;
                } else {
                    self.idtr = t;
                }
            }
            Mnemonic::Sgdt | Mnemonic::Sidt => {
                let t = if i.mnem == Mnemonic::Sgdt {
                    self.gdtr
                } else {
                    self.idtr
                };
                let a = self.ea(i);
                self.write_mem(bus, a, 2, t.limit as u64)?;
                self.write_mem(bus, a.wrapping_add(2), 8, t.base)?;
            }
            Mnemonic::Lldt | Mnemonic::Ltr => {
                self.require_cpl0()?;
                let sel = self.op_read(bus, i, 0)? as u16;
                self.load_system_segment(bus, i.mnem == Mnemonic::Ltr, sel)?;
            }
            Mnemonic::Str => {
                let v = self.tr.selector as u64;
                self.op_write(bus, i, 0, v)?;
            }
            Mnemonic::Sldt => {
                let v = self.ldtr.selector as u64;
                self.op_write(bus, i, 0, v)?;
            }
            Mnemonic::Verr | Mnemonic::Verw | Mnemonic::Lar | Mnemonic::Lsl => {
                return self.check_selector(bus, i)
            }
            Mnemonic::Smsw => {
                let v = self.cr0 & 0xffff;
                self.op_write(bus, i, 0, v)?;
            }
            Mnemonic::Clts => {
                self.require_cpl0()?;
                self.cr0 &= !CR0_TS;
            }
            Mnemonic::Invlpg => {
                self.require_cpl0()?;
                let a = self.ea(i);
                self.tlb.flush_page(a);
                self.stop_block = true;
            }
            Mnemonic::Wbinvd | Mnemonic::Invd => self.require_cpl0()?,
            Mnemonic::Clflush | Mnemonic::Clflushopt => {
                // Faults like a byte read; no cache to flush.
                let a = self.ea(i);
                self.read_mem(bus, a, 1)?;
            }
            Mnemonic::In => {
                let size = i.ops[0].size;
                let port = if i.ops[1].kind == Kind::Imm {
                    i.imm as u16
                } else {
                    self.gpr[RDX] as u16
                };
                self.check_io_privilege(bus, port, size)?;
                let v = bus.io_in(port, size);
                self.gpr_set(RAX as u8, size, v as u64);
                self.note_io_access(port, size);
            }
            Mnemonic::Out => {
                let size = i.ops[1].size;
                let port = if i.ops[0].kind == Kind::Imm {
                    i.imm as u16
                } else {
                    self.gpr[RDX] as u16
                };
                self.check_io_privilege(bus, port, size)?;
                bus.io_out(port, size, self.gpr_get(RAX as u8, size) as u32);
                self.note_io_access(port, size);
            }
            _ => return Err(Event::ud()),
        }
        Ok(())
    }

    /// VERR/VERW/LAR/LSL (SDM vol. 2): ZF tells whether the selector is
    /// accessible at the current privilege; LAR/LSL also load its access
    /// rights or limit. Used by Linux (VERW clears CPU buffers on return to
    /// user mode; the vDSO's getcpu reads a segment limit with LSL).
    fn check_selector<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let src = if i.mnem == Mnemonic::Verr || i.mnem == Mnemonic::Verw {
            0
        } else {
            1
        };
        let sel = self.op_read(bus, i, src)? as u16;
        let f = self.cc.get() & !flags::ZF;
        let desc = if sel & !3 == 0 {
            None
        } else {
            let idx = (sel & !7) as u64;
            let (base, limit) = if sel & 4 != 0 {
                (self.ldtr.base, self.ldtr.limit as u64)
            } else {
                (self.gdtr.base, self.gdtr.limit as u64)
            };
            if idx + 7 > limit {
                None
            } else {
                Some(self.read_sys_u64(bus, base.wrapping_add(idx))?)
            }
        };
        let ok = desc.and_then(|d| {
            let s = d & (1 << 44) != 0;
            let ty = (d >> 40) & 0xf;
            let dpl = ((d >> 45) & 3) as u8;
            let code = s && ty & 8 != 0;
            let conforming = code && ty & 4 != 0;
            let priv_ok = conforming || dpl >= self.cpl.max((sel & 3) as u8);
            let valid = match i.mnem {
                Mnemonic::Verr => s && (!code || ty & 2 != 0),
                Mnemonic::Verw => s && !code && ty & 2 != 0,
                // LAR/LSL also accept LDT and TSS system descriptors (types
                // 2, 9, 11 in long mode).
                _ => s || matches!(ty, 2 | 9 | 11),
            };
            (valid && priv_ok).then_some(d)
        });
        match ok {
            Some(d) => {
                match i.mnem {
                    Mnemonic::Lar => {
                        let v = d >> 32 & 0x00f0_ff00;
                        self.op_write(bus, i, 0, v)?;
                    }
                    Mnemonic::Lsl => {
                        let mut limit = (d & 0xffff) | ((d >> 32) & 0xf_0000);
                        if d & (1 << 55) != 0 {
                            limit = (limit << 12) | 0xfff;
                        }
                        self.op_write(bus, i, 0, limit)?;
                    }
                    _ => {}
                }
                self.cc.set_all(f | flags::ZF);
            }
            None => self.cc.set_all(f),
        }
        Ok(())
    }

    /// LLDT/LTR: 16-byte system descriptors in IA-32e mode (SDM vol. 3 §7.2.3).
    fn load_system_segment<B: Bus>(&mut self, bus: &mut B, tss: bool, sel: u16) -> Res {
        if sel & !3 == 0 {
            if tss {
                return Err(Event::gp(0));
            }
            self.ldtr = Segment::default();
            return Ok(());
        }
        if sel & 4 != 0 {
            return Err(Event::gp(sel as u32 & !3));
        }
        let lo = self.read_descriptor(bus, sel)?;
        let hi = self.read_sys_u64(bus, self.gdtr.base.wrapping_add((sel & !7) as u64 + 8))?;
        let ty = (lo >> 40) & 0xf;
        if (tss && ty != 9) || (!tss && ty != 2) {
            return Err(Event::gp(sel as u32 & !3));
        }
        if lo & (1 << 47) == 0 {
            return Err(Event::Fault {
                vector: NP,
                error: Some(sel as u32 & !3),
            });
        }
        let base = ((lo >> 16) & 0xff_ffff) | ((lo >> 32) & 0xff00_0000) | (hi & 0xffff_ffff) << 32;
        let limit = ((lo & 0xffff) | ((lo >> 32) & 0xf_0000)) as u32;
        let s = Segment {
            selector: sel,
            base,
            limit,
            attr: ((lo >> 40) & 0xf0ff) as u16,
        };
        if tss {
            // Mark the TSS busy (type 9 -> 11).
            let cpl = self.cpl;
            self.cpl = 0;
            let r = self.write_mem(
                bus,
                self.gdtr.base.wrapping_add((sel & !7) as u64),
                8,
                lo | (2 << 40),
            );
            self.cpl = cpl;
            r?;
            self.tr = Segment {
                attr: s.attr | 2,
                ..s
            };
        } else {
            self.ldtr = s;
        }
        Ok(())
    }

    /// SYSCALL (SDM vol. 2): RCX = return RIP, R11 = RFLAGS, CS/SS from
    /// STAR[47:32], RFLAGS &= ~SFMASK, RIP = LSTAR (CSTAR when called from
    /// compatibility mode, AMD APM vol. 3 "SYSCALL").
    fn syscall(&mut self) -> Res {
        if self.efer & EFER_SCE == 0 {
            return Err(Event::ud());
        }
        if self.user_mode_syscalls {
            return Err(Event::Exit(Exit::Syscall));
        }
        self.gpr[RCX] = self.next_rip;
        self.gpr[11] = self.rflags() & !flags::RF;
        let f = self.rflags() & !(self.msr.sfmask | flags::RF);
        self.set_rflags(f);
        let sel = ((self.msr.star >> 32) & 0xfffc) as u16;
        self.seg[CS] = Segment {
            selector: sel,
            base: 0,
            limit: 0xffff_ffff,
            attr: 0xa09b,
        };
        self.seg[SS] = Segment {
            selector: sel.wrapping_add(8),
            base: 0,
            limit: 0xffff_ffff,
            attr: 0xc093,
        };
        self.cpl = 0;
        self.next_rip = if self.compat {
            self.msr.cstar
        } else {
            self.msr.lstar
        };
        Ok(())
    }

    /// SYSRET: back to CPL 3 with CS/SS from STAR[63:48].
    fn sysret(&mut self, i: &Insn) -> Res {
        if self.efer & EFER_SCE == 0 {
            return Err(Event::ud());
        }
        self.require_cpl0()?;
        let base = ((self.msr.star >> 48) & 0xffff) as u16;
        let to64 = i.mnem == Mnemonic::Sysretq;
        let target = if to64 {
            self.gpr[RCX]
        } else {
            self.gpr[RCX] & 0xffff_ffff
        };
        if ((target as i64) << 16 >> 16) as u64 != target {
            return Err(Event::gp(0));
        }
        let f = (self.gpr[11] & 0x3c_7fd7) | flags::FIXED1;
        self.set_rflags(f);
        let (cs_sel, attr) = if to64 {
            (base.wrapping_add(16) | 3, 0xa0fb)
        } else {
            (base | 3, 0xc0fb)
        };
        self.seg[CS] = Segment {
            selector: cs_sel,
            base: 0,
            limit: 0xffff_ffff,
            attr,
        };
        self.seg[SS] = Segment {
            selector: base.wrapping_add(8) | 3,
            base: 0,
            limit: 0xffff_ffff,
            attr: 0xc0f3,
        };
        self.cpl = 3;
        self.next_rip = target;
        Ok(())
    }

    /// The descriptor cache of a code segment for a selector (#GP if it
    /// is not a code segment, #NP if not present). A 64-bit segment has no
    /// base or limit; a compatibility-mode one keeps the descriptor's.
    fn code_segment<B: Bus>(&mut self, bus: &mut B, sel: u16) -> Res<Segment> {
        let d = self.read_descriptor(bus, sel)?;
        if d & (1 << 44) == 0 || d & (1 << 43) == 0 {
            return Err(Event::gp(sel as u32 & !3));
        }
        if d & (1 << 47) == 0 {
            return Err(Event::Fault {
                vector: NP,
                error: Some(sel as u32 & !3),
            });
        }
        let s = descriptor_cache(sel, d);
        if s.attr & Segment::ATTR_L != 0 {
            return Ok(Segment {
                base: 0,
                limit: 0xffff_ffff,
                ..s
            });
        }
        Ok(s)
    }

    /// Privilege rules of a far JMP/CALL/RET to a code segment (SDM vol. 3
    /// §5.8.1): a conforming segment needs DPL <= CPL, a nonconforming one
    /// DPL == CPL and RPL <= CPL. (Call gates: `call_gate.rs`.)
    fn far_target<B: Bus>(&mut self, bus: &mut B, sel: u16) -> Res<Segment> {
        let s = self.code_segment(bus, sel)?;
        let dpl = s.dpl();
        let conforming = s.attr & 4 != 0;
        let ok = if conforming {
            dpl <= self.cpl
        } else {
            dpl == self.cpl && (sel & 3) as u8 <= self.cpl
        };
        if !ok {
            return Err(Event::gp(sel as u32 & !3));
        }
        Ok(Segment {
            selector: (sel & !3) | self.cpl as u16,
            ..s
        })
    }

    /// Direct and indirect far JMP/CALL: to 64-bit or compatibility-mode
    /// code at the same privilege level, or through a call gate. The
    /// target offset must be within a compatibility-mode segment's limit.
    pub(crate) fn far_branch<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let (sel, offset) = if i.ops[0].kind == Kind::Far {
            ((i.imm >> 32) as u16, i.imm & 0xffff_ffff)
        } else {
            let a = self.ea(i);
            let off_size = i.osz;
            let offset = self.read_mem(bus, a, off_size)?;
            let sel =
                self.read_mem(bus, a.wrapping_add(off_size as u64) & self.addr_mask, 2)? as u16;
            (sel, offset)
        };
        let d = self.read_descriptor(bus, sel)?;
        if d & (1 << 44) == 0 {
            // A system descriptor: only a 64-bit call gate is valid.
            let call = i.mnem == Mnemonic::Call;
            return self.far_through_gate(bus, sel, d, call, self.next_rip);
        }
        let seg = self.far_target(bus, sel)?;
        let offset = if seg.attr & Segment::ATTR_L != 0 {
            offset
        } else {
            offset & 0xffff_ffff
        };
        check_code_limit(&seg, offset)?;
        if i.mnem == Mnemonic::Call {
            // Push CS then the return offset, both slots of the operand
            // size; committed only if both writes succeed.
            let sp = self.sp();
            let osz = i.osz as u64;
            let cs = self.seg[CS].selector as u64;
            self.write_mem(bus, self.stack_addr(sp.wrapping_sub(osz), i.osz), i.osz, cs)?;
            self.write_mem(
                bus,
                self.stack_addr(sp.wrapping_sub(2 * osz), i.osz),
                i.osz,
                self.next_rip,
            )?;
            self.set_sp(sp.wrapping_sub(2 * osz));
        }
        self.seg[CS] = seg;
        self.next_rip = offset;
        self.stop_block = true;
        Ok(())
    }

    /// IRET in IA-32e mode always pops RIP, CS, RFLAGS, RSP and SS
    /// (SDM vol. 2 "IRET", vol. 3 §6.14.3).
    fn iret<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let sz: u8 = match i.mnem {
            Mnemonic::Iretq => 8,
            Mnemonic::Iretd => 4,
            _ => 2,
        };
        let sp = self.sp();
        let rd = |cpu: &mut Cpu, bus: &mut B, k: u64| {
            let at = cpu.stack_addr(sp.wrapping_add(k * sz as u64), sz);
            cpu.read_mem(bus, at, sz)
        };
        let rip = rd(self, bus, 0)?;
        let cs = rd(self, bus, 1)? as u16;
        let fl = rd(self, bus, 2)?;
        let new_cpl = (cs & 3) as u8;
        if new_cpl < self.cpl {
            return Err(Event::gp(cs as u32 & !3));
        }
        // From 64-bit mode IRET always pops SS:RSP; from compatibility
        // mode only when returning to an outer level (SDM vol. 2 "IRET").
        let pops_stack = !self.compat || new_cpl > self.cpl;
        let (rsp, ss) = if pops_stack {
            (rd(self, bus, 3)?, rd(self, bus, 4)? as u16)
        } else {
            (sp.wrapping_add(3 * sz as u64), self.seg[SS].selector)
        };
        let cs_seg = self.code_segment(bus, cs)?;
        // RFLAGS with the POPF privilege rules of the *old* CPL.
        let iopl = ((self.rflags & flags::IOPL) >> 12) as u8;
        let mut mask =
            flags::ARITH | flags::TF | flags::DF | flags::NT | flags::AC | flags::ID | flags::RF;
        if self.cpl == 0 {
            mask |= flags::IOPL | flags::VIF | flags::VIP;
        }
        if self.cpl <= iopl {
            mask |= flags::IF;
        }
        if sz == 2 {
            mask &= 0xffff;
        }
        let nf = (self.rflags() & !mask) | (fl & mask);
        if new_cpl != self.cpl && ss & !3 == 0 {
            return Err(Event::gp(0));
        }
        let rip = if cs_seg.attr & Segment::ATTR_L != 0 {
            rip
        } else {
            rip & 0xffff_ffff
        };
        check_code_limit(&cs_seg, rip)?;
        self.set_rflags(nf);
        self.seg[CS] = cs_seg;
        self.cpl = new_cpl;
        if !pops_stack {
            self.set_sp(rsp);
        } else if ss & !3 == 0 {
            self.seg[SS] = Segment {
                selector: ss,
                base: 0,
                limit: 0xffff_ffff,
                attr: 0xc093 | ((new_cpl as u16) << 5),
            };
        } else {
            self.load_segment(bus, SS, ss)?;
        }
        self.int_shadow = false;
        if pops_stack {
            self.gpr[RSP] = rsp;
        }
        self.next_rip = rip;
        self.stop_block = true;
        Ok(())
    }

    /// Far return (LRETQ is how Linux reloads CS after LGDT): pops the
    /// offset and CS with the operand size; a return to an outer level
    /// also pops the stack pointer and SS.
    fn retf<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let sz = i.osz;
        let sp = self.sp();
        let slot = |cpu: &Cpu, k: u64| cpu.stack_addr(sp.wrapping_add(k * sz as u64), sz);
        let rip = self.read_mem(bus, slot(self, 0), sz)?;
        let cs = self.read_mem(bus, slot(self, 1), sz)? as u16;
        let extra = if i.nops == 1 { i.imm & 0xffff } else { 0 };
        let new_cpl = (cs & 3) as u8;
        if new_cpl < self.cpl {
            return Err(Event::gp(cs as u32 & !3));
        }
        let seg = self.code_segment(bus, cs)?;
        let conforming = seg.attr & 4 != 0;
        if (conforming && seg.dpl() > new_cpl) || (!conforming && seg.dpl() != new_cpl) {
            return Err(Event::gp(cs as u32 & !3));
        }
        let rip = if seg.attr & Segment::ATTR_L != 0 {
            rip
        } else {
            rip & 0xffff_ffff
        };
        check_code_limit(&seg, rip)?;
        if new_cpl > self.cpl {
            let at = |k: u64| sp.wrapping_add(k * sz as u64 + extra);
            let new_sp = self.read_mem(bus, self.stack_addr(at(2), sz), sz)?;
            let ss = self.read_mem(bus, self.stack_addr(at(3), sz), sz)? as u16;
            let (old_cs, old_cpl) = (self.seg[CS], self.cpl);
            // SS is checked against the new CPL and the new mode.
            self.seg[CS] = seg;
            self.cpl = new_cpl;
            self.refresh_mode();
            if let Err(e) = self.load_segment(bus, SS, ss) {
                self.seg[CS] = old_cs;
                self.cpl = old_cpl;
                self.refresh_mode();
                return Err(e);
            }
            // The immediate also releases bytes of the outer stack.
            self.gpr[RSP] = new_sp;
            self.set_sp(self.sp().wrapping_add(extra));
            self.null_inaccessible_data_segments();
        } else {
            self.seg[CS] = seg;
            self.set_sp(sp.wrapping_add(2 * sz as u64).wrapping_add(extra));
        }
        self.next_rip = rip;
        self.stop_block = true;
        Ok(())
    }
}

impl Cpu {
    /// After a return to an outer level, DS/ES/FS/GS holding a data or
    /// nonconforming code segment more privileged than the new CPL become
    /// null (SDM vol. 2 "RET"), so the outer code cannot use them. FS/GS
    /// keep their base (in 64-bit mode it is the MSR's).
    fn null_inaccessible_data_segments(&mut self) {
        for r in [ES, DS, FS, GS] {
            let s = self.seg[r];
            let conforming_code = s.attr & 0xc == 0xc;
            if s.selector & !3 != 0 && !conforming_code && s.dpl() < self.cpl {
                self.seg[r] = Segment {
                    selector: 0,
                    limit: 0,
                    attr: 0,
                    ..s
                };
            }
        }
    }
}

/// #GP(0) if `offset` is beyond a compatibility-mode code segment's limit
/// (a 64-bit segment has none).
fn check_code_limit(seg: &Segment, offset: u64) -> Res {
    if seg.attr & Segment::ATTR_L == 0 && offset > seg.limit as u64 {
        return Err(Event::gp(0));
    }
    Ok(())
}

/// The hidden descriptor cache for a segment descriptor: base, limit in
/// bytes (scaled by G) and attributes.
fn descriptor_cache(sel: u16, d: u64) -> Segment {
    let base = ((d >> 16) & 0xff_ffff) | ((d >> 32) & 0xff00_0000);
    let mut limit = ((d & 0xffff) | ((d >> 32) & 0xf_0000)) as u32;
    if d & (1 << 55) != 0 {
        limit = (limit << 12) | 0xfff;
    }
    Segment {
        selector: sel,
        base,
        limit,
        attr: ((d >> 40) & 0xf0ff) as u16,
    }
}

#[allow(dead_code)]
const _: u8 = GP;
