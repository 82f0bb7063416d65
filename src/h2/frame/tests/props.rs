//! Property tests: arbitrary Reprs round-trip; arbitrary input never panics.

extern crate std;

use super::super::*;
use super::{decode_chunks, decoder, mixed_stream};
use crate::h2::ErrorCode;
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

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
