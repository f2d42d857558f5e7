//! String instructions MOVS/STOS/LODS/CMPS/SCAS/INS/OUTS with REP
//! prefixes (SDM vol. 2 "REP/REPE/REPZ/REPNE/REPNZ").
//!
//! A REP instruction runs at most `CHUNK` iterations per execution and
//! then re-executes itself (RIP unchanged), so long copies stay
//! interruptible and the run loop's budget stays bounded. RCX/RSI/RDI are
//! updated per iteration so a fault in the middle restarts correctly.

use iced_x86::Mnemonic;

use crate::cpu::bus::Bus;
use crate::cpu::decode::{Insn, Kind, P_ADDR16, P_ADDR32, P_REP, P_REPNE};
use crate::cpu::exception::{Event, Res};
use crate::cpu::flags::{size_mask, CcOp};
use crate::cpu::state::{Cpu, ES, RAX, RCX, RDI, RDX, RSI};

const CHUNK: u32 = 4096;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Movs,
    Stos,
    Lods,
    Cmps,
    Scas,
    Ins,
    Outs,
}

impl Cpu {
    pub(crate) fn string_op<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let op = match i.mnem {
            Mnemonic::Movsb | Mnemonic::Movsw | Mnemonic::Movsd | Mnemonic::Movsq => Op::Movs,
            Mnemonic::Stosb | Mnemonic::Stosw | Mnemonic::Stosd | Mnemonic::Stosq => Op::Stos,
            Mnemonic::Lodsb | Mnemonic::Lodsw | Mnemonic::Lodsd | Mnemonic::Lodsq => Op::Lods,
            Mnemonic::Cmpsb | Mnemonic::Cmpsw | Mnemonic::Cmpsd | Mnemonic::Cmpsq => Op::Cmps,
            Mnemonic::Scasb | Mnemonic::Scasw | Mnemonic::Scasd | Mnemonic::Scasq => Op::Scas,
            Mnemonic::Insb | Mnemonic::Insw | Mnemonic::Insd => Op::Ins,
            Mnemonic::Outsb | Mnemonic::Outsw | Mnemonic::Outsd => Op::Outs,
            _ => return Err(Event::ud()),
        };
        // Element size: the memory operand's size.
        let size = i
            .ops
            .iter()
            .find(|o| o.kind == Kind::Mem)
            .map(|o| o.size)
            .unwrap_or(1);
        if matches!(op, Op::Ins | Op::Outs) {
            let port = self.gpr[RDX] as u16;
            self.check_io_privilege(bus, port, size)?;
        }
        let bits = size * 8;
        let asz: u8 = if i.prefixes & P_ADDR16 != 0 {
            2
        } else if i.prefixes & P_ADDR32 != 0 {
            4
        } else {
            8
        };
        let rep = i.prefixes & (P_REP | P_REPNE) != 0;
        // Only CMPS/SCAS distinguish REPE from REPNE.
        let cond_rep = matches!(op, Op::Cmps | Op::Scas);
        let step = if self.df() {
            (size as u64).wrapping_neg()
        } else {
            size as u64
        };
        let src_seg = i.mem.seg as usize;
        // REP MOVS/STOS upwards in 64-bit mode copy or fill whole page runs
        // at once (data breakpoints need the per-element path).
        let bulk = rep
            && matches!(op, Op::Movs | Op::Stos)
            && asz == 8
            && !self.compat
            && !self.df()
            && !self.dr_data_armed;
        let mut n = 0u32;
        loop {
            if rep && self.gpr_get(RCX as u8, asz) == 0 {
                return Ok(());
            }
            if bulk {
                let max = self.gpr[RCX].min((CHUNK - n) as u64);
                let k = self.rep_bulk(bus, op == Op::Movs, src_seg, size, max);
                if k != 0 {
                    n += k as u32;
                    if n >= CHUNK && self.gpr[RCX] != 0 {
                        self.next_rip = self.rip;
                        self.stop_block = true;
                        return Ok(());
                    }
                    continue;
                }
            }
            let si = self.gpr_get(RSI as u8, asz);
            let di = self.gpr_get(RDI as u8, asz);
            // Source: DS (overridable) : rSI; destination: ES : rDI.
            let (src, dst) = (self.linear(src_seg, si, size), self.linear(ES, di, size));
            match op {
                Op::Movs => {
                    let v = self.read_mem(bus, src, size)?;
                    self.write_mem(bus, dst, size, v)?;
                }
                Op::Stos => {
                    let v = self.gpr_get(RAX as u8, size);
                    self.write_mem(bus, dst, size, v)?;
                }
                Op::Lods => {
                    let v = self.read_mem(bus, src, size)?;
                    self.gpr_set(RAX as u8, size, v);
                }
                Op::Cmps => {
                    let a = self.read_mem(bus, src, size)?;
                    let b = self.read_mem(bus, dst, size)?;
                    self.cc.set(CcOp::Sub, bits, a.wrapping_sub(b), a, b);
                }
                Op::Scas => {
                    let a = self.gpr_get(RAX as u8, size);
                    let b = self.read_mem(bus, dst, size)?;
                    self.cc.set(CcOp::Sub, bits, a.wrapping_sub(b), a, b);
                }
                Op::Ins => {
                    // Probe the destination before the port read has side effects.
                    self.translate(bus, dst, crate::cpu::mmu::Access::Write)?;
                    let v = bus.io_in(self.gpr[RDX] as u16, size) as u64;
                    self.write_mem(bus, dst, size, v & size_mask(bits))?;
                    self.note_io_access(self.gpr[RDX] as u16, size);
                }
                Op::Outs => {
                    let v = self.read_mem(bus, src, size)?;
                    bus.io_out(self.gpr[RDX] as u16, size, v as u32);
                    self.note_io_access(self.gpr[RDX] as u16, size);
                }
            }
            if matches!(op, Op::Movs | Op::Lods | Op::Cmps | Op::Outs) {
                self.gpr_set(RSI as u8, asz, si.wrapping_add(step));
            }
            if matches!(op, Op::Movs | Op::Stos | Op::Cmps | Op::Scas | Op::Ins) {
                self.gpr_set(RDI as u8, asz, di.wrapping_add(step));
            }
            if !rep {
                return Ok(());
            }
            let c = self.gpr_get(RCX as u8, asz).wrapping_sub(1);
            self.gpr_set(RCX as u8, asz, c);
            if cond_rep {
                let zf = self.cc.zf();
                if (i.prefixes & P_REP != 0 && !zf) || (i.prefixes & P_REPNE != 0 && zf) {
                    return Ok(());
                }
            }
            n += 1;
            // A breakpoint hit traps after its iteration (SDM vol. 3
            // §17.3.1.2): resume the rest after the #DB.
            if (n >= CHUNK || self.db_pending != 0) && c & size_mask(asz * 8) != 0 {
                // Resume this instruction later (ending the block: the run
                // loop takes mid-block instructions to fall through).
                self.next_rip = self.rip;
                self.stop_block = true;
                return Ok(());
            }
        }
    }

    /// Up to `max` elements of REP MOVS (`movs`) or REP STOS upwards with
    /// 64-bit addresses, as far as source and destination stay in pages
    /// the TLB maps to RAM: one copy or fill, then RSI/RDI/RCX as after
    /// that many iterations. Returns the elements done; 0 (nothing
    /// changed) when the per-element path must run: a TLB miss, a page
    /// end within the next element, or a destination just above the
    /// source that the byte-wise copy would replicate a pattern into.
    fn rep_bulk<B: Bus>(&mut self, bus: &mut B, movs: bool, src_seg: usize, size: u8, max: u64) -> u64 {
        let size64 = size as u64;
        let room = |a: u64| (0x1000 - (a & 0xfff)) / size64;
        let (si, di) = (self.gpr[RSI], self.gpr[RDI]);
        let (src, dst) = (self.linear(src_seg, si, size), self.linear(ES, di, size));
        let mut k = max.min(room(dst));
        if movs {
            k = k.min(room(src));
        }
        let len = k * size64;
        let Some(pd) = self.tlb_ram_span(dst, len, true) else {
            return 0;
        };
        if movs {
            let Some(ps) = self.tlb_ram_span(src, len, false) else {
                return 0;
            };
            if pd > ps && pd < ps + len as usize {
                return 0;
            }
            bus.ram().copy_within(ps..ps + len as usize, pd);
            self.gpr[RSI] = si.wrapping_add(len);
        } else {
            let v = self.gpr[RAX].to_le_bytes();
            for e in bus.ram()[pd..pd + len as usize].chunks_exact_mut(size as usize) {
                e.copy_from_slice(&v[..size as usize]);
            }
        }
        self.gpr[RDI] = di.wrapping_add(len);
        self.gpr[RCX] -= k;
        k
    }
}
