//! The xAPIC local APIC of the only CPU (Intel SDM vol. 3A ch. 11).
//!
//! Implemented: ID, version, TPR/APR/PPR, EOI, LDR/DFR, the spurious vector
//! register (software enable), ISR/TMR/IRR with the fixed priority scheme of
//! §11.8.3, ESR, the LVT (timer one-shot and periodic with the divide
//! configuration; LINT0/1, error, thermal, performance and CMCI entries are
//! stored but never fire: nothing is wired to them), and the ICR for fixed
//! IPIs to this CPU ("self" shorthand or its own ID), and the TSC-deadline
//! timer mode (§11.5.4.1) with its IA32_TSC_DEADLINE MSR, which the machine
//! advertises in CPUID so that Linux needs no calibration of the timer.
//!
//! Time: the timer counts in "ticks" the caller supplies (`now`); the
//! machine passes its TSC, so the APIC bus clock equals the TSC frequency
//! and the kernel's calibration against the TSC measures exactly that.

/// Register offsets in the 4 KiB window (SDM vol. 3A table 11-1).
pub mod reg {
    pub const ID: u64 = 0x20;
    pub const VERSION: u64 = 0x30;
    pub const TPR: u64 = 0x80;
    pub const APR: u64 = 0x90;
    pub const PPR: u64 = 0xa0;
    pub const EOI: u64 = 0xb0;
    pub const RRD: u64 = 0xc0;
    pub const LDR: u64 = 0xd0;
    pub const DFR: u64 = 0xe0;
    pub const SVR: u64 = 0xf0;
    pub const ISR: u64 = 0x100;
    pub const TMR: u64 = 0x180;
    pub const IRR: u64 = 0x200;
    pub const ESR: u64 = 0x280;
    pub const LVT_CMCI: u64 = 0x2f0;
    pub const ICR_LOW: u64 = 0x300;
    pub const ICR_HIGH: u64 = 0x310;
    pub const LVT_TIMER: u64 = 0x320;
    pub const LVT_THERMAL: u64 = 0x330;
    pub const LVT_PERF: u64 = 0x340;
    pub const LVT_LINT0: u64 = 0x350;
    pub const LVT_LINT1: u64 = 0x360;
    pub const LVT_ERROR: u64 = 0x370;
    pub const TIMER_INITIAL: u64 = 0x380;
    pub const TIMER_CURRENT: u64 = 0x390;
    pub const TIMER_DIVIDE: u64 = 0x3e0;
}

/// Version 0x14 (an integrated xAPIC) with 7 LVT entries (max LVT index 6,
/// CMCI included), as QEMU's APIC reports.
const VERSION: u32 = 0x0006_0014;
const LVT_MASKED: u32 = 1 << 16;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
const LVT_TIMER_TSC_DEADLINE: u32 = 2 << 17;
/// The IA32_TSC_DEADLINE MSR (SDM vol. 4 table 2-2).
pub const MSR_TSC_DEADLINE: u32 = 0x6e0;
const SVR_ENABLED: u32 = 1 << 8;
/// ESR bits (§11.5.3).
const ESR_SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
const ESR_RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;
const ESR_ILLEGAL_REGISTER: u32 = 1 << 7;

/// Index of the LVT entries in `lvt`.
const LVT_OFFSETS: [u64; 7] =
    [reg::LVT_CMCI, reg::LVT_TIMER, reg::LVT_THERMAL, reg::LVT_PERF, reg::LVT_LINT0, reg::LVT_LINT1, reg::LVT_ERROR];
const TIMER: usize = 1;

/// A 256-bit vector register (ISR, TMR, IRR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bits256([u64; 4]);

impl Bits256 {
    fn set(&mut self, v: u8) {
        self.0[v as usize / 64] |= 1 << (v % 64);
    }
    fn clear(&mut self, v: u8) {
        self.0[v as usize / 64] &= !(1 << (v % 64));
    }
    fn get(&self, v: u8) -> bool {
        self.0[v as usize / 64] & (1 << (v % 64)) != 0
    }
    fn highest(&self) -> Option<u8> {
        (0..4).rev().find(|&i| self.0[i] != 0).map(|i| (i * 64 + 63 - self.0[i].leading_zeros() as usize) as u8)
    }
    /// The 32-bit register covering vectors 32*n .. 32*n+31.
    fn word(&self, n: usize) -> u32 {
        (self.0[n / 2] >> ((n % 2) * 32)) as u32
    }
}

/// The local APIC.
#[derive(Debug, Clone)]
pub struct LocalApic {
    id: u8,
    tpr: u8,
    ldr: u32,
    dfr: u32,
    svr: u32,
    esr: u32,
    /// Errors since the last ESR write (the ESR shows them after a write).
    esr_pending: u32,
    icr_high: u32,
    icr_low: u32,
    irr: Bits256,
    isr: Bits256,
    tmr: Bits256,
    lvt: [u32; 7],
    divide_config: u32,
    timer: Timer,
    /// IA32_TSC_DEADLINE in TSC-deadline mode: the expiry, 0 = disarmed.
    tsc_deadline: u64,
}

/// The timer's counting state: armed when a non-zero initial count was
/// written; counts down one per `2^shift` ticks from `start`.
#[derive(Debug, Clone, Copy, Default)]
struct Timer {
    initial: u32,
    start: u64,
    shift: u32,
    armed: bool,
}

impl Timer {
    fn period(&self) -> u64 {
        (self.initial as u64) << self.shift
    }
}

impl Default for LocalApic {
    fn default() -> Self {
        LocalApic::new(0)
    }
}

impl LocalApic {
    /// The state after power-on/INIT (§11.4.7.1): every LVT masked, the APIC
    /// software-disabled with spurious vector 0xff, divide by 2.
    pub fn new(id: u8) -> LocalApic {
        LocalApic {
            id,
            tpr: 0,
            ldr: 0,
            dfr: u32::MAX,
            svr: 0xff,
            esr: 0,
            esr_pending: 0,
            icr_high: 0,
            icr_low: 0,
            irr: Bits256::default(),
            isr: Bits256::default(),
            tmr: Bits256::default(),
            lvt: [LVT_MASKED; 7],
            divide_config: 0,
            timer: Timer::default(),
            tsc_deadline: 0,
        }
    }

    fn enabled(&self) -> bool {
        self.svr & SVR_ENABLED != 0
    }

    /// Processor priority (§11.8.3.1): the TPR or the class of the highest
    /// in-service vector, whichever is higher.
    pub fn ppr(&self) -> u8 {
        let isrv = self.isr.highest().unwrap_or(0);
        if self.tpr >> 4 >= isrv >> 4 {
            self.tpr
        } else {
            isrv & 0xf0
        }
    }

    /// An interrupt arrives (from the I/O APIC, an IPI or the LVT).
    /// `level` sets the vector's TMR bit so its EOI is forwarded.
    /// Vectors 0-15 are illegal (§11.5.3) and only set an ESR bit.
    pub fn accept(&mut self, vector: u8, level: bool) {
        if vector < 16 {
            self.esr_pending |= ESR_RECEIVE_ILLEGAL_VECTOR;
            return;
        }
        self.irr.set(vector);
        if level {
            self.tmr.set(vector);
        } else {
            self.tmr.clear(vector);
        }
    }

    /// The highest requested vector if its priority class is above the
    /// processor priority: what the INTR line tells the CPU.
    pub fn pending(&self) -> Option<u8> {
        if !self.enabled() {
            return None;
        }
        let v = self.irr.highest()?;
        (v >> 4 > self.ppr() >> 4).then_some(v)
    }

    /// INTA: the CPU takes the pending vector; it moves from IRR to ISR.
    pub fn acknowledge(&mut self) -> Option<u8> {
        let v = self.pending()?;
        self.irr.clear(v);
        self.isr.set(v);
        Some(v)
    }

    /// The EOI register was written: the highest in-service vector ends.
    /// Returns it if it was level-triggered (the I/O APIC must see the EOI).
    fn end_of_interrupt(&mut self) -> Option<u8> {
        let v = self.isr.highest()?;
        self.isr.clear(v);
        self.tmr.get(v).then_some(v)
    }

    /// The timer's next expiry in ticks, if armed and unmasked (the
    /// machine sleeps or stops its time slice there).
    pub fn next_deadline(&self) -> Option<u64> {
        if self.deadline_mode() {
            let masked = self.lvt[TIMER] & LVT_MASKED != 0;
            return (self.tsc_deadline != 0 && !masked).then_some(self.tsc_deadline);
        }
        let t = &self.timer;
        if !t.armed || self.lvt[TIMER] & LVT_MASKED != 0 {
            return None;
        }
        Some(t.start.saturating_add(t.period()))
    }

    /// Advances the timer to `now`: when the count reached zero, the timer
    /// vector is requested (once, however many periods passed) and a
    /// periodic timer reloads.
    pub fn poll_timer(&mut self, now: u64) {
        if self.deadline_mode() {
            if self.tsc_deadline != 0 && now >= self.tsc_deadline {
                // Expiry disarms (the MSR reads 0 again).
                self.tsc_deadline = 0;
                let lvt = self.lvt[TIMER];
                if lvt & LVT_MASKED == 0 && self.enabled() {
                    self.accept(lvt as u8, false);
                }
            }
            return;
        }
        let t = self.timer;
        if !t.armed {
            return;
        }
        let period = t.period();
        if now < t.start.saturating_add(period) {
            return;
        }
        let lvt = self.lvt[TIMER];
        if lvt & LVT_PERIODIC_OR_ONESHOT_MASK == LVT_TIMER_PERIODIC {
            let elapsed_periods = (now - t.start) / period;
            self.timer.start = t.start + elapsed_periods * period;
        } else {
            self.timer.armed = false;
        }
        if lvt & LVT_MASKED == 0 && self.enabled() {
            self.accept(lvt as u8, false);
        }
    }

    fn deadline_mode(&self) -> bool {
        self.lvt[TIMER] & LVT_PERIODIC_OR_ONESHOT_MASK == LVT_TIMER_TSC_DEADLINE
    }

    /// RDMSR IA32_TSC_DEADLINE: the armed deadline; 0 when disarmed or in
    /// another timer mode (§11.5.4.1).
    pub fn tsc_deadline(&self) -> u64 {
        if self.deadline_mode() {
            self.tsc_deadline
        } else {
            0
        }
    }

    /// WRMSR IA32_TSC_DEADLINE: arms the timer for TSC `value` (0
    /// disarms); ignored outside TSC-deadline mode (§11.5.4.1).
    pub fn write_tsc_deadline(&mut self, value: u64) {
        if self.deadline_mode() {
            self.tsc_deadline = value;
        }
    }

    fn current_count(&self, now: u64) -> u32 {
        let t = &self.timer;
        if !t.armed {
            return 0;
        }
        let elapsed = now.saturating_sub(t.start) >> t.shift;
        if elapsed >= t.initial as u64 {
            // A periodic timer whose expiry was not polled yet: modulo.
            if self.lvt[TIMER] & LVT_PERIODIC_OR_ONESHOT_MASK == LVT_TIMER_PERIODIC {
                return t.initial - (elapsed % t.initial as u64) as u32;
            }
            return 0;
        }
        t.initial - elapsed as u32
    }

    /// Guest read of the 32-bit register at `offset` (16-byte aligned).
    pub fn read(&self, offset: u64, now: u64) -> u32 {
        match offset {
            reg::ID => (self.id as u32) << 24,
            reg::VERSION => VERSION,
            reg::TPR => self.tpr as u32,
            reg::APR => 0,
            reg::PPR => self.ppr() as u32,
            reg::EOI | reg::RRD => 0,
            reg::LDR => self.ldr,
            reg::DFR => self.dfr,
            reg::SVR => self.svr,
            0x100..=0x170 => self.isr.word(((offset - reg::ISR) >> 4) as usize),
            0x180..=0x1f0 => self.tmr.word(((offset - reg::TMR) >> 4) as usize),
            0x200..=0x270 => self.irr.word(((offset - reg::IRR) >> 4) as usize),
            reg::ESR => self.esr,
            reg::ICR_LOW => self.icr_low,
            reg::ICR_HIGH => self.icr_high,
            o if LVT_OFFSETS.contains(&o) => self.lvt[LVT_OFFSETS.iter().position(|&x| x == o).unwrap_or(0)],
            reg::TIMER_INITIAL => self.timer.initial,
            reg::TIMER_CURRENT => self.current_count(now),
            reg::TIMER_DIVIDE => self.divide_config,
            _ => 0,
        }
    }

    /// Guest write of the 32-bit register at `offset`. Returns a vector
    /// whose EOI the I/O APIC must see (level-triggered).
    pub fn write(&mut self, offset: u64, value: u32, now: u64) -> Option<u8> {
        match offset {
            // The ID is writable on xAPICs; one CPU, so it only changes
            // what the ICR's physical destination matches.
            reg::ID => self.id = (value >> 24) as u8,
            reg::TPR => self.tpr = value as u8,
            reg::EOI => return self.end_of_interrupt(),
            reg::LDR => self.ldr = value & 0xff00_0000,
            reg::DFR => self.dfr = value | 0x0fff_ffff,
            reg::SVR => {
                self.svr = value & 0x13ff;
                if !self.enabled() {
                    // §11.4.7.2: software disable masks every LVT entry.
                    for l in &mut self.lvt {
                        *l |= LVT_MASKED;
                    }
                }
            }
            // A write latches the errors seen since the last one (§11.5.3).
            reg::ESR => self.esr = std::mem::take(&mut self.esr_pending),
            reg::ICR_HIGH => self.icr_high = value & 0xff00_0000,
            reg::ICR_LOW => {
                self.icr_low = value & !(1 << 12); // delivery is immediate: never "send pending"
                self.send_ipi();
            }
            o if LVT_OFFSETS.contains(&o) => {
                let i = LVT_OFFSETS.iter().position(|&x| x == o).unwrap_or(0);
                let mut v = value & LVT_WRITABLE[i];
                if !self.enabled() {
                    v |= LVT_MASKED;
                }
                if i == TIMER && (v ^ self.lvt[TIMER]) & LVT_PERIODIC_OR_ONESHOT_MASK != 0 {
                    let is_deadline = |lvt: u32| lvt & LVT_PERIODIC_OR_ONESHOT_MASK == LVT_TIMER_TSC_DEADLINE;
                    let deadline_involved = is_deadline(v) || is_deadline(self.lvt[TIMER]);
                    if deadline_involved {
                        // Into or out of TSC-deadline mode disarms the
                        // timer (§11.5.4.1).
                        self.timer.armed = false;
                        self.timer.initial = 0;
                        self.tsc_deadline = 0;
                    }
                    // Between one-shot and periodic the count goes on from
                    // where it is (SDM leaves it open; QEMU does the same).
                    log::trace!("lapic: timer mode {:#x}", v);
                }
                self.lvt[i] = v;
            }
            // The initial count is ignored in TSC-deadline mode.
            reg::TIMER_INITIAL if self.deadline_mode() => {}
            reg::TIMER_INITIAL => {
                self.timer = Timer { initial: value, start: now, shift: self.divide_shift(), armed: value != 0 };
            }
            reg::TIMER_DIVIDE => {
                // Keep the count where it is and go on at the new rate.
                let count = self.current_count(now);
                self.divide_config = value & 0xb;
                if self.timer.armed && count > 0 {
                    let shift = self.divide_shift();
                    let done = (self.timer.initial - count) as u64;
                    self.timer.shift = shift;
                    self.timer.start = now.saturating_sub(done << shift);
                }
            }
            reg::VERSION | reg::APR | reg::PPR | reg::RRD | reg::TIMER_CURRENT | 0x100..=0x270 => {}
            _ => self.esr_pending |= ESR_ILLEGAL_REGISTER,
        }
        None
    }

    /// Divide configuration (§11.5.4, figure 11-10): bits 0,1,3 encode
    /// divide by 2^(n+1), with 0b111 meaning 1.
    fn divide_shift(&self) -> u32 {
        let n = (self.divide_config & 3) | ((self.divide_config >> 1) & 4);
        (n + 1) & 7
    }

    /// ICR (§11.6.1): fixed-mode IPIs that reach this CPU are delivered;
    /// INIT/SIPI/NMI/SMI have no other CPU to go to and are ignored.
    fn send_ipi(&mut self) {
        let vector = self.icr_low as u8;
        let mode = (self.icr_low >> 8) & 7;
        let shorthand = (self.icr_low >> 18) & 3;
        let to_self = match shorthand {
            0 => (self.icr_low >> 11) & 1 == 0 && (self.icr_high >> 24) as u8 == self.id,
            1 | 2 => true, // self, all including self
            _ => false,    // all excluding self
        };
        if mode != 0 || !to_self {
            log::debug!("lapic: IPI {:#x}:{:#x} not delivered (one CPU)", self.icr_high, self.icr_low);
            return;
        }
        if vector < 16 {
            self.esr_pending |= ESR_SEND_ILLEGAL_VECTOR;
        }
        self.accept(vector, false);
    }
}

/// Timer mode bits 17-18 of the LVT timer entry.
const LVT_PERIODIC_OR_ONESHOT_MASK: u32 = 3 << 17;
/// Writable bits per LVT entry (SDM figure 11-8), in `LVT_OFFSETS` order:
/// vector, delivery mode, polarity, trigger mode, mask, timer mode.
const LVT_WRITABLE: [u32; 7] = [0x1_07ff, 0x7_00ff, 0x1_07ff, 0x1_07ff, 0x1_a7ff, 0x1_a7ff, 0x1_00ff];

#[cfg(test)]
#[path = "lapic_tests.rs"]
mod tests;
