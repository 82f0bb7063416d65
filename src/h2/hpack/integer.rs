//! Prefix-coded integers (RFC 7541 §5.1).

use super::HpackError;

/// More continuation bytes than this cannot be a `u32` and only waste time.
const MAX_CONTINUATION_BYTES: usize = 5;

/// Decodes an integer whose first `prefix_bits` (1..=8) low bits live in `buf[0]`.
///
/// Returns the value and the number of bytes consumed. Values above `u32::MAX`
/// and encodings longer than five continuation bytes are rejected, because no
/// legitimate index or length needs them and unbounded loops are a DoS vector.
#[inline]
pub fn decode(buf: &[u8], prefix_bits: u8) -> Result<(u32, usize), HpackError> {
    let mask = mask(prefix_bits);
    let first = match buf.first() {
        Some(b) => u32::from(*b) & mask,
        None => return Err(HpackError::Truncated),
    };
    if first < mask {
        return Ok((first, 1));
    }
    let mut value = u64::from(first);
    let mut shift = 0u32;
    for i in 1..=MAX_CONTINUATION_BYTES {
        let b = *buf.get(i).ok_or(HpackError::Truncated)?;
        value += u64::from(b & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(HpackError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            // Bounded by the check above.
            return Ok((value as u32, i + 1));
        }
        shift += 7;
    }
    Err(HpackError::IntegerOverflow)
}

/// Encodes `value` with an N-bit prefix; `flags` supplies the high bits of the
/// first byte (the representation's pattern). Returns bytes written.
#[inline]
pub fn encode(value: u32, prefix_bits: u8, flags: u8, out: &mut [u8]) -> Result<usize, HpackError> {
    let mask = mask(prefix_bits);
    if value < mask {
        let b = out.first_mut().ok_or(HpackError::BufferTooSmall)?;
        *b = flags | value as u8;
        return Ok(1);
    }
    let needed = encoded_len(value, prefix_bits);
    let dst = out.get_mut(..needed).ok_or(HpackError::BufferTooSmall)?;
    dst[0] = flags | mask as u8;
    let mut rest = value - mask;
    let mut i = 1;
    while rest >= 0x80 {
        dst[i] = (rest as u8 & 0x7f) | 0x80;
        rest >>= 7;
        i += 1;
    }
    dst[i] = rest as u8;
    Ok(needed)
}

/// Bytes [`encode`] will write for `value` with an N-bit prefix.
#[inline]
pub fn encoded_len(value: u32, prefix_bits: u8) -> usize {
    let mask = mask(prefix_bits);
    if value < mask {
        return 1;
    }
    let mut rest = value - mask;
    let mut n = 2;
    while rest >= 0x80 {
        rest >>= 7;
        n += 1;
    }
    n
}

#[inline]
fn mask(prefix_bits: u8) -> u32 {
    debug_assert!((1..=8).contains(&prefix_bits));
    (1u32 << prefix_bits) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7541_c_1_1_ten_with_5_bit_prefix() {
        let mut buf = [0u8; 8];
        assert_eq!(encode(10, 5, 0, &mut buf), Ok(1));
        assert_eq!(buf[0], 0b0000_1010);
        assert_eq!(decode(&[0b1110_1010], 5), Ok((10, 1)));
    }

    #[test]
    fn rfc7541_c_1_2_1337_with_5_bit_prefix() {
        let mut buf = [0u8; 8];
        assert_eq!(encode(1337, 5, 0, &mut buf), Ok(3));
        assert_eq!(&buf[..3], &[0b0001_1111, 0b1001_1010, 0b0000_1010]);
        assert_eq!(
            decode(&[0b0001_1111, 0b1001_1010, 0b0000_1010], 5),
            Ok((1337, 3))
        );
    }

    #[test]
    fn rfc7541_c_1_3_42_at_octet_boundary() {
        let mut buf = [0u8; 8];
        assert_eq!(encode(42, 8, 0, &mut buf), Ok(1));
        assert_eq!(buf[0], 42);
        assert_eq!(decode(&[42], 8), Ok((42, 1)));
    }

    #[test]
    fn limits_and_bad_encodings() {
        let mut buf = [0u8; 8];
        for prefix in 1..=8u8 {
            for v in [0, 1, 30, 31, 127, 128, 255, 256, 16_383, 1 << 21, u32::MAX] {
                let n = encode(v, prefix, 0, &mut buf).unwrap();
                assert_eq!(n, encoded_len(v, prefix));
                assert_eq!(decode(&buf[..n], prefix), Ok((v, n)));
                for cut in 0..n {
                    assert_eq!(decode(&buf[..cut], prefix), Err(HpackError::Truncated));
                }
            }
        }
        // u32::MAX + 1 with a 1-bit prefix.
        assert_eq!(
            decode(&[0x01, 0xff, 0xff, 0xff, 0xff, 0x0f], 1),
            Err(HpackError::IntegerOverflow)
        );
        // Over-long: six continuation bytes of zeros.
        assert_eq!(
            decode(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 5),
            Err(HpackError::IntegerOverflow)
        );
        assert_eq!(
            encode(1337, 5, 0, &mut buf[..2]),
            Err(HpackError::BufferTooSmall)
        );
    }
}
