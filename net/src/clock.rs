//! Time for the stack comes from outside: the host daemon reads a monotonic
//! clock, the browser build reads `performance.now()`, and tests step a
//! manual clock so timeouts are deterministic.

use std::cell::Cell;
use std::rc::Rc;

use smoltcp::time::{Duration, Instant};

pub trait Clock {
    fn now(&self) -> Instant;
}

/// A clock that moves only when told to. Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Rc<Cell<i64>>);

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock::default()
    }
    pub fn advance(&self, by: Duration) {
        self.0.set(self.0.get() + by.total_micros() as i64);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.get())
    }
}

/// The host's monotonic clock, counted from when this value was made.
#[cfg(feature = "host")]
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(std::time::Instant);

#[cfg(feature = "host")]
impl MonotonicClock {
    pub fn new() -> MonotonicClock {
        MonotonicClock(std::time::Instant::now())
    }
}

#[cfg(feature = "host")]
impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "host")]
impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.elapsed().as_micros() as i64)
    }
}
