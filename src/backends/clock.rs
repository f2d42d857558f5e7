//! Time for devices and the machine.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of time. Injected, so the machine can run on host time or on
/// instruction count (deterministic tests).
pub trait Clock {
    /// Nanoseconds since an arbitrary fixed start; never goes backwards.
    fn monotonic_ns(&self) -> u64;
    /// Nanoseconds since the Unix epoch (for a guest RTC or kvmclock wall time).
    fn wall_ns(&self) -> u64;
}

/// The host's clocks.
pub struct HostClock {
    start: Instant,
}

impl HostClock {
    pub fn new() -> HostClock {
        HostClock { start: Instant::now() }
    }
}

impl Default for HostClock {
    fn default() -> Self {
        HostClock::new()
    }
}

impl Clock for HostClock {
    fn monotonic_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
    fn wall_ns(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    }
}

/// Time that moves only when told to: the base for deterministic runs,
/// where the machine advances it by instructions executed (`-icount`-like).
/// Wall time is a fixed epoch plus the elapsed time. Clones share the clock.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now_ns: std::rc::Rc<std::cell::Cell<u64>>,
    epoch_ns: u64,
}

impl ManualClock {
    /// Starts at 0 with wall time `epoch_ns` (nanoseconds since 1970).
    pub fn new(epoch_ns: u64) -> ManualClock {
        ManualClock { now_ns: Default::default(), epoch_ns }
    }

    /// Moves time forward.
    pub fn advance(&self, ns: u64) {
        self.now_ns.set(self.now_ns.get().saturating_add(ns));
    }
}

impl Clock for ManualClock {
    fn monotonic_ns(&self) -> u64 {
        self.now_ns.get()
    }
    fn wall_ns(&self) -> u64 {
        self.epoch_ns.saturating_add(self.now_ns.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new(1_700_000_000_000_000_000);
        let view = c.clone();
        assert_eq!(c.monotonic_ns(), 0);
        c.advance(1500);
        c.advance(500);
        assert_eq!(view.monotonic_ns(), 2000, "clones share the time");
        assert_eq!(view.wall_ns(), 1_700_000_000_000_002_000);
    }

    #[test]
    fn host_clock_moves_forward() {
        let c = HostClock::new();
        let a = c.monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(c.monotonic_ns() >= a + 1_000_000);
        // After 2020-01-01.
        assert!(c.wall_ns() > 1_577_836_800 * 1_000_000_000);
    }
}
