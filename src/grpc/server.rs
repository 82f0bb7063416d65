//! The server end of gRPC calls over one HTTP/2 connection, sans-IO:
//! unary calls, and (for methods registered with
//! [`Server::with_streaming`]) streams of requests and responses.
//!
//! Request messages may be compressed with `grpc-encoding: gzip` or
//! `deflate` (with the `std` feature), decompressed within the message
//! limit ([`Server::request_decoded`], [`Server::next_message`]); every
//! response offers them in `grpc-accept-encoding`. Responses are sent
//! uncompressed.

use super::call::{self, CallId, Options, Status};
use super::client::CallError;
use super::{message, percent, timeout, Code};
use crate::h2::conn::{ConfigError, Connection, ConnectionError, Event, Role, Storage};
use crate::h2::header_list::HeaderIter;
use crate::h2::ErrorCode;
use crate::time::Instant;

/// Something the application should act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// A complete request: read it with [`Server::request`], answer with
    /// [`Server::respond`] or [`Server::respond_status`].
    Request(CallId),
    /// A streaming call has a complete request message (or more): take
    /// them with [`Server::next_message`] until it gives `None`. Answer
    /// with [`Server::send_message`] and end with [`Server::finish`] when
    /// the application is done, before or after the client's half-close.
    Message(CallId),
    /// The client of a streaming call sent its last message (half-close);
    /// the call stays open until [`Server::finish`].
    HalfClosed(CallId),
    /// Bytes of a large request (of the method given to
    /// [`Server::with_partial`]) arrived, or its stream ended: read them
    /// with [`Server::request_part`], take them with
    /// [`Server::take_request_part`] (the client gets window for as many),
    /// and see [`Server::request_complete`]. Answer as any call, or stream
    /// the response ([`Server::begin_response`]).
    Partial(CallId),
    /// The client cancelled the call, or its deadline passed, before the answer went out.
    Cancelled(CallId),
    /// The connection is finished.
    Closed {
        /// The HTTP/2 error code that closed it.
        code: ErrorCode,
    },
}

/// A gRPC server connection: feed it bytes and time, take bytes to send,
/// answer the requests it reports.
pub struct Server<S: Storage> {
    conn: Connection<S>,
    options: Options,
    /// The methods served, by path; others get UNIMPLEMENTED.
    methods: heapless::Vec<&'static str, MAX_METHODS>,
    /// Those of `methods` served as streams.
    streaming: heapless::Vec<&'static str, MAX_METHODS>,
    /// Calls whose deadline passed, to report as cancelled.
    expired: heapless::Deque<u32, 32>,
    /// The method whose requests larger than the bound are handed out in
    /// parts ([`ServerEvent::Partial`]).
    partial: Option<(&'static str, usize)>,
    /// A stream may have a half-close to report: false until a streaming
    /// call's request ends, so unary calls (all but a few) never pay for
    /// the look through every stream that finds one.
    half_close_maybe: bool,
}

/// Most methods one server connection dispatches.
pub const MAX_METHODS: usize = 8;

/// Stream tag bit: response headers went out on a streaming call, so its
/// status goes in trailers.
const HEADERS_SENT: u8 = 2;
/// Stream tag bit: a streaming call's client half-closed, and the
/// application has not been told yet.
const HALF_CLOSE_PENDING: u8 = 4;
/// Stream tag bit: the call is of a streaming method.
const STREAMING: u8 = 8;
/// Stream tag bit: the call is of the method whose large requests come in parts.
const PARTIAL_OK: u8 = 16;
/// Stream tag bit: the call's request is large and comes in parts.
const PARTIAL: u8 = 32;
/// Stream tag bit: the call's `grpc-encoding` is one whose messages may
/// come compressed (found once, when its headers arrive, rather than by a
/// scan of its headers for every look at its body).
const COMPRESSED_OK: u8 = 64;

impl<S: Storage + Default> Server<S> {
    /// A server connection answering calls of `path`.
    pub fn new(path: &'static str, options: Options, now: Instant) -> Result<Self, ConfigError> {
        Self::with_methods(&[path], options, now)
    }

    /// A server connection answering calls of each of `paths` (at most
    /// [`MAX_METHODS`]); [`method`](Self::method) tells a call's. Calls of
    /// any other path end with UNIMPLEMENTED before they are reported.
    pub fn with_methods(
        paths: &[&'static str],
        options: Options,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        Self::with_storage(paths, options, S::default(), now)
    }
}

impl<S: Storage> Server<S> {
    /// A server connection answering calls of each of `paths`, in the
    /// memory `storage` provides.
    pub fn with_storage(
        paths: &[&'static str],
        options: Options,
        storage: S,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let methods = heapless::Vec::from_slice(paths).map_err(|_| ConfigError {
            reason: "more methods than grpc::server::MAX_METHODS",
        })?;
        Ok(Server {
            conn: Connection::with_storage(Role::Server, options.h2_config(), storage, now)?,
            options,
            methods,
            streaming: heapless::Vec::new(),
            expired: heapless::Deque::new(),
            half_close_maybe: false,
            partial: None,
        })
    }

    /// Serves `paths` (among the methods, or added to them) as streams:
    /// each request message is reported as it completes
    /// ([`ServerEvent::Message`]), the client's half-close as
    /// [`ServerEvent::HalfClosed`], and responses go out one by one with
    /// [`send_message`](Self::send_message) until [`finish`](Self::finish).
    ///
    /// A streaming call's body holds the message being assembled and those
    /// not yet taken, within the message limit (plus the prefix): take
    /// messages as they are reported, so a client that pipelines several
    /// is not refused RESOURCE_EXHAUSTED; flow-control window comes back
    /// as they are taken.
    pub fn with_streaming(mut self, paths: &[&'static str]) -> Result<Self, ConfigError> {
        const TOO_MANY: ConfigError = ConfigError {
            reason: "more methods than grpc::server::MAX_METHODS",
        };
        for &path in paths {
            if !self.methods.contains(&path) {
                self.methods.push(path).map_err(|_| TOO_MANY)?;
            }
            if !self.streaming.contains(&path) {
                self.streaming.push(path).map_err(|_| TOO_MANY)?;
            }
        }
        Ok(self)
    }

    /// Hands out the requests of `path` (one of the unary methods) whose
    /// message is larger than `above` bytes in parts, as they arrive
    /// ([`ServerEvent::Partial`]), instead of assembling them: the
    /// connection then holds no more of such a request than the
    /// flow-control window, however large the message (up to the message
    /// limit). Compressed messages are assembled as before.
    pub fn with_partial(mut self, path: &'static str, above: usize) -> Self {
        self.set_partial(path, above);
        self
    }

    /// [`with_partial`](Self::with_partial) on a server already made; calls
    /// whose headers arrived before keep the setting they had.
    pub fn set_partial(&mut self, path: &'static str, above: usize) {
        self.partial = Some((path, above));
    }

    /// The bytes of a large request (see [`with_partial`](Self::with_partial))
    /// that arrived and were not yet taken, starting with the message's
    /// 5-byte prefix; `None` for other calls.
    pub fn request_part(&self, call: CallId) -> Option<&[u8]> {
        if self.tag(call.0) & PARTIAL == 0 {
            return None;
        }
        self.conn.stream(call.0).map(|s| s.body())
    }

    /// The application has the first `n` bytes of
    /// [`request_part`](Self::request_part): they leave the connection's
    /// memory and the client may send as many more.
    pub fn take_request_part(&mut self, call: CallId, n: usize) {
        if self.tag(call.0) & PARTIAL != 0 {
            // Window for the bytes taken only: what the application leaves
            // (its pipe is full) keeps the client waiting.
            self.conn.take_body_part(call.0, n);
        }
    }

    /// Stops handing out `call`'s request in parts (its layout does not
    /// suit the application, say): the rest is assembled as any request's,
    /// within the message limit, and reported as [`ServerEvent::Request`]
    /// once complete. Returns true when it already is: then the
    /// application reads it now ([`request`](Self::request)), and no event
    /// follows. Bytes taken with [`take_request_part`](Self::take_request_part)
    /// are gone: call it before taking any.
    pub fn assemble(&mut self, call: CallId) -> bool {
        let id = call.0;
        if self.tag(id) & PARTIAL == 0 {
            return false;
        }
        self.clear_bits(id, PARTIAL | PARTIAL_OK);
        self.check_request_body(id);
        let complete = self.request_complete(call);
        if !complete {
            // Its end is reported as a request's.
            self.clear_bits(id, call::REPORTED);
        }
        complete
    }

    /// Whether the client has sent its whole request (END_STREAM seen).
    pub fn request_complete(&self, call: CallId) -> bool {
        self.conn.stream(call.0).is_some_and(|s| s.remote_closed())
    }

    /// Starts an OK response whose one message of `len` bytes is sent in
    /// parts: the headers, the message prefix and `first` now, the rest
    /// with [`send_response_part`](Self::send_response_part), and the
    /// status with [`finish`](Self::finish) (OK once all `len` bytes went,
    /// or an error that cuts the message short).
    pub fn begin_response(
        &mut self,
        call: CallId,
        len: usize,
        first: &[u8],
    ) -> Result<(), CallError> {
        let len = u32::try_from(len).map_err(|_| CallError::MessageTooLarge)?;
        let id = call.0;
        self.send_response_headers(id)?;
        let prefix = message::prefix(len);
        self.conn.send_data(id, &[&prefix, first], false)?;
        Ok(())
    }

    /// The response headers of a call whose messages follow (its status
    /// then goes in trailers).
    fn send_response_headers(&mut self, id: u32) -> Result<(), CallError> {
        self.conn.send_headers(
            id,
            [
                (&b":status"[..], &b"200"[..]),
                (b"content-type", b"application/grpc"),
                (b"grpc-accept-encoding", message::ACCEPT_ENCODING.as_bytes()),
            ],
            false,
        )?;
        self.set_bits(id, HEADERS_SENT);
        Ok(())
    }

    /// Sends more bytes of a response begun with
    /// [`begin_response`](Self::begin_response).
    pub fn send_response_part(&mut self, call: CallId, bytes: &[u8]) -> Result<(), CallError> {
        self.conn.send_data(call.0, &[bytes], false)?;
        Ok(())
    }

    /// Bytes queued on a call's stream and not yet sent: a sender of a
    /// large response adds more only while this is small.
    pub fn queued(&self, call: CallId) -> usize {
        self.conn.stream(call.0).map_or(0, |s| s.send_queued())
    }

    /// Whether `call` is of a method served as a stream.
    pub fn is_streaming(&self, call: CallId) -> bool {
        self.tag(call.0) & STREAMING != 0
    }

    fn tag(&self, id: u32) -> u8 {
        self.conn.stream(id).map_or(0, |s| s.tag())
    }

    fn set_bits(&mut self, id: u32, bits: u8) {
        let tag = self.tag(id);
        self.conn.set_tag(id, tag | bits);
    }

    fn clear_bits(&mut self, id: u32, bits: u8) {
        let tag = self.tag(id);
        self.conn.set_tag(id, tag & !bits);
    }

    /// The encoding of a call's request messages (`grpc-encoding`), if this
    /// build decodes it; identity when absent.
    fn encoding(&self, id: u32) -> Option<message::Encoding> {
        let stream = self.conn.stream(id)?;
        match stream.headers().get(b"grpc-encoding") {
            None => Some(message::Encoding::Identity),
            Some(value) => message::Encoding::parse(value),
        }
    }

    /// Whether a call's messages may carry the compressed flag.
    fn compressed_ok(&self, id: u32) -> bool {
        self.tag(id) & COMPRESSED_OK != 0
    }

    /// Ends the connection at once with `error` (see [`Connection::abort`]).
    pub fn abort(&mut self, error: ConnectionError) {
        self.conn.abort(error);
    }

    /// Sends a keepalive PING (`data` comes back in the ACK); any frame
    /// from the client proves the connection alive.
    pub fn ping(&mut self, data: [u8; 8]) -> Result<(), CallError> {
        self.conn.ping(data).map_err(CallError::from)
    }

    /// The method (path) a call reported by [`ServerEvent::Request`] asked for.
    pub fn method(&self, call: CallId) -> Option<&'static str> {
        let path = self.conn.stream(call.0)?.headers().get(b":path")?;
        self.methods.iter().copied().find(|m| m.as_bytes() == path)
    }

    /// The HTTP/2 connection underneath.
    pub fn connection(&self) -> &Connection<S> {
        &self.conn
    }

    /// Feeds bytes read from the client.
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

    /// Advances time: expires request deadlines and the SETTINGS timeout.
    ///
    /// A call past its deadline is answered DEADLINE_EXCEEDED (trailers-only),
    /// as gRPC servers do, so the client sees that status even when our timer
    /// fires before its own; the application gets [`ServerEvent::Cancelled`].
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            let mut due = heapless::Vec::<u32, 16>::new();
            for s in self.conn.streams() {
                let expired = s.deadline().is_some_and(|d| now >= d);
                if expired && !s.local_end_queued() && due.push(s.id()).is_err() {
                    break;
                }
            }
            if due.is_empty() {
                break;
            }
            for id in due {
                self.conn.clear_deadline(id);
                let _ =
                    self.respond_status(CallId(id), Code::DeadlineExceeded, "deadline exceeded");
                // If the queue is full the application learns it when it answers.
                let _ = self.expired.push_back(id);
            }
        }
        self.conn.handle_timeout(now)
    }

    /// Whether the connection is finished.
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Stops accepting calls; the ones in progress finish.
    pub fn close(&mut self) {
        self.conn.go_away();
    }

    /// The next thing to act on.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        if let Some(id) = self.expired.pop_front() {
            return Some(ServerEvent::Cancelled(CallId(id)));
        }
        if let Some(event) = self.pending_half_close() {
            return Some(event);
        }
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Headers { stream } => self.check_request_headers(stream),
                Event::Data { stream } => {
                    self.check_request_body(stream);
                    if let Some(event) = self.partial_event(stream) {
                        return Some(event);
                    }
                    if self.has_message(stream) {
                        self.set_bits(stream, call::REPORTED);
                        return Some(ServerEvent::Message(CallId(stream)));
                    }
                }
                Event::StreamEnded { stream } if self.tag(stream) & STREAMING != 0 => {
                    let answered = self
                        .conn
                        .stream(stream)
                        .is_none_or(|s| s.local_end_queued());
                    if answered {
                        continue;
                    }
                    self.set_bits(stream, HALF_CLOSE_PENDING | call::REPORTED);
                    self.half_close_maybe = true;
                    if self.has_message(stream) {
                        return Some(ServerEvent::Message(CallId(stream)));
                    }
                    if let Some(event) = self.pending_half_close() {
                        return Some(event);
                    }
                }
                Event::StreamEnded { stream } if self.tag(stream) & PARTIAL != 0 => {
                    if let Some(event) = self.partial_event(stream) {
                        return Some(event);
                    }
                }
                Event::StreamEnded { stream } => {
                    if call::mark_reported(&mut self.conn, stream) {
                        return Some(ServerEvent::Request(CallId(stream)));
                    }
                }
                Event::StreamReset { stream, .. } => {
                    let answered = self
                        .conn
                        .stream(stream)
                        .is_none_or(|s| s.local_end_queued());
                    let reported = !call::mark_reported(&mut self.conn, stream);
                    self.conn.release_stream(stream);
                    if reported && !answered {
                        return Some(ServerEvent::Cancelled(CallId(stream)));
                    }
                }
                Event::Closed { code, .. } => return Some(ServerEvent::Closed { code }),
                Event::Trailers { .. }
                | Event::GoAway { .. }
                | Event::SettingsAcked
                | Event::StreamsAvailable => {}
            }
        }
        None
    }

    /// A large request's news for the application, unless it was answered.
    fn partial_event(&mut self, id: u32) -> Option<ServerEvent> {
        if self.tag(id) & PARTIAL == 0 {
            return None;
        }
        let answered = self.conn.stream(id).is_none_or(|s| s.local_end_queued());
        if answered {
            return None;
        }
        call::mark_reported(&mut self.conn, id);
        Some(ServerEvent::Partial(CallId(id)))
    }

    /// Whether a streaming call holds a complete request message.
    fn has_message(&self, id: u32) -> bool {
        if self.tag(id) & STREAMING == 0 {
            return false;
        }
        let Some(stream) = self.conn.stream(id) else {
            return false;
        };
        !stream.local_end_queued()
            && message::framed_len(stream.body()).is_some_and(|n| n <= stream.body().len())
    }

    /// A half-close to report, once the messages before it were taken; a
    /// stream that ended inside a message is answered INTERNAL instead.
    fn pending_half_close(&mut self) -> Option<ServerEvent> {
        if !self.half_close_maybe {
            return None;
        }
        let mut found = None;
        for s in self.conn.streams() {
            if s.tag() & HALF_CLOSE_PENDING != 0 && !self.has_message(s.id()) {
                found = Some((s.id(), s.body().is_empty() || s.local_end_queued()));
                break;
            }
        }
        let Some((id, clean)) = found else {
            // Look again only while a stream still waits to report its
            // half-close behind messages not yet taken.
            self.half_close_maybe = self
                .conn
                .streams()
                .any(|s| s.tag() & HALF_CLOSE_PENDING != 0);
            return None;
        };
        self.clear_bits(id, HALF_CLOSE_PENDING);
        if clean {
            return Some(ServerEvent::HalfClosed(CallId(id)));
        }
        let e = message::MessageError::Truncated;
        let _ = self.respond_status(CallId(id), e.code(), e.as_str());
        Some(ServerEvent::Cancelled(CallId(id)))
    }

    /// Refuses requests that are not gRPC calls of our method, and adopts the
    /// client's deadline.
    fn check_request_headers(&mut self, id: u32) {
        let Some(stream) = self.conn.stream(id) else {
            return;
        };
        let headers = stream.headers();
        let method = headers.clone().get(b":method");
        let path = headers.clone().get(b":path");
        let content_type = headers.clone().get(b"content-type").unwrap_or_default();
        let deadline = headers.get(b"grpc-timeout").map(timeout::parse);
        if method != Some(b"POST") {
            return self.reject_http(id, b"405");
        }
        if !content_type.starts_with(b"application/grpc") {
            // The gRPC spec asks for 415 Unsupported Media Type.
            return self.reject_http(id, b"415");
        }
        if !self.methods.iter().any(|m| path == Some(m.as_bytes())) {
            return self.reject(id, Code::Unimplemented, "unknown method");
        }
        let streaming = self.streaming.iter().any(|m| path == Some(m.as_bytes()));
        let partial = self
            .partial
            .is_some_and(|(m, _)| path == Some(m.as_bytes()));
        match self.encoding(id) {
            // The accepted encodings go with every response's headers.
            None => return self.reject(id, Code::Unimplemented, "unsupported grpc-encoding"),
            Some(message::Encoding::Gzip | message::Encoding::Deflate) => {
                self.set_bits(id, COMPRESSED_OK)
            }
            Some(message::Encoding::Identity) => {}
        }
        if streaming {
            self.set_bits(id, STREAMING);
        }
        if partial {
            self.set_bits(id, PARTIAL_OK);
        }
        match deadline {
            None => {}
            Some(None) => self.reject(id, Code::InvalidArgument, "malformed grpc-timeout"),
            Some(Some(t)) => {
                let at = self.conn.now() + t.min(self.options.max_deadline);
                self.conn.set_deadline(id, at);
            }
        }
    }

    /// Answers as soon as the body breaks a limit, rather than after reading it all.
    fn check_request_body(&mut self, id: u32) {
        let Some(stream) = self.conn.stream(id) else {
            return;
        };
        if stream.local_end_queued() {
            return;
        }
        if let Some(limit) = stream.body_limit() {
            return self.reject(id, Code::ResourceExhausted, limit.as_str());
        }
        let tag = stream.tag();
        if tag & PARTIAL != 0 {
            // The application takes the bytes (`take_request_part`).
            return;
        }
        let max = self.options.max_message_size;
        let compressed_ok = self.compressed_ok(id);
        let large = self.partial.map_or(usize::MAX, |(_, above)| above);
        let body = stream.body();
        match message::check_prefix_with(body, max, compressed_ok) {
            Err(e) => self.reject(id, e.code(), e.as_str()),
            Ok(())
                if tag & PARTIAL_OK != 0
                    && body.first() == Some(&0)
                    && message::framed_len(body).is_some_and(|n| n > large) =>
            {
                self.set_bits(id, PARTIAL);
            }
            Ok(()) if self.has_message(id) => {
                // A streaming call's complete message: window comes back as
                // the application takes it (`next_message`).
            }
            Ok(()) => {
                // Within the message limit: the bytes are ours to assemble,
                // so the client may send more.
                let max_body = self.conn.config().max_body_size;
                call::expect_body(&mut self.conn, id, max_body);
                self.conn.consume(id);
            }
        }
    }

    fn reject(&mut self, id: u32, code: Code, message: &str) {
        call::mark_reported(&mut self.conn, id);
        self.clear_bits(id, HALF_CLOSE_PENDING);
        let _ = self.respond_status(CallId(id), code, message);
    }

    fn reject_http(&mut self, id: u32, status: &[u8]) {
        call::mark_reported(&mut self.conn, id);
        let _ = self
            .conn
            .send_headers(id, [(&b":status"[..], status)], true);
        self.conn.release_stream(id);
    }

    /// The request message of a call reported by [`ServerEvent::Request`],
    /// as sent: a compressed message is refused UNIMPLEMENTED here (read it
    /// with [`request_decoded`](Self::request_decoded)).
    pub fn request(&self, call: CallId) -> Result<&[u8], Status<'static>> {
        let framed = self.request_framed(call)?;
        if framed.compressed {
            let e = message::MessageError::Compressed;
            return Err(Status::new(e.code(), e.as_str()));
        }
        Ok(framed.payload)
    }

    fn request_framed(&self, call: CallId) -> Result<message::Framed<'_>, Status<'static>> {
        let stream = self
            .conn
            .stream(call.0)
            .ok_or(Status::new(Code::Internal, "no such call"))?;
        let compressed_ok = self.compressed_ok(call.0);
        message::split_unary_framed(stream.body(), self.options.max_message_size, compressed_ok)
            .map_err(|e| Status::new(e.code(), e.as_str()))
    }

    /// Takes a call's request buffer out of the server without copying it,
    /// in exchange for `replacement` (see
    /// [`Connection::swap_body`](crate::h2::conn::Connection::swap_body)),
    /// with where in it the request message lies (what
    /// [`request`](Self::request) returns). `None` when the call has no
    /// uncompressed request message.
    pub fn take_request(
        &mut self,
        call: CallId,
        replacement: S::Body,
    ) -> Option<(S::Body, core::ops::Range<usize>)> {
        let message = self.request(call).ok()?;
        let range = crate::buf::range_within(self.conn.stream(call.0)?.body(), message)?;
        let body = self.conn.swap_body(call.0, replacement)?;
        Some((body, range))
    }

    /// The request message of a call reported by [`ServerEvent::Request`],
    /// decompressed if it came compressed, never past the message limit (a
    /// message that expands further is RESOURCE_EXHAUSTED).
    #[cfg(feature = "std")]
    pub fn request_decoded(
        &self,
        call: CallId,
    ) -> Result<alloc::borrow::Cow<'_, [u8]>, Status<'static>> {
        let framed = self.request_framed(call)?;
        self.decode(call, framed)
    }

    #[cfg(feature = "std")]
    fn decode<'a>(
        &self,
        call: CallId,
        framed: message::Framed<'a>,
    ) -> Result<alloc::borrow::Cow<'a, [u8]>, Status<'static>> {
        use alloc::borrow::Cow;
        if !framed.compressed {
            return Ok(Cow::Borrowed(framed.payload));
        }
        let encoding = self.encoding(call.0).unwrap_or(message::Encoding::Identity);
        message::decompress(encoding, framed.payload, self.options.max_message_size)
            .map(Cow::Owned)
            .map_err(|e| Status::new(e.code(), e.as_str()))
    }

    /// The next request message of a streaming call, decompressed if it
    /// came compressed, and taken out of the call's body (the client gets
    /// its flow-control window back); `None` once none is complete. An
    /// error status is one the call should end with ([`finish`](Self::finish)).
    #[cfg(feature = "std")]
    pub fn next_message(
        &mut self,
        call: CallId,
    ) -> Option<Result<alloc::vec::Vec<u8>, Status<'static>>> {
        if !self.has_message(call.0) {
            return None;
        }
        let stream = self.conn.stream(call.0)?;
        let max = self.options.max_message_size;
        let split = message::split_first(stream.body(), max, self.compressed_ok(call.0));
        let (framed, total) = match split {
            Ok(Some(found)) => found,
            Ok(None) => return None,
            Err(e) => return Some(Err(Status::new(e.code(), e.as_str()))),
        };
        let decoded = self.decode(call, framed).map(|m| m.into_owned());
        self.conn.take_body(call.0, total);
        // What follows in the body is the next message's start: the
        // client may send the rest of it.
        self.check_request_body(call.0);
        Some(decoded)
    }

    /// Sends one response message on a streaming call, without ending it
    /// (the response headers go first, once).
    pub fn send_message(&mut self, call: CallId, response: &[u8]) -> Result<(), CallError> {
        if response.len() > self.options.max_message_size {
            return Err(CallError::MessageTooLarge);
        }
        let id = call.0;
        if self.tag(id) & HEADERS_SENT == 0 {
            self.send_response_headers(id)?;
        }
        let prefix = message::prefix(response.len() as u32);
        self.conn.send_data(id, &[&prefix, response], false)?;
        Ok(())
    }

    /// Ends a call with `code` and `message`: in trailers after the
    /// messages [`send_message`](Self::send_message) sent, or as a
    /// trailers-only response (the same as
    /// [`respond_status`](Self::respond_status)).
    pub fn finish(&mut self, call: CallId, code: Code, message: &str) -> Result<(), CallError> {
        self.respond_status(call, code, message)
    }

    /// The call's deadline, from the client's `grpc-timeout`.
    pub fn deadline(&self, call: CallId) -> Option<Instant> {
        self.conn.stream(call.0).and_then(|s| s.deadline())
    }

    /// The request's headers, including custom metadata
    /// (see [`super::custom_metadata`]).
    pub fn request_headers(&self, call: CallId) -> Option<HeaderIter<'_>> {
        self.conn.stream(call.0).map(|s| s.headers())
    }

    /// Answers a call with one message and status OK.
    pub fn respond(&mut self, call: CallId, response: &[u8]) -> Result<(), CallError> {
        if response.len() > self.options.max_message_size {
            self.respond_status(
                call,
                Code::ResourceExhausted,
                "response larger than the maximum message size",
            )?;
            return Err(CallError::MessageTooLarge);
        }
        let id = call.0;
        let result = (|| {
            self.conn.send_headers(
                id,
                [
                    (&b":status"[..], &b"200"[..]),
                    (b"content-type", b"application/grpc"),
                    (b"grpc-accept-encoding", message::ACCEPT_ENCODING.as_bytes()),
                ],
                false,
            )?;
            let prefix = message::prefix(response.len() as u32);
            self.conn.send_data(id, &[&prefix, response], false)?;
            self.conn
                .send_headers(id, [(&b"grpc-status"[..], &b"0"[..])], true)
        })();
        self.conn.release_stream(id);
        result.map_err(CallError::from)
    }

    /// Answers a call with a status and no message (a trailers-only response).
    /// `message` is percent-encoded on the wire, so any UTF-8 text travels intact.
    pub fn respond_status(
        &mut self,
        call: CallId,
        code: Code,
        message: &str,
    ) -> Result<(), CallError> {
        let id = call.0;
        let trailers = self.tag(id) & HEADERS_SENT != 0;
        let result = (|| {
            let mut block = self.conn.begin_headers(id, true)?;
            if !trailers {
                block.push(b":status", b"200");
                block.push(b"content-type", b"application/grpc");
                block.push(b"grpc-accept-encoding", message::ACCEPT_ENCODING.as_bytes());
            }
            block.push(b"grpc-status", code.as_str().as_bytes());
            if !message.is_empty() {
                let mut encoded = [0u8; 3 * 256];
                // Longer messages are cut at a character boundary: statuses are for people.
                let mut end = message.len().min(256);
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                if let Some(n) = percent::encode(&message.as_bytes()[..end], &mut encoded) {
                    block.push(b"grpc-message", &encoded[..n]);
                }
            }
            block.finish()
        })();
        self.conn.release_stream(id);
        result.map_err(CallError::from)
    }
}
