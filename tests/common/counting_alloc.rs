//! A global allocator that counts: allocations made, bytes live, and the
//! peak of live bytes, for the whole process and for each thread. Each test
//! binary that needs it declares
//! `#[global_allocator] static GLOBAL: Counting = Counting;`.
//!
//! The per-thread counts let a test that runs beside others (proptest cases
//! on the test harness's threads) measure only the heap its own thread
//! allocates: [`thread_start`] marks where a measurement begins and
//! [`thread_peak_growth`] says how far above that mark the thread's live
//! bytes have been since. Memory freed on another thread than the one that
//! allocated it shifts both threads' counts; the measured code must stay on
//! one thread.
#![allow(dead_code)] // each test binary uses a different part

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Allocations made since the process started.
pub static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
/// Bytes currently allocated.
pub static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Most bytes allocated at once since the last reset of `PEAK`.
pub static PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Bytes this thread allocated minus bytes it freed (negative when it
    /// frees what another thread allocated).
    static THREAD_LIVE: Cell<isize> = const { Cell::new(0) };
    /// Highest `THREAD_LIVE` since the last [`thread_start`].
    static THREAD_PEAK: Cell<isize> = const { Cell::new(0) };
    /// `THREAD_LIVE` at the last [`thread_start`].
    static THREAD_BASE: Cell<isize> = const { Cell::new(0) };
    /// Allocations (and growing reallocations) this thread made.
    static THREAD_ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

pub struct Counting;

fn grow(by: usize) {
    let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
    // `try_with`: a thread being torn down has no counters left; its frees
    // and allocations then only count for the process.
    let _ = THREAD_LIVE.try_with(|l| {
        let live = l.get().saturating_add(by as isize);
        l.set(live);
        let _ = THREAD_PEAK.try_with(|p| p.set(p.get().max(live)));
    });
}

fn shrink(by: usize) {
    LIVE.fetch_sub(by, Ordering::Relaxed);
    let _ = THREAD_LIVE.try_with(|l| l.set(l.get().saturating_sub(by as isize)));
}

// SAFETY: forwards every call to the system allocator; only keeps counts.
// The thread-local counters are const-initialised `Cell`s without
// destructors, so touching them never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        grow(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        if new_size > layout.size() {
            grow(new_size - layout.size());
        } else {
            shrink(layout.size() - new_size);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations so far.
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Allocations this thread has made (each `alloc`, and each `realloc`
/// that grew a block).
pub fn thread_allocations() -> usize {
    THREAD_ALLOCATIONS.with(Cell::get)
}

/// Starts a measurement on this thread: what is live now is the baseline.
pub fn thread_start() {
    let live = THREAD_LIVE.with(Cell::get);
    THREAD_BASE.with(|b| b.set(live));
    THREAD_PEAK.with(|p| p.set(live));
}

/// Most bytes this thread has held above its baseline since [`thread_start`].
pub fn thread_peak_growth() -> usize {
    let base = THREAD_BASE.with(Cell::get);
    let peak = THREAD_PEAK.with(Cell::get);
    peak.saturating_sub(base).max(0) as usize
}

/// Bytes this thread holds above its baseline now.
pub fn thread_growth() -> usize {
    let base = THREAD_BASE.with(Cell::get);
    let live = THREAD_LIVE.with(Cell::get);
    live.saturating_sub(base).max(0) as usize
}
