//! Device models. A device is register reads and writes at offsets (MMIO or
//! port I/O) plus an interrupt line it drives through [`Interrupt`]; it
//! reaches the host only through a backend trait from [`crate::backends`],
//! so it runs the same natively and in the browser.

pub mod apic;
pub mod block;
pub mod net;
pub mod p9;
pub mod rng;
pub mod rtc;
pub mod serial;
pub mod virtio;

use std::cell::Cell;
use std::rc::Rc;

/// Limits warnings a guest can trigger: the first [`WarnBudget::LIMIT`] go
/// out at `warn`, later ones at `debug`, so a hostile guest cannot flood the
/// host's log.
#[derive(Debug, Default)]
pub struct WarnBudget {
    spent: u32,
}

impl WarnBudget {
    pub const LIMIT: u32 = 10;

    /// The level for the next guest-triggered warning.
    pub fn level(&mut self) -> log::Level {
        if self.spent < Self::LIMIT {
            self.spent += 1;
            log::Level::Warn
        } else {
            log::Level::Debug
        }
    }
}

/// A device's interrupt line, injected by the machine (vm-superio's
/// `Trigger`, with level information added for virtio).
pub trait Interrupt {
    /// A new interrupt event. Called for every event, even if the line is
    /// already asserted, so edge-triggered controllers see each one.
    fn raise(&self);
    /// The guest acknowledged every cause: the line is deasserted.
    fn lower(&self);
}

/// An interrupt line whose state and event count can be read back: what
/// tests wire devices to, and a simple base for a machine that polls its
/// lines. Clones share the same line.
#[derive(Debug, Clone, Default)]
pub struct SharedIrq {
    asserted: Rc<Cell<bool>>,
    events: Rc<Cell<u64>>,
}

impl SharedIrq {
    pub fn new() -> SharedIrq {
        SharedIrq::default()
    }
    /// Whether the line is asserted.
    pub fn is_asserted(&self) -> bool {
        self.asserted.get()
    }
    /// Number of `raise` calls so far.
    pub fn events(&self) -> u64 {
        self.events.get()
    }
}

impl Interrupt for SharedIrq {
    fn raise(&self) {
        self.asserted.set(true);
        self.events.set(self.events.get() + 1);
    }
    fn lower(&self) {
        self.asserted.set(false);
    }
}
