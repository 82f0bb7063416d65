//! Arkouda's own messages: the reply JSON carried inside
//! `ArkoudaResponse.message`, and the asynchronous proxy's status JSON.
//!
//! Parsing borrows from the input and needs no allocator. Strings are kept in
//! their escaped JSON form as [`JsonStr`], which hands out a `&str` directly
//! when the text has no escapes and decodes escapes into a caller's buffer
//! (or a `String` with `alloc`) when it does.
//!
//! The client side is [`Channel`] (the call patterns, sans-IO). With `std`,
//! the server side is [`service::ArkoudaService`] (sans-IO too): requests go
//! to a [`service::Handler`] such as the [`proxy`] module's sync and async
//! proxies, which run their work on a [`dispatch::FairWorkers`] and keep
//! time by a [`clock::Clock`].

#[cfg(feature = "std")]
pub mod builtin;
pub mod channel;
#[cfg(feature = "std")]
pub mod clock;
#[cfg(feature = "std")]
pub mod dispatch;
mod json_str;
#[cfg(feature = "std")]
pub mod owner;
#[cfg(feature = "std")]
pub mod pipe;
#[cfg(feature = "std")]
pub mod proxy;
#[cfg(feature = "std")]
pub mod registry;
mod reply;
pub mod request_id;
#[cfg(feature = "std")]
pub mod route;
#[cfg(feature = "std")]
pub mod service;
#[cfg(feature = "std")]
pub mod upstream_msg;

pub use channel::{
    Channel, ChannelConfig, ChannelError, ChannelEvent, Command, OpId, Outcome, Pattern, PollConfig,
};
pub use json_str::{JsonStr, UnescapeError};
pub use reply::{
    parse_async_status, parse_reply, ArkoudaReply, AsyncStatus, JsonError, MsgFormat, MsgType,
    RequestState,
};
pub use request_id::{NoEntropy, RequestId, RequestIdGenerator};
