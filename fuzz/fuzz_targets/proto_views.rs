//! Zero-copy protobuf views: decode arbitrary bytes; whatever decodes must
//! re-encode (at exactly `encoded_len` bytes) to bytes that decode to the
//! same value.
#![no_main]

use arkwire::proto::{ArkoudaRequestRef, ArkoudaResponseRef};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = ArkoudaRequestRef::decode(data) {
        let len = req.encoded_len();
        let mut buf = vec![0u8; len];
        let n = req
            .encode_to_slice(&mut buf)
            .expect("encoded_len bytes suffice");
        assert_eq!(n, len, "encode_to_slice length != encoded_len");
        if len > 0 {
            assert!(
                req.encode_to_slice(&mut buf[..len - 1]).is_err(),
                "encode into a short buffer must fail"
            );
        }
        let again = ArkoudaRequestRef::decode(&buf[..n]).expect("re-encoded request decodes");
        assert_eq!(req, again);
        let mut v = Vec::new();
        req.encode(&mut v).expect("Vec grows");
        assert_eq!(v, &buf[..n]);
    }
    if let Ok(resp) = ArkoudaResponseRef::decode(data) {
        let len = resp.encoded_len();
        let mut buf = vec![0u8; len];
        let n = resp
            .encode_to_slice(&mut buf)
            .expect("encoded_len bytes suffice");
        assert_eq!(n, len, "encode_to_slice length != encoded_len");
        if len > 0 {
            assert!(
                resp.encode_to_slice(&mut buf[..len - 1]).is_err(),
                "encode into a short buffer must fail"
            );
        }
        let again = ArkoudaResponseRef::decode(&buf[..n]).expect("re-encoded response decodes");
        assert_eq!(resp, again);
        let mut v = Vec::new();
        resp.encode(&mut v).expect("Vec grows");
        assert_eq!(v, &buf[..n]);
    }
});
