//! The 8250/16550A UART on COM1, the guest's console.
//!
//! The register model (FIFO, IER/IIR, LCR/DLAB divisor latch, MCR loopback,
//! LSR/MSR, scratch) is rust-vmm's `vm-superio` serial, which Firecracker
//! boots Linux with; this file connects it to our [`Interrupt`] line and a
//! [`Terminal`] backend and gives it the port I/O interface the machine maps.

use std::io;

use vm_superio::serial::Serial as SuperioSerial;
use vm_superio::Trigger;

use crate::backends::terminal::Terminal;
use crate::devices::Interrupt;

/// COM1's I/O port base and legacy IRQ (PC/AT convention, Linux
/// arch/x86/include/asm/serial.h).
pub const COM1_PORT: u16 = 0x3f8;
pub const COM1_IRQ: u32 = 4;
/// Number of consecutive ports the UART decodes.
pub const PORT_COUNT: u16 = 8;

/// Adapts our interrupt line to vm-superio's trigger. The 8250 IRQ is an
/// edge-triggered ISA line: each event is a pulse.
struct IrqTrigger(Box<dyn Interrupt>);

impl Trigger for IrqTrigger {
    type E = io::Error;
    fn trigger(&self) -> io::Result<()> {
        self.0.raise();
        self.0.lower();
        Ok(())
    }
}

/// Adapts a terminal to `io::Write`, which vm-superio writes output to.
struct TerminalOut(Box<dyn Terminal>);

impl io::Write for TerminalOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_output(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The UART.
pub struct Serial {
    uart: SuperioSerial<IrqTrigger, vm_superio::serial::NoEvents, TerminalOut>,
}

impl Serial {
    pub fn new(irq: Box<dyn Interrupt>, terminal: Box<dyn Terminal>) -> Serial {
        Serial { uart: SuperioSerial::new(IrqTrigger(irq), TerminalOut(terminal)) }
    }

    /// Guest `in` from port `base + offset` (offset 0..8).
    pub fn read(&mut self, offset: u16) -> u8 {
        if offset >= PORT_COUNT {
            return 0xff;
        }
        self.uart.read(offset as u8)
    }

    /// Guest `out` to port `base + offset`.
    pub fn write(&mut self, offset: u16, value: u8) {
        if offset >= PORT_COUNT {
            return;
        }
        if let Err(e) = self.uart.write(offset as u8, value) {
            log::warn!("serial: {e:?}");
        }
    }

    /// Moves typed input from the terminal into the receive FIFO as far as
    /// it has room; call periodically. Returns the number of bytes moved.
    pub fn poll_input(&mut self) -> usize {
        let room = self.uart.fifo_capacity();
        if room == 0 {
            return 0;
        }
        // The FIFO holds 64 bytes; a stack buffer avoids an allocation per
        // time slice.
        let mut buf = [0u8; 64];
        let room = room.min(buf.len());
        let n = self.uart.writer_mut().0.read_input(&mut buf[..room]);
        if n == 0 {
            return 0;
        }
        self.enqueue(&buf[..n])
    }

    /// Feeds bytes into the receive FIFO (as if typed); returns how many fit.
    pub fn enqueue(&mut self, input: &[u8]) -> usize {
        match self.uart.enqueue_raw_bytes(input) {
            Ok(n) => n,
            Err(e) => {
                log::debug!("serial: input dropped: {e:?}");
                0
            }
        }
    }

    /// Room in the receive FIFO.
    pub fn input_room(&self) -> usize {
        self.uart.fifo_capacity()
    }
}

#[cfg(test)]
#[path = "serial_tests.rs"]
mod tests;
