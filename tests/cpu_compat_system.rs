//! Compatibility mode at system level, with small assembled programs under
//! a GDT laid out as Linux's (kernel code 0x10, kernel data 0x18, 32-bit
//! user code 0x23, user data 0x2b, 64-bit user code 0x33): IRETQ into
//! 32-bit code, INT 0x80 through the 64-bit IDT, SYSCALL from compatibility
//! mode through CSTAR and SYSRET back, far CALL/RET/JMP between 64-bit and
//! 32-bit code, #GP on bad selectors, segment bases and the 4 GiB wrap,
//! #UD for 32-bit-only opcodes in 64-bit mode.

mod cpu_system_kit;

use cpu_system_kit::*;
use iced_x86::code_asm::*;
use netvm::cpu::state::{CR0_PG, CS, SS};
use netvm::cpu::{Cpu, Exit, RamBus, Segment, TableReg};

const PML4: u64 = 0x1000;
const GDT: u64 = 0x5000;
const TSS: u64 = 0x6000;
const IDT: u64 = 0x7000;
const KSTACK: u64 = 0x9000;
const KCODE: u64 = 0x20000;
const INT80: u64 = 0x21000;
const CSTAR_ENTRY: u64 = 0x22000;
const GP_HANDLER: u64 = 0x23000;
const UD_HANDLER: u64 = 0x24000;
const UCODE32: u64 = 0x30000;
const UCODE64: u64 = 0x31000;
const FAR_PTRS: u64 = 0x32000;
const USTACK: u64 = 0x48000;
/// A DPL 3 data segment with base 0x100000 (selector 0x3b).
const BASED_DS: u16 = 0x3b;
const BASED_BASE: u64 = 0x10_0000;

struct Machine {
    cpu: Cpu,
    bus: RamBus,
}

impl Machine {
    /// Paging on (4 MiB identity-mapped, user-accessible 2 MiB pages), the
    /// Linux-like GDT, a TSS with RSP0, gates for INT 0x80 (DPL 3), #GP and
    /// #UD; the CPU at CPL 0 in 64-bit mode.
    fn new() -> Machine {
        let mut bus = RamBus::new(4 << 20);
        let m = &mut bus.mem;
        identity_map_4mib(m, PML4);
        let [tss_lo, tss_hi] = tss_descriptor(TSS);
        let mut gdt = LINUX_GDT.to_vec();
        gdt.extend([
            0x00cf_f310_0000_ffff, // 0x3b user data, base 0x100000
            tss_lo,                // 0x40 TSS (16 bytes)
            tss_hi,
        ]);
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
            selector: 0x40,
            base: TSS,
            limit: 0x67,
            attr: 0x8b,
        };
        cpu.seg[CS] = flat(0x10, CODE64_DPL0);
        cpu.seg[SS] = flat(0x18, DATA_DPL0);
        cpu.gpr[4] = KSTACK;
        let mut mach = Machine { cpu, bus };
        mach.gate(0x80, INT80, 3);
        mach.gate(13, GP_HANDLER, 0);
        mach.gate(6, UD_HANDLER, 0);
        // #GP and #UD handlers: R14 = error code (#GP), R15 = saved RIP.
        let mut h = asm64();
        h.pop(r14).unwrap();
        h.mov(r15, qword_ptr(rsp)).unwrap();
        h.hlt().unwrap();
        mach.load(GP_HANDLER, &mut h);
        let mut h = asm64();
        h.mov(r15, qword_ptr(rsp)).unwrap();
        h.hlt().unwrap();
        mach.load(UD_HANDLER, &mut h);
        mach
    }

    fn gate(&mut self, vector: u8, handler: u64, dpl: u64) {
        set_gate(&mut self.bus.mem, IDT, vector, handler, 0x10, dpl, 0);
    }

    fn load(&mut self, at: u64, a: &mut CodeAssembler) {
        let bytes = a.assemble(at).expect("assemble");
        self.load_bytes(at, &bytes);
    }

    fn load_bytes(&mut self, at: u64, bytes: &[u8]) {
        load_bytes(&mut self.cpu, &mut self.bus.mem, at, bytes);
    }

    /// Start at CPL 3 with the given code selector (0x23 or 0x33).
    fn enter_user(&mut self, code_sel: u16, rip: u64) {
        let attr = if code_sel == 0x23 { 0xc0fb } else { 0xa0fb };
        self.cpu.seg[CS] = flat(code_sel, attr);
        let data = flat(0x2b, DATA_DPL3);
        for s in [0, 2, 3] {
            self.cpu.seg[s] = data;
        }
        self.cpu.cpl = 3;
        self.cpu.gpr[4] = USTACK;
        self.cpu.rip = rip;
    }

    fn run(&mut self) -> Exit {
        self.cpu.run(&mut self.bus, 100_000)
    }

    /// Far pointer m16:32 at `at`.
    fn far_ptr(&mut self, at: u64, offset: u32, sel: u16) {
        let m = &mut self.bus.mem[at as usize..];
        m[..4].copy_from_slice(&offset.to_le_bytes());
        m[4..6].copy_from_slice(&sel.to_le_bytes());
    }
}

fn asm32() -> CodeAssembler {
    CodeAssembler::new(32).unwrap()
}

/// `jmp far sel:offset` (EA, valid in 32-bit code only).
fn jmp_far(offset: u32, sel: u16) -> Vec<u8> {
    let mut v = vec![0xea];
    v.extend(offset.to_le_bytes());
    v.extend(sel.to_le_bytes());
    v
}

#[test]
fn iretq_to_compat_int80_syscall_and_far_jump_back() {
    let mut m = Machine::new();
    let mut k = asm64();
    // STAR as Linux sets it: SYSCALL CS 0x10, SYSRET base 0x23; CSTAR.
    k.mov(ecx, 0xc000_0081u32).unwrap();
    k.xor(eax, eax).unwrap();
    k.mov(edx, 0x0023_0010u32).unwrap();
    k.wrmsr().unwrap();
    k.mov(ecx, 0xc000_0083u32).unwrap();
    k.mov(eax, CSTAR_ENTRY as u32).unwrap();
    k.xor(edx, edx).unwrap();
    k.wrmsr().unwrap();
    // IRETQ frame into 32-bit user code.
    k.push(0x2b).unwrap();
    k.push(USTACK as i32).unwrap();
    k.push(0x2).unwrap();
    k.push(0x23).unwrap();
    k.push(UCODE32 as i32).unwrap();
    k.iretq().unwrap();
    m.load(KCODE, &mut k);

    let mut u = asm32();
    u.mov(eax, 4u32).unwrap(); // 5 bytes
    u.mov(ebx, 0x11u32).unwrap(); // 5
    u.push(ebx).unwrap(); // 1: a 4-byte slot
    u.int(0x80).unwrap(); // 2
    u.inc(eax).unwrap(); // 1: the one-byte INC of 32-bit code
    u.syscall().unwrap(); // 2
    u.mov(esi, eax).unwrap();
    u.db(&jmp_far(UCODE64 as u32, 0x33)).unwrap();
    m.load(UCODE32, &mut u);
    let after_int = UCODE32 + 13;
    let after_syscall = after_int + 3;

    // INT 0x80: record the frame, return a value, IRETQ back to 32-bit code.
    let mut h = asm64();
    h.mov(r8, qword_ptr(rsp)).unwrap();
    h.mov(r9, qword_ptr(rsp + 8)).unwrap();
    h.mov(r10, qword_ptr(rsp + 24)).unwrap();
    h.mov(r12, qword_ptr(rsp + 32)).unwrap();
    h.mov(ebp, ebx).unwrap();
    h.mov(eax, 0x100u32).unwrap();
    h.iretq().unwrap();
    m.load(INT80, &mut h);
    // SYSCALL from compatibility mode lands here (CSTAR), SYSRET with a
    // 32-bit operand size returns to 32-bit code.
    let mut h = asm64();
    h.mov(r13, rcx).unwrap();
    h.mov(edx, eax).unwrap();
    h.mov(eax, 0x200u32).unwrap();
    h.sysret().unwrap();
    m.load(CSTAR_ENTRY, &mut h);

    let mut u = asm64();
    u.mov(rdi, 0x1_2345_6789u64).unwrap(); // 10 bytes, 64-bit only
    u.hlt().unwrap(); // #GP at CPL 3
    m.load(UCODE64, &mut u);

    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    let g = m.cpu.gpr;
    assert_eq!(g[8], after_int, "INT 0x80 saved the 32-bit return EIP");
    assert_eq!(g[9], 0x23, "saved CS is the 32-bit code selector");
    assert_eq!(g[10], USTACK - 4, "saved ESP after a 4-byte push");
    assert_eq!(g[12], 0x2b, "saved SS");
    assert_eq!(g[5], 0x11, "handler saw EBX");
    assert_eq!(
        g[2], 0x101,
        "IRETQ resumed the 32-bit code with EAX from the handler"
    );
    assert_eq!(
        g[13], after_syscall,
        "SYSCALL from compat mode: RCX = return EIP, entry via CSTAR"
    );
    assert_eq!(g[6], 0x200, "SYSRET returned to 32-bit code");
    assert_eq!(g[7], 0x1_2345_6789, "far jump to 0x33 runs 64-bit code");
    assert_eq!((g[14], g[15]), (0, UCODE64 + 10), "#GP(0) for HLT at CPL 3");
    assert_eq!(m.cpu.cpl, 0);
}

#[test]
fn far_call_retf_and_jmp_between_64_and_32_bit_code() {
    let mut m = Machine::new();
    m.far_ptr(FAR_PTRS, UCODE32 as u32, 0x23);
    m.far_ptr(FAR_PTRS + 8, UCODE32 as u32 + 0x100, 0x23);
    let mut u = Vec::new();
    u.extend([0xff, 0x1c, 0x25]); // call far [FAR_PTRS] (m16:32)
    u.extend((FAR_PTRS as u32).to_le_bytes());
    u.extend([0x48, 0x89, 0xe3]); // mov rbx, rsp
    u.extend([0xff, 0x2c, 0x25]); // jmp far [FAR_PTRS + 8]
    u.extend((FAR_PTRS as u32 + 8).to_le_bytes());
    m.load_bytes(UCODE64, &u);
    let mut c = asm32();
    c.mov(ecx, esp).unwrap();
    c.mov(edx, dword_ptr(esp + 4)).unwrap(); // the pushed CS slot
    c.retf().unwrap(); // 32-bit far return: EIP and CS in 4-byte slots
    m.load(UCODE32, &mut c);
    let mut c = vec![0xbf, 0x78, 0x56, 0x34, 0x12]; // mov edi, 0x12345678
    c.extend(jmp_far(UCODE64 as u32 + 0x100, 0x33));
    m.load_bytes(UCODE32 + 0x100, &c);
    m.load_bytes(UCODE64 + 0x100, &[0xf4]); // hlt: #GP at CPL 3
    m.enter_user(0x33, UCODE64);
    assert_eq!(m.run(), Exit::Halted);
    let g = m.cpu.gpr;
    assert_eq!(
        g[1] & 0xffff_ffff,
        USTACK - 8,
        "far call pushed two 4-byte slots"
    );
    assert_eq!(g[2] & 0xffff_ffff, 0x33, "far call pushed the 64-bit CS");
    assert_eq!(g[3], USTACK, "RETF popped both slots");
    assert_eq!(
        g[7] & 0xffff_ffff,
        0x1234_5678,
        "jmp far [m16:32] entered 32-bit code"
    );
    assert_eq!(
        (g[14], g[15]),
        (0, UCODE64 + 0x100),
        "jmp far ptr16:32 back to 64-bit code"
    );
}

#[test]
fn bad_selectors_raise_gp_with_the_selector() {
    // (code, expected error code, offset of the faulting instruction)
    let mov_ds = |sel: u16| vec![0x66, 0xb8, sel as u8, (sel >> 8) as u8, 0x8e, 0xd8];
    let mov_ss = |sel: u16| vec![0x66, 0xb8, sel as u8, (sel >> 8) as u8, 0x8e, 0xd0];
    let cases: Vec<(&str, Vec<u8>, u64, u64)> = vec![
        ("DS = kernel data (DPL 0)", mov_ds(0x18), 0x18, 4),
        ("DS = TSS (system descriptor)", mov_ds(0x43), 0x40, 4),
        ("DS beyond the GDT limit", mov_ds(0x1fb), 0x1f8, 4),
        ("SS with RPL 0 at CPL 3", mov_ss(0x28), 0x28, 4),
        ("SS = code segment", mov_ss(0x23), 0x20, 4),
        ("SS = null", mov_ss(0), 0, 4),
        (
            "far jump to kernel code",
            jmp_far(KCODE as u32, 0x10),
            0x10,
            0,
        ),
        ("far jump to a data segment", jmp_far(0, 0x2b), 0x28, 0),
        // A valid load followed by HLT: #GP(0) at the HLT.
        (
            "valid DS, then HLT",
            [mov_ds(0x2b), vec![0xf4]].concat(),
            0,
            6,
        ),
    ];
    for (name, code, err, at) in cases {
        let mut m = Machine::new();
        m.load_bytes(UCODE32, &code);
        m.enter_user(0x23, UCODE32);
        assert_eq!(m.run(), Exit::Halted, "{name}");
        assert_eq!(m.cpu.gpr[14], err, "{name}: error code");
        assert_eq!(m.cpu.gpr[15], UCODE32 + at, "{name}: faulting EIP");
        assert_eq!(m.cpu.cpl, 0, "{name}");
    }
}

#[test]
fn segment_bases_apply_and_addresses_wrap_at_4_gib_in_compat_mode() {
    let mut m = Machine::new();
    w64(&mut m.bus.mem, BASED_BASE + 0x20, 0xcafe_f00d);
    w64(&mut m.bus.mem, BASED_BASE + 0x10, 0x600d_cafe);
    let mut c = asm32();
    c.mov(ax, BASED_DS as i32).unwrap();
    c.mov(ds, ax).unwrap();
    c.mov(eax, dword_ptr(0x20)).unwrap(); // DS base 0x100000
    c.mov(ebx, dword_ptr(edx - 0x10).es()).unwrap(); // ES flat: 32-bit EDX + 0xfffffff0
    c.mov(ecx, dword_ptr(esp).ss()).unwrap();
    c.hlt().unwrap();
    m.load(UCODE32, &mut c);
    m.enter_user(0x23, UCODE32);
    m.cpu.gpr[2] = BASED_BASE + 0x20;
    w64(&mut m.bus.mem, USTACK, 0x5151_5151);
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[0], 0xcafe_f00d, "DS base applied");
    assert_eq!(m.cpu.gpr[3], 0x600d_cafe, "flat ES");
    assert_eq!(m.cpu.gpr[1], 0x5151_5151, "flat SS");
    // Wrap: EDX + 0xfffffff0 (a negative displacement is a 32-bit add).
    let mut m2 = Machine::new();
    w64(&mut m2.bus.mem, 0x8, 0x77);
    let mut c = asm32();
    c.mov(eax, dword_ptr(esi + 0x18)).unwrap();
    c.hlt().unwrap();
    m2.load(UCODE32, &mut c);
    m2.enter_user(0x23, UCODE32);
    m2.cpu.gpr[6] = 0xffff_fff0 | (0xdead << 32); // upper half ignored
    assert_eq!(m2.run(), Exit::Halted);
    assert_eq!(m2.cpu.gpr[0], 0x77, "ESI + 0x18 wrapped to linear 0x8");
}

#[test]
fn compat_only_opcodes_are_ud_in_64_bit_mode_and_run_in_compat_mode() {
    // DAA, PUSHA, AAM, PUSH ES, LDS: invalid encodings in 64-bit mode.
    for (name, op) in [
        ("daa", vec![0x27]),
        ("pusha", vec![0x60]),
        ("aam", vec![0xd4, 0x0a]),
        ("push es", vec![0x06]),
        ("lds", vec![0xc5, 0x06]),
    ] {
        let mut m = Machine::new();
        m.load_bytes(UCODE64, &op);
        m.enter_user(0x33, UCODE64);
        m.cpu.gpr[14] = 0x5555;
        assert_eq!(m.run(), Exit::Halted, "{name}");
        assert_eq!(
            m.cpu.gpr[15], UCODE64,
            "{name}: #UD at the opcode in 64-bit mode"
        );
        assert_eq!(
            m.cpu.gpr[14], 0x5555,
            "{name}: #UD (no error code popped as #GP would)"
        );
    }
    let mut m = Machine::new();
    m.load_bytes(UCODE32, &[0x40, 0x60, 0x27, 0xf4]); // inc eax; pusha; daa; hlt
    m.enter_user(0x23, UCODE32);
    m.cpu.gpr[0] = 0x19;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[15], UCODE32 + 3, "#GP at the HLT: the rest ran");
    assert_eq!(m.cpu.gpr[0] & 0xff, 0x20, "inc eax then daa: 0x1a -> 0x20");
    let pushed_eax = u32::from_le_bytes(
        m.bus.mem[USTACK as usize - 4..USTACK as usize]
            .try_into()
            .unwrap(),
    );
    assert_eq!(pushed_eax, 0x1a, "PUSHA pushed EAX first, in a 4-byte slot");
    let pushed_edi = u32::from_le_bytes(
        m.bus.mem[USTACK as usize - 32..USTACK as usize - 28]
            .try_into()
            .unwrap(),
    );
    assert_eq!(
        pushed_edi, m.cpu.gpr[7] as u32,
        "and EDI last, 32 bytes down"
    );
}
