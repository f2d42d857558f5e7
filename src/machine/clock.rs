//! The machine's time base: the TSC, from which the local APIC timer also
//! counts (its bus clock is the TSC rate, so Linux's calibration of the
//! APIC timer against the TSC measures it exactly).
//!
//! Two modes, as QEMU offers: instruction-count time (`-icount`), where the
//! TSC is the number of instructions retired, so runs are deterministic and
//! idle time is skipped; and host time, where the TSC follows an injected
//! host [`Clock`] at the given rate (between slices the machine moves the
//! TSC forward to the host clock; it never goes back). The kernel is told
//! the rate with `tsc_early_khz=`, so it neither calibrates nor needs a PIT.

use crate::backends::clock::Clock;
use crate::cpu::Cpu;

/// Where time comes from.
pub enum TimeMode {
    /// One TSC tick per instruction; the TSC rate is `1e9 >> shift` Hz
    /// (QEMU's `-icount shift=N`: an instruction takes 2^N ns). With
    /// `sleep`, idle time passes at that rate in host time (QEMU's
    /// `sleep=on`); without, the machine skips straight to the next timer.
    Instructions { shift: u32, sleep: bool },
    /// The TSC follows `clock` at `khz` kHz.
    Host { clock: Box<dyn Clock>, khz: u64 },
}

impl TimeMode {
    /// The TSC (and APIC bus) rate in kHz, for `tsc_early_khz=`.
    pub fn tsc_khz(&self) -> u64 {
        match self {
            TimeMode::Instructions { shift, .. } => (1_000_000 >> shift).max(1),
            TimeMode::Host { khz, .. } => *khz,
        }
    }

    /// Brings the TSC up to the host clock (host mode); a no-op on
    /// instruction time. Returns the TSC.
    ///
    /// The TSC does not jump past `deadline` (the next timer expiry): when
    /// the interpreter falls behind the host clock (a loaded host, a
    /// descheduled process), a jump over several timer periods would lose
    /// all but one tick, jiffies would lag the TSC and Linux's clocksource
    /// watchdog would declare the TSC unstable. Instead guest time catches
    /// up one expiry per slice.
    pub fn sync(&self, cpu: &mut Cpu, deadline: Option<u64>) -> u64 {
        let tsc = tsc(cpu);
        if let TimeMode::Host { clock, khz } = self {
            let mut target = ((clock.monotonic_ns() as u128 * *khz as u128) / 1_000_000) as u64;
            if let Some(d) = deadline {
                target = target.min(d.max(tsc));
            }
            if target > tsc {
                cpu.msr.tsc_offset = cpu.msr.tsc_offset.wrapping_add(target - tsc);
                return target;
            }
        }
        tsc
    }

    /// Guest nanoseconds since power-on at TSC `tsc`.
    pub fn ns_at(&self, tsc: u64) -> u64 {
        ((tsc as u128 * 1_000_000) / self.tsc_khz() as u128) as u64
    }

    /// Host nanoseconds until the TSC reaches `deadline` (host mode), for
    /// an idle wait.
    pub fn ns_until(&self, cpu: &Cpu, deadline: u64) -> u64 {
        let ticks = deadline.saturating_sub(tsc(cpu));
        ((ticks as u128 * 1_000_000) / self.tsc_khz() as u128) as u64
    }
}

/// The guest's TSC: instructions retired plus the offset (IA32_TSC writes,
/// idle skips, host time).
pub fn tsc(cpu: &Cpu) -> u64 {
    cpu.icount.wrapping_add(cpu.msr.tsc_offset)
}

/// Skips idle time: the TSC jumps to `to` (never backwards).
pub fn advance_to(cpu: &mut Cpu, to: u64) {
    let now = tsc(cpu);
    if to > now {
        cpu.msr.tsc_offset = cpu.msr.tsc_offset.wrapping_add(to - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::clock::ManualClock;

    #[test]
    fn icount_rates_follow_the_shift() {
        assert_eq!(TimeMode::Instructions { shift: 0, sleep: false }.tsc_khz(), 1_000_000);
        assert_eq!(TimeMode::Instructions { shift: 3, sleep: true }.tsc_khz(), 125_000);
    }

    #[test]
    fn guest_nanoseconds_from_the_tsc() {
        assert_eq!(TimeMode::Instructions { shift: 3, sleep: false }.ns_at(125_000), 1_000_000);
        assert_eq!(TimeMode::Instructions { shift: 0, sleep: false }.ns_at(7), 7);
    }

    #[test]
    fn host_time_moves_the_tsc_forward_only() {
        let clock = ManualClock::new(0);
        let mode = TimeMode::Host { clock: Box::new(clock.clone()), khz: 2_000_000 };
        let mut cpu = Cpu::new();
        cpu.icount = 500;
        assert_eq!(mode.sync(&mut cpu, None), 500);
        clock.advance(1_000); // 1 us at 2 GHz = 2000 ticks
        assert_eq!(mode.sync(&mut cpu, None), 2000);
        assert_eq!(tsc(&cpu), 2000);
        cpu.icount += 5000; // the CPU ran ahead of the host clock
        assert_eq!(mode.sync(&mut cpu, None), 7000);
        assert_eq!(mode.ns_until(&cpu, 9000), 1000);
        advance_to(&mut cpu, 100);
        assert_eq!(tsc(&cpu), 7000, "never backwards");
    }

    #[test]
    fn host_time_catches_up_one_timer_expiry_at_a_time() {
        let clock = ManualClock::new(0);
        let mode = TimeMode::Host { clock: Box::new(clock.clone()), khz: 1_000_000 };
        let mut cpu = Cpu::new();
        clock.advance(10_000); // the host is 10 000 ticks ahead
        assert_eq!(mode.sync(&mut cpu, Some(4_000)), 4_000, "stops at the expiry");
        assert_eq!(mode.sync(&mut cpu, Some(8_000)), 8_000);
        assert_eq!(mode.sync(&mut cpu, Some(12_000)), 10_000, "then follows the host");
        assert_eq!(mode.sync(&mut cpu, Some(9_000)), 10_000, "an overdue expiry never moves time back");
    }
}
