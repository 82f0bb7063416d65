//! ZMTP REQ connection fed arbitrary "arkouda_server" bytes: a greeting and
//! READY from a REP peer first (so the frame decoder is reached), then the
//! input in chunks, with a request outstanding and timers firing. No panic;
//! a reply that is reported must fit the configured limit. Seeds with bit 1
//! set stream: the request's payload is written as the queue takes it, and
//! one-frame replies over 64 bytes come out as they arrive, never more than
//! their limit.
#![no_main]

use arkwire::time::Instant;
use arkwire::zmtp::{ReqConnection, Streaming, ZmtpConfig, ZmtpEvent, MAX_QUEUED_PAYLOAD};
use arkwire_fuzz::chunks;
use libfuzzer_sys::fuzz_target;

/// A REP peer's greeting (RFC 23: signature, version 3.0, NULL, as-server 0,
/// filler) and READY with Socket-Type REP.
fn rep_hello() -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0];
    g.extend_from_slice(b"NULL");
    g.resize(64, 0);
    g.extend_from_slice(&[0x04, 0x19, 0x05]);
    g.extend_from_slice(b"READY");
    g.extend_from_slice(&[0x0b]);
    g.extend_from_slice(b"Socket-Type");
    g.extend_from_slice(&[0, 0, 0, 3]);
    g.extend_from_slice(b"REP");
    g
}

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    // Odd seeds skip the valid hello, so the greeting parser is fuzzed too.
    let hello = if seed & 1 == 0 {
        rep_hello()
    } else {
        Vec::new()
    };
    let config = ZmtpConfig {
        max_message_size: MAX,
        ..ZmtpConfig::default()
    };
    let mut conn = ReqConnection::<Vec<u8>>::new(config, Instant::from_millis(0)).unwrap();
    let streaming = seed & 2 != 0;
    let plan = Streaming {
        payload_len: streaming.then_some(1000),
        reply_above: streaming.then_some(64),
        max_streamed_reply: 2 * MAX as u64,
    };
    let _ = conn.send_request_with(
        &[b"{\"cmd\":\"connect\"}"],
        plan,
        Some(Instant::from_millis(5_000)),
    );
    let mut streamed = 0u64;
    let mut announced = None;
    let mut out = vec![0u8; 512];
    let mut now = 0u64;
    let input: Vec<u8> = hello.into_iter().chain(rest.iter().copied()).collect();
    for chunk in chunks(seed >> 1, &input) {
        now += u64::from(chunk[0] % 16);
        let _ = conn.recv(chunk, Instant::from_millis(now));
        let n = conn.write_payload(chunk);
        assert!(n <= MAX_QUEUED_PAYLOAD);
        while conn.transmit(&mut out) > 0 {}
        let held = conn.streamed().len();
        streamed += held as u64;
        conn.take_streamed(held);
        while let Some(event) = conn.poll_event() {
            if let ZmtpEvent::StreamedReply { size } = event {
                assert!(size <= 2 * MAX as u64, "a streamed reply of {size} bytes");
                announced = Some(size);
            }
            if event == ZmtpEvent::Reply && announced.is_some() {
                let rest = conn.streamed().len();
                streamed += rest as u64;
                assert_eq!(Some(streamed), announced, "streamed bytes differ from the frame's");
                conn.release_reply();
                (streamed, announced) = (0, None);
                continue;
            }
            if event == ZmtpEvent::Reply {
                let total: usize = conn.reply_frames().map(<[u8]>::len).sum();
                assert!(
                    total <= MAX,
                    "a {total}-byte reply passed the {MAX}-byte limit"
                );
                conn.release_reply();
                let _ = conn.send_request(&[b"again"], None);
            }
        }
        conn.handle_timeout(Instant::from_millis(now));
    }
    conn.handle_timeout(Instant::from_millis(now + 3_600_000));
    while conn.poll_event().is_some() {}
});
