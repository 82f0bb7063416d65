//! HTTP/2 frame decoder: the input (after a first byte that picks the chunk
//! sizes) is fed in pieces. Every frame decoded is emitted again and must
//! decode, from one fresh decoder call, to an equal frame. The streaming
//! reader (no payload buffer) reads the same pieces and must report the
//! same frames, with the same contents, until either side stops.
#![no_main]

use arkwire::h2::frame::{Frame, FrameDecoder, FrameKind, FrameReader, Piece};
use arkwire_fuzz::chunks;
use libfuzzer_sys::fuzz_target;

fn round_trip(frame: &Frame<'_>) {
    if let Frame::Unknown { kind, .. } = frame {
        if !matches!(FrameKind::from_u8(*kind), FrameKind::Unknown(_)) {
            return;
        }
    }
    let len = frame.buffer_len();
    let mut out = vec![0u8; len];
    let n = frame.emit(&mut out).expect("buffer_len bytes suffice");
    assert_eq!(n, len, "emit wrote {n} bytes, buffer_len said {len}");
    let mut fresh = FrameDecoder::new(vec![0u8; 16_384]).unwrap();
    let (used, result) = fresh.decode(&out[..n]);
    assert_eq!(used, n, "re-decode took {used} of {n} bytes");
    match result {
        Ok(Some(again)) => assert_eq!(&again, frame, "frame changed in a round trip"),
        other => panic!("emitted {frame:?} re-decodes as {other:?}"),
    }
}

/// A frame as both readers can describe it: type, stream, and the content
/// of DATA (its data) and header blocks (their fragment).
type Summary = (u8, u32, Vec<u8>);

fn summary(frame: &Frame<'_>) -> Summary {
    let content = match frame {
        Frame::Data(d) => d.data.to_vec(),
        Frame::Headers(h) => h.fragment.to_vec(),
        Frame::Continuation(c) => c.fragment.to_vec(),
        _ => Vec::new(),
    };
    (frame.kind().to_u8(), frame.stream_id(), content)
}

/// What the streaming reader reports for the same pieces, until an error.
fn read_streamed(seed: u8, stream: &[u8]) -> Vec<Summary> {
    let mut reader = FrameReader::new();
    let mut out = Vec::new();
    let mut content = Vec::new();
    for chunk in chunks(seed, stream) {
        let mut input = chunk;
        loop {
            let (used, result) = reader.read(input);
            assert!(used <= input.len());
            input = &input[used..];
            match result {
                Ok(Some(Piece::Frame(Frame::Unknown { .. }))) => {}
                Ok(Some(Piece::Frame(f))) => out.push(summary(&f)),
                Ok(Some(Piece::Begin(_))) => content.clear(),
                Ok(Some(Piece::Content(c))) => content.extend_from_slice(c),
                Ok(Some(Piece::Setting(_))) => {}
                Ok(Some(Piece::End(f))) if f.kind == FrameKind::Settings => {}
                Ok(Some(Piece::End(f))) => {
                    out.push((f.kind.to_u8(), f.stream_id, std::mem::take(&mut content)))
                }
                Ok(None) => break,
                Err(_) => return out,
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let streamed = read_streamed(seed, stream);
    let mut whole = Vec::new();
    check(seed, stream, &mut whole);
    let n = whole.len().min(streamed.len());
    assert_eq!(whole[..n], streamed[..n], "the streaming reader disagrees");
});

fn check(seed: u8, stream: &[u8], seen: &mut Vec<Summary>) {
    let mut decoder = FrameDecoder::new([0u8; 16_384]).unwrap();
    for chunk in chunks(seed, stream) {
        let mut input = chunk;
        loop {
            let (used, result) = decoder.decode(input);
            assert!(used <= input.len());
            input = &input[used..];
            match result {
                Ok(Some(frame)) => {
                    round_trip(&frame);
                    // SETTINGS stream entry by entry; PUSH_PROMISE and
                    // unknown payloads are not kept by the reader.
                    if !matches!(
                        frame,
                        Frame::Settings(_) | Frame::PushPromise(_) | Frame::Unknown { .. }
                    ) {
                        seen.push(summary(&frame));
                    }
                }
                Ok(None) => {
                    assert!(input.is_empty(), "Ok(None) with input left");
                    break;
                }
                Err(_) => return,
            }
            if input.is_empty() {
                break;
            }
        }
    }
}
