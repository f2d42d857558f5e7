//! System-level behaviour with small assembled programs: 4-level paging and
//! page faults (error codes, CR2), IDT delivery with IST and privilege
//! changes, SYSCALL/SYSRET, IRETQ, external interrupt injection with the
//! STI shadow and HLT wake-up, self-modifying code, INVLPG.

mod cpu_system_kit;

use cpu_system_kit::*;
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;
use netvm::cpu::state::{CR0_PG, CR0_WP, CS, SS};
use netvm::cpu::{Bus, Cpu, Exit, RamBus, Segment};

const PML4: u64 = 0x1000;
const PDPT: u64 = 0x2000;
const PD: u64 = 0x3000;
const PT: u64 = 0x4000;
const GDT: u64 = 0x5000;
const TSS: u64 = 0x6000;
const IDT: u64 = 0x7000;
const KSTACK: u64 = 0x9000;
const IST1: u64 = 0xb000;
const KCODE: u64 = 0x20000;
const UCODE: u64 = 0x30000;
const USTACK: u64 = 0x48000;

/// RAM plus an interrupt line the test drives.
struct TestBus {
    ram: RamBus,
    pending: Option<u8>,
    acks: u32,
}

impl Bus for TestBus {
    fn ram(&mut self) -> &mut [u8] {
        &mut self.ram.mem
    }
    fn mmio_read(&mut self, _a: u64, _s: u8) -> u64 {
        u64::MAX
    }
    fn mmio_write(&mut self, _a: u64, _s: u8, _v: u64) {}
    fn io_in(&mut self, _p: u16, _s: u8) -> u32 {
        u32::MAX
    }
    fn io_out(&mut self, _p: u16, _s: u8, _v: u32) {}
    fn interrupt_pending(&mut self) -> bool {
        self.pending.is_some()
    }
    fn acknowledge_interrupt(&mut self) -> Option<u8> {
        self.acks += 1;
        self.pending.take()
    }
}

struct Machine {
    cpu: Cpu,
    bus: TestBus,
}

impl Machine {
    /// Long mode, paging on: the first 2 MiB identity-mapped with 4 KiB
    /// pages (user-accessible), GDT/TSS/IDT in place, CPL 0.
    fn new() -> Machine {
        let mut ram = RamBus::new(8 << 20);
        let m = &mut ram.mem;
        w64(m, PML4, PDPT | 7);
        w64(m, PDPT, PD | 7);
        w64(m, PD, PT | 7);
        for k in 0..512u64 {
            w64(m, PT + 8 * k, (k << 12) | 7);
        }
        // GDT: null, kernel code 0x08, kernel data 0x10, user data 0x18,
        // user code 0x20 (STAR layout Linux uses), TSS 0x28.
        for (k, d) in [
            0u64,
            0x00af_9b00_0000_ffff,
            0x00cf_9300_0000_ffff,
            0x00cf_f300_0000_ffff,
            0x00af_fb00_0000_ffff,
        ]
        .iter()
        .enumerate()
        {
            w64(m, GDT + 8 * k as u64, *d);
        }
        let [tss_lo, tss_hi] = tss_descriptor(TSS);
        w64(m, GDT + 0x28, tss_lo);
        w64(m, GDT + 0x30, tss_hi);
        w64(m, TSS + 4, KSTACK); // RSP0
        w64(m, TSS + 0x24, IST1); // IST1
        let mut cpu = Cpu::new();
        cpu.cr3 = PML4;
        cpu.cr0 |= CR0_PG | CR0_WP;
        cpu.gdtr = netvm::cpu::TableReg {
            base: GDT,
            limit: 0x37,
        };
        cpu.idtr = netvm::cpu::TableReg {
            base: IDT,
            limit: 0xfff,
        };
        cpu.seg[CS] = flat(0x08, CODE64_DPL0);
        // Kernel SS: IRETQ reloads it with the SDM's checks (a writable
        // data segment with DPL = RPL = CPL).
        cpu.seg[SS] = flat(0x10, DATA_DPL0);
        cpu.gpr[4] = KSTACK;
        Machine {
            cpu,
            bus: TestBus {
                ram,
                pending: None,
                acks: 0,
            },
        }
    }

    fn load(&mut self, at: u64, a: &mut CodeAssembler) {
        let bytes = a.assemble(at).expect("assemble");
        load_bytes(&mut self.cpu, &mut self.bus.ram.mem, at, &bytes);
    }

    /// Install an IDT gate (interrupt gate, DPL `dpl`, IST `ist`).
    fn gate(&mut self, vector: u8, handler: u64, dpl: u64, ist: u64) {
        set_gate(&mut self.bus.ram.mem, IDT, vector, handler, 0x08, dpl, ist);
    }

    fn run(&mut self) -> Exit {
        self.cpu.run(&mut self.bus, 100_000)
    }
}

#[test]
fn page_fault_sets_cr2_and_error_code_then_iretq_resumes() {
    let mut m = Machine::new();
    w64(&mut m.bus.ram.mem, 0x30_0010, 0xdead_beef);
    let mut k = asm64();
    k.mov(rax, qword_ptr(0x30_0010)).unwrap(); // PD entry 1 absent: #PF
    k.mov(rbx, 0x1234u64).unwrap();
    k.hlt().unwrap();
    m.load(KCODE, &mut k);
    let mut h = asm64();
    h.pop(rcx).unwrap(); // error code
    h.mov(rdx, cr2).unwrap();
    h.mov(rax, 0x20_0083u64).unwrap(); // map 0x200000-0x3fffff with a 2 MiB page
    h.mov(qword_ptr(PD + 8), rax).unwrap();
    h.iretq().unwrap();
    m.load(0x21000, &mut h);
    m.gate(14, 0x21000, 0, 0);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[1], 0, "error code: not present, read, supervisor");
    assert_eq!(m.cpu.gpr[2], 0x30_0010, "CR2");
    assert_eq!(m.cpu.gpr[0], 0xdead_beef, "the faulting load was restarted");
    assert_eq!(m.cpu.gpr[3], 0x1234);
    assert_eq!(m.cpu.gpr[4], KSTACK, "IRETQ restored RSP");
}

#[test]
fn protection_faults_have_their_error_codes() {
    // Write to a read-only page with CR0.WP (0x3), execute from an NX page
    // (0x11), user read of a supervisor page (0x5).
    let cases: [(u64, u64, u32); 3] = [
        (0x40, 0x8000_0000_0000_0005, 0x3),
        (0x41, (1 << 63) | 3, 0x11),
        (0x42, 3, 0x5),
    ];
    for (page, pte, want) in cases {
        let mut m = Machine::new();
        m.cpu.efer |= netvm::cpu::state::EFER_NXE;
        w64(&mut m.bus.ram.mem, PT + 8 * page, (page << 12) | pte);
        let va = page << 12;
        let mut k = asm64();
        match want {
            0x3 => {
                k.mov(qword_ptr(va), rax).unwrap();
            }
            0x11 => {
                k.mov(rax, va).unwrap();
                k.jmp(rax).unwrap();
            }
            _ => {}
        }
        k.hlt().unwrap();
        m.load(KCODE, &mut k);
        let mut h = asm64();
        h.pop(rcx).unwrap();
        h.mov(rdx, cr2).unwrap();
        h.hlt().unwrap();
        m.load(0x21000, &mut h);
        m.gate(14, 0x21000, 0, 0);
        if want == 0x5 {
            // Enter user mode at code that reads the supervisor page.
            let mut u = asm64();
            u.mov(rax, qword_ptr(va)).unwrap();
            u.hlt().unwrap();
            m.load(UCODE, &mut u);
            m.cpu.cpl = 3;
            m.cpu.seg[CS] = flat(0x23, CODE64_DPL3);
            m.cpu.seg[SS] = flat(0x1b, DATA_DPL3);
            m.cpu.gpr[4] = USTACK;
            m.cpu.tr = Segment {
                selector: 0x28,
                base: TSS,
                limit: 0x67,
                attr: 0x8b,
            };
            m.cpu.rip = UCODE;
        } else {
            m.cpu.rip = KCODE;
        }
        assert_eq!(m.run(), Exit::Halted, "case {want:#x}");
        assert_eq!(m.cpu.gpr[1], want as u64, "error code for case {want:#x}");
        assert_eq!(m.cpu.gpr[2], va, "CR2 for case {want:#x}");
        assert_eq!(m.cpu.cpl, 0);
    }
}

#[test]
fn read_modify_write_fault_leaves_flags_and_memory_unchanged() {
    // ADC to a read-only page: the read succeeds, the write faults. The
    // fault must leave RFLAGS as before the instruction (the restarted ADC
    // needs the original CF) and memory untouched.
    // Both the plain form and the LOCK form (which takes the generic path).
    for locked in [false, true] {
        let mut m = Machine::new();
        let page = 0x40u64;
        let va = page << 12;
        w64(&mut m.bus.ram.mem, PT + 8 * page, va | 5); // present, user, read-only
        w64(&mut m.bus.ram.mem, va, 0x7fff_ffff_ffff_ffff);
        let mut k = asm64();
        k.xor(eax, eax).unwrap(); // ZF=1
        k.stc().unwrap(); // CF=1
        k.mov(rbx, 1u64).unwrap();
        if locked {
            k.lock().adc(qword_ptr(va), rbx).unwrap();
        } else {
            k.adc(qword_ptr(va), rbx).unwrap();
        }
        k.hlt().unwrap();
        m.load(KCODE, &mut k);
        let mut h = asm64();
        h.pop(rcx).unwrap(); // error code
        h.mov(rdx, qword_ptr(rsp + 16)).unwrap(); // saved RFLAGS
        h.hlt().unwrap();
        m.load(0x21000, &mut h);
        m.gate(14, 0x21000, 0, 0);
        m.cpu.rip = KCODE;
        assert_eq!(m.run(), Exit::Halted);
        assert_eq!(m.cpu.gpr[1], 3, "error code: protection, write, supervisor");
        let (cf, zf, sf, of) = (1, 1 << 6, 1 << 7, 1 << 11);
        assert_eq!(
            m.cpu.gpr[2] & (cf | zf | sf | of),
            cf | zf,
            "saved RFLAGS are the ones from before the ADC (locked: {locked})"
        );
        assert_eq!(
            u64::from_le_bytes(
                m.bus.ram.mem[va as usize..va as usize + 8]
                    .try_into()
                    .unwrap()
            ),
            0x7fff_ffff_ffff_ffff
        );
    }
}

#[test]
fn syscall_sysret_and_user_gp_on_ist_stack() {
    let mut m = Machine::new();
    let mut k = asm64();
    // STAR: kernel CS 0x08, user base 0x10 (SYSRET: CS 0x23, SS 0x1b).
    k.mov(ecx, 0xc000_0081u32).unwrap();
    k.mov(eax, 0u32).unwrap();
    k.mov(edx, 0x0010_0008u32).unwrap();
    k.wrmsr().unwrap();
    k.mov(ecx, 0xc000_0082u32).unwrap(); // LSTAR
    k.mov(eax, 0x22000u32).unwrap();
    k.xor(edx, edx).unwrap();
    k.wrmsr().unwrap();
    k.mov(ax, 0x28u32).unwrap();
    k.ltr(ax).unwrap();
    // IRETQ to user mode.
    k.push(0x1bi32).unwrap();
    k.push(USTACK as i32).unwrap();
    k.push(0x202i32).unwrap();
    k.push(0x23i32).unwrap();
    k.push(UCODE as i32).unwrap();
    k.iretq().unwrap();
    m.load(KCODE, &mut k);
    let mut sys = asm64();
    sys.add(rax, 100).unwrap();
    sys.mov(r13, rsp).unwrap();
    sys.sysretq().unwrap();
    m.load(0x22000, &mut sys);
    let mut u = asm64();
    u.mov(eax, 7u32).unwrap();
    u.syscall().unwrap();
    u.mov(r12, rax).unwrap();
    u.mov(r9, rcx).unwrap();
    u.cli().unwrap(); // CPL 3, IOPL 0: #GP(0)
    u.hlt().unwrap();
    m.load(UCODE, &mut u);
    let mut gp = asm64();
    gp.pop(r14).unwrap();
    gp.mov(r15, rsp).unwrap();
    gp.hlt().unwrap();
    m.load(0x23000, &mut gp);
    m.gate(13, 0x23000, 0, 1);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    let c = &m.cpu;
    assert_eq!(c.gpr[12], 107, "syscall handler result");
    assert_eq!(c.gpr[13], USTACK, "SYSCALL keeps the user RSP");
    assert!(
        c.gpr[9] > UCODE && c.gpr[9] < UCODE + 16,
        "RCX = return address"
    );
    assert_eq!(c.gpr[14], 0, "#GP error code");
    assert_eq!(c.gpr[15], IST1 - 40, "delivered on the IST1 stack");
    let saved_cs = u64::from_le_bytes(
        m.bus.ram.mem[(IST1 - 32) as usize..(IST1 - 24) as usize]
            .try_into()
            .unwrap(),
    );
    assert_eq!(saved_cs, 0x23, "frame holds the user CS");
    assert_eq!(c.cpl, 0);
}

fn interrupt_machine(code: &mut CodeAssembler) -> Machine {
    let mut m = Machine::new();
    m.load(KCODE, code);
    let mut h = asm64();
    h.mov(rcx, 0x40u64).unwrap();
    h.mov(r8, rdx).unwrap();
    h.iretq().unwrap();
    m.load(0x24000, &mut h);
    m.gate(0x40, 0x24000, 0, 0);
    m.cpu.rip = KCODE;
    m
}

#[test]
fn external_interrupts_wake_hlt() {
    let mut k = asm64();
    k.sti().unwrap();
    k.hlt().unwrap();
    k.mov(rbx, 1u64).unwrap();
    k.hlt().unwrap();
    let mut m = interrupt_machine(&mut k);
    assert_eq!(m.run(), Exit::Halted, "nothing pending: the CPU halts");
    assert_eq!(m.run(), Exit::Halted, "and stays halted");
    assert_eq!(m.bus.acks, 0);
    m.bus.pending = Some(0x40);
    m.cpu.gpr[2] = 0xff;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.bus.acks, 1);
    assert_eq!(m.cpu.gpr[1], 0x40, "handler ran");
    assert_eq!(m.cpu.gpr[8], 0xff);
    assert_eq!(m.cpu.gpr[3], 1, "execution resumed after the first HLT");
}

#[test]
fn interrupts_wait_for_if_and_the_sti_shadow() {
    let mut k = asm64();
    k.mov(rdx, 1u64).unwrap();
    k.mov(rdx, 2u64).unwrap();
    k.sti().unwrap();
    k.mov(rdx, 5u64).unwrap();
    k.mov(rdx, 6u64).unwrap();
    k.hlt().unwrap();
    let mut m = interrupt_machine(&mut k);
    m.bus.pending = Some(0x40);
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.bus.acks, 1);
    assert_eq!(
        m.cpu.gpr[8], 5,
        "taken right after the instruction following STI, not before"
    );
    assert_eq!(m.cpu.gpr[2], 6);
}

#[test]
fn exceptions_and_software_interrupts_save_the_right_rip() {
    let mut m = Machine::new();
    let mut k = asm64();
    let mut after_ud = k.create_label();
    let mut after_de = k.create_label();
    k.ud2().unwrap();
    k.set_label(&mut after_ud).unwrap();
    k.xor(ecx, ecx).unwrap();
    k.div(rcx).unwrap();
    k.set_label(&mut after_de).unwrap();
    k.int3().unwrap();
    k.int(0x80).unwrap();
    k.hlt().unwrap();
    m.load(KCODE, &mut k);
    // #UD and #DE handlers skip the faulting instruction (2 and 3 bytes);
    // #BP and INT 0x80 return to the next instruction by themselves. Each
    // handler appends (vector, saved RIP) to a log at 0x8000.
    for (vector, skip) in [(6u8, 2u64), (0, 3), (3, 0), (0x80, 0)] {
        let mut h = asm64();
        h.mov(rax, qword_ptr(0x8000)).unwrap();
        h.mov(rbx, qword_ptr(rsp)).unwrap();
        h.mov(qword_ptr(rax + 0x8008), rbx).unwrap();
        h.mov(qword_ptr(rax + 0x8010), vector as i32).unwrap();
        h.add(rax, 16).unwrap();
        h.mov(qword_ptr(0x8000), rax).unwrap();
        h.add(qword_ptr(rsp), skip as i32).unwrap();
        h.iretq().unwrap();
        let at = 0x25000 + 0x100 * vector as u64;
        m.load(at, &mut h);
        m.gate(vector, at, 3, 0);
    }
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    let log: Vec<u64> = (0..8)
        .map(|k| {
            u64::from_le_bytes(
                m.bus.ram.mem[0x8008 + 8 * k..0x8010 + 8 * k]
                    .try_into()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(log[1], 6);
    assert_eq!(log[0], KCODE, "#UD saves the faulting RIP");
    assert_eq!(log[3], 0);
    assert_eq!(log[2], KCODE + 4, "#DE saves the faulting RIP");
    assert_eq!(log[5], 3);
    assert_eq!(log[4], KCODE + 8, "INT3 saves the next RIP");
    assert_eq!(log[7], 0x80);
    assert_eq!(log[6], KCODE + 10, "INT n saves the next RIP");
}

#[test]
fn self_modifying_code_and_invlpg() {
    let mut m = Machine::new();
    let mut k = asm64();
    let mut patch = k.create_label();
    k.lea(rsi, ptr(patch)).unwrap();
    k.mov(byte_ptr(rsi + 1), 0x42u32).unwrap(); // rewrite the imm8 below
    k.set_label(&mut patch).unwrap();
    k.mov(al, 0x11u32).unwrap();
    // Remap page 0x50 from frame 0x50 to frame 0x51, then INVLPG.
    k.mov(rbx, qword_ptr(0x50_000)).unwrap();
    k.mov(rcx, 0x51_007u64).unwrap();
    k.mov(qword_ptr(PT + 8 * 0x50), rcx).unwrap();
    k.invlpg(byte_ptr(0x50_000)).unwrap();
    k.mov(rdx, qword_ptr(0x50_000)).unwrap();
    k.hlt().unwrap();
    m.load(KCODE, &mut k);
    w64(&mut m.bus.ram.mem, 0x50_000, 0xaaaa);
    w64(&mut m.bus.ram.mem, 0x51_000, 0xbbbb);
    m.cpu.rip = KCODE;
    // Decode the block once before running so the patch must invalidate it.
    assert_eq!(m.cpu.step(&mut m.bus), Exit::Budget);
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[0] & 0xff, 0x42, "patched instruction executed");
    assert_eq!(m.cpu.gpr[3], 0xaaaa);
    assert_eq!(m.cpu.gpr[2], 0xbbbb, "INVLPG dropped the stale translation");
}

#[test]
fn unimplemented_instruction_is_ud_not_a_panic() {
    let mut m = Machine::new();
    // No IDT gate for #UD: delivery fails (#NP) -> #DF (no gate) -> shutdown.
    m.bus.ram.mem[KCODE as usize..KCODE as usize + 5]
        .copy_from_slice(&[0x66, 0x0f, 0x38, 0x17, 0xc1]); // ptest (SSE4.1)
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Shutdown);
    assert_eq!(m.cpu.last_exception.map(|e| e.0), Some(6));
}

/// Collects trace lines (the CPU logs through the `log` facade).
struct Capture(std::sync::Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target() == "netvm::cpu::trace"
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

#[test]
fn instruction_trace_logs_disassembly() {
    static CAPTURE: Capture = Capture(std::sync::Mutex::new(Vec::new()));
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Trace);
    let mut m = Machine::new();
    let mut k = asm64();
    k.mov(eax, 0x1234u32).unwrap();
    k.add(rax, rax).unwrap();
    k.hlt().unwrap();
    m.load(KCODE, &mut k);
    m.cpu.rip = KCODE;
    m.cpu.trace = true;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[0], 0x2468);
    let lines = CAPTURE.0.lock().unwrap().clone();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("0000000000020000 mov eax,1234h"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("add rax,rax"), "{}", lines[1]);
    assert!(lines[2].contains("hlt"), "{}", lines[2]);
}

#[test]
fn verw_verr_lar_lsl_check_descriptors() {
    let mut m = Machine::new();
    let mut k = asm64();
    // Each check: ZF into one byte of a result area at 0x8000.
    let checks: [(u16, u8); 6] = [
        (0x10, 0),
        (0x08, 0),
        (0x08, 1),
        (0x50, 0),
        (0x1b, 0),
        (0x23, 0),
    ];
    for (n, (sel, kind)) in checks.iter().enumerate() {
        k.mov(ax, *sel as u32).unwrap();
        if *kind == 0 {
            k.verw(ax).unwrap();
        } else {
            k.verr(ax).unwrap();
        }
        k.sete(byte_ptr(0x8000 + n as u64)).unwrap();
    }
    k.mov(ecx, 0x10u32).unwrap();
    k.lsl(rbx, rcx).unwrap();
    k.mov(ecx, 0x18u32).unwrap();
    k.lar(rdx, rcx).unwrap();
    k.mov(ecx, 0x28u32).unwrap();
    k.lsl(rsi, rcx).unwrap();
    k.hlt().unwrap();
    m.load(KCODE, &mut k);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    let z = &m.bus.ram.mem[0x8000..0x8006];
    assert_eq!(
        z,
        &[1, 0, 1, 0, 1, 0],
        "VERW data=1 code=0, VERR code=1, beyond GDT=0, user data=1, user code=0"
    );
    assert_eq!(m.cpu.gpr[3], 0xffff_ffff, "LSL of a 4 GiB data segment");
    assert_eq!(m.cpu.gpr[2], 0x00c0_f300, "LAR of the user data segment");
    assert_eq!(m.cpu.gpr[6], 0x67, "LSL of the TSS");
}

#[test]
fn single_step_traps_after_each_instruction() {
    let mut m = Machine::new();
    let mut k = asm64();
    k.pushfq().unwrap();
    k.or(qword_ptr(rsp), 0x100).unwrap();
    k.popfq().unwrap(); // TF=1 takes effect after the next instruction
    k.nop().unwrap();
    k.mov(eax, 1u32).unwrap();
    k.hlt().unwrap();
    m.load(KCODE, &mut k);
    // #DB handler: count, log the saved RIP, stop stepping after two traps.
    let mut h = asm64();
    let mut done = h.create_label();
    h.inc(r10).unwrap();
    h.mov(rbx, qword_ptr(rsp)).unwrap();
    h.mov(qword_ptr(r10 * 8 + 0x8000), rbx).unwrap();
    h.cmp(r10, 2).unwrap();
    h.jb(done).unwrap();
    h.and(qword_ptr(rsp + 16), !0x100i32).unwrap();
    h.set_label(&mut done).unwrap();
    h.iretq().unwrap();
    m.load(0x26000, &mut h);
    m.gate(1, 0x26000, 0, 0);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[10], 2, "two single-step traps");
    let rd = |a: usize| u64::from_le_bytes(m.bus.ram.mem[a..a + 8].try_into().unwrap());
    // pushfq (1) + or qword [rsp],0x100 (8) + popfq (1) = 10; nop = 1.
    assert_eq!(
        rd(0x8008),
        KCODE + 11,
        "trap after the NOP that follows POPF"
    );
    assert_eq!(rd(0x8010), KCODE + 16, "trap after MOV EAX,1");
    assert_eq!(m.cpu.dr[6] & (1 << 14), 1 << 14, "DR6.BS");
    assert_eq!(m.cpu.gpr[0], 1);
}

#[test]
fn user_port_io_follows_the_tss_bitmap() {
    let mut m = Machine::new();
    // TSS limit covering a 16-byte bitmap at offset 0x68: only port 0x60 open.
    let limit = 0x68 + 16 + 1;
    let lo =
        (limit & 0xffff) | ((TSS & 0xff_ffff) << 16) | (0x89u64 << 40) | ((TSS >> 24) & 0xff) << 56;
    w64(&mut m.bus.ram.mem, GDT + 0x28, lo);
    m.bus.ram.mem[(TSS + 0x66) as usize..(TSS + 0x68) as usize]
        .copy_from_slice(&0x68u16.to_le_bytes());
    for b in 0..17u64 {
        m.bus.ram.mem[(TSS + 0x68 + b) as usize] = 0xff;
    }
    m.bus.ram.mem[(TSS + 0x68 + 0x60 / 8) as usize] = !1; // port 0x60 allowed
    let mut k = asm64();
    k.mov(ax, 0x28u32).unwrap();
    k.ltr(ax).unwrap();
    k.push(0x1bi32).unwrap();
    k.push(USTACK as i32).unwrap();
    k.push(0x2i32).unwrap();
    k.push(0x23i32).unwrap();
    k.push(UCODE as i32).unwrap();
    k.iretq().unwrap();
    m.load(KCODE, &mut k);
    let mut u = asm64();
    u.xor(eax, eax).unwrap();
    u.in_(al, 0x60).unwrap(); // allowed
    u.mov(r12, rax).unwrap();
    u.out(0x61, al).unwrap(); // denied: #GP(0)
    u.hlt().unwrap();
    m.load(UCODE, &mut u);
    let mut gp = asm64();
    gp.pop(r14).unwrap();
    gp.mov(r15, qword_ptr(rsp)).unwrap();
    gp.hlt().unwrap();
    m.load(0x23000, &mut gp);
    m.gate(13, 0x23000, 0, 0);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[12], 0xff, "IN from the permitted port ran");
    assert_eq!(m.cpu.gpr[14], 0, "#GP(0)");
    assert_eq!(
        m.cpu.gpr[15],
        UCODE + 2 + 2 + 3,
        "on the OUT to the denied port"
    );
}

#[test]
fn rdtsc_counts_instructions_plus_skipped_time() {
    let mut m = Machine::new();
    let mut k = asm64();
    k.rdtsc().unwrap();
    k.shl(rdx, 32).unwrap();
    k.or(rax, rdx).unwrap();
    k.mov(rbx, rax).unwrap();
    k.hlt().unwrap();
    m.load(KCODE, &mut k);
    m.cpu.rip = KCODE;
    m.cpu.advance_tsc(1_000_000);
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(
        m.cpu.gpr[3], 1_000_000,
        "no instruction retired before RDTSC"
    );
    assert_eq!(m.cpu.tsc(), 1_000_000 + 5);
}

/// One block (no branch until the fault): a REP MOVSB long enough to be
/// resumed (5000 bytes), RDTSC after it, then a load from an unmapped
/// page whose #PF handler stores the saved RIP at 0x8000 and halts.
fn mid_block_program() -> (Machine, u64) {
    let mut m = Machine::new();
    for k in 0..5000u64 {
        m.bus.ram.mem[0x10_0000 + k as usize] = (k * 7 + 3) as u8;
    }
    let mut k = asm64();
    let mut faulting = k.create_label();
    k.nop().unwrap();
    k.mov(ecx, 5000).unwrap();
    k.mov(rsi, 0x10_0000u64).unwrap();
    k.mov(rdi, 0x14_0000u64).unwrap();
    k.rep().movsb().unwrap();
    k.add(eax, 1).unwrap();
    k.rdtsc().unwrap();
    k.mov(rbx, rax).unwrap();
    k.set_label(&mut faulting).unwrap();
    k.mov(rdx, qword_ptr(0x30_0000)).unwrap();
    k.hlt().unwrap();
    let code = k
        .assemble_options(KCODE, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
        .expect("assemble");
    let fault_rip = code.label_ip(&faulting).unwrap();
    load_bytes(&mut m.cpu, &mut m.bus.ram.mem, KCODE, code.inner.code_buffer.as_slice());
    let mut h = asm64();
    h.mov(rax, qword_ptr(rsp + 8)).unwrap();
    h.mov(qword_ptr(0x8000), rax).unwrap();
    h.hlt().unwrap();
    m.load(0x25000, &mut h);
    m.gate(14, 0x25000, 0, 0);
    m.cpu.rip = KCODE;
    (m, fault_rip)
}

/// The run loop leaves RIP and the instruction count behind during a block
/// and rebuilds them from each instruction's place in it: the program run
/// in whole blocks, cut at every budget, or one instruction at a time must
/// agree on RIP, the count, registers and flags, and on what the
/// instructions that read them mid-block see (RDTSC, the REP restart, the
/// saved RIP of a fault).
#[test]
fn mid_block_state_matches_single_stepping() {
    let (mut m, fault_rip) = mid_block_program();
    assert_eq!(m.run(), Exit::Halted);
    // NOP, 3 MOVs, REP MOVSB (two resumptions), ADD retired before RDTSC.
    assert_eq!(m.cpu.gpr[3], 7, "RDTSC in mid-block");
    assert_eq!(
        m.bus.ram.mem[0x14_0000..0x14_0000 + 5000],
        m.bus.ram.mem[0x10_0000..0x10_0000 + 5000]
    );
    assert_eq!(
        u64::from_le_bytes(m.bus.ram.mem[0x8000..0x8008].try_into().unwrap()),
        fault_rip,
        "#PF saves the faulting RIP"
    );
    let total = m.cpu.icount;
    for budget in 1..=total {
        let (mut a, _) = mid_block_program();
        let (mut b, _) = mid_block_program();
        a.cpu.run(&mut a.bus, budget);
        for _ in 0..budget {
            b.cpu.step(&mut b.bus);
        }
        assert_eq!(
            (a.cpu.rip, a.cpu.icount, a.cpu.gpr, a.cpu.rflags()),
            (b.cpu.rip, b.cpu.icount, b.cpu.gpr, b.cpu.rflags()),
            "budget {budget}"
        );
    }
}

/// REP MOVS/STOS copy or fill whole page runs at once where the TLB maps
/// both sides: the result must be the element-by-element one, across page
/// ends, with elements straddling them, and with overlapping buffers (a
/// destination just above the source replicates a pattern byte by byte).
#[test]
fn rep_movs_stos_match_element_by_element() {
    // (instruction, element size, RSI, RDI, RCX)
    type Emit = fn(&mut CodeAssembler);
    let cases: [(&str, Emit, u64, u64, u64, u64); 5] = [
        ("rep movsb, dst = src + 3", |k| k.rep().movsb().unwrap(), 1, 0x10_0000, 0x10_0003, 6000),
        ("rep movsb, dst = src - 5", |k| k.rep().movsb().unwrap(), 1, 0x10_0005, 0x10_0000, 5000),
        ("rep movsq, unaligned", |k| k.rep().movsq().unwrap(), 8, 0x10_0005, 0x14_0003, 1000),
        ("rep movsd, 9000 elements", |k| k.rep().movsd().unwrap(), 4, 0x10_0000, 0x14_0000, 9000),
        ("rep stosd, unaligned", |k| k.rep().stosd().unwrap(), 4, 0, 0x15_0002, 3000),
    ];
    for (name, emit, size, src0, dst0, count) in cases {
        let mut m = Machine::new();
        for k in 0..0x10_0000u64 {
            m.bus.ram.mem[0x10_0000 + k as usize] = (k * 13 + k / 251) as u8;
        }
        let mut want = m.bus.ram.mem.clone();
        let fill = 0x1122_3344_5566_7788u64;
        for e in 0..count {
            for b in 0..size {
                let v = if src0 == 0 {
                    fill.to_le_bytes()[b as usize]
                } else {
                    want[(src0 + e * size + b) as usize]
                };
                want[(dst0 + e * size + b) as usize] = v;
            }
        }
        let mut k = asm64();
        k.mov(rsi, src0).unwrap();
        k.mov(rdi, dst0).unwrap();
        k.mov(rcx, count).unwrap();
        emit(&mut k);
        k.hlt().unwrap();
        m.load(KCODE, &mut k);
        m.cpu.rip = KCODE;
        m.cpu.gpr[0] = fill;
        assert_eq!(m.run(), Exit::Halted, "{name}");
        assert_eq!(m.cpu.gpr[1], 0, "{name}: RCX");
        assert_eq!(m.cpu.gpr[7], dst0 + count * size, "{name}: RDI");
        if src0 != 0 {
            assert_eq!(m.cpu.gpr[6], src0 + count * size, "{name}: RSI");
        }
        // (Outside the data the page walks set accessed/dirty bits.)
        let data = 0x10_0000..0x20_0000;
        assert!(m.bus.ram.mem[data.clone()] == want[data], "{name}: memory differs");
    }
}
