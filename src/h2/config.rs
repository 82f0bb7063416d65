//! Limits and settings of one HTTP/2 connection, in one place.

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;

/// What an HTTP/2 connection allows and announces. Every peer-controlled
/// quantity has a limit here with a safe default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS we announce; streams past it are refused.
    /// Also capped by the stream storage.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE we announce: how much a peer may send on
    /// one stream before we grant more (RFC default 65535).
    pub initial_window_size: u32,
    /// Our connection-level receive window, raised from the RFC's 65535 with a
    /// WINDOW_UPDATE right after the preface.
    pub connection_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE we announce and enforce (16384..=16777215).
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we announce and enforce while decoding,
    /// so no header block can expand past it.
    pub max_header_list_size: u32,
    /// Most CONTINUATION frames one header block may use; a block that never
    /// ends is cut off here (the CONTINUATION flood).
    pub max_continuation_frames: u32,
    /// How long the peer has to acknowledge our SETTINGS (RFC 9113 §6.5.3).
    pub settings_timeout: Duration,
    /// Most received stream bodies may hold, per stream; larger bodies reset
    /// the stream with a resource error.
    pub max_body_size: usize,
    /// Most body bytes all streams of one connection may hold together (never
    /// less than one `max_body_size`). A stream whose DATA would pass it is
    /// marked overflowed, as for `max_body_size`, so a peer cannot hold
    /// `max_concurrent_streams × max_body_size` with half-sent messages.
    pub max_connection_body_size: usize,
    /// Most bytes of received header lists all streams of one connection may
    /// hold together (never less than one stream's twice
    /// `max_header_list_size`, for its headers and trailers); a stream whose
    /// headers would pass it is refused (REFUSED_STREAM). Each stream is
    /// also held to twice `max_header_list_size`.
    pub max_connection_header_size: usize,
    /// Bodies of every connection that shares it draw from this budget too:
    /// a process-wide cap on assembled messages (see [`MemoryBudget`]).
    pub body_budget: Option<&'static MemoryBudget>,
    /// Control frames (PING and SETTINGS acknowledgements, resets) that may wait
    /// to be sent (at most 128); a peer that makes more is flooding and is cut
    /// off with ENHANCE_YOUR_CALM.
    pub max_pending_control: usize,
    /// The period over which the flood limits below are counted.
    pub flood_window: Duration,
    /// RST_STREAM frames a peer may send per window (rapid reset, CVE-2023-44487).
    pub max_resets_per_window: u32,
    /// PING and SETTINGS frames a peer may send per window (CVE-2019-9512, -9515).
    pub max_control_per_window: u32,
    /// Frames that carry nothing (empty DATA without END_STREAM, empty header
    /// fragments, PRIORITY, unknown types) a peer may send per window (CVE-2019-9518).
    pub max_empty_per_window: u32,
    /// Frames that cost work without progress a peer may send per window:
    /// header blocks for streams that cannot take them (closed, reset, past
    /// their trailers, refused, after GOAWAY), WINDOW_UPDATE on closed
    /// streams, and streams the peer's own violations made us reset.
    pub max_futile_per_window: u32,
    /// Time for the peer's preface and first SETTINGS (slowloris).
    pub handshake_timeout: Duration,
    /// Time for a header block that spans several frames to finish.
    pub header_block_timeout: Duration,
    /// How long a stream's queued data may wait for a window the peer never
    /// opens before the stream is reset and its buffers freed (CVE-2019-9517).
    /// Server connections only: a client's request waiting for the server's
    /// window is bounded by the call's deadline.
    pub send_stall_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_concurrent_streams: 100,
            initial_window_size: 1 << 20,
            connection_window_size: 1 << 24,
            max_frame_size: 16_384,
            max_header_list_size: 16 * 1024,
            max_continuation_frames: 16,
            settings_timeout: Duration::from_secs(10),
            max_body_size: 4 * 1024 * 1024 + 5,
            max_connection_body_size: 16 * 1024 * 1024,
            max_connection_header_size: 32 * 1024,
            body_budget: None,
            max_pending_control: 128,
            flood_window: Duration::from_secs(10),
            max_resets_per_window: 200,
            max_control_per_window: 200,
            max_empty_per_window: 200,
            max_futile_per_window: 200,
            handshake_timeout: Duration::from_secs(10),
            header_block_timeout: Duration::from_secs(10),
            send_stall_timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// Settings for a small device: RFC-default windows, few streams.
    pub const fn embedded() -> Self {
        Config {
            max_concurrent_streams: 4,
            initial_window_size: 65_535,
            connection_window_size: 65_535,
            max_frame_size: 16_384,
            max_header_list_size: 4096,
            max_continuation_frames: 4,
            settings_timeout: Duration::from_secs(10),
            max_body_size: 16 * 1024,
            max_connection_body_size: 16 * 1024,
            max_connection_header_size: 8 * 1024,
            body_budget: None,
            max_pending_control: 8,
            flood_window: Duration::from_secs(10),
            max_resets_per_window: 50,
            max_control_per_window: 50,
            max_empty_per_window: 50,
            max_futile_per_window: 50,
            handshake_timeout: Duration::from_secs(10),
            header_block_timeout: Duration::from_secs(10),
            send_stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Bytes of received bodies that many connections may hold together: one
/// process-wide cap, shared by every connection whose [`Config::body_budget`]
/// names it. Lock-free, so the loops of a server share one without waiting.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: AtomicUsize,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, none used.
    pub const fn new(limit: usize) -> Self {
        MemoryBudget {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
        }
    }

    /// Changes the limit; bytes already held stay held.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes, or nothing if that would pass the limit.
    pub fn try_take(&self, n: usize) -> bool {
        let limit = self.limit();
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= limit)
            })
            .is_ok()
    }

    /// Gives back `n` bytes taken earlier.
    pub fn give(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }
}

/// Two configs are equal when they name the same budget.
impl PartialEq for MemoryBudget {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self, other)
    }
}

impl Eq for MemoryBudget {}
