//! Errors raised while decoding and encoding frames.
//!
//! Every decoding error names the RFC 9113 error code the peer must be told and
//! whether it ends the whole connection (GOAWAY) or only one stream (RST_STREAM),
//! so the connection layer can act on it without re-deriving the rule.

use super::header::FrameKind;
use crate::h2::ErrorCode;

/// What a peer's frame did wrong (RFC 9113 §4, §5.4, §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The client connection preface did not match (RFC 9113 §3.4).
    BadPreface,
    /// The frame is larger than our SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2).
    TooLarge {
        /// Payload length announced in the header.
        length: u32,
        /// Our current limit.
        max: u32,
    },
    /// The payload is too short for the fields the frame type and flags demand (RFC 9113 §4.2).
    TooShort {
        /// The frame type.
        kind: FrameKind,
        /// Payload length received.
        length: usize,
    },
    /// A stream-scoped frame arrived on stream 0 (RFC 9113 §6.1, §6.2, §6.3, §6.4, §6.6, §6.10).
    StreamIdZero {
        /// The frame type.
        kind: FrameKind,
    },
    /// A connection-scoped frame arrived on a non-zero stream (RFC 9113 §6.5, §6.7, §6.8).
    StreamIdNonZero {
        /// The frame type.
        kind: FrameKind,
        /// The stream it arrived on.
        stream_id: u32,
    },
    /// The pad length leaves no room for the frame's content (RFC 9113 §6.1, §6.2, §6.6).
    PaddingTooLong {
        /// The frame type.
        kind: FrameKind,
        /// The pad length field.
        pad_len: u8,
    },
    /// A stream was made to depend on itself (RFC 9113 §5.3.1).
    SelfDependency {
        /// The offending stream.
        stream_id: u32,
    },
    /// A PRIORITY frame whose payload is not 5 bytes (RFC 9113 §6.3).
    PriorityLength {
        /// The stream it arrived on.
        stream_id: u32,
        /// Payload length received.
        length: usize,
    },
    /// An RST_STREAM frame whose payload is not 4 bytes (RFC 9113 §6.4).
    RstStreamLength {
        /// Payload length received.
        length: usize,
    },
    /// A SETTINGS payload that is not a multiple of 6 bytes (RFC 9113 §6.5).
    SettingsLength {
        /// Payload length received.
        length: usize,
    },
    /// A SETTINGS ACK that carries a payload (RFC 9113 §6.5).
    SettingsAckWithPayload {
        /// Payload length received.
        length: usize,
    },
    /// SETTINGS_ENABLE_PUSH other than 0 or 1 (RFC 9113 §6.5.2).
    InvalidEnablePush {
        /// The value received.
        value: u32,
    },
    /// SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 (RFC 9113 §6.5.2).
    InvalidInitialWindowSize {
        /// The value received.
        value: u32,
    },
    /// SETTINGS_MAX_FRAME_SIZE outside [16384, 16777215] (RFC 9113 §6.5.2).
    InvalidMaxFrameSize {
        /// The value received.
        value: u32,
    },
    /// A PING frame whose payload is not 8 bytes (RFC 9113 §6.7).
    PingLength {
        /// Payload length received.
        length: usize,
    },
    /// A GOAWAY frame shorter than 8 bytes (RFC 9113 §6.8).
    GoAwayLength {
        /// Payload length received.
        length: usize,
    },
    /// A WINDOW_UPDATE frame whose payload is not 4 bytes (RFC 9113 §6.9).
    WindowUpdateLength {
        /// Payload length received.
        length: usize,
    },
    /// A WINDOW_UPDATE with an increment of 0 (RFC 9113 §6.9).
    ZeroWindowIncrement {
        /// The stream it arrived on; 0 means the connection window.
        stream_id: u32,
    },
}

/// How far the damage of a [`FrameError`] reaches (RFC 9113 §5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorScope {
    /// The connection must be closed with GOAWAY (§5.4.1).
    Connection,
    /// Only this stream must be reset with RST_STREAM (§5.4.2); the connection goes on.
    Stream(u32),
}

impl FrameError {
    /// The RFC 9113 §7 code to put in the GOAWAY or RST_STREAM frame.
    pub const fn error_code(&self) -> ErrorCode {
        use FrameError::*;
        match self {
            TooLarge { .. }
            | TooShort { .. }
            | PriorityLength { .. }
            | RstStreamLength { .. }
            | SettingsLength { .. }
            | SettingsAckWithPayload { .. }
            | PingLength { .. }
            | GoAwayLength { .. }
            | WindowUpdateLength { .. } => ErrorCode::FrameSizeError,
            InvalidInitialWindowSize { .. } => ErrorCode::FlowControlError,
            BadPreface
            | StreamIdZero { .. }
            | StreamIdNonZero { .. }
            | PaddingTooLong { .. }
            | SelfDependency { .. }
            | InvalidEnablePush { .. }
            | InvalidMaxFrameSize { .. }
            | ZeroWindowIncrement { .. } => ErrorCode::ProtocolError,
        }
    }

    /// Whether this ends the connection or only one stream.
    pub const fn scope(&self) -> ErrorScope {
        match *self {
            // §6.3: a PRIORITY frame of the wrong size only spoils its own stream.
            FrameError::PriorityLength { stream_id, .. } => ErrorScope::Stream(stream_id),
            // §5.3.1: a self-dependency is a stream error.
            FrameError::SelfDependency { stream_id } => ErrorScope::Stream(stream_id),
            // §6.9: a zero increment on a stream is a stream error, on stream 0 a connection error.
            FrameError::ZeroWindowIncrement { stream_id } if stream_id != 0 => {
                ErrorScope::Stream(stream_id)
            }
            _ => ErrorScope::Connection,
        }
    }

    /// True if the connection must be torn down (see [`FrameError::scope`]).
    pub const fn is_connection_error(&self) -> bool {
        matches!(self.scope(), ErrorScope::Connection)
    }
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "HTTP/2 frame error ({:?}): {:?}",
            self.error_code(),
            self
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FrameError {}

/// Why a frame could not be written (a local mistake, never the peer's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer cannot hold the frame.
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// The payload does not fit the 24-bit length field (RFC 9113 §4.1).
    PayloadTooLarge {
        /// Payload length requested.
        length: usize,
    },
    /// A field value the RFC forbids sending, e.g. a window increment of 0 or above 2^31-1.
    InvalidField,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "cannot encode HTTP/2 frame: {self:?}")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// Why a [`super::FrameDecoder`] could not be configured as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The value is outside the range RFC 9113 §6.5.2 allows for SETTINGS_MAX_FRAME_SIZE.
    MaxFrameSizeOutOfRange(u32),
    /// The payload buffer is smaller than the maximum frame size.
    BufferTooSmall {
        /// Bytes needed (the maximum frame size).
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid frame decoder configuration: {self:?}")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}
