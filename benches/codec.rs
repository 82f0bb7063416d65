//! ArkoudaRequest codec: arkwire's borrowed views against prost's owned types,
//! encoding and decoding the same messages. The views never allocate (see
//! `arkwire-bench`'s `codec-allocs`); prost's decode allocates each string.

use arkwire::proto::{ArkoudaRequest, ArkoudaRequestRef};
use criterion::{criterion_group, criterion_main, Criterion};
use prost::Message;
use std::hint::black_box;

/// The connect request (36 bytes) and a command with a token, args and a request id.
fn messages() -> [(&'static str, ArkoudaRequestRef<'static>); 2] {
    [
        (
            "connect",
            ArkoudaRequestRef {
                user: "kjyost",
                cmd: "connect",
                format: "STRING",
                size: -1,
                ..Default::default()
            },
        ),
        (
            "command",
            ArkoudaRequestRef {
                user: "kjyost",
                token: "4c1c0d5e6f7a8b9c0d1e2f3a4b5c6d7e",
                cmd: "create",
                format: "STRING",
                size: -1,
                args: "int64 1000000 segarray-values 42 dtype=float64 name=id_7xk2",
                request_id: Some("q3v9x0a1b2c3d4e5f6g7h8i9j0k1l2m3"),
                ..Default::default()
            },
        ),
    ]
}

fn owned(r: &ArkoudaRequestRef<'_>) -> ArkoudaRequest {
    ArkoudaRequest {
        user: r.user.into(),
        token: r.token.into(),
        cmd: r.cmd.into(),
        format: r.format.into(),
        size: r.size,
        args: r.args.into(),
        request_id: r.request_id.map(Into::into),
        ..Default::default()
    }
}

fn codec(c: &mut Criterion) {
    for (name, view) in messages() {
        let prost_msg = owned(&view);
        let wire = prost_msg.encode_to_vec();
        let mut slice = [0u8; 256];
        assert_eq!(view.encode_to_slice(&mut slice).unwrap(), wire.len());

        let mut g = c.benchmark_group(format!("request/{name}"));
        g.bench_function("encode/views", |b| {
            b.iter(|| {
                black_box(&view)
                    .encode_to_slice(black_box(&mut slice))
                    .unwrap()
            })
        });
        let mut reuse = Vec::with_capacity(256);
        g.bench_function("encode/prost (reused Vec)", |b| {
            b.iter(|| {
                reuse.clear();
                black_box(&prost_msg).encode(&mut reuse).unwrap();
                black_box(reuse.len())
            })
        });
        g.bench_function("encode/prost (encode_to_vec)", |b| {
            b.iter(|| black_box(&prost_msg).encode_to_vec())
        });
        g.bench_function("decode/views", |b| {
            b.iter(|| ArkoudaRequestRef::decode(black_box(&wire)).unwrap())
        });
        g.bench_function("decode/prost", |b| {
            b.iter(|| ArkoudaRequest::decode(black_box(wire.as_slice())).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
