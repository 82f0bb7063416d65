//! Protobuf wire primitives (varints, keys, field skipping) shared by the views.
//!
//! Hand-written rather than taken from prost because prost's decoder needs an
//! allocator for its message types; these work on borrowed slices only.

use super::DecodeError;

/// The four wire types proto3 messages use, plus the deprecated group markers
/// that a decoder must still be able to skip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireType {
    /// 0: a base-128 varint.
    Varint,
    /// 1: eight little-endian bytes.
    Fixed64,
    /// 2: a varint length followed by that many bytes.
    LengthDelimited,
    /// 3: start of a (deprecated) group.
    StartGroup,
    /// 4: end of a (deprecated) group.
    EndGroup,
    /// 5: four little-endian bytes.
    Fixed32,
}

impl WireType {
    fn from_bits(bits: u64) -> Result<Self, DecodeError> {
        Ok(match bits {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::LengthDelimited,
            3 => WireType::StartGroup,
            4 => WireType::EndGroup,
            5 => WireType::Fixed32,
            other => return Err(DecodeError::InvalidWireType(other as u8)),
        })
    }
}

/// Highest field number protobuf allows (2^29 - 1).
const MAX_FIELD: u64 = (1 << 29) - 1;
/// Nesting limit for skipped groups, the same depth prost accepts, so a
/// hostile message cannot exhaust the stack of a small device.
const MAX_GROUP_DEPTH: u32 = 100;

/// Reads a varint from the front of `buf`, advancing it.
///
/// At most ten bytes, and the tenth may only carry the top bit of a u64:
/// anything longer cannot be a 64-bit value.
pub fn read_varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for i in 0..10 {
        let Some((&byte, rest)) = buf.split_first() else {
            return Err(DecodeError::Truncated);
        };
        *buf = rest;
        if i == 9 && byte > 1 {
            return Err(DecodeError::VarintTooLong);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintTooLong)
}

/// Number of bytes `value` takes as a varint.
pub const fn varint_len(value: u64) -> usize {
    // ceil(significant_bits / 7), and at least one byte for zero.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Writes `value` as a varint into `out`, returning the bytes written.
/// `out` must hold [`varint_len`] bytes; callers check capacity first.
pub fn write_varint(mut value: u64, out: &mut impl bytes::BufMut) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// Reads a field key, returning the field number and wire type.
pub fn read_key(buf: &mut &[u8]) -> Result<(u32, WireType), DecodeError> {
    let key = read_varint(buf)?;
    if key > u64::from(u32::MAX) {
        return Err(DecodeError::InvalidKey);
    }
    let wire_type = WireType::from_bits(key & 7)?;
    let field = key >> 3;
    if field == 0 || field > MAX_FIELD {
        return Err(DecodeError::InvalidKey);
    }
    Ok((field as u32, wire_type))
}

/// Splits off a length-delimited payload.
pub fn read_len_delimited<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let len = read_varint(buf)?;
    let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
    if len > buf.len() {
        return Err(DecodeError::Truncated);
    }
    let (payload, rest) = buf.split_at(len);
    *buf = rest;
    Ok(payload)
}

/// Skips the value of a field this schema does not know.
pub fn skip_field(field: u32, wire_type: WireType, buf: &mut &[u8]) -> Result<(), DecodeError> {
    skip_nested(field, wire_type, buf, 0)
}

fn skip_nested(
    field: u32,
    wire_type: WireType,
    buf: &mut &[u8],
    depth: u32,
) -> Result<(), DecodeError> {
    match wire_type {
        WireType::Varint => {
            read_varint(buf)?;
        }
        WireType::Fixed64 => advance(buf, 8)?,
        WireType::Fixed32 => advance(buf, 4)?,
        WireType::LengthDelimited => {
            read_len_delimited(buf)?;
        }
        WireType::StartGroup => {
            if depth >= MAX_GROUP_DEPTH {
                return Err(DecodeError::RecursionLimit);
            }
            loop {
                let (inner, inner_type) = read_key(buf)?;
                if inner_type == WireType::EndGroup {
                    if inner != field {
                        return Err(DecodeError::UnexpectedEndGroup);
                    }
                    break;
                }
                skip_nested(inner, inner_type, buf, depth + 1)?;
            }
        }
        WireType::EndGroup => return Err(DecodeError::UnexpectedEndGroup),
    }
    Ok(())
}

fn advance(buf: &mut &[u8], n: usize) -> Result<(), DecodeError> {
    *buf = buf.get(n..).ok_or(DecodeError::Truncated)?;
    Ok(())
}

/// One known field's value, already split from the input.
pub enum FieldValue<'a> {
    /// A varint field.
    Varint(u64),
    /// A length-delimited field.
    Bytes(&'a [u8]),
}

/// Walks every field of a message. Known fields (for which `expect` returns
/// a wire type) are handed to `on_field`; unknown fields are skipped.
pub fn for_each_field<'a>(
    mut buf: &'a [u8],
    expect: impl Fn(u32) -> Option<WireType>,
    mut on_field: impl FnMut(u32, FieldValue<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    while !buf.is_empty() {
        let (field, wire_type) = read_key(&mut buf)?;
        match expect(field) {
            None => skip_field(field, wire_type, &mut buf)?,
            Some(expected) if expected != wire_type => {
                return Err(DecodeError::WrongWireType {
                    field,
                    expected,
                    found: wire_type,
                })
            }
            Some(WireType::Varint) => on_field(field, FieldValue::Varint(read_varint(&mut buf)?))?,
            Some(_) => on_field(field, FieldValue::Bytes(read_len_delimited(&mut buf)?))?,
        }
    }
    Ok(())
}

/// Decodes a string field, naming the field in the error.
pub fn utf8(field: u32, bytes: &[u8]) -> Result<&str, DecodeError> {
    core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field })
}

/// Encoded size of a string field (key, length, bytes).
pub const fn str_field_len(field: u32, value: &str) -> usize {
    varint_len((field as u64) << 3) + varint_len(value.len() as u64) + value.len()
}

/// Writes a string field.
pub fn put_str_field(field: u32, value: &str, out: &mut impl bytes::BufMut) {
    write_varint((u64::from(field) << 3) | 2, out);
    write_varint(value.len() as u64, out);
    out.put_slice(value.as_bytes());
}

/// Encoded size of a bytes field (key, length, bytes).
pub const fn bytes_field_len(field: u32, value: &[u8]) -> usize {
    varint_len((field as u64) << 3) + varint_len(value.len() as u64) + value.len()
}

/// Writes a bytes field: the same wire shape as a string, any bytes.
pub fn put_bytes_field(field: u32, value: &[u8], out: &mut impl bytes::BufMut) {
    write_varint((u64::from(field) << 3) | 2, out);
    write_varint(value.len() as u64, out);
    out.put_slice(value);
}

/// Encoded size of a bool field set to true (key and a one-byte varint).
pub const fn bool_field_len(field: u32) -> usize {
    varint_len((field as u64) << 3) + 1
}

/// Writes a bool field set to true (proto3 omits false).
pub fn put_bool_field(field: u32, out: &mut impl bytes::BufMut) {
    write_varint(u64::from(field) << 3, out);
    out.put_u8(1);
}

/// Encoded size of an int32 field. Negative values are sign-extended to
/// 64 bits on the wire, which is why `size = -1` takes ten bytes.
pub const fn int32_field_len(field: u32, value: i32) -> usize {
    varint_len((field as u64) << 3) + varint_len(value as i64 as u64)
}

/// Writes an int32 field.
pub fn put_int32_field(field: u32, value: i32, out: &mut impl bytes::BufMut) {
    write_varint(u64::from(field) << 3, out);
    write_varint(value as i64 as u64, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_the_encoding() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut out = [0u8; 10];
            let mut slice = &mut out[..];
            write_varint(v, &mut slice);
            let written = 10 - slice.len();
            assert_eq!(written, varint_len(v), "value {v}");
            let mut input = &out[..written];
            assert_eq!(read_varint(&mut input), Ok(v));
            assert!(input.is_empty());
        }
    }

    #[test]
    fn eleven_byte_varint_is_rejected() {
        let mut input: &[u8] = &[0xff; 11];
        assert_eq!(read_varint(&mut input), Err(DecodeError::VarintTooLong));
    }

    #[test]
    fn tenth_byte_above_one_overflows_u64() {
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(read_varint(&mut input), Err(DecodeError::VarintTooLong));
    }

    #[test]
    fn groups_are_skipped_and_mismatched_ends_rejected() {
        // field 9 start group, inner field 1 varint 5, field 9 end group.
        let mut ok: &[u8] = &[0x08, 0x05, 0x4c];
        assert_eq!(skip_field(9, WireType::StartGroup, &mut ok), Ok(()));
        assert!(ok.is_empty());
        // ends with field 8's end-group marker instead.
        let mut bad: &[u8] = &[0x08, 0x05, 0x44];
        assert_eq!(
            skip_field(9, WireType::StartGroup, &mut bad),
            Err(DecodeError::UnexpectedEndGroup)
        );
    }

    #[test]
    fn deeply_nested_groups_hit_the_limit() {
        let mut input = [0x4bu8; 200]; // field 9 start group, repeated
        input[199] = 0x4c;
        let mut slice = &input[..];
        assert_eq!(
            skip_field(9, WireType::StartGroup, &mut slice),
            Err(DecodeError::RecursionLimit)
        );
    }
}
