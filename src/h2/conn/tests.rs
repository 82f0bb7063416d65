//! A client and a server driven against each other in memory, with a fake
//! clock: deterministic, no sockets.

use super::*;
use crate::h2::frame::{self, Data, Headers, WindowUpdate};
use crate::h2::stream::StreamState;
use crate::sans_io::{exchange, SansIo};
use core::time::Duration;
use std::vec;
use std::vec::Vec;

type Small = FixedStorage<4, 2048, 4096>;

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn client_server(client: Config, server: Config) -> (Connection<Small>, Connection<Small>) {
    (
        Connection::new(Role::Client, client, t(0)).unwrap(),
        Connection::new(Role::Server, server, t(0)).unwrap(),
    )
}

/// Moves bytes both ways until neither side has anything to send.
fn pump<A: SansIo, B: SansIo>(a: &mut A, b: &mut B, now: Instant) {
    exchange(a, b, now);
}

fn events<S: Storage>(c: &mut Connection<S>) -> Vec<Event> {
    core::iter::from_fn(|| c.poll_event()).collect()
}

const REQUEST: &[(&[u8], &[u8])] = &[
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/arkouda.Arkouda/HandleRequest"),
    (b":authority", b"localhost"),
    (b"content-type", b"application/grpc"),
    (b"te", b"trailers"),
];

fn request(c: &mut Connection<Small>, body: &[u8]) -> u32 {
    let id = c.open_stream(REQUEST.iter().copied(), false).unwrap();
    c.send_data(id, &[body], true).unwrap();
    id
}

#[test]
fn settings_exchange_is_acknowledged_both_ways() {
    let (mut c, mut s) = client_server(Config::default(), Config::default());
    pump(&mut c, &mut s, t(1));
    assert!(events(&mut c).contains(&Event::SettingsAcked));
    assert!(events(&mut s).contains(&Event::SettingsAcked));
    assert_eq!(c.peer_settings().max_concurrent_streams, Some(100));
    assert!(!s.peer_settings().enable_push);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn a_unary_exchange_completes_and_frees_its_stream() {
    let (mut c, mut s) = client_server(Config::default(), Config::default());
    let id = request(&mut c, b"hello");
    pump(&mut c, &mut s, t(1));
    let ev = events(&mut s);
    assert!(ev.contains(&Event::Headers { stream: id }), "{ev:?}");
    assert!(ev.contains(&Event::StreamEnded { stream: id }), "{ev:?}");
    let st = s.stream(id).unwrap();
    assert_eq!(
        st.headers().get(b":path"),
        Some(&b"/arkouda.Arkouda/HandleRequest"[..])
    );
    assert_eq!(st.body(), b"hello");

    s.send_headers(id, [(&b":status"[..], &b"200"[..])], false)
        .unwrap();
    s.send_data(id, &[b"wor", b"ld"], false).unwrap();
    s.send_headers(id, [(&b"grpc-status"[..], &b"0"[..])], true)
        .unwrap();
    pump(&mut c, &mut s, t(2));
    let ev = events(&mut c);
    assert!(ev.contains(&Event::Trailers { stream: id }), "{ev:?}");
    let st = c.stream(id).unwrap();
    assert_eq!(st.state(), StreamState::Closed(CloseCause::Finished));
    assert_eq!(st.headers().get(b":status"), Some(&b"200"[..]));
    assert_eq!(st.trailers().unwrap().get(b"grpc-status"), Some(&b"0"[..]));
    assert_eq!(st.body(), b"world");
    c.release_stream(id);
    s.release_stream(id);
    assert!(c.stream(id).is_none() && s.stream(id).is_none());
    assert_eq!(s.active_streams(), 0);
}

/// WINDOW_UPDATE frames among `frames`.
fn count_window_updates(mut frames: &[u8]) -> usize {
    let mut updates = 0;
    while frames.len() >= 9 {
        let len = usize::from(frames[1]) << 8 | usize::from(frames[2]);
        updates += usize::from(frames[3] == 8);
        frames = &frames[(9 + len).min(frames.len())..];
    }
    updates
}

#[test]
fn window_is_granted_only_for_bytes_the_application_consumed() {
    let small = Config {
        initial_window_size: 1000,
        connection_window_size: 65_535,
        ..Config::default()
    };
    let (mut c, mut s) = client_server(Config::default(), small);
    pump(&mut c, &mut s, t(1));
    let body = vec![7u8; 3000];
    let id = request(&mut c, &body);
    pump(&mut c, &mut s, t(2));
    // Nobody read the body: the peer stops at the window we announced.
    assert_eq!(s.stream(id).unwrap().body().len(), 1000);
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let m = s.transmit(&mut buf);
    assert_eq!(count_window_updates(&buf[..m]), 0);
    s.consume(id);
    let m = s.transmit(&mut buf);
    // The stream's window (the connection's opens at half of its larger size).
    assert_eq!(count_window_updates(&buf[..m]), 1);
    c.recv(&buf[..m], t(3)).unwrap();
    pump(&mut c, &mut s, t(3));
    assert_eq!(s.stream(id).unwrap().body().len(), 2000);
}

#[test]
fn bodies_larger_than_the_window_flow_with_batched_updates() {
    let small = Config {
        initial_window_size: 1000,
        connection_window_size: 65_535,
        ..Config::default()
    };
    let (mut c, mut s) = client_server(Config::default(), small);
    pump(&mut c, &mut s, t(1));
    let body: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let id = request(&mut c, &body);
    // Count WINDOW_UPDATE frames the server sends.
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let mut updates = 0;
    for _ in 0..100 {
        let n = c.transmit(&mut buf);
        assert!(n == 0 || s.recv(&buf[..n], t(2)).is_ok());
        // The application takes what arrived, so the window opens again.
        s.consume(id);
        let m = s.transmit(&mut buf);
        updates += count_window_updates(&buf[..m]);
        if m > 0 {
            c.recv(&buf[..m], t(2)).unwrap();
        }
        if n == 0 && m == 0 {
            break;
        }
    }
    assert_eq!(s.stream(id).unwrap().body(), &body[..]);
    // 3000 bytes through a 1000-byte window, updates at half: a handful, not one per frame.
    assert!((2..=6).contains(&updates), "{updates} WINDOW_UPDATE frames");
}

#[test]
fn ping_is_answered() {
    let (mut c, mut s) = client_server(Config::default(), Config::default());
    pump(&mut c, &mut s, t(1));
    let mut buf = [0u8; 64];
    let n = frame::Ping::new(*b"arkwire!").emit(&mut buf).unwrap();
    s.recv(&buf[..n], t(2)).unwrap();
    let m = s.transmit(&mut buf);
    assert_eq!(
        &buf[..m],
        &[0, 0, 8, 6, 1, 0, 0, 0, 0, b'a', b'r', b'k', b'w', b'i', b'r', b'e', b'!']
    );
}

#[test]
fn graceful_goaway_lets_the_open_stream_finish() {
    let (mut c, mut s) = client_server(Config::default(), Config::default());
    let id = request(&mut c, b"x");
    pump(&mut c, &mut s, t(1));
    s.go_away();
    pump(&mut c, &mut s, t(2));
    assert!(events(&mut c).contains(&Event::GoAway {
        last_stream_id: id,
        code: ErrorCode::NoError,
        debug: GoAwayDebug::new(b""),
    }));
    assert!(!c.can_open_stream());
    assert!(!s.is_closed(), "a stream is still open");
    s.send_headers(id, [(&b":status"[..], &b"200"[..])], true)
        .unwrap();
    pump(&mut c, &mut s, t(3));
    assert_eq!(
        c.stream(id).unwrap().state(),
        StreamState::Closed(CloseCause::Finished)
    );
    s.release_stream(id);
    assert!(s.is_closed());
}

#[test]
fn the_peers_stream_limit_is_respected() {
    let one = Config {
        max_concurrent_streams: 1,
        ..Config::default()
    };
    let (mut c, mut s) = client_server(Config::default(), one);
    pump(&mut c, &mut s, t(1));
    let a = request(&mut c, b"a");
    assert!(!c.can_open_stream());
    assert_eq!(
        c.open_stream(REQUEST.iter().copied(), true),
        Err(StreamError::TooManyStreams)
    );
    pump(&mut c, &mut s, t(2));
    assert!(!events(&mut c).contains(&Event::StreamsAvailable));
    // The answer closes the stream, which frees its place under the
    // peer's limit: the client hears so once, instead of polling.
    s.send_headers(a, [(&b":status"[..], &b"200"[..])], true)
        .unwrap();
    pump(&mut c, &mut s, t(3));
    assert!(c.can_open_stream());
    let ev = events(&mut c);
    assert_eq!(
        ev.iter().filter(|e| **e == Event::StreamsAvailable).count(),
        1,
        "{ev:?}"
    );
    c.release_stream(a);
    assert_eq!(events(&mut c), []);
}

#[test]
fn a_full_stream_table_makes_streams_available_when_released() {
    let (mut c, mut s) = client_server(Config::default(), Config::default());
    pump(&mut c, &mut s, t(1));
    // Small holds four streams: the table, not the peer, is the limit.
    let ids: Vec<u32> = (0..4).map(|_| request(&mut c, b"a")).collect();
    assert!(!c.can_open_stream());
    pump(&mut c, &mut s, t(2));
    for &id in &ids {
        s.send_headers(id, [(&b":status"[..], &b"200"[..])], true)
            .unwrap();
    }
    pump(&mut c, &mut s, t(3));
    assert!(!events(&mut c).contains(&Event::StreamsAvailable));
    c.release_stream(ids[0]);
    assert_eq!(events(&mut c), [Event::StreamsAvailable]);
}

#[test]
fn a_raised_peer_limit_makes_streams_available() {
    let zero = Config {
        max_concurrent_streams: 0,
        ..Config::default()
    };
    let (mut c, mut s) = client_server(Config::default(), zero);
    pump(&mut c, &mut s, t(1));
    assert!(!c.can_open_stream());
    let _ = events(&mut c);
    // SETTINGS_MAX_CONCURRENT_STREAMS = 1 (RFC 9113 §6.5.2, id 0x3).
    c.recv(&[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1], t(2))
        .unwrap();
    assert!(events(&mut c).contains(&Event::StreamsAvailable));
}

#[test]
fn a_stream_past_its_deadline_closes_with_that_cause() {
    let (mut c, mut s) = client_server(Config::default(), Config::default());
    pump(&mut c, &mut s, t(1));
    let id = request(&mut c, b"slow");
    c.set_deadline(id, t(50));
    pump(&mut c, &mut s, t(2));
    assert!(events(&mut s).contains(&Event::Headers { stream: id }));
    assert_eq!(c.poll_timeout(), Some(t(50)));
    c.handle_timeout(t(50));
    let st = c.stream(id).unwrap();
    assert_eq!(st.close_cause(), Some(CloseCause::DeadlinePassed));
    assert!(st.timed_out());
    assert_eq!(st.reset(), Some((ErrorCode::Cancel, false)));
    assert_eq!(
        c.poll_timeout(),
        None,
        "a closed stream's deadline is off the table"
    );
    pump(&mut c, &mut s, t(51));
    let st = s.stream(id).unwrap();
    assert_eq!(
        st.close_cause(),
        Some(CloseCause::ResetByPeer(ErrorCode::Cancel))
    );
}

#[test]
fn a_server_refuses_streams_past_its_limit() {
    let one = Config {
        max_concurrent_streams: 1,
        ..Config::default()
    };
    let (mut c, mut s) = client_server(Config::default(), one);
    // Both requests leave before the client learns the limit.
    let a = request(&mut c, b"a");
    let b = request(&mut c, b"b");
    pump(&mut c, &mut s, t(1));
    assert!(s.stream(a).is_some());
    assert!(s.stream(b).is_none());
    let ev = events(&mut c);
    assert!(
        ev.contains(&Event::StreamReset {
            stream: b,
            code: ErrorCode::RefusedStream,
            remote: true
        }),
        "{ev:?}"
    );
}

#[test]
fn unacknowledged_settings_time_out() {
    let (mut c, _s) = client_server(Config::default(), Config::default());
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    c.transmit(&mut buf);
    let deadline = c.poll_timeout().unwrap();
    assert_eq!(deadline, t(0) + Duration::from_secs(10));
    c.handle_timeout(deadline);
    let n = c.transmit(&mut buf);
    // GOAWAY (type 7) with SETTINGS_TIMEOUT (4).
    assert_eq!(buf[3], 7);
    assert_eq!(&buf[n - 4..n], &[0, 0, 0, 4]);
    assert!(events(&mut c).contains(&Event::Closed {
        code: ErrorCode::SettingsTimeout,
        fault: Fault::Timeout
    }));
    assert!(c.is_closed());
}

/// Hand-built frames from a hostile client after a valid preface and SETTINGS.
fn hostile_server(frames: &[u8]) -> (Connection<Small>, Result<(), ConnectionError>) {
    let mut s = Connection::<Small>::new(Role::Server, Config::default(), t(0)).unwrap();
    let mut input = frame::PREFACE.to_vec();
    input.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    s.recv(&input, t(0)).unwrap();
    let r = s.recv(frames, t(0));
    (s, r)
}

fn goaway_code(s: &mut Connection<Small>) -> u32 {
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let n = s.transmit(&mut buf);
    let mut rest = &buf[..n];
    while rest.len() >= 9 {
        let len = usize::from(rest[1]) << 8 | usize::from(rest[2]);
        if rest[3] == 7 {
            return u32::from_be_bytes([rest[13], rest[14], rest[15], rest[16]]);
        }
        rest = &rest[9 + len..];
    }
    panic!("no GOAWAY sent");
}

#[test]
fn data_on_an_idle_stream_is_a_protocol_error() {
    let mut buf = [0u8; 32];
    let n = Data::new(1, b"x", true).emit(&mut buf).unwrap();
    let (mut s, r) = hostile_server(&buf[..n]);
    assert_eq!(r.unwrap_err().code, ErrorCode::ProtocolError);
    assert_eq!(goaway_code(&mut s), 1);
}

#[test]
fn a_header_block_without_end_is_cut_off() {
    // HEADERS without END_HEADERS, then CONTINUATION frames that never end.
    let mut input = Vec::new();
    let mut buf = [0u8; 64];
    let n = Headers::new(1, &[0x82], false, false)
        .emit(&mut buf)
        .unwrap();
    input.extend_from_slice(&buf[..n]);
    for _ in 0..100 {
        let n = frame::Continuation {
            stream_id: 1,
            end_headers: false,
            fragment: &[0x84],
        }
        .emit(&mut buf)
        .unwrap();
        input.extend_from_slice(&buf[..n]);
    }
    let (mut s, r) = hostile_server(&input);
    assert_eq!(r.unwrap_err().code, ErrorCode::EnhanceYourCalm);
    assert_eq!(goaway_code(&mut s), 0xb);
}

#[test]
fn data_beyond_the_window_is_a_flow_control_error() {
    let small = Config {
        initial_window_size: 16,
        ..Config::default()
    };
    let mut s = Connection::<Small>::new(Role::Server, small, t(0)).unwrap();
    let mut input = frame::PREFACE.to_vec();
    input.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0]);
    let mut buf = [0u8; 128];
    let n = Headers::new(1, &[0x83, 0x86, 0x84], false, true)
        .emit(&mut buf)
        .unwrap();
    input.extend_from_slice(&buf[..n]);
    s.recv(&input, t(0)).unwrap();
    assert!(events(&mut s).contains(&Event::Headers { stream: 1 }));
    let n = Data::new(1, &[7; 40], false).emit(&mut buf).unwrap();
    s.recv(&buf[..n], t(0)).unwrap();
    let ev = events(&mut s);
    assert!(
        ev.contains(&Event::StreamReset {
            stream: 1,
            code: ErrorCode::FlowControlError,
            remote: false
        }),
        "{ev:?}"
    );
    let _ = WindowUpdate::new(1, 1);
}

#[test]
fn late_data_on_a_forgotten_stream_is_dropped_quietly() {
    let (mut c, mut s) = client_server(Config::default(), Config::default());
    let id = c.open_stream(REQUEST.iter().copied(), false).unwrap();
    pump(&mut c, &mut s, t(1));
    s.reset_stream(id, ErrorCode::Cancel);
    s.release_stream(id);
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let n = s.transmit(&mut buf);
    assert_eq!(buf[3], 3, "the one RST_STREAM");
    assert!(s.stream(id).is_none());
    let _ = n;
    // The client had not seen the reset and keeps sending.
    let mut late = Vec::new();
    for _ in 0..100 {
        let mut f = [0u8; 32];
        let n = Data::new(id, b"late", false).emit(&mut f).unwrap();
        late.extend_from_slice(&f[..n]);
    }
    s.recv(&late, t(2)).unwrap();
    assert_eq!(
        s.transmit(&mut buf),
        0,
        "no reset per late frame, no GOAWAY"
    );
    assert!(!s.is_closed());
}

#[test]
fn a_peer_goaway_says_who_closed_and_keeps_its_debug_data() {
    let (mut c, mut s) = client_server(Config::default(), Config::default());
    pump(&mut c, &mut s, t(1));
    let mut buf = [0u8; 64];
    let n = frame::GoAway::new(0, ErrorCode::EnhanceYourCalm, b"too busy")
        .emit(&mut buf)
        .unwrap();
    c.recv(&buf[..n], t(2)).unwrap();
    let ev = events(&mut c);
    assert!(ev.contains(&Event::GoAway {
        last_stream_id: 0,
        code: ErrorCode::EnhanceYourCalm,
        debug: GoAwayDebug::new(b"too busy"),
    }));
    assert!(
        ev.contains(&Event::Closed {
            code: ErrorCode::EnhanceYourCalm,
            fault: Fault::PeerClosed
        }),
        "{ev:?}"
    );
}

#[test]
fn a_protocol_violation_is_the_peers_fault() {
    let mut buf = [0u8; 32];
    let n = Data::new(1, b"x", true).emit(&mut buf).unwrap();
    let (_, r) = hostile_server(&buf[..n]);
    let err = r.unwrap_err();
    assert_eq!(err.fault, Fault::Peer);
    assert!(std::format!("{err}").contains("the peer broke the protocol"));
}

/// A client in lent memory: `scratch` bytes of header scratch, a 4 KiB
/// HPACK table, one stream with `headers` and `body` bytes.
fn lent_client<'a>(
    scratch: &'a mut [u8],
    table: &'a mut [u8],
    stream: StreamBuffers<'a>,
    config: Config,
) -> Connection<LentStorage<'a, 1>> {
    let storage = LentStorage::<1>::new(scratch, table, [stream]).unwrap();
    let mut c = Connection::with_storage(Role::Client, config, storage, t(0)).unwrap();
    // The server's preface: an empty SETTINGS frame (RFC 9113 §3.4).
    c.recv(&[0, 0, 0, 4, 0, 0, 0, 0, 0], t(0)).unwrap();
    let mut out = vec![0u8; MIN_TRANSMIT_BUFFER];
    while c.transmit(&mut out) > 0 {}
    c
}

fn frame_bytes(emit: impl FnOnce(&mut [u8]) -> usize) -> Vec<u8> {
    let mut buf = vec![0u8; 20_000];
    let n = emit(&mut buf);
    buf.truncate(n);
    buf
}

#[test]
fn a_16_kib_data_frame_streams_into_the_body_with_no_frame_buffer() {
    let (mut scratch, mut table) = ([0u8; 256], [0u8; 4096]);
    let (mut headers, mut body, mut send) = ([0u8; 256], vec![0u8; 16_384], [0u8; 256]);
    let stream = StreamBuffers {
        headers: &mut headers,
        body: &mut body,
        send: &mut send,
    };
    let mut c = lent_client(&mut scratch, &mut table, stream, Config::default());
    let id = c.open_stream(REQUEST.iter().copied(), true).unwrap();
    let mut out = vec![0u8; MIN_TRANSMIT_BUFFER];
    assert!(c.transmit(&mut out) > 0);
    // `:status: 200` by static index 8 (RFC 7541 Appendix A), then one DATA
    // frame of 16384 bytes: the largest the peer may send by default.
    let mut wire = frame_bytes(|b| Headers::new(id, &[0x88], false, true).emit(b).unwrap());
    let payload: Vec<u8> = (0..16_384u32).map(|i| (i % 251) as u8).collect();
    wire.extend(frame_bytes(|b| {
        Data::new(id, &payload, true).emit(b).unwrap()
    }));
    for piece in wire.chunks(700) {
        c.recv(piece, t(1)).unwrap();
    }
    let st = c.stream(id).unwrap();
    assert_eq!(st.headers().get(b":status"), Some(&b"200"[..]));
    assert_eq!(st.body(), &payload[..]);
    assert_eq!(st.close_cause(), Some(CloseCause::Finished));
    let ev = events(&mut c);
    assert!(ev.contains(&Event::Data { stream: id }), "{ev:?}");
    assert!(ev.contains(&Event::StreamEnded { stream: id }), "{ev:?}");
}

#[test]
fn a_16_kib_headers_frame_decodes_through_a_1_kib_scratch() {
    // A hand-made block (RFC 7541 §6.1, §6.2.1, §6.2.2): `:status: 200`
    // indexed, 330 literals without indexing `x-NNN: <40 bytes>` (0x00, name
    // length, name, value length, value), and one literal with incremental
    // indexing `x-kept: yes` that the next block refers to as index 62.
    let mut block = vec![0x88];
    let mut expect = vec![(b":status".to_vec(), b"200".to_vec())];
    for i in 0..330u32 {
        let name = std::format!("x-{i:03}").into_bytes();
        let value = vec![b'a' + (i % 26) as u8; 40];
        block.extend([0x00, name.len() as u8]);
        block.extend(&name);
        block.push(value.len() as u8);
        block.extend(&value);
        expect.push((name, value));
    }
    block.extend([0x40, 6]);
    block.extend(b"x-kept");
    block.extend([3]);
    block.extend(b"yes");
    expect.push((b"x-kept".to_vec(), b"yes".to_vec()));
    assert!(block.len() > 15_000 && block.len() <= 16_384);

    let config = Config {
        max_header_list_size: 64 * 1024,
        max_connection_header_size: 128 * 1024,
        ..Config::default()
    };
    let (mut scratch, mut table) = ([0u8; 1024], [0u8; 4096]);
    let (mut headers, mut body, mut send) = (vec![0u8; 64 * 1024], [0u8; 64], [0u8; 256]);
    let stream = StreamBuffers {
        headers: &mut headers,
        body: &mut body,
        send: &mut send,
    };
    let mut c = lent_client(&mut scratch, &mut table, stream, config);
    let id = c.open_stream(REQUEST.iter().copied(), true).unwrap();
    let mut out = vec![0u8; MIN_TRANSMIT_BUFFER];
    assert!(c.transmit(&mut out) > 0);
    let mut wire = frame_bytes(|b| Headers::new(id, &block, false, true).emit(b).unwrap());
    // Trailers: `x-kept: yes` from the dynamic table (index 62), then
    // `grpc-status: 0` as a literal without indexing.
    let mut trailers = vec![0xbe, 0x00, 11];
    trailers.extend(b"grpc-status");
    trailers.extend([1, b'0']);
    wire.extend(frame_bytes(|b| {
        Headers::new(id, &trailers, true, true).emit(b).unwrap()
    }));
    for piece in wire.chunks(1000) {
        c.recv(piece, t(1)).unwrap();
    }
    let st = c.stream(id).unwrap();
    let got: Vec<(Vec<u8>, Vec<u8>)> = st
        .headers()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    assert!(got == expect, "{} fields decoded", got.len());
    let t: Vec<_> = st.trailers().unwrap().collect();
    assert_eq!(
        t,
        [
            (&b"x-kept"[..], &b"yes"[..]),
            (&b"grpc-status"[..], &b"0"[..])
        ]
    );
    assert_eq!(st.close_cause(), Some(CloseCause::Finished));
}

#[test]
fn a_field_larger_than_the_scratch_refuses_its_stream_only() {
    let (mut scratch, mut table) = ([0u8; 256], [0u8; 4096]);
    let (mut headers, mut body, mut send) = ([0u8; 1024], [0u8; 64], [0u8; 256]);
    let stream = StreamBuffers {
        headers: &mut headers,
        body: &mut body,
        send: &mut send,
    };
    let mut c = lent_client(&mut scratch, &mut table, stream, Config::default());
    let id = c.open_stream(REQUEST.iter().copied(), true).unwrap();
    let mut out = vec![0u8; MIN_TRANSMIT_BUFFER];
    assert!(c.transmit(&mut out) > 0);
    // `:status: 200`, then `grpc-message` (a new name) with 600 bytes, not
    // indexed (§6.2.2): more than the 128-byte carry holds.
    let mut block = vec![0x88, 0x00, 12];
    block.extend(b"grpc-message");
    // 600 with a 7-bit prefix (§5.1): 127, then 473 = 89 + 3 * 128.
    block.extend([0x7f, 0x80 | 89, 3]);
    block.extend(vec![b'm'; 600]);
    let wire = frame_bytes(|b| Headers::new(id, &block, true, true).emit(b).unwrap());
    for piece in wire.chunks(100) {
        c.recv(piece, t(1)).unwrap();
    }
    // The list is refused (PROTOCOL_ERROR, as a list past the limit);
    // the connection and its HPACK context carry on.
    assert_eq!(
        c.stream(id).unwrap().close_cause(),
        Some(CloseCause::ResetLocally(ErrorCode::ProtocolError))
    );
    assert!(!c.is_closed());
}

#[test]
fn a_connection_that_failed_its_handshake_asks_for_no_stale_timeout() {
    let mut s = Connection::<Small>::new(Role::Server, Config::default(), t(0)).unwrap();
    // A TLS ClientHello where the HTTP/2 preface belongs.
    assert!(s.recv(&[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01], t(1)).is_err());
    let mut now = t(1);
    for _ in 0..3 {
        match s.poll_timeout() {
            Some(at) => {
                assert!(at >= now, "a due timeout at {at:?} after {now:?}");
                now = at;
                s.handle_timeout(at);
            }
            None => break,
        }
    }
    assert!(s.poll_timeout().is_none_or(|at| at > now));
}
