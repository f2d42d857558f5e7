//! Exceptions and interrupts: the event type instruction handlers return,
//! and delivery through the 64-bit IDT (Intel SDM vol. 3 §6.14).

use super::bus::Bus;
use super::flags;
use super::state::{Cpu, Exit, Segment, CS, RSP, SS};

pub const DE: u8 = 0;
pub const DB: u8 = 1;
pub const NMI: u8 = 2;
pub const BP: u8 = 3;
pub const OF: u8 = 4;
pub const BR: u8 = 5;
pub const UD: u8 = 6;
pub const NM: u8 = 7;
pub const DF: u8 = 8;
pub const TS: u8 = 10;
pub const NP: u8 = 11;
pub const SS_FAULT: u8 = 12;
pub const GP: u8 = 13;
pub const PF: u8 = 14;
pub const MF: u8 = 16;
pub const AC: u8 = 17;
pub const XM: u8 = 19;

/// Something that stops the current instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A fault: the saved RIP is the faulting instruction's.
    Fault { vector: u8, error: Option<u32> },
    /// INT n / INT3 / INTO: the saved RIP is the next instruction's and the
    /// gate's DPL is checked against CPL.
    Soft { vector: u8 },
    /// Leave the run loop after this instruction (which completed).
    Exit(Exit),
}

impl Event {
    pub fn ud() -> Event {
        Event::Fault {
            vector: UD,
            error: None,
        }
    }
    pub fn gp(code: u32) -> Event {
        Event::Fault {
            vector: GP,
            error: Some(code),
        }
    }
    /// #DB (debug exception; DR6 says why).
    pub fn db() -> Event {
        Event::Fault {
            vector: DB,
            error: None,
        }
    }
    pub fn de() -> Event {
        Event::Fault {
            vector: DE,
            error: None,
        }
    }
    pub fn nm() -> Event {
        Event::Fault {
            vector: NM,
            error: None,
        }
    }
}

pub type Res<T = ()> = Result<T, Event>;

/// Does this vector push an error code (SDM vol. 3 table 6-1)?
fn has_error_code(vector: u8) -> bool {
    matches!(vector, DF | TS | NP | SS_FAULT | GP | PF | AC)
}

/// Contributory exceptions for the double-fault rule (SDM vol. 3 table 6-5).
fn contributory(vector: u8) -> bool {
    matches!(vector, DE | TS | NP | SS_FAULT | GP)
}

impl Cpu {
    /// Deliver a fault or software interrupt raised by an instruction.
    /// Returns `Some(Exit::Shutdown)` on a triple fault.
    pub(crate) fn raise<B: Bus>(&mut self, bus: &mut B, ev: Event) -> Option<Exit> {
        match ev {
            Event::Exit(e) => Some(e),
            Event::Soft { vector } => {
                let ret = self.next_rip;
                self.deliver(bus, vector, None, ret, true, 0)
            }
            Event::Fault { vector, error } => {
                let ret = self.rip;
                // The saved RFLAGS of a fault has RF set, so an instruction
                // breakpoint does not fire again when the handler returns to
                // the instruction; not for #DB itself (SDM vol. 3 §17.3.1.1).
                if vector != DB {
                    self.rflags |= flags::RF;
                }
                self.last_exception = Some((vector, error, ret));
                self.deliver(bus, vector, error, ret, false, 0)
            }
        }
    }

    /// Deliver an external interrupt (vector from the interrupt controller)
    /// at the current instruction boundary. Wakes the CPU from HLT.
    pub fn deliver_external<B: Bus>(&mut self, bus: &mut B, vector: u8) -> Option<Exit> {
        self.halted = false;
        let ret = self.rip;
        self.deliver(bus, vector, None, ret, false, 0)
    }

    fn deliver<B: Bus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        error: Option<u32>,
        ret_rip: u64,
        soft: bool,
        depth: u8,
    ) -> Option<Exit> {
        if depth >= 2 {
            log::warn!("triple fault (vector {vector:#x} during double fault delivery)");
            return Some(Exit::Shutdown);
        }
        let error = if has_error_code(vector) && !soft {
            Some(error.unwrap_or(0))
        } else {
            None
        };
        match self.try_deliver(bus, vector, error, ret_rip, soft) {
            Ok(()) => None,
            Err(Event::Fault {
                vector: v2,
                error: e2,
            }) => {
                // A fault while delivering: #DF if both are contributory or
                // a #PF is followed by a contributory/#PF (table 6-5),
                // otherwise the second is delivered serially.
                let double = vector == DF
                    || ((contributory(vector) || vector == super::exception::PF)
                        && (contributory(v2) || v2 == PF));
                if vector == DF {
                    return self.deliver(bus, DF, Some(0), ret_rip, false, 2);
                }
                if double {
                    self.deliver(bus, DF, Some(0), ret_rip, false, depth + 1)
                } else {
                    self.deliver(bus, v2, e2, ret_rip, false, depth + 1)
                }
            }
            Err(e) => {
                log::warn!("unexpected event {e:?} during interrupt delivery");
                Some(Exit::Shutdown)
            }
        }
    }

    /// 64-bit IDT gate delivery (SDM vol. 3 §6.14.1-6.14.5).
    fn try_deliver<B: Bus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        error: Option<u32>,
        ret_rip: u64,
        soft: bool,
    ) -> Res {
        let idt_err = (vector as u32) * 8 + 2;
        let off = vector as u64 * 16;
        if off + 15 > self.idtr.limit as u64 {
            return Err(Event::gp(idt_err));
        }
        let lo = self.read_sys_u64(bus, self.idtr.base.wrapping_add(off))?;
        let hi = self.read_sys_u64(bus, self.idtr.base.wrapping_add(off + 8))?;
        let gate_type = (lo >> 40) & 0xf;
        let dpl = ((lo >> 45) & 3) as u8;
        let present = lo & (1 << 47) != 0;
        if gate_type != 0xe && gate_type != 0xf {
            return Err(Event::gp(idt_err));
        }
        if soft && dpl < self.cpl {
            return Err(Event::gp(idt_err));
        }
        if !present {
            return Err(Event::Fault {
                vector: super::exception::NP,
                error: Some(idt_err),
            });
        }
        let target = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000) | ((hi & 0xffff_ffff) << 32);
        let selector = ((lo >> 16) & 0xffff) as u16;
        let ist = ((lo >> 32) & 7) as u64;
        let cs_desc = self.read_descriptor(bus, selector)?;
        let new_cpl = ((cs_desc >> 45) & 3) as u8;
        if cs_desc & (1 << 47) == 0 {
            return Err(Event::Fault {
                vector: super::exception::NP,
                error: Some(selector as u32 & !3),
            });
        }
        let old_cpl = self.cpl;
        let old_ss = self.seg[SS];
        let old_rsp = self.gpr[RSP];
        let old_flags = self.rflags();
        let old_cs = self.seg[CS].selector;
        let mut rsp = old_rsp;
        if ist != 0 {
            rsp = self.read_sys_u64(bus, self.tr.base.wrapping_add(0x24 + (ist - 1) * 8))?;
        } else if new_cpl < old_cpl {
            rsp = self.read_sys_u64(bus, self.tr.base.wrapping_add(4 + new_cpl as u64 * 8))?;
        }
        rsp &= !0xf;
        // Pushes are supervisor accesses at the new privilege level.
        self.cpl = new_cpl;
        let frame: [u64; 5] = [
            old_ss.selector as u64,
            old_rsp,
            old_flags,
            old_cs as u64,
            ret_rip,
        ];
        let mut push = |cpu: &mut Cpu, bus: &mut B, v: u64| -> Res {
            rsp = rsp.wrapping_sub(8);
            cpu.write_mem(bus, rsp, 8, v)
        };
        let mut result = Ok(());
        for v in frame.iter().copied().chain(error.map(|e| e as u64)) {
            result = push(self, bus, v);
            if result.is_err() {
                break;
            }
        }
        if let Err(e) = result {
            self.cpl = old_cpl;
            return Err(e);
        }
        if new_cpl != old_cpl {
            self.seg[SS] = Segment {
                selector: new_cpl as u16,
                base: 0,
                limit: 0xffff_ffff,
                attr: 0xc093 | ((new_cpl as u16) << 5),
            };
        }
        self.seg[CS] = Segment {
            selector: (selector & !3) | new_cpl as u16,
            base: 0,
            limit: 0xffff_ffff,
            attr: ((cs_desc >> 40) as u16 & 0xf0ff) | 0x1,
        };
        self.gpr[RSP] = rsp;
        self.rip = target;
        self.next_rip = target;
        let mut f = self.rflags & !(flags::TF | flags::NT | flags::RF | flags::VM);
        if gate_type == 0xe {
            f &= !flags::IF;
        }
        self.rflags = f;
        self.int_shadow = false;
        self.stop_block = true;
        if vector == PF {
            log::trace!("#PF cr2={:#x} err={:?} rip={:#x}", self.cr2, error, ret_rip);
        }
        Ok(())
    }

    /// Read an 8-byte GDT/LDT descriptor for `selector`.
    pub(crate) fn read_descriptor<B: Bus>(&mut self, bus: &mut B, selector: u16) -> Res<u64> {
        let idx = (selector & !7) as u64;
        let (base, limit) = if selector & 4 != 0 {
            (self.ldtr.base, self.ldtr.limit as u64)
        } else {
            (self.gdtr.base, self.gdtr.limit as u64)
        };
        if selector & !3 == 0 || idx + 7 > limit {
            return Err(Event::gp(selector as u32 & !3));
        }
        self.read_sys_u64(bus, base.wrapping_add(idx))
    }

    /// Implicit supervisor-mode read of a system structure.
    pub(crate) fn read_sys_u64<B: Bus>(&mut self, bus: &mut B, addr: u64) -> Res<u64> {
        let cpl = self.cpl;
        self.cpl = 0;
        let r = self.read_mem(bus, addr, 8);
        self.cpl = cpl;
        r
    }
}
