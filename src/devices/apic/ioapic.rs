//! The I/O APIC (Intel 82093AA datasheet): 24 input pins, each routed by a
//! 64-bit redirection entry reached through IOREGSEL/IOWIN.
//!
//! Pins are driven by device interrupt lines: [`IoApic::raise`] for an
//! event (an edge, or the line going up) and [`IoApic::lower`] for the line
//! going down. Edge-triggered entries deliver once per event; level-
//! triggered ones deliver while the line is up and the entry's remote IRR
//! is clear, which the local APIC's EOI clears ([`IoApic::end_of_interrupt`]),
//! redelivering if the line is still up (82093AA §3.2.4). Deliveries queue
//! up for the machine, which hands them to the local APIC: one CPU, so the
//! destination fields are stored but every interrupt goes to it.

/// Offsets in the MMIO window.
pub const IOREGSEL: u64 = 0x00;
pub const IOWIN: u64 = 0x10;
/// Number of input pins (GSIs 0-23).
pub const PINS: usize = 24;

const REG_ID: u32 = 0x00;
const REG_VERSION: u32 = 0x01;
const REG_ARBITRATION: u32 = 0x02;
const REG_REDIRECTION: u32 = 0x10;
/// Version 0x11 (82093AA) with the maximum redirection entry in bits 16-23.
const VERSION: u32 = 0x11 | ((PINS as u32 - 1) << 16);

const RTE_MASKED: u64 = 1 << 16;
const RTE_LEVEL: u64 = 1 << 15;
const RTE_REMOTE_IRR: u64 = 1 << 14;
const RTE_DELIVERY_STATUS: u64 = 1 << 12;
/// Read-only bits of an entry: delivery status and remote IRR.
const RTE_READ_ONLY: u64 = RTE_REMOTE_IRR | RTE_DELIVERY_STATUS;

/// An interrupt on its way to the local APIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub vector: u8,
    /// Level-triggered: the local APIC sets TMR and reports the EOI.
    pub level: bool,
}

/// The I/O APIC.
#[derive(Debug, Clone)]
pub struct IoApic {
    id: u32,
    select: u32,
    entries: [u64; PINS],
    /// Current state of each input line.
    lines: u32,
    outbox: Vec<Delivery>,
}

impl Default for IoApic {
    fn default() -> Self {
        IoApic::new()
    }
}

impl IoApic {
    /// After reset every entry is masked (82093AA §3.2.4).
    pub fn new() -> IoApic {
        IoApic { id: 0, select: 0, entries: [RTE_MASKED; PINS], lines: 0, outbox: Vec::new() }
    }

    /// Guest read of the 32-bit register at `offset`.
    pub fn read(&self, offset: u64) -> u32 {
        match offset {
            IOREGSEL => self.select,
            IOWIN => self.read_register(self.select),
            _ => 0,
        }
    }

    /// Guest write of the 32-bit register at `offset`.
    pub fn write(&mut self, offset: u64, value: u32) {
        match offset {
            IOREGSEL => self.select = value & 0xff,
            IOWIN => self.write_register(self.select, value),
            _ => log::debug!("ioapic: write to unknown offset {offset:#x}"),
        }
    }

    fn read_register(&self, index: u32) -> u32 {
        match index {
            REG_ID => self.id,
            REG_VERSION => VERSION,
            REG_ARBITRATION => self.id,
            i if (REG_REDIRECTION..REG_REDIRECTION + 2 * PINS as u32).contains(&i) => {
                let e = self.entries[((i - REG_REDIRECTION) / 2) as usize];
                if i % 2 == 0 {
                    e as u32
                } else {
                    (e >> 32) as u32
                }
            }
            _ => u32::MAX,
        }
    }

    fn write_register(&mut self, index: u32, value: u32) {
        match index {
            REG_ID => self.id = value & 0x0f00_0000,
            i if (REG_REDIRECTION..REG_REDIRECTION + 2 * PINS as u32).contains(&i) => {
                let pin = ((i - REG_REDIRECTION) / 2) as usize;
                let old = self.entries[pin];
                let mut new = if i % 2 == 0 {
                    (old & !0xffff_ffff) | (value as u64 & !RTE_READ_ONLY) | (old & RTE_READ_ONLY)
                } else {
                    (old & 0xffff_ffff) | ((value as u64) << 32)
                };
                if new & RTE_LEVEL == 0 {
                    new &= !RTE_REMOTE_IRR; // only level entries keep a remote IRR
                }
                self.entries[pin] = new;
                // Unmasking a level entry whose line is up delivers now.
                self.service(pin);
            }
            _ => log::debug!("ioapic: write to read-only or unknown register {index:#x}"),
        }
    }

    /// A device signals an interrupt on `pin`: an edge for edge-triggered
    /// entries, the line going (or staying) up for level-triggered ones.
    pub fn raise(&mut self, pin: usize) {
        if pin >= PINS {
            return;
        }
        self.lines |= 1 << pin;
        let e = self.entries[pin];
        if e & RTE_LEVEL == 0 {
            if e & RTE_MASKED == 0 {
                self.deliver(pin);
            }
        } else {
            self.service(pin);
        }
    }

    /// The line on `pin` goes down.
    pub fn lower(&mut self, pin: usize) {
        if pin < PINS {
            self.lines &= !(1 << pin);
        }
    }

    /// The local APIC finished a level-triggered `vector`: clear the remote
    /// IRR of the entries using it and redeliver those whose line is up.
    pub fn end_of_interrupt(&mut self, vector: u8) {
        for pin in 0..PINS {
            let e = self.entries[pin];
            if e & RTE_REMOTE_IRR != 0 && e as u8 == vector {
                self.entries[pin] &= !RTE_REMOTE_IRR;
                self.service(pin);
            }
        }
    }

    /// Delivers a level-triggered pin if its line is up, it is unmasked and
    /// no earlier delivery awaits its EOI.
    fn service(&mut self, pin: usize) {
        let e = self.entries[pin];
        if e & RTE_LEVEL != 0 && self.lines & (1 << pin) != 0 && e & (RTE_MASKED | RTE_REMOTE_IRR) == 0 {
            self.entries[pin] |= RTE_REMOTE_IRR;
            self.deliver(pin);
        }
    }

    fn deliver(&mut self, pin: usize) {
        let e = self.entries[pin];
        let mode = (e >> 8) & 7;
        // Fixed (0) and lowest priority (1) carry a vector; with one CPU
        // both go to it. NMI/SMI/INIT/ExtINT have nothing to drive here.
        if mode > 1 {
            log::debug!("ioapic: pin {pin} uses delivery mode {mode}, not delivered");
            return;
        }
        self.outbox.push(Delivery { vector: e as u8, level: e & RTE_LEVEL != 0 });
    }

    /// Deliveries for the local APIC since the last call.
    pub fn take_deliveries(&mut self) -> impl Iterator<Item = Delivery> + '_ {
        self.outbox.drain(..)
    }

    /// Whether deliveries wait for [`IoApic::take_deliveries`].
    pub fn has_deliveries(&self) -> bool {
        !self.outbox.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(io: &mut IoApic, pin: u32, low: u32) {
        io.write(IOREGSEL, REG_REDIRECTION + 2 * pin);
        io.write(IOWIN, low);
        io.write(IOREGSEL, REG_REDIRECTION + 2 * pin + 1);
        io.write(IOWIN, 0);
    }

    fn out(io: &mut IoApic) -> Vec<Delivery> {
        io.take_deliveries().collect()
    }

    #[test]
    fn version_and_reset_state() {
        let mut io = IoApic::new();
        io.write(IOREGSEL, REG_VERSION);
        assert_eq!(io.read(IOWIN), 0x0017_0011);
        io.write(IOREGSEL, REG_REDIRECTION + 2 * 23);
        assert_eq!(io.read(IOWIN), RTE_MASKED as u32);
        io.raise(23);
        assert!(out(&mut io).is_empty(), "masked at reset");
    }

    #[test]
    fn edge_pins_deliver_each_event() {
        let mut io = IoApic::new();
        program(&mut io, 4, 0x24);
        io.raise(4);
        io.lower(4);
        io.raise(4);
        assert_eq!(out(&mut io), vec![Delivery { vector: 0x24, level: false }; 2]);
        io.raise(99); // out of range: ignored
        assert!(out(&mut io).is_empty());
    }

    #[test]
    fn level_pins_hold_remote_irr_until_eoi() {
        let mut io = IoApic::new();
        program(&mut io, 5, 0x30 | RTE_LEVEL as u32);
        io.raise(5);
        io.raise(5);
        assert_eq!(out(&mut io), vec![Delivery { vector: 0x30, level: true }]);
        io.write(IOREGSEL, REG_REDIRECTION + 10);
        assert_ne!(io.read(IOWIN) & RTE_REMOTE_IRR as u32, 0);
        // The guest cannot clear remote IRR by writing the entry.
        io.write(IOWIN, 0x30 | RTE_LEVEL as u32);
        assert_ne!(io.read(IOWIN) & RTE_REMOTE_IRR as u32, 0);
        // EOI with the line still up: delivered again.
        io.end_of_interrupt(0x30);
        assert_eq!(out(&mut io).len(), 1);
        io.lower(5);
        io.end_of_interrupt(0x30);
        assert!(out(&mut io).is_empty());
        assert_eq!(io.read(IOWIN) & RTE_REMOTE_IRR as u32, 0);
    }

    #[test]
    fn unmasking_a_raised_level_line_delivers() {
        let mut io = IoApic::new();
        program(&mut io, 7, 0x41 | (RTE_LEVEL | RTE_MASKED) as u32);
        io.raise(7);
        assert!(out(&mut io).is_empty());
        program(&mut io, 7, 0x41 | RTE_LEVEL as u32);
        assert_eq!(out(&mut io), vec![Delivery { vector: 0x41, level: true }]);
    }

    #[test]
    fn high_half_holds_the_destination() {
        let mut io = IoApic::new();
        io.write(IOREGSEL, REG_REDIRECTION + 1);
        io.write(IOWIN, 0xff00_0000);
        assert_eq!(io.read(IOWIN), 0xff00_0000);
        io.write(IOREGSEL, REG_REDIRECTION);
        assert_eq!(io.read(IOWIN), RTE_MASKED as u32);
    }
}
