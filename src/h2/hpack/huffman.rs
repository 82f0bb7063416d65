//! Huffman coding of string literals (RFC 7541 §5.2, Appendix B).
//!
//! Decoding uses a 64-bit bit accumulator and a compile-time lookup table
//! indexed by the next `FAST_BITS` bits, which resolves every code of that
//! length or shorter (all printable ASCII that headers commonly use) in one
//! step. Longer codes fall back to canonical-code decoding, which needs only
//! per-length ranges because Appendix B is a canonical code.

use super::huffman_table::CODES;
use super::HpackError;

const EOS: u16 = 256;
const FAST_BITS: u32 = 10;
const MAX_LEN: usize = 30;

/// `len << 9 | symbol` for codes of at most `FAST_BITS` bits, 0 otherwise.
static FAST: [u16; 1 << FAST_BITS] = build_fast();

/// Symbols sorted by (length, code), for canonical decoding of long codes.
static SORTED: [u16; 257] = build_sorted();

/// Per length: first code, number of codes, offset of the first in `SORTED`.
static RANGES: [(u32, u32, u32); MAX_LEN + 1] = build_ranges();

const fn build_fast() -> [u16; 1 << FAST_BITS] {
    let mut t = [0u16; 1 << FAST_BITS];
    let mut sym = 0;
    while sym < CODES.len() {
        let (code, len) = CODES[sym];
        let len = len as u32;
        if len <= FAST_BITS {
            let start = (code << (FAST_BITS - len)) as usize;
            let n = 1usize << (FAST_BITS - len);
            let mut i = 0;
            while i < n {
                t[start + i] = ((len as u16) << 9) | sym as u16;
                i += 1;
            }
        }
        sym += 1;
    }
    t
}

const fn build_sorted() -> [u16; 257] {
    let mut out = [0u16; 257];
    let mut n = 0;
    let mut len = 1;
    while len <= MAX_LEN {
        // Within one length a canonical code assigns codes in symbol order.
        let mut sym = 0;
        while sym < CODES.len() {
            if CODES[sym].1 as usize == len {
                out[n] = sym as u16;
                n += 1;
            }
            sym += 1;
        }
        len += 1;
    }
    out
}

const fn build_ranges() -> [(u32, u32, u32); MAX_LEN + 1] {
    let mut r = [(0u32, 0u32, 0u32); MAX_LEN + 1];
    let mut offset = 0u32;
    let mut len = 1;
    while len <= MAX_LEN {
        let mut first = u32::MAX;
        let mut count = 0;
        let mut sym = 0;
        while sym < CODES.len() {
            let (code, l) = CODES[sym];
            if l as usize == len {
                if code < first {
                    first = code;
                }
                count += 1;
            }
            sym += 1;
        }
        r[len] = (if count == 0 { 0 } else { first }, count, offset);
        offset += count;
        len += 1;
    }
    r
}

/// Decodes a symbol from a left-aligned window of at least 30 valid (or
/// zero-filled) bits. Returns (symbol, code length).
#[inline(always)]
fn lookup(window: u64) -> (u16, u32) {
    let e = FAST[(window >> (64 - FAST_BITS)) as usize];
    if e != 0 {
        return (e & 0x1ff, u32::from(e >> 9));
    }
    lookup_long(window)
}

#[cold]
fn lookup_long(window: u64) -> (u16, u32) {
    let mut len = FAST_BITS as usize + 1;
    while len <= MAX_LEN {
        let (first, count, offset) = RANGES[len];
        let code = (window >> (64 - len)) as u32;
        let rel = code.wrapping_sub(first);
        if rel < count {
            let sym = SORTED.get((offset + rel) as usize).copied().unwrap_or(EOS);
            return (sym, len as u32);
        }
        len += 1;
    }
    // Unreachable for a complete code (Kraft sum is exactly 1); answering EOS
    // turns any surprise into an error rather than a panic.
    (EOS, MAX_LEN as u32)
}

/// Decodes `src` into `dst`, returning the decoded length.
///
/// Rejects the EOS symbol, padding longer than 7 bits and padding that is not
/// a prefix of EOS (all ones), as §5.2 requires.
pub fn decode(src: &[u8], dst: &mut [u8]) -> Result<usize, HpackError> {
    // Bits below the `nbits` valid ones may hold the next input bytes, read
    // ahead by the 8-byte refill; they are re-read into the same positions
    // later, and OR-ing equal bits is harmless. Past the end of `src` they are
    // zero, which the tail relies on.
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    let mut pos = 0usize;
    let mut out = 0usize;
    loop {
        if let Some(chunk) = src.get(pos..pos + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            acc |= u64::from_be_bytes(word) >> nbits;
            let take = (63 - nbits) / 8;
            pos += take as usize;
            nbits += take * 8;
        } else {
            while nbits <= 56 {
                match src.get(pos) {
                    Some(&b) => {
                        acc |= u64::from(b) << (56 - nbits);
                        nbits += 8;
                        pos += 1;
                    }
                    None => break,
                }
            }
        }
        // Here either at least 57 bits are valid or the input is exhausted.
        if nbits < MAX_LEN as u32 {
            break;
        }
        while nbits >= MAX_LEN as u32 {
            let (sym, len) = lookup(acc);
            if sym == EOS {
                return Err(HpackError::EosInString);
            }
            *dst.get_mut(out).ok_or(HpackError::ScratchTooSmall)? = sym as u8;
            out += 1;
            acc <<= len;
            nbits -= len;
        }
    }
    while nbits > 0 {
        let (sym, len) = lookup(acc);
        if len > nbits {
            // No complete code remains, so these bits are padding.
            let ones = (1u64 << nbits) - 1;
            if nbits > 7 || (acc >> (64 - nbits)) != ones {
                return Err(HpackError::InvalidPadding);
            }
            break;
        }
        if sym == EOS {
            return Err(HpackError::EosInString);
        }
        *dst.get_mut(out).ok_or(HpackError::ScratchTooSmall)? = sym as u8;
        out += 1;
        acc <<= len;
        nbits -= len;
    }
    Ok(out)
}

/// Length in bytes of the Huffman encoding of `src`.
#[inline]
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Huffman-encodes `src` into `dst`, padding with ones; returns bytes written.
pub fn encode(src: &[u8], dst: &mut [u8]) -> Result<usize, HpackError> {
    let len = encoded_len(src);
    let dst = dst.get_mut(..len).ok_or(HpackError::BufferTooSmall)?;
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    let mut chunks = dst.iter_mut();
    for &b in src {
        let (code, l) = CODES[usize::from(b)];
        acc = (acc << l) | u64::from(code);
        nbits += u32::from(l);
        while nbits >= 8 {
            nbits -= 8;
            if let Some(d) = chunks.next() {
                *d = (acc >> nbits) as u8;
            }
        }
    }
    if nbits > 0 {
        if let Some(d) = chunks.next() {
            *d = ((acc << (8 - nbits)) as u8) | (0xff >> nbits);
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    fn roundtrip(s: &[u8]) -> Vec<u8> {
        let mut enc = vec![0u8; encoded_len(s)];
        assert_eq!(encode(s, &mut enc), Ok(enc.len()));
        let mut dec = vec![0u8; s.len()];
        let n = decode(&enc, &mut dec).unwrap();
        assert_eq!(&dec[..n], s);
        enc
    }

    #[test]
    fn rfc7541_appendix_c_strings() {
        assert_eq!(
            roundtrip(b"www.example.com"),
            hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff")
        );
        assert_eq!(roundtrip(b"no-cache"), hex("a8eb 1064 9cbf"));
        assert_eq!(roundtrip(b"custom-key"), hex("25a8 49e9 5ba9 7d7f"));
        assert_eq!(roundtrip(b"custom-value"), hex("25a8 49e9 5bb8 e8b4 bf"));
        assert_eq!(roundtrip(b"302"), hex("6402"));
        assert_eq!(roundtrip(b"private"), hex("aec3 771a 4b"));
        assert_eq!(
            roundtrip(b"Mon, 21 Oct 2013 20:13:21 GMT"),
            hex("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff")
        );
        assert_eq!(
            roundtrip(b"https://www.example.com"),
            hex("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3")
        );
        assert_eq!(roundtrip(b"gzip"), hex("9bd9 ab"));
    }

    #[test]
    fn every_symbol_round_trips_and_the_code_is_canonical() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        roundtrip(&all);
        for b in 0..=255u8 {
            roundtrip(&[b]);
            roundtrip(&[b, b, b]);
        }
        let kraft: u64 = CODES.iter().map(|&(_, l)| 1u64 << (30 - l)).sum();
        assert_eq!(kraft, 1 << 30);
    }

    #[test]
    fn rejects_eos_and_bad_padding() {
        let mut out = [0u8; 16];
        // EOS (30 ones) padded with two ones.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut out),
            Err(HpackError::EosInString)
        );
        // 'a' (00011) then EOS.
        assert_eq!(
            decode(&[0x1f, 0xff, 0xff, 0xff, 0xff], &mut out),
            Err(HpackError::EosInString)
        );
        // 8 bits of ones padding: too long.
        assert_eq!(decode(&[0xff], &mut out), Err(HpackError::InvalidPadding));
        // '0' (00000) then padding 000: not ones.
        assert_eq!(decode(&[0x00], &mut out), Err(HpackError::InvalidPadding));
        // '0' then 111: fine.
        assert_eq!(decode(&[0x07], &mut out), Ok(1));
        // "a" + 11 ones of padding (a 16-bit string).
        assert_eq!(
            decode(&[0x1f, 0xff], &mut out),
            Err(HpackError::InvalidPadding)
        );
        assert_eq!(decode(&[], &mut out), Ok(0));
        assert_eq!(decode(&[0x07], &mut []), Err(HpackError::ScratchTooSmall));
    }
}
