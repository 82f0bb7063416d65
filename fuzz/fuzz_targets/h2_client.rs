//! HTTP/2 client connection: a gRPC call is opened, then arbitrary "server"
//! bytes arrive in chunks (sizes from the first input byte; the first byte of
//! each chunk advances the clock by that many ms). After each chunk the
//! harness transmits, drains events, reads what they point at, and fires
//! timers. When a call ends the next one is opened (up to four, as the async
//! pattern's submit and getrequeststatus calls do), so streams 3, 5, 7 exist.
#![no_main]

use arkwire::h2::conn::{Connection, Event, GrowableStorage, Role, MIN_TRANSMIT_BUFFER};
use arkwire::h2::Config;
use arkwire::time::Instant;
use arkwire_fuzz::{chunks, debug, GRPC_CONNECT_MESSAGE, GRPC_REQUEST_HEADERS, MAX_TRANSMITS};
use libfuzzer_sys::fuzz_target;

const MAX_CALLS: usize = 4;

struct Harness {
    conn: Connection<GrowableStorage>,
    calls: usize,
    out: Vec<u8>,
}

impl Harness {
    fn open_call(&mut self) {
        if self.calls >= MAX_CALLS || !self.conn.can_open_stream() {
            return;
        }
        self.calls += 1;
        let opened = self
            .conn
            .open_stream(GRPC_REQUEST_HEADERS.iter().copied(), false)
            .and_then(|id| self.conn.send_data(id, &[GRPC_CONNECT_MESSAGE], true));
        if debug() {
            eprintln!("open call: {opened:?}");
        }
    }

    fn drive(&mut self) {
        for _ in 0..MAX_TRANSMITS {
            let n = self.conn.transmit(&mut self.out);
            assert!(n <= self.out.len());
            if n == 0 {
                break;
            }
        }
        while let Some(event) = self.conn.poll_event() {
            if debug() {
                eprintln!("event: {event:?}");
            }
            match event {
                Event::Headers { stream } | Event::Data { stream } | Event::Trailers { stream } => {
                    if let Some(s) = self.conn.stream(stream) {
                        let _ = s.headers().get(b"grpc-status");
                        let _ = s.trailers().map(|t| t.count());
                        let _ = s.body().len();
                    }
                }
                Event::StreamEnded { stream } | Event::StreamReset { stream, .. } => {
                    self.conn.release_stream(stream);
                    self.open_call();
                }
                Event::StreamsAvailable => self.open_call(),
                Event::GoAway { .. } | Event::SettingsAcked | Event::Closed { .. } => {}
            }
        }
        // Whatever the events queued goes out before the next input.
        for _ in 0..MAX_TRANSMITS {
            if self.conn.transmit(&mut self.out) == 0 {
                break;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let mut now = Instant::from_millis(0);
    let mut h = Harness {
        conn: Connection::new(Role::Client, Config::default(), now).unwrap(),
        calls: 0,
        out: vec![0u8; MIN_TRANSMIT_BUFFER],
    };
    h.open_call();
    assert_eq!(h.conn.active_streams(), 1, "a fresh client opens a stream");
    h.drive();
    for chunk in chunks(seed, input) {
        let _ = h.conn.recv(chunk, now);
        h.drive();
        now = now + core::time::Duration::from_millis(u64::from(chunk[0]));
        let _ = h.conn.poll_timeout();
        h.conn.handle_timeout(now);
        h.drive();
    }
    // Let every timer run out.
    now = now + core::time::Duration::from_secs(3600);
    h.conn.handle_timeout(now);
    h.drive();
});
