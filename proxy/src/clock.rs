//! Time as the embedder tells it.
//!
//! The proxy never reads a clock itself: it runs inside a smoltcp poll loop,
//! natively or in a Web Worker (where `std::time::Instant` panics on
//! wasm32-unknown-unknown). The embedder passes `Instant`s in, and tests use
//! a manual clock so timeouts are deterministic.

use std::time::Duration;

/// A point in time, in milliseconds since an arbitrary origin chosen by the embedder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    millis: u64,
}

impl Instant {
    pub const ZERO: Instant = Instant { millis: 0 };

    pub const fn from_millis(millis: u64) -> Instant {
        Instant { millis }
    }

    pub const fn total_millis(self) -> u64 {
        self.millis
    }

    /// `self + d`, saturating instead of overflowing.
    pub fn saturating_add(self, d: Duration) -> Instant {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Instant {
            millis: self.millis.saturating_add(ms),
        }
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(u64::MAX - 1);
        assert_eq!(
            t.saturating_add(Duration::from_secs(5)).total_millis(),
            u64::MAX
        );
        assert_eq!(Instant::ZERO.saturating_since(t), Duration::ZERO);
        assert_eq!(
            Instant::from_millis(1500).saturating_since(Instant::from_millis(500)),
            Duration::from_secs(1)
        );
    }
}
