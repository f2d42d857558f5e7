//! The netvm machine: one x86_64 CPU, RAM at 0, a local APIC and an I/O
//! APIC, COM1, virtio-mmio devices and the ACPI tables that let Linux find
//! the interrupt controllers and power off. It boots a Linux kernel
//! directly (no firmware) and runs it in bounded time slices.
//!
//! The machine assumes nothing about the host: devices come with their
//! backends, time with its [`TimeMode`], and the caller decides what to do
//! when the guest is idle ([`Step::Idle`]): sleep natively, yield to the
//! browser's event loop under emscripten. [`Machine::run`] is the simple
//! native driver.

pub mod acpi;
pub mod aml;
pub mod boot;
mod bus;
pub mod clock;
mod cmdline;
pub mod irq;
pub mod layout;
pub mod progress;

pub use bus::{GuestStop, MachineBus};
pub use clock::TimeMode;

use crate::backends::host::{self, RunEvent};
use crate::backends::terminal::Terminal;
use crate::cpu::state::{RSI, RSP};
use crate::cpu::{Cpu, Exit};
use crate::devices::rtc::CmosRtc;
use crate::devices::serial::Serial;
use crate::devices::virtio::mmio::MmioTransport;
use crate::devices::virtio::VirtioDevice;
use crate::memory::{GuestMemory, Written};

use layout::*;

/// Most instructions run between two device polls. Short enough that
/// virtio completions, console input and the APIC's view of time stay
/// close to the CPU (~0.5 ms of interpretation), long enough that polling
/// costs little.
const SLICE: u64 = 50_000;
/// Longest idle wait before devices are polled again (console input and
/// network frames arrive without an interrupt to the host loop).
const MAX_IDLE_NS: u64 = 1_000_000;
/// The I/O APIC has 24 pins and GSIs 5.. go to virtio devices.
const MAX_VIRTIO: usize = 24 - VIRTIO_MMIO_FIRST_IRQ as usize;

/// Why the machine cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("loading the kernel: {0}")]
    Boot(#[from] boot::BootError),
    #[error("{0} virtio devices requested; at most {MAX_VIRTIO} fit on the I/O APIC")]
    TooManyDevices(usize),
}

/// What a machine is made of.
pub struct MachineConfig<'a> {
    pub ram_size: u64,
    /// bzImage or ELF vmlinux.
    pub kernel: &'a [u8],
    pub initrd: Option<&'a [u8]>,
    /// The user's command line; the machine adds `tsc_early_khz=` (before
    /// init's arguments, see `cmdline`).
    pub cmdline: &'a str,
    pub time: TimeMode,
    /// virtio devices in window order (GSI 5, 6, ...).
    pub virtio: Vec<Box<dyn VirtioDevice>>,
    /// The console behind COM1.
    pub console: Box<dyn Terminal>,
    /// What the CMOS RTC shows at power-on, in nanoseconds since 1970
    /// (UTC); from then on it runs with guest time.
    pub rtc_start_unix_ns: i128,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The guest powered off (ACPI S5).
    PowerOff,
    /// The guest reset the machine (as QEMU `-no-reboot`, the run ends).
    Reset,
    /// A triple fault: the CPU shut down.
    TripleFault { rip: u64, last_exception: Option<(u8, Option<u32>, u64)> },
    /// The host asked to stop (Ctrl-A x).
    Quit,
}

/// What one [`Machine::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The guest ran; call `step` again.
    Running,
    /// The guest waits for an interrupt: wait up to `ns` host nanoseconds
    /// (less if host input may have arrived), report the wait with
    /// [`Machine::idle_elapsed`], then step again.
    Idle {
        ns: u64,
    },
    Stopped(Outcome),
}

/// The machine.
pub struct Machine {
    pub cpu: Cpu,
    pub bus: MachineBus,
    time: TimeMode,
    cmdline: String,
}

impl Machine {
    pub fn new(cfg: MachineConfig) -> Result<Machine, MachineError> {
        if cfg.virtio.len() > MAX_VIRTIO {
            return Err(MachineError::TooManyDevices(cfg.virtio.len()));
        }
        if cfg.ram_size < 2 * HIMEM_START || cfg.ram_size > MMIO_HOLE_START {
            return Err(boot::BootError::BadRamSize(cfg.ram_size).into());
        }
        let mut mem = GuestMemory::new(cfg.ram_size as usize);
        let pins = irq::IrqPins::new();

        // Devices are described in the DSDT (see `aml` for why not with
        // `virtio_mmio.device=` entries).
        let devices_aml = aml::machine_devices(cfg.virtio.len());
        let mut virtio = Vec::with_capacity(cfg.virtio.len());
        for (i, dev) in cfg.virtio.into_iter().enumerate() {
            virtio.push(MmioTransport::new(dev, pins.line(VIRTIO_MMIO_FIRST_IRQ + i as u32)));
        }
        let cmdline = cmdline::with_machine_params(cfg.cmdline, &format!("tsc_early_khz={}", cfg.time.tsc_khz()));

        let tables = acpi::build_with(ACPI_TABLES_ADDR, &devices_aml);
        if ACPI_TABLES_ADDR + tables.bytes.len() as u64 > ACPI_TABLES_END {
            return Err(MachineError::TooManyDevices(virtio.len()));
        }
        mem.as_mut_slice()[ACPI_TABLES_ADDR as usize..][..tables.bytes.len()].copy_from_slice(&tables.bytes);
        let state = boot::load_kernel(
            mem.as_mut_slice(),
            &boot::BootConfig {
                kernel: cfg.kernel,
                cmdline: &cmdline,
                initrd: cfg.initrd,
                acpi_rsdp: Some(tables.rsdp_addr),
            },
        )?;
        // Loading is not DMA: nothing is decoded yet.
        let _ = mem.take_written();

        let mut cpu = Cpu::new();
        cpu.rip = state.rip;
        cpu.gpr[RSI] = state.rsi;
        cpu.gpr[RSP] = state.rsp;
        cpu.set_rflags(state.rflags);
        cpu.cr0 = state.cr0;
        cpu.cr3 = state.cr3;
        cpu.cr4 = state.cr4;
        cpu.efer = state.efer;
        cpu.gdtr = crate::cpu::TableReg { base: state.gdt_base, limit: state.gdt_limit };
        // Cpu::new's flat segments already use __BOOT_CS/__BOOT_DS.
        debug_assert_eq!(cpu.seg[crate::cpu::state::CS].selector, state.code_selector);
        debug_assert_eq!(cpu.seg[crate::cpu::state::DS].selector, state.data_selector);

        let uart = Serial::new(pins.line(COM1_IRQ), cfg.console);
        let rtc = CmosRtc::new(cfg.rtc_start_unix_ns);
        let bus = MachineBus::new(mem, virtio, uart, rtc, pins);
        log::info!("kernel entry {:#x}, command line: {cmdline}", state.rip);
        Ok(Machine { cpu, bus, time: cfg.time, cmdline })
    }

    /// A machine from parts set up by the caller (tests, other loaders):
    /// `cpu` in its entry state, `bus` with RAM and devices in place.
    pub fn from_parts(cpu: Cpu, bus: MachineBus, time: TimeMode) -> Machine {
        Machine { cpu, bus, time, cmdline: String::new() }
    }

    /// The command line the kernel got (the user's plus the machine's).
    pub fn cmdline(&self) -> &str {
        &self.cmdline
    }

    /// The TSC rate the kernel was told.
    pub fn tsc_khz(&self) -> u64 {
        self.time.tsc_khz()
    }

    /// Runs one time slice: the CPU up to the next timer deadline (at most
    /// [`SLICE`] instructions), then device work.
    ///
    /// A function of its own, not inlined into the run loop: in the browser
    /// V8 swaps in optimised code for a function only when it is next
    /// called, so the per-slice work inlined into `main` (entered once)
    /// stayed on baseline code, and compiling `main` itself was wasted
    /// (docs/browser.md).
    #[inline(never)]
    pub fn step(&mut self) -> Step {
        if let Some(stopped) = self.guest_stop() {
            return stopped;
        }
        let now = self.time.sync(&mut self.cpu, self.bus.lapic.next_deadline());
        self.bus.lapic.poll_timer(now);
        self.bus.now = now;
        self.bus.now_ns = self.time.ns_at(now);
        let budget = match self.bus.lapic.next_deadline() {
            Some(d) => d.saturating_sub(now).clamp(1, SLICE),
            None => SLICE,
        };
        let exit = self.cpu.run(&mut self.bus, budget);
        self.service_devices();
        // Power off or reset during the slice: stop before idling further.
        if let Some(stopped) = self.guest_stop() {
            return stopped;
        }
        match exit {
            Exit::Budget => Step::Running,
            Exit::Halted => self.idle(),
            Exit::Shutdown => {
                log::error!("triple fault at rip {:#x}; last exception {:?}", self.cpu.rip, self.cpu.last_exception);
                Step::Stopped(Outcome::TripleFault { rip: self.cpu.rip, last_exception: self.cpu.last_exception })
            }
            Exit::Syscall => {
                // Only with cpu.user_mode_syscalls, which the machine never sets.
                log::error!("unexpected user-mode syscall exit at rip {:#x}", self.cpu.rip);
                Step::Stopped(Outcome::TripleFault { rip: self.cpu.rip, last_exception: self.cpu.last_exception })
            }
        }
    }

    fn guest_stop(&self) -> Option<Step> {
        self.bus.stop.map(|stop| {
            Step::Stopped(match stop {
                GuestStop::PowerOff => Outcome::PowerOff,
                GuestStop::Reset => Outcome::Reset,
            })
        })
    }

    /// HLT with nothing pending: skip to the timer (instruction time
    /// without sleep) or ask the caller to wait.
    fn idle(&mut self) -> Step {
        if self.bus.lapic.pending().is_some() && self.cpu.interrupts_enabled() {
            return Step::Running;
        }
        let now = clock::tsc(&self.cpu);
        let deadline = self.bus.lapic.next_deadline();
        match (&self.time, deadline) {
            (TimeMode::Instructions { sleep: false, .. }, Some(d)) => {
                clock::advance_to(&mut self.cpu, d);
                Step::Running
            }
            (_, Some(d)) => Step::Idle { ns: self.time.ns_until(&self.cpu, d.max(now)).min(MAX_IDLE_NS) },
            (_, None) => Step::Idle { ns: MAX_IDLE_NS },
        }
    }

    /// The caller waited `ns` host nanoseconds after [`Step::Idle`]. On
    /// instruction time with sleep, idle time passes at the TSC rate, as
    /// QEMU's `-icount sleep=on`; host time needs nothing.
    pub fn idle_elapsed(&mut self, ns: u64) {
        if let TimeMode::Instructions { sleep: true, .. } = self.time {
            let ticks = ((ns as u128 * self.time.tsc_khz() as u128) / 1_000_000) as u64;
            let to = clock::tsc(&self.cpu).saturating_add(ticks);
            // Not past the next timer expiry: the guest sees it on time.
            let to = self.bus.lapic.next_deadline().map_or(to, |d| to.min(d.max(clock::tsc(&self.cpu))));
            clock::advance_to(&mut self.cpu, to);
        }
    }

    /// Queue work, console input, DMA bookkeeping, interrupt routing.
    fn service_devices(&mut self) {
        let MachineBus { virtio, mem, uart, .. } = &mut self.bus;
        for t in virtio.iter_mut() {
            t.process(mem);
        }
        uart.poll_input();
        match self.bus.mem.take_written() {
            Written::Ranges(ranges) => {
                for (addr, len) in ranges {
                    self.cpu.notify_ram_write(addr, len);
                }
            }
            Written::All => self.cpu.flush_code_cache(),
        }
        self.bus.route_interrupts();
    }

    /// Steps until the guest stops or `quit` says so, waiting the host's
    /// way ([`host::wait`](crate::backends::host::wait)) when the guest is idle.
    ///
    /// About once a second it reports how many instructions the guest ran
    /// ([`RunEvent::Progress`]), for benchmarks: one host clock read per
    /// time slice.
    pub fn run(&mut self, quit: impl FnMut() -> bool) -> Outcome {
        let clock = host::clock();
        let mut sampler = progress::Sampler::new(progress::PERIOD_NS, clock.monotonic_ns());
        self.run_with(quit, host::wait, |instructions, idle_ns| {
            if let Some(s) = sampler.poll(clock.monotonic_ns(), instructions, idle_ns) {
                host::report(RunEvent::Progress { instructions: s.instructions, host_ns: s.host_ns, idle_ns: s.idle_ns });
            }
        })
    }

    /// Steps until the guest stops or `quit` says so. When the guest idles,
    /// `wait(ns)` blocks for about `ns` host nanoseconds and returns how
    /// many passed (the host decides how: a thread sleep natively,
    /// `Atomics.wait` in a browser worker). After each slice
    /// `slice_done(cpu.icount, idle_ns)` sees the guest's instruction count
    /// and the host time spent waiting for an idle guest so far.
    pub fn run_with(
        &mut self,
        mut quit: impl FnMut() -> bool,
        mut wait: impl FnMut(u64) -> u64,
        mut slice_done: impl FnMut(u64, u64),
    ) -> Outcome {
        let mut steps = 0u64;
        let mut idle_ns = 0u64;
        loop {
            steps += 1;
            if steps % 4096 == 0 {
                // Where the guest spends its time, for RUST_LOG=netvm=trace.
                log::trace!("rip {:#x} icount {} tsc {}", self.cpu.rip, self.cpu.icount, clock::tsc(&self.cpu));
            }
            if quit() {
                return Outcome::Quit;
            }
            let step = self.step();
            slice_done(self.cpu.icount, idle_ns);
            match step {
                Step::Running => {}
                Step::Idle { ns } => {
                    let waited = wait(ns);
                    idle_ns = idle_ns.saturating_add(waited);
                    self.idle_elapsed(waited);
                }
                Step::Stopped(outcome) => return outcome,
            }
        }
    }
}
