//! Flow control (RFC 9113 §5.2, §6.9) as two small types: what we let the
//! peer send, and what the peer lets us send. The connection has one of each
//! and so does every stream.

use super::frame::MAX_WINDOW_SIZE;

/// The window is past 2^31 − 1 (§6.9.1): a FLOW_CONTROL_ERROR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowOverflow;

/// Our receive side: what the peer may still send, and what it has sent that
/// we can grant back. Window is granted back only for bytes the application
/// consumed (or that we dropped), so bytes nobody reads are bounded by the
/// window we announced.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecvWindow {
    /// What the peer may still send before it needs a WINDOW_UPDATE.
    window: i64,
    /// Bytes stored for the application and not yet consumed.
    unconsumed: u32,
    /// Bytes consumed or dropped since our last WINDOW_UPDATE.
    releasable: u32,
}

impl RecvWindow {
    pub(crate) const fn new(size: u32) -> Self {
        RecvWindow {
            window: size as i64,
            unconsumed: 0,
            releasable: 0,
        }
    }

    /// The peer sent `n` flow-controlled bytes; false if that passed the window.
    pub(crate) fn receive(&mut self, n: u32) -> bool {
        self.window -= i64::from(n);
        self.window >= 0
    }

    /// `n` received bytes are stored until the application consumes them.
    pub(crate) fn hold(&mut self, n: u32) {
        self.unconsumed = self.unconsumed.saturating_add(n);
    }

    /// `n` received bytes need nobody (padding, dropped data): grant them back.
    pub(crate) fn release(&mut self, n: u32) {
        self.releasable = self.releasable.saturating_add(n);
    }

    /// The application took every held byte; returns how many.
    pub(crate) fn consume_all(&mut self) -> u32 {
        let n = core::mem::take(&mut self.unconsumed);
        self.release(n);
        n
    }

    /// The application took `n` of the held bytes (the rest stay held,
    /// not granted back); returns how many it took.
    pub(crate) fn consume(&mut self, n: u32) -> u32 {
        let n = n.min(self.unconsumed);
        self.unconsumed -= n;
        self.release(n);
        n
    }

    /// Bytes still held for the application.
    pub(crate) fn unconsumed(&self) -> u32 {
        self.unconsumed
    }

    /// The increment to announce, once at least `threshold` bytes are
    /// releasable (batching: not one WINDOW_UPDATE per DATA frame).
    pub(crate) fn update_due(&self, threshold: u32) -> Option<u32> {
        (self.releasable > 0 && self.releasable >= threshold).then_some(self.releasable)
    }

    /// A WINDOW_UPDATE of `increment` went out.
    pub(crate) fn granted(&mut self, increment: u32) {
        self.window += i64::from(increment);
        self.releasable -= increment.min(self.releasable);
    }
}

/// Our send side: what the peer lets us send. It may go negative after the
/// peer lowers SETTINGS_INITIAL_WINDOW_SIZE (§6.9.2).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendWindow(i64);

impl SendWindow {
    pub(crate) const fn new(size: u32) -> Self {
        SendWindow(size as i64)
    }

    /// Bytes that may be sent now (0 when the window is closed or negative).
    pub(crate) fn available(&self) -> usize {
        self.0.max(0) as usize
    }

    /// Whether at least one byte may be sent.
    pub(crate) fn is_open(&self) -> bool {
        self.0 > 0
    }

    /// `n` bytes went out.
    pub(crate) fn spend(&mut self, n: usize) {
        self.0 -= n as i64;
    }

    /// The peer's WINDOW_UPDATE, or a SETTINGS change of `delta`.
    pub(crate) fn adjust(&mut self, delta: i64) -> Result<(), WindowOverflow> {
        self.0 += delta;
        if self.0 > i64::from(MAX_WINDOW_SIZE) {
            return Err(WindowOverflow);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receive_window_is_granted_back_only_for_released_bytes() {
        let mut w = RecvWindow::new(100);
        assert!(w.receive(60));
        w.hold(50);
        w.release(10);
        assert_eq!(w.update_due(20), None);
        assert_eq!(w.consume_all(), 50);
        assert_eq!(w.update_due(20), Some(60));
        w.granted(60);
        assert_eq!(w.update_due(1), None);
        assert!(w.receive(100));
        assert!(!w.receive(1), "past the window");
    }

    #[test]
    fn a_send_window_may_go_negative_but_not_past_the_maximum() {
        let mut w = SendWindow::new(10);
        w.spend(10);
        assert!(!w.is_open());
        w.adjust(-5).unwrap();
        assert_eq!(w.available(), 0);
        w.adjust(6).unwrap();
        assert_eq!(w.available(), 1);
        assert_eq!(w.adjust(i64::from(MAX_WINDOW_SIZE)), Err(WindowOverflow));
    }
}
