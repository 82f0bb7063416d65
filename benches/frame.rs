//! HTTP/2 frame codec benchmarks: header parsing, and decoding a realistic mix of
//! gRPC traffic in one read (zero-copy) and in TCP-segment-sized reads (buffered).

use arkwire::h2::frame::{
    emit_settings, emit_settings_ack, Data, Frame, FrameDecoder, FrameHeader, Headers, Ping,
    Setting, SettingId, WindowUpdate,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

/// Appends one frame emitted by `emit`, sized by `len`.
fn push(out: &mut Vec<u8>, len: usize, emit: impl FnOnce(&mut [u8]) -> usize) {
    let start = out.len();
    out.resize(start + len, 0);
    let n = emit(&mut out[start..]);
    assert_eq!(n, len);
}

/// A connection's worth of unary gRPC calls: settings exchange, then per call a
/// HEADERS block, a small and a 4 KiB DATA frame, trailers, and some flow control.
fn grpc_stream() -> Vec<u8> {
    let mut out = Vec::new();
    let settings = [
        Setting::new(SettingId::MaxConcurrentStreams, 100),
        Setting::new(SettingId::InitialWindowSize, 1 << 20),
    ];
    push(&mut out, 21, |b| emit_settings(&settings, b).unwrap());
    push(&mut out, 9, |b| emit_settings_ack(b).unwrap());
    let block = [0x83u8; 90];
    let small = [0x11u8; 180];
    let big = [0x22u8; 4096];
    let trailers = [0x88u8; 20];
    for i in 0..16u32 {
        let id = 2 * i + 1;
        let h = Headers::new(id, &block, false, true);
        push(&mut out, h.buffer_len(), |b| h.emit(b).unwrap());
        let d = Data::new(id, &small, false);
        push(&mut out, d.buffer_len(), |b| d.emit(b).unwrap());
        let d = Data::new(id, &big, false);
        push(&mut out, d.buffer_len(), |b| d.emit(b).unwrap());
        let t = Headers::new(id, &trailers, true, true);
        push(&mut out, t.buffer_len(), |b| t.emit(b).unwrap());
        push(&mut out, 13, |b| {
            WindowUpdate::new(0, 4276).emit(b).unwrap()
        });
        if i % 4 == 0 {
            push(&mut out, 17, |b| Ping::new([i as u8; 8]).emit(b).unwrap());
        }
    }
    out
}

/// Decodes `stream` in reads of `chunk` bytes; returns the frame count.
fn decode_all(dec: &mut FrameDecoder<Vec<u8>>, stream: &[u8], chunk: usize) -> usize {
    let mut frames = 0;
    for mut input in stream.chunks(chunk) {
        while !input.is_empty() {
            let (used, result) = dec.decode(input);
            input = &input[used..];
            match result {
                Ok(Some(frame)) => {
                    black_box(&frame);
                    if let Frame::Data(d) = frame {
                        black_box(d.data.len());
                    }
                    frames += 1;
                }
                Ok(None) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    frames
}

fn bench(c: &mut Criterion) {
    let header = [0x00, 0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03];
    let mut g = c.benchmark_group("frame_header");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| {
        b.iter(|| FrameHeader::parse(black_box(&header)))
    });
    g.finish();

    let stream = grpc_stream();
    let mut dec = FrameDecoder::new(vec![0u8; 16_384]).unwrap();
    let expected = decode_all(&mut dec, &stream, stream.len());
    let mut g = c.benchmark_group("decode_grpc_mix");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    for (name, chunk) in [
        ("one_read", stream.len()),
        ("mss_1460", 1460),
        ("read_64", 64),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let n = decode_all(&mut dec, black_box(&stream), chunk);
                assert_eq!(n, expected);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
