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
    /// Time for the peer's preface and first SETTINGS (slowloris).
    pub handshake_timeout: Duration,
    /// Time for a header block that spans several frames to finish.
    pub header_block_timeout: Duration,
    /// How long a stream's queued data may wait for a window the peer never
    /// opens before the stream is reset and its buffers freed (CVE-2019-9517).
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
            max_pending_control: 128,
            flood_window: Duration::from_secs(10),
            max_resets_per_window: 200,
            max_control_per_window: 200,
            max_empty_per_window: 200,
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
            max_pending_control: 8,
            flood_window: Duration::from_secs(10),
            max_resets_per_window: 50,
            max_control_per_window: 50,
            max_empty_per_window: 50,
            handshake_timeout: Duration::from_secs(10),
            header_block_timeout: Duration::from_secs(10),
            send_stall_timeout: Duration::from_secs(30),
        }
    }
}
