//! `ArkoudaRequest` / `ArkoudaResponse` on the wire.
//!
//! [`ArkoudaRequestRef`] and [`ArkoudaResponseRef`] are zero-copy views: they
//! decode from a borrowed `&[u8]` and encode into any [`bytes::BufMut`]
//! (including a plain `&mut [u8]`) without allocating. With the `alloc`
//! feature the prost-generated owned types [`ArkoudaRequest`] and
//! [`ArkoudaResponse`] are available too, and convert to and from the views.

mod request;
mod response;
pub mod wire;

pub use request::{find_payload, ArkoudaRequestRef, PayloadAt};
pub use response::ArkoudaResponseRef;
pub use wire::WireType;

#[cfg(feature = "alloc")]
#[allow(missing_docs, clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/arkouda.rs"));
}
#[cfg(feature = "alloc")]
pub use generated::{ArkoudaRequest, ArkoudaResponse};

/// The gRPC method path of the Arkouda proxy's only RPC.
pub const HANDLE_REQUEST_PATH: &str = "/arkouda.Arkouda/HandleRequest";

/// Why bytes are not a valid message. Every malformed input maps to one of
/// these; the decoders never panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside a key, varint, fixed field or length-delimited payload.
    Truncated,
    /// A varint ran past ten bytes or past 64 bits.
    VarintTooLong,
    /// A key's wire type is 6 or 7, which protobuf does not define.
    InvalidWireType(u8),
    /// A key's field number is 0, above 2^29-1, or the key exceeds 32 bits.
    InvalidKey,
    /// A known field arrived with a wire type its schema type cannot have.
    WrongWireType {
        /// The field number.
        field: u32,
        /// What the schema requires.
        expected: WireType,
        /// What the input carried.
        found: WireType,
    },
    /// A string field is not valid UTF-8.
    InvalidUtf8 {
        /// The field number.
        field: u32,
    },
    /// An end-group marker without its matching start.
    UnexpectedEndGroup,
    /// Groups nested deeper than the decoder allows.
    RecursionLimit,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("protobuf message is truncated"),
            DecodeError::VarintTooLong => f.write_str("protobuf varint is longer than 64 bits"),
            DecodeError::InvalidWireType(t) => write!(f, "invalid protobuf wire type {t}"),
            DecodeError::InvalidKey => f.write_str("invalid protobuf field key"),
            DecodeError::WrongWireType {
                field,
                expected,
                found,
            } => write!(
                f,
                "field {field} has wire type {found:?}, expected {expected:?}"
            ),
            DecodeError::InvalidUtf8 { field } => write!(f, "field {field} is not valid UTF-8"),
            DecodeError::UnexpectedEndGroup => f.write_str("unexpected protobuf end-group marker"),
            DecodeError::RecursionLimit => f.write_str("protobuf groups nested too deeply"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// The output buffer cannot hold the encoded message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeError {
    /// Bytes the message needs.
    pub required: usize,
    /// Bytes the buffer had left.
    pub remaining: usize,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "buffer too small: message needs {} bytes, {} remain",
            self.required, self.remaining
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

fn check_capacity(required: usize, out: &impl bytes::BufMut) -> Result<(), EncodeError> {
    let remaining = out.remaining_mut();
    if remaining < required {
        return Err(EncodeError {
            required,
            remaining,
        });
    }
    Ok(())
}

/// `out` becomes `s`, in the memory `out` holds.
#[cfg(feature = "alloc")]
fn set_str(out: &mut alloc::string::String, s: &str) {
    out.clear();
    out.push_str(s);
}

/// `out` becomes `s`: an absent field is `None`, a present one is written
/// into the string `out` holds, if any.
#[cfg(feature = "alloc")]
fn set_optional(out: &mut Option<alloc::string::String>, s: Option<&str>) {
    match s {
        Some(s) => set_str(out.get_or_insert_with(Default::default), s),
        None => *out = None,
    }
}

/// `out` becomes `b`, in the memory `out` holds.
#[cfg(feature = "alloc")]
fn set_bytes(out: &mut alloc::vec::Vec<u8>, b: &[u8]) {
    out.clear();
    out.extend_from_slice(b);
}
