//! Helpers shared by the fuzz targets.

/// Splits `data` into chunks whose lengths come from `seed`: `0` gives one
/// chunk, small seeds give tiny chunks (down to single bytes), large seeds
/// give chunks of up to ~1 KiB. Deterministic, so a crash reproduces.
pub fn chunks(seed: u8, data: &[u8]) -> Chunks<'_> {
    Chunks {
        rest: data,
        seed,
        state: u32::from(seed).wrapping_mul(0x9e37_79b9) | 1,
    }
}

/// Iterator returned by [`chunks`].
pub struct Chunks<'a> {
    rest: &'a [u8],
    seed: u8,
    state: u32,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let len = if self.seed == 0 {
            self.rest.len()
        } else {
            // xorshift32
            self.state ^= self.state << 13;
            self.state ^= self.state >> 17;
            self.state ^= self.state << 5;
            1 + (self.state as usize) % (4 * self.seed as usize + 1)
        };
        let (chunk, rest) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = rest;
        Some(chunk)
    }
}

/// The request headers of a gRPC unary call to the Arkouda proxy.
pub const GRPC_REQUEST_HEADERS: [(&[u8], &[u8]); 7] = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/arkouda.Arkouda/HandleRequest"),
    (b":authority", b"localhost:50051"),
    (b"content-type", b"application/grpc"),
    (b"te", b"trailers"),
    (b"grpc-timeout", b"5S"),
];

/// The connect request of tests/proto_golden.rs, with its gRPC message prefix.
pub const GRPC_CONNECT_MESSAGE: &[u8] = &[
    0x00, 0x00, 0x00, 0x00, 0x24, // uncompressed, 36 bytes
    0x0a, 0x06, b'k', b'j', b'y', b'o', b's', b't', 0x1a, 0x07, b'c', b'o', b'n', b'n', b'e', b'c',
    b't', 0x22, 0x06, b'S', b'T', b'R', b'I', b'N', b'G', 0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0x01,
];

/// An empty SETTINGS frame.
pub const EMPTY_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

/// Upper bound on `transmit` calls per step; a connection that keeps
/// producing bytes past this is caught by libFuzzer's timeout instead.
pub const MAX_TRANSMITS: usize = 4096;

/// True when `ARKWIRE_FUZZ_DEBUG` is set: the connection targets then print
/// every event, to check by hand what a seed or a crashing input does
/// (`ARKWIRE_FUZZ_DEBUG=1 cargo fuzz run h2_client fuzz/seeds/h2_client/unary_0`).
pub fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("ARKWIRE_FUZZ_DEBUG").is_some())
}

/// The hostile peers and well-behaved drivers of `tests/heap_bound.rs`,
/// shared so the `heap_*` targets and the proptests use one generator.
#[path = "../../tests/common/hostile.rs"]
pub mod hostile;

/// The counting allocator of the tests; each `heap_*` target installs it.
#[path = "../../tests/common/counting_alloc.rs"]
pub mod counting_alloc;

/// The heap meter the `heap_*` targets hand to the drivers.
pub const METER: hostile::Meter = hostile::Meter {
    start: counting_alloc::thread_start,
    peak_growth: counting_alloc::thread_peak_growth,
};
