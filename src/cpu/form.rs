//! The handler form of a decoded instruction, chosen once per cached block
//! by [`classify`] so the run loop dispatches on one dense byte instead of
//! the mnemonic (iced's ~1800 values) followed by run-time operand-kind
//! checks.
//!
//! Only the forms that dominate real code (integer ALU, MOV, LEA, Jcc,
//! CALL/RET, PUSH/POP of registers, shifts by a constant) get a form of
//! their own, restricted to plain general-purpose registers and memory
//! operands without REP/LOCK prefixes. Everything else is [`Op::Generic`]
//! and runs through the full per-mnemonic dispatch in `exec/mod.rs`, which
//! stays the reference: a specialised handler must compute exactly what the
//! generic one does for the same instruction.

use iced_x86::Mnemonic;

use super::decode::{is_cmovcc, is_setcc, Insn, Kind, P_LOCK, P_REP, P_REPNE};

/// Handler form. Operand shapes: R = general-purpose register (not
/// AH..BH), M = memory operand, I = immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Op {
    /// The per-mnemonic dispatch (`Cpu::exec_generic`).
    #[default]
    Generic,
    MovRR,
    MovRI,
    MovRM,
    MovMR,
    MovMI,
    /// MOVZX/MOVSX/MOVSXD r, r/m.
    MovzxR,
    MovzxM,
    MovsxR,
    MovsxM,
    Lea,
    AddRR,
    AddRI,
    AddRM,
    AddMR,
    AddMI,
    OrRR,
    OrRI,
    OrRM,
    OrMR,
    OrMI,
    AdcRR,
    AdcRI,
    AdcRM,
    AdcMR,
    AdcMI,
    SbbRR,
    SbbRI,
    SbbRM,
    SbbMR,
    SbbMI,
    AndRR,
    AndRI,
    AndRM,
    AndMR,
    AndMI,
    SubRR,
    SubRI,
    SubRM,
    SubMR,
    SubMI,
    XorRR,
    XorRI,
    XorRM,
    XorMR,
    XorMI,
    CmpRR,
    CmpRI,
    CmpRM,
    CmpMR,
    CmpMI,
    TestRR,
    TestRI,
    TestMR,
    TestMI,
    IncR,
    DecR,
    NotR,
    /// BSWAP r32/r64.
    BswapR,
    /// SHL/SHR/SAR/ROL/ROR r, imm8.
    ShlRI,
    ShrRI,
    SarRI,
    RolRI,
    RorRI,
    /// Jcc rel, one form per condition (in condition-code order, SDM vol. 1
    /// appendix B) so each evaluates its condition without a dispatch on it.
    Jo,
    Jno,
    Jb,
    Jae,
    Je,
    Jne,
    Jbe,
    Ja,
    Js,
    Jns,
    Jp,
    Jnp,
    Jl,
    Jge,
    Jle,
    Jg,
    JmpRel,
    /// Near CALL rel32 / RET with a 64-bit stack slot.
    CallRel64,
    Ret64,
    /// PUSH/POP r64 with a 64-bit stack slot.
    PushR64,
    PopR64,
    /// CMOVcc r, r / r, m.
    CmovR,
    CmovM,
    /// SETcc r8.
    SetccR,
    Nop,
    /// The forms above specialised to 32- and 64-bit operands (`sized`):
    /// register accesses and flag widths without a run-time width.
    MovRR32,
    MovRR64,
    MovRI32,
    MovRI64,
    MovRM32,
    MovRM64,
    MovMR32,
    MovMR64,
    Lea32,
    Lea64,
    AddRR32,
    AddRR64,
    AddRI32,
    AddRI64,
    AddRM32,
    AddRM64,
    OrRR32,
    OrRR64,
    OrRI32,
    OrRI64,
    OrRM32,
    OrRM64,
    AndRR32,
    AndRR64,
    AndRI32,
    AndRI64,
    AndRM32,
    AndRM64,
    SubRR32,
    SubRR64,
    SubRI32,
    SubRI64,
    SubRM32,
    SubRM64,
    XorRR32,
    XorRR64,
    XorRI32,
    XorRI64,
    XorRM32,
    XorRM64,
    CmpRR32,
    CmpRR64,
    CmpRI32,
    CmpRI64,
    CmpRM32,
    CmpRM64,
    TestRR32,
    TestRR64,
    TestRI32,
    TestRI64,
    IncR32,
    IncR64,
    DecR32,
    DecR64,
    ShlRI32,
    ShlRI64,
    ShrRI32,
    ShrRI64,
    SarRI32,
    SarRI64,
    RolRI32,
    RolRI64,
    RorRI32,
    RorRI64,
}

/// The five forms (RR, RI, RM, MR, MI) of each two-operand ALU mnemonic.
fn alu_forms(m: Mnemonic) -> Option<[Op; 5]> {
    use Op::*;
    Some(match m {
        Mnemonic::Add => [AddRR, AddRI, AddRM, AddMR, AddMI],
        Mnemonic::Or => [OrRR, OrRI, OrRM, OrMR, OrMI],
        Mnemonic::Adc => [AdcRR, AdcRI, AdcRM, AdcMR, AdcMI],
        Mnemonic::Sbb => [SbbRR, SbbRI, SbbRM, SbbMR, SbbMI],
        Mnemonic::And => [AndRR, AndRI, AndRM, AndMR, AndMI],
        Mnemonic::Sub => [SubRR, SubRI, SubRM, SubMR, SubMI],
        Mnemonic::Xor => [XorRR, XorRI, XorRM, XorMR, XorMI],
        Mnemonic::Cmp => [CmpRR, CmpRI, CmpRM, CmpMR, CmpMI],
        _ => return None,
    })
}

/// The 32- or 64-bit variant of `op` when the instruction's operand width
/// (that of its destination) is one of those and `op` has one.
fn sized(op: Op, width: u8) -> Op {
    use Op::*;
    let (w32, w64) = match op {
        MovRR => (MovRR32, MovRR64),
        MovRI => (MovRI32, MovRI64),
        MovRM => (MovRM32, MovRM64),
        MovMR => (MovMR32, MovMR64),
        Lea => (Lea32, Lea64),
        AddRR => (AddRR32, AddRR64),
        AddRI => (AddRI32, AddRI64),
        AddRM => (AddRM32, AddRM64),
        OrRR => (OrRR32, OrRR64),
        OrRI => (OrRI32, OrRI64),
        OrRM => (OrRM32, OrRM64),
        AndRR => (AndRR32, AndRR64),
        AndRI => (AndRI32, AndRI64),
        AndRM => (AndRM32, AndRM64),
        SubRR => (SubRR32, SubRR64),
        SubRI => (SubRI32, SubRI64),
        SubRM => (SubRM32, SubRM64),
        XorRR => (XorRR32, XorRR64),
        XorRI => (XorRI32, XorRI64),
        XorRM => (XorRM32, XorRM64),
        CmpRR => (CmpRR32, CmpRR64),
        CmpRI => (CmpRI32, CmpRI64),
        CmpRM => (CmpRM32, CmpRM64),
        TestRR => (TestRR32, TestRR64),
        TestRI => (TestRI32, TestRI64),
        IncR => (IncR32, IncR64),
        DecR => (DecR32, DecR64),
        ShlRI => (ShlRI32, ShlRI64),
        ShrRI => (ShrRI32, ShrRI64),
        SarRI => (SarRI32, SarRI64),
        RolRI => (RolRI32, RolRI64),
        RorRI => (RorRI32, RorRI64),
        _ => return op,
    };
    match width {
        4 => w32,
        8 => w64,
        _ => op,
    }
}

/// Choose the handler form of a converted instruction.
pub fn classify(i: &Insn) -> Op {
    sized(classify_unsized(i), i.ops[0].size)
}

fn classify_unsized(i: &Insn) -> Op {
    if i.prefixes & (P_LOCK | P_REP | P_REPNE) != 0 {
        return Op::Generic;
    }
    let k0 = i.ops[0].kind;
    let k1 = i.ops[1].kind;
    // A plain memory operand (not a string operand, which has reg 1).
    let mem = |n: usize| i.ops[n].kind == Kind::Mem && i.ops[n].reg == 0 && i.ops[n].size <= 8;
    let imm = |n: usize| i.ops[n].kind == Kind::Imm && i.ops[n].reg == 0;
    let gpr = |n: usize| i.ops[n].kind == Kind::Gpr;
    let two = i.nops == 2;
    use Mnemonic as M;
    match i.mnem {
        M::Mov if two => match (k0, k1) {
            (Kind::Gpr, Kind::Gpr) => Op::MovRR,
            (Kind::Gpr, Kind::Imm) if imm(1) => Op::MovRI,
            (Kind::Gpr, Kind::Mem) if mem(1) => Op::MovRM,
            (Kind::Mem, Kind::Gpr) if mem(0) => Op::MovMR,
            (Kind::Mem, Kind::Imm) if mem(0) && imm(1) => Op::MovMI,
            _ => Op::Generic,
        },
        M::Movzx if two && gpr(0) && gpr(1) => Op::MovzxR,
        M::Movzx if two && gpr(0) && mem(1) => Op::MovzxM,
        M::Movsx | M::Movsxd if two && gpr(0) && gpr(1) => Op::MovsxR,
        M::Movsx | M::Movsxd if two && gpr(0) && mem(1) => Op::MovsxM,
        M::Lea if two && gpr(0) && mem(1) => Op::Lea,
        M::Test if two => match (k0, k1) {
            (Kind::Gpr, Kind::Gpr) => Op::TestRR,
            (Kind::Gpr, Kind::Imm) if imm(1) => Op::TestRI,
            (Kind::Mem, Kind::Gpr) if mem(0) => Op::TestMR,
            (Kind::Mem, Kind::Imm) if mem(0) && imm(1) => Op::TestMI,
            _ => Op::Generic,
        },
        m if two && alu_forms(m).is_some() => {
            let f = alu_forms(m).unwrap_or([Op::Generic; 5]);
            match (k0, k1) {
                (Kind::Gpr, Kind::Gpr) => f[0],
                (Kind::Gpr, Kind::Imm) if imm(1) => f[1],
                (Kind::Gpr, Kind::Mem) if mem(1) => f[2],
                (Kind::Mem, Kind::Gpr) if mem(0) => f[3],
                (Kind::Mem, Kind::Imm) if mem(0) && imm(1) => f[4],
                _ => Op::Generic,
            }
        }
        M::Inc if i.nops == 1 && gpr(0) => Op::IncR,
        M::Dec if i.nops == 1 && gpr(0) => Op::DecR,
        M::Not if i.nops == 1 && gpr(0) => Op::NotR,
        M::Bswap if i.nops == 1 && gpr(0) => Op::BswapR,
        M::Shl | M::Sal if two && gpr(0) && imm(1) => Op::ShlRI,
        M::Shr if two && gpr(0) && imm(1) => Op::ShrRI,
        M::Sar if two && gpr(0) && imm(1) => Op::SarRI,
        M::Rol if two && gpr(0) && imm(1) => Op::RolRI,
        M::Ror if two && gpr(0) && imm(1) => Op::RorRI,
        M::Jo => Op::Jo,
        M::Jno => Op::Jno,
        M::Jb => Op::Jb,
        M::Jae => Op::Jae,
        M::Je => Op::Je,
        M::Jne => Op::Jne,
        M::Jbe => Op::Jbe,
        M::Ja => Op::Ja,
        M::Js => Op::Js,
        M::Jns => Op::Jns,
        M::Jp => Op::Jp,
        M::Jnp => Op::Jnp,
        M::Jl => Op::Jl,
        M::Jge => Op::Jge,
        M::Jle => Op::Jle,
        M::Jg => Op::Jg,
        M::Jmp if k0 == Kind::Rel => Op::JmpRel,
        M::Call if k0 == Kind::Rel && i.osz == 8 => Op::CallRel64,
        M::Ret if i.nops == 0 && i.osz == 8 => Op::Ret64,
        M::Push if i.nops == 1 && gpr(0) && i.ops[0].size == 8 && i.osz == 8 => Op::PushR64,
        M::Pop if i.nops == 1 && gpr(0) && i.ops[0].size == 8 && i.osz == 8 => Op::PopR64,
        m if is_cmovcc(m) && two && gpr(0) => {
            if gpr(1) {
                Op::CmovR
            } else if mem(1) {
                Op::CmovM
            } else {
                Op::Generic
            }
        }
        m if is_setcc(m) && i.nops == 1 && gpr(0) => Op::SetccR,
        M::Nop | M::Endbr64 | M::Pause => Op::Nop,
        _ => Op::Generic,
    }
}
