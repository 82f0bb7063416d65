//! DATA frames (RFC 9113 §6.1) and the padding rules shared with HEADERS and PUSH_PROMISE.

use super::error::{EncodeError, FrameError};
use super::header::{Flags, FrameHeader, FrameKind, Writer};
use super::{require_stream, FRAME_HEADER_LEN, MAX_PAYLOAD_LEN};

/// A DATA frame: a run of bytes of a stream's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Data<'a> {
    /// The stream (never 0).
    pub stream_id: u32,
    /// END_STREAM: this is the last frame the sender sends on the stream.
    pub end_stream: bool,
    /// `Some(n)` if PADDED with `n` padding bytes. Padding counts toward flow control
    /// (§6.9.1), so the connection layer needs it even though the bytes are discarded.
    pub pad_len: Option<u8>,
    /// The application data, padding removed.
    pub data: &'a [u8],
}

impl<'a> Data<'a> {
    /// An unpadded DATA frame.
    pub const fn new(stream_id: u32, data: &'a [u8], end_stream: bool) -> Self {
        Data {
            stream_id,
            end_stream,
            pad_len: None,
            data,
        }
    }

    /// Parses a DATA payload.
    pub fn parse(flags: Flags, stream_id: u32, payload: &'a [u8]) -> Result<Self, FrameError> {
        // §6.1: DATA on stream 0 is a connection error of type PROTOCOL_ERROR.
        require_stream(FrameKind::Data, stream_id)?;
        let (pad_len, rest) = split_pad_len(FrameKind::Data, flags, payload)?;
        let data = strip_padding(FrameKind::Data, pad_len, rest)?;
        Ok(Data {
            stream_id,
            end_stream: flags.has(Flags::END_STREAM),
            pad_len,
            data,
        })
    }

    /// The header this frame is sent with.
    pub fn header(&self) -> FrameHeader {
        let flags = Flags::bit(self.end_stream, Flags::END_STREAM)
            | Flags::bit(self.pad_len.is_some(), Flags::PADDED);
        FrameHeader {
            length: saturating_u32(self.payload_len()),
            kind: FrameKind::Data,
            flags: Flags(flags),
            stream_id: self.stream_id,
        }
    }

    /// Payload length: data plus padding and its length byte. This is what counts
    /// against flow-control windows (§6.9.1).
    pub fn payload_len(&self) -> usize {
        padded_len(self.pad_len, self.data.len())
    }

    /// Bytes [`Data::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        FRAME_HEADER_LEN.saturating_add(self.payload_len())
    }

    /// Writes the frame into `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let h = self.header();
        let mut w = Writer::start(buf, h.kind, h.flags.0, h.stream_id, self.payload_len())?;
        emit_padded(&mut w, self.pad_len, &[], self.data)?;
        Ok(w.finish())
    }

    /// Only the 9-byte header of an unpadded DATA frame carrying `data_len` bytes, so a
    /// caller can send it followed by its own payload buffer without copying it.
    pub fn header_only(
        stream_id: u32,
        data_len: usize,
        end_stream: bool,
    ) -> Result<[u8; FRAME_HEADER_LEN], EncodeError> {
        let length = u32::try_from(data_len)
            .ok()
            .filter(|l| *l <= MAX_PAYLOAD_LEN)
            .ok_or(EncodeError::PayloadTooLarge { length: data_len })?;
        Ok(FrameHeader {
            length,
            kind: FrameKind::Data,
            flags: Flags(Flags::bit(end_stream, Flags::END_STREAM)),
            stream_id,
        }
        .to_bytes())
    }
}

/// Payload length of padded content: the pad length byte, the content, the padding.
pub(crate) fn padded_len(pad_len: Option<u8>, content: usize) -> usize {
    match pad_len {
        Some(n) => content.saturating_add(1).saturating_add(usize::from(n)),
        None => content,
    }
}

/// Lengths above the 24-bit field are caught by `Writer::start`; this only keeps
/// `header()` total for such values.
pub(crate) fn saturating_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Splits the Pad Length byte off the front of a PADDED payload.
pub(crate) fn split_pad_len(
    kind: FrameKind,
    flags: Flags,
    payload: &[u8],
) -> Result<(Option<u8>, &[u8]), FrameError> {
    if !flags.has(Flags::PADDED) {
        return Ok((None, payload));
    }
    match payload.split_first() {
        Some((&pad_len, rest)) => Ok((Some(pad_len), rest)),
        // §4.2: a frame too small to contain mandatory data (the Pad Length field).
        None => Err(FrameError::TooShort { kind, length: 0 }),
    }
}

/// Removes `pad_len` trailing padding bytes from `rest` (what follows the pad length
/// byte and any fixed fields). Padding contents are not checked: §6.1 makes that optional.
pub(crate) fn strip_padding(
    kind: FrameKind,
    pad_len: Option<u8>,
    rest: &[u8],
) -> Result<&[u8], FrameError> {
    let Some(pad_len) = pad_len else {
        return Ok(rest);
    };
    match rest.len().checked_sub(usize::from(pad_len)) {
        Some(content) => Ok(rest.get(..content).unwrap_or_default()),
        // §6.1, §6.2, §6.6: padding as long as the payload or longer is a connection
        // error of type PROTOCOL_ERROR.
        None => Err(FrameError::PaddingTooLong { kind, pad_len }),
    }
}

/// Writes `[pad length] fixed content [padding]`.
pub(crate) fn emit_padded(
    w: &mut Writer<'_>,
    pad_len: Option<u8>,
    fixed: &[u8],
    content: &[u8],
) -> Result<(), EncodeError> {
    if let Some(n) = pad_len {
        w.put(&[n])?;
    }
    w.put(fixed)?;
    w.put(content)?;
    w.zeros(pad_len.map_or(0, usize::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::ErrorCode;

    #[test]
    fn data_on_stream_zero_is_protocol_error() {
        let e = Data::parse(Flags(0), 0, b"hi").unwrap_err();
        assert_eq!(
            e,
            FrameError::StreamIdZero {
                kind: FrameKind::Data
            }
        );
        assert_eq!(e.error_code(), ErrorCode::ProtocolError);
        assert!(e.is_connection_error());
    }

    #[test]
    fn padding_rules() {
        let padded = Flags(Flags::PADDED);
        // Pad length 2, "ab", two padding bytes (contents not checked).
        let d = Data::parse(padded, 1, &[2, b'a', b'b', 9, 9]).unwrap();
        assert_eq!((d.data, d.pad_len), (&b"ab"[..], Some(2)));
        // Padding exactly filling the rest is allowed: empty data.
        let d = Data::parse(padded, 1, &[2, 0, 0]).unwrap();
        assert_eq!(d.data, b"");
        // Padding longer than what follows the pad length byte.
        let e = Data::parse(padded, 1, &[3, 0, 0]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::ProtocolError);
        assert!(matches!(e, FrameError::PaddingTooLong { pad_len: 3, .. }));
        // PADDED with no room for the pad length byte.
        let e = Data::parse(padded, 1, &[]).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::FrameSizeError);
    }

    #[test]
    fn emit_with_padding_and_header_only() {
        let d = Data {
            stream_id: 3,
            end_stream: true,
            pad_len: Some(2),
            data: b"xy",
        };
        let mut buf = [0xaa; 32];
        let n = d.emit(&mut buf).unwrap();
        assert_eq!(n, d.buffer_len());
        assert_eq!(
            &buf[..n],
            &[0, 0, 5, 0, 0x09, 0, 0, 0, 3, 2, b'x', b'y', 0, 0]
        );
        assert_eq!(
            Data::header_only(3, 2, false).unwrap(),
            [0, 0, 2, 0, 0, 0, 0, 0, 3]
        );
        assert!(Data::header_only(3, 1 << 24, false).is_err());
        assert!(d.emit(&mut buf[..13]).is_err());
    }
}
