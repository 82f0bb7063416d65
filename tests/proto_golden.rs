//! Golden bytes from the protocol description (DESIGN.md, the wire facts that
//! grpcio and tonic clients put on the wire) and protobuf decoding rules.

use arkwire::proto::{ArkoudaRequestRef, ArkoudaResponseRef, DecodeError, WireType};
use prost::Message;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const CONNECT: &str =
    "0a06 6b6a796f7374 1a07 636f6e6e656374 2206 535452494e47 28ffffffffffffffffff01";
const GETCONFIG: &str = "0a06 6b6a796f7374 1a09 676574636f6e666967 2206 535452494e47 3202 5b5d";

fn connect() -> ArkoudaRequestRef<'static> {
    ArkoudaRequestRef {
        user: "kjyost",
        cmd: "connect",
        format: "STRING",
        size: -1,
        ..Default::default()
    }
}

#[test]
fn connect_request_is_the_36_documented_bytes() {
    let golden = hex(CONNECT);
    assert_eq!(golden.len(), 36);
    let mut buf = [0u8; 64];
    let n = connect().encode_to_slice(&mut buf).unwrap();
    assert_eq!(&buf[..n], &golden[..]);
    assert_eq!(connect().encoded_len(), 36);
    assert_eq!(ArkoudaRequestRef::decode(&golden).unwrap(), connect());
    // prost, the peer's codec, agrees on the same bytes.
    assert_eq!(connect().to_owned().encode_to_vec(), golden);
}

#[test]
fn size_minus_one_is_a_ten_byte_varint() {
    let req = ArkoudaRequestRef {
        size: -1,
        ..Default::default()
    };
    let mut out = Vec::new();
    req.encode(&mut out).unwrap();
    assert_eq!(out, hex("28 ff ff ff ff ff ff ff ff ff 01"));
}

#[test]
fn getconfig_request_matches_golden_bytes() {
    let golden = hex(GETCONFIG);
    let req = ArkoudaRequestRef {
        user: "kjyost",
        cmd: "getconfig",
        format: "STRING",
        args: "[]",
        ..Default::default()
    };
    let mut out = Vec::new();
    req.encode(&mut out).unwrap();
    assert_eq!(out, golden);
    assert_eq!(ArkoudaRequestRef::decode(&golden).unwrap(), req);
}

#[test]
fn short_buffer_is_refused_and_left_untouched() {
    let mut buf = [0xaau8; 35];
    let err = connect().encode_to_slice(&mut buf).unwrap_err();
    assert_eq!((err.required, err.remaining), (36, 35));
    assert!(buf.iter().all(|&b| b == 0xaa));
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped() {
    let mut bytes = hex(CONNECT);
    bytes.extend(hex("5001")); // field 10 varint
    bytes.extend(hex("59 0102030405060708")); // field 11 fixed64
    bytes.extend(hex("6203 616263")); // field 12 bytes
    bytes.extend(hex("6b 0801 6c")); // field 13 group holding field 1 varint
    bytes.extend(hex("75 01020304")); // field 14 fixed32
    assert_eq!(ArkoudaRequestRef::decode(&bytes).unwrap(), connect());
    let resp = ArkoudaResponseRef::decode(&bytes[..0]).unwrap();
    assert_eq!(resp, ArkoudaResponseRef::default());
}

#[test]
fn last_value_wins_for_repeated_fields() {
    let mut bytes = hex(CONNECT);
    bytes.extend(hex("1a04 6e6f6f70 2801")); // cmd=noop, size=1
    let req = ArkoudaRequestRef::decode(&bytes).unwrap();
    assert_eq!((req.cmd, req.size), ("noop", 1));
}

#[test]
fn optional_fields_present_but_empty_decode_as_present() {
    let bytes = hex("3a00");
    let req = ArkoudaRequestRef::decode(&bytes).unwrap();
    assert_eq!(req.request_id, Some(""));
    let bytes = hex("0a00 1200 1a00 2200 2a00 3200");
    let resp = ArkoudaResponseRef::decode(&bytes).unwrap();
    assert_eq!(resp.message, "");
    for f in [
        resp.request_id,
        resp.request_status,
        resp.user,
        resp.cmd,
        resp.args,
    ] {
        assert_eq!(f, Some(""));
    }
    // And they survive re-encoding, which proto3 requires of explicit presence.
    let mut out = Vec::new();
    resp.encode(&mut out).unwrap();
    assert_eq!(out, hex("1200 1a00 2200 2a00 3200"));
}

#[test]
fn submitted_response_round_trips() {
    let resp = ArkoudaResponseRef {
        message: "submitted request to Arkouda",
        request_id: Some("0123456789abcdefghijklmnopqrstuv"),
        request_status: Some("SUBMITTED"),
        ..Default::default()
    };
    let mut out = Vec::new();
    resp.encode(&mut out).unwrap();
    assert_eq!(out.len(), resp.encoded_len());
    assert_eq!(ArkoudaResponseRef::decode(&out).unwrap(), resp);
    assert_eq!(out, resp.to_owned().encode_to_vec());
}

#[test]
fn malformed_inputs_are_typed_errors() {
    let cases: &[(&str, DecodeError)] = &[
        ("0a02 ff fe", DecodeError::InvalidUtf8 { field: 1 }),
        ("0a05 6162", DecodeError::Truncated),
        ("28 ffffffffffffffffffff01", DecodeError::VarintTooLong),
        ("28 ffffffffffffffffff02", DecodeError::VarintTooLong),
        ("0e", DecodeError::InvalidWireType(6)),
        ("07", DecodeError::InvalidWireType(7)),
        ("02 00", DecodeError::InvalidKey),
        (
            "0801",
            DecodeError::WrongWireType {
                field: 1,
                expected: WireType::LengthDelimited,
                found: WireType::Varint,
            },
        ),
        (
            "2a01 00",
            DecodeError::WrongWireType {
                field: 5,
                expected: WireType::Varint,
                found: WireType::LengthDelimited,
            },
        ),
        ("54", DecodeError::UnexpectedEndGroup),
        ("53 54 5c", DecodeError::UnexpectedEndGroup),
        (
            "4a",
            DecodeError::Truncated, // field 9 (payload) without its length
        ),
        (
            "4801",
            DecodeError::WrongWireType {
                field: 9,
                expected: WireType::LengthDelimited,
                found: WireType::Varint,
            },
        ),
        (
            "4200",
            DecodeError::WrongWireType {
                field: 8,
                expected: WireType::Varint,
                found: WireType::LengthDelimited,
            },
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            ArkoudaRequestRef::decode(&hex(bytes)),
            Err(*expected),
            "request {bytes}"
        );
    }
}

#[test]
fn every_truncation_of_a_valid_message_is_an_error_or_a_prefix_message() {
    let golden = hex(GETCONFIG);
    // Field boundaries are where a prefix is itself a valid message.
    let boundaries = [0, 8, 19, 27, 31];
    for cut in 0..golden.len() {
        let result = ArkoudaRequestRef::decode(&golden[..cut]);
        if boundaries.contains(&cut) {
            assert!(result.is_ok(), "cut {cut}");
        } else {
            assert_eq!(result, Err(DecodeError::Truncated), "cut {cut}");
        }
    }
}

// The binary extension (fields 8 and 9 of the request, 7 of the response),
// encoded by hand from the protobuf rules: key = field << 3 | wire type.

/// `ak.array`-style request: user kjyost, cmd `array`, format BINARY, size -1,
/// recv_binary (key 0x40 = 8 << 3 | 0, value 1), and a payload that is not
/// UTF-8 (key 0x4a = 9 << 3 | 2, length 4).
const BINARY_REQUEST: &str = "0a06 6b6a796f7374 1a05 6172726179 2206 42494e415259 \
     28ffffffffffffffffff01 4001 4a04 00ff8001";

fn binary_request() -> ArkoudaRequestRef<'static> {
    ArkoudaRequestRef {
        user: "kjyost",
        cmd: "array",
        format: "BINARY",
        size: -1,
        recv_binary: true,
        payload: &[0x00, 0xff, 0x80, 0x01],
        ..Default::default()
    }
}

#[test]
fn binary_request_matches_hand_encoded_bytes() {
    let golden = hex(BINARY_REQUEST);
    assert_eq!(golden.len(), 42);
    let req = binary_request();
    let mut out = Vec::new();
    req.encode(&mut out).unwrap();
    assert_eq!(out, golden);
    assert_eq!(req.encoded_len(), 42);
    let mut buffered = Vec::new();
    req.encode_to_buffer(&mut buffered).unwrap();
    assert_eq!(buffered, golden);
    assert_eq!(ArkoudaRequestRef::decode(&golden).unwrap(), req);
    assert_eq!(req.to_owned().encode_to_vec(), golden);
}

#[test]
fn binary_response_matches_hand_encoded_bytes() {
    // message "m", user kjyost (field 4), payload ff fe (key 0x3a = 7 << 3 | 2).
    let golden = hex("0a01 6d 2206 6b6a796f7374 3a02 fffe");
    let resp = ArkoudaResponseRef {
        message: "m",
        user: Some("kjyost"),
        payload: &[0xff, 0xfe],
        ..Default::default()
    };
    let mut out = Vec::new();
    resp.encode(&mut out).unwrap();
    assert_eq!(out, golden);
    assert_eq!(resp.encoded_len(), golden.len());
    assert_eq!(ArkoudaResponseRef::decode(&golden).unwrap(), resp);
    assert_eq!(resp.to_owned().encode_to_vec(), golden);
}

#[test]
fn recv_binary_is_true_for_any_nonzero_varint_and_absent_when_false() {
    let two = hex("4002");
    assert!(ArkoudaRequestRef::decode(&two).unwrap().recv_binary);
    let repeated = hex("4001 4000");
    let req = ArkoudaRequestRef::decode(&repeated).unwrap();
    assert!(!req.recv_binary, "the last value wins");
    let mut out = Vec::new();
    connect().encode(&mut out).unwrap();
    assert_eq!(
        out,
        hex(CONNECT),
        "false and an empty payload are not written"
    );
}

/// The request and response as a peer generated from the seed schema sees
/// them: fields 1-7 and 1-6 only.
#[derive(Clone, PartialEq, prost::Message)]
struct SeedRequest {
    #[prost(string, tag = "1")]
    user: String,
    #[prost(string, tag = "3")]
    cmd: String,
    #[prost(string, tag = "4")]
    format: String,
    #[prost(int32, tag = "5")]
    size: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SeedResponse {
    #[prost(string, tag = "1")]
    message: String,
    #[prost(string, optional, tag = "4")]
    user: Option<String>,
}

#[test]
fn seed_schema_peers_skip_the_binary_fields() {
    let seed = SeedRequest::decode(&hex(BINARY_REQUEST)[..]).unwrap();
    assert_eq!(
        (
            seed.user.as_str(),
            seed.cmd.as_str(),
            seed.format.as_str(),
            seed.size
        ),
        ("kjyost", "array", "BINARY", -1)
    );
    let seed = SeedResponse::decode(&hex("0a01 6d 2206 6b6a796f7374 3a02 fffe")[..]).unwrap();
    assert_eq!(
        (seed.message.as_str(), seed.user.as_deref()),
        ("m", Some("kjyost"))
    );
    // And a seed peer's request is a string request with no payload.
    let connect = hex(CONNECT);
    let ours = ArkoudaRequestRef::decode(&connect).unwrap();
    assert!(!ours.recv_binary && ours.payload.is_empty());
}
