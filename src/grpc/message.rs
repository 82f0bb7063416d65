//! gRPC length-prefixed messages: a compressed-flag byte, a big-endian u32
//! length, then the message (grpc/doc/PROTOCOL-HTTP2.md).

use super::Code;

/// Bytes before each message.
pub const PREFIX_LEN: usize = 5;
/// Default maximum message size, as grpcio's receive limit.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// The 5-byte prefix for an uncompressed message of `len` bytes.
pub fn prefix(len: u32) -> [u8; PREFIX_LEN] {
    let l = len.to_be_bytes();
    [0, l[0], l[1], l[2], l[3]]
}

/// A received body is not exactly one acceptable message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// The message is longer than the configured limit.
    TooLarge {
        /// Its declared length.
        len: u32,
        /// The limit.
        max: usize,
    },
    /// The compressed flag is set, and no codec is configured.
    Compressed,
    /// The flag byte is neither 0 nor 1.
    InvalidFlag(u8),
    /// A unary call carried more than one message.
    UnexpectedMessage,
    /// The stream ended inside a message.
    Truncated,
    /// The stream ended without any message.
    Missing,
    /// A compressed message expands past the configured limit (a
    /// decompression bomb, say): decompression stopped at the limit.
    DecompressedTooLarge,
    /// A compressed message does not decompress with the call's encoding.
    Corrupt,
}

impl MessageError {
    /// The gRPC status this error ends a call with.
    pub const fn code(self) -> Code {
        match self {
            MessageError::TooLarge { .. } | MessageError::DecompressedTooLarge => {
                Code::ResourceExhausted
            }
            MessageError::Compressed => Code::Unimplemented,
            MessageError::Corrupt
            | MessageError::InvalidFlag(_)
            | MessageError::UnexpectedMessage
            | MessageError::Truncated
            | MessageError::Missing => Code::Internal,
        }
    }

    /// A fixed description, suitable for `grpc-message`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageError::TooLarge { .. } => "message larger than the configured maximum",
            MessageError::Compressed => "compressed messages are not supported",
            MessageError::InvalidFlag(_) => "invalid message flag",
            MessageError::UnexpectedMessage => "more than one message in a unary call",
            MessageError::Truncated => "stream ended inside a message",
            MessageError::Missing => "stream ended without a message",
            MessageError::DecompressedTooLarge => {
                "message decompresses past the configured maximum"
            }
            MessageError::Corrupt => "compressed message does not decompress",
        }
    }
}

impl core::fmt::Display for MessageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MessageError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
            MessageError::InvalidFlag(b) => write!(f, "invalid message flag {b}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Checks a prefix that has arrived, before the rest of the body: the
/// limit and the flag are known from the first five bytes.
pub fn check_prefix(body: &[u8], max: usize) -> Result<(), MessageError> {
    check_prefix_with(body, max, false)
}

/// As [`check_prefix`], accepting the compressed flag when
/// `compressed_ok` (the call named an encoding this side decodes).
pub fn check_prefix_with(body: &[u8], max: usize, compressed_ok: bool) -> Result<(), MessageError> {
    let Some(p) = body.get(..PREFIX_LEN) else {
        return Ok(());
    };
    match p[0] {
        0 => {}
        1 if compressed_ok => {}
        1 => return Err(MessageError::Compressed),
        b => return Err(MessageError::InvalidFlag(b)),
    }
    let len = u32::from_be_bytes([p[1], p[2], p[3], p[4]]);
    if usize::try_from(len).map_or(true, |l| l > max) {
        return Err(MessageError::TooLarge { len, max });
    }
    Ok(())
}

/// The whole body's length (prefix included) once the prefix has arrived.
pub fn framed_len(body: &[u8]) -> Option<usize> {
    let p = body.get(..PREFIX_LEN)?;
    let len = u32::from_be_bytes([p[1], p[2], p[3], p[4]]);
    usize::try_from(len).ok()?.checked_add(PREFIX_LEN)
}

/// One message as framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framed<'a> {
    /// The compressed flag was set: `payload` is in the call's encoding.
    pub compressed: bool,
    /// The message bytes after the prefix.
    pub payload: &'a [u8],
}

/// The first complete message of `body` and the bytes it spans (prefix
/// included), or `None` while it is still arriving. The flag and limit are
/// checked as by [`check_prefix_with`].
pub fn split_first(
    body: &[u8],
    max: usize,
    compressed_ok: bool,
) -> Result<Option<(Framed<'_>, usize)>, MessageError> {
    check_prefix_with(body, max, compressed_ok)?;
    let Some(total) = framed_len(body).filter(|&n| n <= body.len()) else {
        return Ok(None);
    };
    let framed = Framed {
        compressed: body[0] == 1,
        payload: &body[PREFIX_LEN..total],
    };
    Ok(Some((framed, total)))
}

/// The one message of a complete unary body, compressed or not.
pub fn split_unary_framed(
    body: &[u8],
    max: usize,
    compressed_ok: bool,
) -> Result<Framed<'_>, MessageError> {
    if body.is_empty() {
        return Err(MessageError::Missing);
    }
    match split_first(body, max, compressed_ok)? {
        None => Err(MessageError::Truncated),
        Some((_, total)) if total < body.len() => Err(MessageError::UnexpectedMessage),
        Some((framed, _)) => Ok(framed),
    }
}

/// A message encoding of `grpc-encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// No compression (also what an absent `grpc-encoding` means).
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// `deflate` as gRPC means it: the zlib format (RFC 1950).
    Deflate,
}

impl Encoding {
    /// The encoding a `grpc-encoding` value names, when this build decodes
    /// it (gzip and deflate need the `std` feature).
    pub fn parse(value: &[u8]) -> Option<Encoding> {
        match value {
            b"identity" => Some(Encoding::Identity),
            b"gzip" if cfg!(feature = "std") => Some(Encoding::Gzip),
            b"deflate" if cfg!(feature = "std") => Some(Encoding::Deflate),
            _ => None,
        }
    }
}

/// The `grpc-accept-encoding` this build offers: the encodings it decodes.
pub const ACCEPT_ENCODING: &str = if cfg!(feature = "std") {
    "identity,deflate,gzip"
} else {
    "identity"
};

/// Decompresses `data` in `encoding`, never producing (or allocating)
/// more than `max` bytes: a message that expands further is
/// [`MessageError::DecompressedTooLarge`], however small it was on the wire.
#[cfg(feature = "std")]
pub fn decompress(
    encoding: Encoding,
    data: &[u8],
    max: usize,
) -> Result<alloc::vec::Vec<u8>, MessageError> {
    use std::io::Read;
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = alloc::vec::Vec::new();
    let read = match encoding {
        Encoding::Identity => {
            if data.len() > max {
                return Err(MessageError::DecompressedTooLarge);
            }
            return Ok(data.to_vec());
        }
        Encoding::Gzip => flate2::read::GzDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out),
        Encoding::Deflate => flate2::read::ZlibDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out),
    };
    match read {
        Err(_) => Err(MessageError::Corrupt),
        Ok(n) if n > max => Err(MessageError::DecompressedTooLarge),
        Ok(_) => Ok(out),
    }
}

/// The one message of a complete unary body.
pub fn split_unary(body: &[u8], max: usize) -> Result<&[u8], MessageError> {
    if body.is_empty() {
        return Err(MessageError::Missing);
    }
    if body.len() < PREFIX_LEN {
        return Err(MessageError::Truncated);
    }
    check_prefix(body, max)?;
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let rest = &body[PREFIX_LEN..];
    match rest.len().cmp(&len) {
        core::cmp::Ordering::Less => Err(MessageError::Truncated),
        core::cmp::Ordering::Greater => Err(MessageError::UnexpectedMessage),
        core::cmp::Ordering::Equal => Ok(rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> std::vec::Vec<u8> {
        let mut v = prefix(body.len() as u32).to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn one_message_is_split_from_its_prefix() {
        assert_eq!(split_unary(&framed(b"arkouda"), 100), Ok(&b"arkouda"[..]));
        assert_eq!(split_unary(&framed(b""), 0), Ok(&b""[..]));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let wire = framed(b"arkouda request");
        for cut in 0..wire.len() {
            let expected = if cut == 0 {
                MessageError::Missing
            } else {
                MessageError::Truncated
            };
            assert_eq!(split_unary(&wire[..cut], 100), Err(expected), "cut {cut}");
        }
    }

    #[test]
    fn limits_and_flags_are_checked_on_the_prefix_alone() {
        assert_eq!(
            check_prefix(&prefix(11), 10),
            Err(MessageError::TooLarge { len: 11, max: 10 })
        );
        assert_eq!(check_prefix(&[0, 0, 0], 0), Ok(()));
        assert_eq!(
            check_prefix(&[1, 0, 0, 0, 1], 10),
            Err(MessageError::Compressed)
        );
        assert_eq!(
            check_prefix(&[2, 0, 0, 0, 0], 10),
            Err(MessageError::InvalidFlag(2))
        );
        assert_eq!(MessageError::Compressed.code(), Code::Unimplemented);
        assert_eq!(
            MessageError::TooLarge { len: 0, max: 0 }.code(),
            Code::ResourceExhausted
        );
    }

    #[test]
    fn messages_split_one_at_a_time() {
        let mut two = framed(b"first");
        two.extend(framed(b"second"));
        let (m, n) = split_first(&two, 100, false).unwrap().unwrap();
        assert_eq!((m.payload, m.compressed, n), (&b"first"[..], false, 10));
        assert_eq!(split_first(&two[n..n + 7], 100, false), Ok(None));
        assert_eq!(split_first(&[], 100, false), Ok(None));
        let mut flagged = framed(b"z");
        flagged[0] = 1;
        assert_eq!(
            split_first(&flagged, 100, false),
            Err(MessageError::Compressed)
        );
        assert!(
            split_first(&flagged, 100, true)
                .unwrap()
                .unwrap()
                .0
                .compressed
        );
        assert_eq!(
            split_unary_framed(&two, 100, false),
            Err(MessageError::UnexpectedMessage)
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn decompression_stops_at_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(std::vec![], flate2::Compression::best());
        gz.write_all(&std::vec![0u8; 10 * 1024 * 1024]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 20 * 1024, "{}", bomb.len());
        assert_eq!(
            decompress(Encoding::Gzip, &bomb, 1024 * 1024),
            Err(MessageError::DecompressedTooLarge)
        );
        let mut z = flate2::write::ZlibEncoder::new(std::vec![], flate2::Compression::fast());
        z.write_all(b"arkouda").unwrap();
        let small = z.finish().unwrap();
        assert_eq!(
            decompress(Encoding::Deflate, &small, 7).unwrap(),
            b"arkouda"
        );
        assert_eq!(
            decompress(Encoding::Deflate, &small, 6),
            Err(MessageError::DecompressedTooLarge)
        );
        assert_eq!(
            decompress(Encoding::Gzip, &small, 100),
            Err(MessageError::Corrupt)
        );
        assert_eq!(Encoding::parse(b"br"), None);
        assert_eq!(Encoding::parse(b"gzip"), Some(Encoding::Gzip));
    }

    #[test]
    fn a_second_message_is_refused() {
        let mut two = framed(b"a");
        two.extend(framed(b"b"));
        assert_eq!(split_unary(&two, 10), Err(MessageError::UnexpectedMessage));
    }
}
