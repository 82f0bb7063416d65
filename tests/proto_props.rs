//! Properties: our views and prost (the codec grpcio-compatible Rust peers
//! use) agree byte for byte, and no input panics a decoder.

use arkwire::proto::{ArkoudaRequest, ArkoudaRequestRef, ArkoudaResponse, ArkoudaResponseRef};
use proptest::prelude::*;
use prost::Message;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), ".{0,40}", "[a-z0-9]{32}"]
}

/// Binary payloads: empty, arbitrary bytes (mostly not UTF-8), and bytes
/// that happen to be UTF-8, which must not be treated as text either.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 1..200),
        ".{1,40}".prop_map(String::into_bytes),
    ]
}

fn request() -> impl Strategy<Value = ArkoudaRequest> {
    (
        text(),
        text(),
        text(),
        text(),
        any::<i32>(),
        text(),
        proptest::option::of(text()),
        any::<bool>(),
        payload(),
    )
        .prop_map(
            |(user, token, cmd, format, size, args, request_id, recv_binary, payload)| {
                ArkoudaRequest {
                    user,
                    token,
                    cmd,
                    format,
                    size,
                    args,
                    request_id,
                    recv_binary,
                    payload,
                }
            },
        )
}

fn response() -> impl Strategy<Value = ArkoudaResponse> {
    (
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        payload(),
    )
        .prop_map(
            |(message, request_id, request_status, user, cmd, args, payload)| ArkoudaResponse {
                message,
                request_id,
                request_status,
                user,
                cmd,
                args,
                payload,
            },
        )
}

proptest! {
    #[test]
    fn request_view_encodes_exactly_like_prost(msg in request()) {
        let view = ArkoudaRequestRef::from(&msg);
        let mut ours = Vec::new();
        view.encode(&mut ours).unwrap();
        prop_assert_eq!(&ours, &msg.encode_to_vec());
        prop_assert_eq!(ours.len(), view.encoded_len());
        prop_assert_eq!(ArkoudaRequestRef::decode(&ours).unwrap().to_owned(), msg.clone());
        prop_assert_eq!(ArkoudaRequest::decode(&ours[..]).unwrap(), msg);
    }

    #[test]
    fn response_view_encodes_exactly_like_prost(msg in response()) {
        let view = ArkoudaResponseRef::from(&msg);
        let mut ours = Vec::new();
        view.encode(&mut ours).unwrap();
        prop_assert_eq!(&ours, &msg.encode_to_vec());
        prop_assert_eq!(ours.len(), view.encoded_len());
        prop_assert_eq!(ArkoudaResponseRef::decode(&ours).unwrap().to_owned(), msg.clone());
        prop_assert_eq!(ArkoudaResponse::decode(&ours[..]).unwrap(), msg);
    }

    /// On any bytes, the view and prost accept or reject together, and agree on values.
    #[test]
    fn arbitrary_bytes_decode_like_prost(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let ours = ArkoudaRequestRef::decode(&bytes);
        let theirs = ArkoudaRequest::decode(&bytes[..]);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "request {:?}: {:?} vs {:?}", bytes, ours, theirs);
        if let (Ok(a), Ok(b)) = (ours, theirs) {
            prop_assert_eq!(a.to_owned(), b);
        }
        let ours = ArkoudaResponseRef::decode(&bytes);
        let theirs = ArkoudaResponse::decode(&bytes[..]);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "response {:?}: {:?} vs {:?}", bytes, ours, theirs);
        if let (Ok(a), Ok(b)) = (ours, theirs) {
            prop_assert_eq!(a.to_owned(), b);
        }
    }

    /// Valid messages with one byte changed: still no panic, and still prost's verdict.
    #[test]
    fn mutated_messages_decode_like_prost(msg in request(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = msg.encode_to_vec();
        if !bytes.is_empty() {
            let i = pos % bytes.len();
            bytes[i] = byte;
        }
        let ours = ArkoudaRequestRef::decode(&bytes);
        let theirs = ArkoudaRequest::decode(&bytes[..]);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: {:?} vs {:?}", bytes, ours, theirs);
        if let (Ok(a), Ok(b)) = (ours, theirs) {
            prop_assert_eq!(a.to_owned(), b);
        }
    }
}

proptest! {
    /// Decoding into a message that held another leaves nothing of the
    /// old one: the result is prost's decoding of the new bytes.
    #[test]
    fn decoding_into_a_used_message_is_a_fresh_decode(
        old in request(), new in request(), old_resp in response(), new_resp in response(),
    ) {
        let mut reused = old;
        let bytes = new.encode_to_vec();
        ArkoudaRequestRef::decode(&bytes).unwrap().copy_into(&mut reused);
        prop_assert_eq!(reused, ArkoudaRequest::decode(&bytes[..]).unwrap());
        let mut reused = old_resp;
        let bytes = new_resp.encode_to_vec();
        ArkoudaResponseRef::decode(&bytes).unwrap().copy_into(&mut reused);
        prop_assert_eq!(reused, ArkoudaResponse::decode(&bytes[..]).unwrap());
    }
}

proptest! {
    /// The Buffer encoder writes the same bytes as the BufMut one.
    #[test]
    fn buffer_encoding_matches(msg in request()) {
        let view = ArkoudaRequestRef::from(&msg);
        let mut a = Vec::new();
        view.encode(&mut a).unwrap();
        let mut b = Vec::new();
        view.encode_to_buffer(&mut b).unwrap();
        prop_assert_eq!(a, b);
        let mut small = heapless::Vec::<u8, 8>::new();
        if view.encoded_len() > 8 {
            prop_assert!(view.encode_to_buffer(&mut small).is_err());
            prop_assert!(small.is_empty());
        }
    }
}
