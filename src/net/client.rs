//! A client connection driven by a mio loop on the calling thread.

use std::collections::BTreeSet;
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
    completed: BTreeSet<CallId>,
    /// Why the connection ended, once it has.
    closed: Option<String>,
    /// Where requests are encoded, kept between calls.
    scratch: std::vec::Vec<u8>,
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
            completed: BTreeSet::new(),
            closed: None,
            scratch: std::vec::Vec::new(),
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

    /// One call: sends `request`, waits for its reply.
    pub fn call(
        &mut self,
        request: &ArkoudaRequest,
        timeout: Option<Duration>,
    ) -> Result<ArkoudaResponse, CallFailure> {
        let call = self.start(request, &[], timeout)?;
        self.wait(call)
    }

    /// Starts a call without waiting; many may be in flight on the connection.
    /// Waits for room when the server's stream limit is reached.
    pub fn start(
        &mut self,
        request: &ArkoudaRequest,
        metadata: &[(&str, &[u8])],
        timeout: Option<Duration>,
    ) -> Result<CallId, CallFailure> {
        // Encoded into a buffer kept between calls.
        let mut bytes = core::mem::take(&mut self.scratch);
        bytes.clear();
        if request.encode(&mut bytes).is_err() {
            return Err(CallFailure::Start(CallError::MessageTooLarge));
        }
        let started = loop {
            let now = self.driver.now();
            match self
                .grpc()?
                .start_call(HANDLE_REQUEST_PATH, &bytes, metadata, timeout, now)
            {
                Ok(call) => break Ok(call),
                Err(CallError::TooManyCalls) if self.closed().is_none() => {
                    if let Err(e) = self.turn() {
                        break Err(e);
                    }
                }
                Err(e) => break Err(CallFailure::Start(e)),
            }
        };
        if bytes.capacity() <= 64 * 1024 {
            self.scratch = bytes;
        }
        started
    }

    /// Waits for a call started with [`start`](Self::start) and returns its reply.
    pub fn wait(&mut self, call: CallId) -> Result<ArkoudaResponse, CallFailure> {
        while !self.completed.contains(&call) {
            if let Some(reason) = self.closed() {
                return Err(aborted(&reason));
            }
            self.turn()?;
        }
        self.completed.remove(&call);
        let grpc = self.grpc()?;
        let result = match grpc.response(call) {
            Ok(bytes) => ArkoudaResponse::decode(bytes).map_err(|_| {
                CallFailure::Decode(
                    crate::proto::ArkoudaResponseRef::decode(bytes)
                        .err()
                        .unwrap_or(DecodeError::Truncated),
                )
            }),
            Err(status) => Err(CallFailure::Status {
                code: status.code,
                message: status.message(),
            }),
        };
        grpc.finish_call(call);
        result
    }

    fn turn(&mut self) -> Result<(), CallFailure> {
        self.driver.turn(None).map_err(CallFailure::Io)?;
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

fn aborted(reason: &str) -> CallFailure {
    CallFailure::Io(io::Error::new(ErrorKind::ConnectionAborted, reason))
}
