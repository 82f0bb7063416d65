//! The reply JSON parser against serde_json (a peer we did not write) as the
//! producer of the text, and against arbitrary bytes.

use arkwire::arkouda::{parse_async_status, parse_reply, MsgType, RequestState};
use proptest::prelude::*;

/// Escapes every non-ASCII character as `\uXXXX` (UTF-16 units, surrogate
/// pairs above the BMP), as Python's `json.dumps` does by default (RFC 8259 §7).
fn ascii_only(json: &str) -> String {
    let mut out = String::new();
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

proptest! {
    #[test]
    fn replies_written_by_serde_json_parse_back(msg in any::<String>(), user in "\\PC{0,12}", kind in 0..3usize) {
        let kind_name = ["NORMAL", "WARNING", "ERROR"][kind];
        let json = serde_json::json!({
            "msg": msg, "msgType": kind_name, "msgFormat": "STRING", "user": user, "extra": [1, {"k": "v"}]
        })
        .to_string();
        for text in [json.clone(), ascii_only(&json)] {
            let reply = parse_reply(text.as_bytes()).unwrap();
            prop_assert_eq!(reply.msg.to_string().unwrap(), msg.clone());
            prop_assert!(reply.msg.eq_str(&msg));
            prop_assert_eq!(reply.user.to_string().unwrap(), user.clone());
            prop_assert_eq!(reply.msg_type, [MsgType::Normal, MsgType::Warning, MsgType::Error][kind]);
            let mut buf = vec![0u8; msg.len()];
            prop_assert_eq!(reply.msg.unescape_into(&mut buf).unwrap(), msg.as_str());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(reply) = parse_reply(&bytes) {
            let _ = reply.msg.to_string();
        }
        if let Ok(status) = parse_async_status(&bytes) {
            let _ = status.state();
        }
    }

    #[test]
    fn mutated_replies_never_panic(pos in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = br#"{"msg": "a\"b\u00e9\ud83d\ude00", "msgType": "NORMAL", "msgFormat": "STRING", "user": "u"}"#.to_vec();
        let i = pos % bytes.len();
        bytes[i] = byte;
        if let Ok(reply) = parse_reply(&bytes) {
            let _ = reply.msg.to_string();
            let _ = format!("{}", reply.msg);
        }
    }
}

#[test]
fn async_proxy_result_written_by_serde_json() {
    let json = serde_json::json!({
        "request_id": "0123456789abcdefghijklmnopqrstuv",
        "request_result": {"msg": "imok", "msgType": "NORMAL", "msgFormat": "STRING", "user": "kjyost"}
    })
    .to_string();
    let status = parse_async_status(json.as_bytes()).unwrap();
    assert!(status.request_id.eq_str("0123456789abcdefghijklmnopqrstuv"));
    match status.state() {
        RequestState::Finished(reply) => assert!(reply.msg.eq_str("imok")),
        other => panic!("expected Finished, got {other:?}"),
    }
}
