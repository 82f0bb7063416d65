//! gRPC unary semantics over HTTP/2: length-prefixed messages, status codes,
//! `grpc-timeout`, and the percent-encoded `grpc-message`.

pub mod message;
pub mod percent;
mod status;
pub mod timeout;

pub use status::Code;
