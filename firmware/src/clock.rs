//! Time for deadlines, in microseconds, from TIMER0 of mps2-an386 (a CMSDK APB
//! timer), polled.
//!
//! The timer counts down from `u32::MAX` at the 25 MHz peripheral clock and
//! reloads, a full turn every 171.8 s. No interrupt is involved: each
//! [`Clock::now`] adds the ticks since the last reading, so nothing is lost
//! while semihosting output masks interrupts, as long as `now` is called at
//! least once a turn (the main loop calls it on every pass). qemu drives
//! the timer from its virtual clock, which follows the host's time unless
//! `-icount` is given (not used: the calls' deadlines are meant as real time
//! against a real server).
//!
//! TIMER1 runs as a 1 kHz heartbeat, no interrupt and nobody reading it.
//! It is there for qemu alone: a timer that expires every millisecond keeps
//! qemu's I/O loop from sleeping up to a second between two UART bytes,
//! which without it sometimes held the first call's reply for about 1 s.

use core::ptr::{read_volatile, write_volatile};

use arkwire::time::Instant;

/// TIMER0 and TIMER1; each has `CTRL`, `VALUE` and `RELOAD` at 0, 4 and 8.
const TIMER0: usize = 0x4000_0000;
const TIMER1: usize = 0x4000_1000;
const CTRL: usize = 0x00;
const VALUE: usize = 0x04;
const RELOAD: usize = 0x08;
/// `CTRL`: count.
const CTRL_ENABLE: u32 = 1;

/// The peripheral clock of mps2-an386 (25 MHz), in ticks per microsecond.
const TICKS_PER_US: u64 = 25;
/// The heartbeat's period: 1 ms.
const HEARTBEAT_TICKS: u32 = 25_000;

/// A monotonic clock.
pub struct Clock {
    /// The counter at the last reading.
    last: u32,
    /// Ticks counted since [`Clock::start`].
    ticks: u64,
}

impl Clock {
    /// Starts TIMER0 (time 0 is now) and the TIMER1 heartbeat. Call once.
    pub fn start() -> Clock {
        start_timer(TIMER0, u32::MAX);
        start_timer(TIMER1, HEARTBEAT_TICKS);
        Clock {
            last: u32::MAX,
            ticks: 0,
        }
    }

    /// Now, as time since [`Clock::start`].
    pub fn now(&mut self) -> Instant {
        // SAFETY: reading TIMER0's counter has no side effect.
        let value = unsafe { read_volatile((TIMER0 + VALUE) as *const u32) };
        // The timer counts down; a reload in between wraps the subtraction.
        self.ticks += u64::from(self.last.wrapping_sub(value));
        self.last = value;
        Instant::from_micros(self.ticks / TICKS_PER_US)
    }
}

/// Starts the CMSDK timer at `base` counting down from `reload`, reloading
/// at zero, its interrupt off.
fn start_timer(base: usize, reload: u32) {
    let reg = |offset: usize| (base + offset) as *mut u32;
    // SAFETY: the timer's documented registers; only this module touches them.
    unsafe {
        write_volatile(reg(CTRL), 0);
        write_volatile(reg(RELOAD), reload);
        write_volatile(reg(VALUE), reload);
        write_volatile(reg(CTRL), CTRL_ENABLE);
    }
}
