//! HTTP/2 server connection: the client preface and an empty SETTINGS frame,
//! then arbitrary client bytes in chunks (sizes from the first input byte; the
//! first byte of each chunk advances the clock by that many ms). Requests that complete
//! are answered with headers, a body and trailers, so the send side runs too.
#![no_main]

use arkwire::h2::conn::{Connection, Event, GrowableStorage, Role, MIN_TRANSMIT_BUFFER};
use arkwire::h2::frame::PREFACE;
use arkwire::h2::Config;
use arkwire::time::Instant;
use arkwire_fuzz::{chunks, debug, EMPTY_SETTINGS, MAX_TRANSMITS};
use libfuzzer_sys::fuzz_target;

fn drive(conn: &mut Connection<GrowableStorage>, out: &mut [u8]) {
    for _ in 0..MAX_TRANSMITS {
        let n = conn.transmit(out);
        assert!(n <= out.len());
        if n == 0 {
            break;
        }
    }
    while let Some(event) = conn.poll_event() {
        if debug() {
            eprintln!("event: {event:?}");
        }
        match event {
            Event::Headers { stream } | Event::Data { stream } | Event::Trailers { stream } => {
                if let Some(s) = conn.stream(stream) {
                    let _ = s.headers().get(b":path");
                    let _ = s.trailers().map(|t| t.count());
                    let _ = s.body().len();
                }
            }
            Event::StreamEnded { stream } => {
                let headers: [(&[u8], &[u8]); 2] =
                    [(b":status", b"200"), (b"content-type", b"application/grpc")];
                let trailers: [(&[u8], &[u8]); 1] = [(b"grpc-status", b"0")];
                let _ = conn
                    .send_headers(stream, headers, false)
                    .and_then(|_| conn.send_data(stream, &[&[0, 0, 0, 0, 1], b"x"], false))
                    .and_then(|_| conn.send_headers(stream, trailers, true));
            }
            Event::StreamReset { stream, .. } => conn.release_stream(stream),
            Event::GoAway { .. }
            | Event::SettingsAcked
            | Event::StreamsAvailable
            | Event::Closed { .. } => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let mut now = Instant::from_millis(0);
    let mut conn: Connection<GrowableStorage> =
        Connection::new(Role::Server, Config::default(), now).unwrap();
    let mut out = vec![0u8; MIN_TRANSMIT_BUFFER];
    conn.recv(PREFACE, now).expect("the preface is valid");
    conn.recv(&EMPTY_SETTINGS, now)
        .expect("an empty SETTINGS frame is valid");
    drive(&mut conn, &mut out);
    for chunk in chunks(seed, input) {
        let _ = conn.recv(chunk, now);
        drive(&mut conn, &mut out);
        now = now + core::time::Duration::from_millis(u64::from(chunk[0]));
        let _ = conn.poll_timeout();
        conn.handle_timeout(now);
        drive(&mut conn, &mut out);
    }
    now = now + core::time::Duration::from_secs(3600);
    conn.handle_timeout(now);
    drive(&mut conn, &mut out);
});
