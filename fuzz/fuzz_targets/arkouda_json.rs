//! Arkouda reply JSON and async status JSON: parse arbitrary bytes; on
//! success every way of reading the strings must agree and never panic.
#![no_main]

use arkwire::arkouda::{parse_async_status, parse_reply, ArkoudaReply, JsonStr};
use libfuzzer_sys::fuzz_target;

fn check_str(s: &JsonStr<'_>) {
    let owned = s.to_string();
    let mut small = [0u8; 8];
    let _ = s.unescape_into(&mut small);
    let mut big = vec![0u8; s.raw().len() * 4 + 4];
    let unescaped = s.unescape_into(&mut big);
    match (&owned, &unescaped) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.as_str(), *b, "to_string and unescape_into differ");
            assert!(s.eq_str(a), "eq_str rejects the unescaped text");
        }
        (Err(_), Err(_)) => {}
        _ => panic!("to_string {owned:?} vs unescape_into {unescaped:?}"),
    }
    if let Some(plain) = s.as_str() {
        assert_eq!(Ok(plain), owned.as_deref(), "as_str differs from to_string");
    }
    let _ = format!("{s:?}");
}

fn check_reply(r: &ArkoudaReply<'_>) {
    check_str(&r.msg);
    check_str(&r.user);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = parse_reply(data) {
        check_reply(&reply);
    }
    if let Ok(status) = parse_async_status(data) {
        check_str(&status.request_id);
        if let Some(s) = &status.request_status {
            check_str(s);
        }
        if let Some(r) = &status.request_result {
            check_reply(r);
        }
        let _ = status.state();
    }
});
