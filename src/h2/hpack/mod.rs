//! HPACK header compression (RFC 7541), without allocation.
//!
//! - [`Decoder`] turns a complete header block into [`Header`]s handed to a
//!   callback. Names and values borrow from the block (raw literals), from the
//!   dynamic table, or from a caller-provided scratch buffer (Huffman-decoded or
//!   wrapped table entries). The header-list size is limited *while* decoding,
//!   so a block of many references to one large entry (the "HPACK bomb") is
//!   refused without expanding it.
//! - [`Encoder`] writes a header block into a caller's buffer, choosing static
//!   and dynamic table references, never-indexed literals for sensitive fields,
//!   and Huffman coding where it is shorter.
//! - Both keep their dynamic table in byte storage of the owner's choosing
//!   ([`DynamicTable`]): an inline array (HTTP/2's 4096 bytes by default), a
//!   boxed slice, or a slice the caller lends. An encoder given no table
//!   never indexes (§6.2.2 literals), so a client needs none.
//! - A block may be decoded as it arrives ([`Decoder::decode_part`]), one
//!   representation at a time, so no buffer needs to hold a whole block.
//!
//! Every malformed input is an [`HpackError`]; nothing here panics on peer data.

mod decoder;
mod encoder;
pub mod huffman;
mod huffman_table;
mod integer;
mod static_table;
mod table;
#[cfg(test)]
mod tests;

pub use decoder::{Decoder, DEFAULT_MAX_HEADER_LIST_SIZE};
pub use encoder::{Encoder, HuffmanPolicy, IndexingPolicy};
pub use table::{DynamicTable, SplitField, ENTRY_OVERHEAD};

use super::ErrorCode;
use core::fmt;

/// The SETTINGS_HEADER_TABLE_SIZE every HTTP/2 endpoint starts with (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// One header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    /// Field name; HTTP/2 requires lowercase, which is the caller's concern.
    pub name: &'a [u8],
    /// Field value.
    pub value: &'a [u8],
    /// Decoding: the field arrived as "never indexed" (§6.2.3), and an
    /// intermediary must re-encode it the same way. Encoding: keep the field
    /// out of every compression context (§7.1.3), e.g. for secrets.
    pub sensitive: bool,
}

impl<'a> Header<'a> {
    /// An ordinary header field.
    pub const fn new(name: &'a [u8], value: &'a [u8]) -> Self {
        Header {
            name,
            value,
            sensitive: false,
        }
    }

    /// A field that must never be indexed.
    pub const fn new_sensitive(name: &'a [u8], value: &'a [u8]) -> Self {
        Header {
            name,
            value,
            sensitive: true,
        }
    }

    /// Its size for table and header-list accounting: name + value + 32 (§4.1).
    pub const fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD
    }
}

/// Everything that can go wrong while decoding or encoding a header block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HpackError {
    /// An integer exceeds `u32` or uses more than five continuation bytes.
    IntegerOverflow,
    /// The block ends inside a representation.
    Truncated,
    /// Index 0, or an index past the end of the static plus dynamic table.
    InvalidIndex(u32),
    /// A Huffman string contains the EOS symbol.
    EosInString,
    /// Huffman padding is longer than 7 bits or not all ones.
    InvalidPadding,
    /// A dynamic table size update exceeds the SETTINGS_HEADER_TABLE_SIZE we advertised.
    SizeUpdateTooLarge(u32),
    /// A dynamic table size update follows a header field in the block.
    SizeUpdateNotAtStart,
    /// Our advertised table size shrank, and the block did not begin with a
    /// size update at or below the new limit (§4.2).
    SizeUpdateRequired,
    /// The decoded header list exceeds the configured maximum
    /// (SETTINGS_MAX_HEADER_LIST_SIZE). The compression context stays in sync.
    HeaderListTooLarge,
    /// The caller's scratch buffer cannot hold a decoded field.
    ScratchTooSmall,
    /// A field the dynamic table must keep is larger than the buffers the
    /// decoder was given, so the shared context cannot be kept.
    FieldTooLarge,
    /// The caller's output buffer cannot hold the encoded block.
    BufferTooSmall,
}

impl HpackError {
    /// The HTTP/2 error code to send for this error.
    ///
    /// Decoding errors are COMPRESSION_ERROR connection errors (RFC 9113
    /// §4.3) because the shared context can no longer be trusted. The
    /// exceptions: [`HeaderListTooLarge`](Self::HeaderListTooLarge) leaves the
    /// context intact, so it is a stream-level PROTOCOL_ERROR (a server may
    /// answer 431 instead), and [`BufferTooSmall`](Self::BufferTooSmall) is a
    /// local failure.
    pub const fn error_code(&self) -> ErrorCode {
        match self {
            HpackError::HeaderListTooLarge => ErrorCode::ProtocolError,
            HpackError::BufferTooSmall => ErrorCode::InternalError,
            _ => ErrorCode::CompressionError,
        }
    }

    /// False only when the decoding context survived and the connection may continue.
    pub const fn is_connection_error(&self) -> bool {
        !matches!(
            self,
            HpackError::HeaderListTooLarge | HpackError::BufferTooSmall
        )
    }
}

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HpackError::IntegerOverflow => f.write_str("HPACK integer overflow"),
            HpackError::Truncated => f.write_str("truncated HPACK block"),
            HpackError::InvalidIndex(i) => write!(f, "invalid HPACK table index {i}"),
            HpackError::EosInString => f.write_str("EOS symbol in Huffman string"),
            HpackError::InvalidPadding => f.write_str("invalid Huffman padding"),
            HpackError::SizeUpdateTooLarge(v) => {
                write!(f, "dynamic table size update {v} above advertised limit")
            }
            HpackError::SizeUpdateNotAtStart => {
                f.write_str("dynamic table size update after a header field")
            }
            HpackError::SizeUpdateRequired => {
                f.write_str("required dynamic table size update missing")
            }
            HpackError::HeaderListTooLarge => f.write_str("header list too large"),
            HpackError::ScratchTooSmall => f.write_str("HPACK scratch buffer too small"),
            HpackError::FieldTooLarge => {
                f.write_str("indexed header field larger than the decoder's buffers")
            }
            HpackError::BufferTooSmall => f.write_str("HPACK output buffer too small"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HpackError {}
