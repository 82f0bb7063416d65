//! The std driver: one mio event loop (in `driver.rs`) around the sans-IO
//! machines.
//!
//! [`Client`] makes Arkouda calls over one connection (many in flight at
//! once); [`Session`] runs the Arkouda call patterns over one; [`Server`]
//! serves many connections of the sans-IO
//! [`ArkoudaService`](crate::arkouda::service::ArkoudaService), one event
//! loop per thread, whose requests go to a [`Handler`];
//! [`UpstreamBackend`] forwards commands over ZMTP connections, each driven
//! by the same loop on the worker that uses it; [`route`] protects each
//! arkouda_server (calls in flight, connection attempts) and builds a
//! route per user pattern ([`build_router`]).

mod client;
mod driver;
pub mod route;
mod server;
mod session;
mod upstream;
mod wire;

pub use crate::arkouda::service::{Handler, Responder};
pub use client::{CallFailure, Client, ClientConfig};
pub use route::{build_router, InflightLimit};
#[cfg(feature = "tls")]
pub use server::ServerTls;
pub use server::{Server, ServerConfig, Shutdown};
pub use session::{BinaryReply, Session, SessionError, SessionOptions, SessionOutcome, StatusView};
pub use upstream::{UpstreamBackend, UpstreamConfig};
// The C ABI tells a refused TLS handshake from other ends by it.
#[cfg(feature = "ffi")]
pub(crate) use wire::TLS_FAILURE;

use crate::h2::MemoryBudget;
use crate::time::Instant;

/// The process-wide cap on received message bodies that every [`Server`]
/// connection draws from unless its config names another budget: 128 MiB by
/// default, so many connections each holding half-sent messages cannot
/// together exhaust memory (`arkwire serve --memory-budget` changes it).
/// Past it a call gets RESOURCE_EXHAUSTED.
pub static BODY_BUDGET: MemoryBudget = MemoryBudget::new(128 << 20);

/// Converts the process clock into the core's clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }

    /// How long from now until `at`, for a poll timeout.
    pub(crate) fn until(&self, at: Instant) -> std::time::Duration {
        at.saturating_duration_since(self.now())
    }

    /// `at` on the process clock, as an instant of this clock.
    pub(crate) fn at(&self, at: std::time::Instant) -> Instant {
        Instant::from_micros(at.saturating_duration_since(self.origin).as_micros() as u64)
    }
}

/// Bytes the loops read or write per system call: large enough that an
/// array of gigabytes costs few calls (4 times fewer than 64 KiB, which
/// moved 1 GiB through the proxy 4–15 % slower), at 512 KiB of buffers per
/// loop, worker connection and session.
pub(crate) const IO_CHUNK: usize = 256 * 1024;
/// The most one connection may read in one turn of its loop. A peer that
/// never stops sending gets this slice and waits for the next turn, so the
/// other connections on the loop, and the loop's timers, keep their turns.
pub(crate) const READ_SLICE: usize = 4 * IO_CHUNK;
