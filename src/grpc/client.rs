//! The client end of gRPC unary calls over one HTTP/2 connection, sans-IO.

use core::time::Duration;

use super::call::{self, CallId, Options, Status};
use super::{message, timeout};
use crate::h2::conn::{
    ConfigError, Connection, ConnectionError, Event, Role, Storage, StreamError,
};
use crate::h2::ErrorCode;
use crate::time::Instant;

/// The `user-agent` arkwire sends.
pub const USER_AGENT: &str = concat!("arkwire/", env!("CARGO_PKG_VERSION"));

/// Something the application should act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The call finished: read it with [`Client::response`], then [`Client::finish_call`].
    Complete(CallId),
    /// The server will accept no new calls on this connection.
    GoAway,
    /// A call may be started again after [`Client::can_start_call`] said
    /// it could not (a call finished, or the server raised its limit).
    StreamsAvailable,
    /// The connection is finished.
    Closed {
        /// The HTTP/2 error code that closed it.
        code: ErrorCode,
    },
}

/// Why a call could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The server's concurrency limit, or our stream storage, is reached.
    TooManyCalls,
    /// The connection is shutting down.
    Closing,
    /// The request is larger than `max_message_size`.
    MessageTooLarge,
    /// A metadata key or value is not allowed.
    InvalidMetadata,
    /// A fixed-capacity buffer cannot hold the request.
    BufferFull,
}

impl From<StreamError> for CallError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::TooManyStreams => CallError::TooManyCalls,
            StreamError::Closing | StreamError::NotWritable => CallError::Closing,
            StreamError::BufferFull => CallError::BufferFull,
        }
    }
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CallError::TooManyCalls => "too many calls in flight",
            CallError::Closing => "connection is closing",
            CallError::MessageTooLarge => "request larger than the maximum message size",
            CallError::InvalidMetadata => "invalid metadata key or value",
            CallError::BufferFull => "request does not fit the send buffer",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CallError {}

/// A gRPC client connection: start unary calls, feed it bytes and time,
/// take bytes to send, and read completed calls.
pub struct Client<S: Storage> {
    conn: Connection<S>,
    /// The one option the client reads after construction (the rest went
    /// into the connection's config).
    max_message_size: usize,
    authority: heapless::String<255>,
}

impl<S: Storage + Default> Client<S> {
    /// A client for the server at `authority` (`host:port`, sent as
    /// `:authority`), with storage of its own.
    pub fn new(authority: &str, options: Options, now: Instant) -> Result<Self, ConfigError> {
        Self::with_storage(authority, options, S::default(), now)
    }
}

impl<S: Storage> Client<S> {
    /// A client for the server at `authority` in the memory `storage`
    /// provides (for instance a
    /// [`LentStorage`](crate::h2::conn::LentStorage) of the caller's slices).
    pub fn with_storage(
        authority: &str,
        options: Options,
        storage: S,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let mut a = heapless::String::new();
        a.push_str(authority).map_err(|_| ConfigError {
            reason: "authority longer than 255 bytes",
        })?;
        Ok(Client {
            conn: Connection::with_storage(Role::Client, options.h2_config(), storage, now)?,
            max_message_size: options.max_message_size,
            authority: a,
        })
    }

    /// The HTTP/2 connection underneath.
    pub fn connection(&self) -> &Connection<S> {
        &self.conn
    }

    /// Whether another call can start now. When it cannot,
    /// [`ClientEvent::StreamsAvailable`] follows once it can.
    pub fn can_start_call(&self) -> bool {
        self.conn.can_open_stream()
    }

    /// Starts a unary call of `path` with an encoded request message.
    ///
    /// `metadata` keys must be lowercase; a key ending in `-bin` carries any
    /// bytes (sent base64), other values must be printable ASCII. With a
    /// `timeout`, the call ends with DEADLINE_EXCEEDED once it passes, and the
    /// server learns the deadline from `grpc-timeout`. `now` anchors the deadline.
    pub fn start_call(
        &mut self,
        path: &str,
        request: &[u8],
        metadata: &[(&str, &[u8])],
        timeout: Option<Duration>,
        now: Instant,
    ) -> Result<CallId, CallError> {
        self.start_call_with(path, request.len(), metadata, timeout, now, |out| {
            out.copy_from_slice(request)
        })
    }

    /// Starts a unary call whose request message of `len` bytes `encode`
    /// writes in place, straight into the stream's send queue (so a request
    /// needs no buffer of its own); otherwise as
    /// [`start_call`](Self::start_call). `encode` gets exactly `len` bytes.
    pub fn start_call_with(
        &mut self,
        path: &str,
        len: usize,
        metadata: &[(&str, &[u8])],
        timeout: Option<Duration>,
        now: Instant,
        encode: impl FnOnce(&mut [u8]),
    ) -> Result<CallId, CallError> {
        self.start(path, len, len, metadata, timeout, now, encode)
    }

    /// Starts a unary call whose request message of `len` bytes goes out in
    /// parts, so a large one is never held whole: `encode` writes its first
    /// `head` bytes now (into the send queue, as
    /// [`start_call_with`](Self::start_call_with)), and the other
    /// `len - head` follow through [`send_request_part`](Self::send_request_part)
    /// as the sender keeps [`queued`](Self::queued) small. The request ends
    /// with the part that completes the message.
    #[allow(clippy::too_many_arguments)]
    pub fn start_call_streaming(
        &mut self,
        path: &str,
        len: usize,
        head: usize,
        metadata: &[(&str, &[u8])],
        timeout: Option<Duration>,
        now: Instant,
        encode: impl FnOnce(&mut [u8]),
    ) -> Result<CallId, CallError> {
        self.start(path, len, head.min(len), metadata, timeout, now, encode)
    }

    /// Sends the next bytes of a request begun with
    /// [`start_call_streaming`](Self::start_call_streaming); `last` ends the
    /// request (the caller counts the message's bytes: the server fails a
    /// call whose message comes short or long).
    pub fn send_request_part(
        &mut self,
        call: CallId,
        bytes: &[u8],
        last: bool,
    ) -> Result<(), CallError> {
        self.conn.send_data(call.0, &[bytes], last)?;
        Ok(())
    }

    /// Bytes queued on a call's stream and not yet sent (waiting for the
    /// server's window or for the socket).
    pub fn queued(&self, call: CallId) -> usize {
        self.conn.stream(call.0).map_or(0, |s| s.send_queued())
    }

    /// The most bytes one [`send_request_part`](Self::send_request_part)
    /// can take now (a fixed send buffer may hold fewer than the sender
    /// would like queued); 0 for a call that is gone.
    pub fn send_room(&self, call: CallId) -> usize {
        self.conn.stream(call.0).map_or(0, |s| {
            crate::buf::Buffer::free(&s.send).saturating_sub(crate::h2::stream::ITEM_PREFIX)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        path: &str,
        len: usize,
        head: usize,
        metadata: &[(&str, &[u8])],
        timeout: Option<Duration>,
        now: Instant,
        encode: impl FnOnce(&mut [u8]),
    ) -> Result<CallId, CallError> {
        if len > self.max_message_size || u32::try_from(len).is_err() {
            return Err(CallError::MessageTooLarge);
        }
        for (key, value) in metadata {
            let key = key.as_bytes();
            let ok = call::valid_metadata_key(key)
                && (key.ends_with(b"-bin") || call::valid_metadata_value(value));
            if !ok {
                return Err(CallError::InvalidMetadata);
            }
        }
        let mut timeout_text = [0u8; 10];
        let timeout_len = timeout.map(|t| timeout::encode(t, &mut timeout_text));
        let fixed: [(&[u8], &[u8]); 6] = [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path.as_bytes()),
            (b":authority", self.authority.as_bytes()),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ];
        let timeout_field = timeout_len.map(|n| (&b"grpc-timeout"[..], &timeout_text[..n]));
        let user_agent = (&b"user-agent"[..], USER_AGENT.as_bytes());
        let headers = fixed.into_iter().chain(timeout_field).chain([user_agent]);
        let id = self.conn.open_stream(headers, false)?;
        let result = (|| {
            let mut block = self.conn.begin_headers_continue(id)?;
            for (key, value) in metadata {
                if key.ends_with("-bin") {
                    block.push_base64(key.as_bytes(), value);
                } else {
                    block.push(key.as_bytes(), value);
                }
            }
            block.finish()?;
            let prefix = message::prefix(len as u32);
            self.conn
                .send_data_with(id, message::PREFIX_LEN + head, head == len, |out| {
                    let (head, body) = out.split_at_mut(message::PREFIX_LEN);
                    head.copy_from_slice(&prefix);
                    encode(body);
                })
        })();
        if let Err(e) = result {
            self.conn.release_stream(id);
            return Err(e.into());
        }
        if let Some(t) = timeout {
            self.conn.set_deadline(id, now + t);
        }
        Ok(CallId(id))
    }

    /// Feeds bytes read from the server.
    pub fn recv(&mut self, input: &[u8], now: Instant) -> Result<(), ConnectionError> {
        self.conn.recv(input, now)
    }

    /// Writes bytes to send into `out`; see [`Connection::transmit`].
    pub fn transmit(&mut self, out: &mut [u8]) -> usize {
        self.conn.transmit(out)
    }

    /// Whether [`transmit`](Self::transmit) has something to write.
    pub fn wants_transmit(&self) -> bool {
        self.conn.wants_transmit()
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    /// Advances time: expires deadlines and the SETTINGS timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now)
    }

    /// The next thing to act on.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::StreamEnded { stream } | Event::StreamReset { stream, .. } => {
                    if call::mark_reported(&mut self.conn, stream) {
                        return Some(ClientEvent::Complete(CallId(stream)));
                    }
                }
                Event::GoAway { .. } => return Some(ClientEvent::GoAway),
                Event::Closed { code, .. } => return Some(ClientEvent::Closed { code }),
                Event::StreamsAvailable => return Some(ClientEvent::StreamsAvailable),
                Event::Data { stream } => {
                    let max_body = self.conn.config().max_body_size;
                    call::expect_body(&mut self.conn, stream, max_body);
                    // The body limit is the h2 layer's (one message and its
                    // prefix), so every stored byte is part of the response.
                    self.conn.consume(stream);
                }
                Event::Headers { .. } | Event::Trailers { .. } | Event::SettingsAcked => {}
            }
        }
        None
    }

    /// A completed call's response message, or its status.
    pub fn response(&self, call: CallId) -> Result<&[u8], Status<'_>> {
        match self.conn.stream(call.0) {
            Some(stream) => call::response(stream, self.max_message_size),
            None => Err(Status::new(super::Code::Internal, "no such call")),
        }
    }

    /// Lends `buffer` (emptied) to receive the response of `call` into, so
    /// a caller that downloads again and again receives into memory it
    /// already has rather than fresh pages; take it back, the response in
    /// it, with [`take_response`](Self::take_response). Gives `buffer` back
    /// when the call has no stream or its response has begun arriving.
    pub fn lend_response_buffer(&mut self, call: CallId, buffer: S::Body) -> Result<(), S::Body> {
        if !self
            .conn
            .stream(call.0)
            .is_some_and(|stream| stream.body().is_empty())
        {
            return Err(buffer);
        }
        match self.conn.swap_body(call.0, buffer) {
            Some(_empty) => Ok(()),
            None => Err(S::Body::default()),
        }
    }

    /// Takes a completed call's response buffer out of the client without
    /// copying it, in exchange for `replacement` (see
    /// [`Connection::swap_body`]), with where in it the response message
    /// lies (what [`response`](Self::response) would return); the call's
    /// body is empty after. `None` when the call has no response message.
    pub fn take_response(
        &mut self,
        call: CallId,
        replacement: S::Body,
    ) -> Option<(S::Body, core::ops::Range<usize>)> {
        let stream = self.conn.stream(call.0)?;
        let message = call::response(stream, self.max_message_size).ok()?;
        let range = crate::buf::range_within(stream.body(), message)?;
        let body = self.conn.swap_body(call.0, replacement)?;
        Some((body, range))
    }

    /// Frees a call's memory; a call still running is cancelled (RST_STREAM CANCEL).
    pub fn finish_call(&mut self, call: CallId) {
        self.conn.release_stream(call.0);
    }

    /// Starts a graceful shutdown of the connection.
    pub fn close(&mut self) {
        self.conn.go_away();
    }
}
