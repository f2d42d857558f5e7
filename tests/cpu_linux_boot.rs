//! Smoke test of the CPU on the real guest kernel: vmlinux is entered
//! through the 64-bit boot protocol (Documentation/x86/boot.rst) on a bare
//! bus (RAM, a UART line-status register, nothing else) and runs until it
//! waits for hardware this test does not provide. The kernel's printk
//! buffer is then read from guest RAM: the early boot messages must be
//! there and no oops, panic, BUG or invalid-opcode report may appear.

use std::collections::BTreeMap;
use std::process::Command;

use netvm::cpu::state::{CR0_PG, CR0_WP, CS};
use netvm::cpu::{Bus, Cpu, Exit, Segment, TableReg};

const RAM: usize = 256 << 20;
const BOOT_PARAMS: u64 = 0x7000;
const CMDLINE: u64 = 0x20000;
const PML4: u64 = 0x9000;
const PDPT: u64 = 0xa000;
const GDT: u64 = 0xb000;

struct BareBus {
    ram: Vec<u8>,
    serial: Vec<u8>,
}

impl Bus for BareBus {
    fn ram(&mut self) -> &mut [u8] {
        &mut self.ram
    }
    fn mmio_read(&mut self, _a: u64, size: u8) -> u64 {
        if size >= 8 {
            u64::MAX
        } else {
            (1 << (8 * size as u32)) - 1
        }
    }
    fn mmio_write(&mut self, _a: u64, _s: u8, _v: u64) {}
    fn io_in(&mut self, port: u16, _s: u8) -> u32 {
        match port {
            0x3fd => 0x60, // LSR: transmitter empty
            _ => 0xff,
        }
    }
    fn io_out(&mut self, port: u16, _s: u8, v: u32) {
        if port == 0x3f8 {
            self.serial.push(v as u8);
        }
    }
}

fn symbols(vmlinux: &std::path::Path) -> BTreeMap<u64, String> {
    let out = Command::new("nm")
        .arg(vmlinux)
        .output()
        .expect("nm (binutils) reads the kernel symbols");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let a = u64::from_str_radix(it.next()?, 16).ok()?;
            let _t = it.next()?;
            Some((a, it.next()?.to_string()))
        })
        .collect()
}

fn symbolize(syms: &BTreeMap<u64, String>, a: u64) -> String {
    match syms.range(..=a).next_back() {
        Some((base, name)) => format!("{name}+{:#x}", a - base),
        None => format!("{a:#x}"),
    }
}

fn w(m: &mut [u8], a: u64, bytes: &[u8]) {
    m[a as usize..a as usize + bytes.len()].copy_from_slice(bytes);
}

#[test]
fn kernel_boots_to_hardware_setup_without_cpu_faults() {
    let image = testkit::guest::image();
    let vmlinux = image.vmlinux();
    let elf = std::fs::read(&vmlinux).unwrap();
    let syms = symbols(&vmlinux);
    let log_buf = *syms
        .iter()
        .find(|(_, n)| *n == "__log_buf")
        .expect("__log_buf symbol")
        .0;

    let mut bus = BareBus {
        ram: vec![0; RAM],
        serial: Vec::new(),
    };
    let m = &mut bus.ram;
    // Load PT_LOAD segments at their physical addresses.
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    let (phoff, phnum) = (u64_at(32) as usize, u16_at(56));
    for k in 0..phnum {
        let o = phoff + 56 * k;
        if u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) != 1 {
            continue;
        }
        let (off, paddr, filesz) = (
            u64_at(o + 8) as usize,
            u64_at(o + 24),
            u64_at(o + 32) as usize,
        );
        w(m, paddr, &elf[off..off + filesz]);
    }
    let entry = u64_at(24);
    // Identity map 0-4 GiB with 1 GiB pages.
    w(m, PML4, &(PDPT | 3).to_le_bytes());
    for g in 0..4u64 {
        w(m, PDPT + 8 * g, &((g << 30) | 0x83).to_le_bytes());
    }
    // GDT: __BOOT_CS 0x10, __BOOT_DS 0x18.
    w(m, GDT + 0x10, &0x00af_9b00_0000_ffffu64.to_le_bytes());
    w(m, GDT + 0x18, &0x00cf_9300_0000_ffffu64.to_le_bytes());
    // boot_params: setup header and an e820 map (usable RAM above 1 MiB).
    let cmd = b"console=ttyS0 lpj=1000000 tsc_early_khz=2000000 nokaslr\0";
    w(m, CMDLINE, cmd);
    let bp = BOOT_PARAMS;
    w(m, bp + 0x1fe, &0xaa55u16.to_le_bytes());
    w(m, bp + 0x202, b"HdrS");
    w(m, bp + 0x206, &0x020fu16.to_le_bytes());
    w(m, bp + 0x210, &[0xff]); // type_of_loader
    w(m, bp + 0x211, &[0x01]); // loadflags: LOADED_HIGH
    w(m, bp + 0x228, &(CMDLINE as u32).to_le_bytes());
    w(m, bp + 0x238, &(cmd.len() as u32).to_le_bytes());
    let e820: [(u64, u64, u32); 2] = [(0, 0x9_f000, 1), (0x10_0000, RAM as u64 - 0x10_0000, 1)];
    w(m, bp + 0x1e8, &[e820.len() as u8]);
    for (k, (a, s, t)) in e820.iter().enumerate() {
        let at = bp + 0x2d0 + 20 * k as u64;
        w(m, at, &a.to_le_bytes());
        w(m, at + 8, &s.to_le_bytes());
        w(m, at + 16, &t.to_le_bytes());
    }

    let mut cpu = Cpu::new();
    cpu.cr3 = PML4;
    cpu.cr0 |= CR0_PG | CR0_WP;
    cpu.gdtr = TableReg {
        base: GDT,
        limit: 0x1f,
    };
    cpu.seg[CS] = Segment {
        selector: 0x10,
        base: 0,
        limit: 0xffff_ffff,
        attr: 0xa09b,
    };
    cpu.gpr[6] = BOOT_PARAMS; // RSI
    cpu.rip = entry;
    // Release builds run far enough to reach IRQ setup; debug builds (plain
    // `cargo test`) stop earlier, after setup_arch.
    let millions = if cfg!(debug_assertions) { 40 } else { 400 };
    let mut exit = Exit::Budget;
    for _ in 0..millions {
        exit = cpu.run(&mut bus, 1_000_000);
        if exit != Exit::Budget {
            break;
        }
    }
    // The printk ring's text area holds the messages as plain text.
    let off = (log_buf - 0xffff_ffff_8000_0000) as usize;
    let text: String = bus.ram[off..off + (1 << 17)]
        .iter()
        .map(|&b| if b == 0 || b >= 0x80 { '\n' } else { b as char })
        .collect();
    let messages: Vec<&str> = text.lines().filter(|l| l.len() > 3).collect();
    let tail = messages[messages.len().saturating_sub(15)..].join("\n");
    eprintln!(
        "exit {exit:?} after {} instructions at {} (last exception {:x?})\n--- last kernel messages ---\n{tail}",
        cpu.icount,
        symbolize(&syms, cpu.rip),
        cpu.last_exception
    );
    assert!(
        text.contains("Linux version"),
        "the kernel never logged its banner"
    );
    assert!(
        text.contains("Command line: console=ttyS0"),
        "setup_arch did not run"
    );
    for bad in [
        "invalid opcode",
        "Oops",
        "BUG:",
        "Kernel panic",
        "general protection fault",
        "double fault",
    ] {
        assert!(!text.contains(bad), "kernel reported `{bad}`:\n{tail}");
    }
    assert_ne!(exit, Exit::Shutdown, "triple fault");
}
