//! Defences against peers that abuse the protocol rather than break it:
//! floods of cheap frames that cost us work (RST_STREAM, PING, SETTINGS,
//! frames that carry nothing) and peers that hold resources by going slow.
//! Each limit lives in [`Config`]; past it the connection ends with
//! ENHANCE_YOUR_CALM (RFC 9113 §5.4.1 and §10.5). The slow-peer deadlines
//! (handshake, header block, send stall) live in the timer table.

use super::ConnectionError;
use crate::h2::{Config, ErrorCode};
use crate::time::Instant;

/// Kinds of cheap frames counted per window.
#[derive(Clone, Copy, Debug)]
pub(super) enum Flood {
    /// RST_STREAM from the peer: rapid reset (CVE-2023-44487).
    Reset,
    /// PING and SETTINGS (CVE-2019-9512, CVE-2019-9515).
    Control,
    /// Frames that do nothing: empty DATA or header fragments without an
    /// end, PRIORITY, unknown types (CVE-2019-9518, CVE-2019-9513).
    Empty,
    /// Frames that cost work and change nothing: a header block that must be
    /// HPACK-decoded for a stream that cannot take it, WINDOW_UPDATE on a
    /// closed stream, a stream reset for the peer's own violation.
    Futile,
}

/// Counts per [`Config::flood_window`].
#[derive(Clone, Copy, Debug)]
pub(super) struct FloodGuard {
    window_start: Instant,
    counts: [u32; 4],
}

impl FloodGuard {
    pub(super) fn new(now: Instant) -> Self {
        FloodGuard {
            window_start: now,
            counts: [0; 4],
        }
    }

    /// Counts one frame of `kind`; past its limit the connection must end.
    pub(super) fn count(
        &mut self,
        kind: Flood,
        now: Instant,
        config: &Config,
    ) -> Result<(), ConnectionError> {
        if now.saturating_duration_since(self.window_start) >= config.flood_window {
            self.window_start = now;
            self.counts = [0; 4];
        }
        let (slot, limit, reason) = match kind {
            Flood::Reset => (
                0,
                config.max_resets_per_window,
                "too many RST_STREAM frames",
            ),
            Flood::Control => (
                1,
                config.max_control_per_window,
                "too many PING or SETTINGS frames",
            ),
            Flood::Empty => (
                2,
                config.max_empty_per_window,
                "too many frames that carry nothing",
            ),
            Flood::Futile => (
                3,
                config.max_futile_per_window,
                "too many frames for streams that cannot take them",
            ),
        };
        self.counts[slot] += 1;
        if self.counts[slot] > limit {
            return Err(ConnectionError::peer(ErrorCode::EnhanceYourCalm, reason));
        }
        Ok(())
    }
}
