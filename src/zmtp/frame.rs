//! Frame headers (RFC 23 "Framing"): a flags byte, then the body size in one
//! byte, or in eight big-endian bytes when the LONG flag is set.
//!
//! ```text
//! flags: bit 0 MORE (another frame of this message follows)
//!        bit 1 LONG (an 8-byte size follows instead of a 1-byte one)
//!        bit 2 COMMAND (the body is a command, not message data)
//!        bits 3-7 reserved
//! ```

use super::ZmtpError;

/// The MORE flag: another frame of the same message follows.
pub const FLAG_MORE: u8 = 0x01;
/// The LONG flag: the size is 8 bytes, big-endian.
pub const FLAG_LONG: u8 = 0x02;
/// The COMMAND flag: the body is a command.
pub const FLAG_COMMAND: u8 = 0x04;
/// Longest frame header: flags plus an 8-byte size.
pub const MAX_HEADER_LEN: usize = 9;

/// A frame header: the Repr for parsing and emitting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// The body is a command (otherwise message data).
    pub command: bool,
    /// Another frame of this message follows (never set on commands).
    pub more: bool,
    /// Body length in bytes.
    pub size: u64,
}

impl FrameHeader {
    /// A message frame header.
    pub const fn message(size: u64, more: bool) -> Self {
        FrameHeader {
            command: false,
            more,
            size,
        }
    }

    /// A command frame header.
    pub const fn command(size: u64) -> Self {
        FrameHeader {
            command: true,
            more: false,
            size,
        }
    }

    /// Bytes of header a frame whose first byte is `flags` has.
    pub const fn len_for_flags(flags: u8) -> usize {
        if flags & FLAG_LONG != 0 {
            MAX_HEADER_LEN
        } else {
            2
        }
    }

    /// Bytes [`FrameHeader::emit`] writes: the short form when the size fits a
    /// byte, as RFC 23 says senders SHOULD.
    pub const fn buffer_len(&self) -> usize {
        if self.size > 255 {
            MAX_HEADER_LEN
        } else {
            2
        }
    }

    /// Parses a header at the start of `bytes`; `Ok(None)` if more bytes are
    /// needed. Returns the header and its length.
    ///
    /// Reserved flag bits are ignored, as libzmq does, so a future use of them
    /// does not cut us off. Either size form is accepted for any size.
    pub fn parse(bytes: &[u8]) -> Result<Option<(FrameHeader, usize)>, ZmtpError> {
        let Some(&flags) = bytes.first() else {
            return Ok(None);
        };
        let len = Self::len_for_flags(flags);
        let Some(size_bytes) = bytes.get(1..len) else {
            return Ok(None);
        };
        let size = size_bytes
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let header = FrameHeader {
            command: flags & FLAG_COMMAND != 0,
            more: flags & FLAG_MORE != 0,
            size,
        };
        // RFC 23 grammar: command-size = %x04 short-size | %x06 long-size.
        if header.command && header.more {
            return Err(ZmtpError::MalformedCommand("command frame with MORE set"));
        }
        Ok(Some((header, len)))
    }

    /// Writes the header at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ZmtpError> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(ZmtpError::BufferFull)?;
        let mut flags = 0;
        if self.more {
            flags |= FLAG_MORE;
        }
        if self.command {
            flags |= FLAG_COMMAND;
        }
        if len == MAX_HEADER_LEN {
            out[0] = flags | FLAG_LONG;
            out[1..].copy_from_slice(&self.size.to_be_bytes());
        } else {
            out[0] = flags;
            out[1] = self.size as u8; // fits: buffer_len chose the short form
        }
        Ok(len)
    }
}

/// Writes a whole message frame (header and body) into `buf`; returns its length.
pub fn emit_message_frame(body: &[u8], more: bool, buf: &mut [u8]) -> Result<usize, ZmtpError> {
    let header = FrameHeader::message(body.len() as u64, more);
    let total = header.buffer_len().saturating_add(body.len());
    if buf.len() < total {
        return Err(ZmtpError::BufferFull);
    }
    let n = header.emit(buf)?;
    buf[n..total].copy_from_slice(body);
    Ok(total)
}

/// Reads frame headers from bytes that arrive in any split, checking the size
/// against a limit as soon as the size is known, before any body is read.
#[derive(Clone, Debug, Default)]
pub struct FrameHeaderDecoder {
    buf: [u8; MAX_HEADER_LEN],
    len: usize,
}

impl FrameHeaderDecoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        FrameHeaderDecoder {
            buf: [0; MAX_HEADER_LEN],
            len: 0,
        }
    }

    /// Whether part of a header is buffered.
    pub fn is_partial(&self) -> bool {
        self.len > 0
    }

    /// Takes header bytes from `input` (never body bytes); returns how many it
    /// used and, when complete, the header. A size above `max` is an error.
    /// After a header is returned the decoder is empty and ready for the next.
    pub fn feed(
        &mut self,
        input: &[u8],
        max: u64,
    ) -> (usize, Result<Option<FrameHeader>, ZmtpError>) {
        let mut used = 0;
        // The first byte says how long the header is; until it is in, need 1.
        loop {
            let need = match self.buf[..self.len].first() {
                None => 1,
                Some(&flags) => FrameHeader::len_for_flags(flags),
            };
            if self.len == need {
                break;
            }
            let Some(&byte) = input.get(used) else {
                return (used, Ok(None));
            };
            self.buf[self.len] = byte;
            self.len += 1;
            used += 1;
        }
        let parsed = FrameHeader::parse(&self.buf[..self.len]);
        self.len = 0;
        let result = match parsed {
            Ok(Some((h, _))) if h.size > max => Err(ZmtpError::FrameTooLarge { size: h.size, max }),
            Ok(Some((h, _))) => Ok(Some(h)),
            Ok(None) => Err(ZmtpError::ProtocolViolation("incomplete frame header")), // unreachable by construction
            Err(e) => Err(e),
        };
        (used, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_built_headers_from_rfc_23() {
        // Short final message frame of 5 bytes: flags 0x00, size 0x05.
        assert_eq!(
            FrameHeader::parse(&[0x00, 0x05]).unwrap(),
            Some((FrameHeader::message(5, false), 2))
        );
        // Short frame with MORE: the REQ delimiter, flags 0x01, size 0.
        assert_eq!(
            FrameHeader::parse(&[0x01, 0x00]).unwrap(),
            Some((FrameHeader::message(0, true), 2))
        );
        // Long frame with MORE: flags 0x03, 8-byte size 0x0102.
        let long = [0x03, 0, 0, 0, 0, 0, 0, 0x01, 0x02];
        assert_eq!(
            FrameHeader::parse(&long).unwrap(),
            Some((FrameHeader::message(0x102, true), 9))
        );
        // Short command: flags 0x04; long command: flags 0x06.
        assert_eq!(
            FrameHeader::parse(&[0x04, 0x19]).unwrap(),
            Some((FrameHeader::command(0x19), 2))
        );
        assert_eq!(
            FrameHeader::parse(&[0x06, 0, 0, 0, 0, 0, 0, 1, 0]).unwrap(),
            Some((FrameHeader::command(256), 9))
        );
        // A command may not have MORE.
        assert!(matches!(
            FrameHeader::parse(&[0x05, 0x00]),
            Err(ZmtpError::MalformedCommand(_))
        ));
        // Short input asks for more.
        assert_eq!(FrameHeader::parse(&[]).unwrap(), None);
        assert_eq!(FrameHeader::parse(&[0x02, 0, 0]).unwrap(), None);
    }

    #[test]
    fn emit_picks_short_or_long_form() {
        let mut buf = [0u8; 9];
        assert_eq!(FrameHeader::message(255, true).emit(&mut buf), Ok(2));
        assert_eq!(&buf[..2], &[0x01, 0xff]);
        assert_eq!(FrameHeader::message(256, false).emit(&mut buf), Ok(9));
        assert_eq!(buf, [0x02, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(FrameHeader::command(300).emit(&mut buf), Ok(9));
        assert_eq!(buf[0], 0x06);
        assert_eq!(
            FrameHeader::command(3).emit(&mut buf[..1]),
            Err(ZmtpError::BufferFull)
        );
        let mut frame = [0u8; 4];
        assert_eq!(emit_message_frame(b"hi", false, &mut frame), Ok(4));
        assert_eq!(&frame, &[0x00, 0x02, b'h', b'i']);
        assert_eq!(
            emit_message_frame(b"hii", false, &mut frame),
            Err(ZmtpError::BufferFull)
        );
    }

    #[test]
    fn decoder_one_byte_at_a_time_matches_all_at_once() {
        let bytes = [0x03, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0xaa];
        let mut all = FrameHeaderDecoder::new();
        let (used, h) = all.feed(&bytes, u64::MAX);
        assert_eq!(
            (used, h.unwrap()),
            (9, Some(FrameHeader::message(0x102, true)))
        );

        let mut d = FrameHeaderDecoder::new();
        for (i, b) in bytes[..9].iter().enumerate() {
            let (used, h) = d.feed(core::slice::from_ref(b), u64::MAX);
            assert_eq!(used, 1);
            assert_eq!(h.unwrap().is_some(), i == 8);
        }
        assert!(!d.is_partial());
    }

    #[test]
    fn oversize_rejected_from_header_alone() {
        let mut d = FrameHeaderDecoder::new();
        let huge = [0x02, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let (used, r) = d.feed(&huge, 1 << 20);
        assert_eq!(used, 9);
        assert_eq!(
            r,
            Err(ZmtpError::FrameTooLarge {
                size: 0x7fff_ffff_ffff_ffff,
                max: 1 << 20
            })
        );
    }
}
