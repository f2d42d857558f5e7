//! How many guest instructions ran by when, for the embedder: the figure a
//! benchmark turns into guest instructions per second (scripts/bench-browser
//! compares the page with native netvm this way).
//!
//! The run loop asks once per time slice, with the host clock it read; a
//! sample is due at most once per period, so the cost is one clock read and
//! one comparison per slice (up to 50,000 instructions), nothing per
//! instruction.

/// How often the run loop reports its instruction count: often enough to
/// bracket a benchmark's job closely, rarely enough that the page's event
/// log stays small (one entry a second).
pub const PERIOD_NS: u64 = 1_000_000_000;

/// The guest's executed instruction count at a host time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Instructions executed since the machine started (`cpu.icount`).
    pub instructions: u64,
    /// The host's monotonic clock when they were counted.
    pub host_ns: u64,
    /// Host time spent waiting for an idle (halted) guest until then.
    pub idle_ns: u64,
}

/// Decides when the next sample is due: never twice within one period.
#[derive(Debug)]
pub struct Sampler {
    period_ns: u64,
    next_ns: u64,
}

impl Sampler {
    /// The first sample is due one period after `start_ns`.
    pub fn new(period_ns: u64, start_ns: u64) -> Sampler {
        Sampler { period_ns, next_ns: start_ns.saturating_add(period_ns) }
    }

    /// A sample if one is due at `now_ns`. After a long gap (the host
    /// stalled) the next is again a full period away: one sample, not a
    /// burst of catch-up samples.
    pub fn poll(&mut self, now_ns: u64, instructions: u64, idle_ns: u64) -> Option<Sample> {
        if now_ns < self.next_ns {
            return None;
        }
        self.next_ns = now_ns.saturating_add(self.period_ns);
        Some(Sample { instructions, host_ns: now_ns, idle_ns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_before_the_first_period_ends() {
        let mut s = Sampler::new(1000, 500);
        assert_eq!(s.poll(500, 1, 0), None);
        assert_eq!(s.poll(1499, 2, 0), None);
        assert_eq!(s.poll(1500, 3, 40), Some(Sample { instructions: 3, host_ns: 1500, idle_ns: 40 }));
    }

    #[test]
    fn at_most_one_sample_per_period() {
        let mut s = Sampler::new(1000, 0);
        let samples: Vec<Sample> = (0..=5000).step_by(100).filter_map(|t| s.poll(t, t * 7, t / 2)).collect();
        let times: Vec<u64> = samples.iter().map(|x| x.host_ns).collect();
        assert_eq!(times, [1000, 2000, 3000, 4000, 5000]);
        assert!(samples.iter().all(|x| x.instructions == x.host_ns * 7 && x.idle_ns == x.host_ns / 2));
    }

    #[test]
    fn a_stall_gives_one_sample_then_a_full_period() {
        let mut s = Sampler::new(1000, 0);
        assert!(s.poll(10_000, 1, 0).is_some());
        assert_eq!(s.poll(10_001, 2, 0), None);
        assert_eq!(s.poll(10_999, 3, 0), None);
        assert!(s.poll(11_000, 4, 0).is_some());
    }

    #[test]
    fn the_clock_near_its_end_does_not_overflow() {
        let mut s = Sampler::new(1000, u64::MAX - 10);
        assert_eq!(s.poll(u64::MAX - 1, 1, 0), None);
        assert!(s.poll(u64::MAX, 2, 0).is_some());
    }
}
