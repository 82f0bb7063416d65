//! The views and the reply parser promise to work without an allocator:
//! count heap allocations while they run and require none.

use arkwire::arkouda::parse_reply;
use arkwire::proto::{ArkoudaRequestRef, ArkoudaResponseRef};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn views_and_reply_parsing_do_not_allocate() {
    let mut buf = [0u8; 256];
    let mut buf2 = [0u8; 256];
    let json = br#"{"msg": "{\"a\": \"\u00e9\"}", "msgType": "NORMAL", "msgFormat": "STRING", "user": "kjyost"}"#;
    let mut scratch = [0u8; 64];

    let before = counting_alloc::allocations();
    let req = ArkoudaRequestRef {
        user: "kjyost",
        cmd: "connect",
        format: "STRING",
        size: -1,
        ..Default::default()
    };
    let n = req.encode_to_slice(&mut buf).unwrap();
    let decoded = ArkoudaRequestRef::decode(&buf[..n]).unwrap();
    let resp = ArkoudaResponseRef {
        message: core::str::from_utf8(json).unwrap(),
        request_id: Some("0123456789abcdefghijklmnopqrstuv"),
        ..Default::default()
    };
    let m = resp.encode_to_slice(&mut buf2).unwrap();
    let decoded_resp = ArkoudaResponseRef::decode(&buf2[..m]).unwrap();
    let reply = parse_reply(decoded_resp.message.as_bytes()).unwrap();
    let msg = reply.msg.unescape_into(&mut scratch).unwrap();
    let after = counting_alloc::allocations();

    assert_eq!(decoded.cmd, "connect");
    assert_eq!(msg, "{\"a\": \"é\"}");
    assert_eq!(after - before, 0, "allocations during encode/decode/parse");
}
