//! Heap allocations per message of the ArkoudaRequest codecs, counted by a
//! global allocator: arkwire's views (encode into a slice, decode borrowing)
//! against prost (encode into a reused Vec, `encode_to_vec`, decode).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use arkwire::proto::{ArkoudaRequest, ArkoudaRequestRef};
use arkwire_bench::result;
use prost::Message;

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROUNDS: usize = 10_000;

/// Allocations per call of `f`, over ROUNDS calls.
fn per_call(mut f: impl FnMut()) -> f64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..ROUNDS {
        f();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / ROUNDS as f64
}

fn main() {
    let view = ArkoudaRequestRef {
        user: "kjyost",
        cmd: "connect",
        format: "STRING",
        size: -1,
        ..Default::default()
    };
    let owned = ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "connect".into(),
        format: "STRING".into(),
        size: -1,
        ..Default::default()
    };
    let wire = owned.encode_to_vec();
    let mut slice = [0u8; 128];
    let mut reuse = Vec::with_capacity(128);
    result(
        "codec.views_encode_allocs",
        per_call(|| {
            std::hint::black_box(view.encode_to_slice(&mut slice).unwrap());
        }),
    );
    result(
        "codec.views_decode_allocs",
        per_call(|| {
            std::hint::black_box(ArkoudaRequestRef::decode(std::hint::black_box(&wire)).unwrap());
        }),
    );
    result(
        "codec.prost_encode_reused_allocs",
        per_call(|| {
            reuse.clear();
            owned.encode(&mut reuse).unwrap();
            std::hint::black_box(&reuse);
        }),
    );
    result(
        "codec.prost_encode_to_vec_allocs",
        per_call(|| {
            std::hint::black_box(owned.encode_to_vec());
        }),
    );
    result(
        "codec.prost_decode_allocs",
        per_call(|| {
            std::hint::black_box(
                ArkoudaRequest::decode(std::hint::black_box(wire.as_slice())).unwrap(),
            );
        }),
    );
}
