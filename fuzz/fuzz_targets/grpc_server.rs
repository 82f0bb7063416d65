//! gRPC server connection for the Arkouda method: preface and an empty
//! SETTINGS frame, then arbitrary client bytes in chunks (sizes from the first
//! input byte). Every request reported is read and answered; requests of
//! HandleRequest over 256 bytes come in parts (`with_partial`), are taken
//! as they come (their size checked against the window) and answered once
//! complete, every other one with a streamed response.
#![no_main]

use arkwire::grpc::{Options, Server, ServerEvent};
use arkwire::h2::conn::{GrowableStorage, MIN_TRANSMIT_BUFFER};
use arkwire::h2::frame::PREFACE;
use arkwire::proto::HANDLE_REQUEST_PATH;
use arkwire::time::Instant;
use arkwire_fuzz::{chunks, debug, EMPTY_SETTINGS, MAX_TRANSMITS};
use libfuzzer_sys::fuzz_target;

fn drive(server: &mut Server<GrowableStorage>, out: &mut [u8]) {
    while let Some(event) = server.poll_event() {
        if debug() {
            eprintln!("event: {event:?}");
        }
        match event {
            ServerEvent::Request(id) => {
                let request = server.request(id).map(|m| m.len());
                let _ = server.request_headers(id).map(|h| h.count());
                let answer = server.respond(id, b"x");
                if debug() {
                    eprintln!("request: {request:?}, respond: {answer:?}");
                }
            }
            // The streaming method (the reflection path) echoes each message.
            ServerEvent::Message(id) => {
                while let Some(message) = server.next_message(id) {
                    let _ = message.map(|m| server.send_message(id, &m[..m.len().min(64)]));
                }
            }
            ServerEvent::HalfClosed(id) => {
                let _ = server.finish(id, arkwire::grpc::Code::Ok, "");
            }
            ServerEvent::Partial(id) => {
                let held = server.request_part(id).map_or(0, <[u8]>::len);
                // What arrives is bounded by the stream window we announced.
                assert!(held <= (1 << 20) + 16_384, "{held} bytes held");
                server.take_request_part(id, held / 2 + 1);
                if server.request_complete(id) {
                    if id.0 % 4 == 1 {
                        let _ = server.begin_response(id, 10, b"abc");
                        let _ = server.send_response_part(id, b"defghij");
                        let _ = server.queued(id);
                        let _ = server.finish(id, arkwire::grpc::Code::Ok, "");
                    } else if server.assemble(id) {
                        let _ = server.request(id).map(|m| m.len());
                        let _ = server.respond(id, b"y");
                    }
                }
            }
            ServerEvent::Cancelled(_) | ServerEvent::Closed { .. } => {}
        }
    }
    for _ in 0..MAX_TRANSMITS {
        let n = server.transmit(out);
        assert!(n <= out.len());
        if n == 0 {
            break;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let mut now = Instant::from_millis(0);
    // Seeds mostly open HandleRequest; a client naming the reflection path
    // reaches the streaming side.
    let mut server: Server<GrowableStorage> = Server::with_methods(
        &[HANDLE_REQUEST_PATH, arkwire::ops::reflection::V1_PATH],
        Options::default(),
        now,
    )
    .and_then(|s| s.with_streaming(&[arkwire::ops::reflection::V1_PATH]))
    .map(|s| s.with_partial(HANDLE_REQUEST_PATH, 256))
    .unwrap();
    let mut out = vec![0u8; MIN_TRANSMIT_BUFFER];
    server.recv(PREFACE, now).expect("the preface is valid");
    server
        .recv(&EMPTY_SETTINGS, now)
        .expect("an empty SETTINGS frame is valid");
    drive(&mut server, &mut out);
    for chunk in chunks(seed, input) {
        let _ = server.recv(chunk, now);
        drive(&mut server, &mut out);
        now = now + core::time::Duration::from_millis(u64::from(chunk[0]));
        let _ = server.poll_timeout();
        server.handle_timeout(now);
        drive(&mut server, &mut out);
    }
    now = now + core::time::Duration::from_secs(3600);
    server.handle_timeout(now);
    drive(&mut server, &mut out);
});
