//! Limits and settings of one HTTP/2 connection, in one place.

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
    /// Control frames (PING and SETTINGS acknowledgements, resets) that may wait
    /// to be sent; a peer that makes more is flooding and is cut off with
    /// ENHANCE_YOUR_CALM.
    pub max_pending_control: usize,
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
            max_pending_control: 32,
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
            max_pending_control: 8,
        }
    }
}
