//! Far JMP/CALL through a call gate in IA-32e mode (SDM vol. 3 §5.8.3.1,
//! §5.8.5, §5.8.6; vol. 2 "CALL", "JMP"). Only 64-bit call gates (16-byte
//! descriptors, type 0xC) exist there; the target is always a 64-bit code
//! segment. A CALL to a more privileged nonconforming segment switches to
//! the TSS stack of the new level with a null SS and pushes the old SS:RSP
//! and CS:RIP as quadwords; a JMP never changes privilege.

use crate::cpu::bus::Bus;
use crate::cpu::exception::{Event, Res, NP, SS_FAULT};
use crate::cpu::mmu::canonical;
use crate::cpu::state::{Cpu, Segment, CS, RSP, SS};

/// System descriptor type of a 64-bit call gate.
const CALL_GATE_64: u64 = 0xc;

/// A validated call gate: its target code segment (descriptor cache,
/// selector without RPL) and entry point.
struct GateTarget {
    code: Segment,
    entry: u64,
}

fn not_present(sel: u16) -> Event {
    Event::Fault {
        vector: NP,
        error: Some(sel as u32 & !3),
    }
}

/// A non-canonical stack during the stack switch: #SS with the old SS
/// selector (SDM vol. 2 "CALL", 64-bit mode exceptions: #SS(selector);
/// Bochs reports the old SS too).
fn stack_switch_fault(old_ss: u16) -> Event {
    Event::Fault {
        vector: SS_FAULT,
        error: Some(old_ss as u32 & !3),
    }
}

impl Cpu {
    /// Far JMP (`call` false) or CALL through the system descriptor `lo`
    /// that selector `gate_sel` designates; `ret_rip` is the return
    /// address a CALL pushes.
    pub(crate) fn far_through_gate<B: Bus>(
        &mut self,
        bus: &mut B,
        gate_sel: u16,
        lo: u64,
        call: bool,
        ret_rip: u64,
    ) -> Res {
        let t = self.call_gate_target(bus, gate_sel, lo)?;
        let dpl = t.code.dpl();
        let conforming = t.code.attr & 4 != 0;
        if !call && !conforming && dpl != self.cpl {
            // JMP reaches only the same level through a gate.
            return Err(Event::gp(t.code.selector as u32));
        }
        let new_cpl = if call && !conforming && dpl < self.cpl {
            dpl
        } else {
            self.cpl
        };
        if call {
            if new_cpl < self.cpl {
                self.gate_call_inner(bus, new_cpl, ret_rip)?;
            } else {
                // Same level: CS and RIP as quadwords on the current stack,
                // addressed as 64-bit code addresses it.
                let rsp = self.gpr[RSP];
                self.write_mem(bus, rsp.wrapping_sub(8), 8, self.seg[CS].selector as u64)?;
                self.write_mem(bus, rsp.wrapping_sub(16), 8, ret_rip)?;
                self.gpr[RSP] = rsp.wrapping_sub(16);
            }
        }
        self.cpl = new_cpl;
        self.seg[CS] = Segment {
            selector: t.code.selector | new_cpl as u16,
            ..t.code
        };
        self.next_rip = t.entry;
        self.stop_block = true;
        Ok(())
    }

    /// The gate's checks in the SDM's order: gate type, DPL against CPL
    /// and RPL, presence, the upper half's type field; then the target code
    /// segment: non-null, code, DPL <= CPL, 64-bit (L=1, D=0), present.
    fn call_gate_target<B: Bus>(&mut self, bus: &mut B, gate_sel: u16, lo: u64) -> Res<GateTarget> {
        let gate_err = Event::gp(gate_sel as u32 & !3);
        if (lo >> 40) & 0xf != CALL_GATE_64 {
            return Err(gate_err);
        }
        let gate_dpl = ((lo >> 45) & 3) as u8;
        if gate_dpl < self.cpl || gate_dpl < (gate_sel & 3) as u8 {
            return Err(gate_err);
        }
        if lo & (1 << 47) == 0 {
            return Err(not_present(gate_sel));
        }
        // The upper 8 bytes: the high half of the offset, and a type
        // field that must be zero (no valid descriptor has it so).
        let hi = self.read_descriptor(bus, (gate_sel & !7).wrapping_add(8) | (gate_sel & 4))
            .map_err(|_| gate_err)?;
        if (hi >> 40) & 0x1f != 0 {
            return Err(gate_err);
        }
        let entry = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000) | ((hi & 0xffff_ffff) << 32);
        let cs_sel = ((lo >> 16) & 0xffff) as u16;
        if cs_sel & !3 == 0 {
            return Err(Event::gp(0));
        }
        let cs_err = Event::gp(cs_sel as u32 & !3);
        let d = self.read_descriptor(bus, cs_sel)?;
        let is_code = d & (1 << 44) != 0 && d & (1 << 43) != 0;
        let dpl = ((d >> 45) & 3) as u8;
        if !is_code || dpl > self.cpl {
            return Err(cs_err);
        }
        let long = d & (1 << 53) != 0 && d & (1 << 54) == 0;
        if !long {
            return Err(cs_err);
        }
        if d & (1 << 47) == 0 {
            return Err(not_present(cs_sel));
        }
        if !canonical(entry) {
            return Err(Event::gp(0));
        }
        Ok(GateTarget {
            code: Segment {
                selector: cs_sel & !3,
                base: 0,
                limit: 0xffff_ffff,
                attr: ((d >> 40) & 0xf0ff) as u16 | 1,
            },
            entry,
        })
    }

    /// CALL to an inner level: RSP from the TSS (RSPn of the new CPL), SS
    /// becomes a null selector with RPL = new CPL, and the new stack
    /// receives the old SS, RSP, CS and RIP as quadwords. Nothing changes
    /// if a push faults.
    fn gate_call_inner<B: Bus>(&mut self, bus: &mut B, new_cpl: u8, ret_rip: u64) -> Res {
        let slot = 4 + new_cpl as u64 * 8;
        if slot + 7 > self.tr.limit as u64 {
            return Err(Event::Fault {
                vector: crate::cpu::exception::TS,
                error: Some(self.tr.selector as u32 & !3),
            });
        }
        let new_rsp = self.read_sys_u64(bus, self.tr.base.wrapping_add(slot))?;
        let old_ss = self.seg[SS].selector;
        if !canonical(new_rsp) {
            return Err(stack_switch_fault(old_ss));
        }
        let frame = [
            old_ss as u64,
            self.gpr[RSP],
            self.seg[CS].selector as u64,
            ret_rip,
        ];
        let old_cpl = self.cpl;
        // The pushes are accesses at the new privilege level.
        self.cpl = new_cpl;
        let mut rsp = new_rsp;
        for v in frame {
            rsp = rsp.wrapping_sub(8);
            if !canonical(rsp) {
                self.cpl = old_cpl;
                return Err(stack_switch_fault(old_ss));
            }
            if let Err(e) = self.write_mem(bus, rsp, 8, v) {
                self.cpl = old_cpl;
                return Err(e);
            }
        }
        self.seg[SS] = Segment {
            selector: new_cpl as u16,
            base: 0,
            limit: 0xffff_ffff,
            attr: 0xc093 | ((new_cpl as u16) << 5),
        };
        self.gpr[RSP] = rsp;
        Ok(())
    }
}
