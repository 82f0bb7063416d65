//! The 9-byte frame header every HTTP/2 frame starts with (RFC 9113 §4.1).
//!
//! ```text
//! +-----------------------------------------------+
//! |                 Length (24)                   |
//! +---------------+---------------+---------------+
//! |   Type (8)    |   Flags (8)   |
//! +-+-------------+---------------+-------------------------------+
//! |R|                 Stream Identifier (31)                      |
//! +=+=============================================================+
//! ```

use super::error::EncodeError;
use super::{FRAME_HEADER_LEN, MAX_PAYLOAD_LEN, STREAM_ID_MASK};

/// The frame type octet (RFC 9113 §6, §11.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// 0x0 DATA.
    Data,
    /// 0x1 HEADERS.
    Headers,
    /// 0x2 PRIORITY.
    Priority,
    /// 0x3 RST_STREAM.
    RstStream,
    /// 0x4 SETTINGS.
    Settings,
    /// 0x5 PUSH_PROMISE.
    PushPromise,
    /// 0x6 PING.
    Ping,
    /// 0x7 GOAWAY.
    GoAway,
    /// 0x8 WINDOW_UPDATE.
    WindowUpdate,
    /// 0x9 CONTINUATION.
    Continuation,
    /// A type this crate does not know; RFC 9113 §4.1 says to ignore it.
    Unknown(u8),
}

impl FrameKind {
    /// The kind for a wire type octet.
    pub const fn from_u8(byte: u8) -> Self {
        match byte {
            0x0 => FrameKind::Data,
            0x1 => FrameKind::Headers,
            0x2 => FrameKind::Priority,
            0x3 => FrameKind::RstStream,
            0x4 => FrameKind::Settings,
            0x5 => FrameKind::PushPromise,
            0x6 => FrameKind::Ping,
            0x7 => FrameKind::GoAway,
            0x8 => FrameKind::WindowUpdate,
            0x9 => FrameKind::Continuation,
            other => FrameKind::Unknown(other),
        }
    }

    /// The wire type octet.
    pub const fn to_u8(self) -> u8 {
        match self {
            FrameKind::Data => 0x0,
            FrameKind::Headers => 0x1,
            FrameKind::Priority => 0x2,
            FrameKind::RstStream => 0x3,
            FrameKind::Settings => 0x4,
            FrameKind::PushPromise => 0x5,
            FrameKind::Ping => 0x6,
            FrameKind::GoAway => 0x7,
            FrameKind::WindowUpdate => 0x8,
            FrameKind::Continuation => 0x9,
            FrameKind::Unknown(other) => other,
        }
    }
}

/// The flags octet. Bits are only meaningful for the frame types that define them;
/// RFC 9113 §4.1 says undefined bits are ignored on receipt and sent as zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// END_STREAM (DATA, HEADERS).
    pub const END_STREAM: u8 = 0x1;
    /// ACK (SETTINGS, PING); the same bit as END_STREAM.
    pub const ACK: u8 = 0x1;
    /// END_HEADERS (HEADERS, PUSH_PROMISE, CONTINUATION).
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED (DATA, HEADERS, PUSH_PROMISE).
    pub const PADDED: u8 = 0x8;
    /// PRIORITY (HEADERS).
    pub const PRIORITY: u8 = 0x20;

    /// True if every bit of `mask` is set.
    pub const fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }

    /// `mask` if `on`, else nothing: builds a flags byte from booleans.
    pub(crate) const fn bit(on: bool, mask: u8) -> u8 {
        if on {
            mask
        } else {
            0
        }
    }
}

/// A parsed frame header: the Repr for both reading and writing the 9 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Payload length (24 bits; the header itself is not counted).
    pub length: u32,
    /// Frame type.
    pub kind: FrameKind,
    /// Flags octet.
    pub flags: Flags,
    /// Stream identifier with the reserved bit cleared.
    pub stream_id: u32,
}

impl FrameHeader {
    /// Reads a header. Every 9-byte pattern is a valid header at this level, so this
    /// cannot fail; size and stream rules are checked by the frame parsers.
    pub const fn parse(bytes: &[u8; FRAME_HEADER_LEN]) -> Self {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *bytes;
        FrameHeader {
            length: u32::from_be_bytes([0, l0, l1, l2]),
            kind: FrameKind::from_u8(kind),
            flags: Flags(flags),
            // §4.1: the reserved bit "MUST be ignored when receiving".
            stream_id: u32::from_be_bytes([s0, s1, s2, s3]) & STREAM_ID_MASK,
        }
    }

    /// Reads a header from the start of `bytes`, or `None` if fewer than 9 bytes are given.
    pub fn parse_prefix(bytes: &[u8]) -> Option<Self> {
        bytes.first_chunk::<FRAME_HEADER_LEN>().map(Self::parse)
    }

    /// The 9 wire bytes. The length is truncated to 24 bits and the reserved bit is
    /// sent as zero (§4.1); use [`FrameHeader::emit`] to have the length checked.
    pub const fn to_bytes(&self) -> [u8; FRAME_HEADER_LEN] {
        let [_, l0, l1, l2] = self.length.to_be_bytes();
        let [s0, s1, s2, s3] = (self.stream_id & STREAM_ID_MASK).to_be_bytes();
        [l0, l1, l2, self.kind.to_u8(), self.flags.0, s0, s1, s2, s3]
    }

    /// Writes the 9 bytes at the start of `buf`; returns 9.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        if self.length > MAX_PAYLOAD_LEN {
            return Err(EncodeError::PayloadTooLarge {
                length: self.length as usize,
            });
        }
        let available = buf.len();
        let out = buf
            .first_chunk_mut::<FRAME_HEADER_LEN>()
            .ok_or(EncodeError::BufferTooSmall {
                needed: FRAME_HEADER_LEN,
                available,
            })?;
        *out = self.to_bytes();
        Ok(FRAME_HEADER_LEN)
    }
}

/// Writes fields one after another into a buffer already sized for them; every
/// write is bounds-checked so a miscounted length is an error, not a panic.
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    /// Checks that `buf` holds the whole frame, writes its header, and returns a
    /// writer positioned at the payload.
    pub(crate) fn start(
        buf: &'b mut [u8],
        kind: FrameKind,
        flags: u8,
        stream_id: u32,
        payload_len: usize,
    ) -> Result<Self, EncodeError> {
        let length = u32::try_from(payload_len)
            .ok()
            .filter(|l| *l <= MAX_PAYLOAD_LEN)
            .ok_or(EncodeError::PayloadTooLarge {
                length: payload_len,
            })?;
        let needed = FRAME_HEADER_LEN.saturating_add(payload_len);
        if buf.len() < needed {
            return Err(EncodeError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let header = FrameHeader {
            length,
            kind,
            flags: Flags(flags),
            stream_id,
        };
        let pos = header.emit(buf)?;
        Ok(Writer { buf, pos })
    }

    /// Appends `bytes`.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos.saturating_add(bytes.len());
        let available = self.buf.len();
        let out = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(EncodeError::BufferTooSmall {
                needed: end,
                available,
            })?;
        out.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// Appends `count` zero bytes (padding: §6.1 says padding octets MUST be zero when sent).
    pub(crate) fn zeros(&mut self, count: usize) -> Result<(), EncodeError> {
        let end = self.pos.saturating_add(count);
        let available = self.buf.len();
        let out = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(EncodeError::BufferTooSmall {
                needed: end,
                available,
            })?;
        out.fill(0);
        self.pos = end;
        Ok(())
    }

    /// Appends a big-endian u32.
    pub(crate) fn u32(&mut self, value: u32) -> Result<(), EncodeError> {
        self.put(&value.to_be_bytes())
    }

    /// Bytes written so far, header included.
    pub(crate) fn finish(self) -> usize {
        self.pos
    }
}

/// Reads a big-endian u32 from exactly 4 bytes.
pub(crate) const fn be_u32(bytes: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9113_section_4_1_layout_by_hand() {
        // Length 0x000102, type 0x8 (WINDOW_UPDATE), flags 0xff, R=1 and stream 0x7fffffff.
        let bytes = [0x00, 0x01, 0x02, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff];
        let h = FrameHeader::parse(&bytes);
        assert_eq!(h.length, 0x102);
        assert_eq!(h.kind, FrameKind::WindowUpdate);
        assert_eq!(h.flags, Flags(0xff));
        // The reserved bit is ignored on receipt.
        assert_eq!(h.stream_id, 0x7fff_ffff);
        // ...and sent as zero.
        assert_eq!(
            h.to_bytes(),
            [0x00, 0x01, 0x02, 0x08, 0xff, 0x7f, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn kinds_round_trip() {
        for b in 0..=u8::MAX {
            assert_eq!(FrameKind::from_u8(b).to_u8(), b);
        }
        assert_eq!(FrameKind::from_u8(0xa), FrameKind::Unknown(0xa));
    }

    #[test]
    fn emit_checks_buffer_and_length() {
        let h = FrameHeader {
            length: 0,
            kind: FrameKind::Ping,
            flags: Flags(0),
            stream_id: 0,
        };
        assert!(matches!(
            h.emit(&mut [0u8; 8]),
            Err(EncodeError::BufferTooSmall { needed: 9, .. })
        ));
        let big = FrameHeader {
            length: 1 << 24,
            ..h
        };
        assert!(matches!(
            big.emit(&mut [0u8; 9]),
            Err(EncodeError::PayloadTooLarge { .. })
        ));
        assert!(FrameHeader::parse_prefix(&[0; 8]).is_none());
    }
}
