//! An x86_64 CPU interpreter.
//!
//! [`Cpu`] is a plain struct; the machine owns it and calls
//! [`Cpu::run`] with its [`Bus`] (guest RAM, MMIO, I/O ports and the
//! interrupt controller's pending-interrupt line). See docs/cpu.md.
//!
//! Layout: `state` (registers), `flags` (lazy RFLAGS), `decode` (compact
//! instruction form from iced-x86), `cache` (decoded blocks per physical
//! page), `mmu` (paging, TLB, memory access), `exception` (IDT delivery),
//! `exec/` (instruction semantics by family), `fpu` (x87 state).

pub mod bus;
mod cache;
mod debug;
pub mod decode;
pub mod exception;
mod exec;
mod f80;
mod f80_math;
pub mod flags;
pub mod form;
pub mod fpu;
mod mmu;
mod mmx;
pub(crate) mod sse;
pub mod state;
mod trace;
mod x87;
mod x87_env;

pub use bus::{Bus, RamBus};
pub use state::{Cpu, Exit, Segment, TableReg};

use std::rc::Rc;

use cache::Block;
use decode::{Insn, P_ENDS_BLOCK};
use exception::{Event, Res};
use mmu::Access;

/// Longest block decoded at once.
const MAX_BLOCK: usize = 64;

impl Cpu {
    /// Execute up to `budget` instructions (a REP string instruction counts
    /// once per resumption; each exception or interrupt delivery also uses
    /// one unit) and return why it stopped.
    ///
    /// Pending external interrupts are taken at block boundaries when IF is
    /// set and no STI/MOV SS shadow is active; HLT returns [`Exit::Halted`]
    /// until an interrupt is pending.
    ///
    /// Never inlined: as wasm, a function runs the code V8 compiled for it
    /// when it was entered, and V8 replaces its quick baseline code with
    /// optimised code only for later calls (no on-stack replacement for
    /// wasm). Inlined into the caller's endless loop, the interpreter would
    /// stay on baseline code, several times slower; as its own function it
    /// is entered again every time slice. (scripts/build-wasm keeps
    /// wasm-opt from inlining it too.)
    #[inline(never)]
    pub fn run<B: Bus>(&mut self, bus: &mut B, budget: u64) -> Exit {
        // Exception and interrupt deliveries also consume budget, so code
        // that faults forever (e.g. a handler on an unmapped page) still
        // returns to the caller.
        let mut end = self.icount.saturating_add(budget);
        'blocks: while self.icount < end {
            if self.db_pending != 0 {
                // Data breakpoints hit by the previous instruction: a trap,
                // ahead of external interrupts (SDM vol. 3 table 6-2).
                self.dr[6] |= std::mem::take(&mut self.db_pending);
                end -= 1;
                if let Some(x) = self.raise(bus, Event::db()) {
                    return x;
                }
                continue;
            }
            if self.rflags & flags::IF != 0 && !self.int_shadow && bus.interrupt_pending() {
                if let Some(v) = bus.acknowledge_interrupt() {
                    end -= 1;
                    if let Some(e) = self.deliver_external(bus, v) {
                        return e;
                    }
                }
            }
            if self.halted {
                return Exit::Halted;
            }
            let mut block_end = end;
            if self.dr_exec_armed {
                let hits = self.exec_breakpoints(self.rip);
                // RF suppresses instruction breakpoints for one instruction.
                self.rflags &= !flags::RF;
                if hits != 0 {
                    self.dr[6] |= hits;
                    end -= 1;
                    if let Some(x) = self.raise(bus, Event::db()) {
                        return x;
                    }
                    continue;
                }
                // One instruction per block, so each is checked here (the
                // per-instruction path stays free of breakpoint checks).
                block_end = self.icount + 1;
            }
            let block = match self.fetch_block(bus) {
                Ok(b) => b,
                Err(e) => {
                    end -= 1;
                    if let Some(x) = self.raise(bus, e) {
                        return x;
                    }
                    continue;
                }
            };
            self.stop_block = false;
            // An STI/MOV SS shadow, TF and tracing each need work around
            // one instruction; the instructions that set the shadow or TF end
            // their block, so checking once per block start is enough.
            if self.int_shadow || self.rflags & flags::TF != 0 || self.trace {
                if let Some(x) = self.exec_one_careful(bus, &block.insns[0], &mut end) {
                    return x;
                }
                continue;
            }
            // Each instruction's next RIP and count come from its place in
            // the block (`Insn::pos`, `Insn::end`), so nothing is carried
            // from one instruction to the next through memory; only the
            // generic handlers and fault delivery read `self.rip` and
            // `self.icount`, and they get them set first. Branches end their
            // block, so the only other early end is `stop_block` (state
            // changes, a REP string instruction's restart).
            let room = (block_end - self.icount).min(block.insns.len() as u64) as usize;
            let start = self.rip;
            let base = self.icount;
            let mut ran = room as u64;
            for insn in block.insns[..room].iter() {
                self.next_rip = start.wrapping_add(insn.end as u64);
                match self.exec(bus, insn, start, base) {
                    Ok(()) => {}
                    Err(Event::Exit(x)) => {
                        self.rip = self.next_rip;
                        self.icount = base + insn.pos as u64 + 1;
                        return x;
                    }
                    Err(e) => {
                        self.rip = insn.rip_in(start);
                        self.icount = base + insn.pos as u64;
                        end -= 1;
                        if let Some(x) = self.raise(bus, e) {
                            return x;
                        }
                        continue 'blocks;
                    }
                }
                if self.stop_block {
                    ran = insn.pos as u64 + 1;
                    break;
                }
                debug_assert_eq!(
                    self.next_rip,
                    start.wrapping_add(insn.end as u64),
                    "a branch in mid-block"
                );
            }
            self.rip = self.next_rip;
            self.icount = base + ran;
        }
        Exit::Budget
    }

    /// Execute `insn` with the per-instruction work the block loop skips:
    /// the trace line, the TF single-step trap after it and the end of an
    /// STI/MOV SS shadow. `end` is the run's budget end (a delivered #DB
    /// uses one unit).
    #[cold]
    #[inline(never)]
    fn exec_one_careful<B: Bus>(
        &mut self,
        bus: &mut B,
        insn: &Insn,
        end: &mut u64,
    ) -> Option<Exit> {
        let shadow = self.int_shadow;
        self.next_rip = self.rip.wrapping_add(insn.len as u64);
        if self.trace {
            self.trace_insn(bus, insn.len);
        }
        let single_step = self.rflags & flags::TF != 0;
        let start = self.rip.wrapping_sub(insn.rip_in(0));
        match self.exec(bus, insn, start, self.icount - insn.pos as u64) {
            Ok(()) => {
                self.rip = self.next_rip;
                self.icount += 1;
                if single_step {
                    // Trap after the instruction (SDM vol. 3 §17.3.1.4):
                    // #DB with DR6.BS, the saved RIP is the next one.
                    self.dr[6] |= debug::DR6_BS | std::mem::take(&mut self.db_pending);
                    *end -= 1;
                    return self.raise(bus, Event::db());
                }
            }
            Err(Event::Exit(x)) => {
                self.rip = self.next_rip;
                self.icount += 1;
                return Some(x);
            }
            Err(e) => {
                *end -= 1;
                return self.raise(bus, e);
            }
        }
        if shadow {
            // The shadow ends after this instruction; the caller's loop
            // takes a pending interrupt right here.
            self.int_shadow = false;
        }
        None
    }

    /// Execute exactly one instruction (tests, single-stepping).
    pub fn step<B: Bus>(&mut self, bus: &mut B) -> Exit {
        self.run(bus, 1)
    }

    /// Decoder bitness of the current mode.
    pub(crate) fn bitness(&self) -> u32 {
        if self.compat {
            32
        } else {
            64
        }
    }

    fn fetch_block<B: Bus>(&mut self, bus: &mut B) -> Res<Rc<Block>> {
        // Every CS change ends a block, so the mode holds for a whole block.
        self.refresh_mode();
        if self.compat {
            // Fetches are checked against the CS limit (exec/limits.rs).
            return self.fetch_block_compat(bus);
        }
        self.fetch_decoded(bus)
    }

    /// The decoded block at RIP, from the cache or decoded now. Inlined so
    /// the 64-bit block fetch stays in the run loop as before the
    /// compatibility-mode split.
    #[inline(always)]
    fn fetch_decoded<B: Bus>(&mut self, bus: &mut B) -> Res<Rc<Block>> {
        if !self.dr_exec_armed {
            // RF only matters to instruction breakpoints; it is cleared
            // after one instruction (SDM vol. 3 §17.3.1.1).
            self.rflags &= !flags::RF;
        }
        let phys = self.translate(bus, self.rip, Access::Exec)?;
        // The same bytes decode differently as 32-bit code: the mode is
        // part of the cache key.
        let key = phys | if self.compat { cache::COMPAT_KEY } else { 0 };
        if let Some(b) = self.code.get(key) {
            return Ok(b);
        }
        if let Some(b) = self.code.get_slow(key) {
            return Ok(b);
        }
        let page_end = (phys | 0xfff) + 1;
        let mut insns = Vec::new();
        {
            let ram = bus.ram();
            if page_end <= ram.len() as u64 {
                let bytes = &ram[phys as usize..page_end as usize];
                let mut d = iced_x86::Decoder::with_ip(
                    self.bitness(),
                    bytes,
                    self.rip,
                    iced_x86::DecoderOptions::NONE,
                );
                let mut ins = iced_x86::Instruction::default();
                while d.can_decode() && insns.len() < MAX_BLOCK {
                    d.decode_out(&mut ins);
                    if ins.is_invalid() && d.last_error() == iced_x86::DecoderError::NoMoreBytes {
                        break; // straddles the page end
                    }
                    let mut i = decode::convert(&ins);
                    i.pos = insns.len() as u8;
                    i.end = ins.next_ip().wrapping_sub(self.rip) as u16;
                    let end = i.prefixes & P_ENDS_BLOCK != 0;
                    insns.push(i);
                    if end {
                        break;
                    }
                }
            }
        }
        if insns.is_empty() {
            // Straddling or non-RAM code: decode from a byte-wise fetch and
            // do not cache.
            let i = self.fetch_uncached(bus)?;
            return Ok(Rc::new(Block {
                insns: vec![i].into_boxed_slice(),
            }));
        }
        self.tlb.drop_writes_to(phys & !0xfff);
        Ok(self.code.insert(
            key,
            Block {
                insns: insns.into_boxed_slice(),
            },
        ))
    }

    fn fetch_uncached<B: Bus>(&mut self, bus: &mut B) -> Res<Insn> {
        let mut buf = [0u8; 15];
        let mut n = 0;
        while n < 15 {
            let p = match self.translate(bus, self.rip.wrapping_add(n as u64), Access::Exec) {
                Ok(p) => p,
                Err(e) => {
                    // Only fault if the instruction really needs these bytes.
                    if decode::decode_one(&buf[..n], self.rip, self.bitness()).is_some() {
                        break;
                    }
                    return Err(e);
                }
            };
            buf[n] = self.phys_read(bus, p, 1) as u8;
            n += 1;
        }
        Ok(decode::decode_one(&buf[..n], self.rip, self.bitness())
            .map(|(i, _)| i)
            .unwrap_or(Insn::INVALID))
    }

    /// Drop all decoded code (e.g. after the machine reloads RAM).
    pub fn flush_code_cache(&mut self) {
        self.code.clear();
        self.tlb.flush();
    }
}
