//! Segment limits, null selectors and call gates in IA-32e mode, with
//! small assembled programs: data accesses beyond a segment's limit (byte
//! and page granular, expand-down) raise #GP(0), SS-based ones (explicit
//! or PUSH/POP/CALL/RET/LEAVE) #SS(0), instruction fetches and branch
//! targets beyond the CS limit #GP(0); a null DS/FS is #GP(0) on use. Far
//! CALL/JMP through 64-bit call gates, the inner-level stack switch from
//! the TSS, far RET back to CPL 3, and the gate checks' error codes.

mod cpu_system_kit;

use cpu_system_kit::*;
use iced_x86::code_asm::*;
use netvm::cpu::state::{CR0_PG, CS, DS, SS};
use netvm::cpu::{Cpu, Exit, RamBus, Segment, TableReg};

const PML4: u64 = 0x1000;
const GDT: u64 = 0x5000;
const TSS: u64 = 0x6000;
const IDT: u64 = 0x7000;
const KSTACK: u64 = 0x9000;
const NP_HANDLER: u64 = 0x22000;
const SS_HANDLER: u64 = 0x23000;
const GP_HANDLER: u64 = 0x24000;
const GATE_TARGET: u64 = 0x25000;
const UCODE32: u64 = 0x30000;
const UCODE64: u64 = 0x31000;
const USTACK: u64 = 0x48000;
const DATA_BASE: u64 = 0x10_0000;

/// Selectors (RPL 3 where user code loads them).
const KCODE_SEL: u16 = 0x10;
const KDATA_SEL: u16 = 0x18;
const UCODE32_SEL: u16 = 0x23;
const UDATA_SEL: u16 = 0x2b;
const UCODE64_SEL: u16 = 0x33;
/// Data, base DATA_BASE, byte-granular limit 0xfff.
const BYTE_LIMIT_DS: u16 = 0x3b;
/// Data, base 0, page-granular limit 2 (0x2fff).
const PAGE_LIMIT_DS: u16 = 0x43;
/// Expand-down data, base DATA_BASE, limit 0xfff, B=1 (0x1000..=0xffffffff).
const EXPAND_DOWN_32: u16 = 0x4b;
/// Expand-down data, base DATA_BASE, limit 0xfff, B=0 (0x1000..=0xffff).
const EXPAND_DOWN_16: u16 = 0x53;
/// Stack, base 0, limit 0x47fff (USTACK is just beyond it).
const LIMITED_SS: u16 = 0x5b;
/// 32-bit code, base 0, limit 0x307ff.
const LIMITED_CS: u16 = 0x63;
const CS_LIMIT: u64 = 0x307ff;
const TSS_SEL: u16 = 0x68;
/// 64-bit call gates (16 bytes each).
const GATE_TO_KERNEL: u16 = 0x7b; // DPL 3 -> kernel code
const GATE_DPL0: u16 = 0x8b; // DPL 0 -> kernel code
const GATE_TO_CODE32: u16 = 0x9b; // DPL 3 -> 32-bit code (invalid target)
const GATE_NOT_PRESENT: u16 = 0xab;
const GATE_SAME_LEVEL: u16 = 0xbb; // DPL 3 -> 64-bit user code

/// A 64-bit call gate (SDM vol. 3 §5.8.3.1): two GDT quadwords.
fn call_gate(sel: u16, offset: u64, dpl: u64, present: bool) -> [u64; 2] {
    let lo = (offset & 0xffff)
        | (sel as u64) << 16
        | 0xc << 40
        | dpl << 45
        | (present as u64) << 47
        | ((offset >> 16) & 0xffff) << 48;
    [lo, offset >> 32]
}

struct Machine {
    cpu: Cpu,
    bus: RamBus,
}

impl Machine {
    /// Paging on (4 MiB identity-mapped user pages), the GDT above, a TSS
    /// with RSP0 = KSTACK, #NP/#SS/#GP handlers that record the vector in
    /// R13, the error code in R14 and the saved RIP in R15, then HLT.
    fn new() -> Machine {
        let mut bus = RamBus::new(4 << 20);
        let m = &mut bus.mem;
        identity_map_4mib(m, PML4);
        let [tss_lo, tss_hi] = tss_descriptor(TSS);
        let mut gdt = LINUX_GDT.to_vec();
        gdt.extend([
            0x0040_f310_0000_0fff, // 0x3b byte limit
            0x00c0_f300_0000_0002, // 0x43 page limit
            0x0040_f710_0000_0fff, // 0x4b expand-down, B=1
            0x0000_f710_0000_0fff, // 0x53 expand-down, B=0
            0x0044_f300_0000_7fff, // 0x5b stack, limit 0x47fff
            0x0043_fb00_0000_07ff, // 0x63 32-bit code, limit 0x307ff
            tss_lo,                // 0x68 TSS
            tss_hi,
        ]);
        gdt.extend(call_gate(KCODE_SEL, GATE_TARGET, 3, true)); // 0x78
        gdt.extend(call_gate(KCODE_SEL, GATE_TARGET, 0, true)); // 0x88
        gdt.extend(call_gate(UCODE32_SEL, UCODE32, 3, true)); // 0x98
        gdt.extend(call_gate(KCODE_SEL, GATE_TARGET, 3, false)); // 0xa8
        gdt.extend(call_gate(UCODE64_SEL, UCODE64, 3, true)); // 0xb8
        let gdtr = write_gdt(m, GDT, &gdt);
        w64(m, TSS + 4, KSTACK);
        let mut cpu = Cpu::new();
        cpu.cr3 = PML4;
        cpu.cr0 |= CR0_PG;
        cpu.gdtr = gdtr;
        cpu.idtr = TableReg {
            base: IDT,
            limit: 0xfff,
        };
        cpu.tr = Segment {
            selector: TSS_SEL,
            base: TSS,
            limit: 0x67,
            attr: 0x8b,
        };
        cpu.seg[CS] = flat(KCODE_SEL, CODE64_DPL0);
        cpu.seg[SS] = flat(KDATA_SEL, DATA_DPL0);
        cpu.gpr[4] = KSTACK;
        let mut mach = Machine { cpu, bus };
        for (vector, handler) in [(11u8, NP_HANDLER), (12, SS_HANDLER), (13, GP_HANDLER)] {
            set_gate(&mut mach.bus.mem, IDT, vector, handler, KCODE_SEL, 0, 0);
            let mut h = asm64();
            h.mov(r13d, vector as u32).unwrap();
            h.pop(r14).unwrap();
            h.mov(r15, qword_ptr(rsp)).unwrap();
            h.hlt().unwrap();
            mach.load(handler, &mut h);
        }
        mach
    }

    fn load(&mut self, at: u64, a: &mut CodeAssembler) {
        let bytes = a.assemble(at).expect("assemble");
        load_bytes(&mut self.cpu, &mut self.bus.mem, at, &bytes);
    }

    /// Start 32-bit code at CPL 3 (flat CS 0x23, data 0x2b).
    fn enter_user32(&mut self, rip: u64) {
        self.cpu.seg[CS] = flat(UCODE32_SEL, CODE32_DPL3);
        let data = flat(UDATA_SEL, DATA_DPL3);
        for s in 0..6 {
            if s != CS {
                self.cpu.seg[s] = data;
            }
        }
        self.cpu.cpl = 3;
        self.cpu.gpr[4] = USTACK;
        self.cpu.rip = rip;
    }

    fn run(&mut self) -> Exit {
        self.cpu.run(&mut self.bus, 100_000)
    }

    /// (vector, error code, saved RIP) recorded by the fault handlers.
    fn fault(&self) -> (u64, u64, u64) {
        (self.cpu.gpr[13], self.cpu.gpr[14], self.cpu.gpr[15])
    }
}

fn asm32() -> CodeAssembler {
    CodeAssembler::new(32).unwrap()
}

/// Assemble 32-bit code at `at` and return it with the address where the
/// instruction after the label `fault_at` starts (the faulting one).
fn code32(at: u64, build: impl FnOnce(&mut CodeAssembler, &mut CodeLabel)) -> (Vec<u8>, u64) {
    let mut a = asm32();
    let mut l = a.create_label();
    build(&mut a, &mut l);
    let r = a
        .assemble_options(at, iced_x86::BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
        .expect("assemble");
    let fault_at = r.label_ip(&l).expect("label");
    (r.inner.code_buffer, fault_at)
}

/// Run 32-bit user code that must fault at its label with `vector` and
/// error code 0; returns the machine for further checks.
fn expect_fault(
    name: &str,
    vector: u64,
    build: impl FnOnce(&mut CodeAssembler, &mut CodeLabel),
    setup: impl FnOnce(&mut Machine),
) -> Machine {
    let mut m = Machine::new();
    let (code, fault_at) = code32(UCODE32, build);
    load_bytes(&mut m.cpu, &mut m.bus.mem, UCODE32, &code);
    m.enter_user32(UCODE32);
    setup(&mut m);
    assert_eq!(m.run(), Exit::Halted, "{name}");
    assert_eq!(m.fault(), (vector, 0, fault_at), "{name}: (vector, error, RIP)");
    assert_eq!(m.cpu.cpl, 0, "{name}: delivered to the kernel");
    m
}

fn load_ds(a: &mut CodeAssembler, sel: u16) {
    a.mov(ax, sel as u32).unwrap();
    a.mov(ds, ax).unwrap();
}

#[test]
fn data_accesses_beyond_the_limit_raise_gp() {
    // Byte granular: the last dword fits, one byte further faults.
    let m = expect_fault(
        "byte-granular limit",
        13,
        |a, l| {
            load_ds(a, BYTE_LIMIT_DS);
            a.mov(ebx, dword_ptr(0xffc)).unwrap();
            a.set_label(l).unwrap();
            a.mov(ecx, dword_ptr(0xffd)).unwrap();
        },
        |m| w64(&mut m.bus.mem, DATA_BASE + 0xffc, 0x1234_5678),
    );
    assert_eq!(m.cpu.gpr[3], 0x1234_5678, "the access within the limit read DS base + 0xffc");
    // Page granular (G=1, limit 2 pages): the byte at 0x2fff is the last.
    expect_fault(
        "page-granular limit",
        13,
        |a, l| {
            load_ds(a, PAGE_LIMIT_DS);
            a.mov(byte_ptr(0x2fff), 1u32).unwrap();
            a.set_label(l).unwrap();
            a.mov(word_ptr(0x2fff), 1u32).unwrap();
        },
        |_| {},
    );
    // Expand-down, B=1: offsets above the limit up to 4 GiB are valid.
    let m = expect_fault(
        "expand-down (B=1) at or below the limit",
        13,
        |a, l| {
            load_ds(a, EXPAND_DOWN_32);
            a.mov(ebx, dword_ptr(0x1000)).unwrap();
            a.mov(esi, dword_ptr(0xffff_fffc_u32 as i32)).unwrap();
            a.set_label(l).unwrap();
            a.mov(ecx, dword_ptr(0xffe)).unwrap();
        },
        |m| {
            w64(&mut m.bus.mem, DATA_BASE + 0x1000, 0xaa55);
            // 0xfffffffc + base wraps to DATA_BASE - 4.
            w64(&mut m.bus.mem, DATA_BASE - 4, 0x77);
        },
    );
    assert_eq!((m.cpu.gpr[3], m.cpu.gpr[6] & 0xffff_ffff), (0xaa55, 0x77));
    // Expand-down, B=0: the upper bound is 0xffff.
    expect_fault(
        "expand-down (B=0) beyond 0xffff",
        13,
        |a, l| {
            load_ds(a, EXPAND_DOWN_16);
            a.mov(ebx, dword_ptr(0xfffc)).unwrap();
            a.set_label(l).unwrap();
            a.mov(ecx, dword_ptr(0xfffe)).unwrap();
        },
        |_| {},
    );
    // A segment override picks the limit checked (ES, GS).
    expect_fault(
        "ES override",
        13,
        |a, l| {
            a.mov(ax, BYTE_LIMIT_DS as u32).unwrap();
            a.mov(gs, ax).unwrap();
            a.mov(ebx, dword_ptr(0x2000)).unwrap(); // flat DS: fine
            a.set_label(l).unwrap();
            a.mov(ecx, dword_ptr(0x1000).gs()).unwrap();
        },
        |_| {},
    );
}

#[test]
fn rep_string_op_faults_at_the_limit_with_the_registers_of_that_iteration() {
    let m = expect_fault(
        "rep stosb across the ES limit",
        13,
        |a, l| {
            a.mov(ax, BYTE_LIMIT_DS as u32).unwrap();
            a.mov(es, ax).unwrap();
            a.mov(edi, 0xffeu32).unwrap();
            a.mov(ecx, 4u32).unwrap();
            a.mov(al, 0x5au32).unwrap();
            a.set_label(l).unwrap();
            a.rep().stosb().unwrap();
        },
        |_| {},
    );
    assert_eq!((m.cpu.gpr[1], m.cpu.gpr[7]), (2, 0x1000), "two bytes stored, ECX/EDI of the third");
    assert_eq!(&m.bus.mem[DATA_BASE as usize + 0xffe..][..3], &[0x5a, 0x5a, 0]);
}

#[test]
fn null_data_segments_fault_on_use() {
    for (name, seg_fs) in [("null DS", false), ("null FS", true)] {
        expect_fault(
            name,
            13,
            |a, l| {
                a.xor(eax, eax).unwrap();
                if seg_fs {
                    a.mov(fs, ax).unwrap();
                } else {
                    a.mov(ds, ax).unwrap();
                }
                a.lea(ebx, dword_ptr(eax + 0x100)).unwrap(); // no access: fine
                a.set_label(l).unwrap();
                if seg_fs {
                    a.mov(ecx, dword_ptr(0x2000).fs()).unwrap();
                } else {
                    a.mov(ecx, dword_ptr(0x2000)).unwrap();
                }
            },
            |_| {},
        );
    }
}

#[test]
fn stack_accesses_beyond_the_ss_limit_raise_ss() {
    // SS limit 0x47fff; each case sets ESP/EBP and runs one instruction.
    let cases: Vec<(&str, u64, fn(&mut CodeAssembler))> = vec![
        ("explicit SS: operand", USTACK, |a| {
            a.mov(eax, dword_ptr(0x47ffe).ss()).unwrap()
        }),
        ("EBP-based operand (SS by default)", USTACK, |a| {
            a.mov(eax, dword_ptr(ebp + 0x7ffe)).unwrap()
        }),
        ("POP beyond the limit", USTACK - 2, |a| a.pop(eax).unwrap()),
        ("PUSH straddling the limit", USTACK + 2, |a| a.push(eax).unwrap()),
        ("CALL pushing beyond the limit", USTACK + 2, |a| {
            a.call(0x3_0100u64).unwrap()
        }),
        ("RET popping beyond the limit", USTACK - 2, |a| a.ret().unwrap()),
        ("ENTER pushing beyond the limit", USTACK + 2, |a| {
            a.enter(8u32, 0u32).unwrap()
        }),
    ];
    for (name, sp0, op) in cases {
        let m = expect_fault(
            name,
            12,
            |a, l| {
                a.mov(ax, LIMITED_SS as u32).unwrap();
                a.mov(ss, ax).unwrap();
                a.mov(esp, sp0 as u32).unwrap();
                a.mov(ebp, 0x4_0000u32).unwrap();
                a.set_label(l).unwrap();
                op(a);
            },
            |_| {},
        );
        assert_eq!(
            r64(&m.bus.mem, KSTACK - 16) & 0xffff_ffff,
            sp0,
            "{name}: the faulting instruction left ESP (saved in the frame)"
        );
    }
    // LEAVE takes EBP as the stack offset.
    expect_fault(
        "LEAVE with EBP at the limit",
        12,
        |a, l| {
            a.mov(ax, LIMITED_SS as u32).unwrap();
            a.mov(ss, ax).unwrap();
            a.mov(ebp, 0x47ffeu32).unwrap();
            a.set_label(l).unwrap();
            a.leave().unwrap();
        },
        |_| {},
    );
}

/// Enter the limited 32-bit code segment at `entry` with a far jump from
/// flat 32-bit code.
fn run_in_limited_cs(entry: u64, code: &[u8]) -> Machine {
    let mut m = Machine::new();
    let mut jump = vec![0xea];
    jump.extend((entry as u32).to_le_bytes());
    jump.extend(LIMITED_CS.to_le_bytes());
    load_bytes(&mut m.cpu, &mut m.bus.mem, UCODE32, &jump);
    load_bytes(&mut m.cpu, &mut m.bus.mem, entry, code);
    m.enter_user32(UCODE32);
    assert_eq!(m.run(), Exit::Halted);
    m
}

#[test]
fn fetches_and_branches_beyond_the_cs_limit_raise_gp() {
    // An instruction whose last bytes lie beyond the limit faults at its
    // start, after the ones before it ran.
    let start = CS_LIMIT + 1 - 16;
    let (code, straddling) = code32(start, |a, l| {
        a.mov(ebx, 1u32).unwrap(); // 5 bytes
        for _ in 0..8 {
            a.nop().unwrap();
        }
        a.set_label(l).unwrap();
        a.mov(ecx, 2u32).unwrap(); // bytes 13..17: straddles the limit
    });
    assert_eq!(straddling, start + 13);
    let m = run_in_limited_cs(start, &code);
    assert_eq!(m.fault(), (13, 0, start + 13), "fetch straddling the CS limit");
    assert_eq!((m.cpu.gpr[3], m.cpu.gpr[1]), (1, 0), "the instructions before it ran");

    // The far jump itself faults when its offset is beyond the limit.
    let mut m = Machine::new();
    let mut jump = vec![0xea];
    jump.extend((CS_LIMIT as u32 + 1).to_le_bytes());
    jump.extend(LIMITED_CS.to_le_bytes());
    load_bytes(&mut m.cpu, &mut m.bus.mem, UCODE32, &jump);
    m.enter_user32(UCODE32);
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.fault(), (13, 0, UCODE32), "far JMP to an offset beyond the limit");

    // Near branches: the branch faults, with ESP/ECX untouched.
    let beyond = CS_LIMIT + 0x10;
    let branches: Vec<(&str, fn(&mut CodeAssembler, u64))> = vec![
        ("JMP rel32", |a, t| a.jmp(t).unwrap()),
        ("Jcc taken", |a, t| {
            a.cmp(eax, eax).unwrap();
            a.je(t).unwrap()
        }),
        ("CALL rel32", |a, t| a.call(t).unwrap()),
        ("JMP r32", |a, t| {
            a.mov(edx, t as u32).unwrap();
            a.jmp(edx).unwrap()
        }),
        ("RET to beyond the limit", |a, t| {
            a.push(t as u32).unwrap();
            a.ret().unwrap()
        }),
        ("LOOP taken", |a, t| {
            a.mov(ecx, 5u32).unwrap();
            a.loop_(t).unwrap()
        }),
    ];
    // Near enough to the limit for LOOP's 8-bit displacement.
    let entry = CS_LIMIT - 0x40;
    for (name, build) in branches {
        let mut a = asm32();
        build(&mut a, beyond);
        let bytes = a.assemble(entry).unwrap();
        let m = run_in_limited_cs(entry, &bytes);
        let (vector, error, rip) = m.fault();
        assert_eq!((vector, error), (13, 0), "{name}");
        // The branch is the last instruction of the snippet.
        let mut d = iced_x86::Decoder::with_ip(32, &bytes, entry, 0);
        let last = d.iter().last().unwrap().ip();
        assert_eq!(rip, last, "{name}: saved RIP is the branch");
        let saved_esp = r64(&m.bus.mem, KSTACK - 16);
        let expect_esp = if name.starts_with("RET") { USTACK - 4 } else { USTACK };
        assert_eq!(saved_esp, expect_esp, "{name}: stack untouched by the branch");
        if name.starts_with("LOOP") {
            assert_eq!(m.cpu.gpr[1], 5, "{name}: ECX not decremented");
        }
    }
    // A branch to the last byte within the limit is fine.
    let mut a = asm32();
    a.jmp(CS_LIMIT).unwrap();
    let bytes = a.assemble(entry).unwrap();
    let mut m = Machine::new();
    m.bus.mem[CS_LIMIT as usize] = 0xf4; // hlt: #GP at CPL 3
    let mut jump = vec![0xea];
    jump.extend((entry as u32).to_le_bytes());
    jump.extend(LIMITED_CS.to_le_bytes());
    load_bytes(&mut m.cpu, &mut m.bus.mem, UCODE32, &jump);
    load_bytes(&mut m.cpu, &mut m.bus.mem, entry, &bytes);
    m.enter_user32(UCODE32);
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.fault(), (13, 0, CS_LIMIT), "HLT at the last byte ran (and faulted as HLT)");
}

/// 32-bit user code that does `call/jmp far sel:0` (the offset of a gate
/// selector is ignored) followed by `mov edi, 0x600d; hlt`.
fn far_via(call: bool, sel: u16) -> Vec<u8> {
    let mut v = vec![if call { 0x9a } else { 0xea }];
    v.extend(0u32.to_le_bytes());
    v.extend(sel.to_le_bytes());
    v.extend([0xbf, 0x0d, 0x60, 0, 0, 0xf4]);
    v
}

#[test]
fn call_gate_to_kernel_switches_stack_and_far_ret_returns_to_cpl3() {
    let mut m = Machine::new();
    load_bytes(&mut m.cpu, &mut m.bus.mem, UCODE32, &far_via(true, GATE_TO_KERNEL));
    // The gate's target: record the frame and state, load a kernel DS,
    // return with a 64-bit far RET to the outer level.
    let mut k = asm64();
    k.mov(r8, rsp).unwrap();
    k.mov(r9, qword_ptr(rsp)).unwrap(); // RIP
    k.mov(r10, qword_ptr(rsp + 8)).unwrap(); // CS
    k.mov(r11, qword_ptr(rsp + 16)).unwrap(); // RSP
    k.mov(r12, qword_ptr(rsp + 24)).unwrap(); // SS
    k.mov(ax, ss).unwrap();
    k.movzx(ebx, ax).unwrap();
    k.mov(ax, cs).unwrap();
    k.movzx(esi, ax).unwrap();
    k.mov(ax, KDATA_SEL as u32).unwrap();
    k.mov(ds, ax).unwrap();
    k.db(&[0x48, 0xcb]).unwrap(); // retfq
    m.load(GATE_TARGET, &mut k);
    m.enter_user32(UCODE32);
    assert_eq!(m.run(), Exit::Halted);
    let g = m.cpu.gpr;
    assert_eq!(g[8], KSTACK - 32, "new RSP from TSS.RSP0, four quadwords pushed");
    assert_eq!(
        (g[9], g[10], g[11], g[12]),
        (UCODE32 + 7, UCODE32_SEL as u64, USTACK, UDATA_SEL as u64),
        "pushed RIP, CS, RSP, SS as quadwords"
    );
    assert_eq!(g[3], 0, "SS is a null selector with RPL 0");
    assert_eq!(g[6], KCODE_SEL as u64, "CS = the gate's code segment at CPL 0");
    assert_eq!(g[7], 0x600d, "far RET returned to the 32-bit caller");
    assert_eq!(m.fault(), (13, 0, UCODE32 + 12), "HLT at CPL 3 after the return");
    // The #GP came from CPL 3: its frame holds the restored user stack.
    assert_eq!(r64(&m.bus.mem, KSTACK - 16), USTACK, "RSP restored");
    assert_eq!(r64(&m.bus.mem, KSTACK - 8), UDATA_SEL as u64, "SS restored");
    assert_eq!(m.cpu.seg[DS].selector, 0, "the kernel DS was nulled on the return to CPL 3");
}

#[test]
fn call_and_jmp_through_a_same_level_gate() {
    // CALL: CS and RIP pushed as quadwords on the current stack.
    let mut m = Machine::new();
    load_bytes(&mut m.cpu, &mut m.bus.mem, UCODE32, &far_via(true, GATE_SAME_LEVEL));
    let mut u = asm64();
    u.mov(r8, rsp).unwrap();
    u.mov(r9, qword_ptr(rsp)).unwrap();
    u.mov(r10, qword_ptr(rsp + 8)).unwrap();
    u.db(&[0x48, 0xcb]).unwrap(); // retfq
    m.load(UCODE64, &mut u);
    m.enter_user32(UCODE32);
    assert_eq!(m.run(), Exit::Halted);
    let g = m.cpu.gpr;
    assert_eq!(g[8], USTACK - 16, "two quadwords on the same stack");
    assert_eq!((g[9], g[10]), (UCODE32 + 7, UCODE32_SEL as u64));
    assert_eq!(g[7], 0x600d, "far RET back to the caller");
    assert_eq!(m.fault(), (13, 0, UCODE32 + 12));

    // JMP: no pushes, 64-bit code at CPL 3.
    let mut m = Machine::new();
    load_bytes(&mut m.cpu, &mut m.bus.mem, UCODE32, &far_via(false, GATE_SAME_LEVEL));
    let mut u = asm64();
    u.mov(r8, rsp).unwrap();
    u.mov(rax, 0x1_0000_0000u64).unwrap(); // 64-bit code runs
    u.hlt().unwrap();
    m.load(UCODE64, &mut u);
    m.enter_user32(UCODE32);
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[8], USTACK, "JMP pushes nothing");
    assert_eq!(m.cpu.gpr[0], 0x1_0000_0000);
    assert_eq!(m.fault(), (13, 0, UCODE64 + 13));
}

#[test]
fn call_gate_checks_raise_gp_or_np_with_the_selector() {
    let cases = [
        ("JMP through a gate to a more privileged segment", false, GATE_TO_KERNEL, 13, 0x10),
        ("gate DPL 0 < CPL 3", true, GATE_DPL0, 13, 0x88),
        ("gate to a 32-bit code segment", true, GATE_TO_CODE32, 13, 0x20),
        ("gate not present", true, GATE_NOT_PRESENT, 11, 0xa8),
        ("TSS selector (not a call gate)", true, TSS_SEL, 13, 0x68),
    ];
    for (name, call, sel, vector, error) in cases {
        let mut m = Machine::new();
        load_bytes(&mut m.cpu, &mut m.bus.mem, UCODE32, &far_via(call, sel));
        m.enter_user32(UCODE32);
        assert_eq!(m.run(), Exit::Halted, "{name}");
        assert_eq!(m.fault(), (vector, error, UCODE32), "{name}: (vector, error, RIP)");
        assert_eq!(r64(&m.bus.mem, KSTACK - 16), USTACK, "{name}: user stack untouched");
    }
}

#[test]
fn call_gate_with_a_non_canonical_tss_stack_raises_ss_with_the_old_ss() {
    let mut m = Machine::new();
    // #SS goes through IST 1 so its delivery does not use the bad RSP0.
    const IST_STACK: u64 = 0xa000;
    set_gate(&mut m.bus.mem, IDT, 12, SS_HANDLER, KCODE_SEL, 0, 1);
    w64(&mut m.bus.mem, TSS + 0x24, IST_STACK);
    w64(&mut m.bus.mem, TSS + 4, 0x8000_0000_0000_0000);
    load_bytes(&mut m.cpu, &mut m.bus.mem, UCODE32, &far_via(true, GATE_TO_KERNEL));
    m.enter_user32(UCODE32);
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(
        m.fault(),
        (12, UDATA_SEL as u64 & !3, UCODE32),
        "#SS(old SS) at the CALL"
    );
    assert_eq!(r64(&m.bus.mem, IST_STACK - 16), USTACK, "user stack untouched");
}

#[test]
fn iretq_and_far_ret_to_beyond_the_cs_limit_raise_gp_at_the_return() {
    const KCODE: u64 = 0x20000;
    for (name, iret) in [("IRETQ", true), ("RETFQ", false)] {
        let mut m = Machine::new();
        let mut k = asm64();
        let mut l = k.create_label();
        k.push(UDATA_SEL as i32).unwrap();
        k.push(USTACK as i32).unwrap();
        if iret {
            k.push(0x2).unwrap();
        }
        k.push(LIMITED_CS as i32).unwrap();
        k.push(CS_LIMIT as i32 + 1).unwrap();
        k.set_label(&mut l).unwrap();
        if iret {
            k.iretq().unwrap();
        } else {
            k.db(&[0x48, 0xcb]).unwrap(); // retfq
        }
        let r = k
            .assemble_options(KCODE, iced_x86::BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
            .unwrap();
        let ret_at = r.label_ip(&l).unwrap();
        load_bytes(&mut m.cpu, &mut m.bus.mem, KCODE, &r.inner.code_buffer);
        m.cpu.rip = KCODE;
        assert_eq!(m.run(), Exit::Halted, "{name}");
        assert_eq!(m.fault(), (13, 0, ret_at), "{name}: #GP(0) at the return");
        assert_eq!(m.cpu.seg[CS].selector, KCODE_SEL, "{name}: still in kernel code");
    }
}
