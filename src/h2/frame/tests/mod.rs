//! Cross-cutting tests: incremental decoding here; RFC 9113 examples written by hand
//! from the §4.1 / §6 layouts in `rfc_examples`; property tests in `props`.

extern crate std;

use super::*;
use crate::h2::ErrorCode;
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

mod props;
mod rfc_examples;

/// Decodes `bytes` fed as the given chunks, returning each frame's Debug text, or the
/// error text for errors. Stops at a connection error.
pub(super) fn decode_chunks<B: AsMut<[u8]>>(
    dec: &mut FrameDecoder<B>,
    chunks: &[&[u8]],
) -> Vec<String> {
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

pub(super) fn decoder() -> FrameDecoder<Vec<u8>> {
    FrameDecoder::new(vec![0; DEFAULT_MAX_FRAME_SIZE as usize]).unwrap()
}

pub(super) fn one_frame(bytes: &[u8]) -> Result<Option<String>, FrameError> {
    let mut dec = decoder();
    let (used, r) = dec.decode(bytes);
    assert_eq!(used, bytes.len());
    r.map(|f| f.map(|f| format!("{f:?}")))
}

/// A mixed stream of every frame type, including an unknown one and a payload too big
/// to arrive in one small read.
pub(super) fn mixed_stream() -> Vec<u8> {
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
