//! Debug registers with assembled programs: instruction breakpoints (a
//! fault, RF lets the handler resume past it), data write and read/write
//! breakpoints (traps after the access, DR6 B0-B3), the MOV DR access rules
//! (#GP at CPL 3, DR4/DR5 aliases or #UD with CR4.DE, DR7.GD -> #DB with
//! DR6.BD), I/O breakpoints, REP string instructions trapping mid-way.

mod cpu_system_kit;

use cpu_system_kit::*;
use iced_x86::code_asm::*;
use netvm::cpu::state::{CS, SS};
use netvm::cpu::{Cpu, Exit, RamBus, Segment, TableReg};

const IDT: u64 = 0x7000;
const GDT: u64 = 0x5000;
const KSTACK: u64 = 0x9000;
const KCODE: u64 = 0x20000;
const DB_HANDLER: u64 = 0x21000;
const FAULT_HANDLER: u64 = 0x22000;
const LOG: u64 = 0x8000;
const DATA: u64 = 0x30000;

struct Machine {
    cpu: Cpu,
    bus: RamBus,
}

impl Machine {
    /// Paging off, CPL 0, 64-bit mode; #DB handler logs (count in R12,
    /// saved RIP and DR6 per hit at LOG), clears DR6 and sets RF in the
    /// saved RFLAGS (clobbers RAX, RDI); #GP/#UD handler: R14 = vector marker, R15 = saved RIP.
    fn new() -> Machine {
        let mut m = Machine {
            cpu: Cpu::new(),
            bus: RamBus::new(1 << 20),
        };
        w64(&mut m.bus.mem, GDT + 8, 0x00af_9b00_0000_ffff);
        w64(&mut m.bus.mem, GDT + 16, 0x00cf_9300_0000_ffff);
        m.cpu.gdtr = TableReg {
            base: GDT,
            limit: 0x17,
        };
        m.cpu.idtr = TableReg {
            base: IDT,
            limit: 0xfff,
        };
        m.cpu.seg[CS] = flat(0x08, CODE64_DPL0);
        // Kernel SS 0x10: IRETQ reloads it with the SDM's checks.
        m.cpu.seg[SS] = flat(0x10, DATA_DPL0);
        m.cpu.gpr[4] = KSTACK;
        let mut h = asm64();
        h.inc(r12).unwrap();
        h.mov(rdi, r12).unwrap();
        h.shl(rdi, 4).unwrap();
        h.mov(rax, qword_ptr(rsp)).unwrap();
        h.mov(qword_ptr(rdi + LOG as i32), rax).unwrap();
        h.mov(rax, dr6).unwrap();
        h.mov(qword_ptr(rdi + LOG as i32 + 8), rax).unwrap();
        h.xor(eax, eax).unwrap();
        h.mov(dr6, rax).unwrap();
        h.or(qword_ptr(rsp + 16), 0x10000).unwrap(); // RF
        h.iretq().unwrap();
        m.load(DB_HANDLER, &mut h);
        m.gate(1, DB_HANDLER);
        for (vector, marker) in [(6u8, 6u32), (13, 13)] {
            let mut h = asm64();
            if vector == 13 {
                h.add(rsp, 8).unwrap(); // error code
            }
            h.mov(r14d, marker).unwrap();
            h.mov(r15, qword_ptr(rsp)).unwrap();
            h.hlt().unwrap();
            let at = FAULT_HANDLER + 0x100 * vector as u64;
            m.load(at, &mut h);
            m.gate(vector, at);
        }
        m
    }

    fn gate(&mut self, vector: u8, handler: u64) {
        set_gate(&mut self.bus.mem, IDT, vector, handler, 0x08, 3, 0);
    }

    fn load(&mut self, at: u64, a: &mut CodeAssembler) -> Vec<u64> {
        let r = a
            .assemble_options(
                at,
                iced_x86::BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
            )
            .expect("assemble");
        load_bytes(&mut self.cpu, &mut self.bus.mem, at, &r.inner.code_buffer);
        r.inner
            .new_instruction_offsets
            .iter()
            .map(|o| at + *o as u64)
            .collect()
    }

    fn run(&mut self) -> Exit {
        self.cpu.run(&mut self.bus, 10_000)
    }

    /// (saved RIP, DR6) of the n-th #DB (1-based).
    fn hit(&self, n: u64) -> (u64, u64) {
        (
            r64(&self.bus.mem, LOG + 16 * n),
            r64(&self.bus.mem, LOG + 16 * n + 8),
        )
    }
}

#[test]
fn instruction_breakpoint_faults_once_and_rf_resumes() {
    let mut m = Machine::new();
    let mut k = asm64();
    k.mov(rax, KCODE + 0x100).unwrap();
    k.mov(dr0, rax).unwrap();
    k.mov(eax, 0x1u32).unwrap(); // L0, R/W0 = 00 (execute), LEN0 = 00
    k.mov(dr7, rax).unwrap();
    k.jmp(KCODE + 0x100).unwrap();
    m.load(KCODE, &mut k);
    let mut t = asm64();
    t.mov(ebx, 0x42u32).unwrap(); // the breakpoint
    t.mov(ecx, 0x43u32).unwrap();
    t.hlt().unwrap();
    m.load(KCODE + 0x100, &mut t);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[12], 1, "one #DB: RF suppressed it on the retry");
    let (rip, status) = m.hit(1);
    assert_eq!(
        rip,
        KCODE + 0x100,
        "a fault: the saved RIP is the breakpoint's"
    );
    assert_eq!(status & 0xf, 1, "DR6.B0");
    assert_eq!(
        (m.cpu.gpr[3], m.cpu.gpr[1]),
        (0x42, 0x43),
        "the instruction ran after the handler"
    );
}

#[test]
fn data_breakpoints_trap_after_the_access() {
    let mut m = Machine::new();
    let mut k = asm64();
    // DR1: write-only, 4 bytes at DATA + 8; DR2: read/write, 8 bytes at
    // DATA + 0x40.
    k.mov(rax, DATA + 8).unwrap();
    k.mov(dr1, rax).unwrap();
    k.mov(rax, DATA + 0x40).unwrap();
    k.mov(dr2, rax).unwrap();
    k.mov(
        eax,
        (1u32 << 2) | (1 << 4) | (0b1101 << 20) | (0b1011 << 24),
    )
    .unwrap();
    k.mov(dr7, rax).unwrap();
    k.mov(rsi, DATA).unwrap();
    k.mov(ecx, 7u32).unwrap();
    k.mov(eax, dword_ptr(rsi + 8)).unwrap(); // read of a write-only watch: no hit
    k.mov(dword_ptr(rsi + 0x10), ecx).unwrap(); // outside: no hit
    k.mov(word_ptr(rsi + 0xa), cx).unwrap(); // overlaps DR1: hit 1
    k.mov(edx, 5u32).unwrap();
    k.mov(rbx, qword_ptr(rsi + 0x44)).unwrap(); // overlaps DR2 (read): hit 2
    k.add(qword_ptr(rsi + 0x38), rcx).unwrap(); // below DR2: no hit
    k.hlt().unwrap();
    let at = m.load(KCODE, &mut k);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[12], 2, "two data breakpoint hits");
    let (rip1, dr6_1) = m.hit(1);
    let (rip2, dr6_2) = m.hit(2);
    // at[k] is the address of the k-th instruction.
    assert_eq!(rip1, at[11], "a trap: saved RIP after the write");
    assert_eq!(dr6_1 & 0xf, 0b0010, "DR6.B1");
    assert_eq!(rip2, at[13], "trap after the read");
    assert_eq!(dr6_2 & 0xf, 0b0100, "DR6.B2");
    assert_eq!(m.bus.mem[(DATA + 0xa) as usize], 7, "the write happened");
    assert_eq!(m.cpu.gpr[2], 5);
}

#[test]
fn mov_dr_access_rules() {
    // CPL 3: #GP(0).
    let mut m = Machine::new();
    let mut u = asm64();
    u.mov(rax, dr7).unwrap();
    m.load(0x40000, &mut u);
    m.cpu.cpl = 3;
    m.cpu.seg[CS] = flat(0x0b, CODE64_DPL3);
    m.cpu.seg[SS] = Segment::default();
    m.cpu.tr = Segment {
        selector: 0,
        base: 0x6000,
        limit: 0x67,
        attr: 0x8b,
    };
    w64(&mut m.bus.mem, 0x6004, KSTACK);
    m.cpu.rip = 0x40000;
    m.cpu.gpr[4] = 0x50000;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(
        (m.cpu.gpr[14], m.cpu.gpr[15]),
        (13, 0x40000),
        "MOV from DR7 at CPL 3 is #GP"
    );

    // DR4 aliases DR6 without CR4.DE, is #UD with it.
    let mut m = Machine::new();
    let mut k = asm64();
    k.mov(rax, dr4).unwrap();
    k.mov(rbx, cr4).unwrap();
    k.or(rbx, 8).unwrap();
    k.mov(cr4, rbx).unwrap();
    k.mov(rcx, dr5).unwrap();
    let at = m.load(KCODE, &mut k);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[0], m.cpu.dr[6], "DR4 reads DR6");
    assert_eq!(
        (m.cpu.gpr[14], m.cpu.gpr[15]),
        (6, at[4]),
        "DR5 with CR4.DE is #UD"
    );

    // DR7.GD: the next MOV DR is a #DB fault with DR6.BD, GD cleared.
    let mut m = Machine::new();
    let mut k = asm64();
    k.mov(eax, 1u32 << 13).unwrap();
    k.mov(dr7, rax).unwrap();
    k.mov(rax, dr0).unwrap();
    k.mov(ebx, 9u32).unwrap();
    k.hlt().unwrap();
    let at = m.load(KCODE, &mut k);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[12], 1);
    let (rip, status) = m.hit(1);
    assert_eq!(rip, at[2], "general detect is a fault on the MOV DR");
    assert_eq!(status & (1 << 13), 1 << 13, "DR6.BD");
    assert_eq!(m.cpu.dr[7] & (1 << 13), 0, "GD cleared on entry");
    assert_eq!(m.cpu.gpr[3], 9, "the MOV DR then ran (GD clear)");
}

/// I/O breakpoints (DR7 R/W = 10, SDM vol. 3 §17.2.4): with CR4.DE, an
/// IN/OUT/INS/OUTS whose port range overlaps DRn's (LENn bytes) traps
/// after the instruction with DR6.Bn; a REP OUTS traps after each hitting
/// iteration and resumes. Without CR4.DE the encoding watches nothing.
#[test]
fn io_breakpoints_trap_after_the_port_access() {
    let mut m = Machine::new();
    let mut k = asm64();
    // DR0: ports 0x70-0x71 (LEN 01); DR3: port 0x3fa (LEN 00); both R/W 10.
    k.mov(eax, 0x71u32).unwrap();
    k.mov(dr0, rax).unwrap();
    k.mov(eax, 0x3fau32).unwrap();
    k.mov(dr3, rax).unwrap();
    k.mov(
        eax,
        (1u32 << 0) | (1 << 6) | (0b0110 << 16) | (0b0010 << 28),
    )
    .unwrap();
    k.mov(dr7, rax).unwrap();
    k.in_(al, 0x70).unwrap(); // 0: CR4.DE clear: no hit
    k.mov(rbx, cr4).unwrap();
    k.or(rbx, 8).unwrap();
    k.mov(cr4, rbx).unwrap();
    k.out(0x80, al).unwrap(); // no hit
    k.in_(al, 0x71).unwrap(); // hit 1: B0
    k.mov(edx, 0x3f8u32).unwrap();
    k.out(dx, al).unwrap(); // 0x3f8: no hit
    k.out(dx, eax).unwrap(); // 0x3f8-0x3fb: hit 2, B3
    k.mov(edx, 0x6fu32).unwrap();
    k.in_(ax, dx).unwrap(); // 0x6f-0x70: hit 3, B0
    k.mov(edx, 0x70u32).unwrap();
    k.mov(rsi, DATA).unwrap();
    k.mov(ecx, 3u32).unwrap();
    k.rep().outsb().unwrap(); // hits 4, 5, 6: one per iteration
    k.mov(ebx, 9u32).unwrap();
    k.hlt().unwrap();
    let at = m.load(KCODE, &mut k);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[12], 6, "six I/O breakpoint hits");
    let want = [
        (at[12], 0b0001),
        (at[15], 0b1000),
        (at[17], 0b0001),
        (at[20], 0b0001),
        (at[20], 0b0001),
        (at[21], 0b0001),
    ];
    for (n, (rip, bits)) in want.into_iter().enumerate() {
        let (got_rip, status) = m.hit(n as u64 + 1);
        assert_eq!(got_rip, rip, "hit {}: trap RIP", n + 1);
        assert_eq!(status & 0xf, bits, "hit {}: DR6 B0-B3", n + 1);
    }
    assert_eq!(m.cpu.gpr[1], 0, "REP OUTSB ran all three iterations");
    assert_eq!(m.cpu.gpr[6], DATA + 3);
    assert_eq!(m.cpu.gpr[3], 9);
}

/// A REP string instruction hitting a data breakpoint traps after that
/// iteration (SDM vol. 3 §17.3.1.2): the saved RIP is the REP instruction
/// itself, which then resumes with the remaining count. (REP LODSB under a
/// read/write watch: the #DB handler clobbers RAX and RDI only.)
#[test]
fn rep_string_traps_after_the_hitting_iteration() {
    let mut m = Machine::new();
    let mut k = asm64();
    k.mov(rax, DATA + 2).unwrap();
    k.mov(dr1, rax).unwrap();
    k.mov(eax, (1u32 << 2) | (0b0011 << 20)).unwrap(); // L1, read/write, 1 byte
    k.mov(dr7, rax).unwrap();
    k.mov(rsi, DATA).unwrap();
    k.mov(ecx, 5u32).unwrap();
    k.rep().lodsb().unwrap();
    k.hlt().unwrap();
    let at = m.load(KCODE, &mut k);
    m.cpu.rip = KCODE;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.gpr[12], 1, "one hit");
    let (rip, status) = m.hit(1);
    assert_eq!(rip, at[6], "trap RIP: the REP LODSB, two iterations left");
    assert_eq!(status & 0xf, 0b0010, "DR6.B1");
    assert_eq!(
        (m.cpu.gpr[1], m.cpu.gpr[6]),
        (0, DATA + 5),
        "then the rest ran"
    );
}
