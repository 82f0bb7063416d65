//! HTTP/2 frame decoder: the input (after a first byte that picks the chunk
//! sizes) is fed in pieces. Every frame decoded is emitted again and must
//! decode, from one fresh decoder call, to an equal frame.
#![no_main]

use arkwire::h2::frame::{Frame, FrameDecoder, FrameKind};
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

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let mut decoder = FrameDecoder::new([0u8; 16_384]).unwrap();
    for chunk in chunks(seed, stream) {
        let mut input = chunk;
        loop {
            let (used, result) = decoder.decode(input);
            assert!(used <= input.len());
            input = &input[used..];
            match result {
                Ok(Some(frame)) => round_trip(&frame),
                Ok(None) => {
                    assert!(input.is_empty(), "Ok(None) with input left");
                    break;
                }
                Err(e) if e.is_connection_error() => return,
                Err(_) => {}
            }
            if input.is_empty() {
                break;
            }
        }
    }
});
