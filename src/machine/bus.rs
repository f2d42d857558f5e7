//! The machine's side of the CPU's [`Bus`]: guest RAM at 0, MMIO windows
//! (virtio-mmio devices, the GED's sleep registers, the I/O APIC and the
//! local APIC) and I/O ports (COM1, the CMOS RTC, PCI configuration ports
//! that find no device, the legacy reset ports).
//!
//! Register accesses never do device work that writes RAM: virtio queue
//! processing runs between time slices (see `Machine::step`), where the
//! machine can tell the CPU which pages DMA wrote.

use std::collections::HashSet;

use crate::cpu::Bus;
use crate::devices::apic::{
    ioapic::IoApic,
    lapic::{LocalApic, MSR_TSC_DEADLINE},
};
use crate::devices::rtc::{CmosRtc, RTC_DATA_PORT, RTC_INDEX_PORT};
use crate::devices::serial::{Serial, PORT_COUNT};
use crate::devices::virtio::mmio::MmioTransport;
use crate::memory::GuestMemory;

use super::acpi;
use super::irq::IrqPins;
use super::layout::*;

/// Size of the local APIC's and I/O APIC's register windows.
const LAPIC_WINDOW: u64 = 0x1000;
const IOAPIC_WINDOW: u64 = 0x100;
/// The GED's sleep control and status registers.
const GED_WINDOW: u64 = 0x10;
/// PCI configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2).
const PCI_CONFIG_ADDRESS: u16 = 0xcf8;
const PCI_CONFIG_DATA: u16 = 0xcfc;
/// The keyboard controller's command port: 0xfe pulses the CPU reset line
/// (Linux's `reboot=k`, its default fallback).
const I8042_COMMAND: u16 = 0x64;
const I8042_RESET: u8 = 0xfe;
/// The PIIX reset control register: bit 2 resets (`reboot=p`).
const RESET_CONTROL: u16 = 0xcf9;
/// CPUID leaf 1 ECX: the local APIC supports TSC-deadline mode.
const CPUID_1_ECX_TSC_DEADLINE: u32 = 1 << 24;
/// POST diagnostic port: Linux writes it as an I/O delay.
const POST_PORT: u16 = 0x80;

/// Why the guest stopped the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestStop {
    /// S5 written to the GED sleep control register (`poweroff`).
    PowerOff,
    /// A reset through a reset port (`reboot`).
    Reset,
}

/// Everything the CPU reaches.
pub struct MachineBus {
    pub mem: GuestMemory,
    /// virtio-mmio devices, window `i` at `VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE`.
    pub virtio: Vec<MmioTransport>,
    pub uart: Serial,
    pub rtc: CmosRtc,
    pub lapic: LocalApic,
    pub ioapic: IoApic,
    pub pins: IrqPins,
    /// The TSC at the start of the current slice: the local APIC's "now"
    /// for register accesses (the CPU does not expose its count mid-slice).
    pub now: u64,
    /// The same instant in nanoseconds since power-on (the RTC's time).
    pub now_ns: u64,
    /// Set when the guest powers off or resets.
    pub stop: Option<GuestStop>,
    pci_address: u32,
    unknown_ports: HashSet<u16>,
    unknown_mmio: HashSet<u64>,
}

fn ones(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size as u32 * 8)) - 1
    }
}

impl MachineBus {
    pub fn new(mem: GuestMemory, virtio: Vec<MmioTransport>, uart: Serial, rtc: CmosRtc, pins: IrqPins) -> MachineBus {
        MachineBus {
            mem,
            virtio,
            uart,
            rtc,
            lapic: LocalApic::new(0),
            ioapic: IoApic::new(),
            pins,
            now: 0,
            now_ns: 0,
            stop: None,
            pci_address: 0,
            unknown_ports: HashSet::new(),
            unknown_mmio: HashSet::new(),
        }
    }

    /// Moves device line events through the I/O APIC into the local APIC.
    pub fn route_interrupts(&mut self) {
        self.pins.take(&mut self.ioapic);
        if self.ioapic.has_deliveries() {
            let MachineBus { ioapic, lapic, .. } = self;
            for d in ioapic.take_deliveries() {
                lapic.accept(d.vector, d.level);
            }
        }
    }

    fn virtio_window(&self, addr: u64) -> Option<(usize, u64)> {
        let off = addr.checked_sub(VIRTIO_MMIO_BASE)?;
        let i = (off / VIRTIO_MMIO_SIZE) as usize;
        (i < self.virtio.len()).then_some((i, off % VIRTIO_MMIO_SIZE))
    }

    fn log_unknown_mmio(&mut self, addr: u64, what: &str) {
        if self.unknown_mmio.len() < 256 && self.unknown_mmio.insert(addr & !0xfff) {
            log::debug!("{what} of unmapped guest-physical {addr:#x}");
        }
    }

    fn log_unknown_port(&mut self, port: u16, what: &str) {
        if self.unknown_ports.insert(port) {
            log::debug!("{what} port {port:#x}: no device (further accesses not logged)");
        }
    }

    /// An APIC register is 32 bits at a 16-byte boundary; narrower or
    /// unaligned accesses see the bytes of that register.
    fn lapic_read(&self, off: u64, size: u8) -> u64 {
        let v = self.lapic.read(off & !0xf, self.now) as u64;
        (v >> ((off & 3) * 8)) & ones(size)
    }
}

impl Bus for MachineBus {
    #[inline(always)]
    fn ram(&mut self) -> &mut [u8] {
        self.mem.as_mut_slice()
    }

    fn mmio_read(&mut self, addr: u64, size: u8) -> u64 {
        if let Some((i, off)) = self.virtio_window(addr) {
            let mut data = [0u8; 8];
            let n = (size as usize).min(8);
            self.virtio[i].read(off, &mut data[..n]);
            return u64::from_le_bytes(data);
        }
        if (LAPIC_ADDR..LAPIC_ADDR + LAPIC_WINDOW).contains(&addr) {
            return self.lapic_read(addr - LAPIC_ADDR, size);
        }
        if (IOAPIC_ADDR..IOAPIC_ADDR + IOAPIC_WINDOW).contains(&addr) {
            return self.ioapic.read(addr - IOAPIC_ADDR) as u64 & ones(size);
        }
        if (GED_MMIO_BASE..GED_MMIO_BASE + GED_WINDOW).contains(&addr) {
            // Sleep status: never "woken" (we do not sleep, only power off).
            return 0;
        }
        self.log_unknown_mmio(addr, "read");
        ones(size)
    }

    fn mmio_write(&mut self, addr: u64, size: u8, value: u64) {
        if let Some((i, off)) = self.virtio_window(addr) {
            let n = (size as usize).min(8);
            self.virtio[i].write(off, &value.to_le_bytes()[..n]);
            // Interrupt acknowledges lower lines right away.
            self.route_interrupts();
            return;
        }
        if (LAPIC_ADDR..LAPIC_ADDR + LAPIC_WINDOW).contains(&addr) {
            let off = addr - LAPIC_ADDR;
            if off & 0xf != 0 {
                log::debug!("lapic: unaligned write at {off:#x} ignored");
                return;
            }
            if let Some(vector) = self.lapic.write(off, value as u32, self.now) {
                self.ioapic.end_of_interrupt(vector);
                self.route_interrupts();
            }
            return;
        }
        if (IOAPIC_ADDR..IOAPIC_ADDR + IOAPIC_WINDOW).contains(&addr) {
            self.ioapic.write(addr - IOAPIC_ADDR, value as u32);
            self.route_interrupts();
            return;
        }
        if (GED_MMIO_BASE..GED_MMIO_BASE + GED_WINDOW).contains(&addr) {
            if addr - GED_MMIO_BASE == acpi::GED_SLEEP_CONTROL_OFFSET {
                match acpi::sleep_request(value as u8) {
                    Some(acpi::S5_SLEEP_TYPE) => self.stop = Some(GuestStop::PowerOff),
                    Some(t) => log::warn!("guest asked for sleep type {t}; only S5 (power off) exists"),
                    None => {}
                }
            }
            return;
        }
        self.log_unknown_mmio(addr, "write");
    }

    fn io_in(&mut self, port: u16, size: u8) -> u32 {
        if (COM1_PORT..COM1_PORT + PORT_COUNT).contains(&port) {
            let v = self.uart.read(port - COM1_PORT) as u32;
            self.route_interrupts();
            return v;
        }
        match port {
            RTC_INDEX_PORT | RTC_DATA_PORT => self.rtc.read(port - RTC_INDEX_PORT, self.now_ns) as u32,
            PCI_CONFIG_ADDRESS if size == 4 => self.pci_address,
            // No device on any bus: configuration reads return all ones
            // (PCI Local Bus 3.0 §6.1, "master abort").
            PCI_CONFIG_DATA..=0xcff => ones(size) as u32,
            _ => {
                if port != POST_PORT {
                    self.log_unknown_port(port, "in from");
                }
                ones(size) as u32
            }
        }
    }

    fn io_out(&mut self, port: u16, size: u8, value: u32) {
        if (COM1_PORT..COM1_PORT + PORT_COUNT).contains(&port) {
            self.uart.write(port - COM1_PORT, value as u8);
            self.route_interrupts();
            return;
        }
        match port {
            RTC_INDEX_PORT | RTC_DATA_PORT => self.rtc.write(port - RTC_INDEX_PORT, value as u8, self.now_ns),
            PCI_CONFIG_ADDRESS if size == 4 => self.pci_address = value,
            PCI_CONFIG_DATA..=0xcff => {}
            I8042_COMMAND if value as u8 == I8042_RESET => self.stop = Some(GuestStop::Reset),
            RESET_CONTROL if size == 1 && value & 4 != 0 => self.stop = Some(GuestStop::Reset),
            POST_PORT => {}
            _ => self.log_unknown_port(port, "out to"),
        }
    }

    fn read_msr(&mut self, msr: u32) -> Option<u64> {
        (msr == MSR_TSC_DEADLINE).then(|| self.lapic.tsc_deadline())
    }

    fn write_msr(&mut self, msr: u32, value: u64) -> Option<()> {
        (msr == MSR_TSC_DEADLINE).then(|| self.lapic.write_tsc_deadline(value))
    }

    /// The core's CPUID plus the machine's local APIC timer: TSC-deadline
    /// mode lets Linux skip its 100 ms calibration of the APIC timer.
    fn cpuid(&mut self, leaf: u32, _subleaf: u32, mut regs: [u32; 4]) -> [u32; 4] {
        if leaf == 1 {
            regs[2] |= CPUID_1_ECX_TSC_DEADLINE;
        }
        regs
    }

    #[inline]
    fn interrupt_pending(&mut self) -> bool {
        self.lapic.pending().is_some()
    }

    fn acknowledge_interrupt(&mut self) -> Option<u8> {
        self.lapic.acknowledge()
    }
}
