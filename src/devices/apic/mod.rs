//! The interrupt controllers of a one-CPU x86 machine: the xAPIC local APIC
//! (with its timer) and one I/O APIC. Both are register files at offsets
//! plus priority logic; time reaches the local APIC as a tick count passed
//! in by the machine (its injected clock), so they are tested without a VMM.
//!
//! Delivery between them is the machine's job: the I/O APIC queues
//! [`ioapic::Delivery`] values, the machine hands them to
//! [`lapic::LocalApic::accept`], and an EOI of a level-triggered vector goes
//! back to [`ioapic::IoApic::end_of_interrupt`].

pub mod ioapic;
pub mod lapic;
