//! Frames that carry a field block: HEADERS (RFC 9113 §6.2), PUSH_PROMISE (§6.6)
//! and CONTINUATION (§6.10). The field block fragments are handed over still
//! HPACK-encoded; reassembling CONTINUATION sequences is the connection's job.

use super::data::{emit_padded, padded_len, saturating_u32, split_pad_len, strip_padding};
use super::error::{EncodeError, FrameError};
use super::header::{be_u32, Flags, FrameHeader, FrameKind, Writer};
use super::{require_stream, FRAME_HEADER_LEN, STREAM_ID_MASK};

/// The deprecated priority fields of HEADERS and PRIORITY (RFC 9113 §5.3.2, §6.2, §6.3).
/// They are still parsed so their length and self-dependency rules can be enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// E flag: the dependency is exclusive.
    pub exclusive: bool,
    /// The stream this one depends on (31 bits).
    pub dependency: u32,
    /// The weight octet as sent: the weight minus one (0..=255 means 1..=256).
    pub weight: u8,
}

impl Priority {
    /// Wire size of the fields.
    pub const LEN: usize = 5;

    /// Reads the fields from exactly 5 bytes.
    pub const fn parse(bytes: &[u8; Self::LEN]) -> Self {
        let [d0, d1, d2, d3, weight] = *bytes;
        let dep = u32::from_be_bytes([d0, d1, d2, d3]);
        Priority {
            exclusive: dep & !STREAM_ID_MASK != 0,
            dependency: dep & STREAM_ID_MASK,
            weight,
        }
    }

    /// The 5 wire bytes.
    pub const fn to_bytes(&self) -> [u8; Self::LEN] {
        let e = if self.exclusive { !STREAM_ID_MASK } else { 0 };
        let [d0, d1, d2, d3] = ((self.dependency & STREAM_ID_MASK) | e).to_be_bytes();
        [d0, d1, d2, d3, self.weight]
    }

    /// Rejects a stream that depends on itself.
    pub(crate) fn check(&self, stream_id: u32) -> Result<(), FrameError> {
        // §5.3.1: "A stream cannot depend on itself. An endpoint MUST treat this as a
        // stream error of type PROTOCOL_ERROR."
        if self.dependency == stream_id {
            return Err(FrameError::SelfDependency { stream_id });
        }
        Ok(())
    }
}

/// A HEADERS frame: opens a stream or carries trailers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers<'a> {
    /// The stream (never 0).
    pub stream_id: u32,
    /// END_STREAM: no DATA follows this header block.
    pub end_stream: bool,
    /// END_HEADERS: the field block is complete (no CONTINUATION follows).
    pub end_headers: bool,
    /// The priority fields, if the PRIORITY flag is set.
    pub priority: Option<Priority>,
    /// `Some(n)` if PADDED with `n` padding bytes.
    pub pad_len: Option<u8>,
    /// The HPACK-encoded field block fragment.
    pub fragment: &'a [u8],
}

impl<'a> Headers<'a> {
    /// An unpadded HEADERS frame without priority fields.
    pub const fn new(
        stream_id: u32,
        fragment: &'a [u8],
        end_stream: bool,
        end_headers: bool,
    ) -> Self {
        Headers {
            stream_id,
            end_stream,
            end_headers,
            priority: None,
            pad_len: None,
            fragment,
        }
    }

    /// Parses a HEADERS payload.
    pub fn parse(flags: Flags, stream_id: u32, payload: &'a [u8]) -> Result<Self, FrameError> {
        const KIND: FrameKind = FrameKind::Headers;
        // §6.2: HEADERS on stream 0 is a connection error of type PROTOCOL_ERROR.
        require_stream(KIND, stream_id)?;
        let (pad_len, mut rest) = split_pad_len(KIND, flags, payload)?;
        let mut priority = None;
        if flags.has(Flags::PRIORITY) {
            let (fields, after) = rest.split_first_chunk::<{ Priority::LEN }>().ok_or(
                // §4.2: too small for the mandatory priority fields.
                FrameError::TooShort {
                    kind: KIND,
                    length: payload.len(),
                },
            )?;
            let p = Priority::parse(fields);
            priority = Some(p);
            rest = after;
        }
        let fragment = strip_padding(KIND, pad_len, rest)?;
        if let Some(p) = priority {
            p.check(stream_id)?;
        }
        Ok(Headers {
            stream_id,
            end_stream: flags.has(Flags::END_STREAM),
            end_headers: flags.has(Flags::END_HEADERS),
            priority,
            pad_len,
            fragment,
        })
    }

    /// The header this frame is sent with.
    pub fn header(&self) -> FrameHeader {
        let flags = Flags::bit(self.end_stream, Flags::END_STREAM)
            | Flags::bit(self.end_headers, Flags::END_HEADERS)
            | Flags::bit(self.pad_len.is_some(), Flags::PADDED)
            | Flags::bit(self.priority.is_some(), Flags::PRIORITY);
        FrameHeader {
            length: saturating_u32(self.payload_len()),
            kind: FrameKind::Headers,
            flags: Flags(flags),
            stream_id: self.stream_id,
        }
    }

    /// Payload length including priority fields and padding.
    pub fn payload_len(&self) -> usize {
        let fixed = if self.priority.is_some() {
            Priority::LEN
        } else {
            0
        };
        padded_len(self.pad_len, fixed.saturating_add(self.fragment.len()))
    }

    /// Bytes [`Headers::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        FRAME_HEADER_LEN.saturating_add(self.payload_len())
    }

    /// Writes the frame into `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let h = self.header();
        let mut w = Writer::start(buf, h.kind, h.flags.0, h.stream_id, self.payload_len())?;
        let prio = self.priority.map(|p| p.to_bytes());
        let fixed: &[u8] = prio.as_ref().map_or(&[], |p| &p[..]);
        emit_padded(&mut w, self.pad_len, fixed, self.fragment)?;
        Ok(w.finish())
    }
}

/// A PUSH_PROMISE frame: the server announces a stream it will push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushPromise<'a> {
    /// The stream the promise is associated with (never 0).
    pub stream_id: u32,
    /// END_HEADERS: the field block is complete.
    pub end_headers: bool,
    /// `Some(n)` if PADDED with `n` padding bytes.
    pub pad_len: Option<u8>,
    /// The stream being reserved (31 bits).
    pub promised_stream_id: u32,
    /// The HPACK-encoded field block fragment (the promised request's headers).
    pub fragment: &'a [u8],
}

impl<'a> PushPromise<'a> {
    /// Parses a PUSH_PROMISE payload.
    pub fn parse(flags: Flags, stream_id: u32, payload: &'a [u8]) -> Result<Self, FrameError> {
        const KIND: FrameKind = FrameKind::PushPromise;
        // §6.6: PUSH_PROMISE on stream 0 is a connection error of type PROTOCOL_ERROR.
        require_stream(KIND, stream_id)?;
        let (pad_len, rest) = split_pad_len(KIND, flags, payload)?;
        let (promised, rest) = rest.split_first_chunk::<4>().ok_or(
            // §4.2: too small for the Promised Stream ID.
            FrameError::TooShort {
                kind: KIND,
                length: payload.len(),
            },
        )?;
        let fragment = strip_padding(KIND, pad_len, rest)?;
        Ok(PushPromise {
            stream_id,
            end_headers: flags.has(Flags::END_HEADERS),
            pad_len,
            // §6.6: the reserved bit is ignored on receipt.
            promised_stream_id: be_u32(promised) & STREAM_ID_MASK,
            fragment,
        })
    }

    /// The header this frame is sent with.
    pub fn header(&self) -> FrameHeader {
        let flags = Flags::bit(self.end_headers, Flags::END_HEADERS)
            | Flags::bit(self.pad_len.is_some(), Flags::PADDED);
        FrameHeader {
            length: saturating_u32(self.payload_len()),
            kind: FrameKind::PushPromise,
            flags: Flags(flags),
            stream_id: self.stream_id,
        }
    }

    /// Payload length including the promised stream id and padding.
    pub fn payload_len(&self) -> usize {
        padded_len(self.pad_len, self.fragment.len().saturating_add(4))
    }

    /// Bytes [`PushPromise::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        FRAME_HEADER_LEN.saturating_add(self.payload_len())
    }

    /// Writes the frame into `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let h = self.header();
        let mut w = Writer::start(buf, h.kind, h.flags.0, h.stream_id, self.payload_len())?;
        let promised = (self.promised_stream_id & STREAM_ID_MASK).to_be_bytes();
        emit_padded(&mut w, self.pad_len, &promised, self.fragment)?;
        Ok(w.finish())
    }
}

/// A CONTINUATION frame: more of a field block begun by HEADERS or PUSH_PROMISE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Continuation<'a> {
    /// The stream (never 0).
    pub stream_id: u32,
    /// END_HEADERS: the field block is complete.
    pub end_headers: bool,
    /// The HPACK-encoded field block fragment.
    pub fragment: &'a [u8],
}

impl<'a> Continuation<'a> {
    /// Parses a CONTINUATION payload.
    pub fn parse(flags: Flags, stream_id: u32, payload: &'a [u8]) -> Result<Self, FrameError> {
        // §6.10: CONTINUATION on stream 0 is a connection error of type PROTOCOL_ERROR.
        require_stream(FrameKind::Continuation, stream_id)?;
        Ok(Continuation {
            stream_id,
            end_headers: flags.has(Flags::END_HEADERS),
            fragment: payload,
        })
    }

    /// The header this frame is sent with.
    pub fn header(&self) -> FrameHeader {
        FrameHeader {
            length: saturating_u32(self.fragment.len()),
            kind: FrameKind::Continuation,
            flags: Flags(Flags::bit(self.end_headers, Flags::END_HEADERS)),
            stream_id: self.stream_id,
        }
    }

    /// Bytes [`Continuation::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        FRAME_HEADER_LEN.saturating_add(self.fragment.len())
    }

    /// Writes the frame into `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let h = self.header();
        let mut w = Writer::start(buf, h.kind, h.flags.0, h.stream_id, self.fragment.len())?;
        w.put(self.fragment)?;
        Ok(w.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::frame::ErrorScope;
    use crate::h2::ErrorCode;

    #[test]
    fn field_block_frames_on_stream_zero_are_protocol_errors() {
        let e = Headers::parse(Flags(0), 0, b"").unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::ProtocolError);
        let e = PushPromise::parse(Flags(0), 0, &[0, 0, 0, 2]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::ProtocolError);
        let e = Continuation::parse(Flags(0), 0, b"").unwrap_err();
        assert_eq!(
            e,
            FrameError::StreamIdZero {
                kind: FrameKind::Continuation
            }
        );
        assert!(e.is_connection_error());
    }

    #[test]
    fn headers_with_priority_and_padding() {
        let flags = Flags(Flags::PADDED | Flags::PRIORITY | Flags::END_HEADERS);
        // pad 1, E=1 dep 3, weight 15, fragment "ab", 1 pad byte.
        let p = [1, 0x80, 0, 0, 3, 15, b'a', b'b', 0];
        let h = Headers::parse(flags, 5, &p).unwrap();
        assert_eq!(
            h.priority,
            Some(Priority {
                exclusive: true,
                dependency: 3,
                weight: 15
            })
        );
        assert_eq!(
            (h.fragment, h.pad_len, h.end_headers),
            (&b"ab"[..], Some(1), true)
        );
        let mut buf = [0; 32];
        let n = h.emit(&mut buf).unwrap();
        assert_eq!(&buf[9..n], &p);
    }

    #[test]
    fn headers_self_dependency_is_stream_error() {
        let p = [0, 0, 0, 5, 16];
        let e = Headers::parse(Flags(Flags::PRIORITY), 5, &p).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::ProtocolError);
        assert_eq!(e.scope(), ErrorScope::Stream(5));
    }

    #[test]
    fn headers_too_short_for_priority_or_padding() {
        let e = Headers::parse(Flags(Flags::PRIORITY), 1, &[0, 0, 0]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::FrameSizeError);
        let e = Headers::parse(Flags(Flags::PADDED), 1, &[4, 1, 2]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::ProtocolError);
        // Padding may not eat into the priority fields either.
        let flags = Flags(Flags::PADDED | Flags::PRIORITY);
        let e = Headers::parse(flags, 1, &[1, 0, 0, 0, 3, 0]).unwrap_err();
        assert!(matches!(e, FrameError::PaddingTooLong { .. }));
    }

    #[test]
    fn push_promise_fields() {
        let flags = Flags(Flags::PADDED | Flags::END_HEADERS);
        let p = [2, 0x80, 0, 0, 4, b'x', 0, 0];
        let pp = PushPromise::parse(flags, 1, &p).unwrap();
        // Reserved bit ignored.
        assert_eq!(pp.promised_stream_id, 4);
        assert_eq!(pp.fragment, b"x");
        let e = PushPromise::parse(Flags(0), 1, &[0, 0, 2]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::FrameSizeError);
        let e = PushPromise::parse(Flags(Flags::PADDED), 1, &[2, 0, 0, 0, 2, 0]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::ProtocolError);
    }
}
