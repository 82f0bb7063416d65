//! The views and the reply parser promise to work without an allocator:
//! count heap allocations while they run and require none.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use arkwire::arkouda::parse_reply;
use arkwire::proto::{ArkoudaRequestRef, ArkoudaResponseRef};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn views_and_reply_parsing_do_not_allocate() {
    let mut buf = [0u8; 256];
    let mut buf2 = [0u8; 256];
    let json = br#"{"msg": "{\"a\": \"\u00e9\"}", "msgType": "NORMAL", "msgFormat": "STRING", "user": "kjyost"}"#;
    let mut scratch = [0u8; 64];

    let before = ALLOCATIONS.load(Ordering::Relaxed);
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
    let after = ALLOCATIONS.load(Ordering::Relaxed);

    assert_eq!(decoded.cmd, "connect");
    assert_eq!(msg, "{\"a\": \"é\"}");
    assert_eq!(after - before, 0, "allocations during encode/decode/parse");
}
