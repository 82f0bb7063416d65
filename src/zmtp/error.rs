//! The one error type of the ZMTP layer: what went wrong, and whose fault it was.

use core::fmt;

/// Longest ERROR reason kept from a peer; longer reasons are cut at a char
/// boundary so the error stays a fixed-size value (no allocation).
pub const PEER_REASON_CAPACITY: usize = 64;

/// Everything that can go wrong on a ZMTP connection or in its codec.
///
/// The first group is the peer's fault (bad bytes on the wire); the second is
/// local misuse or a local limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZmtpError {
    /// The greeting does not start with `FF` and end its signature with `7F`
    /// (RFC 23 "Version Negotiation"): not a ZMTP 3 peer at all.
    WrongSignature,
    /// The peer speaks a major version other than 3 (ZMTP 1.0 and 2.0 peers
    /// would need a different framing, which we do not implement).
    UnsupportedVersion {
        /// The peer's major version.
        major: u8,
        /// The peer's minor version.
        minor: u8,
    },
    /// The peer's security mechanism is not NULL: we implement no other.
    UnsupportedMechanism {
        /// The 20 mechanism bytes the peer sent.
        mechanism: [u8; 20],
    },
    /// The peer's READY names a socket type a REQ socket cannot talk to
    /// (RFC 28: only REP and ROUTER), or names none.
    WrongSocketType,
    /// A command's body does not match its grammar (RFC 23, RFC 37).
    MalformedCommand(&'static str),
    /// A frame is larger than the configured limit. For message frames and for
    /// commands above the limit this is raised from the header, before any of
    /// the body is buffered; a known command between
    /// [`MAX_COMMAND_LEN`](super::MAX_COMMAND_LEN) and the limit is read past
    /// (not kept) and then refused.
    FrameTooLarge {
        /// The size the peer announced (for a reply: the reply's total so far).
        size: u64,
        /// The limit it broke.
        max: u64,
    },
    /// A reply has more frames than [`MAX_REPLY_FRAMES`](super::MAX_REPLY_FRAMES).
    TooManyFrames {
        /// The limit.
        max: usize,
    },
    /// A valid command arrived where it is not allowed (a second READY,
    /// or PING before the handshake).
    UnexpectedCommand,
    /// The peer broke a rule of the protocol; the text names the rule.
    ProtocolViolation(&'static str),
    /// The peer sent an ERROR command; its reason, possibly truncated.
    PeerError(heapless::String<PEER_REASON_CAPACITY>),
    /// The handshake did not finish before the configured timeout.
    HandshakeTimeout,
    /// The peer sent nothing within the heartbeat timeout after our PING
    /// (RFC 37): it is gone, or the path to it is.
    HeartbeatTimeout,
    /// A request is already outstanding (or its reply not yet released):
    /// REQ sockets strictly alternate request and reply.
    Busy,
    /// The connection is closed or timed out; make a new one.
    Closed,
    /// A fixed-capacity buffer cannot hold the bytes (local limit).
    BufferFull,
    /// The configuration cannot work with the buffer type given.
    InvalidConfig(&'static str),
}

impl ZmtpError {
    /// Whether the peer's conduct (rather than ours, or the clock) caused it.
    pub fn is_remote(&self) -> bool {
        matches!(
            self,
            ZmtpError::WrongSignature
                | ZmtpError::UnsupportedVersion { .. }
                | ZmtpError::UnsupportedMechanism { .. }
                | ZmtpError::WrongSocketType
                | ZmtpError::MalformedCommand(_)
                | ZmtpError::FrameTooLarge { .. }
                | ZmtpError::TooManyFrames { .. }
                | ZmtpError::UnexpectedCommand
                | ZmtpError::ProtocolViolation(_)
                | ZmtpError::PeerError(_)
        )
    }

    /// A [`ZmtpError::PeerError`] from the raw reason bytes of an ERROR command.
    /// Invalid UTF-8 is replaced rather than rejected: the reason is for humans.
    pub fn peer_error(reason: &[u8]) -> Self {
        let mut s = heapless::String::new();
        for chunk in reason.utf8_chunks() {
            for c in chunk.valid().chars() {
                if s.push(c).is_err() {
                    return ZmtpError::PeerError(s);
                }
            }
            if !chunk.invalid().is_empty() && s.push(char::REPLACEMENT_CHARACTER).is_err() {
                return ZmtpError::PeerError(s);
            }
        }
        ZmtpError::PeerError(s)
    }
}

impl fmt::Display for ZmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZmtpError::WrongSignature => f.write_str("not a ZMTP 3 greeting signature"),
            ZmtpError::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported ZMTP version {major}.{minor}")
            }
            ZmtpError::UnsupportedMechanism { mechanism } => {
                let end = mechanism.iter().position(|b| *b == 0).unwrap_or(20);
                let name = core::str::from_utf8(&mechanism[..end]).unwrap_or("<binary>");
                write!(f, "unsupported ZMTP security mechanism {name:?}")
            }
            ZmtpError::WrongSocketType => f.write_str("peer socket type is not REP or ROUTER"),
            ZmtpError::MalformedCommand(why) => write!(f, "malformed ZMTP command: {why}"),
            ZmtpError::FrameTooLarge { size, max } => {
                write!(f, "ZMTP frame of {size} bytes exceeds the limit of {max}")
            }
            ZmtpError::TooManyFrames { max } => write!(f, "reply has more than {max} frames"),
            ZmtpError::UnexpectedCommand => f.write_str("unexpected ZMTP command"),
            ZmtpError::ProtocolViolation(why) => write!(f, "ZMTP protocol violation: {why}"),
            ZmtpError::PeerError(reason) => write!(f, "peer sent ERROR: {reason}"),
            ZmtpError::HandshakeTimeout => f.write_str("ZMTP handshake timed out"),
            ZmtpError::HeartbeatTimeout => {
                f.write_str("the peer did not answer a ZMTP heartbeat (PING) in time")
            }
            ZmtpError::Busy => f.write_str("a request is already outstanding"),
            ZmtpError::Closed => f.write_str("the ZMTP connection is closed"),
            ZmtpError::BufferFull => f.write_str("buffer is full"),
            ZmtpError::InvalidConfig(why) => write!(f, "invalid ZMTP configuration: {why}"),
        }
    }
}

impl From<crate::buf::BufferFull> for ZmtpError {
    fn from(_: crate::buf::BufferFull) -> Self {
        ZmtpError::BufferFull
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ZmtpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_reason_is_truncated_and_lossy() {
        let long = [b'x'; 200];
        match ZmtpError::peer_error(&long) {
            ZmtpError::PeerError(s) => assert_eq!(s.len(), PEER_REASON_CAPACITY),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ZmtpError::peer_error(b"bad \xff auth"),
            ZmtpError::PeerError(heapless::String::try_from("bad \u{fffd} auth").unwrap())
        );
        assert!(ZmtpError::peer_error(b"x").is_remote());
        assert!(!ZmtpError::Busy.is_remote());
    }
}
