//! A client connection driven by a mio loop on the calling thread.

use std::collections::HashSet;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::string::String;
use std::string::ToString;
use std::time::Duration;

use prost::Message;

use super::driver::{Driver, Key};
use super::wire::{client_wire, ClientTls, Wire};
use crate::grpc::{self, CallError, CallId, ClientEvent, Code};
use crate::h2::conn::GrowableStorage;
use crate::proto::{ArkoudaRequest, ArkoudaResponse, DecodeError, HANDLE_REQUEST_PATH};
use crate::sans_io::SansIo;

/// How the client connects and calls.
#[derive(Clone, Copy, Debug)]
pub struct ClientConfig {
    /// gRPC and HTTP/2 limits.
    pub options: grpc::Options,
    /// How long `connect` may take.
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            options: grpc::Options::default(),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a call failed. Transport failures, gRPC statuses and bad replies are
/// distinct, so callers can tell "retry later" from "fix the request".
#[derive(Debug)]
pub enum CallFailure {
    /// The connection failed or closed.
    Io(io::Error),
    /// The call could not start.
    Start(CallError),
    /// The server (or our deadline) ended the call with this status.
    Status {
        /// The gRPC code.
        code: Code,
        /// The decoded `grpc-message`.
        message: String,
    },
    /// The reply is not an `ArkoudaResponse`.
    Decode(DecodeError),
}

impl core::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CallFailure::Io(e) => write!(f, "connection failed: {e}"),
            CallFailure::Start(e) => write!(f, "call not started: {e}"),
            CallFailure::Status { code, message } if message.is_empty() => write!(f, "{code}"),
            CallFailure::Status { code, message } => write!(f, "{code}: {message}"),
            CallFailure::Decode(e) => write!(f, "invalid reply: {e}"),
        }
    }
}

impl std::error::Error for CallFailure {}

/// One HTTP/2 connection to an Arkouda gRPC proxy.
pub struct Client {
    driver: Driver<Wire<grpc::Client<GrowableStorage>>>,
    key: Key,
    /// Calls whose replies arrived and were not yet taken (a hash set keeps
    /// its memory as calls come and go: no allocation per call).
    completed: HashSet<CallId>,
    /// Why the connection ended, once it has.
    closed: Option<String>,
    /// The call whose reply is being received into the caller's buffer
    /// (see [`call_into`](Self::call_into)).
    lent: Option<CallId>,
}

impl Client {
    /// Connects to `addr` within the configured timeout. The HTTP/2
    /// handshake happens at the first call: a client that waits longer
    /// than the server's handshake timeouts before it calls should use
    /// [`Session`](super::Session), which finishes it at connect.
    pub fn connect(addr: SocketAddr, config: ClientConfig) -> io::Result<Client> {
        Self::open(addr, config, None)
    }

    /// Connects to `addr` over TLS, the session started by `connector`
    /// (its CA roots, client certificate and server name). A failed
    /// handshake fails the first call with the TLS error, saying whose
    /// fault it was.
    #[cfg(feature = "tls")]
    pub fn connect_tls(
        addr: SocketAddr,
        config: ClientConfig,
        connector: std::sync::Arc<crate::tls::Connector>,
    ) -> io::Result<Client> {
        Self::open(addr, config, Some(connector))
    }

    fn open(addr: SocketAddr, config: ClientConfig, tls: Option<ClientTls>) -> io::Result<Client> {
        let mut driver = Driver::new()?;
        let key = driver.connect(addr, config.connect_timeout, |now| {
            let grpc = grpc::Client::new(&addr.to_string(), config.options, now)
                .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
            client_wire(grpc, tls.as_ref(), now)
        })?;
        Ok(Client {
            driver,
            key,
            completed: HashSet::new(),
            closed: None,
            lent: None,
        })
    }

    fn grpc(&mut self) -> Result<&mut grpc::Client<GrowableStorage>, CallFailure> {
        self.driver
            .machine_mut(self.key)
            .map(Wire::inner_mut)
            .ok_or_else(|| aborted("the connection is closed"))
    }

    /// Why the connection ended, if it has.
    fn closed(&self) -> Option<String> {
        self.closed
            .clone()
            .or_else(|| self.driver.closed(self.key).map(String::from))
    }

    /// One call: sends `request`, waits for its reply. A binary payload
    /// of 64 KiB or more goes out from `request`'s memory as the server's
    /// window opens, not copied whole into the send queue first.
    pub fn call(
        &mut self,
        request: &ArkoudaRequest,
        timeout: Option<Duration>,
    ) -> Result<ArkoudaResponse, CallFailure> {
        let mut response = ArkoudaResponse::default();
        self.call_into(request, timeout, &mut response)?;
        Ok(response)
    }

    /// [`call`](Self::call), with the reply written over `response` in the
    /// memory it holds: a caller that passes the same response call after
    /// call makes no allocation per call once its strings have grown. A
    /// `payload` of 64 KiB or more of capacity is where the reply is
    /// received, so repeated downloads reuse memory already faulted in.
    pub fn call_into(
        &mut self,
        request: &ArkoudaRequest,
        timeout: Option<Duration>,
        response: &mut ArkoudaResponse,
    ) -> Result<(), CallFailure> {
        let payload = &request.payload[..];
        if payload.len() < MIN_STREAMED_PAYLOAD {
            let call = self.start(request, &[], timeout)?;
            self.lend(call, response);
            return self.wait_into(call, response);
        }
        let view = crate::proto::ArkoudaRequestRef::from(request);
        let head = view.head_len(payload.len());
        let call = self.start_with(head + payload.len(), head, &[], timeout, |out| {
            let _ = view.encode_head(payload.len(), out);
        })?;
        self.lend(call, response);
        let mut given = 0;
        while given < payload.len() && !self.completed.contains(&call) {
            if let Some(reason) = self.closed() {
                return Err(aborted(&reason));
            }
            let grpc = self.grpc()?;
            let room = PAYLOAD_AHEAD
                .saturating_sub(grpc.queued(call))
                .min(grpc.send_room(call))
                .min(payload.len() - given);
            let mut wait = true;
            if room > 0 {
                let last = given + room == payload.len();
                if grpc
                    .send_request_part(call, &payload[given..given + room], last)
                    .is_err()
                {
                    // The server ended the call early: its status says why.
                    break;
                }
                given += room;
                wait = false;
            }
            let now = self.driver.now();
            self.turn_until((!wait).then_some(now))?;
        }
        self.wait_into(call, response)
    }

    /// Starts a call without waiting; many may be in flight on the connection.
    /// Waits for room when the server's stream limit is reached.
    pub fn start(
        &mut self,
        request: &ArkoudaRequest,
        metadata: &[(&str, &[u8])],
        timeout: Option<Duration>,
    ) -> Result<CallId, CallFailure> {
        // Encoded straight into the stream's send queue.
        let len = request.encoded_len();
        self.start_with(len, len, metadata, timeout, |mut out| {
            let _ = request.encode(&mut out);
        })
    }

    /// Starts a call whose message of `len` bytes has its first `head`
    /// bytes written by `encode`; the rest follow with
    /// `send_request_part`. Waits for room under the server's stream limit.
    fn start_with(
        &mut self,
        len: usize,
        head: usize,
        metadata: &[(&str, &[u8])],
        timeout: Option<Duration>,
        encode: impl Fn(&mut [u8]),
    ) -> Result<CallId, CallFailure> {
        loop {
            let now = self.driver.now();
            let started = self.grpc()?.start_call_streaming(
                HANDLE_REQUEST_PATH,
                len,
                head,
                metadata,
                timeout,
                now,
                &encode,
            );
            match started {
                Ok(call) => return Ok(call),
                Err(CallError::TooManyCalls) if self.closed().is_none() => self.turn()?,
                Err(e) => return Err(CallFailure::Start(e)),
            }
        }
    }

    /// Waits for a call started with [`start`](Self::start) and returns its reply.
    pub fn wait(&mut self, call: CallId) -> Result<ArkoudaResponse, CallFailure> {
        let mut response = ArkoudaResponse::default();
        self.wait_into(call, &mut response)?;
        Ok(response)
    }

    /// [`wait`](Self::wait), with the reply written over `response` in the
    /// memory it holds (see [`call_into`](Self::call_into)).
    pub fn wait_into(
        &mut self,
        call: CallId,
        response: &mut ArkoudaResponse,
    ) -> Result<(), CallFailure> {
        while !self.completed.contains(&call) {
            if let Some(reason) = self.closed() {
                return Err(aborted(&reason));
            }
            self.turn()?;
        }
        self.completed.remove(&call);
        let lent = self.lent == Some(call);
        if lent {
            self.lent = None;
        }
        if self.take_large_response(call, lent, response) {
            self.grpc()?.finish_call(call);
            return Ok(());
        }
        let grpc = self.grpc()?;
        let result = match grpc.response(call) {
            Ok(bytes) => crate::proto::ArkoudaResponseRef::decode(bytes)
                .map(|view| view.copy_into(response))
                .map_err(CallFailure::Decode),
            Err(status) => Err(CallFailure::Status {
                code: status.code,
                message: status.message(),
            }),
        };
        grpc.finish_call(call);
        result
    }

    /// Lends `response`'s payload buffer, when it is large, to receive
    /// the reply of `call` into.
    fn lend(&mut self, call: CallId, response: &mut ArkoudaResponse) {
        if response.payload.capacity() < MIN_STREAMED_PAYLOAD {
            return;
        }
        let Some(grpc) = self.driver.machine_mut(self.key).map(Wire::inner_mut) else {
            return;
        };
        let buffer = core::mem::take(&mut response.payload);
        match grpc.lend_response_buffer(call, buffer) {
            Ok(()) => self.lent = Some(call),
            Err(buffer) => response.payload = buffer,
        }
    }

    /// Writes a reply with a large binary payload, or any reply received
    /// into a lent buffer (`lent`), over `response` without copying the
    /// payload: the buffer it was received into becomes the payload. False
    /// for any other reply (the plain decoding then handles it).
    fn take_large_response(
        &mut self,
        call: CallId,
        lent: bool,
        response: &mut ArkoudaResponse,
    ) -> bool {
        let Some(grpc) = self.driver.machine_mut(self.key).map(Wire::inner_mut) else {
            return false;
        };
        let Ok(message) = grpc.response(call) else {
            return false;
        };
        let Ok(view) = crate::proto::ArkoudaResponseRef::decode(message) else {
            return false;
        };
        if view.payload.len() < MIN_STREAMED_PAYLOAD && !lent {
            return false;
        }
        // No payload: the lent buffer comes back empty.
        let at = match view.payload.is_empty() {
            true => 0..0,
            false => match crate::buf::range_within(message, view.payload) {
                Some(at) => at,
                None => return false,
            },
        };
        crate::proto::ArkoudaResponseRef {
            payload: &[],
            ..view
        }
        .copy_into(response);
        let Some((body, message)) = grpc.take_response(call, std::vec::Vec::new()) else {
            return false;
        };
        let at = message.start + at.start..message.start + at.end;
        response.payload = crate::buf::carve(body, at);
        true
    }

    fn turn(&mut self) -> Result<(), CallFailure> {
        self.turn_until(None)
    }

    /// One turn of the loop, waiting at most until `until` (None: until
    /// something happens).
    fn turn_until(&mut self, until: Option<crate::time::Instant>) -> Result<(), CallFailure> {
        self.driver.turn(until).map_err(CallFailure::Io)?;
        let (completed, closed) = (&mut self.completed, &mut self.closed);
        let Some(grpc) = self.driver.machine_mut(self.key) else {
            return Ok(());
        };
        while let Some(event) = grpc.poll_event() {
            match event {
                ClientEvent::Complete(call) => {
                    completed.insert(call);
                }
                ClientEvent::GoAway => log::debug!("server sent GOAWAY"),
                ClientEvent::StreamsAvailable => {}
                ClientEvent::Closed { code } => {
                    closed
                        .get_or_insert_with(|| std::format!("HTTP/2 connection closed ({code:?})"));
                }
            }
        }
        Ok(())
    }
}

/// A binary payload at least this long is sent from the request's memory
/// and received into a buffer that becomes the reply's payload.
const MIN_STREAMED_PAYLOAD: usize = 64 * 1024;

/// Bytes of a streamed payload queued unsent before more are added.
const PAYLOAD_AHEAD: usize = crate::arkouda::channel::PAYLOAD_AHEAD;

fn aborted(reason: &str) -> CallFailure {
    CallFailure::Io(io::Error::new(ErrorKind::ConnectionAborted, reason))
}
