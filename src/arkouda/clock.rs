//! Where the proxies read the time: the process clock in a server, a clock
//! the caller moves in tests, so expiry and grace times run without sleeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::time::Instant;

/// A monotonic clock on the core's [`Instant`] scale.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The process's monotonic clock, counted from the first time any
/// `SystemClock` was read.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

fn origin() -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

impl SystemClock {
    /// `at` on the process clock, as an [`Instant`] of this clock.
    pub fn from_std(at: std::time::Instant) -> Instant {
        Instant::from_micros(
            u64::try_from(at.saturating_duration_since(origin()).as_micros()).unwrap_or(u64::MAX),
        )
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Self::from_std(std::time::Instant::now())
    }
}

/// A clock that moves only when told: clones share the time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    micros: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: Instant) -> Self {
        ManualClock {
            micros: Arc::new(AtomicU64::new(now.as_micros())),
        }
    }

    /// Moves the clock to `now`; it never goes back.
    pub fn set(&self, now: Instant) {
        self.micros.fetch_max(now.as_micros(), Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.micros.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_forward_and_clones_share_it() {
        let c = ManualClock::new(Instant::from_millis(5));
        let d = c.clone();
        c.set(Instant::from_millis(9));
        c.set(Instant::from_millis(7));
        assert_eq!(d.now(), Instant::from_millis(9));
        let (a, b) = (SystemClock.now(), SystemClock.now());
        assert!(b >= a);
    }
}
