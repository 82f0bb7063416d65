//! Percent-encoding of `grpc-message` (grpc/doc/PROTOCOL-HTTP2.md): the
//! message is UTF-8, and every byte outside 0x20..=0x7E, and `%` itself,
//! travels as `%XX`.

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn needs_escape(b: u8) -> bool {
    !(0x20..=0x7e).contains(&b) || b == b'%'
}

/// Length of `text` once percent-encoded.
pub fn encoded_len(text: &[u8]) -> usize {
    text.iter()
        .map(|&b| if needs_escape(b) { 3 } else { 1 })
        .sum()
}

/// Percent-encodes `text` into `out`, returning the bytes written, or `None`
/// when `out` is too small.
pub fn encode(text: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    for &b in text {
        if needs_escape(b) {
            let dst = out.get_mut(n..n + 3)?;
            dst.copy_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            n += 3;
        } else {
            *out.get_mut(n)? = b;
            n += 1;
        }
    }
    Some(n)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes into `out`, returning the bytes written (at most `value.len()`),
/// or `None` when `out` is too small.
///
/// A malformed `%` sequence is kept as it is: the spec asks receivers never to
/// reject or drop a status message because of its encoding.
pub fn decode(value: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        let decoded = match (b, value.get(i + 1), value.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex_value(h).zip(hex_value(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        *out.get_mut(n)? = decoded.unwrap_or(b);
        n += 1;
        i += if decoded.is_some() { 3 } else { 1 };
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        let mut out = [0u8; 64];
        let n = encode("a%b\u{e9}\n".as_bytes(), &mut out).unwrap();
        assert_eq!(&out[..n], b"a%25b%C3%A9%0A");
        assert_eq!(encoded_len("a%b\u{e9}\n".as_bytes()), n);
        let mut back = [0u8; 64];
        let m = decode(&out[..n], &mut back).unwrap();
        assert_eq!(&back[..m], "a%b\u{e9}\n".as_bytes());
    }

    #[test]
    fn malformed_sequences_pass_through() {
        let mut out = [0u8; 16];
        let n = decode(b"100%zz%4", &mut out).unwrap();
        assert_eq!(&out[..n], b"100%zz%4");
        let n = decode(b"%c3%a9", &mut out).unwrap();
        assert_eq!(&out[..n], "\u{e9}".as_bytes());
    }

    #[test]
    fn short_output_is_none() {
        assert_eq!(encode(b"%", &mut [0u8; 2]), None);
        assert_eq!(decode(b"abc", &mut [0u8; 2]), None);
    }
}
