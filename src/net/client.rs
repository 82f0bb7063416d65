//! A client connection driven by a mio loop on the calling thread.

use std::collections::BTreeSet;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::string::String;
use std::string::ToString;
use std::time::Duration;

use prost::Message;

use super::transport::Transport;
use crate::grpc::{self, CallError, CallId, ClientEvent, Code};
use crate::h2::conn::GrowableStorage;
use crate::proto::{ArkoudaRequest, ArkoudaResponse, DecodeError, HANDLE_REQUEST_PATH};

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
    transport: Transport,
    grpc: grpc::Client<GrowableStorage>,
    completed: BTreeSet<CallId>,
}

impl Client {
    /// Connects to `addr` within the configured timeout.
    pub fn connect(addr: SocketAddr, config: ClientConfig) -> io::Result<Client> {
        let transport = Transport::connect(addr, config.connect_timeout)?;
        let grpc = grpc::Client::new(&addr.to_string(), config.options, transport.clock.now())
            .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
        Ok(Client {
            transport,
            grpc,
            completed: BTreeSet::new(),
        })
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
        let bytes = request.encode_to_vec();
        loop {
            let now = self.transport.clock.now();
            match self
                .grpc
                .start_call(HANDLE_REQUEST_PATH, &bytes, metadata, timeout, now)
            {
                Ok(call) => return Ok(call),
                Err(CallError::TooManyCalls) if self.transport.closed.is_none() => self.turn()?,
                Err(e) => return Err(CallFailure::Start(e)),
            }
        }
    }

    /// Waits for a call started with [`start`](Self::start) and returns its reply.
    pub fn wait(&mut self, call: CallId) -> Result<ArkoudaResponse, CallFailure> {
        while !self.completed.contains(&call) {
            if let Some(reason) = &self.transport.closed {
                return Err(CallFailure::Io(io::Error::new(
                    ErrorKind::ConnectionAborted,
                    reason.clone(),
                )));
            }
            self.turn()?;
        }
        self.completed.remove(&call);
        let result = match self.grpc.response(call) {
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
        self.grpc.finish_call(call);
        result
    }

    fn turn(&mut self) -> Result<(), CallFailure> {
        self.transport
            .turn(&mut self.grpc)
            .map_err(CallFailure::Io)?;
        while let Some(event) = self.grpc.poll_event() {
            match event {
                ClientEvent::Complete(call) => {
                    self.completed.insert(call);
                }
                ClientEvent::GoAway => log::debug!("server sent GOAWAY"),
                ClientEvent::StreamsAvailable => {}
                ClientEvent::Closed { code } => {
                    self.transport.closed =
                        Some(std::format!("HTTP/2 connection closed ({code:?})"));
                }
            }
        }
        Ok(())
    }
}
