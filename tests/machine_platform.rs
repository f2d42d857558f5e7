//! The machine's platform without a kernel: small assembled programs drive
//! the local APIC timer, the I/O APIC and COM1's interrupt through
//! `MachineBus`, the run loop skips idle time on instruction count, and a
//! write to the GED's sleep register powers off.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use iced_x86::code_asm::*;
use netvm::backends::terminal::Terminal;
use netvm::cpu::Cpu;
use netvm::devices::rtc::CmosRtc;
use netvm::devices::serial::Serial;
use netvm::machine::irq::IrqPins;
use netvm::machine::{clock, Machine, MachineBus, Outcome, Step, TimeMode};
use netvm::memory::GuestMemory;

const GDT: u64 = 0x500;
const IDT: u64 = 0x1000;
const CODE: u64 = 0x10000;
const HANDLER: u64 = 0x11000;
const SERIAL_HANDLER: u64 = 0x12000;
const COUNTER: u64 = 0x3000;
const SERIAL_COUNTER: u64 = 0x3008;
const STACK: u64 = 0x8000;
const LAPIC: u64 = 0xfee0_0000;
const IOAPIC: u64 = 0xfec0_0000;
const GED: u64 = 0xfea0_0000;
const PERIOD: u32 = 10_000;

#[derive(Clone, Default)]
struct Captured(Rc<RefCell<Vec<u8>>>);

impl Terminal for Captured {
    fn read_input(&mut self, _buf: &mut [u8]) -> usize {
        0
    }
    fn write_output(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }
}

fn w64(mem: &mut GuestMemory, at: u64, v: u64) {
    mem.write_u64(at, v).unwrap();
}

fn load(mem: &mut GuestMemory, at: u64, a: &mut CodeAssembler) {
    let bytes = a.assemble(at).unwrap();
    mem.write(at, &bytes).unwrap();
}

fn gate(mem: &mut GuestMemory, vector: u64, handler: u64) {
    let lo = (handler & 0xffff) | (0x10 << 16) | (0x8eu64 << 40) | ((handler >> 16) & 0xffff) << 48;
    w64(mem, IDT + 16 * vector, lo);
    w64(mem, IDT + 16 * vector + 8, handler >> 32);
}

/// `mov dword [addr], value` for an MMIO register above 4 GiB-relative
/// addressing: through RAX.
fn store32(a: &mut CodeAssembler, addr: u64, value: u32) {
    a.mov(rax, addr).unwrap();
    a.mov(dword_ptr(rax), value).unwrap();
}

fn machine() -> (Machine, Captured) {
    let mut mem = GuestMemory::new(4 << 20);
    // GDT as the boot protocol's: 0x10 64-bit code, 0x18 data.
    w64(&mut mem, GDT + 0x10, 0x00af_9b00_0000_ffff);
    w64(&mut mem, GDT + 0x18, 0x00cf_9300_0000_ffff);

    // Timer handler: count, EOI, return.
    let mut h = asm();
    h.add(qword_ptr(COUNTER), 1).unwrap();
    store32(&mut h, LAPIC + 0xb0, 0);
    h.iretq().unwrap();
    load(&mut mem, HANDLER, &mut h);
    // COM1 handler: read IIR (acknowledges THRE), count, EOI.
    let mut s = asm();
    s.mov(dx, 0x3fau32).unwrap();
    s.in_(al, dx).unwrap();
    s.add(qword_ptr(SERIAL_COUNTER), 1).unwrap();
    store32(&mut s, LAPIC + 0xb0, 0);
    s.iretq().unwrap();
    load(&mut mem, SERIAL_HANDLER, &mut s);
    gate(&mut mem, 0x40, HANDLER);
    gate(&mut mem, 0x41, SERIAL_HANDLER);

    let mut a = asm();
    store32(&mut a, LAPIC + 0xf0, 0x1ff); // software enable, spurious 0xff
    store32(&mut a, LAPIC + 0x3e0, 0xb); // divide by 1
    store32(&mut a, LAPIC + 0x320, (1 << 17) | 0x40); // periodic, vector 0x40
    store32(&mut a, LAPIC + 0x380, PERIOD);
    // I/O APIC pin 4 (COM1) -> vector 0x41, edge, unmasked.
    store32(&mut a, IOAPIC, 0x10 + 2 * 4);
    store32(&mut a, IOAPIC + 0x10, 0x41);
    // UART: THRE interrupt on, send one byte.
    a.mov(dx, 0x3f9u32).unwrap();
    a.mov(al, 2u32).unwrap();
    a.out(dx, al).unwrap();
    a.mov(dx, 0x3f8u32).unwrap();
    a.mov(al, b'!' as u32).unwrap();
    a.out(dx, al).unwrap();
    a.sti().unwrap();
    let mut wait = a.create_label();
    a.set_label(&mut wait).unwrap();
    a.hlt().unwrap();
    a.cmp(qword_ptr(COUNTER), 5).unwrap();
    a.jb(wait).unwrap();
    // Power off: SLP_TYP 5, SLP_EN.
    a.mov(rax, GED).unwrap();
    a.mov(byte_ptr(rax), (5 << 2) | 0x20).unwrap();
    a.jmp(wait).unwrap();
    load(&mut mem, CODE, &mut a);
    let _ = mem.take_written();

    let mut cpu = Cpu::new();
    cpu.gdtr = netvm::cpu::TableReg { base: GDT, limit: 0x1f };
    cpu.idtr = netvm::cpu::TableReg { base: IDT, limit: 0xfff };
    cpu.rip = CODE;
    cpu.gpr[4] = STACK;
    let pins = IrqPins::new();
    let out = Captured::default();
    let uart = Serial::new(pins.line(4), Box::new(out.clone()));
    let bus = MachineBus::new(mem, Vec::new(), uart, CmosRtc::new(0), pins);
    (Machine::from_parts(cpu, bus, TimeMode::Instructions { shift: 0, sleep: false }), out)
}

fn asm() -> CodeAssembler {
    CodeAssembler::new(64).unwrap()
}

#[test]
fn timer_and_serial_interrupts_reach_the_cpu_and_ged_powers_off() {
    let (mut m, out) = machine();
    let mut steps = 0;
    let outcome = loop {
        steps += 1;
        assert!(steps < 10_000, "the program never powered off");
        match m.step() {
            Step::Running => {}
            Step::Idle { .. } => panic!("instruction time without sleep never idles while a timer runs"),
            Step::Stopped(o) => break o,
        }
    };
    assert_eq!(outcome, Outcome::PowerOff);
    assert_eq!(m.bus.mem.read_u64(COUNTER).unwrap(), 5, "five periodic timer interrupts");
    assert_eq!(m.bus.mem.read_u64(SERIAL_COUNTER).unwrap(), 1, "one THRE interrupt through the I/O APIC");
    assert_eq!(&*out.0.borrow(), b"!");
    // Idle time was skipped: the TSC is at the fifth expiry, far beyond
    // the few hundred instructions actually executed.
    let tsc = clock::tsc(&m.cpu);
    assert!(m.cpu.icount < 1000, "instructions: {}", m.cpu.icount);
    assert!(tsc >= 5 * PERIOD as u64 && tsc < 6 * PERIOD as u64, "tsc {tsc}");
}
