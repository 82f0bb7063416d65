//! HTTP/2 wire layer (RFC 9113) and header compression (RFC 7541).
//!
//! Everything here parses from and emits into caller-provided buffers; nothing
//! allocates and nothing touches a socket.

mod config;
pub mod conn;
mod flow;
pub mod frame;
pub mod header_list;
pub mod hpack;
pub mod stream;

pub use config::{Config, MemoryBudget};
pub use conn::{ConfigError, Connection, ConnectionError, Event, Fault, Role, StreamError};

/// HTTP/2 error codes (RFC 9113 §7), carried by RST_STREAM and GOAWAY and by
/// every error this crate raises for a peer's protocol violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0x0: graceful shutdown, no error.
    NoError,
    /// 0x1: the peer broke the protocol.
    ProtocolError,
    /// 0x2: an internal failure on our side.
    InternalError,
    /// 0x3: flow-control limits were violated.
    FlowControlError,
    /// 0x4: SETTINGS were not acknowledged in time.
    SettingsTimeout,
    /// 0x5: a frame arrived on a half-closed stream.
    StreamClosed,
    /// 0x6: a frame had an invalid size.
    FrameSizeError,
    /// 0x7: the stream was refused before any processing.
    RefusedStream,
    /// 0x8: the stream is no longer needed.
    Cancel,
    /// 0x9: the header compression context could not be maintained.
    CompressionError,
    /// 0xa: a CONNECT tunnel failed.
    ConnectError,
    /// 0xb: the peer is generating excessive load.
    EnhanceYourCalm,
    /// 0xc: transport security is inadequate.
    InadequateSecurity,
    /// 0xd: HTTP/1.1 is required instead.
    Http11Required,
    /// Any other code; RFC 9113 §7 says unknown codes must not trigger special behaviour.
    Unknown(u32),
}

impl ErrorCode {
    /// The 32-bit code as it appears on the wire.
    pub const fn to_u32(self) -> u32 {
        match self {
            ErrorCode::NoError => 0x0,
            ErrorCode::ProtocolError => 0x1,
            ErrorCode::InternalError => 0x2,
            ErrorCode::FlowControlError => 0x3,
            ErrorCode::SettingsTimeout => 0x4,
            ErrorCode::StreamClosed => 0x5,
            ErrorCode::FrameSizeError => 0x6,
            ErrorCode::RefusedStream => 0x7,
            ErrorCode::Cancel => 0x8,
            ErrorCode::CompressionError => 0x9,
            ErrorCode::ConnectError => 0xa,
            ErrorCode::EnhanceYourCalm => 0xb,
            ErrorCode::InadequateSecurity => 0xc,
            ErrorCode::Http11Required => 0xd,
            ErrorCode::Unknown(c) => c,
        }
    }

    /// The code for a 32-bit wire value.
    pub const fn from_u32(code: u32) -> Self {
        match code {
            0x0 => ErrorCode::NoError,
            0x1 => ErrorCode::ProtocolError,
            0x2 => ErrorCode::InternalError,
            0x3 => ErrorCode::FlowControlError,
            0x4 => ErrorCode::SettingsTimeout,
            0x5 => ErrorCode::StreamClosed,
            0x6 => ErrorCode::FrameSizeError,
            0x7 => ErrorCode::RefusedStream,
            0x8 => ErrorCode::Cancel,
            0x9 => ErrorCode::CompressionError,
            0xa => ErrorCode::ConnectError,
            0xb => ErrorCode::EnhanceYourCalm,
            0xc => ErrorCode::InadequateSecurity,
            0xd => ErrorCode::Http11Required,
            c => ErrorCode::Unknown(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn error_codes_round_trip_and_match_rfc_9113_section_7() {
        assert_eq!(ErrorCode::FrameSizeError.to_u32(), 6);
        assert_eq!(ErrorCode::Http11Required.to_u32(), 0xd);
        for code in 0..0x20u32 {
            assert_eq!(ErrorCode::from_u32(code).to_u32(), code);
        }
        assert_eq!(ErrorCode::from_u32(0xe), ErrorCode::Unknown(0xe));
    }
}
