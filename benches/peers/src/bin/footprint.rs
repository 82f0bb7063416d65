//! Memory figures of the two tiers.
//!
//! - no-alloc tier, on this host: `size_of` of a client connection in lent
//!   memory (`grpc::Client<LentStorage<2>>`, as `benches/footprint` builds
//!   it) and of its parts, besides the lent buffers. The thumbv7em figures
//!   (32-bit, the ones the README reports) come from the footprint
//!   program's ELF (`benches/footprint/size.py`).
//! - std tier: heap allocations per connect call, `net::Client` against
//!   `net::Server` (the `arkwire serve` handler) in this process, counted by
//!   a global allocator, for the whole process and for the client thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
use arkwire::buf::LentBuf;
use arkwire::grpc::Client;
use arkwire::h2::conn::LentStorage;
use arkwire::h2::frame::FrameReader;
use arkwire::h2::hpack::{Decoder, Encoder};
use arkwire::h2::stream::Stream;
use arkwire::net::{ClientConfig, Server, ServerConfig};
use arkwire_bench::{connect_request, result};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static THREAD_ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count() {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    let _ = THREAD_ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

#[global_allocator]
static GLOBAL: Counting = Counting;

type Device = LentStorage<'static, 2>;

fn no_alloc_tier() {
    let conn = size_of::<Client<Device>>();
    let reader = size_of::<FrameReader>();
    let hpack = size_of::<Decoder<&mut [u8]>>() + size_of::<Encoder<[u8; 0]>>();
    let stream = size_of::<Stream<LentBuf<'static>, LentBuf<'static>>>();
    println!(
        "no-alloc client connection in lent memory (host sizes), grpc::Client<LentStorage<2>>:"
    );
    println!("  the connection itself                     {conn:>6} B");
    println!("  of which: frame reader (no frame buffer)  {reader:>6} B");
    println!("            HPACK decoder + encoder state   {hpack:>6} B  (the table is lent; the encoder has none)");
    println!("            one stream's state              {stream:>6} B  (its buffers are lent)");
    println!("  lent besides: header scratch, HPACK table, received headers per stream (see benches/footprint)");
    result("footprint.host_conn_bytes", conn as f64);
    result("footprint.host_reader_bytes", reader as f64);
    result("footprint.host_hpack_state_bytes", hpack as f64);
    result("footprint.host_stream_bytes", stream as f64);
}

fn std_tier() {
    let handler = Arc::new(SyncProxy::new(BuiltinBackend, 1));
    let config = ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), handler, config).expect("bind");
    let mut client = arkwire::net::Client::connect(server.local_addr(), ClientConfig::default())
        .expect("connect");
    let req = connect_request();
    // One response, decoded into call after call (`call_into`): the
    // whole-message API without an owned reply per call.
    let mut reply = Default::default();
    for _ in 0..200 {
        client.call_into(&req, None, &mut reply).expect("call");
    }
    let calls = 2000;
    let total0 = ALLOCATIONS.load(Ordering::Relaxed);
    let thread0 = THREAD_ALLOCATIONS.with(Cell::get);
    for _ in 0..calls {
        client.call_into(&req, None, &mut reply).expect("call");
        std::hint::black_box(&reply);
    }
    let thread = THREAD_ALLOCATIONS.with(Cell::get) - thread0;
    let total = ALLOCATIONS.load(Ordering::Relaxed) - total0;
    result("footprint.std_allocs_per_call", total as f64 / calls as f64);
    result(
        "footprint.std_client_allocs_per_call",
        thread as f64 / calls as f64,
    );
    result(
        "footprint.std_server_allocs_per_call",
        (total - thread) as f64 / calls as f64,
    );
    drop(client);
    drop(server);
}

fn main() {
    no_alloc_tier();
    std_tier();
}
