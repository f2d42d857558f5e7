use super::*;
use crate::devices::SharedIrq;
use std::cell::RefCell;
use std::rc::Rc;

/// A terminal whose screen and keyboard are shared buffers.
#[derive(Clone, Default)]
struct BufferTerminal {
    screen: Rc<RefCell<Vec<u8>>>,
    keyboard: Rc<RefCell<Vec<u8>>>,
}

impl Terminal for BufferTerminal {
    fn read_input(&mut self, buf: &mut [u8]) -> usize {
        let mut k = self.keyboard.borrow_mut();
        let n = k.len().min(buf.len());
        buf[..n].copy_from_slice(&k[..n]);
        k.drain(..n);
        n
    }
    fn write_output(&mut self, data: &[u8]) -> io::Result<()> {
        self.screen.borrow_mut().extend_from_slice(data);
        Ok(())
    }
}

const THR: u16 = 0;
const IER: u16 = 1;
const IIR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const SCR: u16 = 7;

#[test]
fn output_input_and_interrupts_as_linux_8250_uses_them() {
    let term = BufferTerminal::default();
    let irq = SharedIrq::new();
    let mut uart = Serial::new(Box::new(irq.clone()), Box::new(term.clone()));
    // Divisor latch (DLAB) for 115200 baud, then 8N1.
    uart.write(LCR, 0x80);
    uart.write(0, 1);
    uart.write(1, 0);
    assert_eq!(uart.read(0), 1, "divisor latch low byte reads back");
    uart.write(LCR, 0x03);
    uart.write(SCR, 0x5a);
    assert_eq!(uart.read(SCR), 0x5a);
    for b in b"hi\n" {
        uart.write(THR, *b);
    }
    assert_eq!(&*term.screen.borrow(), b"hi\n");
    assert_ne!(uart.read(LSR) & 0x60, 0, "transmitter empty");
    // Receive interrupt enabled: typed bytes raise IRQ 4 and show in IIR/LSR.
    uart.write(IER, 0x01);
    let before = irq.events();
    term.keyboard.borrow_mut().extend_from_slice(b"ls");
    assert_eq!(uart.poll_input(), 2);
    assert!(irq.events() > before);
    assert_eq!(uart.read(IIR) & 0x0f, 0x04, "received data available");
    assert_eq!(uart.read(LSR) & 1, 1);
    assert_eq!(uart.read(0), b'l');
    assert_eq!(uart.read(0), b's');
    assert_eq!(uart.read(LSR) & 1, 0);
    // Transmit-holding-empty interrupt fires when enabled.
    let before = irq.events();
    uart.write(IER, 0x02);
    assert!(irq.events() > before);
    assert_eq!(uart.read(IIR) & 0x0f, 0x02);
    // Loopback mode (MCR bit 4), used by Linux to probe the port.
    uart.write(MCR, 0x10);
    uart.write(THR, b'Z');
    assert_eq!(uart.read(0), b'Z');
    assert_eq!(&*term.screen.borrow(), b"hi\n", "loopback output stays inside the UART");
    // Out-of-range offsets are harmless.
    uart.write(9, 1);
    assert_eq!(uart.read(9), 0xff);
}

#[test]
fn input_beyond_fifo_waits_in_the_terminal() {
    let term = BufferTerminal::default();
    let mut uart = Serial::new(Box::new(SharedIrq::new()), Box::new(term.clone()));
    term.keyboard.borrow_mut().extend_from_slice(&[b'a'; 100]);
    let first = uart.poll_input();
    assert_eq!(first, 64, "16550 FIFO as vm-superio sizes it");
    assert_eq!(term.keyboard.borrow().len(), 36, "the rest stays queued");
    assert_eq!(uart.poll_input(), 0, "FIFO full");
    for _ in 0..64 {
        uart.read(0);
    }
    assert_eq!(uart.poll_input(), 36);
}
