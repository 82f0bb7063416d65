//! The server end of gRPC unary calls over one HTTP/2 connection, sans-IO.

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
    /// Calls whose deadline passed, to report as cancelled.
    expired: heapless::Deque<u32, 32>,
}

/// Most methods one server connection dispatches.
pub const MAX_METHODS: usize = 8;

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
            expired: heapless::Deque::new(),
        })
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
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Headers { stream } => self.check_request_headers(stream),
                Event::Data { stream } => self.check_request_body(stream),
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
        match message::check_prefix(stream.body(), self.options.max_message_size) {
            Err(e) => self.reject(id, e.code(), e.as_str()),
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
        let _ = self.respond_status(CallId(id), code, message);
    }

    fn reject_http(&mut self, id: u32, status: &[u8]) {
        call::mark_reported(&mut self.conn, id);
        let _ = self
            .conn
            .send_headers(id, [(&b":status"[..], status)], true);
        self.conn.release_stream(id);
    }

    /// The request message of a call reported by [`ServerEvent::Request`].
    pub fn request(&self, call: CallId) -> Result<&[u8], Status<'static>> {
        let stream = self
            .conn
            .stream(call.0)
            .ok_or(Status::new(Code::Internal, "no such call"))?;
        message::split_unary(stream.body(), self.options.max_message_size)
            .map_err(|e| Status::new(e.code(), e.as_str()))
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
        let result = (|| {
            let mut block = self.conn.begin_headers(id, true)?;
            block.push(b":status", b"200");
            block.push(b"content-type", b"application/grpc");
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
