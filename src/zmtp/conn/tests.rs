//! The REQ state machine against a REP peer whose bytes are written here by
//! hand from RFC 23/37, not produced by our encoder.

use super::*;
use std::vec;
use std::vec::Vec;

type Conn = ReqConnection<heapless::Vec<u8, 2048>>;
const T0: Instant = Instant::from_millis(0);

fn config() -> ZmtpConfig {
    ZmtpConfig {
        max_message_size: 2048,
        handshake_timeout: Duration::from_secs(1),
        ..ZmtpConfig::default()
    }
}

/// FF, 8 padding bytes, 7F, version 3.minor, "NULL" zero-padded to 20, as-server, filler.
fn greeting(minor: u8) -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = minor;
    g[12..16].copy_from_slice(b"NULL");
    g[32] = 1; // a REP binds, so it may well say as-server
    g
}

fn ready(socket_type: &[u8]) -> Vec<u8> {
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type);
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

fn peer_hello() -> Vec<u8> {
    [greeting(1), ready(b"REP")].concat()
}

fn drain<B: Buffer>(conn: &mut ReqConnection<B>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 7]; // odd size: exercises partial transmits
    loop {
        let n = conn.transmit(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn events<B: Buffer>(conn: &mut ReqConnection<B>) -> Vec<ZmtpEvent> {
    core::iter::from_fn(|| conn.poll_event()).collect()
}

fn open() -> Conn {
    let mut c = Conn::new(config(), T0).unwrap();
    drain(&mut c);
    c.recv(&peer_hello(), T0).unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::Ready]);
    drain(&mut c);
    c
}

fn closed_with<B: Buffer>(c: &mut ReqConnection<B>) -> ZmtpError {
    match events(c).pop() {
        Some(ZmtpEvent::Closed { error }) => error,
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[test]
fn we_send_rfc_greeting_and_ready() {
    let mut c = Conn::new(config(), T0).unwrap();
    let mut expected = greeting(1);
    expected[32] = 0; // we are not the server
    expected.extend_from_slice(b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REQ");
    // Signature and major version first; the rest of the greeting after the
    // peer's signature and major version; READY after its whole greeting.
    assert_eq!(drain(&mut c), expected[..11]);
    let peer = greeting(1);
    c.recv(&peer[..10], T0).unwrap();
    assert!(drain(&mut c).is_empty());
    c.recv(&peer[10..11], T0).unwrap();
    assert_eq!(drain(&mut c), expected[11..64]);
    c.recv(&peer[11..63], T0).unwrap();
    assert!(drain(&mut c).is_empty());
    c.recv(&peer[63..], T0).unwrap();
    assert_eq!(drain(&mut c), expected[64..]);
    assert!(!c.wants_transmit());
    assert_eq!(c.peer_minor_version(), Some(1));
    c.recv(&ready(b"ROUTER"), T0).unwrap();
    assert!(c.is_ready());
    let mut minor0 = Conn::new(config(), T0).unwrap();
    assert_eq!(minor0.peer_minor_version(), None);
    minor0.recv(&greeting(0), T0).unwrap();
    assert_eq!(minor0.peer_minor_version(), Some(0));
}

#[test]
fn a_peer_asking_for_plain_is_refused_by_name_before_ready_goes_out() {
    let mut c = Conn::new(config(), T0).unwrap();
    assert_eq!(drain(&mut c).len(), 11);
    let mut plain = greeting(1);
    plain[12..32].fill(0);
    plain[12..17].copy_from_slice(b"PLAIN");
    let err = c.recv(&plain, T0).unwrap_err();
    assert!(
        matches!(err, ZmtpError::UnsupportedMechanism { .. }),
        "{err:?}"
    );
    assert!(std::format!("{err}").contains("\"PLAIN\""), "{err}");
    assert_eq!(closed_with(&mut c), err);
    // Nothing more goes out: no READY the peer would leave unread.
    assert!(drain(&mut c).is_empty());
}

/// The delimiter, `{}` with MORE, then a LONG final frame of 0..=255 twice (512 bytes).
fn peer_reply() -> Vec<u8> {
    let mut r = b"\x01\x00\x01\x02{}\x02\x00\x00\x00\x00\x00\x00\x02\x00".to_vec();
    r.extend((0..=255u8).chain(0..=255u8));
    r
}

#[test]
fn request_bytes_and_multipart_reply() {
    let mut c = open();
    c.send_request(&[b"hello", b"\xff"], None).unwrap();
    assert_eq!(drain(&mut c), b"\x01\x00\x01\x05hello\x00\x01\xff");
    c.recv(&peer_reply(), T0).unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::Reply]);
    let frames: Vec<&[u8]> = c.reply_frames().collect();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0], b"{}");
    assert_eq!(frames[1].len(), 512);
    assert_eq!(frames[1][255..258], [255, 0, 1]);
    c.release_reply();
    assert_eq!(c.reply_frames().count(), 0);
    // An empty request is one empty frame.
    c.send_request(&[], None).unwrap();
    assert_eq!(drain(&mut c), b"\x01\x00\x00\x00");
}

#[test]
fn one_byte_at_a_time_equals_all_at_once() {
    let stream = [peer_hello(), peer_reply()].concat();
    let mut whole = Conn::new(config(), T0).unwrap();
    whole.send_request(&[b"x"], None).unwrap();
    whole.recv(&stream, T0).unwrap();
    let mut bytewise = Conn::new(config(), T0).unwrap();
    bytewise.send_request(&[b"x"], None).unwrap();
    for b in &stream {
        bytewise.recv(core::slice::from_ref(b), T0).unwrap();
    }
    assert_eq!(events(&mut whole), [ZmtpEvent::Ready, ZmtpEvent::Reply]);
    assert_eq!(events(&mut bytewise), [ZmtpEvent::Ready, ZmtpEvent::Reply]);
    assert!(whole.reply_frames().eq(bytewise.reply_frames()));
    // The request queued before the handshake follows our READY.
    assert!(drain(&mut whole).ends_with(b"\x01\x00\x00\x01x"));
}

#[test]
fn strict_alternation() {
    let mut c = open();
    c.send_request(&[b"a"], None).unwrap();
    assert_eq!(c.send_request(&[b"b"], None), Err(ZmtpError::Busy));
    c.recv(b"\x01\x00\x00\x01A", T0).unwrap();
    // Reply held: still busy until released.
    assert_eq!(c.send_request(&[b"b"], None), Err(ZmtpError::Busy));
    c.release_reply();
    c.send_request(&[b"b"], None).unwrap();
    c.recv(b"\x01\x00\x00\x01B", T0).unwrap();
    c.release_reply();
    // A reply nobody asked for.
    let e = c.recv(b"\x01\x00\x00\x01C", T0).unwrap_err();
    assert!(matches!(e, ZmtpError::ProtocolViolation(_)));
    assert_eq!(closed_with(&mut c), e);
    assert_eq!(c.send_request(&[b"d"], None), Err(ZmtpError::Closed));
}

#[test]
fn reply_must_start_with_delimiter() {
    let mut c = open();
    c.send_request(&[b"a"], None).unwrap();
    assert!(matches!(
        c.recv(b"\x00\x01A", T0),
        Err(ZmtpError::ProtocolViolation(_))
    ));
    let mut c = open();
    c.send_request(&[b"a"], None).unwrap();
    assert!(c.recv(b"\x00\x00", T0).is_err()); // delimiter without MORE
}

#[test]
fn ping_gets_pong_with_same_context() {
    let mut c = open();
    c.recv(b"\x04\x0a\x04PING\x00\x64abc", T0).unwrap();
    assert_eq!(drain(&mut c), b"\x04\x08\x04PONGabc");
    // A PING between the frames of a reply is answered too.
    c.send_request(&[b"q"], None).unwrap();
    drain(&mut c);
    c.recv(b"\x01\x00\x04\x07\x04PING\x00\x00\x00\x01R", T0)
        .unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::Reply]);
    assert_eq!(drain(&mut c), b"\x04\x05\x04PONG");
    // PONGs and unknown commands are ignored.
    c.recv(b"\x04\x05\x04PONG\x04\x08\x07UNKNOWN", T0).unwrap();
    assert!(c.is_ready() && events(&mut c).is_empty());
}

#[test]
fn pong_waits_when_send_queue_is_full() {
    let mut c = ReqConnection::<heapless::Vec<u8, 128>>::new(
        ZmtpConfig {
            max_message_size: 128,
            ..config()
        },
        T0,
    )
    .unwrap();
    c.recv(&peer_hello(), T0).unwrap();
    // The greeting and READY are still queued (91 bytes); fill the rest.
    c.send_request(&[&[0u8; 30]], None).unwrap();
    c.recv(b"\x04\x0a\x04PING\x00\x64abc", T0).unwrap();
    let out = drain(&mut c);
    assert!(out.ends_with(b"\x04\x08\x04PONGabc"));
    assert_eq!(out.len(), 91 + 34 + 10);
}

#[test]
fn peer_error_closes_with_reason() {
    let mut c = open();
    let e = c.recv(b"\x04\x0c\x05ERROR\x05oops!", T0).unwrap_err();
    assert_eq!(e, ZmtpError::peer_error(b"oops!"));
    assert_eq!(closed_with(&mut c), e);
    assert!(c.is_closed());
    assert_eq!(c.transmit(&mut [0u8; 8]), 0);
    // Input after close is ignored, not an error.
    assert_eq!(c.recv(b"garbage", T0), Ok(()));
    // An ERROR instead of READY, e.g. after a refused handshake.
    let mut c = Conn::new(config(), T0).unwrap();
    let e = c
        .recv(
            &[greeting(0), b"\x04\x0c\x05ERROR\x05nope!".to_vec()].concat(),
            T0,
        )
        .unwrap_err();
    assert!(matches!(e, ZmtpError::PeerError(r) if r == "nope!"));
}

#[test]
fn handshake_failures_are_typed() {
    let fail = |bytes: &[u8]| {
        let mut c = Conn::new(config(), T0).unwrap();
        let e = c.recv(bytes, T0).unwrap_err();
        assert_eq!(closed_with(&mut c), e);
        e
    };
    assert_eq!(fail(b"\x00\x00"), ZmtpError::WrongSignature);
    let mut g = greeting(0);
    g[10] = 1;
    assert!(matches!(
        fail(&g),
        ZmtpError::UnsupportedVersion { major: 1, .. }
    ));
    let mut g = greeting(0);
    g[12..17].copy_from_slice(b"CURVE");
    assert!(matches!(fail(&g), ZmtpError::UnsupportedMechanism { .. }));
    for bad in [&b"PUB"[..], b"DEALER", b"rep"] {
        assert_eq!(
            fail(&[greeting(1), ready(bad)].concat()),
            ZmtpError::WrongSocketType
        );
    }
    let no_type = [greeting(1), b"\x04\x06\x05READY".to_vec()].concat();
    assert_eq!(fail(&no_type), ZmtpError::WrongSocketType);
    let ping_first = [greeting(1), b"\x04\x07\x04PING\x00\x00".to_vec()].concat();
    assert_eq!(fail(&ping_first), ZmtpError::UnexpectedCommand);
    let data_first = [greeting(1), b"\x01\x00".to_vec()].concat();
    assert!(matches!(fail(&data_first), ZmtpError::ProtocolViolation(_)));
    let mut twice = peer_hello();
    twice.extend(ready(b"REP"));
    assert_eq!(fail(&twice), ZmtpError::UnexpectedCommand);
}

#[test]
fn oversize_is_refused_from_the_header() {
    let mut c = open();
    c.send_request(&[b"a"], None).unwrap();
    // A LONG frame announcing 2 GiB: refused with only its 9 header bytes in.
    let e = c
        .recv(b"\x01\x00\x02\x00\x00\x00\x00\x80\x00\x00\x00", T0)
        .unwrap_err();
    assert_eq!(
        e,
        ZmtpError::FrameTooLarge {
            size: 1 << 31,
            max: 2048
        }
    );
    // Frames that fit alone but not together.
    let mut c = open();
    c.send_request(&[b"a"], None).unwrap();
    let mut r = b"\x01\x00\x03\x00\x00\x00\x00\x00\x00\x04\x00".to_vec();
    r.extend([7u8; 1024]);
    r.extend(b"\x02\x00\x00\x00\x00\x00\x00\x04\x01");
    let e = c.recv(&r, T0).unwrap_err();
    assert_eq!(
        e,
        ZmtpError::FrameTooLarge {
            size: 2049,
            max: 2048
        }
    );
    // Too many frames.
    let mut c = open();
    c.send_request(&[b"a"], None).unwrap();
    let e = c.recv(&[0x01u8, 0x00].repeat(1 + MAX_REPLY_FRAMES + 1), T0);
    assert_eq!(
        e,
        Err(ZmtpError::TooManyFrames {
            max: MAX_REPLY_FRAMES
        })
    );
}

#[test]
fn commands_above_the_command_limit() {
    // An unknown 600-byte command is skipped unread.
    let mut c = open();
    let mut big = vec![0x06, 0, 0, 0, 0, 0, 0, 0x02, 0x58, 0x03];
    big.extend(b"FOO");
    big.extend([0u8; 596]);
    c.recv(&big, T0).unwrap();
    assert!(c.is_ready());
    // A READY that big is refused.
    let mut c = Conn::new(config(), T0).unwrap();
    let mut big = greeting(1);
    big.extend([0x06, 0, 0, 0, 0, 0, 0, 0x02, 0x58, 0x05]);
    big.extend(b"READY");
    big.extend([0u8; 594]);
    assert!(matches!(
        c.recv(&big, T0),
        Err(ZmtpError::FrameTooLarge { size: 600, .. })
    ));
}

#[test]
fn request_deadline_times_out_and_late_reply_is_dropped() {
    let mut c = open();
    let deadline = T0 + Duration::from_millis(100);
    c.send_request(&[b"slow"], Some(deadline)).unwrap();
    assert_eq!(c.poll_timeout(), Some(deadline));
    c.handle_timeout(Instant::from_millis(99));
    assert!(events(&mut c).is_empty());
    c.handle_timeout(deadline);
    assert_eq!(events(&mut c), [ZmtpEvent::TimedOut]);
    assert!(c.is_closed());
    assert_eq!(c.poll_timeout(), None);
    c.recv(b"\x01\x00\x00\x01A", Instant::from_millis(150))
        .unwrap();
    assert!(events(&mut c).is_empty());
    assert_eq!(c.reply_frames().count(), 0);
    assert_eq!(c.send_request(&[b"next"], None), Err(ZmtpError::Closed));
}

#[test]
fn reply_arriving_after_deadline_is_not_taken() {
    let mut c = open();
    c.send_request(&[b"slow"], Some(Instant::from_millis(100)))
        .unwrap();
    // The driver was late to call handle_timeout; recv fires the deadline first.
    c.recv(b"\x01\x00\x00\x01A", Instant::from_millis(101))
        .unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::TimedOut]);
}

#[test]
fn handshake_timeout() {
    let mut c = Conn::new(config(), T0).unwrap();
    assert_eq!(c.poll_timeout(), Some(Instant::from_millis(1000)));
    c.recv(&greeting(1), T0).unwrap();
    c.handle_timeout(Instant::from_millis(1000));
    assert_eq!(closed_with(&mut c), ZmtpError::HandshakeTimeout);
}

#[test]
fn local_limits() {
    let too_small = ReqConnection::<heapless::Vec<u8, 64>>::new(config(), T0);
    assert!(matches!(too_small, Err(ZmtpError::InvalidConfig(_))));
    let tiny = ZmtpConfig {
        max_message_size: 64,
        ..config()
    };
    assert!(matches!(
        ReqConnection::<heapless::Vec<u8, 64>>::new(tiny, T0),
        Err(ZmtpError::InvalidConfig(_))
    ));
    let mut c = open();
    assert_eq!(
        c.send_request(&[&[0u8; 2048]], None),
        Err(ZmtpError::BufferFull)
    );
    // The growable tier takes the same bytes.
    let mut g = ReqConnection::<Vec<u8>>::new(config(), T0).unwrap();
    assert_eq!(drain(&mut g).len(), 11);
    g.recv(&peer_hello(), T0).unwrap();
    g.send_request(&[&[1u8; 4000]], None).unwrap();
    assert_eq!(drain(&mut g).len(), 80 + 2 + 9 + 4000);
}

#[test]
fn a_request_waits_for_the_handshake() {
    // libzmq 4.3 drops a peer whose message arrives before the handshake is done.
    let mut c = Conn::new(config(), T0).unwrap();
    c.send_request(&[b"early"], None).unwrap();
    assert_eq!(drain(&mut c).len(), 11, "the greeting's first part only");
    assert!(!c.wants_transmit());
    c.recv(&peer_hello(), T0).unwrap();
    assert!(c.wants_transmit());
    assert_eq!(
        drain(&mut c)[80..],
        [&[0x01, 0x00, 0x00, 0x05][..], b"early"].concat()
    );
}

fn heartbeat_config() -> ZmtpConfig {
    ZmtpConfig {
        heartbeat_interval: Some(Duration::from_millis(100)),
        heartbeat_timeout: Duration::from_millis(300),
        ..config()
    }
}

/// A connection past its handshake with a peer of ZMTP 3.`minor`.
fn open_with(config: ZmtpConfig, minor: u8) -> Conn {
    let mut c = Conn::new(config, T0).unwrap();
    c.recv(&[greeting(minor), ready(b"REP")].concat(), T0)
        .unwrap();
    drain(&mut c);
    assert_eq!(events(&mut c), [ZmtpEvent::Ready]);
    c
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// PING per RFC 37: flags 0x04, size, 0x04 "PING", TTL (deciseconds), context.
const PING_300MS: &[u8] = b"\x04\x0e\x04PING\x00\x03arkwire";

#[test]
fn an_idle_connection_pings_and_a_pong_keeps_it() {
    let mut c = open_with(heartbeat_config(), 1);
    assert_eq!(c.poll_timeout(), Some(t(100)));
    c.handle_timeout(t(100));
    assert_eq!(drain(&mut c), PING_300MS);
    // The answer is due by 100 + 300 ms.
    assert_eq!(c.poll_timeout(), Some(t(400)));
    c.recv(b"\x04\x0c\x04PONGarkwire", t(150)).unwrap();
    assert_eq!(
        c.poll_timeout(),
        Some(t(250)),
        "the next PING, not a deadline"
    );
    c.handle_timeout(t(250));
    assert_eq!(drain(&mut c), PING_300MS);
    assert!(c.is_ready());
}

#[test]
fn a_peer_silent_after_a_ping_fails_the_connection() {
    let mut c = open_with(heartbeat_config(), 1);
    c.handle_timeout(t(100));
    drain(&mut c);
    c.handle_timeout(t(399));
    assert!(c.is_ready());
    c.handle_timeout(t(400));
    assert_eq!(closed_with(&mut c), ZmtpError::HeartbeatTimeout);
}

#[test]
fn a_zmtp_3_0_peer_gets_no_ping_and_no_heartbeat_deadline() {
    let mut c = open_with(heartbeat_config(), 0);
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t(10_000));
    assert_eq!(drain(&mut c), b"");
    assert!(c.is_ready());
}

#[test]
fn heartbeats_are_off_unless_configured() {
    let mut c = open_with(config(), 1);
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t(60_000));
    assert_eq!(drain(&mut c), b"");
}

/// A connection with growable buffers, past its handshake, held replies up
/// to 2048 bytes.
fn open_growable() -> ReqConnection<Vec<u8>> {
    let mut c = ReqConnection::<Vec<u8>>::new(config(), T0).unwrap();
    drain(&mut c);
    c.recv(&peer_hello(), T0).unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::Ready]);
    drain(&mut c);
    c
}

/// Transmits at most `n` bytes in one go.
fn transmit_some<B: Buffer>(conn: &mut ReqConnection<B>, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let got = conn.transmit(&mut buf);
    buf.truncate(got);
    buf
}

/// A payload whose every byte says where it is (mod 251, a prime, so
/// chunk boundaries never line up with the pattern).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

const PAYLOAD_LEN: usize = (1 << 20) + 3;

fn payload_streaming() -> Streaming {
    Streaming {
        payload_len: Some(PAYLOAD_LEN as u64),
        ..Streaming::default()
    }
}

#[test]
fn a_streamed_payload_goes_out_as_one_long_frame_never_queueing_more_than_the_cap() {
    let mut c = open_growable();
    let payload = pattern(PAYLOAD_LEN);
    c.send_request_with(&[b"cmd", b"{}"], payload_streaming(), None)
        .unwrap();
    assert_eq!(c.payload_remaining(), PAYLOAD_LEN as u64);
    // Delimiter, two frames with MORE, then the payload's LONG header
    // (flags 0x02: long, no MORE) announcing its whole length.
    let mut expected = b"\x01\x00\x01\x03cmd\x01\x02{}\x02".to_vec();
    expected.extend_from_slice(&(PAYLOAD_LEN as u64).to_be_bytes());
    let mut out = Vec::new();
    let mut at = 0;
    let mut writes = 0;
    let mut largest_queue = 0;
    while at < payload.len() {
        // The application offers more than the cap; the queue takes what fits.
        let n = c.write_payload(&payload[at..(at + 300_000).min(payload.len())]);
        at += n;
        writes += 1;
        largest_queue = largest_queue.max(c.unsent());
        assert!(
            c.unsent() <= MAX_QUEUED_PAYLOAD,
            "{} bytes queued",
            c.unsent()
        );
        // Sent bytes stay in front only while they are fewer than the rest.
        assert!(
            c.tx.len() <= 2 * MAX_QUEUED_PAYLOAD,
            "{} bytes held",
            c.tx.len()
        );
        assert_eq!(c.payload_remaining(), (PAYLOAD_LEN - at) as u64);
        // A socket that takes 100 000 bytes a turn.
        out.extend(transmit_some(&mut c, 100_000));
        assert!(writes < 1000, "no progress");
    }
    assert!(writes > 4, "written in several steps, not {writes}");
    assert_eq!(
        largest_queue, MAX_QUEUED_PAYLOAD,
        "the queue filled to its cap"
    );
    // Past the announced length nothing more is taken.
    assert_eq!(c.write_payload(b"extra"), 0);
    out.extend(drain(&mut c));
    assert_eq!(out.len(), expected.len() + PAYLOAD_LEN);
    assert_eq!(out[..expected.len()], expected[..]);
    assert!(
        out[expected.len()..] == payload[..],
        "payload bytes changed"
    );
    // The request is outstanding as any other: its reply comes back held.
    assert_eq!(c.send_request(&[b"x"], None), Err(ZmtpError::Busy));
    c.recv(b"\x01\x00\x00\x02ok", T0).unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::Reply]);
    assert_eq!(c.reply_frames().collect::<Vec<_>>(), [b"ok"]);
}

#[test]
fn a_streamed_payload_alone_and_an_empty_one() {
    // No frames before the payload: delimiter, then the payload frame.
    let mut c = open_growable();
    c.send_request_with(
        &[],
        Streaming {
            payload_len: Some(3),
            ..Streaming::default()
        },
        None,
    )
    .unwrap();
    assert_eq!(c.write_payload(b"abcdef"), 3);
    assert_eq!(drain(&mut c), b"\x01\x00\x00\x03abc");
    // An empty payload is complete at once: its frame is just a header.
    let mut c = open_growable();
    c.send_request_with(
        &[b"q"],
        Streaming {
            payload_len: Some(0),
            ..Streaming::default()
        },
        None,
    )
    .unwrap();
    assert_eq!(c.payload_remaining(), 0);
    assert_eq!(c.write_payload(b"x"), 0);
    assert_eq!(drain(&mut c), b"\x01\x00\x01\x01q\x00\x00");
}

#[test]
fn a_ping_during_the_payload_is_answered_only_after_its_last_byte() {
    let mut c = open_growable();
    let payload = pattern(PAYLOAD_LEN);
    c.send_request_with(&[b"cmd"], payload_streaming(), None)
        .unwrap();
    let mut out = Vec::new();
    let mut at = c.write_payload(&payload);
    out.extend(drain(&mut c));
    // The peer pings in the middle of our frame.
    c.recv(b"\x04\x0a\x04PING\x00\x64ctx", T0).unwrap();
    // Nothing to send but the held PONG, which must wait: nothing to give.
    assert_eq!(c.transmit(&mut [0u8; 64]), 0);
    assert!(!c.wants_transmit(), "nothing can go out until more payload");
    while at < payload.len() {
        at += c.write_payload(&payload[at..]);
        out.extend(drain(&mut c));
        // A second PING replaces the first: one PONG waits at a time.
        if at < payload.len() {
            c.recv(b"\x04\x0a\x04PING\x00\x64new", T0).unwrap();
        }
    }
    let head_len = 2 + 5 + 9;
    assert!(
        out[head_len..head_len + PAYLOAD_LEN] == payload[..],
        "a command landed inside the payload frame"
    );
    assert_eq!(&out[head_len + PAYLOAD_LEN..], b"\x04\x08\x04PONGnew");
    assert!(!c.wants_transmit());
}

/// The delimiter, then the header of one final LONG frame of `size` bytes.
fn long_reply_head(size: u64) -> Vec<u8> {
    let mut r = b"\x01\x00\x02".to_vec();
    r.extend_from_slice(&size.to_be_bytes());
    r
}

fn streaming_reply(above: u64, max: u64) -> Streaming {
    Streaming {
        payload_len: None,
        reply_above: Some(above),
        max_streamed_reply: max,
    }
}

#[test]
fn a_large_one_frame_reply_streams_out_in_order_then_reply() {
    // A held reply may not exceed 2048 bytes; this one is 1 MiB.
    let mut c = open_growable();
    let size = 1 << 20;
    c.send_request_with(&[b"get"], streaming_reply(1000, 1 << 30), None)
        .unwrap();
    drain(&mut c);
    let body = pattern(size);
    c.recv(&long_reply_head(size as u64), T0).unwrap();
    assert_eq!(
        events(&mut c),
        [ZmtpEvent::StreamedReply { size: size as u64 }],
        "announced from the header alone"
    );
    assert!(c.streamed().is_empty());
    let mut got = Vec::new();
    for piece in body.chunks(65_521) {
        c.recv(piece, T0).unwrap();
        // Taken in two steps: a partial take leaves the rest in order.
        let half = c.streamed().len() / 2;
        got.extend_from_slice(&c.streamed()[..half]);
        c.take_streamed(half);
        got.extend_from_slice(c.streamed());
        let n = c.streamed().len();
        c.take_streamed(n);
        assert!(c.reply.len() < 65_521, "taken bytes are not kept");
        if got.len() < size {
            assert!(events(&mut c).is_empty(), "Reply before the last byte");
        }
    }
    assert_eq!(events(&mut c), [ZmtpEvent::Reply]);
    assert!(got == body, "streamed bytes differ");
    c.release_reply();
    // The next request's small reply is held as ever.
    c.send_request_with(&[b"get"], streaming_reply(1000, 1 << 30), None)
        .unwrap();
    c.recv(b"\x01\x00\x00\x05small", T0).unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::Reply]);
    assert!(c.streamed().is_empty());
    assert_eq!(c.reply_frames().collect::<Vec<_>>(), [b"small"]);
}

#[test]
fn bytes_left_untaken_stay_in_order_until_the_application_takes_them() {
    let mut c = open_growable();
    c.send_request_with(&[b"get"], streaming_reply(10, 1000), None)
        .unwrap();
    let mut reply = long_reply_head(100);
    reply.extend(pattern(100));
    c.recv(&reply, T0).unwrap();
    assert_eq!(
        events(&mut c),
        [ZmtpEvent::StreamedReply { size: 100 }, ZmtpEvent::Reply]
    );
    assert_eq!(c.streamed(), &pattern(100)[..]);
    c.take_streamed(40);
    assert_eq!(c.streamed(), &pattern(100)[40..]);
    c.release_reply();
    assert!(c.streamed().is_empty());
}

#[test]
fn a_streamed_reply_above_its_limit_is_refused_from_the_header() {
    let mut c = open_growable();
    c.send_request_with(&[b"get"], streaming_reply(1000, 1 << 20), None)
        .unwrap();
    let e = c.recv(&long_reply_head((1 << 20) + 1), T0).unwrap_err();
    assert_eq!(
        e,
        ZmtpError::FrameTooLarge {
            size: (1 << 20) + 1,
            max: 1 << 20
        }
    );
    assert_eq!(closed_with(&mut c), e);
    // Exactly the limit is taken.
    let mut c = open_growable();
    c.send_request_with(&[b"get"], streaming_reply(1000, 1 << 20), None)
        .unwrap();
    c.recv(&long_reply_head(1 << 20), T0).unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::StreamedReply { size: 1 << 20 }]);
}

#[test]
fn replies_of_several_frames_or_below_the_bound_are_held_whole() {
    // Two frames, the second larger than reply_above: held (and within
    // max_message_size), never streamed.
    let mut c = open_growable();
    c.send_request_with(&[b"get"], streaming_reply(100, 1 << 30), None)
        .unwrap();
    let mut r = b"\x01\x00\x01\x02{}\x00\xc8".to_vec();
    r.extend(pattern(200));
    c.recv(&r, T0).unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::Reply]);
    assert!(c.streamed().is_empty());
    let frames: Vec<&[u8]> = c.reply_frames().collect();
    assert_eq!(frames, [&b"{}"[..], &pattern(200)[..]]);
    c.release_reply();
    // Several frames together past max_message_size are refused as before.
    c.send_request_with(&[b"get"], streaming_reply(100, 1 << 30), None)
        .unwrap();
    let mut r = b"\x01\x00\x01\x02{}\x02".to_vec();
    r.extend_from_slice(&4096u64.to_be_bytes());
    assert!(matches!(
        c.recv(&r, T0),
        Err(ZmtpError::FrameTooLarge {
            size: 4098,
            max: 2048
        })
    ));
    // One frame of exactly reply_above bytes: held.
    let mut c = open_growable();
    c.send_request_with(&[b"get"], streaming_reply(100, 1 << 30), None)
        .unwrap();
    let mut r = b"\x01\x00\x00\x64".to_vec();
    r.extend(pattern(100));
    c.recv(&r, T0).unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::Reply]);
    assert_eq!(c.reply_frames().next(), Some(&pattern(100)[..]));
    // Without reply_above a large one-frame reply is bound by max_message_size.
    let mut c = open_growable();
    c.send_request(&[b"get"], None).unwrap();
    assert!(matches!(
        c.recv(&long_reply_head(4096), T0),
        Err(ZmtpError::FrameTooLarge {
            size: 4096,
            max: 2048
        })
    ));
}

#[test]
fn a_deadline_mid_stream_ends_the_connection() {
    let mut c = open_growable();
    let deadline = T0 + Duration::from_millis(100);
    c.send_request_with(&[b"get"], streaming_reply(10, 1 << 20), Some(deadline))
        .unwrap();
    c.recv(&long_reply_head(1000), T0).unwrap();
    c.recv(&pattern(500), T0).unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::StreamedReply { size: 1000 }]);
    c.recv(&pattern(500), deadline).unwrap();
    assert_eq!(events(&mut c), [ZmtpEvent::TimedOut]);
    assert!(c.is_closed());
    // A payload cut by the deadline is not written further either.
    let mut c = open_growable();
    c.send_request_with(&[b"put"], payload_streaming(), Some(deadline))
        .unwrap();
    assert!(c.write_payload(&[1; 10]) == 10);
    c.handle_timeout(deadline);
    assert_eq!(events(&mut c), [ZmtpEvent::TimedOut]);
    assert_eq!(c.write_payload(&[1; 10]), 0);
    assert_eq!(c.transmit(&mut [0u8; 64]), 0);
}

#[test]
fn a_payload_written_for_longer_than_the_heartbeat_allows_is_not_cut_off() {
    let mut c = ReqConnection::<Vec<u8>>::new(heartbeat_config(), T0).unwrap();
    c.recv(&[greeting(1), ready(b"REP")].concat(), T0).unwrap();
    drain(&mut c);
    assert_eq!(events(&mut c), [ZmtpEvent::Ready]);
    // A PING goes out and is still unanswered when the payload starts.
    c.handle_timeout(t(100));
    assert_eq!(drain(&mut c), PING_300MS);
    let streaming = Streaming {
        payload_len: Some(1000),
        ..Streaming::default()
    };
    c.send_request_with(&[b"cmd"], streaming, None).unwrap();
    // 100 bytes every 200 ms: 2 s with the peer silent, far past the
    // heartbeat's 100 + 300 ms, as a large upload to a busy peer is.
    for i in 0..10u64 {
        assert_eq!(
            c.poll_timeout(),
            None,
            "no heartbeat is awaited mid-payload"
        );
        c.handle_timeout(t(200 + 200 * i));
        assert_eq!(c.write_payload(&[7u8; 100]), 100);
        let out = drain(&mut c);
        assert!(
            !out.windows(5).any(|w| w == b"\x04PING"),
            "a PING inside the frame"
        );
    }
    assert!(!c.is_closed(), "cut off by the heartbeat mid-payload");
    assert_eq!(c.payload_remaining(), 0);
    // The frame is out: the heartbeat resumes, due at once after 2 s of silence.
    c.handle_timeout(t(2200));
    assert_eq!(drain(&mut c), PING_300MS);
    assert_eq!(c.poll_timeout(), Some(t(2500)));
}
