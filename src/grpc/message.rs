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
}

impl MessageError {
    /// The gRPC status this error ends a call with.
    pub const fn code(self) -> Code {
        match self {
            MessageError::TooLarge { .. } => Code::ResourceExhausted,
            MessageError::Compressed => Code::Unimplemented,
            MessageError::InvalidFlag(_)
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
    let Some(p) = body.get(..PREFIX_LEN) else {
        return Ok(());
    };
    match p[0] {
        0 => {}
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
    fn a_second_message_is_refused() {
        let mut two = framed(b"a");
        two.extend(framed(b"b"));
        assert_eq!(split_unary(&two, 10), Err(MessageError::UnexpectedMessage));
    }
}
