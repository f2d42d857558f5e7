//! Instruction execution: a dispatch on the handler form chosen at decode
//! time (`form::Op`, handlers in `fast.rs`), and for every other form the
//! dispatch on the mnemonic, semantics grouped by family in the sibling
//! files.

mod alu;
mod bits;
mod call_gate;
mod control;
mod cpuid;
mod data;
mod fast;
mod legacy;
mod limits;
mod operand;
mod shift;
mod string;
mod system;

use iced_x86::Mnemonic as M;

use super::bus::Bus;
use super::decode::{is_cmovcc, is_setcc, Insn, Kind, P_ADDR16, P_ADDR32};
use super::exception::{Event, Res};
use super::form::Op;
use super::mmu::Access;
use super::flags::size_mask;
use super::state::Cpu;
use fast::{ADC, ADD, AND, CMP, OR, ROL, ROR, SAR, SBB, SHL, SHR, SUB, TEST, XOR};

impl Cpu {
    /// Execute one instruction: `self.next_rip` holds the fall-through
    /// address on entry and the address of the next instruction on return.
    /// `start` and `base` are the RIP and instruction count at the start of
    /// `i`'s block: the run loop leaves `self.rip` and `self.icount` behind
    /// during a block, and only the generic handlers read them (REP
    /// restarts, RDTSC, #UD logging), so they are brought up to date here.
    #[inline(always)]
    pub(crate) fn exec<B: Bus>(&mut self, bus: &mut B, i: &Insn, start: u64, base: u64) -> Res {
        match i.op {
            Op::Generic => {
                self.rip = i.rip_in(start);
                self.icount = base + i.pos as u64;
                self.exec_generic(bus, i)
            }
            Op::MovRR => self.mov_rr::<0>(i),
            Op::MovRI => self.mov_ri::<0>(i),
            Op::MovRM => self.mov_rm::<0, B>(bus, i),
            Op::MovMR => self.mov_mr::<0, B>(bus, i),
            Op::MovRR32 => self.mov_rr::<4>(i),
            Op::MovRI32 => self.mov_ri::<4>(i),
            Op::MovRM32 => self.mov_rm::<4, B>(bus, i),
            Op::MovMR32 => self.mov_mr::<4, B>(bus, i),
            Op::MovRR64 => self.mov_rr::<8>(i),
            Op::MovRI64 => self.mov_ri::<8>(i),
            Op::MovRM64 => self.mov_rm::<8, B>(bus, i),
            Op::MovMR64 => self.mov_mr::<8, B>(bus, i),
            Op::MovMI => {
                let a = self.ea(i);
                self.write_mem(bus, a, i.ops[0].size, i.imm)
            }
            Op::MovzxR => {
                let v = self.src_reg::<0>(i);
                self.movx::<false>(i, v);
                Ok(())
            }
            Op::MovzxM => {
                let v = self.src_mem::<0, B>(bus, i)?;
                self.movx::<false>(i, v);
                Ok(())
            }
            Op::MovsxR => {
                let v = self.src_reg::<0>(i);
                self.movx::<true>(i, v);
                Ok(())
            }
            Op::MovsxM => {
                let v = self.src_mem::<0, B>(bus, i)?;
                self.movx::<true>(i, v);
                Ok(())
            }
            Op::Lea => self.lea_to::<0>(i),
            Op::Lea32 => self.lea_to::<4>(i),
            Op::Lea64 => self.lea_to::<8>(i),
            Op::AddRR => self.alu_rr::<ADD, 0>(i),
            Op::AddRI => self.alu_ri::<ADD, 0>(i),
            Op::AddRM => self.alu_rm::<ADD, 0, B>(bus, i),
            Op::AddRR32 => self.alu_rr::<ADD, 4>(i),
            Op::AddRI32 => self.alu_ri::<ADD, 4>(i),
            Op::AddRM32 => self.alu_rm::<ADD, 4, B>(bus, i),
            Op::AddRR64 => self.alu_rr::<ADD, 8>(i),
            Op::AddRI64 => self.alu_ri::<ADD, 8>(i),
            Op::AddRM64 => self.alu_rm::<ADD, 8, B>(bus, i),
            Op::AddMR => self.alu_mr::<ADD, B>(bus, i),
            Op::AddMI => self.alu_to_mem::<ADD, B>(bus, i, i.imm),
            Op::OrRR => self.alu_rr::<OR, 0>(i),
            Op::OrRI => self.alu_ri::<OR, 0>(i),
            Op::OrRM => self.alu_rm::<OR, 0, B>(bus, i),
            Op::OrRR32 => self.alu_rr::<OR, 4>(i),
            Op::OrRI32 => self.alu_ri::<OR, 4>(i),
            Op::OrRM32 => self.alu_rm::<OR, 4, B>(bus, i),
            Op::OrRR64 => self.alu_rr::<OR, 8>(i),
            Op::OrRI64 => self.alu_ri::<OR, 8>(i),
            Op::OrRM64 => self.alu_rm::<OR, 8, B>(bus, i),
            Op::OrMR => self.alu_mr::<OR, B>(bus, i),
            Op::OrMI => self.alu_to_mem::<OR, B>(bus, i, i.imm),
            Op::AdcRR => self.alu_rr::<ADC, 0>(i),
            Op::AdcRI => self.alu_ri::<ADC, 0>(i),
            Op::AdcRM => self.alu_rm::<ADC, 0, B>(bus, i),
            Op::AdcMR => self.alu_mr::<ADC, B>(bus, i),
            Op::AdcMI => self.alu_to_mem::<ADC, B>(bus, i, i.imm),
            Op::SbbRR => self.alu_rr::<SBB, 0>(i),
            Op::SbbRI => self.alu_ri::<SBB, 0>(i),
            Op::SbbRM => self.alu_rm::<SBB, 0, B>(bus, i),
            Op::SbbMR => self.alu_mr::<SBB, B>(bus, i),
            Op::SbbMI => self.alu_to_mem::<SBB, B>(bus, i, i.imm),
            Op::AndRR => self.alu_rr::<AND, 0>(i),
            Op::AndRI => self.alu_ri::<AND, 0>(i),
            Op::AndRM => self.alu_rm::<AND, 0, B>(bus, i),
            Op::AndRR32 => self.alu_rr::<AND, 4>(i),
            Op::AndRI32 => self.alu_ri::<AND, 4>(i),
            Op::AndRM32 => self.alu_rm::<AND, 4, B>(bus, i),
            Op::AndRR64 => self.alu_rr::<AND, 8>(i),
            Op::AndRI64 => self.alu_ri::<AND, 8>(i),
            Op::AndRM64 => self.alu_rm::<AND, 8, B>(bus, i),
            Op::AndMR => self.alu_mr::<AND, B>(bus, i),
            Op::AndMI => self.alu_to_mem::<AND, B>(bus, i, i.imm),
            Op::SubRR => self.alu_rr::<SUB, 0>(i),
            Op::SubRI => self.alu_ri::<SUB, 0>(i),
            Op::SubRM => self.alu_rm::<SUB, 0, B>(bus, i),
            Op::SubRR32 => self.alu_rr::<SUB, 4>(i),
            Op::SubRI32 => self.alu_ri::<SUB, 4>(i),
            Op::SubRM32 => self.alu_rm::<SUB, 4, B>(bus, i),
            Op::SubRR64 => self.alu_rr::<SUB, 8>(i),
            Op::SubRI64 => self.alu_ri::<SUB, 8>(i),
            Op::SubRM64 => self.alu_rm::<SUB, 8, B>(bus, i),
            Op::SubMR => self.alu_mr::<SUB, B>(bus, i),
            Op::SubMI => self.alu_to_mem::<SUB, B>(bus, i, i.imm),
            Op::XorRR => self.alu_rr::<XOR, 0>(i),
            Op::XorRI => self.alu_ri::<XOR, 0>(i),
            Op::XorRM => self.alu_rm::<XOR, 0, B>(bus, i),
            Op::XorRR32 => self.alu_rr::<XOR, 4>(i),
            Op::XorRI32 => self.alu_ri::<XOR, 4>(i),
            Op::XorRM32 => self.alu_rm::<XOR, 4, B>(bus, i),
            Op::XorRR64 => self.alu_rr::<XOR, 8>(i),
            Op::XorRI64 => self.alu_ri::<XOR, 8>(i),
            Op::XorRM64 => self.alu_rm::<XOR, 8, B>(bus, i),
            Op::XorMR => self.alu_mr::<XOR, B>(bus, i),
            Op::XorMI => self.alu_to_mem::<XOR, B>(bus, i, i.imm),
            Op::CmpRR => self.alu_rr::<CMP, 0>(i),
            Op::CmpRI => self.alu_ri::<CMP, 0>(i),
            Op::CmpRM => self.alu_rm::<CMP, 0, B>(bus, i),
            Op::CmpRR32 => self.alu_rr::<CMP, 4>(i),
            Op::CmpRI32 => self.alu_ri::<CMP, 4>(i),
            Op::CmpRM32 => self.alu_rm::<CMP, 4, B>(bus, i),
            Op::CmpRR64 => self.alu_rr::<CMP, 8>(i),
            Op::CmpRI64 => self.alu_ri::<CMP, 8>(i),
            Op::CmpRM64 => self.alu_rm::<CMP, 8, B>(bus, i),
            Op::CmpMR => self.alu_mr::<CMP, B>(bus, i),
            Op::CmpMI => self.alu_to_mem::<CMP, B>(bus, i, i.imm),
            Op::TestRR => self.alu_rr::<TEST, 0>(i),
            Op::TestRI => self.alu_ri::<TEST, 0>(i),
            Op::TestRR32 => self.alu_rr::<TEST, 4>(i),
            Op::TestRI32 => self.alu_ri::<TEST, 4>(i),
            Op::TestRR64 => self.alu_rr::<TEST, 8>(i),
            Op::TestRI64 => self.alu_ri::<TEST, 8>(i),
            Op::TestMR => self.alu_mr::<TEST, B>(bus, i),
            Op::TestMI => self.alu_to_mem::<TEST, B>(bus, i, i.imm),
            Op::IncR => self.inc_dec_ok::<false, 0>(i),
            Op::DecR => self.inc_dec_ok::<true, 0>(i),
            Op::IncR32 => self.inc_dec_ok::<false, 4>(i),
            Op::DecR32 => self.inc_dec_ok::<true, 4>(i),
            Op::IncR64 => self.inc_dec_ok::<false, 8>(i),
            Op::DecR64 => self.inc_dec_ok::<true, 8>(i),
            Op::NotR => {
                let d = i.ops[0];
                let v = !self.gpr_get(d.reg, d.size);
                self.gpr_set(d.reg, d.size, v);
                Ok(())
            }
            Op::BswapR => self.bswap(i),
            Op::ShlRI => self.shift_ri_ok::<SHL, 0>(i),
            Op::ShlRI32 => self.shift_ri_ok::<SHL, 4>(i),
            Op::ShlRI64 => self.shift_ri_ok::<SHL, 8>(i),
            Op::ShrRI => self.shift_ri_ok::<SHR, 0>(i),
            Op::ShrRI32 => self.shift_ri_ok::<SHR, 4>(i),
            Op::ShrRI64 => self.shift_ri_ok::<SHR, 8>(i),
            Op::SarRI => self.shift_ri_ok::<SAR, 0>(i),
            Op::SarRI32 => self.shift_ri_ok::<SAR, 4>(i),
            Op::SarRI64 => self.shift_ri_ok::<SAR, 8>(i),
            Op::RolRI => self.shift_ri_ok::<ROL, 0>(i),
            Op::RolRI32 => self.shift_ri_ok::<ROL, 4>(i),
            Op::RolRI64 => self.shift_ri_ok::<ROL, 8>(i),
            Op::RorRI => self.shift_ri_ok::<ROR, 0>(i),
            Op::RorRI32 => self.shift_ri_ok::<ROR, 4>(i),
            Op::RorRI64 => self.shift_ri_ok::<ROR, 8>(i),
            Op::Jo => self.jcc_on::<0x0>(i),
            Op::Jno => self.jcc_on::<0x1>(i),
            Op::Jb => self.jcc_on::<0x2>(i),
            Op::Jae => self.jcc_on::<0x3>(i),
            Op::Je => self.jcc_on::<0x4>(i),
            Op::Jne => self.jcc_on::<0x5>(i),
            Op::Jbe => self.jcc_on::<0x6>(i),
            Op::Ja => self.jcc_on::<0x7>(i),
            Op::Js => self.jcc_on::<0x8>(i),
            Op::Jns => self.jcc_on::<0x9>(i),
            Op::Jp => self.jcc_on::<0xa>(i),
            Op::Jnp => self.jcc_on::<0xb>(i),
            Op::Jl => self.jcc_on::<0xc>(i),
            Op::Jge => self.jcc_on::<0xd>(i),
            Op::Jle => self.jcc_on::<0xe>(i),
            Op::Jg => self.jcc_on::<0xf>(i),
            Op::JmpRel => {
                self.next_rip = self.next_rip.wrapping_add(i.imm);
                Ok(())
            }
            Op::CallRel64 => {
                let ret = self.next_rip;
                self.push(bus, 8, ret)?;
                self.next_rip = ret.wrapping_add(i.imm);
                Ok(())
            }
            Op::Ret64 => {
                self.next_rip = self.pop(bus, 8)?;
                Ok(())
            }
            Op::PushR64 => {
                let v = self.gpr[i.ops[0].reg as usize & 15];
                self.push(bus, 8, v)
            }
            Op::PopR64 => {
                // POP RSP: the loaded value replaces the incremented RSP.
                let v = self.pop(bus, 8)?;
                self.gpr[i.ops[0].reg as usize & 15] = v;
                Ok(())
            }
            Op::CmovR => {
                let v = self.src_reg::<0>(i);
                self.cmov_to_reg(i, v);
                Ok(())
            }
            Op::CmovM => {
                let v = self.src_mem::<0, B>(bus, i)?;
                self.cmov_to_reg(i, v);
                Ok(())
            }
            Op::SetccR => {
                let v = self.cc.cond(i.imm2) as u64;
                self.gpr_set(i.ops[0].reg, 1, v);
                Ok(())
            }
            Op::Nop => Ok(()),
        }
    }

    #[inline(always)]
    fn mov_rr<const W: u8>(&mut self, i: &Insn) -> Res {
        let v = self.src_reg::<W>(i);
        self.reg_set::<W>(i.ops[0], v);
        Ok(())
    }

    #[inline(always)]
    fn mov_ri<const W: u8>(&mut self, i: &Insn) -> Res {
        self.reg_set::<W>(i.ops[0], i.imm);
        Ok(())
    }

    #[inline(always)]
    fn mov_rm<const W: u8, B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let v = self.src_mem::<W, B>(bus, i)?;
        self.reg_set::<W>(i.ops[0], v);
        Ok(())
    }

    #[inline(always)]
    fn mov_mr<const W: u8, B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let v = self.src_reg::<W>(i);
        let a = self.ea(i);
        self.write_mem(bus, a, fast::width::<W>(i.ops[0]), v)
    }

    /// LEA: the offset truncated to the destination width (as `lea`).
    #[inline(always)]
    fn lea_to<const W: u8>(&mut self, i: &Insn) -> Res {
        let a = self.mem_offset(i);
        let d = i.ops[0];
        self.reg_set::<W>(d, a & size_mask(fast::width::<W>(d) * 8));
        Ok(())
    }

    #[inline(always)]
    fn alu_rr<const OP: u8, const W: u8>(&mut self, i: &Insn) -> Res {
        let b = self.src_reg::<W>(i);
        self.alu_to_reg::<OP, W>(i, b);
        Ok(())
    }

    #[inline(always)]
    fn alu_ri<const OP: u8, const W: u8>(&mut self, i: &Insn) -> Res {
        self.alu_to_reg::<OP, W>(i, i.imm);
        Ok(())
    }

    #[inline(always)]
    fn alu_rm<const OP: u8, const W: u8, B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let b = self.src_mem::<W, B>(bus, i)?;
        self.alu_to_reg::<OP, W>(i, b);
        Ok(())
    }

    #[inline(always)]
    fn alu_mr<const OP: u8, B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let b = self.src_reg::<0>(i);
        self.alu_to_mem::<OP, B>(bus, i, b)
    }

    #[inline(always)]
    fn inc_dec_ok<const DEC: bool, const W: u8>(&mut self, i: &Insn) -> Res {
        self.inc_dec_reg::<DEC, W>(i);
        Ok(())
    }

    /// Jcc with condition code `CC`.
    #[inline(always)]
    fn jcc_on<const CC: u8>(&mut self, i: &Insn) -> Res {
        if self.cc.cond(CC) {
            self.next_rip = self.next_rip.wrapping_add(i.imm);
        }
        Ok(())
    }

    #[inline(always)]
    fn shift_ri_ok<const OP: u8, const W: u8>(&mut self, i: &Insn) -> Res {
        self.shift_ri::<OP, W>(i);
        Ok(())
    }

    /// Every form without a specialised handler: dispatch on the mnemonic.
    /// Kept out of line so the hot dispatch above stays compact.
    #[inline(never)]
    fn exec_generic<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        match i.mnem {
            M::Mov => self.mov(bus, i),
            M::Add | M::Or | M::Adc | M::Sbb | M::And | M::Sub | M::Xor | M::Cmp | M::Test => {
                self.alu2(bus, i)
            }
            M::Inc | M::Dec | M::Neg | M::Not => self.alu1(bus, i),
            M::Je
            | M::Jne
            | M::Jb
            | M::Jae
            | M::Jbe
            | M::Ja
            | M::Js
            | M::Jns
            | M::Jp
            | M::Jnp
            | M::Jl
            | M::Jge
            | M::Jle
            | M::Jg
            | M::Jo
            | M::Jno => self.jcc(i),
            M::Jmp => self.jmp(bus, i),
            M::Call => self.call(bus, i),
            M::Ret => self.ret(bus, i),
            M::Push => self.push_op(bus, i),
            M::Pop => self.pop_op(bus, i),
            M::Lea => self.lea(i),
            M::Movzx | M::Movsx | M::Movsxd => self.movzx_sx(bus, i),
            M::Xchg => self.xchg(bus, i),
            M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror | M::Rcl | M::Rcr => {
                self.shift(bus, i)
            }
            M::Shld | M::Shrd => self.shift_double(bus, i),
            M::Mul => self.mul1(bus, i, false),
            M::Imul if i.nops == 1 => self.mul1(bus, i, true),
            M::Imul => self.imul_n(bus, i),
            M::Div => self.div(bus, i, false),
            M::Idiv => self.div(bus, i, true),
            M::Bt | M::Bts | M::Btr | M::Btc => self.bt(bus, i),
            M::Bsf | M::Bsr | M::Tzcnt => self.bit_scan(bus, i),
            M::Lzcnt => self.lzcnt(bus, i),
            M::Popcnt => self.popcnt(bus, i),
            M::Bswap => self.bswap(i),
            M::Cmpxchg => self.cmpxchg(bus, i),
            M::Xadd => self.xadd(bus, i),
            M::Cmpxchg8b | M::Cmpxchg16b => self.cmpxchg_wide(bus, i),
            M::Cbw | M::Cwde | M::Cdqe | M::Cwd | M::Cdq | M::Cqo => self.sign_extend_acc(i),
            M::Clc | M::Stc | M::Cmc | M::Cld | M::Std => self.flag_op(i),
            M::Pushf | M::Pushfd | M::Pushfq => self.pushf(bus, i),
            M::Popf | M::Popfd | M::Popfq => self.popf(bus, i),
            M::Lahf => self.lahf(),
            M::Sahf => self.sahf(),
            M::Loop | M::Loope | M::Loopne | M::Jrcxz | M::Jecxz | M::Jcxz => self.loop_op(i),
            M::Leave => self.leave(bus, i),
            M::Enter => self.enter(bus, i),
            M::Movsd | M::Cmpsd if i.ops[0].kind == Kind::Mem && i.ops[0].reg == 1 => {
                self.string_op(bus, i)
            }
            M::Movsd | M::Cmpsd if i.ops[1].kind == Kind::Mem && i.ops[1].reg == 1 => {
                self.string_op(bus, i)
            }
            M::Movsb
            | M::Movsw
            | M::Movsq
            | M::Stosb
            | M::Stosw
            | M::Stosd
            | M::Stosq
            | M::Lodsb
            | M::Lodsw
            | M::Lodsd
            | M::Lodsq
            | M::Cmpsb
            | M::Cmpsw
            | M::Cmpsq
            | M::Scasb
            | M::Scasw
            | M::Scasd
            | M::Scasq
            | M::Insb
            | M::Insw
            | M::Insd
            | M::Outsb
            | M::Outsw
            | M::Outsd => self.string_op(bus, i),
            M::Xlatb => {
                // Offset RBX/EBX/BX + AL with the address size.
                let mask = if i.prefixes & P_ADDR16 != 0 {
                    0xffff
                } else if i.prefixes & P_ADDR32 != 0 {
                    0xffff_ffff
                } else {
                    u64::MAX
                };
                let off = self.gpr[3].wrapping_add(self.gpr[0] & 0xff) & mask;
                let a = self.linear(i.mem.seg as usize, off, 1);
                let v = self.read_mem(bus, a, 1)?;
                self.gpr_set(0, 1, v);
                Ok(())
            }
            M::Nop | M::Pause | M::Endbr64 | M::Endbr32 | M::Lfence | M::Mfence | M::Sfence => {
                Ok(())
            }
            M::Prefetchnta | M::Prefetcht0 | M::Prefetcht1 | M::Prefetcht2 | M::Prefetchw => Ok(()),
            M::Cpuid
            | M::Rdtsc
            | M::Rdtscp
            | M::Rdmsr
            | M::Wrmsr
            | M::Hlt
            | M::Cli
            | M::Sti
            | M::Int
            | M::Int3
            | M::Int1
            | M::Syscall
            | M::Sysret
            | M::Sysretq
            | M::Iret
            | M::Iretd
            | M::Iretq
            | M::Retf
            | M::Swapgs
            | M::Lgdt
            | M::Lidt
            | M::Sgdt
            | M::Sidt
            | M::Lldt
            | M::Ltr
            | M::Str
            | M::Sldt
            | M::Smsw
            | M::Clts
            | M::Verr
            | M::Verw
            | M::Lar
            | M::Lsl
            | M::Invlpg
            | M::Wbinvd
            | M::Invd
            | M::Clflush
            | M::Clflushopt
            | M::In
            | M::Out => self.system(bus, i),
            m if is_cmovcc(m) => self.cmov(bus, i),
            m if is_setcc(m) => self.setcc(bus, i),
            _ => {
                if let Some(r) = self.mmx(bus, i) {
                    return r;
                }
                if let Some(r) = self.sse(bus, i) {
                    return r;
                }
                if let Some(r) = self.x87(bus, i) {
                    return r;
                }
                if let Some(r) = self.legacy(bus, i) {
                    return r;
                }
                self.undefined(bus, i)
            }
        }
    }

    /// #UD for anything not implemented; the bytes are logged once per
    /// distinct encoding.
    #[cold]
    fn undefined<B: Bus>(&mut self, bus: &mut B, i: &Insn) -> Res {
        let mut bytes = [0u8; 15];
        let n = (i.len as usize).clamp(1, 15);
        for (k, b) in bytes.iter_mut().enumerate().take(n) {
            match self.translate(bus, self.rip.wrapping_add(k as u64), Access::Exec) {
                Ok(p) => *b = self.phys_read(bus, p, 1) as u8,
                Err(_) => break,
            }
        }
        if self.code.note_undefined(&bytes[..n]) {
            log::warn!(
                "#UD at {:#x}: {:?} bytes {:02x?}",
                self.rip,
                i.mnem,
                &bytes[..n]
            );
        }
        Err(Event::ud())
    }
}
