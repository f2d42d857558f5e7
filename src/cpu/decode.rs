//! The compact internal instruction form, converted once from iced-x86's
//! `Instruction` when a block is decoded and then cached.
//!
//! Addresses are stored relative to the end of the instruction (branch
//! targets, RIP-relative displacements) so a cached block stays valid when
//! the same physical page is mapped at another virtual address.

use iced_x86::{Code, Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};

use super::form::{classify, Op};

/// Operand kinds after conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Kind {
    #[default]
    None,
    /// General-purpose register `reg` (0..15), `size` bytes, low part.
    Gpr,
    /// AH, CH, DH, BH: bits 8..15 of register `reg` (0..3).
    GprHi,
    /// The memory operand described by `Insn::mem`.
    Mem,
    /// `Insn::imm` (already sign- or zero-extended as the encoding says).
    Imm,
    Xmm,
    Mmx,
    St,
    Seg,
    Cr,
    Dr,
    /// A relative branch target (`Insn::imm` holds the displacement from the
    /// next instruction).
    Rel,
    /// A direct far pointer (JMP/CALL ptr16:16/ptr16:32): `Insn::imm` holds
    /// selector << 32 | offset.
    Far,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Opnd {
    pub kind: Kind,
    pub reg: u8,
    /// Size in bytes.
    pub size: u8,
}

/// No base/index register.
pub const NO_REG: u8 = 0xff;
/// RIP-relative base (displacement from the next instruction).
pub const RIP_REG: u8 = 16;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemRef {
    pub base: u8,
    pub index: u8,
    /// log2 of the index scale.
    pub scale: u8,
    /// Segment register number whose base applies (only FS/GS have one in
    /// 64-bit mode; others are kept for fault selection).
    pub seg: u8,
    pub disp: i64,
}

pub const P_REP: u8 = 1;
pub const P_REPNE: u8 = 2;
pub const P_LOCK: u8 = 4;
pub const P_ADDR32: u8 = 8;
/// The instruction ends a decoded block (control transfer or a change of
/// state the following instructions depend on).
pub const P_ENDS_BLOCK: u8 = 16;
/// 16-bit addressing (0x67 in compatibility mode): offsets wrap at 64 KiB.
pub const P_ADDR16: u8 = 32;

#[derive(Clone, Copy, Debug)]
pub struct Insn {
    /// Handler form (`form::classify`), set last by `convert`.
    pub op: Op,
    pub mnem: Mnemonic,
    pub code: Code,
    pub len: u8,
    pub prefixes: u8,
    pub nops: u8,
    pub ops: [Opnd; 4],
    pub mem: MemRef,
    pub imm: u64,
    /// Second immediate (ENTER's nesting level, EXTRQ...).
    pub imm2: u8,
    /// Operand size in bytes of stack operations (PUSH/POP/CALL/RET/
    /// PUSHF/POPF/LEAVE/ENTER/PUSHA/POPA, far transfers): 2, 4 or 8.
    pub osz: u8,
    /// Position in its cached block, and the offset of its end from the
    /// block's first byte (set when the block is built; 0 and `len` for a
    /// lone instruction): the run loop derives the next RIP and the
    /// instruction count from them instead of carrying both from
    /// instruction to instruction.
    pub pos: u8,
    pub end: u16,
}

impl Insn {
    /// Its address, in a block starting at `start`.
    #[inline(always)]
    pub fn rip_in(&self, start: u64) -> u64 {
        start.wrapping_add(self.end as u64 - self.len as u64)
    }

    pub const INVALID: Insn = Insn {
        op: Op::Generic,
        mnem: Mnemonic::INVALID,
        code: Code::INVALID,
        len: 1,
        prefixes: P_ENDS_BLOCK,
        nops: 0,
        ops: [Opnd {
            kind: Kind::None,
            reg: 0,
            size: 0,
        }; 4],
        mem: MemRef {
            base: NO_REG,
            index: NO_REG,
            scale: 0,
            seg: 3,
            disp: 0,
        },
        imm: 0,
        imm2: 0,
        osz: 8,
        pos: 0,
        end: 1,
    };

    #[inline(always)]
    pub fn rep(&self) -> bool {
        self.prefixes & (P_REP | P_REPNE) != 0
    }
}

fn seg_num(r: Register) -> u8 {
    match r {
        Register::ES => 0,
        Register::CS => 1,
        Register::SS => 2,
        Register::FS => 4,
        Register::GS => 5,
        _ => 3,
    }
}

fn gpr_num(r: Register) -> u8 {
    if r == Register::None {
        return NO_REG;
    }
    if r == Register::RIP || r == Register::EIP {
        return RIP_REG;
    }
    r.full_register().number() as u8
}

fn convert_register(r: Register) -> Opnd {
    let n = r as u32;
    let size = r.size() as u8;
    if (Register::AH as u32..=Register::BH as u32).contains(&n) {
        return Opnd {
            kind: Kind::GprHi,
            reg: (n - Register::AH as u32) as u8,
            size: 1,
        };
    }
    if r.is_gpr() {
        return Opnd {
            kind: Kind::Gpr,
            reg: r.full_register().number() as u8,
            size,
        };
    }
    let kind = if r.is_xmm() {
        Kind::Xmm
    } else if r.is_mm() {
        Kind::Mmx
    } else if r.is_st() {
        Kind::St
    } else if r.is_segment_register() {
        return Opnd {
            kind: Kind::Seg,
            reg: seg_num(r),
            size: 2,
        };
    } else if r.is_cr() {
        Kind::Cr
    } else if r.is_dr() {
        Kind::Dr
    } else {
        Kind::None
    };
    Opnd {
        kind,
        reg: r.number() as u8,
        size,
    }
}

/// Does this mnemonic transfer control or change state that later
/// instructions of the same block were decoded or translated under?
fn ends_block(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Jmp | Je
            | Jne
            | Jb
            | Jae
            | Jbe
            | Ja
            | Js
            | Jns
            | Jp
            | Jnp
            | Jl
            | Jge
            | Jle
            | Jg
            | Jo
            | Jno
            | Jrcxz
            | Jecxz
            | Jcxz
            | Loop
            | Loope
            | Loopne
            | Call
            | Ret
            | Retf
            | Iret
            | Iretd
            | Iretq
            | Int
            | Int1
            | Int3
            | Into
            | Syscall
            | Sysret
            | Sysenter
            | Sysexit
            | Hlt
            | Ud0
            | Ud1
            | Ud2
            | Cli
            | Sti
            | Popf
            | Popfq
            | Wrmsr
            | Lgdt
            | Lidt
            | Lldt
            | Ltr
            | Invlpg
            | Invpcid
            | Swapgs
            | Cpuid
            | INVALID
            | Mov
            | Pop
            | Lss
            | Lfs
            | Lgs
            | Rsm
            | Wbinvd
            | Invd
            | Xrstor
            | Fxrstor
            | Enter
            | Sysretq
            | Jmpe
            | Lds
            | Les
    )
}

/// The operand size of a stack operation: what one slot pushed or popped
/// by this instruction is (2, 4 or 8 bytes); 8 for anything else.
fn stack_operand_size(ins: &Instruction) -> u8 {
    use Code::*;
    use Mnemonic as M;
    let code = ins.code();
    match code {
        Leavew | Enterw_imm16_imm8 | Retfw | Retfw_imm16 | Call_ptr1616 | Call_m1616
        | Jmp_ptr1616 | Jmp_m1616 | Pushaw | Popaw => return 2,
        Leaved | Enterd_imm16_imm8 | Retfd | Retfd_imm16 | Call_ptr1632 | Call_m1632
        | Jmp_ptr1632 | Jmp_m1632 | Pushad | Popad => return 4,
        Leaveq | Enterq_imm16_imm8 | Retfq | Retfq_imm16 | Call_m1664 | Jmp_m1664 => return 8,
        _ => {}
    }
    match ins.mnemonic() {
        M::Push
        | M::Pop
        | M::Pushf
        | M::Pushfd
        | M::Pushfq
        | M::Popf
        | M::Popfd
        | M::Popfq
        | M::Call => ins.stack_pointer_increment().unsigned_abs().clamp(2, 8) as u8,
        M::Ret => {
            let imm = if ins.op_count() == 1 {
                ins.immediate(0) as i32
            } else {
                0
            };
            (ins.stack_pointer_increment() - imm).clamp(2, 8) as u8
        }
        _ => 8,
    }
}

/// Condition-code nibble (SDM vol. 1 appendix B) of Jcc/SETcc/CMOVcc.
pub fn cond_of(m: Mnemonic) -> Option<u8> {
    use Mnemonic::*;
    Some(match m {
        Jo | Seto | Cmovo => 0,
        Jno | Setno | Cmovno => 1,
        Jb | Setb | Cmovb => 2,
        Jae | Setae | Cmovae => 3,
        Je | Sete | Cmove => 4,
        Jne | Setne | Cmovne => 5,
        Jbe | Setbe | Cmovbe => 6,
        Ja | Seta | Cmova => 7,
        Js | Sets | Cmovs => 8,
        Jns | Setns | Cmovns => 9,
        Jp | Setp | Cmovp => 10,
        Jnp | Setnp | Cmovnp => 11,
        Jl | Setl | Cmovl => 12,
        Jge | Setge | Cmovge => 13,
        Jle | Setle | Cmovle => 14,
        Jg | Setg | Cmovg => 15,
        _ => return None,
    })
}

/// Is `m` a CMOVcc (its condition: [`cond_of`])?
pub fn is_cmovcc(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Cmove
        | Cmovne
        | Cmovb
        | Cmovae
        | Cmovbe
        | Cmova
        | Cmovs
        | Cmovns
        | Cmovp
        | Cmovnp
        | Cmovl
        | Cmovge
        | Cmovle
        | Cmovg
        | Cmovo
        | Cmovno
    )
}

/// Is `m` a SETcc (its condition: [`cond_of`])?
pub fn is_setcc(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Sete
        | Setne
        | Setb
        | Setae
        | Setbe
        | Seta
        | Sets
        | Setns
        | Setp
        | Setnp
        | Setl
        | Setge
        | Setle
        | Setg
        | Seto
        | Setno
    )
}

/// Convert one decoded iced instruction. `next_ip` is the virtual address
/// of the following instruction at decode time.
pub fn convert(ins: &Instruction) -> Insn {
    if ins.is_invalid() {
        return Insn {
            len: ins.len().max(1) as u8,
            end: ins.len().max(1) as u16,
            ..Insn::INVALID
        };
    }
    let next_ip = ins.next_ip();
    let mut out = Insn {
        op: Op::Generic,
        mnem: ins.mnemonic(),
        code: ins.code(),
        len: ins.len() as u8,
        prefixes: 0,
        nops: ins.op_count().min(4) as u8,
        ops: [Opnd::default(); 4],
        mem: MemRef {
            base: NO_REG,
            index: NO_REG,
            scale: 0,
            seg: 3,
            disp: 0,
        },
        imm: 0,
        imm2: 0,
        osz: stack_operand_size(ins),
        pos: 0,
        end: ins.len() as u16,
    };
    if let Some(cc) = cond_of(out.mnem) {
        out.imm2 = cc;
    }
    if ins.has_rep_prefix() {
        out.prefixes |= P_REP;
    }
    if ins.has_repne_prefix() {
        out.prefixes |= P_REPNE;
    }
    if ins.has_lock_prefix() {
        out.prefixes |= P_LOCK;
    }
    let mut block_end = ends_block(out.mnem);
    // MOV and POP only end a block when they load a segment, control or
    // debug register (SS shadow, paging and mode changes).
    if out.mnem == Mnemonic::Mov || out.mnem == Mnemonic::Pop {
        block_end = ins.op_kind(0) == OpKind::Register && {
            let r = ins.op_register(0);
            r.is_segment_register() || r.is_cr() || r.is_dr()
        };
    }
    if block_end {
        out.prefixes |= P_ENDS_BLOCK;
    }
    for i in 0..out.nops as u32 {
        let o = match ins.op_kind(i) {
            OpKind::Register => convert_register(ins.op_register(i)),
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
                out.imm = ins.near_branch64().wrapping_sub(next_ip);
                Opnd {
                    kind: Kind::Rel,
                    reg: 0,
                    size: 8,
                }
            }
            OpKind::FarBranch16 | OpKind::FarBranch32 => {
                out.imm = (ins.far_branch_selector() as u64) << 32 | ins.far_branch32() as u64;
                Opnd {
                    kind: Kind::Far,
                    reg: 0,
                    size: 8,
                }
            }
            OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64 => {
                out.imm = ins.immediate(i);
                Opnd {
                    kind: Kind::Imm,
                    reg: 0,
                    size: 8,
                }
            }
            OpKind::Immediate8_2nd => {
                out.imm2 = ins.immediate8_2nd();
                Opnd {
                    kind: Kind::Imm,
                    reg: 1,
                    size: 1,
                }
            }
            OpKind::Memory => {
                let base = ins.memory_base();
                let mut disp = ins.memory_displacement64() as i64;
                let b = gpr_num(base);
                if b == RIP_REG {
                    disp = disp.wrapping_sub(next_ip as i64);
                }
                if base.is_gpr32() || ins.memory_index().is_gpr32() {
                    out.prefixes |= P_ADDR32;
                }
                if base.is_gpr16() || ins.memory_index().is_gpr16() {
                    out.prefixes |= P_ADDR16;
                }
                out.mem = MemRef {
                    base: b,
                    index: gpr_num(ins.memory_index()),
                    scale: ins.memory_index_scale().trailing_zeros() as u8,
                    seg: seg_num(ins.memory_segment()),
                    disp,
                };
                Opnd {
                    kind: Kind::Mem,
                    reg: 0,
                    size: ins.memory_size().size() as u8,
                }
            }
            OpKind::MemorySegRSI
            | OpKind::MemorySegESI
            | OpKind::MemorySegSI
            | OpKind::MemorySegDI
            | OpKind::MemorySegEDI
            | OpKind::MemorySegRDI
            | OpKind::MemoryESDI
            | OpKind::MemoryESEDI
            | OpKind::MemoryESRDI => {
                if matches!(
                    ins.op_kind(i),
                    OpKind::MemorySegESI | OpKind::MemorySegEDI | OpKind::MemoryESEDI
                ) {
                    out.prefixes |= P_ADDR32;
                }
                if matches!(
                    ins.op_kind(i),
                    OpKind::MemorySegSI | OpKind::MemorySegDI | OpKind::MemoryESDI
                ) {
                    out.prefixes |= P_ADDR16;
                }
                if matches!(
                    ins.op_kind(i),
                    OpKind::MemorySegRSI | OpKind::MemorySegESI | OpKind::MemorySegSI
                ) {
                    out.mem.seg = seg_num(ins.memory_segment());
                }
                Opnd {
                    kind: Kind::Mem,
                    reg: 1,
                    size: ins.memory_size().size() as u8,
                }
            }
            #[allow(unreachable_patterns)]
            _ => Opnd {
                kind: Kind::None,
                reg: 0,
                size: 0,
            },
        };
        out.ops[i as usize] = o;
    }
    out.op = classify(&out);
    if ins.code_size() != iced_x86::CodeSize::Code64 && is_near_branch_form(out.op) {
        // Compatibility mode checks branch targets against the CS limit,
        // which only the generic handlers do: the 64-bit forms stay free
        // of it.
        out.op = Op::Generic;
    }
    out
}

/// The specialised forms of relative JMP and Jcc.
fn is_near_branch_form(op: Op) -> bool {
    use Op::*;
    matches!(
        op,
        Jo | Jno | Jb | Jae | Je | Jne | Jbe | Ja | Js | Jns | Jp | Jnp | Jl | Jge | Jle | Jg | JmpRel
    )
}

/// Decode one instruction from `bytes` at virtual address `ip`, as 64-bit
/// code or (`bitness` 32) compatibility-mode code.
/// Returns `None` when the bytes end before the instruction does.
pub fn decode_one(bytes: &[u8], ip: u64, bitness: u32) -> Option<(Insn, Instruction)> {
    let mut d = Decoder::with_ip(bitness, bytes, ip, DecoderOptions::NONE);
    let mut ins = Instruction::default();
    d.decode_out(&mut ins);
    if ins.is_invalid() && d.last_error() == iced_x86::DecoderError::NoMoreBytes {
        return None;
    }
    Some((convert(&ins), ins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rip_relative_is_stored_relative() {
        // lea rax, [rip+0x10]
        let (i, _) = decode_one(&[0x48, 0x8d, 0x05, 0x10, 0, 0, 0], 0x1000, 64).unwrap();
        assert_eq!(i.mem.base, RIP_REG);
        assert_eq!(i.mem.disp, 0x10);
    }

    #[test]
    fn branch_is_relative() {
        // jmp -2 (self loop)
        let (i, _) = decode_one(&[0xeb, 0xfe], 0x5000, 64).unwrap();
        assert_eq!(i.imm as i64, -2);
        assert!(i.prefixes & P_ENDS_BLOCK != 0);
    }

    #[test]
    fn compat_stack_operand_sizes() {
        // push eax; call rel32; ret 8; pushfd; 66 push ax (32-bit code)
        assert_eq!(decode_one(&[0x50], 0, 32).unwrap().0.osz, 4);
        assert_eq!(decode_one(&[0xe8, 0, 0, 0, 0], 0, 32).unwrap().0.osz, 4);
        assert_eq!(decode_one(&[0xc2, 8, 0], 0, 32).unwrap().0.osz, 4);
        assert_eq!(decode_one(&[0x9c], 0, 32).unwrap().0.osz, 4);
        assert_eq!(decode_one(&[0x66, 0x50], 0, 32).unwrap().0.osz, 2);
        assert_eq!(decode_one(&[0x50], 0, 64).unwrap().0.osz, 8);
        assert_eq!(decode_one(&[0xc2, 8, 0], 0, 64).unwrap().0.osz, 8);
        // lea eax, [bx+si+4] (16-bit addressing in 32-bit code)
        let (i, _) = decode_one(&[0x67, 0x8d, 0x40, 4], 0, 32).unwrap();
        assert!(i.prefixes & P_ADDR16 != 0);
    }

    #[test]
    fn truncated_bytes_report_none() {
        assert!(decode_one(&[0x48, 0xb8, 1, 2], 0, 64).is_none());
    }
}
