//! gRPC length-prefixed messages: a compressed-flag byte, a big-endian u32
//! length, then the message (grpc/doc/PROTOCOL-HTTP2.md).

use super::Code;
use crate::buf::Buffer;

/// Bytes before each message.
pub const PREFIX_LEN: usize = 5;
/// Default maximum message size, as grpcio's receive limit.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// The 5-byte prefix for an uncompressed message of `len` bytes.
pub fn prefix(len: u32) -> [u8; PREFIX_LEN] {
    let l = len.to_be_bytes();
    [0, l[0], l[1], l[2], l[3]]
}

/// A received message broke the rules; the call ends with this status.
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
    /// The buffer's fixed capacity cannot hold the message.
    BufferFull,
    /// A unary call received a second message.
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
            MessageError::TooLarge { .. } | MessageError::BufferFull => Code::ResourceExhausted,
            MessageError::Compressed => Code::Unimplemented,
            MessageError::InvalidFlag(_)
            | MessageError::UnexpectedMessage
            | MessageError::Truncated
            | MessageError::Missing => Code::Internal,
        }
    }
}

impl core::fmt::Display for MessageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MessageError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
            MessageError::Compressed => f.write_str("compressed messages are not supported"),
            MessageError::InvalidFlag(b) => write!(f, "invalid message flag {b}"),
            MessageError::BufferFull => f.write_str("message does not fit the buffer"),
            MessageError::UnexpectedMessage => f.write_str("more than one message in a unary call"),
            MessageError::Truncated => f.write_str("stream ended inside a message"),
            MessageError::Missing => f.write_str("stream ended without a message"),
        }
    }
}

/// Collects the one message of a unary call from DATA payloads that may
/// split it anywhere. The limit is checked on the prefix, before any body
/// byte is stored.
#[derive(Debug)]
pub struct UnaryMessage<B> {
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    body_len: Option<usize>,
    body: B,
    max: usize,
}

impl<B: Buffer> UnaryMessage<B> {
    /// An empty collector storing into `body`, refusing messages over `max` bytes.
    pub fn new(body: B, max: usize) -> Self {
        UnaryMessage {
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
            body_len: None,
            body,
            max,
        }
    }

    /// Takes the next DATA payload.
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), MessageError> {
        while !data.is_empty() {
            match self.body_len {
                None => {
                    let take = (PREFIX_LEN - self.prefix_len).min(data.len());
                    self.prefix[self.prefix_len..self.prefix_len + take]
                        .copy_from_slice(&data[..take]);
                    self.prefix_len += take;
                    data = &data[take..];
                    if self.prefix_len == PREFIX_LEN {
                        self.body_len = Some(self.check_prefix()?);
                    }
                }
                Some(len) => {
                    let missing = len - self.body.len();
                    if missing == 0 {
                        return Err(MessageError::UnexpectedMessage);
                    }
                    let take = missing.min(data.len());
                    self.body
                        .try_extend(&data[..take])
                        .map_err(|_| MessageError::BufferFull)?;
                    data = &data[take..];
                }
            }
        }
        Ok(())
    }

    fn check_prefix(&self) -> Result<usize, MessageError> {
        match self.prefix[0] {
            0 => {}
            1 => return Err(MessageError::Compressed),
            b => return Err(MessageError::InvalidFlag(b)),
        }
        let len = u32::from_be_bytes([
            self.prefix[1],
            self.prefix[2],
            self.prefix[3],
            self.prefix[4],
        ]);
        let as_usize = usize::try_from(len).unwrap_or(usize::MAX);
        if as_usize > self.max {
            return Err(MessageError::TooLarge { len, max: self.max });
        }
        if as_usize > self.body.max_capacity() {
            return Err(MessageError::BufferFull);
        }
        Ok(as_usize)
    }

    /// The complete message, once the stream has ended.
    pub fn finish(&self) -> Result<&[u8], MessageError> {
        match self.body_len {
            Some(len) if len == self.body.len() => Ok(self.body.as_slice()),
            None if self.prefix_len == 0 => Err(MessageError::Missing),
            _ => Err(MessageError::Truncated),
        }
    }

    /// Forgets the message so the collector can be reused.
    pub fn reset(&mut self) {
        self.prefix_len = 0;
        self.body_len = None;
        self.body.clear();
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
    fn any_split_reassembles_the_message() {
        let wire = framed(b"arkouda request");
        for cut in 0..=wire.len() {
            let mut m = UnaryMessage::new(heapless::Vec::<u8, 32>::new(), 32);
            m.push(&wire[..cut]).unwrap();
            if cut < wire.len() {
                assert!(m.finish().is_err());
            }
            m.push(&wire[cut..]).unwrap();
            assert_eq!(m.finish(), Ok(&b"arkouda request"[..]));
        }
        // One byte at a time.
        let mut m = UnaryMessage::new(std::vec::Vec::new(), 32);
        for b in &wire {
            m.push(core::slice::from_ref(b)).unwrap();
        }
        assert_eq!(m.finish(), Ok(&b"arkouda request"[..]));
    }

    #[test]
    fn empty_message_is_a_message() {
        let mut m = UnaryMessage::new(std::vec::Vec::new(), 0);
        assert_eq!(m.finish(), Err(MessageError::Missing));
        m.push(&prefix(0)).unwrap();
        assert_eq!(m.finish(), Ok(&b""[..]));
    }

    #[test]
    fn limits_and_flags_are_checked_on_the_prefix() {
        let mut m = UnaryMessage::new(std::vec::Vec::new(), 10);
        assert_eq!(
            m.push(&prefix(11)),
            Err(MessageError::TooLarge { len: 11, max: 10 })
        );
        assert_eq!(
            MessageError::TooLarge { len: 0, max: 0 }.code(),
            Code::ResourceExhausted
        );
        let mut m = UnaryMessage::new(std::vec::Vec::new(), 10);
        assert_eq!(m.push(&[1, 0, 0, 0, 1, 7]), Err(MessageError::Compressed));
        assert_eq!(MessageError::Compressed.code(), Code::Unimplemented);
        let mut m = UnaryMessage::new(std::vec::Vec::new(), 10);
        assert_eq!(m.push(&[2, 0, 0, 0, 0]), Err(MessageError::InvalidFlag(2)));
        let mut m = UnaryMessage::new(heapless::Vec::<u8, 4>::new(), 10);
        assert_eq!(m.push(&prefix(5)), Err(MessageError::BufferFull));
    }

    #[test]
    fn a_second_message_or_a_cut_one_is_refused() {
        let mut two = framed(b"a");
        two.extend(framed(b"b"));
        let mut m = UnaryMessage::new(std::vec::Vec::new(), 10);
        assert_eq!(m.push(&two), Err(MessageError::UnexpectedMessage));
        let mut m = UnaryMessage::new(std::vec::Vec::new(), 10);
        m.push(&framed(b"abc")[..6]).unwrap();
        assert_eq!(m.finish(), Err(MessageError::Truncated));
    }
}
