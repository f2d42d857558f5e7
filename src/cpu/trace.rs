//! Optional instruction trace for debugging guests: when `Cpu::trace` is
//! set, every executed instruction is logged (target `netvm::cpu::trace`,
//! level trace) with its address and disassembly (iced-x86's fast
//! formatter). Costs nothing when off beyond one flag test per instruction.

use iced_x86::{Decoder, DecoderOptions, FastFormatter, Instruction};

use super::bus::Bus;
use super::mmu::Access;
use super::state::Cpu;

impl Cpu {
    #[cold]
    pub(crate) fn trace_insn<B: Bus>(&mut self, bus: &mut B, len: u8) {
        let mut bytes = [0u8; 15];
        let n = (len as usize).clamp(1, 15);
        for (k, b) in bytes.iter_mut().enumerate().take(n) {
            match self.translate(bus, self.rip.wrapping_add(k as u64), Access::Exec) {
                Ok(p) => *b = self.phys_read(bus, p, 1) as u8,
                Err(_) => return,
            }
        }
        let mut d = Decoder::with_ip(self.bitness(), &bytes[..n], self.rip, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        d.decode_out(&mut ins);
        let mut text = String::new();
        FastFormatter::new().format(&ins, &mut text);
        log::trace!(
            target: "netvm::cpu::trace",
            "{:016x} {:<40} rax={:x} rcx={:x} rdx={:x} rsp={:x} rfl={:x}",
            self.rip,
            text,
            self.gpr[0],
            self.gpr[1],
            self.gpr[2],
            self.gpr[4],
            self.rflags()
        );
    }
}
