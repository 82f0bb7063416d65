//! libarkwire.a and libarkwire.so: the `arkwire_*` functions of
//! `arkwire::ffi`, linked for C (see `include/arkwire.h`).
//!
//! The main crate stays an rlib so its no_std builds need no panic handler
//! or allocator and Rust users never build C libraries they do not use; this
//! package is the one place the C libraries are made:
//! `cargo build --release -p arkwire-capi`.

// Linking the crate is enough: its `#[no_mangle]` functions are exported.
pub use arkwire_core::ffi;
