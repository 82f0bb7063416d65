//! Every example of RFC 7541 Appendix C, decoded and re-encoded.

use super::super::{Decoder, Encoder, Header, HuffmanPolicy, IndexingPolicy};
use super::{decode_all, hex, plain, table_lines};
use std::vec::Vec;

#[test]
fn c_2_1_literal_with_indexing() {
    let mut d = Decoder::<[u8; 4096]>::new();
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(
        decode_all(&mut d, &block).unwrap(),
        plain(&[("custom-key", "custom-header")])
    );
    assert_eq!(table_lines(d.table()), ["custom-key: custom-header"]);
    assert_eq!(d.table().size(), 55);
}

#[test]
fn c_2_2_literal_without_indexing() {
    let mut d = Decoder::<[u8; 4096]>::new();
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(
        decode_all(&mut d, &block).unwrap(),
        plain(&[(":path", "/sample/path")])
    );
    assert!(d.table().is_empty());
}

#[test]
fn c_2_3_literal_never_indexed_reports_the_flag() {
    let mut d = Decoder::<[u8; 4096]>::new();
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    let got = decode_all(&mut d, &block).unwrap();
    assert_eq!(got, [(b"password".to_vec(), b"secret".to_vec(), true)]);
    assert!(d.table().is_empty());
    // Our encoder marks the same field never-indexed when asked to.
    let mut e = Encoder::<[u8; 4096]>::new();
    e.set_huffman(HuffmanPolicy::Never);
    let mut out = [0u8; 64];
    let n = e
        .encode([Header::new_sensitive(b"password", b"secret")], &mut out)
        .unwrap();
    assert_eq!(&out[..n], &block[..]);
}

#[test]
fn c_2_4_indexed_field() {
    let mut d = Decoder::<[u8; 4096]>::new();
    assert_eq!(
        decode_all(&mut d, &[0x82]).unwrap(),
        plain(&[(":method", "GET")])
    );
    assert!(d.table().is_empty());
}

struct Step {
    wire: &'static str,
    headers: &'static [(&'static str, &'static str)],
    table: &'static [&'static str],
    size: usize,
}

/// Decodes each step with one decoder, checking output and table, then
/// checks that our encoder, configured like the RFC, emits the same bytes.
fn run<const B: usize>(steps: &[Step], huffman: HuffmanPolicy) {
    let mut d = Decoder::<[u8; B]>::new();
    let mut e = Encoder::<[u8; B]>::new();
    e.set_huffman(huffman);
    e.set_indexing(IndexingPolicy::All);
    for (i, s) in steps.iter().enumerate() {
        let wire = hex(s.wire);
        assert_eq!(
            decode_all(&mut d, &wire).unwrap(),
            plain(s.headers),
            "step {i}"
        );
        assert_eq!(table_lines(d.table()), s.table, "step {i}");
        assert_eq!(d.table().size(), s.size, "step {i}");
        let mut out = [0u8; 512];
        let fields: Vec<Header<'_>> = s
            .headers
            .iter()
            .map(|(n, v)| Header::new(n.as_bytes(), v.as_bytes()))
            .collect();
        let n = e.encode(fields, &mut out).unwrap();
        assert_eq!(hex_string(&out[..n]), hex_string(&wire), "encoder step {i}");
        assert_eq!(table_lines(e.table()), s.table, "encoder step {i}");
    }
}

fn hex_string(b: &[u8]) -> std::string::String {
    b.iter().map(|x| std::format!("{x:02x}")).collect()
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const T1: &[&str] = &[":authority: www.example.com"];
const T2: &[&str] = &["cache-control: no-cache", ":authority: www.example.com"];
const T3: &[&str] = &[
    "custom-key: custom-value",
    "cache-control: no-cache",
    ":authority: www.example.com",
];

#[test]
fn c_3_requests_without_huffman() {
    run::<4096>(
        &[
            Step {
                wire: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                headers: REQ1,
                table: T1,
                size: 57,
            },
            Step {
                wire: "8286 84be 5808 6e6f 2d63 6163 6865",
                headers: REQ2,
                table: T2,
                size: 110,
            },
            Step {
                wire: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                headers: REQ3,
                table: T3,
                size: 164,
            },
        ],
        HuffmanPolicy::Never,
    );
}

#[test]
fn c_4_requests_with_huffman() {
    run::<4096>(
        &[
            Step {
                wire: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                headers: REQ1,
                table: T1,
                size: 57,
            },
            Step {
                wire: "8286 84be 5886 a8eb 1064 9cbf",
                headers: REQ2,
                table: T2,
                size: 110,
            },
            Step {
                wire: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                headers: REQ3,
                table: T3,
                size: 164,
            },
        ],
        HuffmanPolicy::Always,
    );
}

const RESP1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];
const RT1: &[&str] = &[
    "location: https://www.example.com",
    "date: Mon, 21 Oct 2013 20:13:21 GMT",
    "cache-control: private",
    ":status: 302",
];
const RT2: &[&str] = &[
    ":status: 307",
    "location: https://www.example.com",
    "date: Mon, 21 Oct 2013 20:13:21 GMT",
    "cache-control: private",
];
const RT3: &[&str] = &[
    "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    "content-encoding: gzip",
    "date: Mon, 21 Oct 2013 20:13:22 GMT",
];

#[test]
fn c_5_responses_without_huffman_evict_at_256() {
    run::<256>(
        &[
            Step {
                wire: "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                       6c65 2e63 6f6d",
                headers: RESP1,
                table: RT1,
                size: 222,
            },
            Step { wire: "4803 3330 37c1 c0bf", headers: RESP2, table: RT2, size: 222 },
            Step {
                wire: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                       3d31",
                headers: RESP3,
                table: RT3,
                size: 215,
            },
        ],
        HuffmanPolicy::Never,
    );
}

#[test]
fn c_6_responses_with_huffman_evict_at_256() {
    run::<256>(
        &[
            Step {
                wire: "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                       2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                headers: RESP1,
                table: RT1,
                size: 222,
            },
            Step { wire: "4883 640e ffc1 c0bf", headers: RESP2, table: RT2, size: 222 },
            Step {
                wire: "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                       77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                       9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                headers: RESP3,
                table: RT3,
                size: 215,
            },
        ],
        HuffmanPolicy::Always,
    );
}

#[test]
fn an_encoder_without_a_table_writes_the_literals_of_c_2_2_and_c_2_3() {
    let mut e = Encoder::never_indexing();
    e.set_huffman(HuffmanPolicy::Never);
    let mut out = [0u8; 64];
    // C.2.2: a literal header field without indexing, its name by static
    // index 4 (`:path`): exactly the RFC's bytes.
    let n = e
        .encode([Header::new(b":path", b"/sample/path")], &mut out)
        .unwrap();
    assert_eq!(&out[..n], &hex("040c 2f73 616d 706c 652f 7061 7468")[..]);
    // C.2.3: never indexed, for a sensitive field with a new name.
    let n = e
        .encode([Header::new_sensitive(b"password", b"secret")], &mut out)
        .unwrap();
    assert_eq!(
        &out[..n],
        &hex("1008 7061 7373 776f 7264 0673 6563 7265 74")[..]
    );
    // A field that would be indexed elsewhere (C.2.1 indexes it) is a
    // literal without indexing here: 0x00, new name, value.
    let n = e
        .encode([Header::new(b"custom-key", b"custom-header")], &mut out)
        .unwrap();
    assert_eq!(
        &out[..n],
        &hex("000a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")[..]
    );
    assert!(e.table().is_empty() && e.is_stateless());
    // The peer's SETTINGS_HEADER_TABLE_SIZE changes nothing: no table, no update.
    e.set_max_table_size(100);
    assert!(e.is_stateless());
    // A full-table encoder given the C.3.1 request writes the RFC's bytes,
    // indexing `:authority`; without a table the same request stays literal.
    let request = [
        Header::new(b":method", b"GET"),
        Header::new(b":scheme", b"http"),
        Header::new(b":path", b"/"),
        Header::new(b":authority", b"www.example.com"),
    ];
    let n = e.encode(request, &mut out).unwrap();
    assert_eq!(
        &out[..n],
        &hex("8286 8401 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d")[..]
    );
    let mut d = Decoder::<[u8; 4096]>::new();
    assert_eq!(
        decode_all(&mut d, &out[..n]).unwrap(),
        plain(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com")
        ])
    );
    assert!(d.table().is_empty());
}
