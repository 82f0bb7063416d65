//! The C ABI's sans-IO tier allocates nothing once the connection is built: a
//! counting global allocator watches this thread through whole calls (the
//! blocking and the polling pattern) against `arkwire serve` in another
//! process, bytes moved over a std `TcpStream`.
#![cfg(feature = "ffi")]

mod common;
mod ffi_driver;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use arkwire::ffi::arkwire_status::*;
use arkwire::ffi::conn::*;
use ffi_driver::{msg, Driver};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only the test's own thread is counted: the harness may allocate on others.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns the allocations this thread made meanwhile.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn no_allocation_after_conn_new() {
    // The counter sees this thread's allocations.
    let probe = allocations_in(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8))));
    assert_eq!(probe, 1);

    let sync = common::arkwire_serve(&["--mode", "sync"]);
    let asynchronous = common::arkwire_serve(&["--mode", "async"]);

    let mut d = Driver::connect(sync.port);
    let n = allocations_in(|| {
        for _ in 0..3 {
            let op = d.run(arkwire_conn_call, c"connect", c"");
            let (s, o) = d.outcome(op);
            assert_eq!(s, ARKWIRE_OK);
            assert_eq!(msg(&o), "connected to arkouda server tcp://*:5555");
            d.finish(op);
            // Escaped text goes through the connection's unescape buffer.
            let op = d.run(arkwire_conn_call, c"echo", c"tab\there \"q\"");
            assert_eq!(msg(&d.outcome(op).1), "tab\there \"q\"");
            d.finish(op);
            let op = d.run(arkwire_conn_call, c"bogus", c"");
            assert_eq!(d.outcome(op).0, ARKWIRE_ARKOUDA_ERROR);
            d.finish(op);
        }
    });
    assert_eq!(
        n, 0,
        "heap allocations during blocking calls after arkwire_conn_new"
    );

    let mut d = Driver::connect(asynchronous.port);
    let n = allocations_in(|| {
        let op = d.run(arkwire_conn_call_polling, c"sleep", c"20");
        assert_eq!(msg(&d.outcome(op).1), "slept");
        d.finish(op);
        let op = d.run(arkwire_conn_submit, c"noop", c"");
        assert_eq!(d.outcome(op).0, ARKWIRE_OK);
        d.finish(op);
    });
    assert_eq!(
        n, 0,
        "heap allocations during polled calls after arkwire_conn_new"
    );
    println!("allocations after arkwire_conn_new: 0 (blocking x9, polling, submit)");
}
