//! A client connection driven by a mio loop on the calling thread.

use std::collections::BTreeSet;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::string::String;
use std::string::ToString;
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use prost::Message;

use super::{Clock, IO_CHUNK};
use crate::grpc::{self, CallError, CallId, ClientEvent, Code};
use crate::h2::conn::GrowableStorage;
use crate::proto::{ArkoudaRequest, ArkoudaResponse, DecodeError, HANDLE_REQUEST_PATH};

const SOCKET: Token = Token(0);

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
    poll: Poll,
    events: Events,
    stream: TcpStream,
    grpc: grpc::Client<GrowableStorage>,
    clock: Clock,
    out: Vec<u8>,
    out_pos: usize,
    read_buf: Vec<u8>,
    completed: BTreeSet<CallId>,
    closed: Option<String>,
}

impl Client {
    /// Connects to `addr` within the configured timeout.
    pub fn connect(addr: SocketAddr, config: ClientConfig) -> io::Result<Client> {
        let std_stream = std::net::TcpStream::connect_timeout(&addr, config.connect_timeout)?;
        std_stream.set_nonblocking(true)?;
        std_stream.set_nodelay(true)?;
        let mut stream = TcpStream::from_std(std_stream);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)?;
        let clock = Clock::new();
        let grpc = grpc::Client::new(&addr.to_string(), config.options, clock.now())
            .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
        Ok(Client {
            poll,
            events: Events::with_capacity(16),
            stream,
            grpc,
            clock,
            out: Vec::new(),
            out_pos: 0,
            read_buf: vec![0; IO_CHUNK],
            completed: BTreeSet::new(),
            closed: None,
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
            let now = self.clock.now();
            match self
                .grpc
                .start_call(HANDLE_REQUEST_PATH, &bytes, metadata, timeout, now)
            {
                Ok(call) => return Ok(call),
                Err(CallError::TooManyCalls) if self.closed.is_none() => self.turn(None)?,
                Err(e) => return Err(CallFailure::Start(e)),
            }
        }
    }

    /// Waits for a call started with [`start`](Self::start) and returns its reply.
    pub fn wait(&mut self, call: CallId) -> Result<ArkoudaResponse, CallFailure> {
        while !self.completed.contains(&call) {
            if let Some(reason) = &self.closed {
                return Err(CallFailure::Io(io::Error::new(
                    ErrorKind::ConnectionAborted,
                    reason.clone(),
                )));
            }
            self.turn(self.grpc.poll_timeout())?;
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

    /// One turn of the loop: write, wait for I/O or the next deadline, read.
    fn turn(&mut self, deadline: Option<crate::time::Instant>) -> Result<(), CallFailure> {
        self.flush()?;
        let timeout = deadline.map(|at| self.clock.until(at));
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(CallFailure::Io(e)),
        }
        let readable = self
            .events
            .iter()
            .any(|e| e.is_readable() || e.is_read_closed());
        if readable {
            self.read()?;
        }
        let now = self.clock.now();
        if self.grpc.poll_timeout().is_some_and(|at| at <= now) {
            self.grpc.handle_timeout(now);
        }
        while let Some(event) = self.grpc.poll_event() {
            match event {
                ClientEvent::Complete(call) => {
                    self.completed.insert(call);
                }
                ClientEvent::GoAway => log::debug!("server sent GOAWAY"),
                ClientEvent::Closed { code } => {
                    self.closed = Some(std::format!("HTTP/2 connection closed ({code:?})"));
                }
            }
        }
        self.flush()
    }

    fn read(&mut self) -> Result<(), CallFailure> {
        loop {
            match self.stream.read(&mut self.read_buf) {
                Ok(0) => {
                    self.closed
                        .get_or_insert_with(|| "server closed the connection".into());
                    return Ok(());
                }
                Ok(n) => {
                    let now = self.clock.now();
                    if let Err(e) = self.grpc.recv(&self.read_buf[..n], now) {
                        self.closed = Some(e.to_string());
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(CallFailure::Io(e)),
            }
        }
    }

    fn flush(&mut self) -> Result<(), CallFailure> {
        loop {
            if self.out_pos == self.out.len() {
                self.out.clear();
                self.out_pos = 0;
                self.out.resize(IO_CHUNK, 0);
                let n = self.grpc.transmit(&mut self.out);
                self.out.truncate(n);
                if n == 0 {
                    return Ok(());
                }
            }
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(CallFailure::Io(e)),
            }
        }
    }
}
