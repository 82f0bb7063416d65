//! What a connection tells its application, and its errors.

use crate::buf::BufferFull;
use crate::h2::ErrorCode;

/// Something the application should look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The first header block of a stream arrived (for a server: a new request).
    Headers {
        /// The stream.
        stream: u32,
    },
    /// Body bytes arrived.
    Data {
        /// The stream.
        stream: u32,
    },
    /// Trailers arrived.
    Trailers {
        /// The stream.
        stream: u32,
    },
    /// The peer ended its side of the stream.
    StreamEnded {
        /// The stream.
        stream: u32,
    },
    /// The stream was reset.
    StreamReset {
        /// The stream.
        stream: u32,
        /// The RST_STREAM code.
        code: ErrorCode,
        /// Whether the peer reset it (otherwise we did).
        remote: bool,
    },
    /// The peer sent GOAWAY: streams above `last_stream_id` were not processed.
    GoAway {
        /// The highest stream the peer processed.
        last_stream_id: u32,
        /// Why.
        code: ErrorCode,
        /// The start of the peer's debug data (often a human-readable reason).
        debug: GoAwayDebug,
    },
    /// The peer acknowledged our SETTINGS.
    SettingsAcked,
    /// Client: a stream may be opened again (one closed and was released,
    /// or the peer raised SETTINGS_MAX_CONCURRENT_STREAMS) after
    /// [`Connection::can_open_stream`](super::Connection::can_open_stream)
    /// said it could not.
    StreamsAvailable,
    /// The connection is finished; nothing more will be sent or received.
    Closed {
        /// The error that closed it, or NO_ERROR after a graceful shutdown.
        code: ErrorCode,
        /// Whose doing it was.
        fault: Fault,
    },
}

/// Whose doing the end of a connection was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The peer broke or abused the protocol; we sent GOAWAY with the code.
    Peer,
    /// The peer closed the connection with its own GOAWAY (its code; its
    /// debug data came with [`Event::GoAway`]).
    PeerClosed,
    /// The peer did not do its part in time (handshake, SETTINGS
    /// acknowledgement, a header block).
    Timeout,
    /// We closed it: a graceful shutdown, or a failure on our side.
    Local,
}

impl Fault {
    /// Whether the peer's conduct (not ours) ended the connection.
    pub const fn is_remote(self) -> bool {
        !matches!(self, Fault::Local)
    }
}

/// The first bytes of a GOAWAY frame's debug data, kept without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoAwayDebug {
    bytes: [u8; GoAwayDebug::CAPACITY],
    len: u8,
}

impl GoAwayDebug {
    /// Bytes kept; the rest of a longer debug payload is dropped.
    pub const CAPACITY: usize = 64;

    /// Keeps the first [`CAPACITY`](Self::CAPACITY) bytes of `data`.
    pub fn new(data: &[u8]) -> Self {
        let mut debug = GoAwayDebug {
            bytes: [0; Self::CAPACITY],
            len: 0,
        };
        let n = data.len().min(Self::CAPACITY);
        debug.bytes[..n].copy_from_slice(&data[..n]);
        debug.len = n as u8;
        debug
    }

    /// The bytes kept.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A fatal error: the connection sends GOAWAY with `code` and closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionError {
    /// The HTTP/2 error code sent in GOAWAY.
    pub code: ErrorCode,
    /// What went wrong.
    pub reason: &'static str,
    /// Whose doing it was.
    pub fault: Fault,
}

impl ConnectionError {
    /// The peer broke or abused the protocol.
    pub const fn peer(code: ErrorCode, reason: &'static str) -> Self {
        ConnectionError {
            code,
            reason,
            fault: Fault::Peer,
        }
    }

    /// The peer did not do its part in time.
    pub const fn timeout(code: ErrorCode, reason: &'static str) -> Self {
        ConnectionError {
            code,
            reason,
            fault: Fault::Timeout,
        }
    }
}

impl core::fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let whose = match self.fault {
            Fault::Peer => "the peer broke the protocol",
            Fault::PeerClosed => "the peer closed the connection",
            Fault::Timeout => "the peer took too long",
            Fault::Local => "closed on our side",
        };
        write!(
            f,
            "HTTP/2 connection error {:?} ({whose}): {}",
            self.code, self.reason
        )
    }
}

/// A connection or call could not be set up as configured: our caller's
/// mistake, never the peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// What is wrong with the configuration.
    pub reason: &'static str,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid configuration: {}", self.reason)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

#[cfg(feature = "std")]
impl std::error::Error for ConnectionError {}

/// Why a stream could not be opened or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached, or our table is full.
    TooManyStreams,
    /// The connection is shutting down or closed.
    Closing,
    /// No such stream, or it can no longer send.
    NotWritable,
    /// The send queue's fixed capacity cannot hold the item.
    BufferFull,
}

impl From<BufferFull> for StreamError {
    fn from(_: BufferFull) -> Self {
        StreamError::BufferFull
    }
}

impl core::fmt::Display for StreamError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            StreamError::TooManyStreams => "too many concurrent streams",
            StreamError::Closing => "connection is closing",
            StreamError::NotWritable => "stream is not open for sending",
            StreamError::BufferFull => "stream send buffer is full",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for StreamError {}
