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
//!
//! Beside `HandleRequest` the service answers the standard health check
//! (`/grpc.health.v1.Health/Check`) from a [`Health`] cell, and its
//! `Watch` stream: the status at once, then again whenever it changes (the
//! cell is looked at every [`ServiceOptions::watch_interval`]), until the
//! client cancels or the server drains (the stream then ends UNAVAILABLE,
//! after NOT_SERVING). Server reflection (`grpc.reflection.v1` and
//! `v1alpha`) answers each request of its stream as it arrives, from
//! [`reflection::answer`], and ends OK when the client half-closes.
//!
//! Requests may come compressed (`grpc-encoding: gzip` or `deflate`);
//! they are decompressed within the message limit, and one that expands
//! past it is answered RESOURCE_EXHAUSTED. Answers go uncompressed.
//!
//! With [`ServiceOptions::keepalive_interval`] set, a connection silent
//! that long gets an HTTP/2 PING; silent for
//! [`ServiceOptions::keepalive_timeout`] more, it is closed (a half-open
//! connection: a dead host, a dropped NAT mapping).
//!
//! Each answered `HandleRequest` is counted in the [`Metrics`] given with
//! [`with_metrics`](ArkoudaService::with_metrics) and logged at info level
//! on the target `arkwire::call` with the fields `user`, `cmd`, `status`
//! and `duration_ms` (never the token). A [`Drain`] shared with the server
//! closes the connection gracefully and, past the grace, answers the calls
//! still in progress UNAVAILABLE.

mod drain;
mod handler;
mod spares;

pub use drain::Drain;
pub use handler::{Handler, Responder, Wake};

use std::collections::{HashMap, VecDeque};
use std::string::String;
use std::sync::Arc;

use handler::{Answer, Answers};
use prost::Message;

use super::pipe::{Pipe, Popped, Upload};

use crate::grpc::{self, CallId, Code, ServerEvent};
use crate::h2::conn::{ConfigError, ConnectionError, GrowableStorage};
use crate::h2::ErrorCode;
use crate::metrics::Metrics;
use crate::ops::health::{self, CheckError, Health, ServingStatus};
use crate::ops::reflection;
use crate::proto::{ArkoudaRequest, HANDLE_REQUEST_PATH};

/// A binary payload this long or longer is handed to the handler in the
/// buffer it was received into rather than copied out of it.
const CARVE_PAYLOAD_FROM: usize = 64 * 1024;

/// Bytes of a streamed response queued on its HTTP/2 stream before more
/// are taken from its pipe.
const SEND_AHEAD: usize = 256 * 1024;
use crate::time::Instant;

/// Events kept for [`ArkoudaService::poll_event`]; past this the oldest go,
/// so a driver that never asks does not make the service grow.
pub const MAX_EVENTS: usize = 64;

/// The unary methods a service answers; with [`STREAMING_METHODS`], any
/// other path is UNIMPLEMENTED.
pub const METHODS: [&str; 2] = [HANDLE_REQUEST_PATH, health::CHECK_PATH];

/// The streaming methods a service answers: health `Watch` and server
/// reflection, both versions.
pub const STREAMING_METHODS: [&str; 3] = [
    health::WATCH_PATH,
    reflection::V1_PATH,
    reflection::V1ALPHA_PATH,
];

/// Settings of a service beyond the gRPC [`Options`](grpc::Options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceOptions {
    /// How often health `Watch` streams look at the [`Health`] cell for a
    /// change (default 100 ms).
    pub watch_interval: core::time::Duration,
    /// Most `Watch` streams one connection keeps (default 16); more are
    /// refused RESOURCE_EXHAUSTED.
    pub max_watches: usize,
    /// After this much silence from the client, an HTTP/2 PING goes out;
    /// `None` (the default): no keepalive.
    pub keepalive_interval: Option<core::time::Duration>,
    /// A client silent this long after a keepalive PING is taken for dead
    /// and its connection closed (default 20 s).
    pub keepalive_timeout: core::time::Duration,
    /// `HandleRequest` messages larger than this (default 1 MiB) are not
    /// assembled: their fields go to the handler as soon as they are in
    /// ([`Handler::handle_streamed`]) and the payload follows through a
    /// pipe as it arrives. Such a request must carry its payload last, as
    /// every encoder of ours does, and its other fields within this many
    /// bytes and half the stream window; otherwise it is assembled whole
    /// within [`max_assembled`](Self::max_assembled).
    pub stream_above: usize,
    /// Bytes one streamed payload may have waiting between the client and
    /// the handler (default 1 MiB); the client's window waits while it is full.
    pub pipe_capacity: usize,
    /// The largest `HandleRequest` assembled whole when it cannot pass
    /// through in parts (its text fields alone pass `stream_above`, or its
    /// payload is not its last field); larger ones are refused
    /// RESOURCE_EXHAUSTED. Default: the gRPC message limit (`usize::MAX`
    /// here); `arkwire serve` sets `--max-message-size`.
    pub max_assembled: usize,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            watch_interval: core::time::Duration::from_millis(100),
            max_watches: 16,
            keepalive_interval: None,
            keepalive_timeout: core::time::Duration::from_secs(20),
            stream_above: 1 << 20,
            pipe_capacity: 1 << 20,
            max_assembled: usize::MAX,
        }
    }
}

/// Characters of a user name or command kept for the per-call log line.
const LOG_FIELD_CHARS: usize = 64;

/// A user name or command as the log line keeps it: its first
/// [`LOG_FIELD_CHARS`] characters, held inline (a call allocates nothing
/// to be logged).
type LogField = heapless::String<{ 4 * LOG_FIELD_CHARS }>;

fn log_field(text: &str) -> LogField {
    let mut field = LogField::new();
    for c in text.chars().take(LOG_FIELD_CHARS) {
        // Cannot fail: LOG_FIELD_CHARS characters of at most 4 bytes each.
        let _ = field.push(c);
    }
    field
}

/// The health a service answers when it was given none: serving.
static ALWAYS_SERVING: Health = Health::new(ServingStatus::Serving);

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

/// A call handed to the handler and not yet answered.
struct InFlight {
    user: LogField,
    cmd: LogField,
    started: std::time::Instant,
    /// The client's deadline, on the service's clock.
    deadline: Option<Instant>,
}

/// One client connection of an Arkouda gRPC proxy, sans-IO; see the module
/// documentation.
pub struct ArkoudaService {
    grpc: grpc::Server<GrowableStorage>,
    handler: Arc<dyn Handler>,
    answers: Arc<Answers>,
    wake: Option<Arc<dyn Wake>>,
    events: VecDeque<ServiceEvent>,
    now: Instant,
    health: &'static Health,
    metrics: Option<&'static Metrics>,
    drain: Option<Arc<Drain>>,
    /// GOAWAY was asked for because of the drain.
    drain_closed: bool,
    /// The calls in flight were cancelled because the grace ended.
    drain_expired: bool,
    in_flight: HashMap<CallId, InFlight>,
    /// The verified name of the client's certificate, once TLS has it.
    peer_identity: Option<Arc<str>>,
    /// Requests must name the certificate's name as their `user`.
    require_user_match: bool,
    settings: ServiceOptions,
    /// Health `Watch` streams, with the status each was sent last (`None`
    /// until its request arrived).
    watches: HashMap<CallId, Option<ServingStatus>>,
    /// When the watches look at the health cell next.
    next_watch: Option<Instant>,
    /// When the client last sent anything.
    last_heard: Instant,
    /// A keepalive PING is out, sent at this instant.
    ping_sent: Option<Instant>,
    /// Keepalive found the client silent: the reason the connection closed.
    keepalive_failed: bool,
    /// Payloads on their way from the client to the handler.
    uploads: HashMap<CallId, Transfer>,
    /// Payloads on their way from the handler to the client.
    downloads: HashMap<CallId, Transfer>,
    /// Where responses are encoded, kept between calls up to [`SCRATCH_KEPT`].
    scratch: std::vec::Vec<u8>,
    /// What answered calls left for the next ones.
    spares: spares::Spares,
    /// The calls a pump visits, kept between transmits (a transmit while
    /// arrays pass allocates nothing for it).
    transfer_calls: std::vec::Vec<CallId>,
}

/// How often a service with arrays passing through looks at their pipes
/// without being woken (see [`ArkoudaService::poll_timeout`]).
const TRANSFER_RECHECK: core::time::Duration = core::time::Duration::from_millis(50);

/// Largest encoding buffer a connection keeps for the next response.
const SCRATCH_KEPT: usize = 64 * 1024;

/// One payload passing through the service: its pipe, and how many of its
/// bytes are still to pass.
struct Transfer {
    pipe: Arc<Pipe>,
    left: u64,
    /// A reply's payload the handler gave whole, sent from where it is
    /// (and how much of it has gone) instead of through the pipe.
    owned: Option<(std::vec::Vec<u8>, usize)>,
}

impl ArkoudaService {
    /// A connection serving `/arkouda.Arkouda/HandleRequest` with `handler`
    /// (and the health check, answering SERVING until
    /// [`with_health`](Self::with_health) says otherwise).
    pub fn new(
        handler: Arc<dyn Handler>,
        options: grpc::Options,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        Ok(ArkoudaService {
            grpc: grpc::Server::with_methods(&METHODS, options, now)?
                .with_streaming(&STREAMING_METHODS)?
                .with_partial(HANDLE_REQUEST_PATH, ServiceOptions::default().stream_above),
            handler,
            answers: Answers::new(),
            wake: None,
            events: VecDeque::new(),
            now,
            health: &ALWAYS_SERVING,
            metrics: None,
            drain: None,
            drain_closed: false,
            drain_expired: false,
            in_flight: HashMap::new(),
            peer_identity: None,
            require_user_match: false,
            settings: ServiceOptions::default(),
            watches: HashMap::new(),
            next_watch: None,
            last_heard: now,
            ping_sent: None,
            keepalive_failed: false,
            uploads: HashMap::new(),
            downloads: HashMap::new(),
            scratch: std::vec::Vec::new(),
            spares: spares::Spares::default(),
            transfer_calls: std::vec::Vec::new(),
        })
    }

    /// Records the name the client proved with its certificate (the TLS
    /// layer calls it when the handshake finishes, before any request):
    /// every [`Responder`] of the connection carries it.
    pub fn set_peer_identity(&mut self, identity: Option<&str>) {
        self.peer_identity = identity.map(Arc::from);
    }

    /// The name the client proved with its certificate, if any.
    pub fn peer_identity(&self) -> Option<&str> {
        self.peer_identity.as_deref()
    }

    /// With `required`, a request whose `user` is not the name of the
    /// client's certificate (or that came without a certificate) is refused
    /// PERMISSION_DENIED before the handler sees it: the user name is then
    /// proven rather than claimed, and whatever the handler keys on it
    /// (ownership of asynchronous requests) follows the certificate.
    pub fn with_user_match(mut self, required: bool) -> Self {
        self.require_user_match = required;
        self
    }

    /// Uses `settings` (Watch polling, keepalive).
    pub fn with_options(mut self, settings: ServiceOptions) -> Self {
        self.grpc
            .set_partial(HANDLE_REQUEST_PATH, settings.stream_above);
        self.settings = settings;
        self
    }

    /// Whether keepalive closed the connection: the client did not answer
    /// a PING within [`ServiceOptions::keepalive_timeout`].
    pub fn keepalive_failed(&self) -> bool {
        self.keepalive_failed
    }

    /// Calls `wake` whenever an answer arrives from another thread (and
    /// when the [`Drain`] starts or expires).
    pub fn with_wake(mut self, wake: Arc<dyn Wake>) -> Self {
        if let Some(drain) = &self.drain {
            drain.register(&wake);
        }
        self.wake = Some(wake);
        self
    }

    /// Answers health checks from `health`.
    pub fn with_health(mut self, health: &'static Health) -> Self {
        self.health = health;
        self
    }

    /// Counts the connection, its calls and the defences that end it in `metrics`.
    pub fn with_metrics(mut self, metrics: &'static Metrics) -> Self {
        if self.metrics.is_none() {
            metrics.connections_changed(1);
        }
        self.metrics = Some(metrics);
        self
    }

    /// Follows `drain`: GOAWAY once it starts, UNAVAILABLE for the calls
    /// still in flight once it expires. A connection made while the drain
    /// is under way closes at once.
    pub fn with_drain(mut self, drain: Arc<Drain>) -> Self {
        drain.joined();
        if let Some(wake) = &self.wake {
            drain.register(wake);
        }
        if let Some(old) = self.drain.replace(drain) {
            old.left();
        }
        self.observe_drain();
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
        if !input.is_empty() {
            // Anything from the client, a PING's ACK included, shows it alive.
            self.last_heard = now;
            self.ping_sent = None;
        }
        let result = self.grpc.recv(input, now);
        if let (Err(e), Some(m)) = (&result, self.metrics) {
            // The connection's own defences (floods, limits, protocol
            // violations) give a fixed reason: a bounded label.
            m.defence(e.reason);
        }
        // Requests completed before a connection error are still answered.
        self.dispatch();
        result
    }

    /// Copies bytes to send into `out` (answers that arrived are written
    /// first); returns how many.
    pub fn transmit(&mut self, out: &mut [u8]) -> usize {
        self.collect_answers();
        self.observe_drain();
        self.pump_uploads();
        self.pump_downloads();
        self.grpc.transmit(out)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ServiceEvent> {
        self.dispatch();
        self.events.pop_front()
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let keepalive = if self.grpc.is_closed() || self.keepalive_failed {
            None
        } else if let Some(sent) = self.ping_sent {
            Some(sent + self.settings.keepalive_timeout)
        } else {
            self.settings
                .keepalive_interval
                .map(|i| self.last_heard + i)
        };
        // While arrays pass, the pipes are looked at again every
        // TRANSFER_RECHECK even without a wake from the worker: a wake
        // lost between threads then costs a pause, never the call.
        let transfers = (!self.uploads.is_empty() || !self.downloads.is_empty())
            .then(|| self.now + TRANSFER_RECHECK);
        [
            self.grpc.poll_timeout(),
            self.next_watch,
            keepalive,
            transfers,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advances time: call deadlines, the connection's timers, Watch
    /// updates and keepalive.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.grpc.handle_timeout(now);
        self.keepalive(now);
        if self.next_watch.is_some_and(|at| now >= at) {
            self.update_watches();
        }
        self.dispatch();
    }

    /// Sends a PING after [`ServiceOptions::keepalive_interval`] of
    /// silence; closes the connection when the client stays silent
    /// [`ServiceOptions::keepalive_timeout`] longer.
    fn keepalive(&mut self, now: Instant) {
        let Some(interval) = self.settings.keepalive_interval else {
            return;
        };
        if self.grpc.is_closed() || self.keepalive_failed {
            return;
        }
        match self.ping_sent {
            Some(sent) if now >= sent + self.settings.keepalive_timeout => {
                log::info!(
                    "closing a connection: no answer to a keepalive PING within {} ms",
                    self.settings.keepalive_timeout.as_millis()
                );
                self.keepalive_failed = true;
                if let Some(m) = self.metrics {
                    m.defence("keepalive timeout");
                }
                self.grpc.abort(ConnectionError::timeout(
                    ErrorCode::NoError,
                    "keepalive timeout: the client did not answer a PING",
                ));
            }
            Some(_) => {}
            None if now >= self.last_heard + interval => {
                let data = now.as_micros().to_be_bytes();
                if self.grpc.ping(data).is_ok() {
                    self.ping_sent = Some(now);
                }
            }
            None => {}
        }
    }

    /// Sends each Watch stream the health status if it changed, and plans
    /// the next look.
    fn update_watches(&mut self) {
        let status = self.health.get();
        let calls: std::vec::Vec<CallId> = self.watches.keys().copied().collect();
        for call in calls {
            let Some(Some(last)) = self.watches.get(&call).copied() else {
                continue;
            };
            if last != status {
                self.send_watch(call, status);
            }
        }
        self.next_watch =
            (!self.watches.is_empty()).then(|| self.now + self.settings.watch_interval);
    }

    fn send_watch(&mut self, call: CallId, status: ServingStatus) {
        let response = health::HealthCheckResponse {
            status: status as i32,
        };
        match self.grpc.send_message(call, &response.encode_to_vec()) {
            Ok(()) => {
                self.watches.insert(call, Some(status));
            }
            Err(e) => {
                log::debug!("could not send a Watch update on {call:?}: {e}");
                let _ = self
                    .grpc
                    .finish(call, Code::ResourceExhausted, "Watch updates not read");
                self.watches.remove(&call);
            }
        }
    }

    /// A request message of a streaming call.
    fn stream_message(&mut self, call: CallId) {
        while let Some(next) = self.grpc.next_message(call) {
            let method = self.grpc.method(call);
            let request = match next {
                Ok(request) => request,
                Err(status) => {
                    let _ = self.grpc.finish(call, status.code, &status.message());
                    self.watches.remove(&call);
                    self.push_event(ServiceEvent::Refused {
                        call,
                        code: status.code,
                    });
                    return;
                }
            };
            if method == Some(health::WATCH_PATH) {
                self.watch(call, &request);
                continue;
            }
            let answer = reflection::answer(&request);
            let result = match answer {
                Some(answer) => self.grpc.send_message(call, &answer),
                None => {
                    const WHY: &str = "invalid ServerReflectionRequest";
                    let _ = self.grpc.finish(call, Code::InvalidArgument, WHY);
                    return;
                }
            };
            if let Err(e) = result {
                log::debug!("could not answer reflection on {call:?}: {e}");
                let _ = self
                    .grpc
                    .finish(call, Code::ResourceExhausted, "answers not read");
                return;
            }
        }
    }

    /// The request of a Watch stream: the status goes out at once.
    fn watch(&mut self, call: CallId, request: &[u8]) {
        if self.watches.contains_key(&call) {
            // A server stream takes one request.
            let _ = self
                .grpc
                .finish(call, Code::InvalidArgument, "Watch takes one request");
            self.watches.remove(&call);
            return;
        }
        let Ok(request) = health::HealthCheckRequest::decode(request) else {
            let _ = self
                .grpc
                .finish(call, Code::InvalidArgument, "invalid HealthCheckRequest");
            return;
        };
        if self.watches.len() >= self.settings.max_watches {
            let _ = self
                .grpc
                .finish(call, Code::ResourceExhausted, "too many Watch streams");
            return;
        }
        if !request.service.is_empty() && request.service != health::ARKOUDA_SERVICE {
            // As the health protocol asks: SERVICE_UNKNOWN, and the stream stays.
            self.watches.insert(call, None);
            let response = health::HealthCheckResponse {
                status: ServingStatus::ServiceUnknown as i32,
            };
            let _ = self.grpc.send_message(call, &response.encode_to_vec());
            return;
        }
        self.watches.insert(call, Some(self.health.get()));
        self.send_watch(call, self.health.get());
        if self.next_watch.is_none() {
            self.next_watch = Some(self.now + self.settings.watch_interval);
        }
    }

    /// The client of a streaming call half-closed.
    fn half_closed(&mut self, call: CallId) {
        if self.grpc.method(call) == Some(health::WATCH_PATH) {
            if !self.watches.contains_key(&call) {
                let _ = self
                    .grpc
                    .finish(call, Code::InvalidArgument, "Watch without a request");
            }
            // Otherwise the stream goes on: the client waits for updates.
            return;
        }
        let _ = self.grpc.finish(call, Code::Ok, "");
    }

    fn push_event(&mut self, event: ServiceEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Closes on drain, and cancels what is left when the grace ends.
    fn observe_drain(&mut self) {
        let Some(drain) = &self.drain else {
            return;
        };
        let (draining, expired) = (drain.is_draining(), drain.is_expired());
        if draining && !self.drain_closed {
            self.drain_closed = true;
            self.grpc.close();
            // Watch streams would hold the drain open: they hear NOT_SERVING
            // (the cell says so once the server drains) and end.
            self.update_watches();
            let calls: std::vec::Vec<CallId> = self.watches.drain().map(|(c, _)| c).collect();
            for call in calls {
                let _ = self
                    .grpc
                    .finish(call, Code::Unavailable, "the server is shutting down");
            }
            self.next_watch = None;
        }
        if expired && !self.drain_expired {
            self.drain_expired = true;
            let calls: std::vec::Vec<CallId> = self.in_flight.keys().copied().collect();
            for call in calls {
                const WHY: &str = "the server is shutting down; the call did not finish in time";
                let _ = self.grpc.respond_status(call, Code::Unavailable, WHY);
                self.end_transfers(call, Code::Unavailable, WHY);
                self.finished(call, Code::Unavailable);
            }
        }
    }

    /// Hands new requests to the handler and records what else happened.
    fn dispatch(&mut self) {
        while let Some(event) = self.grpc.poll_event() {
            match event {
                ServerEvent::Request(call) => self.request(call),
                ServerEvent::Partial(call) => self.partial(call),
                ServerEvent::Message(call) => self.stream_message(call),
                ServerEvent::HalfClosed(call) => self.half_closed(call),
                ServerEvent::Cancelled(call) if self.watches.remove(&call).is_some() => {}
                ServerEvent::Cancelled(call) => {
                    self.end_transfers(call, Code::Cancelled, "the client cancelled the call");
                    // The gRPC server answered DEADLINE_EXCEEDED for a call
                    // past its deadline; otherwise the client reset it.
                    let expired = self
                        .in_flight
                        .get(&call)
                        .and_then(|c| c.deadline)
                        .is_some_and(|d| self.now >= d);
                    let code = if expired {
                        Code::DeadlineExceeded
                    } else {
                        Code::Cancelled
                    };
                    self.finished(call, code);
                    self.push_event(ServiceEvent::Cancelled(call))
                }
                ServerEvent::Closed { code } => self.push_event(ServiceEvent::Closed { code }),
            }
        }
    }

    /// Answers a health check.
    fn check(&mut self, call: CallId) {
        let answer = match self.grpc.request_decoded(call) {
            Ok(bytes) => self.health.check(&bytes),
            Err(_) => Err(CheckError::Malformed),
        };
        let result = match answer {
            Ok(response) => self.grpc.respond(call, &response),
            Err(CheckError::UnknownService) => {
                self.grpc
                    .respond_status(call, Code::NotFound, "unknown service")
            }
            Err(CheckError::Malformed) => {
                self.grpc
                    .respond_status(call, Code::InvalidArgument, "invalid HealthCheckRequest")
            }
        };
        if let Err(e) = result {
            log::debug!("could not answer health check {call:?}: {e}");
        }
    }

    fn request(&mut self, call: CallId) {
        if self.grpc.method(call) == Some(health::CHECK_PATH) {
            return self.check(call);
        }
        let decoded = match self.take_large_request(call) {
            Some(request) => Ok(request),
            None => match self.grpc.request_decoded(call) {
                // Into the memory of a request answered earlier, when the
                // handler gave one back.
                Ok(bytes) => match crate::proto::ArkoudaRequestRef::decode(&bytes) {
                    Ok(view) => {
                        let mut request = self.spares.request();
                        view.copy_into(&mut request);
                        Ok(request)
                    }
                    Err(e) => Err((
                        Code::InvalidArgument,
                        std::format!("invalid ArkoudaRequest: {e}"),
                    )),
                },
                Err(status) => Err((status.code, status.message())),
            },
        };
        let request = match decoded {
            Ok(r) => r,
            Err((code, message)) => return self.refuse(call, code, &message),
        };
        if let Some(responder) = self.admit(call, &request) {
            self.handler.handle(request, responder);
        }
    }

    /// A request with a large binary payload, owned without copying the
    /// payload: the buffer it was received into becomes the payload (its
    /// bytes moved to the front, no new memory to fault in). `None` for
    /// any other request (small, compressed, or not a valid request: the
    /// plain decoding then says why).
    fn take_large_request(&mut self, call: CallId) -> Option<ArkoudaRequest> {
        let message = self.grpc.request(call).ok()?;
        let view = crate::proto::ArkoudaRequestRef::decode(message).ok()?;
        if view.payload.len() < CARVE_PAYLOAD_FROM {
            return None;
        }
        let at = crate::buf::range_within(message, view.payload)?;
        let mut request = crate::proto::ArkoudaRequestRef {
            payload: &[],
            ..view
        }
        .to_owned();
        let (body, message) = self.grpc.take_request(call, std::vec::Vec::new())?;
        request.payload = crate::buf::carve(body, message.start + at.start..message.start + at.end);
        Some(request)
    }

    /// Refuses a request with `code` before it reaches the handler.
    fn refuse(&mut self, call: CallId, code: Code, message: &str) {
        let _ = self.grpc.respond_status(call, code, message);
        if let Some(m) = self.metrics {
            m.call_started();
            m.call_finished("", code, std::time::Duration::ZERO);
        }
        self.push_event(ServiceEvent::Refused { call, code });
    }

    /// Checks a decoded request against the client's proven name, records
    /// it in flight, and gives the responder for the handler; `None` when
    /// it was refused.
    fn admit(&mut self, call: CallId, request: &ArkoudaRequest) -> Option<Responder> {
        if self.require_user_match {
            let refusal = match &self.peer_identity {
                None => Some("this proxy requires a client certificate naming the user"),
                Some(name) if **name != *request.user => {
                    Some("the request's user is not the name in the client certificate")
                }
                Some(_) => None,
            };
            if let Some(why) = refusal {
                self.refuse(call, Code::PermissionDenied, why);
                log::info!(
                    target: "arkwire::call",
                    "call by {:?} refused: {why}",
                    request.user.chars().take(LOG_FIELD_CHARS).collect::<String>()
                );
                return None;
            }
        }
        let core_deadline = self.grpc.deadline(call);
        let deadline = core_deadline
            .map(|at| std::time::Instant::now() + at.saturating_duration_since(self.now));
        let responder = Responder::new(
            self.answers.clone(),
            self.wake.clone(),
            call,
            self.now,
            deadline,
        )
        .with_peer_identity(self.peer_identity.clone())
        .with_buffer(self.spares.reply());
        if let Some(m) = self.metrics {
            m.call_started();
        }
        self.in_flight.insert(
            call,
            InFlight {
                user: log_field(&request.user),
                cmd: log_field(&request.cmd),
                started: std::time::Instant::now(),
                deadline: core_deadline,
            },
        );
        self.push_event(ServiceEvent::Request(call));
        Some(responder)
    }

    /// Bytes of a large request arrived: its fields go to the handler once
    /// they are in, its payload into the pipe as the pipe takes it.
    fn partial(&mut self, call: CallId) {
        if !self.uploads.contains_key(&call) && !self.start_upload(call) {
            return;
        }
        self.pump_upload(call);
    }

    /// Starts a large request's upload once the fields before its payload
    /// are in; false while they are not (or when the request was refused).
    fn start_upload(&mut self, call: CallId) -> bool {
        let Some(part) = self.grpc.request_part(call) else {
            return false;
        };
        let Some(message_len) = grpc::message::framed_len(part) else {
            return false;
        };
        let message_len = message_len - grpc::message::PREFIX_LEN;
        let body = &part[grpc::message::PREFIX_LEN..];
        let found = crate::proto::find_payload(body);
        let at = match found {
            Err(e) => {
                let why = std::format!("invalid ArkoudaRequest: {e}");
                self.refuse(call, Code::InvalidArgument, &why);
                return false;
            }
            Ok(Some(at))
                if at.start as u64 + at.len == message_len as u64
                    && self.handler.takes_streamed() =>
            {
                at
            }
            Ok(found) => {
                // No payload yet: wait, unless the fields before it are
                // already more than stream_above, or the payload is not
                // last: such a request cannot pass on as it comes, and is
                // assembled whole within `max_assembled` instead.
                // The client sends no more than a stream window before the
                // request is taken: half of one is where waiting ends.
                let window = self.grpc.connection().config().initial_window_size as usize;
                let give_up = part.len() >= self.settings.stream_above.min(window / 2)
                    || self.grpc.request_complete(call)
                    || found.is_some()
                    || !self.handler.takes_streamed();
                if !give_up {
                    return false;
                }
                if message_len > self.settings.max_assembled {
                    let why = std::format!(
                        "a request of {message_len} bytes passes through only with its payload \
                         (field 9) as its last field and its other fields within {} bytes; \
                         assembled whole it may have at most {} bytes",
                        self.settings.stream_above,
                        self.settings.max_assembled
                    );
                    self.refuse(call, Code::ResourceExhausted, &why);
                } else if self.grpc.assemble(call) {
                    self.request(call);
                }
                return false;
            }
        };
        let head = match ArkoudaRequest::decode(&body[..at.head_len]) {
            Ok(head) => head,
            Err(e) => {
                let why = std::format!("invalid ArkoudaRequest: {e}");
                self.refuse(call, Code::InvalidArgument, &why);
                return false;
            }
        };
        self.grpc
            .take_request_part(call, grpc::message::PREFIX_LEN + at.start);
        let Some(responder) = self.admit(call, &head) else {
            return false;
        };
        let pipe = Pipe::new(self.settings.pipe_capacity);
        if let Some(wake) = &self.wake {
            pipe.set_writer_wake(wake.clone());
        }
        self.uploads.insert(
            call,
            Transfer {
                pipe: pipe.clone(),
                left: at.len,
                owned: None,
            },
        );
        let upload = Upload { pipe, len: at.len };
        self.handler.handle_streamed(head, upload, responder);
        true
    }

    /// Moves a payload's arrived bytes into its pipe, as far as it has room.
    fn pump_upload(&mut self, call: CallId) {
        let Some(upload) = self.uploads.get_mut(&call) else {
            return;
        };
        loop {
            let room = upload.pipe.room();
            let part = self.grpc.request_part(call).unwrap_or_default();
            let n = part
                .len()
                .min(room)
                .min(usize::try_from(upload.left).unwrap_or(usize::MAX));
            if n == 0 {
                break;
            }
            let mut chunk = upload.pipe.chunk();
            chunk.extend_from_slice(&part[..n]);
            if upload.pipe.push(chunk).is_err() {
                // The handler gave up on it; its answer says why.
                self.uploads.remove(&call);
                return;
            }
            self.grpc.take_request_part(call, n);
            upload.left -= n as u64;
        }
        if upload.left == 0 {
            upload.pipe.finish();
            self.uploads.remove(&call);
        } else if self.grpc.request_complete(call)
            && self.grpc.request_part(call).is_none_or(<[u8]>::is_empty)
        {
            let why = std::format!(
                "the request ended {} bytes before the end of its payload",
                upload.left
            );
            upload.pipe.abort(Code::Internal, &why);
            self.uploads.remove(&call);
            let _ = self.grpc.respond_status(call, Code::Internal, &why);
            self.finished(call, Code::Internal);
        }
    }

    fn pump_uploads(&mut self) {
        if self.uploads.is_empty() {
            return;
        }
        let mut calls = core::mem::take(&mut self.transfer_calls);
        calls.clear();
        calls.extend(self.uploads.keys().copied());
        for &call in &calls {
            self.pump_upload(call);
        }
        self.transfer_calls = calls;
    }

    /// Sends what the pipes of streamed responses hold, as far as each
    /// stream's queue allows; ends each call when its pipe ends.
    fn pump_downloads(&mut self) {
        if self.downloads.is_empty() {
            return;
        }
        let mut calls = core::mem::take(&mut self.transfer_calls);
        calls.clear();
        calls.extend(self.downloads.keys().copied());
        for &call in &calls {
            let end = self.pump_download(call);
            if let Some((code, why)) = end {
                self.downloads.remove(&call);
                let _ = self.grpc.finish(call, code, &why);
                self.finished(call, code);
            }
        }
        self.transfer_calls = calls;
    }

    /// One streamed response's turn; the status to end it with once it ends.
    fn pump_download(&mut self, call: CallId) -> Option<(Code, String)> {
        let download = self.downloads.get_mut(&call)?;
        if let Some((bytes, at)) = download.owned.as_mut() {
            while *at < bytes.len() && self.grpc.queued(call) < SEND_AHEAD {
                let n = (bytes.len() - *at).min(SEND_AHEAD);
                if let Err(e) = self.grpc.send_response_part(call, &bytes[*at..*at + n]) {
                    log::debug!("reply of {call:?} stopped: {e}");
                    return Some((Code::Cancelled, String::new()));
                }
                *at += n;
            }
            return (*at == bytes.len()).then(|| (Code::Ok, String::new()));
        }
        while self.grpc.queued(call) < SEND_AHEAD {
            match download.pipe.pop() {
                Popped::Chunk(chunk) => {
                    if chunk.len() as u64 > download.left {
                        const WHY: &str = "the reply is longer than it announced";
                        download.pipe.abort(Code::Internal, WHY);
                        return Some((Code::Internal, WHY.into()));
                    }
                    if let Err(e) = self.grpc.send_response_part(call, &chunk) {
                        download
                            .pipe
                            .abort(Code::Cancelled, "the client's call ended");
                        log::debug!("streamed reply of {call:?} stopped: {e}");
                        return Some((Code::Cancelled, String::new()));
                    }
                    download.left -= chunk.len() as u64;
                    download.pipe.recycle(chunk);
                }
                Popped::Empty => return None,
                Popped::End if download.left == 0 => return Some((Code::Ok, String::new())),
                Popped::End => {
                    let why = std::format!("the reply ended {} bytes short", download.left);
                    return Some((Code::Internal, why));
                }
                Popped::Aborted(a) => return Some((a.code, a.message)),
            }
        }
        None
    }

    /// Abandons the payloads of `call` in either direction.
    fn end_transfers(&mut self, call: CallId, code: Code, why: &str) {
        for transfer in [self.uploads.remove(&call), self.downloads.remove(&call)]
            .into_iter()
            .flatten()
        {
            transfer.pipe.abort(code, why);
        }
    }

    /// Records the end of a call handed to the handler: its metrics and its
    /// log line. Calls not in flight (answered already) are ignored.
    fn finished(&mut self, call: CallId, code: Code) {
        let Some(done) = self.in_flight.remove(&call) else {
            return;
        };
        let elapsed = done.started.elapsed();
        if let Some(m) = self.metrics {
            m.call_finished(&done.cmd, code, elapsed);
        }
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        // The token is a credential: never logged. User and command are the
        // client's text, quoted so a line break cannot forge a log line.
        log::info!(
            target: "arkwire::call",
            user = done.user.as_str(),
            cmd = done.cmd.as_str(),
            status = code.name(),
            duration_ms = ms;
            "call {:?} by {:?}: {} in {ms} ms",
            done.cmd.as_str(),
            done.user.as_str(),
            code.name()
        );
    }

    /// Gives the gRPC server every answer that has arrived.
    fn collect_answers(&mut self) {
        while let Some(done) = self.answers.pop() {
            let (result, code) = match done.answer {
                Answer::Reply(mut resp, _) if resp.payload.len() >= CARVE_PAYLOAD_FROM => {
                    // Sent from the handler's buffer as the client reads,
                    // not copied whole into the send queue.
                    let payload = core::mem::take(&mut resp.payload);
                    let len = payload.len() as u64;
                    self.start_download(done.call, resp, len, Pipe::new(1), Some(payload));
                    continue;
                }
                Answer::Reply(resp, request) => {
                    // Encoded into a buffer the connection keeps between calls.
                    let mut encoded = core::mem::take(&mut self.scratch);
                    encoded.clear();
                    let result = match resp.encode(&mut encoded) {
                        Ok(()) => self.grpc.respond(done.call, &encoded),
                        Err(_) => self.grpc.respond_status(
                            done.call,
                            Code::Internal,
                            "the response could not be encoded",
                        ),
                    };
                    if encoded.capacity() <= SCRATCH_KEPT {
                        self.scratch = encoded;
                    }
                    self.spares.keep(resp, request);
                    (result, Code::Ok)
                }
                Answer::Status(code, msg) => {
                    (self.grpc.respond_status(done.call, code, &msg), code)
                }
                Answer::Stream { head, len, pipe } => {
                    self.start_download(done.call, head, len, pipe, None);
                    continue;
                }
            };
            match result {
                Ok(()) => self.finished(done.call, code),
                // Cancelled or reset meanwhile: nobody is waiting (and the
                // cancel was counted).
                Err(e) => log::debug!("could not answer call {:?}: {e}", done.call),
            }
        }
    }
}

impl ArkoudaService {
    /// Begins a response whose payload comes through `pipe` (or from
    /// `owned`, the payload given whole): the message prefix announces the
    /// whole length, `head`'s fields and the payload's key go first, and
    /// the payload follows as the pipe fills and the client reads.
    fn start_download(
        &mut self,
        call: CallId,
        head: crate::proto::ArkoudaResponse,
        len: u64,
        pipe: Arc<Pipe>,
        owned: Option<std::vec::Vec<u8>>,
    ) {
        let mut first = head.encode_to_vec();
        // ArkoudaResponse.payload = 7, length-delimited: its key and length.
        first.push(7 << 3 | 2);
        prost::encoding::encode_varint(len, &mut first);
        let total = (first.len() as u64).saturating_add(len);
        let begun = usize::try_from(total)
            .map_err(|_| grpc::CallError::MessageTooLarge)
            .and_then(|total| self.grpc.begin_response(call, total, &first));
        if let Err(e) = begun {
            log::debug!("could not stream the answer to {call:?}: {e}");
            pipe.abort(Code::Cancelled, "the call ended before its reply");
            let _ =
                self.grpc
                    .respond_status(call, Code::ResourceExhausted, "reply too large to send");
            return;
        }
        pipe.attach_reader(self.wake.clone());
        let owned = owned.map(|bytes| (bytes, 0));
        self.downloads.insert(
            call,
            Transfer {
                pipe,
                left: len,
                owned,
            },
        );
    }
}

impl Drop for ArkoudaService {
    fn drop(&mut self) {
        self.answers.close();
        // Transfers the connection took with it end for their other side too.
        let calls: std::vec::Vec<CallId> = self
            .uploads
            .keys()
            .chain(self.downloads.keys())
            .copied()
            .collect();
        for call in calls {
            self.end_transfers(call, Code::Cancelled, "the client's connection closed");
        }
        // Calls the connection took with it end as cancelled.
        let calls: std::vec::Vec<CallId> = self.in_flight.keys().copied().collect();
        for call in calls {
            self.finished(call, Code::Cancelled);
        }
        if let Some(m) = self.metrics {
            m.connections_changed(-1);
        }
        if let Some(drain) = &self.drain {
            drain.left();
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
