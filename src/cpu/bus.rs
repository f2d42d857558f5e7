//! The two seams through which the CPU reaches the rest of the machine.
//!
//! The CPU knows nothing about devices. Guest-physical memory is split in two:
//! RAM, which the machine exposes as one contiguous host slice mapped at
//! guest-physical address 0 (the fast path: the software TLB maps guest
//! virtual pages straight to offsets in that slice, so a TLB hit touches the
//! slice with no further call), and everything at or above `ram().len()`,
//! which is MMIO reached through `mmio_read`/`mmio_write`.
//!
//! Both traits are used as generic parameters (`Cpu::run<B: Bus>`), so the
//! calls are monomorphised and `ram()` inlines to a field access.

/// Guest-physical memory as seen by the CPU.
pub trait Bus {
    /// Guest RAM: guest-physical `[0, len)` is backed by this slice.
    /// Accesses at `len` and above go to `mmio_read`/`mmio_write`.
    ///
    /// Anything else that writes this slice behind the CPU's back (device
    /// DMA, a loader) must call [`crate::cpu::Cpu::notify_ram_write`] so that
    /// cached decoded code of those pages is dropped.
    fn ram(&mut self) -> &mut [u8];

    /// Read `size` (1, 2, 4 or 8) bytes at a non-RAM guest-physical address.
    /// Little-endian value in the low bits. Unmapped addresses should read
    /// as all ones, like an open PC bus.
    fn mmio_read(&mut self, addr: u64, size: u8) -> u64;

    /// Write `size` (1, 2, 4 or 8) bytes at a non-RAM guest-physical address.
    fn mmio_write(&mut self, addr: u64, size: u8, value: u64);

    /// I/O port input (IN, INS) of `size` 1, 2 or 4 bytes.
    fn io_in(&mut self, port: u16, size: u8) -> u32;

    /// I/O port output (OUT, OUTS) of `size` 1, 2 or 4 bytes.
    fn io_out(&mut self, port: u16, size: u8, value: u32);

    /// Is a maskable external interrupt waiting (the INTR line)? Polled by
    /// the run loop at block boundaries while RFLAGS.IF is set, and while
    /// halted; keep it cheap (a flag read).
    fn interrupt_pending(&mut self) -> bool {
        false
    }

    /// The CPU takes the pending interrupt now (the INTA cycle): return its
    /// vector, or `None` if it went away. Called only after
    /// `interrupt_pending` returned true and the CPU can accept it.
    fn acknowledge_interrupt(&mut self) -> Option<u8> {
        None
    }

    /// RDMSR of an MSR that belongs to the machine rather than the core
    /// (e.g. the local APIC's IA32_TSC_DEADLINE). `None`: not the
    /// machine's; the CPU then handles it (or raises #GP).
    fn read_msr(&mut self, _msr: u32) -> Option<u64> {
        None
    }

    /// WRMSR of an MSR that belongs to the machine; `None`: not the
    /// machine's. A machine MSR write ends the CPU's time slice after the
    /// instruction ([`Exit::Budget`](super::Exit::Budget)), so the machine
    /// sees a reprogrammed timer at once.
    fn write_msr(&mut self, _msr: u32, _value: u64) -> Option<()> {
        None
    }

    /// CPUID as the machine presents it: `regs` (EAX, EBX, ECX, EDX) is
    /// what the core implements for `leaf`/`subleaf`; the machine adds
    /// what its devices provide (e.g. the TSC-deadline timer bit).
    fn cpuid(&mut self, _leaf: u32, _subleaf: u32, regs: [u32; 4]) -> [u32; 4] {
        regs
    }
}

/// A bus made of RAM only: MMIO reads as all ones, writes and port I/O are
/// dropped. Used by the user-mode runner and by tests that need no devices.
pub struct RamBus {
    pub mem: Vec<u8>,
}

impl RamBus {
    pub fn new(size: usize) -> Self {
        RamBus { mem: vec![0; size] }
    }
}

impl Bus for RamBus {
    #[inline(always)]
    fn ram(&mut self) -> &mut [u8] {
        &mut self.mem
    }
    fn mmio_read(&mut self, _addr: u64, size: u8) -> u64 {
        if size >= 8 {
            u64::MAX
        } else {
            (1u64 << (size as u32 * 8)) - 1
        }
    }
    fn mmio_write(&mut self, _addr: u64, _size: u8, _value: u64) {}
    fn io_in(&mut self, _port: u16, size: u8) -> u32 {
        if size >= 4 {
            u32::MAX
        } else {
            (1u32 << (size as u32 * 8)) - 1
        }
    }
    fn io_out(&mut self, _port: u16, _size: u8, _value: u32) {}
}
