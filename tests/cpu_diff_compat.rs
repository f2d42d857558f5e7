//! Differential tests of 32-bit instruction forms in compatibility mode
//! against the host CPU: the native side far-jumps to Linux's 32-bit user
//! code segment (0x23) for the instruction and back to 0x33 (see
//! tests/cpu_harness); the emulator runs the form with a 32-bit CS. Covers
//! what differs from 64-bit mode: operand/address-size defaults, 32-bit
//! stack operations, address wrap at 4 GiB, 16-bit addressing, and the
//! instructions that only exist outside 64-bit mode.

mod cpu_harness;

use cpu_harness::*;

const CF: u64 = 0x1;
const PF: u64 = 0x4;
const AF: u64 = 0x10;
const ZF: u64 = 0x40;
const SF: u64 = 0x80;
const OF: u64 = 0x800;

/// `[esi + 0x10]` as a ModRM memory operand (ESI points at DATA + 0x100).
const MEM_DISP: u64 = 0x10;

fn modrm_reg(reg: u8, rm: u8) -> u8 {
    0xc0 | (reg << 3) | rm
}
fn modrm_mem(reg: u8) -> [u8; 2] {
    [0x40 | (reg << 3) | 6, MEM_DISP as u8]
}

struct Suite {
    tally: Tally,
}

impl Suite {
    fn new() -> Self {
        Suite {
            tally: Tally::new(),
        }
    }

    fn check(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        prep: &dyn Fn(&mut State, &mut Rng),
        mask: u64,
    ) {
        let p = |s: &mut State, r: &mut Rng| {
            s.gpr[6] = DATA + 0x100;
            prep(s, r);
        };
        self.tally
            .check_bytes(name, bytes, Mode::Compat32, &p, &|_| mask);
    }

    /// Register (ECX, EDX) and memory variants of `opc /reg` for 8/16/32-bit
    /// operand sizes (`opc8` for the byte form).
    fn rm(&mut self, name: &str, opc8: Option<u8>, opc: u8, reg: u8, imm: Option<u8>, mask: u64) {
        for size in [1u8, 2, 4] {
            let op = if size == 1 {
                match opc8 {
                    Some(o) => o,
                    None => continue,
                }
            } else {
                opc
            };
            for variant in 0..3 {
                let mut v = Vec::new();
                if size == 2 {
                    v.push(0x66);
                }
                v.push(op);
                match variant {
                    0 => v.push(modrm_reg(reg, 1)),
                    1 => v.push(modrm_reg(reg, 2)),
                    _ => v.extend(modrm_mem(reg)),
                }
                if let Some(n) = imm {
                    let n = if n == 0 { size } else { n };
                    let x = self.tally.rng.interesting();
                    v.extend(&x.to_le_bytes()[..n as usize]);
                }
                self.check(&format!("{name}/{}", size * 8), v, &|_, _| {}, mask);
            }
        }
    }

    fn finish(self) {
        self.tally.finish("compatibility-mode forms");
    }
}

fn none(_: &mut State, _: &mut Rng) {}

/// Write a little-endian value into the random data window.
fn put(s: &mut State, at: usize, bytes: &[u8]) {
    s.data[at..at + bytes.len()].copy_from_slice(bytes);
}

#[test]
fn compat_alu_forms() {
    let mut t = Suite::new();
    let names = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
    for (op, name) in names.iter().enumerate() {
        let logic = matches!(op, 1 | 4 | 6);
        let mask = if logic { STATUS & !AF } else { STATUS };
        let b = op as u8 * 8;
        t.rm(&format!("{name} rm,ebx"), Some(b), b + 1, 3, None, mask);
        t.rm(&format!("{name} ebx,rm"), Some(b + 2), b + 3, 3, None, mask);
        t.rm(
            &format!("{name} rm,imm"),
            Some(0x80),
            0x81,
            op as u8,
            Some(0),
            mask,
        );
        t.rm(
            &format!("{name} rm,imm8"),
            None,
            0x83,
            op as u8,
            Some(1),
            mask,
        );
    }
    // One-byte INC/DEC (REX prefixes in 64-bit mode), 32 and 16 bits.
    for r in 0..8u8 {
        if r == 4 {
            continue;
        }
        t.check("inc r32", vec![0x40 + r], &none, STATUS);
        t.check("dec r32", vec![0x48 + r], &none, STATUS);
        t.check("inc r16", vec![0x66, 0x40 + r], &none, STATUS);
    }
    t.rm("inc rm", Some(0xfe), 0xff, 0, None, STATUS);
    t.rm("neg rm", Some(0xf6), 0xf7, 3, None, STATUS);
    t.rm("imul r,rm,imm", None, 0x69, 3, Some(0), CF | OF);
    t.rm("shl rm,1", Some(0xd0), 0xd1, 4, None, STATUS & !AF);
    t.rm("rcl rm,1", Some(0xd0), 0xd1, 2, None, CF | OF);
    t.check("mul ecx", vec![0xf7, 0xe1], &none, CF | OF);
    t.check(
        "div ecx",
        vec![0xf7, 0xf1],
        &|s, r| {
            s.gpr[1] = (r.next() as u32 | 1) as u64;
            s.gpr[2] = (s.gpr[2] as u32 % s.gpr[1] as u32) as u64;
        },
        0,
    );
    t.check("cwde", vec![0x98], &none, STATUS);
    t.check("cdq", vec![0x99], &none, STATUS);
    t.check(
        "cmovz eax,[esi+0x10]",
        vec![0x0f, 0x44, 0x46, 0x10],
        &none,
        STATUS,
    );
    t.check(
        "setb [esi+0x10]",
        vec![0x0f, 0x92, 0x46, 0x10],
        &none,
        STATUS,
    );
    t.check(
        "movzx eax,word [esi+0x10]",
        vec![0x0f, 0xb7, 0x46, 0x10],
        &none,
        STATUS,
    );
    t.check(
        "movsx eax,byte [esi+0x10]",
        vec![0x0f, 0xbe, 0x46, 0x10],
        &none,
        STATUS,
    );
    t.check(
        "xadd [esi+0x10],ecx",
        vec![0x0f, 0xc1, 0x4e, 0x10],
        &none,
        STATUS,
    );
    t.check(
        "cmpxchg [esi+0x10],ecx",
        vec![0x0f, 0xb1, 0x4e, 0x10],
        &none,
        STATUS,
    );
    t.check(
        "cmpxchg8b [esi+0x10]",
        vec![0x0f, 0xc7, 0x4e, 0x10],
        &none,
        ZF,
    );
    t.check("bswap edx", vec![0x0f, 0xca], &none, STATUS);
    t.check(
        "bt [esi+0x10],ecx",
        vec![0x0f, 0xa3, 0x4e, 0x10],
        &|s, _| s.gpr[1] &= 0x3f,
        CF,
    );
    t.finish();
}

#[test]
fn compat_addressing_forms() {
    let mut t = Suite::new();
    // mov eax, [disp32]: an absolute address (RIP-relative in 64-bit mode).
    let abs = (DATA + 0x20) as u32;
    let mut v = vec![0x8b, 0x05];
    v.extend(abs.to_le_bytes());
    t.check("mov eax,[disp32]", v, &none, STATUS);
    let mut v = vec![0xa1];
    v.extend(abs.to_le_bytes());
    t.check("mov eax,[moffs32]", v, &none, STATUS);
    let mut v = vec![0x89, 0x0d];
    v.extend(abs.to_le_bytes());
    t.check("mov [disp32],ecx", v, &none, STATUS);
    // [esi + disp32] wrapping past 4 GiB lands back in the data window.
    let mut v = vec![0x8b, 0x86];
    v.extend(0xffff_ff00u32.to_le_bytes());
    t.check(
        "mov eax,[esi-0x100] (4 GiB wrap)",
        v,
        &|s, _| s.gpr[6] = DATA + 0x200,
        STATUS,
    );
    let mut v = vec![0x01, 0x9c, 0x8e];
    v.extend(0xffff_f000u32.to_le_bytes());
    t.check(
        "add [esi+ecx*4-0x1000],ebx (wrap)",
        v,
        &|s, r| s.gpr[1] = 0x400 + r.below(0x40),
        STATUS,
    );
    // LEA: 32-bit, and 16-bit addressing (0x67) wrapping at 64 KiB.
    t.check(
        "lea eax,[ecx+edx*8+0x7f]",
        vec![0x8d, 0x44, 0xd1, 0x7f],
        &none,
        STATUS,
    );
    t.check(
        "lea eax,[bx+si+0x7f]",
        vec![0x67, 0x8d, 0x40, 0x7f],
        &none,
        STATUS,
    );
    t.check(
        "lea eax,[bp+di-0x80]",
        vec![0x67, 0x8d, 0x43, 0x80],
        &none,
        STATUS,
    );
    t.check(
        "lea ax,[bp+0x1234]",
        vec![0x66, 0x67, 0x8d, 0x86, 0x34, 0x12],
        &none,
        STATUS,
    );
    t.check(
        "lea ecx,[0xfffe]",
        vec![0x67, 0x8d, 0x0e, 0xfe, 0xff],
        &none,
        STATUS,
    );
    t.check("xlat", vec![0xd7], &|s, _| s.gpr[3] = DATA + 0x80, STATUS);
    t.finish();
}

#[test]
fn compat_stack_forms() {
    let mut t = Suite::new();
    for r in 0..8u8 {
        t.check("push r32", vec![0x50 + r], &none, STATUS);
        t.check("push r16", vec![0x66, 0x50 + r], &none, STATUS);
        if r != 4 {
            t.check("pop r32", vec![0x58 + r], &none, STATUS);
            t.check("pop r16", vec![0x66, 0x58 + r], &none, STATUS);
        }
    }
    t.check(
        "push imm32",
        vec![0x68, 0x78, 0x56, 0x34, 0x92],
        &none,
        STATUS,
    );
    t.check("push imm8", vec![0x6a, 0x80], &none, STATUS);
    t.check("push [esi+0x10]", vec![0xff, 0x76, 0x10], &none, STATUS);
    t.check("pop [esi+0x10]", vec![0x8f, 0x46, 0x10], &none, STATUS);
    t.check("pushfd", vec![0x9c], &none, STATUS);
    t.check("pushf (16)", vec![0x66, 0x9c], &none, STATUS);
    // POPFD: only status flags and DF in the popped value (TF would trap).
    let flags_on_stack = |s: &mut State, r: &mut Rng| {
        let f = (r.next() & (STATUS | DF)) as u32 | 2;
        s.stack[0x100..0x104].copy_from_slice(&f.to_le_bytes());
    };
    t.check("popfd", vec![0x9d], &flags_on_stack, STATUS | DF);
    t.check("pushad", vec![0x60], &none, STATUS);
    t.check("pushaw", vec![0x66, 0x60], &none, STATUS);
    t.check("popad", vec![0x61], &none, STATUS);
    t.check("popaw", vec![0x66, 0x61], &none, STATUS);
    // Segment registers: pushes of ES/CS/SS/DS, pops of the flat data
    // selector.
    for (name, op) in [
        ("push es", 0x06),
        ("push cs", 0x0e),
        ("push ss", 0x16),
        ("push ds", 0x1e),
    ] {
        t.check(name, vec![op], &none, STATUS);
    }
    let data_sel = |s: &mut State, _: &mut Rng| {
        s.stack[0x100..0x102].copy_from_slice(&USER_DS.to_le_bytes());
    };
    t.check("pop es", vec![0x07], &data_sel, STATUS);
    t.check("pop ds", vec![0x1f], &data_sel, STATUS);
    t.check("pop ss", vec![0x17], &data_sel, STATUS);
    // Frames: EBP inside the stack window.
    let frame = |s: &mut State, r: &mut Rng| s.gpr[5] = STACK + 0x120 + 4 * r.below(8);
    t.check("leave", vec![0xc9], &frame, STATUS);
    t.check(
        "leave (16)",
        vec![0x66, 0xc9],
        &|s, _| s.gpr[5] = STACK_TOP - 0x20,
        STATUS,
    );
    t.check("enter 0x10,0", vec![0xc8, 0x10, 0, 0], &frame, STATUS);
    t.check("enter 0x8,1", vec![0xc8, 0x08, 0, 1], &frame, STATUS);
    t.check("enter 0x4,3", vec![0xc8, 0x04, 0, 3], &frame, STATUS);
    // Near CALL/RET with 32-bit slots: the targets are the next instruction.
    t.check("call rel32", vec![0xe8, 0, 0, 0, 0], &none, STATUS);
    let ret_to = |bytes: &[u8]| insn_end_of(bytes, Mode::Compat32) as u32;
    let ret = [0xc3];
    let end = ret_to(&ret);
    t.check(
        "ret",
        ret.to_vec(),
        &move |s, _| s.stack[0x100..0x104].copy_from_slice(&end.to_le_bytes()),
        STATUS,
    );
    let ret8 = [0xc2, 0x08, 0x00];
    let end = ret_to(&ret8);
    t.check(
        "ret 8",
        ret8.to_vec(),
        &move |s, _| s.stack[0x100..0x104].copy_from_slice(&end.to_le_bytes()),
        STATUS,
    );
    let call = [0xff, 0xd0];
    let end = ret_to(&call) as u64;
    t.check(
        "call eax",
        call.to_vec(),
        &move |s, _| s.gpr[0] = end,
        STATUS,
    );
    let call = [0xff, 0x56, 0x10];
    let end = ret_to(&call);
    t.check(
        "call [esi+0x10]",
        call.to_vec(),
        &move |s, _| put(s, 0x110, &end.to_le_bytes()),
        STATUS,
    );
    let jmp = [0xff, 0xe2];
    let end = ret_to(&jmp) as u64;
    t.check("jmp edx", jmp.to_vec(), &move |s, _| s.gpr[2] = end, STATUS);
    t.finish();
}

#[test]
fn compat_string_and_loop_forms() {
    let mut t = Suite::new();
    let strings = |s: &mut State, r: &mut Rng| {
        s.gpr[6] = DATA + 0x80 + r.below(0x80);
        s.gpr[7] = DATA + 0x200 + r.below(0x80);
        s.gpr[1] = r.below(24);
        s.rflags &= !DF;
    };
    let cmp = STATUS;
    for (name, bytes, mask) in [
        ("movsb", vec![0xa4], STATUS),
        ("movsd", vec![0xa5], STATUS),
        ("movsw", vec![0x66, 0xa5], STATUS),
        ("stosd", vec![0xab], STATUS),
        ("lodsd", vec![0xad], STATUS),
        ("cmpsb", vec![0xa6], cmp),
        ("scasd", vec![0xaf], cmp),
        ("rep movsd", vec![0xf3, 0xa5], STATUS),
        ("rep stosb", vec![0xf3, 0xaa], STATUS),
        ("repe cmpsb", vec![0xf3, 0xa6], cmp),
        ("repne scasb", vec![0xf2, 0xae], cmp),
    ] {
        t.check(name, bytes, &strings, mask);
    }
    // LOOP/JECXZ/JCXZ with the next instruction as target: the counter
    // width is the point.
    let counter = |s: &mut State, r: &mut Rng| {
        s.gpr[1] = match r.below(4) {
            0 => 0,
            1 => 1,
            2 => 0x1_0000,
            _ => r.next(),
        } | (r.next() << 32);
    };
    t.check("loop", vec![0xe2, 0x00], &counter, STATUS);
    t.check("loop (cx)", vec![0x67, 0xe2, 0x00], &counter, STATUS);
    t.check("loopne", vec![0xe0, 0x00], &counter, STATUS);
    t.check("jecxz", vec![0xe3, 0x00], &counter, STATUS);
    t.check("jcxz", vec![0x67, 0xe3, 0x00], &counter, STATUS);
    t.finish();
}

#[test]
fn compat_only_instruction_forms() {
    let mut t = Suite::new();
    // BCD adjustments: the SDM leaves OF (DAA/DAS), SF/ZF/PF/OF (AAA/AAS)
    // and OF/AF/CF (AAM/AAD) undefined.
    t.check("daa", vec![0x27], &none, CF | AF | SF | ZF | PF);
    t.check("das", vec![0x2f], &none, CF | AF | SF | ZF | PF);
    t.check("aaa", vec![0x37], &none, CF | AF);
    t.check("aas", vec![0x3f], &none, CF | AF);
    t.check("aam", vec![0xd4, 0x0a], &none, SF | ZF | PF);
    t.check("aam 7", vec![0xd4, 0x07], &none, SF | ZF | PF);
    t.check("aad", vec![0xd5, 0x0a], &none, SF | ZF | PF);
    t.check("aad 0x13", vec![0xd5, 0x13], &none, SF | ZF | PF);
    t.check("salc", vec![0xd6], &none, STATUS);
    t.check(
        "into (OF clear)",
        vec![0xce],
        &|s, _| s.rflags &= !OF,
        STATUS,
    );
    // BOUND with the index inside [lower, upper].
    let bounds = |s: &mut State, r: &mut Rng| {
        let a = r.next() as i32 as i64;
        let b = r.next() as i32 as i64;
        let (lo, hi) = (a.min(b), a.max(b));
        let idx = lo + (r.next() % ((hi - lo) as u64 + 1)) as i64;
        put(s, 0x110, &(lo as i32).to_le_bytes());
        put(s, 0x114, &(hi as i32).to_le_bytes());
        s.gpr[3] = idx as u32 as u64;
    };
    t.check(
        "bound ebx,[esi+0x10]",
        vec![0x62, 0x5e, 0x10],
        &bounds,
        STATUS,
    );
    t.check("arpl [esi+0x10],cx", vec![0x63, 0x4e, 0x10], &none, ZF);
    t.check("arpl dx,cx", vec![0x63, 0xca], &none, ZF);
    // LDS/LES/LSS/LFS-free far pointers with the flat data selector.
    let far_ptr = |s: &mut State, r: &mut Rng| {
        put(s, 0x110, &(r.next() as u32).to_le_bytes());
        put(s, 0x114, &USER_DS.to_le_bytes());
    };
    t.check(
        "lds ebx,[esi+0x10]",
        vec![0xc5, 0x5e, 0x10],
        &far_ptr,
        STATUS,
    );
    t.check(
        "les edx,[esi+0x10]",
        vec![0xc4, 0x56, 0x10],
        &far_ptr,
        STATUS,
    );
    t.check(
        "lss ecx,[esi+0x10]",
        vec![0x0f, 0xb2, 0x4e, 0x10],
        &far_ptr,
        STATUS,
    );
    let far_ptr16 = |s: &mut State, r: &mut Rng| {
        put(s, 0x110, &(r.next() as u16).to_le_bytes());
        put(s, 0x112, &USER_DS.to_le_bytes());
    };
    t.check(
        "lds bx,[esi+0x10]",
        vec![0x66, 0xc5, 0x5e, 0x10],
        &far_ptr16,
        STATUS,
    );
    t.finish();
}
