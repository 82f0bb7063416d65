//! Cross-cutting tests: RFC 9113 examples written by hand from the §4.1 / §6 layouts,
//! incremental decoding, and property tests.

extern crate std;

use super::*;
use crate::h2::ErrorCode;
use proptest::prelude::*;
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

/// Decodes `bytes` fed as the given chunks, returning each frame's Debug text, or the
/// error text for errors. Stops at a connection error.
fn decode_chunks<B: AsMut<[u8]>>(dec: &mut FrameDecoder<B>, chunks: &[&[u8]]) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in chunks {
        let mut input = *chunk;
        loop {
            let (used, result) = dec.decode(input);
            assert!(used <= input.len());
            input = input.get(used..).unwrap();
            match result {
                Ok(Some(frame)) => out.push(format!("{frame:?}")),
                Ok(None) => {
                    assert!(input.is_empty(), "Ok(None) must take all input");
                    break;
                }
                Err(e) => {
                    out.push(format!("error {e:?}"));
                    if e.is_connection_error() {
                        return out;
                    }
                }
            }
            if input.is_empty() {
                break;
            }
        }
    }
    out
}

fn decoder() -> FrameDecoder<Vec<u8>> {
    FrameDecoder::new(vec![0; DEFAULT_MAX_FRAME_SIZE as usize]).unwrap()
}

fn one_frame(bytes: &[u8]) -> Result<Option<String>, FrameError> {
    let mut dec = decoder();
    let (used, r) = dec.decode(bytes);
    assert_eq!(used, bytes.len());
    r.map(|f| f.map(|f| format!("{f:?}")))
}

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

/// A mixed stream of every frame type, including an unknown one and a payload too big
/// to arrive in one small read.
fn mixed_stream() -> Vec<u8> {
    let big = vec![0x5a; 16_384];
    let prio = Priority {
        exclusive: true,
        dependency: 1,
        weight: 200,
    };
    let frames = [
        Frame::Settings(SettingsFrame::ACK),
        Frame::WindowUpdate(WindowUpdate::new(0, 1 << 20)),
        Frame::Headers(Headers {
            priority: Some(prio),
            pad_len: Some(3),
            ..Headers::new(3, b"\x82\x86\x84", false, false)
        }),
        Frame::Continuation(Continuation {
            stream_id: 3,
            end_headers: true,
            fragment: b"\x41\x8a",
        }),
        Frame::Unknown {
            kind: 0xfa,
            flags: 0xff,
            stream_id: 3,
            payload: b"ignore me",
        },
        Frame::Data(Data {
            pad_len: Some(0),
            ..Data::new(3, b"grpc", false)
        }),
        Frame::Data(Data::new(3, &big, true)),
        Frame::Ping(Ping::new(*b"12345678")),
        Frame::Priority(PriorityFrame {
            stream_id: 5,
            priority: prio,
        }),
        Frame::PushPromise(PushPromise {
            stream_id: 3,
            end_headers: true,
            pad_len: None,
            promised_stream_id: 2,
            fragment: b"\x82",
        }),
        Frame::RstStream(RstStream::new(3, ErrorCode::Cancel)),
        Frame::GoAway(GoAway::new(3, ErrorCode::NoError, b"bye")),
    ];
    let mut out = Vec::new();
    for f in frames {
        let start = out.len();
        out.resize(start + f.buffer_len(), 0);
        assert_eq!(f.emit(&mut out[start..]), Ok(f.buffer_len()));
    }
    let mut s = [0; 30];
    let n = emit_settings(
        &[
            Setting::new(SettingId::MaxFrameSize, 1 << 20),
            Setting::new(SettingId::Unknown(0x99), 1),
        ],
        &mut s,
    )
    .unwrap();
    out.extend_from_slice(&s[..n]);
    out
}

#[test]
fn one_byte_at_a_time_equals_one_read() {
    let stream = mixed_stream();
    let whole = decode_chunks(&mut decoder(), &[&stream]);
    assert_eq!(whole.len(), 13);
    assert!(whole[4].starts_with("Unknown { kind: 250"));
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    let mut dec = decoder();
    assert_eq!(decode_chunks(&mut dec, &bytes), whole);
    assert!(dec.is_at_boundary());
}

#[test]
fn oversize_frame_is_refused_at_its_header() {
    let mut dec = decoder();
    // DATA of 16385 bytes: only the header is given.
    let header = [0x00, 0x40, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
    for (i, b) in header.iter().enumerate().take(8) {
        assert_eq!(dec.decode(&[*b]), (1, Ok(None)), "byte {i}");
    }
    let (_, r) = dec.decode(&header[8..]);
    let e = r.unwrap_err();
    assert_eq!(
        e,
        FrameError::TooLarge {
            length: 16_385,
            max: 16_384
        }
    );
    assert_eq!(e.error_code(), ErrorCode::FrameSizeError);
    // The decoder stays failed.
    assert_eq!(dec.decode(&[0; 20]), (0, Err(e)));
    assert_eq!(dec.failed(), Some(e));
    // Zero-copy path too.
    assert!(matches!(
        one_frame(&header),
        Err(FrameError::TooLarge { .. })
    ));
    // Raising the limit lets it through.
    let mut dec = FrameDecoder::new(vec![0; 1 << 15]).unwrap();
    dec.set_max_frame_size(1 << 15).unwrap();
    assert_eq!(dec.decode(&header), (9, Ok(None)));
}

#[test]
fn max_frame_size_setter_checks_range_and_buffer() {
    let mut dec = FrameDecoder::new([0u8; 20_000]).unwrap();
    assert_eq!(
        dec.set_max_frame_size(16_383),
        Err(ConfigError::MaxFrameSizeOutOfRange(16_383))
    );
    assert_eq!(
        dec.set_max_frame_size(1 << 24),
        Err(ConfigError::MaxFrameSizeOutOfRange(1 << 24))
    );
    assert!(matches!(
        dec.set_max_frame_size(20_001),
        Err(ConfigError::BufferTooSmall { .. })
    ));
    assert_eq!(dec.set_max_frame_size(20_000), Ok(()));
    assert_eq!(dec.max_frame_size(), 20_000);
    assert!(FrameDecoder::new([0u8; 100]).is_err());
}

#[test]
fn stream_errors_let_decoding_continue() {
    // WINDOW_UPDATE of 0 on stream 1, then a PING.
    let mut bytes = vec![0, 0, 4, 8, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    bytes.extend_from_slice(&[0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    let mut dec = decoder();
    let (used, r) = dec.decode(&bytes);
    assert_eq!(used, 13);
    assert_eq!(r.unwrap_err().scope(), ErrorScope::Stream(1));
    assert!(matches!(
        dec.decode(&bytes[13..]),
        (17, Ok(Some(Frame::Ping(_))))
    ));
    // Same when buffered byte by byte.
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    let out = decode_chunks(&mut decoder(), &chunks);
    assert_eq!(out.len(), 2);
    assert!(out[0].starts_with("error ZeroWindowIncrement"));
    assert!(out[1].starts_with("Ping"));
}

#[test]
fn empty_input_takes_nothing() {
    let mut dec = decoder();
    assert_eq!(dec.decode(&[]), (0, Ok(None)));
    assert_eq!(dec.decode(&[0, 0]), (2, Ok(None)));
    assert_eq!(dec.decode(&[]), (0, Ok(None)));
    assert!(!dec.is_at_boundary());
}

/// Raw material for one arbitrary valid frame; the borrowed bytes live in the case.
#[derive(Clone, Debug)]
struct Spec {
    kind: u8,
    stream_id: u32,
    a: bool,
    b: bool,
    pad: Option<u8>,
    prio: Option<(bool, u32, u8)>,
    word: u32,
    ping: [u8; 8],
    bytes: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            0u8..=10,
            1u32..=MAX_WINDOW_SIZE,
            any::<bool>(),
            any::<bool>(),
        ),
        (any::<Option<u8>>(), any::<Option<(bool, u32, u8)>>()),
        (1u32..=MAX_WINDOW_SIZE, any::<[u8; 8]>()),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |((kind, stream_id, a, b), (pad, prio), (word, ping), bytes)| Spec {
                kind,
                stream_id,
                a,
                b,
                pad,
                prio,
                word,
                ping,
                bytes,
            },
        )
}

fn build(s: &Spec) -> Frame<'_> {
    let prio = s.prio.map(|(exclusive, dep, weight)| {
        let dependency = dep & 0x7fff_ffff;
        Priority {
            exclusive,
            // Avoid the (separately tested) self-dependency error.
            dependency: if dependency == s.stream_id {
                0
            } else {
                dependency
            },
            weight,
        }
    });
    let data = &s.bytes[..];
    match s.kind {
        0 => Frame::Data(Data {
            stream_id: s.stream_id,
            end_stream: s.a,
            pad_len: s.pad,
            data,
        }),
        1 => Frame::Headers(Headers {
            stream_id: s.stream_id,
            end_stream: s.a,
            end_headers: s.b,
            priority: prio,
            pad_len: s.pad,
            fragment: data,
        }),
        2 => Frame::Priority(PriorityFrame {
            stream_id: s.stream_id,
            priority: prio.unwrap_or(Priority {
                exclusive: s.a,
                dependency: 0,
                weight: 16,
            }),
        }),
        3 => Frame::RstStream(RstStream::new(s.stream_id, ErrorCode::from_u32(s.word))),
        4 => Frame::Settings(SettingsFrame::ACK),
        5 => Frame::PushPromise(PushPromise {
            stream_id: s.stream_id,
            end_headers: s.b,
            pad_len: s.pad,
            promised_stream_id: s.word,
            fragment: data,
        }),
        6 => Frame::Ping(Ping {
            ack: s.a,
            data: s.ping,
        }),
        7 => Frame::GoAway(GoAway::new(s.word, ErrorCode::from_u32(s.word), data)),
        8 => Frame::WindowUpdate(WindowUpdate::new(s.stream_id, s.word)),
        9 => Frame::Continuation(Continuation {
            stream_id: s.stream_id,
            end_headers: s.b,
            fragment: data,
        }),
        _ => Frame::Unknown {
            kind: 10u8.saturating_add(s.ping[0] % 246),
            flags: s.ping[1],
            stream_id: s.stream_id,
            payload: data,
        },
    }
}

proptest! {
    #[test]
    fn reprs_round_trip(s in spec(), split in any::<prop::sample::Index>()) {
        let frame = build(&s);
        let mut buf = vec![0; frame.buffer_len()];
        prop_assert_eq!(frame.emit(&mut buf), Ok(frame.buffer_len()));
        prop_assert!(frame.emit(&mut buf[..frame.buffer_len() - 1]).is_err());
        // One read: zero-copy.
        let mut dec = decoder();
        prop_assert_eq!(dec.decode(&buf), (buf.len(), Ok(Some(frame))));
        // Two reads: buffered.
        let at = split.index(buf.len());
        let mut dec = decoder();
        let (used, r) = dec.decode(&buf[..at]);
        prop_assert_eq!((used, r), (at, Ok(None)));
        prop_assert_eq!(dec.decode(&buf[at..]), (buf.len() - at, Ok(Some(frame))));
    }

    #[test]
    fn settings_lists_round_trip(list in proptest::collection::vec((any::<u16>(), any::<u32>()), 0..20)) {
        let list: Vec<Setting> = list
            .into_iter()
            .map(|(id, v)| Setting::new(SettingId::from_u16(id), v))
            .filter(|s| s.validate().is_ok())
            .collect();
        let mut buf = vec![0; 9 + 6 * list.len()];
        prop_assert_eq!(emit_settings(&list, &mut buf), Ok(buf.len()));
        let mut dec = decoder();
        let (_, r) = dec.decode(&buf);
        let Ok(Some(Frame::Settings(f))) = r else { panic!("{r:?}") };
        prop_assert!(!f.ack);
        prop_assert_eq!(f.iter().collect::<Vec<_>>(), list);
    }

    #[test]
    fn random_chunking_gives_the_same_frames(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let stream = mixed_stream();
        let whole = decode_chunks(&mut decoder(), &[&stream]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let chunks: Vec<&[u8]> = points.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
        prop_assert_eq!(decode_chunks(&mut decoder(), &chunks), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000), chunk in 1usize..64) {
        let chunks: Vec<&[u8]> = bytes.chunks(chunk).collect();
        decode_chunks(&mut decoder(), &chunks);
        let mut big = FrameDecoder::new(vec![0; 1 << 20]).unwrap();
        big.set_max_frame_size(1 << 20).unwrap();
        decode_chunks(&mut big, &chunks);
        let _ = Preface::new().feed(&bytes);
    }

    #[test]
    fn arbitrary_well_framed_junk_never_panics(
        frames in proptest::collection::vec(
            (0u8..12, any::<u8>(), 0u32..4, proptest::collection::vec(any::<u8>(), 0..24)),
            0..30,
        ),
        chunk in 1usize..32,
    ) {
        // Correct lengths with random payloads reach every per-type parser.
        let mut bytes = Vec::new();
        for (kind, flags, stream, payload) in &frames {
            let h = FrameHeader {
                length: payload.len() as u32,
                kind: FrameKind::from_u8(*kind),
                flags: Flags(*flags),
                stream_id: *stream,
            };
            bytes.extend_from_slice(&h.to_bytes());
            bytes.extend_from_slice(payload);
        }
        let whole = decode_chunks(&mut decoder(), &[&bytes]);
        let chunks: Vec<&[u8]> = bytes.chunks(chunk).collect();
        prop_assert_eq!(decode_chunks(&mut decoder(), &chunks), whole);
    }
}
