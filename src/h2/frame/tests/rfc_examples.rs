//! Frames written byte by byte from the RFC 9113 §3.4, §4.1 and §6 layouts, not by our encoder.

extern crate std;

use super::super::*;
use super::{decoder, one_frame};
use crate::h2::ErrorCode;
use std::vec::Vec;

#[test]
fn rfc_9113_preface_bytes() {
    let by_hand = [
        0x50, 0x52, 0x49, 0x20, 0x2a, 0x20, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x32, 0x2e, 0x30, 0x0d,
        0x0a, 0x0d, 0x0a, 0x53, 0x4d, 0x0d, 0x0a, 0x0d, 0x0a,
    ];
    assert_eq!(PREFACE, &by_hand);
    // One byte at a time, then a frame that must be left untouched.
    let mut p = Preface::new();
    for b in by_hand {
        assert!(!p.is_complete());
        assert_eq!(p.feed(&[b]), Ok(1));
    }
    assert!(p.is_complete());
    assert_eq!(p.feed(&[0, 0, 0, 4]), Ok(0));
    // All at once with a frame behind it.
    let mut p = Preface::new();
    let mut stream = by_hand.to_vec();
    stream.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    assert_eq!(p.feed(&stream), Ok(24));
    // An HTTP/1.1 request is not a preface.
    let e = Preface::new().feed(b"GET / HTTP/1.1\r\n").unwrap_err();
    assert_eq!(e, FrameError::BadPreface);
    assert_eq!(e.error_code(), ErrorCode::ProtocolError);
    let mut p = Preface::new();
    assert_eq!(p.feed(b"PRI "), Ok(4));
    assert!(p.feed(b"*X").is_err());
}

#[test]
fn rfc_settings_ack_by_hand() {
    // Length 0, type 0x4, flags ACK, stream 0.
    let bytes = [0x00, 0x00, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00];
    let mut dec = decoder();
    let (used, r) = dec.decode(&bytes);
    assert_eq!(used, 9);
    assert_eq!(r, Ok(Some(Frame::Settings(SettingsFrame::ACK))));
    let mut buf = [0; 9];
    assert_eq!(emit_settings_ack(&mut buf), Ok(9));
    assert_eq!(buf, bytes);
}

#[test]
fn rfc_settings_with_values_by_hand() {
    // Length 12; ENABLE_PUSH (0x2) = 0; INITIAL_WINDOW_SIZE (0x4) = 0x00010000.
    let bytes = [
        0x00, 0x00, 0x0c, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x02, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x04, 0x00, 0x01, 0x00, 0x00,
    ];
    let mut dec = decoder();
    let Ok(Some(Frame::Settings(s))) = dec.decode(&bytes).1 else {
        panic!("not SETTINGS")
    };
    let list: Vec<Setting> = s.iter().collect();
    assert_eq!(
        list,
        [
            Setting::new(SettingId::EnablePush, 0),
            Setting::new(SettingId::InitialWindowSize, 65_536)
        ]
    );
    let mut buf = [0; 21];
    assert_eq!(emit_settings(&list, &mut buf), Ok(21));
    assert_eq!(buf, bytes);
}

#[test]
fn rfc_ping_by_hand() {
    // Length 8, type 0x6, flags 0x1 (ACK), stream 0, opaque data.
    let bytes = [
        0x00, 0x00, 0x08, 0x06, 0x01, 0x00, 0x00, 0x00, 0x00, //
        0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03,
    ];
    let ping = Ping::ack([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
    assert_eq!(decoder().decode(&bytes).1, Ok(Some(Frame::Ping(ping))));
    let mut buf = [0; 17];
    assert_eq!(ping.emit(&mut buf), Ok(17));
    assert_eq!(buf, bytes);
}

#[test]
fn rfc_goaway_by_hand() {
    // Length 10, type 0x7, stream 0; last stream 0x7fffffff with R set (ignored);
    // ENHANCE_YOUR_CALM (0xb); debug data "hi".
    let bytes = [
        0x00, 0x00, 0x0a, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x0b, b'h', b'i',
    ];
    let g = GoAway::new(0x7fff_ffff, ErrorCode::EnhanceYourCalm, b"hi");
    assert_eq!(decoder().decode(&bytes).1, Ok(Some(Frame::GoAway(g))));
    let mut buf = [0; 19];
    assert_eq!(g.emit(&mut buf), Ok(19));
    // Sent with the reserved bit clear.
    assert_eq!(buf[9], 0x7f);
    assert_eq!(buf[10..], bytes[10..]);
}

#[test]
fn rfc_window_update_and_rst_stream_by_hand() {
    // WINDOW_UPDATE: length 4, type 0x8, stream 1 (R set, ignored), increment 0x8000 (R set).
    let wu = [
        0x00, 0x00, 0x04, 0x08, 0x00, 0x80, 0x00, 0x00, 0x01, 0x80, 0x00, 0x80, 0x00,
    ];
    let w = WindowUpdate::new(1, 0x8000);
    assert_eq!(decoder().decode(&wu).1, Ok(Some(Frame::WindowUpdate(w))));
    let mut buf = [0; 13];
    assert_eq!(w.emit(&mut buf), Ok(13));
    assert_eq!(buf, [0, 0, 4, 8, 0, 0, 0, 0, 1, 0, 0, 0x80, 0]);
    // RST_STREAM: length 4, type 0x3, stream 3, CANCEL (0x8).
    let rst = [
        0x00, 0x00, 0x04, 0x03, 0x00, 0x00, 0x00, 0x00, 0x03, 0, 0, 0, 8,
    ];
    let r = RstStream::new(3, ErrorCode::Cancel);
    assert_eq!(decoder().decode(&rst).1, Ok(Some(Frame::RstStream(r))));
    assert_eq!(r.emit(&mut buf), Ok(13));
    assert_eq!(buf, rst);
}

#[test]
fn rfc_headers_and_data_by_hand() {
    // HEADERS: length 7, type 0x1, flags END_STREAM|END_HEADERS|PADDED (0x0d), stream 1,
    // pad length 2, fragment 0x82 0x86 0x84 0x41 (":method GET" etc.), 2 padding bytes.
    let h = [
        0x00, 0x00, 0x07, 0x01, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x02, 0x82, 0x86, 0x84, 0x41, 0x00,
        0x00,
    ];
    let mut dec = decoder();
    let Ok(Some(Frame::Headers(hd))) = dec.decode(&h).1 else {
        panic!("not HEADERS")
    };
    assert!(hd.end_stream && hd.end_headers && hd.priority.is_none());
    assert_eq!(hd.fragment, &[0x82, 0x86, 0x84, 0x41]);
    // DATA: length 5, type 0x0, flags END_STREAM, stream 1, "hello".
    let d = [
        0x00, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, b'h', b'e', b'l', b'l', b'o',
    ];
    assert_eq!(
        decoder().decode(&d).1,
        Ok(Some(Frame::Data(Data::new(1, b"hello", true))))
    );
    assert_eq!(Data::header_only(1, 5, true).unwrap(), d[..9]);
}

#[test]
fn frame_level_rules_through_the_decoder() {
    let code = |b: &[u8]| one_frame(b).unwrap_err().error_code();
    // SETTINGS on stream 1.
    assert_eq!(code(&[0, 0, 0, 4, 0, 0, 0, 0, 1]), ErrorCode::ProtocolError);
    // DATA on stream 0.
    assert_eq!(code(&[0, 0, 0, 0, 0, 0, 0, 0, 0]), ErrorCode::ProtocolError);
    // PING of 7 bytes.
    assert_eq!(
        code(&[0, 0, 7, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]),
        ErrorCode::FrameSizeError
    );
}
