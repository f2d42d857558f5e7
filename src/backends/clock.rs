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

#[cfg(test)]
mod tests {
    use super::*;

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
