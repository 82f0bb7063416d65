//! What the client and server share: options, call ids, statuses, and the
//! reading of a finished stream.

use core::time::Duration;

use super::message;
use super::{percent, Code};
use crate::buf::Buffer;
use crate::h2::conn::{Connection, Storage};
use crate::h2::header_list::HeaderIter;
use crate::h2::stream::{BodyLimit, Stream};
use crate::h2::{Config, ErrorCode};

/// Identifies one call on a connection (its HTTP/2 stream id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u32);

/// Settings of a gRPC connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The HTTP/2 limits. `max_body_size` is derived from `max_message_size`.
    pub h2: Config,
    /// Largest message sent or received; larger ones end the call with
    /// RESOURCE_EXHAUSTED (default 4 MiB, as grpcio).
    pub max_message_size: usize,
    /// Upper bound on any deadline a peer asks for with `grpc-timeout`.
    pub max_deadline: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            h2: Config::default(),
            max_message_size: message::DEFAULT_MAX_MESSAGE_SIZE,
            max_deadline: Duration::from_secs(24 * 3600),
        }
    }
}

impl Options {
    /// Most heap a gRPC `Server<GrowableStorage>` or `Client<GrowableStorage>`
    /// built with these options holds whatever its peer sends, while its
    /// application answers and releases calls between inputs: the HTTP/2
    /// connection's bound for the derived config
    /// ([`GrowableStorage::heap_bound`](crate::h2::conn::GrowableStorage::heap_bound)).
    /// Responses the application queues come on top.
    #[cfg(feature = "alloc")]
    pub fn heap_bound(&self) -> usize {
        use crate::h2::conn::{Connection, GrowableStorage};
        use core::mem::size_of;
        let wrapper = size_of::<super::Server<GrowableStorage>>()
            .max(size_of::<super::Client<GrowableStorage>>())
            - size_of::<Connection<GrowableStorage>>();
        GrowableStorage::heap_bound(&self.h2_config()) + wrapper
    }

    /// The HTTP/2 config with the body limit set for one message and its prefix.
    pub(crate) fn h2_config(&self) -> Config {
        Config {
            max_body_size: self.max_message_size.saturating_add(message::PREFIX_LEN),
            ..self.h2
        }
    }
}

/// A call's outcome other than OK: a gRPC code and its message.
///
/// `message` is the `grpc-message` as received (percent-encoded); use
/// [`Status::message_into`] or (with `alloc`) [`Status::message`] for its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status<'a> {
    /// The gRPC status code.
    pub code: Code,
    /// The percent-encoded `grpc-message`, possibly empty.
    pub raw_message: &'a [u8],
}

impl<'a> Status<'a> {
    /// A status with a plain-ASCII message that needs no encoding.
    pub const fn new(code: Code, message: &'a str) -> Self {
        Status {
            code,
            raw_message: message.as_bytes(),
        }
    }

    /// Whether the status stands for an HTTP/2 stream reset rather than a
    /// status the server sent (so a closed connection can be told apart).
    pub fn is_reset(&self) -> bool {
        self.raw_message == RESET_BY_PEER.as_bytes() || self.raw_message == RESET_LOCALLY.as_bytes()
    }

    /// Decodes the message into `buf`; invalid UTF-8 becomes an error.
    pub fn message_into<'b>(&self, buf: &'b mut [u8]) -> Option<&'b str> {
        let n = percent::decode(self.raw_message, buf)?;
        core::str::from_utf8(&buf[..n]).ok()
    }

    /// The decoded message (invalid UTF-8 replaced).
    #[cfg(feature = "alloc")]
    pub fn message(&self) -> alloc::string::String {
        let mut buf = alloc::vec![0u8; self.raw_message.len()];
        let n = percent::decode(self.raw_message, &mut buf).unwrap_or(0);
        alloc::string::String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl core::fmt::Display for Status<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.code)?;
        if !self.raw_message.is_empty() {
            f.write_str(": ")?;
            let mut buf = [0u8; 256];
            match self.message_into(&mut buf) {
                Some(text) => f.write_str(text)?,
                None => f.write_str(&alloc_free_lossy(self.raw_message))?,
            }
        }
        Ok(())
    }
}

fn alloc_free_lossy(raw: &[u8]) -> heapless::String<256> {
    let mut s = heapless::String::new();
    for &b in raw.iter().take(255) {
        let _ = s.push(if b.is_ascii() { b as char } else { '?' });
    }
    s
}

const RESET_BY_PEER: &str = "stream reset by the server";
const RESET_LOCALLY: &str = "stream reset";

/// The gRPC code for an HTTP/2 stream reset (grpc/doc/PROTOCOL-HTTP2.md, "Errors").
pub const fn code_for_reset(code: ErrorCode) -> Code {
    match code {
        ErrorCode::RefusedStream => Code::Unavailable,
        ErrorCode::Cancel => Code::Cancelled,
        ErrorCode::EnhanceYourCalm => Code::ResourceExhausted,
        ErrorCode::InadequateSecurity => Code::PermissionDenied,
        _ => Code::Internal,
    }
}

/// The bit of a stream's tag gRPC sets once the call's outcome is reported
/// (the stream may end and then be reset; the application hears of it once).
pub(crate) const REPORTED: u8 = 1;

/// Marks a call's outcome reported; true the first time only.
pub(crate) fn mark_reported<S: Storage>(conn: &mut Connection<S>, id: u32) -> bool {
    match conn.stream(id).map(|s| s.tag()) {
        Some(tag) if tag & REPORTED == 0 => {
            conn.set_tag(id, tag | REPORTED);
            true
        }
        _ => false,
    }
}

/// Once a message's prefix has arrived, tells the connection how long the
/// body will be, so a growable body grows in few steps to exactly its size.
/// A length is only the peer's word: at most as much again as has arrived
/// (or 4 KiB) is reserved, so a 5-byte prefix announcing megabytes reserves
/// nothing the peer has not paid for. Nothing is reserved past `max_body`.
pub(crate) fn expect_body<S: Storage>(conn: &mut Connection<S>, id: u32, max_body: usize) {
    let Some(body) = conn.stream(id).map(|s| s.body()) else {
        return;
    };
    if let Some(len) = message::framed_len(body).filter(|&len| len <= max_body) {
        conn.grow_body_toward(id, len);
    }
}

/// Reads a finished client stream: the response message or the status.
pub(crate) fn response<'s, H: Buffer, B: Buffer>(
    stream: &'s Stream<H, B>,
    max_message_size: usize,
) -> Result<&'s [u8], Status<'s>> {
    if stream.timed_out() {
        return Err(Status::new(Code::DeadlineExceeded, "deadline exceeded"));
    }
    if let Some((code, remote)) = stream.reset() {
        let text = if remote {
            "stream reset by the server"
        } else {
            "stream reset"
        };
        return Err(Status::new(code_for_reset(code), text));
    }
    let headers = stream.headers();
    let http_status = headers.clone().get(b":status");
    // Trailers-only responses carry the status in the only header block.
    let status_block = stream.trailers().unwrap_or(headers.clone());
    let grpc_status = status_block.clone().get(b"grpc-status");
    let grpc_message = status_block.get(b"grpc-message").unwrap_or_default();
    let is_grpc = headers
        .get(b"content-type")
        .is_some_and(|ct| ct.starts_with(b"application/grpc"));
    if http_status != Some(b"200") {
        let code = http_status
            .and_then(parse_u16)
            .map_or(Code::Internal, Code::from_http_status);
        return Err(Status::new(code, "non-200 HTTP status"));
    }
    let Some(grpc_status) = grpc_status else {
        let code = if is_grpc {
            Code::Internal
        } else {
            Code::Unknown
        };
        return Err(Status::new(code, "response without grpc-status"));
    };
    let code = Code::parse(grpc_status).unwrap_or(Code::Unknown);
    if code != Code::Ok {
        return Err(Status {
            code,
            raw_message: grpc_message,
        });
    }
    match stream.body_limit() {
        None => {}
        Some(BodyLimit::Stream) => {
            return Err(Status::new(
                Code::ResourceExhausted,
                "response larger than the maximum message size",
            ))
        }
        Some(limit) => return Err(Status::new(Code::ResourceExhausted, limit.as_str())),
    }
    message::split_unary(stream.body(), max_message_size)
        .map_err(|e| Status::new(e.code(), e.as_str()))
}

fn parse_u16(v: &[u8]) -> Option<u16> {
    core::str::from_utf8(v).ok()?.parse().ok()
}

/// Custom metadata of a header list: every field that is not a pseudo-header
/// or one gRPC itself defines.
pub fn custom_metadata(headers: HeaderIter<'_>) -> impl Iterator<Item = (&[u8], &[u8])> {
    headers.filter(|(name, _)| {
        !name.starts_with(b":")
            && !matches!(
                *name,
                b"content-type"
                    | b"te"
                    | b"grpc-timeout"
                    | b"grpc-encoding"
                    | b"grpc-accept-encoding"
                    | b"user-agent"
            )
    })
}

/// Whether `key` may be sent as metadata: lowercase ASCII letters, digits,
/// `-`, `_` and `.`, not starting with `grpc-` (reserved) or `:`.
pub fn valid_metadata_key(key: &[u8]) -> bool {
    !key.is_empty()
        && !key.starts_with(b"grpc-")
        && key.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

/// Whether an ASCII metadata value is printable (0x20..=0x7E), as gRPC requires.
pub fn valid_metadata_value(value: &[u8]) -> bool {
    value.iter().all(|&b| (0x20..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_map_as_the_grpc_spec_says() {
        assert_eq!(code_for_reset(ErrorCode::RefusedStream), Code::Unavailable);
        assert_eq!(code_for_reset(ErrorCode::Cancel), Code::Cancelled);
        assert_eq!(
            code_for_reset(ErrorCode::EnhanceYourCalm),
            Code::ResourceExhausted
        );
        assert_eq!(code_for_reset(ErrorCode::ProtocolError), Code::Internal);
        assert_eq!(code_for_reset(ErrorCode::NoError), Code::Internal);
    }

    #[test]
    fn metadata_keys_and_values_are_checked() {
        assert!(valid_metadata_key(b"x-request-id"));
        assert!(valid_metadata_key(b"trace.bin"));
        assert!(!valid_metadata_key(b"X-Upper"));
        assert!(!valid_metadata_key(b"grpc-status"));
        assert!(!valid_metadata_key(b""));
        assert!(valid_metadata_value(b"plain text"));
        assert!(!valid_metadata_value("é".as_bytes()));
    }

    #[test]
    fn status_messages_decode() {
        let s = Status {
            code: Code::Aborted,
            raw_message: b"caf%C3%A9 100%25",
        };
        let mut buf = [0u8; 32];
        assert_eq!(s.message_into(&mut buf), Some("café 100%"));
        assert_eq!(std::format!("{s}"), "ABORTED: café 100%");
    }
}
