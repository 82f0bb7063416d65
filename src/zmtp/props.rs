//! Property tests: Reprs round-trip through emit and parse; arbitrary input
//! never panics the decoders or the connection, before or after the handshake.

use super::*;
use crate::time::Instant;
use proptest::prelude::*;
use std::vec::Vec;

type Conn = ReqConnection<heapless::Vec<u8, 4096>>;

fn config() -> ZmtpConfig {
    ZmtpConfig {
        max_message_size: 4096,
        ..ZmtpConfig::default()
    }
}

/// A REP peer's greeting and READY, by hand (RFC 23).
fn peer_hello() -> Vec<u8> {
    let mut g = std::vec![0u8; 64];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    g.extend_from_slice(b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REP");
    g
}

/// Feeds `bytes` in pieces of the given sizes (cycled), ignoring errors.
fn feed_chunked(c: &mut Conn, bytes: &[u8], sizes: &[usize]) -> Result<(), ZmtpError> {
    let mut rest = bytes;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = (*size).clamp(1, rest.len());
        c.recv(&rest[..n], Instant::from_millis(0))?;
        rest = &rest[n..];
    }
    Ok(())
}

proptest! {
    #[test]
    fn frame_headers_round_trip(command: bool, more: bool, size: u64, split in 0usize..9) {
        let h = FrameHeader { command, more: more && !command, size };
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = h.emit(&mut buf).unwrap();
        prop_assert_eq!(n, h.buffer_len());
        prop_assert_eq!(FrameHeader::parse(&buf[..n]).unwrap(), Some((h, n)));
        let mut d = FrameHeaderDecoder::new();
        let split = split.min(n);
        let (a, first) = d.feed(&buf[..split], u64::MAX);
        let (b, second) = d.feed(&buf[split..n], u64::MAX);
        prop_assert_eq!(a + b, n);
        let got = first.unwrap().or(second.unwrap());
        prop_assert_eq!(got, Some(h));
    }

    #[test]
    fn commands_round_trip(
        ttl: u16,
        context in proptest::collection::vec(any::<u8>(), 0..=16),
        reason in proptest::collection::vec(any::<u8>(), 0..=255),
        props in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 1..20), proptest::collection::vec(any::<u8>(), 0..40)),
            0..5,
        ),
    ) {
        let props: Vec<Property<'_>> =
            props.iter().map(|(n, v)| Property { name: n, value: v }).collect();
        let mut meta = [0u8; 512];
        let m = Metadata::emit(&props, &mut meta).unwrap();
        let meta = Metadata::new_checked(&meta[..m]).unwrap();
        prop_assert!(meta.iter().eq(props.iter().copied()));
        let cmds = [
            Command::Ready(meta),
            Command::Ping { ttl, context: &context },
            Command::Pong { context: &context },
            Command::Error { reason: &reason },
        ];
        for cmd in cmds {
            let mut out = [0u8; 1024];
            let n = cmd.emit(&mut out).unwrap();
            prop_assert_eq!(n, cmd.buffer_len());
            let (h, hl) = FrameHeader::parse(&out[..n]).unwrap().unwrap();
            prop_assert!(h.command);
            prop_assert_eq!(Command::parse(&out[hl..n]).unwrap(), cmd);
        }
    }

    #[test]
    fn replies_round_trip_in_any_split(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 1..6),
        sizes in proptest::collection::vec(1usize..64, 1..8),
    ) {
        let mut wire = peer_hello();
        wire.extend_from_slice(b"\x01\x00");
        for (i, f) in frames.iter().enumerate() {
            let mut buf = std::vec![0u8; f.len() + 9];
            let n = emit_message_frame(f, i + 1 < frames.len(), &mut buf).unwrap();
            wire.extend_from_slice(&buf[..n]);
        }
        let mut c = Conn::new(config(), Instant::from_millis(0)).unwrap();
        c.send_request(&[b"req"], None).unwrap();
        feed_chunked(&mut c, &wire, &sizes).unwrap();
        prop_assert_eq!(c.poll_event(), Some(ZmtpEvent::Ready));
        prop_assert_eq!(c.poll_event(), Some(ZmtpEvent::Reply));
        prop_assert!(c.reply_frames().eq(frames.iter().map(|f| &f[..])));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        junk in proptest::collection::vec(any::<u8>(), 0..600),
        sizes in proptest::collection::vec(1usize..80, 1..6),
        after_handshake: bool,
        outstanding: bool,
    ) {
        let mut c = Conn::new(config(), Instant::from_millis(0)).unwrap();
        if after_handshake {
            c.recv(&peer_hello(), Instant::from_millis(0)).unwrap();
        }
        if outstanding {
            c.send_request(&[b"req"], None).unwrap();
        }
        let result = feed_chunked(&mut c, &junk, &sizes);
        // An error always leaves the connection closed and says so.
        if result.is_err() {
            prop_assert!(c.is_closed());
        }
        let _ = c.reply_frames().count();
        let _ = c.transmit(&mut [0u8; 64]);
        while c.poll_event().is_some() {}
        let _ = Greeting::check_prefix(&junk);
        let _ = Command::parse(&junk);
        let _ = FrameHeader::parse(&junk);
    }

    #[test]
    fn frame_shaped_noise_after_handshake_never_panics(
        parts in proptest::collection::vec((0u8..8, proptest::collection::vec(any::<u8>(), 0..40)), 0..12),
    ) {
        // Valid-looking headers with arbitrary flags and bodies reach deeper states
        // than uniform noise does.
        let mut wire = Vec::new();
        for (flags, body) in &parts {
            wire.push(flags & !FLAG_LONG);
            wire.push(body.len() as u8);
            wire.extend_from_slice(body);
        }
        let mut c = Conn::new(config(), Instant::from_millis(0)).unwrap();
        c.recv(&peer_hello(), Instant::from_millis(0)).unwrap();
        c.send_request(&[b"req"], None).unwrap();
        let _ = c.recv(&wire, Instant::from_millis(0));
        let _ = c.reply_frames().count();
        c.release_reply();
        let _ = c.send_request(&[b"again"], None);
    }
}
