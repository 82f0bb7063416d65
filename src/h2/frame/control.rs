//! Fixed-layout control frames: PRIORITY (RFC 9113 §6.3), RST_STREAM (§6.4),
//! PING (§6.7), GOAWAY (§6.8) and WINDOW_UPDATE (§6.9).

use super::data::saturating_u32;
use super::error::{EncodeError, FrameError};
use super::header::{be_u32, Flags, FrameHeader, FrameKind, Writer};
use super::headers::Priority;
use super::{require_connection, require_stream, FRAME_HEADER_LEN, STREAM_ID_MASK};
use crate::h2::ErrorCode;

/// A PRIORITY frame (deprecated by RFC 9113 but still parsed and checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorityFrame {
    /// The stream being prioritised (never 0).
    pub stream_id: u32,
    /// The priority fields.
    pub priority: Priority,
}

impl PriorityFrame {
    /// Parses a PRIORITY payload.
    pub fn parse(stream_id: u32, payload: &[u8]) -> Result<Self, FrameError> {
        // §6.3: PRIORITY on stream 0 is a connection error of type PROTOCOL_ERROR.
        require_stream(FrameKind::Priority, stream_id)?;
        // §6.3: a length other than 5 is a *stream* error of type FRAME_SIZE_ERROR.
        let fields: &[u8; Priority::LEN] =
            payload.try_into().map_err(|_| FrameError::PriorityLength {
                stream_id,
                length: payload.len(),
            })?;
        let priority = Priority::parse(fields);
        priority.check(stream_id)?;
        Ok(PriorityFrame {
            stream_id,
            priority,
        })
    }

    /// Writes the frame into `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::start(buf, FrameKind::Priority, 0, self.stream_id, Priority::LEN)?;
        w.put(&self.priority.to_bytes())?;
        Ok(w.finish())
    }
}

/// An RST_STREAM frame: ends one stream immediately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstStream {
    /// The stream being reset (never 0).
    pub stream_id: u32,
    /// Why.
    pub error_code: ErrorCode,
}

impl RstStream {
    /// Payload size.
    pub const LEN: usize = 4;

    /// An RST_STREAM for `stream_id` with `error_code`.
    pub const fn new(stream_id: u32, error_code: ErrorCode) -> Self {
        RstStream {
            stream_id,
            error_code,
        }
    }

    /// Parses an RST_STREAM payload.
    pub fn parse(stream_id: u32, payload: &[u8]) -> Result<Self, FrameError> {
        // §6.4: RST_STREAM on stream 0 is a connection error of type PROTOCOL_ERROR.
        require_stream(FrameKind::RstStream, stream_id)?;
        // §6.4: a length other than 4 is a connection error of type FRAME_SIZE_ERROR.
        let code: &[u8; 4] = payload
            .try_into()
            .map_err(|_| FrameError::RstStreamLength {
                length: payload.len(),
            })?;
        Ok(RstStream {
            stream_id,
            error_code: ErrorCode::from_u32(be_u32(code)),
        })
    }

    /// Writes the frame into `buf`; returns the bytes written (13).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::start(buf, FrameKind::RstStream, 0, self.stream_id, Self::LEN)?;
        w.u32(self.error_code.to_u32())?;
        Ok(w.finish())
    }
}

/// A PING frame, or its acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    /// ACK: this answers a PING carrying the same data.
    pub ack: bool,
    /// Opaque data, echoed back in the ACK.
    pub data: [u8; 8],
}

impl Ping {
    /// Payload size.
    pub const LEN: usize = 8;

    /// A PING asking for an answer.
    pub const fn new(data: [u8; 8]) -> Self {
        Ping { ack: false, data }
    }

    /// The answer to a PING carrying `data` (§6.7: same payload, ACK set).
    pub const fn ack(data: [u8; 8]) -> Self {
        Ping { ack: true, data }
    }

    /// Parses a PING payload.
    pub fn parse(flags: Flags, stream_id: u32, payload: &[u8]) -> Result<Self, FrameError> {
        // §6.7: PING on a stream other than 0 is a connection error of type PROTOCOL_ERROR.
        require_connection(FrameKind::Ping, stream_id)?;
        // §6.7: a length other than 8 is a connection error of type FRAME_SIZE_ERROR.
        let data: [u8; 8] = payload.try_into().map_err(|_| FrameError::PingLength {
            length: payload.len(),
        })?;
        Ok(Ping {
            ack: flags.has(Flags::ACK),
            data,
        })
    }

    /// Writes the frame into `buf`; returns the bytes written (17).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let flags = Flags::bit(self.ack, Flags::ACK);
        let mut w = Writer::start(buf, FrameKind::Ping, flags, 0, Self::LEN)?;
        w.put(&self.data)?;
        Ok(w.finish())
    }
}

/// A GOAWAY frame: the sender is shutting the connection down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoAway<'a> {
    /// The highest peer-initiated stream the sender may have processed.
    pub last_stream_id: u32,
    /// Why.
    pub error_code: ErrorCode,
    /// Opaque diagnostic data.
    pub debug_data: &'a [u8],
}

impl<'a> GoAway<'a> {
    /// A GOAWAY with the given fields.
    pub const fn new(last_stream_id: u32, error_code: ErrorCode, debug_data: &'a [u8]) -> Self {
        GoAway {
            last_stream_id,
            error_code,
            debug_data,
        }
    }

    /// Parses a GOAWAY payload.
    pub fn parse(stream_id: u32, payload: &'a [u8]) -> Result<Self, FrameError> {
        // §6.8: GOAWAY on a stream other than 0 is a connection error of type PROTOCOL_ERROR.
        require_connection(FrameKind::GoAway, stream_id)?;
        // §6.8 fixes 8 bytes of fields; §4.2 makes a shorter frame a FRAME_SIZE_ERROR.
        let (fixed, debug_data) =
            payload
                .split_first_chunk::<8>()
                .ok_or(FrameError::GoAwayLength {
                    length: payload.len(),
                })?;
        let [l0, l1, l2, l3, c0, c1, c2, c3] = *fixed;
        Ok(GoAway {
            // §6.8: the reserved bit is ignored on receipt.
            last_stream_id: u32::from_be_bytes([l0, l1, l2, l3]) & STREAM_ID_MASK,
            error_code: ErrorCode::from_u32(u32::from_be_bytes([c0, c1, c2, c3])),
            debug_data,
        })
    }

    /// The header this frame is sent with.
    pub fn header(&self) -> FrameHeader {
        FrameHeader {
            length: saturating_u32(self.payload_len()),
            kind: FrameKind::GoAway,
            flags: Flags(0),
            stream_id: 0,
        }
    }

    /// Payload length: 8 bytes of fields plus the debug data.
    pub fn payload_len(&self) -> usize {
        self.debug_data.len().saturating_add(8)
    }

    /// Bytes [`GoAway::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        FRAME_HEADER_LEN.saturating_add(self.payload_len())
    }

    /// Writes the frame into `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::start(buf, FrameKind::GoAway, 0, 0, self.payload_len())?;
        w.u32(self.last_stream_id & STREAM_ID_MASK)?;
        w.u32(self.error_code.to_u32())?;
        w.put(self.debug_data)?;
        Ok(w.finish())
    }
}

/// A WINDOW_UPDATE frame: more flow-control credit for a stream or (stream 0) the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowUpdate {
    /// The stream, or 0 for the connection window.
    pub stream_id: u32,
    /// Credit added, 1..=2^31-1.
    pub increment: u32,
}

impl WindowUpdate {
    /// Payload size.
    pub const LEN: usize = 4;

    /// A WINDOW_UPDATE adding `increment` to the window of `stream_id` (0: the connection).
    pub const fn new(stream_id: u32, increment: u32) -> Self {
        WindowUpdate {
            stream_id,
            increment,
        }
    }

    /// Parses a WINDOW_UPDATE payload.
    pub fn parse(stream_id: u32, payload: &[u8]) -> Result<Self, FrameError> {
        // §6.9: a length other than 4 is a connection error of type FRAME_SIZE_ERROR.
        let raw: &[u8; 4] = payload
            .try_into()
            .map_err(|_| FrameError::WindowUpdateLength {
                length: payload.len(),
            })?;
        // §6.9: the reserved bit is ignored on receipt.
        let increment = be_u32(raw) & STREAM_ID_MASK;
        // §6.9: an increment of 0 is a PROTOCOL_ERROR; `FrameError::scope` makes it a
        // stream error on a stream and a connection error on stream 0.
        if increment == 0 {
            return Err(FrameError::ZeroWindowIncrement { stream_id });
        }
        Ok(WindowUpdate {
            stream_id,
            increment,
        })
    }

    /// Writes the frame into `buf`; returns the bytes written (13). An increment of 0 or
    /// above 2^31-1 is refused, since the peer would have to treat it as an error.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        if self.increment == 0 || self.increment > STREAM_ID_MASK {
            return Err(EncodeError::InvalidField);
        }
        let mut w = Writer::start(buf, FrameKind::WindowUpdate, 0, self.stream_id, Self::LEN)?;
        w.u32(self.increment)?;
        Ok(w.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::frame::ErrorScope;

    fn code(e: FrameError) -> (ErrorCode, ErrorScope) {
        (e.error_code(), e.scope())
    }

    const PROTO_CONN: (ErrorCode, ErrorScope) = (ErrorCode::ProtocolError, ErrorScope::Connection);
    const SIZE_CONN: (ErrorCode, ErrorScope) = (ErrorCode::FrameSizeError, ErrorScope::Connection);

    #[test]
    fn priority_rules() {
        let ok = [0, 0, 0, 1, 7];
        assert_eq!(code(PriorityFrame::parse(0, &ok).unwrap_err()), PROTO_CONN);
        assert_eq!(
            code(PriorityFrame::parse(3, &ok[..4]).unwrap_err()),
            (ErrorCode::FrameSizeError, ErrorScope::Stream(3))
        );
        assert_eq!(
            code(PriorityFrame::parse(1, &ok).unwrap_err()),
            (ErrorCode::ProtocolError, ErrorScope::Stream(1))
        );
        assert_eq!(PriorityFrame::parse(3, &ok).unwrap().priority.dependency, 1);
    }

    #[test]
    fn rst_stream_rules() {
        assert_eq!(
            code(RstStream::parse(0, &[0, 0, 0, 8]).unwrap_err()),
            PROTO_CONN
        );
        assert_eq!(
            code(RstStream::parse(1, &[0, 0, 8]).unwrap_err()),
            SIZE_CONN
        );
        assert_eq!(code(RstStream::parse(1, &[0; 5]).unwrap_err()), SIZE_CONN);
        let r = RstStream::parse(1, &[0, 0, 0, 8]).unwrap();
        assert_eq!(r.error_code, ErrorCode::Cancel);
    }

    #[test]
    fn ping_rules() {
        assert_eq!(
            code(Ping::parse(Flags(0), 1, &[0; 8]).unwrap_err()),
            PROTO_CONN
        );
        assert_eq!(
            code(Ping::parse(Flags(0), 0, &[0; 7]).unwrap_err()),
            SIZE_CONN
        );
        assert_eq!(
            code(Ping::parse(Flags(0), 0, &[0; 9]).unwrap_err()),
            SIZE_CONN
        );
        assert!(Ping::parse(Flags(1), 0, &[0; 8]).unwrap().ack);
    }

    #[test]
    fn goaway_rules() {
        assert_eq!(code(GoAway::parse(1, &[0; 8]).unwrap_err()), PROTO_CONN);
        assert_eq!(code(GoAway::parse(0, &[0; 7]).unwrap_err()), SIZE_CONN);
        let g = GoAway::parse(0, &[0x80, 0, 0, 7, 0, 0, 0, 2, b'd']).unwrap();
        assert_eq!(g, GoAway::new(7, ErrorCode::InternalError, b"d"));
    }

    #[test]
    fn window_update_rules() {
        assert_eq!(
            code(WindowUpdate::parse(1, &[0; 3]).unwrap_err()),
            SIZE_CONN
        );
        assert_eq!(
            code(WindowUpdate::parse(0, &[0; 5]).unwrap_err()),
            SIZE_CONN
        );
        // Zero increment (reserved bit set does not count as credit).
        assert_eq!(
            code(WindowUpdate::parse(3, &[0x80, 0, 0, 0]).unwrap_err()),
            (ErrorCode::ProtocolError, ErrorScope::Stream(3))
        );
        assert_eq!(
            code(WindowUpdate::parse(0, &[0; 4]).unwrap_err()),
            PROTO_CONN
        );
        assert_eq!(
            WindowUpdate::parse(0, &[0x80, 0, 1, 0]).unwrap().increment,
            256
        );
        let mut buf = [0; 13];
        assert_eq!(
            WindowUpdate::new(1, 0).emit(&mut buf),
            Err(EncodeError::InvalidField)
        );
        assert_eq!(
            WindowUpdate::new(1, 1 << 31).emit(&mut buf),
            Err(EncodeError::InvalidField)
        );
    }
}
