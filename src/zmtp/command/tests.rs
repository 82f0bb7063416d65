use super::*;
use crate::zmtp::frame::FrameHeader;

/// `04 19 05 READY 0B Socket-Type 00000003 REP`, assembled by hand from RFC 23.
const RFC_READY_REP: &[u8] = b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REP";

fn body(frame: &[u8]) -> &[u8] {
    let (h, n) = FrameHeader::parse(frame).unwrap().unwrap();
    assert!(h.command);
    assert_eq!(h.size as usize, frame.len() - n);
    &frame[n..]
}

#[test]
fn parses_hand_built_ready() {
    let Command::Ready(meta) = Command::parse(body(RFC_READY_REP)).unwrap() else {
        panic!("not READY");
    };
    let props: std::vec::Vec<_> = meta.iter().collect();
    assert_eq!(
        props,
        [Property {
            name: b"Socket-Type",
            value: b"REP"
        }]
    );
    assert_eq!(meta.get("socket-type"), Some(&b"REP"[..]));
    assert_eq!(meta.get("Identity"), None);
}

#[test]
fn emits_ready_identical_to_hand_built() {
    let props = [Property {
        name: b"Socket-Type",
        value: b"REP",
    }];
    let mut meta = [0u8; 64];
    let n = Metadata::emit(&props, &mut meta).unwrap();
    assert_eq!(n, Metadata::encoded_len(&props));
    let ready = Command::Ready(Metadata::new_checked(&meta[..n]).unwrap());
    let mut out = [0u8; 64];
    let n = ready.emit(&mut out).unwrap();
    assert_eq!(n, ready.buffer_len());
    assert_eq!(&out[..n], RFC_READY_REP);
    assert_eq!(ready.emit(&mut out[..n - 1]), Err(ZmtpError::BufferFull));
}

#[test]
fn ping_pong_and_error_by_hand() {
    // PING: size 10 = 1 + "PING" + TTL 0x0064 + "abc".
    let ping = b"\x04\x0a\x04PING\x00\x64abc";
    assert_eq!(
        Command::parse(body(ping)).unwrap(),
        Command::Ping {
            ttl: 100,
            context: b"abc"
        }
    );
    let mut out = [0u8; 32];
    let n = Command::Pong { context: b"abc" }.emit(&mut out).unwrap();
    assert_eq!(&out[..n], b"\x04\x08\x04PONGabc");
    // ERROR: size 12 = 1 + "ERROR" + 1 + "oops!".
    let error = b"\x04\x0c\x05ERROR\x05oops!";
    assert_eq!(
        Command::parse(body(error)).unwrap(),
        Command::Error { reason: b"oops!" }
    );
    let n = Command::Error { reason: b"oops!" }.emit(&mut out).unwrap();
    assert_eq!(&out[..n], error);
    let n = Command::Ping {
        ttl: 100,
        context: b"abc",
    }
    .emit(&mut out)
    .unwrap();
    assert_eq!(&out[..n], ping);
}

#[test]
fn unknown_commands_pass_through() {
    assert_eq!(
        Command::parse(b"\x09SUBSCRIBEtopic").unwrap(),
        Command::Unknown {
            name: b"SUBSCRIBE",
            data: b"topic"
        }
    );
}

#[test]
fn malformed_bodies_are_typed_errors() {
    let bad: &[&[u8]] = &[
        b"",
        b"\x00",
        b"\x09READY",
        b"\x05READY\x0bSocket-Type\x00\x00\x00\x04REP",
        b"\x05READY\x0bSocket-Type\x00\x00",
        b"\x05READY\x00\x00\x00\x00\x00",
        b"\x05READY\x20Socket",
        b"\x04PING\x00",
        b"\x04PING\x00\x01aaaaaaaaaaaaaaaaa",
        b"\x04PONGaaaaaaaaaaaaaaaaa",
        b"\x05ERROR",
        b"\x05ERROR\x09short",
    ];
    for b in bad {
        assert!(
            matches!(Command::parse(b), Err(ZmtpError::MalformedCommand(_))),
            "{b:?}"
        );
    }
    // Oversized reasons and empty names cannot be emitted either.
    let long = [b'x'; 256];
    assert!(Command::Error { reason: &long }
        .emit(&mut [0u8; 300])
        .is_err());
    let empty = [Property {
        name: b"",
        value: b"",
    }];
    assert!(Metadata::emit(&empty, &mut [0u8; 8]).is_err());
}
