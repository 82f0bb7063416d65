//! A client with several calls in flight opens its streams on the wire in
//! increasing id order (RFC 9113 §5.1.1), whatever order the stream table
//! holds them in after earlier calls were finished. Opening stream 7 before
//! stream 5 implicitly closes 5, and a conforming server resets it with
//! STREAM_CLOSED: before the fix, `net::Client` with two or more calls in
//! flight failed on its third call this way.

use std::collections::{BTreeSet, VecDeque};

use arkwire::grpc::{Client, ClientEvent, Options, Server, ServerEvent};
use arkwire::h2::conn::GrowableStorage;
use arkwire::proto::{ArkoudaRequestRef, HANDLE_REQUEST_PATH};
use arkwire::time::Instant;

/// Stream ids of the HEADERS frames in `bytes` (whole frames, maybe after the preface).
fn headers_ids(mut bytes: &[u8], out: &mut Vec<u32>) {
    if bytes.starts_with(b"PRI * HTTP/2.0") {
        bytes = &bytes[24..];
    }
    while bytes.len() >= 9 {
        let len =
            (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
        let id = u32::from_be_bytes([bytes[5] & 0x7f, bytes[6], bytes[7], bytes[8]]);
        if bytes[3] == 1 {
            out.push(id);
        }
        bytes = &bytes[9 + len..];
    }
}

#[test]
fn pipelined_calls_open_streams_in_id_order() {
    let now = Instant::from_millis(0);
    let options = Options::default();
    let mut client = Client::<GrowableStorage>::new("arkouda:50053", options, now).unwrap();
    let mut server = Server::<GrowableStorage>::new(HANDLE_REQUEST_PATH, options, now).unwrap();
    let mut request = [0u8; 64];
    let n = ArkoudaRequestRef {
        user: "kjyost",
        cmd: "connect",
        format: "STRING",
        size: -1,
        ..Default::default()
    }
    .encode_to_slice(&mut request)
    .unwrap();
    let request = &request[..n];
    let mut wire = vec![0u8; 64 * 1024];
    let mut opened = Vec::new();
    for in_flight in [2usize, 3, 8] {
        let mut open = VecDeque::new();
        let mut done = BTreeSet::new();
        for _ in 0..50 {
            while open.len() < in_flight {
                let call = client
                    .start_call(HANDLE_REQUEST_PATH, request, &[], None, now)
                    .unwrap();
                open.push_back(call);
            }
            let call = open.pop_front().unwrap();
            while !done.contains(&call) {
                let len = client.transmit(&mut wire);
                headers_ids(&wire[..len], &mut opened);
                server.recv(&wire[..len], now).unwrap();
                while let Some(ev) = server.poll_event() {
                    if let ServerEvent::Request(id) = ev {
                        server.respond(id, b"\x0a\x02ok").unwrap();
                    }
                }
                let len = server.transmit(&mut wire);
                client.recv(&wire[..len], now).unwrap();
                while let Some(ev) = client.poll_event() {
                    if let ClientEvent::Complete(c) = ev {
                        done.insert(c);
                    }
                }
            }
            done.remove(&call);
            assert_eq!(client.response(call), Ok(&b"\x0a\x02ok"[..]), "{call:?}");
            client.finish_call(call);
        }
        // Drain the calls still in flight.
        for call in open {
            client.finish_call(call);
        }
    }
    assert!(
        opened.windows(2).all(|w| w[0] < w[1]),
        "streams opened out of order: {opened:?}"
    );
}
