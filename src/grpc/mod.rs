//! gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md): unary calls and server streams,
//! length-prefixed messages, status codes, `grpc-timeout`, the
//! percent-encoded `grpc-message`, and sans-IO client and server connections.

mod call;
pub mod client;
pub mod message;
pub mod percent;
pub mod server;
mod status;
#[cfg(test)]
mod tests;
pub mod timeout;

pub use call::{code_for_reset, custom_metadata, CallId, Options, Status};
pub use client::{CallError, Client, ClientEvent};
pub use server::{Server, ServerEvent, MAX_METHODS};
pub use status::Code;
