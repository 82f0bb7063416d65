//! The server side of the Arkouda protocol as a sans-IO machine: bytes of
//! one client connection in, bytes out, each request decoded and handed to
//! a [`Handler`], each answer coming back through its [`Responder`] (from
//! this thread or any other) and sent on the next
//! [`transmit`](ArkoudaService::transmit).
//!
//! The service owns no socket, thread or clock, so it runs wherever its
//! driver does: the `net` module's event loop, a test's
//! [`Pair`](crate::sans_io::Pair), a fuzzer. With the proxies'
//! [`FairWorkers::manual`](super::dispatch::FairWorkers::manual) dispatcher
//! and a [`ManualClock`](super::clock::ManualClock), a whole proxy (its
//! asynchronous registry included) runs step by step on one thread.
//!
//! ```
//! use std::sync::Arc;
//! use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
//! use arkwire::arkouda::service::ArkoudaService;
//! use arkwire::arkouda::{Channel, ChannelConfig, ChannelEvent, Outcome, RequestIdGenerator};
//! use arkwire::grpc::{Client, Options};
//! use arkwire::h2::conn::GrowableStorage;
//! use arkwire::sans_io::{Pair, SansIo};
//! use arkwire::time::Instant;
//!
//! let t0 = Instant::from_millis(0);
//! let proxy = Arc::new(SyncProxy::new(BuiltinBackend, 1));
//! let service = ArkoudaService::new(proxy, Options::default(), t0).unwrap();
//! let grpc = Client::<GrowableStorage>::new("proxy", Options::default(), t0).unwrap();
//! let ids = RequestIdGenerator::from_seed([7; 32]);
//! let channel = Channel::<_, 4>::new(grpc, "kjyost", "", ChannelConfig::default(), ids).unwrap();
//! let mut pair = Pair::new(channel, service, t0);
//! let op = pair.a.call("ruok", "", t0).unwrap();
//! pair.drive();
//! assert_eq!(pair.a.poll_event(), Some(ChannelEvent::Complete(op)));
//! let Ok(Outcome::Reply(reply)) = pair.a.outcome(op) else { panic!() };
//! assert_eq!(reply.msg.raw(), "imok");
//! ```

mod handler;

pub use handler::{Handler, Responder, Wake};

use std::collections::VecDeque;
use std::sync::{mpsc, Arc};

use handler::{Answer, Completion};
use prost::Message;

use crate::grpc::{self, CallId, Code, ServerEvent};
use crate::h2::conn::{ConfigError, ConnectionError, GrowableStorage};
use crate::h2::ErrorCode;
use crate::proto::{ArkoudaRequest, HANDLE_REQUEST_PATH};
use crate::time::Instant;

/// Events kept for [`ArkoudaService::poll_event`]; past this the oldest go,
/// so a driver that never asks does not make the service grow.
pub const MAX_EVENTS: usize = 64;

/// What happened on the connection, for the driver's logs and counters; the
/// requests themselves go to the handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceEvent {
    /// A request was decoded and handed to the handler.
    Request(CallId),
    /// A request was answered with `code` before reaching the handler (not
    /// an `ArkoudaRequest`, say).
    Refused {
        /// The call.
        call: CallId,
        /// The status it was answered with.
        code: Code,
    },
    /// The client cancelled the call, or its deadline passed, before the answer went out.
    Cancelled(CallId),
    /// The connection is finished.
    Closed {
        /// The HTTP/2 error code that closed it.
        code: ErrorCode,
    },
}

/// One client connection of an Arkouda gRPC proxy, sans-IO; see the module
/// documentation.
pub struct ArkoudaService {
    grpc: grpc::Server<GrowableStorage>,
    handler: Arc<dyn Handler>,
    tx: mpsc::Sender<Completion>,
    rx: mpsc::Receiver<Completion>,
    wake: Option<Arc<dyn Wake>>,
    events: VecDeque<ServiceEvent>,
    now: Instant,
}

impl ArkoudaService {
    /// A connection serving `/arkouda.Arkouda/HandleRequest` with `handler`.
    pub fn new(
        handler: Arc<dyn Handler>,
        options: grpc::Options,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let (tx, rx) = mpsc::channel();
        Ok(ArkoudaService {
            grpc: grpc::Server::new(HANDLE_REQUEST_PATH, options, now)?,
            handler,
            tx,
            rx,
            wake: None,
            events: VecDeque::new(),
            now,
        })
    }

    /// Calls `wake` whenever an answer arrives from another thread.
    pub fn with_wake(mut self, wake: Arc<dyn Wake>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// The gRPC server connection underneath.
    pub fn server(&self) -> &grpc::Server<GrowableStorage> {
        &self.grpc
    }

    /// Calls started and not yet finished.
    pub fn active_calls(&self) -> usize {
        self.grpc.connection().active_streams()
    }

    /// Whether the connection is finished.
    pub fn is_closed(&self) -> bool {
        self.grpc.is_closed()
    }

    /// Closes the connection gracefully (GOAWAY).
    pub fn close(&mut self) {
        self.grpc.close();
    }

    /// Feeds bytes read from the client; complete requests go to the handler.
    pub fn recv(&mut self, input: &[u8], now: Instant) -> Result<(), ConnectionError> {
        self.now = now;
        let result = self.grpc.recv(input, now);
        // Requests completed before a connection error are still answered.
        self.dispatch();
        result
    }

    /// Copies bytes to send into `out` (answers that arrived are written
    /// first); returns how many.
    pub fn transmit(&mut self, out: &mut [u8]) -> usize {
        self.collect_answers();
        self.grpc.transmit(out)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ServiceEvent> {
        self.dispatch();
        self.events.pop_front()
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.grpc.poll_timeout()
    }

    /// Advances time: call deadlines and the connection's timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.grpc.handle_timeout(now);
        self.dispatch();
    }

    fn push_event(&mut self, event: ServiceEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Hands new requests to the handler and records what else happened.
    fn dispatch(&mut self) {
        while let Some(event) = self.grpc.poll_event() {
            match event {
                ServerEvent::Request(call) => self.request(call),
                ServerEvent::Cancelled(call) => self.push_event(ServiceEvent::Cancelled(call)),
                ServerEvent::Closed { code } => self.push_event(ServiceEvent::Closed { code }),
            }
        }
    }

    fn request(&mut self, call: CallId) {
        let decoded = match self.grpc.request(call) {
            Ok(bytes) => ArkoudaRequest::decode(bytes).map_err(|e| {
                (
                    Code::InvalidArgument,
                    std::format!("invalid ArkoudaRequest: {e}"),
                )
            }),
            Err(status) => Err((status.code, "invalid request message".into())),
        };
        let request = match decoded {
            Ok(r) => r,
            Err((code, message)) => {
                let _ = self.grpc.respond_status(call, code, &message);
                self.push_event(ServiceEvent::Refused { call, code });
                return;
            }
        };
        let deadline = self
            .grpc
            .deadline(call)
            .map(|at| std::time::Instant::now() + at.saturating_duration_since(self.now));
        let responder =
            Responder::new(self.tx.clone(), self.wake.clone(), call, self.now, deadline);
        self.push_event(ServiceEvent::Request(call));
        self.handler.handle(request, responder);
    }

    /// Gives the gRPC server every answer that has arrived.
    fn collect_answers(&mut self) {
        while let Ok(done) = self.rx.try_recv() {
            let result = match done.answer {
                Answer::Reply(resp) => self.grpc.respond(done.call, &resp.encode_to_vec()),
                Answer::Status(code, msg) => self.grpc.respond_status(done.call, code, &msg),
            };
            if let Err(e) = result {
                // Cancelled or reset meanwhile: nobody is waiting.
                log::debug!("could not answer call {:?}: {e}", done.call);
            }
        }
    }
}

impl crate::sans_io::SansIo for ArkoudaService {
    type Event = ServiceEvent;
    type Error = ConnectionError;
    fn recv(&mut self, input: &[u8], now: Instant) -> Result<(), ConnectionError> {
        ArkoudaService::recv(self, input, now)
    }
    fn transmit(&mut self, out: &mut [u8]) -> usize {
        ArkoudaService::transmit(self, out)
    }
    fn poll_event(&mut self) -> Option<ServiceEvent> {
        ArkoudaService::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        ArkoudaService::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        ArkoudaService::handle_timeout(self, now)
    }
}

#[cfg(test)]
mod tests;
