//! Malformed and malicious blocks: each must be a typed error, never a panic.

use super::super::{Decoder, Encoder, Header, HpackError, IndexingPolicy};
use super::{decode_all, hex, plain};
use crate::h2::ErrorCode;
use std::vec;
use std::vec::Vec;

#[test]
fn hpack_bomb_is_refused_before_expansion() {
    let mut d = Decoder::<[u8; 4096]>::new();
    d.set_max_header_list_size(16 * 1024);
    // One 4000-byte entry, then 10 000 one-byte references to it: 40 MB if expanded.
    let mut block = vec![0x40, 0x01, b'x'];
    let mut len = [0u8; 8];
    let n = super::super::integer::encode(4000, 7, 0, &mut len).unwrap();
    block.extend_from_slice(&len[..n]);
    block.extend(core::iter::repeat_n(b'v', 4000));
    block.extend(core::iter::repeat_n(0xbe, 10_000));
    let mut scratch = [0u8; 64];
    let mut delivered = 0usize;
    let r = d.decode(&block, &mut scratch, |h: Header<'_>| {
        delivered += h.size();
        Ok::<(), HpackError>(())
    });
    assert_eq!(r, Err(HpackError::HeaderListTooLarge));
    assert!(delivered <= 16 * 1024, "{delivered}");
    assert_eq!(
        HpackError::HeaderListTooLarge.error_code(),
        ErrorCode::ProtocolError
    );
    // The context survived: the next block can still use the entry.
    d.set_max_header_list_size(usize::MAX);
    let got = decode_all(&mut d, &[0xbe]).unwrap();
    assert_eq!(got[0].1.len(), 4000);
}

#[test]
fn size_updates_are_bounded_and_only_at_block_start() {
    let mut d = Decoder::<[u8; 4096]>::new();
    // 4097 with a 5-bit prefix: 0x3f, 4097 - 31 = 4066 = 0xe2 0x1f.
    assert_eq!(
        decode_all(&mut d, &[0x3f, 0xe2, 0x1f]),
        Err(HpackError::SizeUpdateTooLarge(4097))
    );
    let mut d = Decoder::<[u8; 4096]>::new();
    assert_eq!(
        decode_all(&mut d, &[0x82, 0x20]),
        Err(HpackError::SizeUpdateNotAtStart)
    );
    let mut d = Decoder::<[u8; 4096]>::new();
    // Two updates at the start are fine (§4.2).
    assert!(decode_all(&mut d, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).is_ok());
    assert_eq!(d.table().max_size(), 4096);
    assert_eq!(
        HpackError::SizeUpdateNotAtStart.error_code(),
        ErrorCode::CompressionError
    );
}

#[test]
fn shrinking_settings_requires_an_update_in_the_next_block() {
    let mut d = Decoder::<[u8; 4096]>::new();
    decode_all(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    )
    .unwrap();
    d.set_max_table_size(1000);
    d.set_max_table_size(2000);
    assert_eq!(
        decode_all(&mut d, &[0x82]),
        Err(HpackError::SizeUpdateRequired)
    );
    let mut d2 = d.clone();
    // An update to 2000 is not enough: 1000 was in force in between.
    assert_eq!(
        decode_all(&mut d2, &[0x3f, 0xb1, 0x0f, 0x82]),
        Err(HpackError::SizeUpdateRequired)
    );
    // 0 then 2000 satisfies it; an increase needs no update.
    assert!(decode_all(&mut d, &[0x20, 0x3f, 0xb1, 0x0f, 0x82]).is_ok());
    assert!(d.table().is_empty());
    d.set_max_table_size(4096);
    assert!(decode_all(&mut d, &[0x82]).is_ok());
    assert_eq!(decode_all(&mut d.clone(), &[]), Ok(Vec::new()));
}

#[test]
fn invalid_indices() {
    let mut d = Decoder::<[u8; 4096]>::new();
    assert_eq!(
        decode_all(&mut d, &[0x80]),
        Err(HpackError::InvalidIndex(0))
    );
    assert_eq!(
        decode_all(&mut d, &[0xbe]),
        Err(HpackError::InvalidIndex(62))
    );
    assert_eq!(
        decode_all(&mut d, &[0x7f, 0x00, 0x00]),
        Err(HpackError::InvalidIndex(63))
    );
    // 127 + 0xffff_ff80 = u32::MAX exactly.
    assert_eq!(
        decode_all(&mut d, &[0xff, 0x80, 0xff, 0xff, 0xff, 0x0f]),
        Err(HpackError::InvalidIndex(u32::MAX))
    );
    assert_eq!(
        decode_all(&mut d, &[0xff, 0xff, 0xff, 0xff, 0xff, 0x1f]),
        Err(HpackError::IntegerOverflow)
    );
    assert_eq!(
        decode_all(&mut d, &[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
        Err(HpackError::IntegerOverflow)
    );
}

#[test]
fn bad_huffman_literals() {
    let mut d = Decoder::<[u8; 4096]>::new();
    // Literal without indexing, name ":path" (4), Huffman value = EOS + padding.
    assert_eq!(
        decode_all(&mut d, &[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]),
        Err(HpackError::EosInString)
    );
    // Value "0" with zero padding.
    assert_eq!(
        decode_all(&mut d, &[0x04, 0x81, 0x00]),
        Err(HpackError::InvalidPadding)
    );
    // A full byte of padding.
    assert_eq!(
        decode_all(&mut d, &[0x04, 0x82, 0x07, 0xff]),
        Err(HpackError::InvalidPadding)
    );
    assert_eq!(decode_all(&mut d, &[0x04, 0x81, 0x07]).unwrap()[0].1, b"0");
}

#[test]
fn a_field_larger_than_the_scratch_is_refused_and_the_context_kept_if_it_can_be() {
    // RFC 7541 C.4.1: `:authority: www.example.com` with incremental
    // indexing, Huffman-coded. The table needs it; 4 bytes cannot hold it.
    let mut d = Decoder::<[u8; 4096]>::new();
    let block = hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
    let mut scratch = [0u8; 4];
    let r = d.decode(&block, &mut scratch, |_h: Header<'_>| {
        Ok::<(), HpackError>(())
    });
    assert_eq!(r, Err(HpackError::FieldTooLarge));
    // The same field without indexing (0x01 instead of 0x41, §6.2.2): the
    // list is refused, the table is untouched, and the next block decodes.
    let mut d = Decoder::<[u8; 4096]>::new();
    let block = hex("8286 8401 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
    let mut seen = 0;
    let r = d.decode(&block, &mut scratch, |_h: Header<'_>| {
        seen += 1;
        Ok::<(), HpackError>(())
    });
    assert_eq!(r, Err(HpackError::HeaderListTooLarge));
    assert_eq!(seen, 3, "the three indexed fields before it");
    assert!(d.table().is_empty());
    assert_eq!(
        decode_all(&mut d, &hex("8286 84")).unwrap(),
        plain(&[(":method", "GET"), (":scheme", "http"), (":path", "/")])
    );
}

#[test]
fn every_truncation_of_valid_blocks_errors_without_panicking() {
    let blocks = [
        hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
        hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"),
        hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
        hex("3fe1 1f 1008 7061 7373 776f 7264 0673 6563 7265 74"),
    ];
    for block in &blocks {
        for cut in 0..block.len() {
            let mut d = Decoder::<[u8; 4096]>::new();
            let r = decode_all(&mut d, &block[..cut]);
            // A cut at a representation boundary is a valid shorter block.
            if let Err(e) = r {
                assert!(
                    matches!(e, HpackError::Truncated | HpackError::InvalidPadding),
                    "{cut}: {e:?}"
                );
            }
        }
        let mut d = Decoder::<[u8; 4096]>::new();
        assert!(decode_all(&mut d, block).is_ok());
    }
    // Cuts inside a string literal must be Truncated.
    let mut d = Decoder::<[u8; 4096]>::new();
    assert_eq!(
        decode_all(&mut d, &blocks[2][..5]),
        Err(HpackError::Truncated)
    );
}

#[test]
fn encoder_recovers_from_a_short_buffer() {
    let mut e = Encoder::<[u8; 4096]>::new();
    e.set_indexing(IndexingPolicy::All);
    let mut d = Decoder::<[u8; 4096]>::new();
    let mut out = [0u8; 256];
    let fields = [Header::new(b"x-a", b"1111"), Header::new(b"x-b", b"2222")];
    let n = e.encode(fields, &mut out).unwrap();
    decode_all(&mut d, &out[..n]).unwrap();
    let more = [
        Header::new(b"x-c", b"3333"),
        Header::new(b"x-d", &[b'z'; 100]),
    ];
    assert_eq!(
        e.encode(more, &mut out[..20]),
        Err(HpackError::BufferTooSmall)
    );
    assert!(e.table().is_empty());
    let n = e.encode(fields, &mut out).unwrap();
    let got = decode_all(&mut d, &out[..n]).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(super::table_lines(d.table()), super::table_lines(e.table()));
}
