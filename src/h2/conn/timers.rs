//! The timer table: every deadline a connection keeps, read in one place.
//!
//! Connection-wide timers (the handshake, our SETTINGS acknowledgement, a
//! header block spanning several frames) live here by name; each stream
//! keeps its own deadline and stall start beside its state
//! ([`StreamTimers`](crate::h2::stream::StreamTimers)), and
//! [`Timers::next`] folds them all into the one instant the driver is told.

use core::time::Duration;

use crate::h2::stream::Stream;
use crate::time::Instant;

/// The connection-wide timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// The peer's preface and first SETTINGS (slowloris defence).
    Handshake = 0,
    /// The peer's acknowledgement of our SETTINGS (RFC 9113 §6.5.3).
    Settings = 1,
    /// The end of a header block that spans several frames.
    HeaderBlock = 2,
}

const TIMERS: usize = 3;

/// When each connection-wide timer fires, if it is armed.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timers {
    at: [Option<Instant>; TIMERS],
}

impl Timers {
    /// Arms `timer` to fire at `at`.
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.at[timer as usize] = Some(at);
    }

    /// Disarms `timer`; returns whether it was armed.
    pub(super) fn clear(&mut self, timer: Timer) -> bool {
        self.at[timer as usize].take().is_some()
    }

    /// When `timer` fires, if armed.
    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.at[timer as usize]
    }

    /// Whether `timer` is armed and due at `now`.
    pub(super) fn expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| now >= at)
    }

    /// The earliest instant anything fires: these timers, and each open
    /// stream's deadline and stall limit (`stall` after it started waiting).
    pub(super) fn next<H, B>(&self, streams: &[Stream<H, B>], stall: Duration) -> Option<Instant> {
        let own = self.at.iter().flatten().copied().min();
        let streams = streams
            .iter()
            .filter(|s| !s.state.is_closed())
            .flat_map(|s| {
                let t = s.timers;
                [t.deadline, t.blocked_since.map(|b| b + stall)]
            })
            .flatten()
            .min();
        [own, streams].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_armed_timer_is_next() {
        let mut t = Timers::default();
        let streams: [Stream<heapless::Vec<u8, 1>, heapless::Vec<u8, 1>>; 0] = [];
        assert_eq!(t.next(&streams, Duration::ZERO), None);
        t.set(Timer::Settings, Instant::from_millis(30));
        t.set(Timer::Handshake, Instant::from_millis(20));
        assert_eq!(
            t.next(&streams, Duration::ZERO),
            Some(Instant::from_millis(20))
        );
        assert!(t.clear(Timer::Handshake));
        assert!(!t.clear(Timer::Handshake));
        assert!(t.expired(Timer::Settings, Instant::from_millis(30)));
        assert!(!t.expired(Timer::HeaderBlock, Instant::from_millis(30)));
        assert_eq!(
            t.next(&streams, Duration::ZERO),
            Some(Instant::from_millis(30))
        );
    }
}
