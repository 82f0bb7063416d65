//! Property tests: round trips through a shared context, and no panics.

use super::super::{huffman, Decoder, Encoder, Header, HuffmanPolicy, IndexingPolicy};
use super::{decode_all, table_lines, Owned};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

fn field() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, bool)> {
    let name = prop_oneof![
        Just(b":method".to_vec()),
        Just(b":path".to_vec()),
        Just(b":status".to_vec()),
        Just(b"cookie".to_vec()),
        Just(b"authorization".to_vec()),
        Just(b"content-type".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..24),
        "[a-z-]{1,16}".prop_map(|s| s.into_bytes()),
    ];
    let value = prop_oneof![
        Just(b"GET".to_vec()),
        Just(b"200".to_vec()),
        Just(b"application/grpc".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..200),
        "[ -~]{0,40}".prop_map(|s| s.into_bytes()),
    ];
    (name, value, proptest::bool::weighted(0.1))
}

fn policy() -> impl Strategy<Value = (HuffmanPolicy, IndexingPolicy)> {
    (
        prop_oneof![
            Just(HuffmanPolicy::Never),
            Just(HuffmanPolicy::Always),
            Just(HuffmanPolicy::WhenShorter)
        ],
        prop_oneof![
            Just(IndexingPolicy::Never),
            Just(IndexingPolicy::All),
            Just(IndexingPolicy::Selective)
        ],
    )
}

proptest! {
    #[test]
    fn header_lists_round_trip_with_a_shared_context(
        blocks in proptest::collection::vec(proptest::collection::vec(field(), 0..12), 1..8),
        (huff, idx) in policy(),
        table_sizes in proptest::collection::vec(prop_oneof![Just(None), (0usize..600).prop_map(Some)], 8),
    ) {
        let mut e = Encoder::<[u8; 512]>::new();
        e.set_huffman(huff);
        e.set_indexing(idx);
        let mut d = Decoder::<[u8; 512]>::new();
        d.set_max_header_list_size(usize::MAX);
        let mut out = vec![0u8; 64 * 1024];
        for (block, resize) in blocks.iter().zip(table_sizes) {
            if let Some(s) = resize {
                // The peer's SETTINGS, acknowledged: both ends learn it.
                let s = d.set_max_table_size(s);
                e.set_max_table_size(s);
            }
            let fields = block.iter().map(|(n, v, s)| Header { name: n, value: v, sensitive: *s });
            let n = e.encode(fields, &mut out).unwrap();
            let got = decode_all(&mut d, &out[..n]).unwrap();
            let want: Vec<Owned> = block.clone();
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(&g.0, &w.0);
                prop_assert_eq!(&g.1, &w.1);
                // Never-indexed on the wire when we asked for it.
                if w.2 { prop_assert!(g.2); }
            }
            prop_assert_eq!(table_lines(d.table()), table_lines(e.table()));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(
        blocks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
        scratch_len in 0usize..512,
        limit in 0usize..9000,
    ) {
        let mut d = Decoder::<[u8; 256]>::new();
        d.set_max_header_list_size(limit);
        let mut scratch = vec![0u8; scratch_len];
        for b in &blocks {
            let _ = d.decode(b, &mut scratch, |h: Header<'_>| {
                assert!(h.size() <= limit);
                Ok::<(), super::super::HpackError>(())
            });
            assert!(d.table().size() <= d.table().max_size());
        }
    }

    #[test]
    fn arbitrary_prefixed_blocks_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
        // Start with valid-looking representations to reach deeper states.
        let mut block = vec![0x40, 0x03, b'a', b'b', b'c', 0x83, 0xff, 0x00, 0x00, 0xbe];
        block.extend_from_slice(&tail);
        let mut d = Decoder::<[u8; 4096]>::new();
        let _ = decode_all(&mut d, &block);
    }

    #[test]
    fn huffman_round_trips_arbitrary_bytes(s in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut enc = vec![0u8; huffman::encoded_len(&s)];
        prop_assert_eq!(huffman::encode(&s, &mut enc), Ok(enc.len()));
        let mut dec = vec![0u8; s.len()];
        let n = huffman::decode(&enc, &mut dec).unwrap();
        prop_assert_eq!(&dec[..n], &s[..]);
    }

    #[test]
    fn huffman_decoder_never_panics(s in proptest::collection::vec(any::<u8>(), 0..64), cap in 0usize..128) {
        let mut out = vec![0u8; cap];
        let _ = huffman::decode(&s, &mut out);
    }
}
