//! arkwire speaks the Arkouda gRPC proxy protocol (`arkouda.Arkouda/HandleRequest`)
//! from a sans-IO core that never touches a socket.
//!
//! The layers, bottom to top:
//! - [`proto`]: `ArkoudaRequest` / `ArkoudaResponse` — zero-copy borrowed views that
//!   encode and decode without an allocator, and (with `alloc`) the prost types.
//! - [`h2`]: HTTP/2 framing and HPACK (RFC 9113, RFC 7541), no allocation.
//! - [`arkouda`]: the Arkouda reply JSON carried inside `ArkoudaResponse.message`.
//!
//! Every protocol machine (HTTP/2 connection, gRPC client and server, Arkouda
//! channel and service, ZMTP connection) follows one driving contract,
//! [`sans_io::SansIo`].
//!
//! # Features
//! - no default features: `#![no_std]`, no allocator.
//! - `alloc`: prost message types, growable buffers.
//! - `std` (default): `alloc` plus `std::error::Error` and the `arkwire` command line.
//! - `tls` (default): `std` plus `tls`, TLS and mutual TLS with rustls as a
//!   sans-IO layer around any machine.
//! - `ffi`: `std` and `tls` plus [`ffi`], the C ABI of `include/arkwire.h`.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod arkouda;
pub mod buf;
// The C ABI is the one place raw pointers cross; every unsafe block there
// carries a SAFETY comment.
#[cfg(feature = "ffi")]
#[allow(unsafe_code)]
pub mod ffi;
pub mod grpc;
pub mod h2;
#[cfg(feature = "std")]
pub mod metrics;
#[cfg(feature = "std")]
pub mod net;
#[cfg(feature = "alloc")]
pub mod ops;
pub mod proto;
pub mod sans_io;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;
pub mod zmtp;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
