//! Memory figures of the two tiers.
//!
//! - no-alloc tier: `size_of` of a client connection with fixed capacities
//!   (`grpc::Client<FixedStorage<2, 1024, 512>>`, the 4 KiB HPACK tables of
//!   `h2::conn::HPACK_TABLE_SIZE`) and of its largest parts;
//! - std tier: heap allocations per connect call, `net::Client` against
//!   `net::Server` (the `arkwire serve` handler) in this process, counted by
//!   a global allocator, for the whole process and for the client thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
use arkwire::grpc::Client;
use arkwire::h2::conn::{FixedStorage, Storage, HPACK_TABLE_SIZE};
use arkwire::h2::frame::FrameDecoder;
use arkwire::h2::hpack::{Decoder, DynamicTable, Encoder};
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

type Device = FixedStorage<2, 1024, 512>;
type Headers = <Device as Storage>::Headers;
type Body = <Device as Storage>::Body;
const ENTRIES: usize = HPACK_TABLE_SIZE / 32;

fn no_alloc_tier() {
    let conn = size_of::<Client<Device>>();
    let frame = size_of::<FrameDecoder<<Device as Storage>::Frame>>();
    let hpack = size_of::<Decoder<HPACK_TABLE_SIZE, ENTRIES>>()
        + size_of::<Encoder<HPACK_TABLE_SIZE, ENTRIES>>();
    let table = size_of::<DynamicTable<HPACK_TABLE_SIZE, ENTRIES>>();
    let stream = size_of::<Stream<Headers, Body>>();
    let streams = size_of::<<Device as Storage>::Streams>();
    let scratch = 2 * size_of::<<Device as Storage>::Scratch>() + size_of::<Headers>();
    println!("no-alloc client connection, FixedStorage<2 streams, 1024 B headers, 512 B bodies>, 4 KiB HPACK:");
    println!("  grpc::Client<FixedStorage<2,1024,512>>   {conn:>6} B");
    println!("  frame decoder (16 KiB frame buffer)       {frame:>6} B");
    println!("  HPACK decoder + encoder                   {hpack:>6} B  (one DynamicTable<4096,{ENTRIES}> = {table} B)");
    println!("  stream table (2 streams)                  {streams:>6} B  (one stream = {stream} B: headers + body + send queue)");
    println!("  header scratch (scratch, block_out, block_in) {scratch:>6} B");
    let other = conn - frame - hpack - streams - scratch;
    println!("  everything else (settings, windows, control queue, authority) {other:>6} B");
    result("footprint.conn_bytes", conn as f64);
    result("footprint.frame_bytes", frame as f64);
    result("footprint.hpack_bytes", hpack as f64);
    result("footprint.streams_bytes", streams as f64);
    result("footprint.scratch_bytes", scratch as f64);
    result("footprint.other_bytes", other as f64);
    // The message buffers: each stream's received body and send queue.
    let message_buffers = 2 * 2 * size_of::<Body>();
    result("footprint.message_buffers_bytes", message_buffers as f64);
    result(
        "footprint.conn_less_message_buffers_bytes",
        (conn - message_buffers) as f64,
    );
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
    for _ in 0..200 {
        client.call(&req, None).expect("call");
    }
    let calls = 2000;
    let total0 = ALLOCATIONS.load(Ordering::Relaxed);
    let thread0 = THREAD_ALLOCATIONS.with(Cell::get);
    for _ in 0..calls {
        std::hint::black_box(client.call(&req, None).expect("call"));
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
