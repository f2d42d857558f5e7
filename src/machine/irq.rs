//! Device interrupt lines into the I/O APIC.
//!
//! Devices get a `Box<dyn Interrupt>` per pin and may raise it from inside
//! any register access or queue processing, where the machine's interrupt
//! controllers are not at hand. So a line only records what happened, in
//! cells shared with [`IrqPins`]; the machine moves the events into the I/O
//! APIC between accesses ([`IrqPins::take`]).

use std::cell::Cell;
use std::rc::Rc;

use crate::devices::apic::ioapic::{IoApic, PINS};
use crate::devices::Interrupt;

#[derive(Debug, Default)]
struct PinState {
    /// Pins raised since the last `take` (each raise is an edge).
    raised: Cell<u32>,
    /// Current line levels.
    level: Cell<u32>,
    /// Something changed since the last `take`.
    dirty: Cell<bool>,
}

/// The set of device lines (GSIs) of a machine. Clones share the state.
#[derive(Debug, Clone, Default)]
pub struct IrqPins(Rc<PinState>);

impl IrqPins {
    pub fn new() -> IrqPins {
        IrqPins::default()
    }

    /// The line for GSI `pin` (< 24).
    pub fn line(&self, pin: u32) -> Box<dyn Interrupt> {
        assert!((pin as usize) < PINS, "GSI {pin} is beyond the I/O APIC's {PINS} pins");
        Box::new(IrqLine { pins: self.clone(), bit: 1 << pin })
    }

    /// Whether a line changed since the last [`IrqPins::take`].
    pub fn is_dirty(&self) -> bool {
        self.0.dirty.get()
    }

    /// Applies the recorded events to the I/O APIC: every raise is an
    /// event, and lines that are down now are lowered.
    pub fn take(&self, ioapic: &mut IoApic) {
        if !self.0.dirty.replace(false) {
            return;
        }
        let raised = self.0.raised.replace(0);
        let level = self.0.level.get();
        for pin in 0..PINS {
            if raised & (1 << pin) != 0 {
                ioapic.raise(pin);
            }
            if level & (1 << pin) == 0 {
                ioapic.lower(pin);
            }
        }
    }
}

struct IrqLine {
    pins: IrqPins,
    bit: u32,
}

impl Interrupt for IrqLine {
    fn raise(&self) {
        let s = &self.pins.0;
        s.raised.set(s.raised.get() | self.bit);
        s.level.set(s.level.get() | self.bit);
        s.dirty.set(true);
    }
    fn lower(&self) {
        let s = &self.pins.0;
        s.level.set(s.level.get() & !self.bit);
        s.dirty.set(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::apic::ioapic::{Delivery, IOREGSEL, IOWIN};

    #[test]
    fn a_pulse_is_one_edge_and_the_line_ends_low() {
        let pins = IrqPins::new();
        let line = pins.line(4);
        let mut io = IoApic::new();
        io.write(IOREGSEL, 0x10 + 8);
        io.write(IOWIN, 0x24);
        assert!(!pins.is_dirty());
        line.raise();
        line.lower();
        pins.take(&mut io);
        assert_eq!(io.take_deliveries().collect::<Vec<_>>(), vec![Delivery { vector: 0x24, level: false }]);
        pins.take(&mut io);
        assert!(!io.has_deliveries(), "events are taken once");
    }
}
