//! ZeroMQ's wire protocol, ZMTP 3.x (RFC 23/ZMTP, RFC 37/ZMTP), as far as a REQ
//! client needs it: the upstream link from the proxy to arkouda_server's REP socket.
//!
//! Sans-IO and allocation-free like the rest of the core:
//! - the codec: [`Greeting`] (64 bytes), [`FrameHeader`] with the incremental
//!   [`FrameHeaderDecoder`], and [`Command`] (READY with [`Metadata`], PING, PONG,
//!   ERROR) — each a Repr that parses from and emits into caller buffers;
//! - [`ReqConnection`]: the REQ socket's state machine over one connection
//!   (greeting, NULL handshake, strict request/reply alternation, heartbeats,
//!   handshake and request deadlines);
//! - with `std`: [`arkouda::request_json`], the JSON arkouda_server expects.
//!
//! Only the NULL security mechanism is implemented, which is what arkouda_server
//! uses. ZMTP 1.0/2.0 peers are refused rather than downgraded to.

#[cfg(feature = "std")]
pub mod arkouda;
mod command;
mod conn;
mod error;
mod frame;
mod greeting;
#[cfg(test)]
mod props;

pub use command::{Command, Metadata, MetadataIter, Property, MAX_PING_CONTEXT};
pub use conn::{
    ReplyFrames, ReqConnection, Streaming, ZmtpConfig, ZmtpEvent, MAX_COMMAND_LEN,
    MAX_QUEUED_PAYLOAD, MAX_REPLY_FRAMES,
};
pub use error::{ZmtpError, PEER_REASON_CAPACITY};
pub use frame::{
    emit_message_frame, FrameHeader, FrameHeaderDecoder, FLAG_COMMAND, FLAG_LONG, FLAG_MORE,
    MAX_HEADER_LEN,
};
pub use greeting::{Greeting, GreetingDecoder, Mechanism, GREETING_LEN};
