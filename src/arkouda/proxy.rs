//! The server side of the call patterns: a synchronous proxy that answers
//! each request from a backend, and an asynchronous one that answers
//! SUBMITTED at once, runs the work on workers, and answers
//! `getrequeststatus` from a bounded registry.
//!
//! Both are [`Handler`]s of the sans-IO [`ArkoudaService`](super::service::ArkoudaService);
//! where their work runs ([`FairWorkers`]) and what time it is ([`Clock`])
//! are theirs to be given, so a test or fuzzer drives them on one thread.

use std::boxed::Box;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::builtin::{self, Action};
use super::channel::STATUS_COMMAND;
use super::clock::{Clock, SystemClock};
use super::dispatch::{FairWorkers, Start};
use super::owner::OwnerKeys;
use super::pipe::{Pipe, Upload};
use super::registry::{Refusal, Registry, State};
use super::request_id::{NoEntropy, RequestIdGenerator};
use super::service::{Handler, Responder};
use super::upstream_msg::Reply;

pub use super::dispatch::FairConfig;
pub use super::registry::RegistryLimits;
use crate::grpc::Code;
use crate::proto::{ArkoudaRequest, ArkoudaResponse};

/// Why a backend could not answer: a gRPC code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError {
    /// The status the client gets (UNAVAILABLE, DEADLINE_EXCEEDED, …).
    pub code: Code,
    /// What happened.
    pub message: String,
}

impl BackendError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        BackendError {
            code,
            message: message.into(),
        }
    }
}

impl core::fmt::Display for BackendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Where commands are executed.
pub trait Backend: Send + Sync + 'static {
    /// Runs one command, finishing by `deadline` when there is one; returns
    /// Arkouda's reply JSON, or why there is none.
    fn execute(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<Instant>,
    ) -> Result<String, BackendError>;

    /// Runs one command whose result may be binary (a `recv_binary`
    /// request's reply); backends without binary results keep the default,
    /// which is `execute`'s reply JSON.
    fn execute_reply(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<Instant>,
    ) -> Result<Reply, BackendError> {
        self.execute(request, deadline).map(Reply::Json)
    }

    /// Runs one command whose payload may still be arriving (`upload`:
    /// `request.payload` is then empty) and whose binary reply may go back
    /// as it arrives, through `sink` (then `Ok(None)`: the answer is on its
    /// way). Backends that hold whole messages keep the default, which
    /// refuses a streamed payload RESOURCE_EXHAUSTED and answers the rest
    /// with [`execute_reply`](Self::execute_reply).
    fn execute_streaming(
        &self,
        request: &ArkoudaRequest,
        upload: Option<&Upload>,
        sink: &mut ReplySink,
        deadline: Option<Instant>,
    ) -> Result<Option<Reply>, BackendError> {
        let _ = sink;
        if let Some(upload) = upload {
            return Err(refuse_streamed(upload));
        }
        self.execute_reply(request, deadline).map(Some)
    }

    /// Whether `execute` may take long; such requests run on a worker so
    /// the thread driving the service keeps serving.
    fn may_block(&self, _request: &ArkoudaRequest) -> bool {
        true
    }
}

/// Refuses a payload too large to hold whole, to a backend that holds
/// whole messages: the upload is aborted, and the error says why.
fn refuse_streamed(upload: &Upload) -> BackendError {
    const WHY: &str = "this backend does not take payloads too large to hold whole";
    upload.pipe.abort(Code::ResourceExhausted, WHY);
    BackendError::new(Code::ResourceExhausted, WHY)
}

/// Where a backend sends a binary reply too large to hold: it names the
/// length, and writes the bytes into the pipe it gets, as they arrive.
pub struct ReplySink<'a> {
    responder: Option<Responder>,
    /// The request's user and command, copied only if the reply streams.
    user: &'a str,
    cmd: &'a str,
}

impl<'a> ReplySink<'a> {
    /// A sink answering `request` through `responder`.
    pub fn new(responder: Responder, request: &'a ArkoudaRequest) -> Self {
        ReplySink {
            responder: Some(responder),
            user: &request.user,
            cmd: &request.cmd,
        }
    }

    /// Starts the binary reply of `len` bytes (reply JSON saying
    /// msgFormat BINARY, the bytes in `payload`): write them into the
    /// returned pipe, at most `capacity` waiting, and finish it. `None`
    /// when the call was answered already.
    pub fn start(&mut self, len: u64, capacity: usize) -> Option<std::sync::Arc<Pipe>> {
        let responder = self.responder.take()?;
        let head = ArkoudaResponse {
            message: super::upstream_msg::binary_envelope(self.user),
            user: Some(self.user.into()),
            cmd: Some(self.cmd.into()),
            ..Default::default()
        };
        Some(responder.stream(head, len, capacity))
    }

    /// An empty string to write the reply JSON into, in the memory of an
    /// earlier reply on the connection when there is one (see
    /// [`Responder::take_buffer`]); a new one once the call was answered.
    pub fn buffer(&mut self) -> String {
        self.responder
            .as_mut()
            .map(Responder::take_buffer)
            .unwrap_or_default()
    }

    /// The call's deadline, if its client gave one.
    pub fn deadline(&self) -> Option<Instant> {
        self.responder.as_ref().and_then(Responder::deadline)
    }

    /// The responder, unless the reply was streamed.
    pub fn into_responder(self) -> Option<Responder> {
        self.responder
    }
}

/// The built-in backend's reply JSON for `request`, written into `buffer`.
fn builtin_reply(request: &ArkoudaRequest, buffer: String) -> String {
    match builtin::answer_in(&request.user, &request.cmd, &request.args, buffer) {
        Action::Reply(json) => json,
        Action::Sleep(ms, json) => {
            std::thread::sleep(Duration::from_millis(ms));
            json
        }
    }
}

/// The built-in backend of `arkwire serve` (see [`builtin::answer`]).
pub struct BuiltinBackend;

impl Backend for BuiltinBackend {
    fn execute(
        &self,
        request: &ArkoudaRequest,
        _deadline: Option<Instant>,
    ) -> Result<String, BackendError> {
        Ok(builtin_reply(request, String::new()))
    }

    /// The reply JSON is written into the sink's buffer: on a connection
    /// that has answered before, its memory is the last reply's.
    fn execute_streaming(
        &self,
        request: &ArkoudaRequest,
        upload: Option<&Upload>,
        sink: &mut ReplySink,
        _deadline: Option<Instant>,
    ) -> Result<Option<Reply>, BackendError> {
        if let Some(upload) = upload {
            return Err(refuse_streamed(upload));
        }
        Ok(Some(Reply::Json(builtin_reply(request, sink.buffer()))))
    }

    fn may_block(&self, request: &ArkoudaRequest) -> bool {
        request.cmd == "sleep"
    }
}

/// Answers each request from the backend, on a worker when it may block.
/// Blocking requests go through the [`FairWorkers`]: a queue per owner,
/// owners in turn, a call whose deadline passed in the queue never run.
pub struct SyncProxy<B: Backend> {
    backend: Arc<B>,
    workers: FairWorkers,
    owners: OwnerKeys,
}

impl<B: Backend> SyncProxy<B> {
    /// A proxy with `workers` threads for blocking commands, at most
    /// `workers - 1` (at least one) of them for one owner.
    pub fn new(backend: B, workers: usize) -> Self {
        Self::with_dispatch(backend, FairConfig::new(workers))
    }

    /// A proxy whose blocking commands go through a dispatcher with `config`.
    pub fn with_dispatch(backend: B, config: FairConfig) -> Self {
        Self::with_workers(backend, FairWorkers::new(config))
    }

    /// A proxy whose blocking commands go to `workers` (threads, or a
    /// [`FairWorkers::manual`] dispatcher the caller runs).
    pub fn with_workers(backend: B, workers: FairWorkers) -> Self {
        // Owners only name queues here, and never leave the process: when
        // the system has no entropy, any key groups the calls as well.
        let owners = OwnerKeys::from_os().unwrap_or_else(|_| OwnerKeys::from_key([0; 32]));
        SyncProxy {
            backend: Arc::new(backend),
            workers,
            owners,
        }
    }

    /// Calls answered DEADLINE_EXCEEDED because their deadline passed while
    /// they waited for a worker.
    pub fn expired_in_queue(&self) -> u64 {
        self.workers.expired()
    }
}

fn expired(responder: Responder) {
    responder.error(
        Code::DeadlineExceeded,
        "the deadline passed while the call waited for a worker; it was not run",
    )
}

/// Runs one request on `backend` and answers it: whole, streamed (the
/// backend did), or with its error.
fn run<B: Backend>(
    backend: &B,
    request: ArkoudaRequest,
    upload: Option<Upload>,
    responder: Responder,
) {
    let deadline = responder.deadline();
    let mut sink = ReplySink::new(responder, &request);
    let outcome = backend.execute_streaming(&request, upload.as_ref(), &mut sink, deadline);
    if let Some(upload) = &upload {
        // However it ended, the rest of the payload has nowhere to go.
        upload
            .pipe
            .abort(Code::Cancelled, "the command ended before its payload did");
    }
    let Some(responder) = sink.into_responder() else {
        // Streamed: the pipe carries the end, and any error, to the client.
        return;
    };
    match outcome {
        // The request's user and command move into the response, and the
        // rest of it goes back to the service for the next request.
        Ok(Some(reply)) => {
            let mut request = request;
            let response = reply.into_response_of(&mut request);
            responder.reply_with_request(response, request)
        }
        Ok(None) => responder.error(Code::Internal, "the backend answered nothing"),
        Err(e) => responder.error(e.code, &e.message),
    }
}

impl<B: Backend> SyncProxy<B> {
    fn dispatch(&self, request: ArkoudaRequest, upload: Option<Upload>, responder: Responder) {
        if upload.is_some() || self.backend.may_block(&request) {
            let backend = self.backend.clone();
            let owner = self.owners.owner(&request.user, &request.token);
            let deadline = responder.deadline();
            self.workers.submit(
                owner,
                deadline,
                Box::new(move |start| match start {
                    Start::Run => run(&*backend, request, upload, responder),
                    Start::Expired => {
                        if let Some(upload) = &upload {
                            upload.pipe.abort(Code::DeadlineExceeded, "not run");
                        }
                        expired(responder)
                    }
                }),
            );
        } else {
            run(&*self.backend, request, None, responder);
        }
    }
}

impl<B: Backend> Handler for SyncProxy<B> {
    fn handle(&self, request: ArkoudaRequest, responder: Responder) {
        self.dispatch(request, None, responder)
    }

    fn takes_streamed(&self) -> bool {
        true
    }

    fn handle_streamed(&self, request: ArkoudaRequest, upload: Upload, responder: Responder) {
        self.dispatch(request, Some(upload), responder)
    }
}

/// Limits of the asynchronous proxy.
#[derive(Clone, Copy, Debug)]
pub struct AsyncConfig {
    /// The registry's limits, overall and per owner.
    pub registry: RegistryLimits,
    /// The workers running requests, and how many one owner may use.
    pub dispatch: FairConfig,
}

impl Default for AsyncConfig {
    /// The default registry ([`RegistryLimits::default`]) and 4 workers.
    fn default() -> Self {
        AsyncConfig {
            registry: RegistryLimits::default(),
            dispatch: FairConfig::new(4),
        }
    }
}

/// Answers commands with SUBMITTED and `getrequeststatus` from a registry;
/// the wire shapes are those of the reference asynchronous proxy, plus a
/// `request_status` on every reply, NOT_FOUND for unknown ids, and FAILED.
///
/// Requests belong to their owner (user and token, see
/// [`Owner`](super::owner::Owner)): another
/// owner's id is answered NOT_FOUND exactly like an id that never existed.
pub struct AsyncProxy<B: Backend> {
    backend: Arc<B>,
    registry: Arc<Mutex<Registry>>,
    owners: OwnerKeys,
    workers: FairWorkers,
    clock: Arc<dyn Clock>,
}

/// What an [`AsyncProxy`] runs on, given by the caller: the workers, the
/// clock its registry keeps time by, its id generator and owner keys.
pub struct AsyncParts {
    /// Where submitted commands run.
    pub workers: FairWorkers,
    /// The registry's clock (result grace and age).
    pub clock: Arc<dyn Clock>,
    /// Makes the ids of requests that came without one.
    pub ids: RequestIdGenerator,
    /// Names each request's owner.
    pub owners: OwnerKeys,
}

impl<B: Backend> AsyncProxy<B> {
    /// A proxy with the given limits, worker threads and the process clock;
    /// its owner key and id generator are seeded from the operating system.
    pub fn new(backend: B, config: AsyncConfig) -> Result<Self, NoEntropy> {
        let parts = AsyncParts {
            workers: FairWorkers::new(config.dispatch),
            clock: Arc::new(SystemClock),
            ids: RequestIdGenerator::from_os()?,
            owners: OwnerKeys::from_os()?,
        };
        Ok(Self::with_parts(backend, config.registry, parts))
    }

    /// A proxy with the registry `limits` running on `parts`.
    pub fn with_parts(backend: B, limits: RegistryLimits, parts: AsyncParts) -> Self {
        AsyncProxy {
            backend: Arc::new(backend),
            registry: Arc::new(Mutex::new(Registry::new(limits, parts.ids))),
            owners: parts.owners,
            workers: parts.workers,
            clock: parts.clock,
        }
    }

    /// The registry, shared: to count it for metrics, or to save it on a
    /// drain and load it at start ([`Registry::save`], [`Registry::load`]).
    pub fn registry(&self) -> Arc<Mutex<Registry>> {
        self.registry.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // The registry is consistent after every call: a panic elsewhere
        // while it was held leaves nothing half-done.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn submit(&self, request: ArkoudaRequest, responder: Responder) {
        let owner = self.owners.owner(&request.user, &request.token);
        let submitted = self.lock().submit(
            &owner,
            request.request_id.as_deref(),
            &request.cmd,
            &request.args,
            self.clock.now(),
        );
        let submitted = match submitted {
            Ok(s) => s,
            Err(refusal) => {
                let code = match refusal {
                    Refusal::BadId => Code::InvalidArgument,
                    Refusal::IdInUse => Code::AlreadyExists,
                    Refusal::OwnerFull(_) | Refusal::Full => Code::ResourceExhausted,
                };
                return responder.error(code, &refusal.to_string());
            }
        };
        if submitted.new {
            let (backend, registry) = (self.backend.clone(), self.registry.clone());
            let clock = self.clock.clone();
            let (job_owner, job_id, work) = (owner.clone(), submitted.id.clone(), request.clone());
            self.workers.submit(
                owner,
                None,
                Box::new(move |_| {
                    let lock = || registry.lock().unwrap_or_else(|p| p.into_inner());
                    lock().start(&job_owner, &job_id);
                    // The caller is not waiting: the work has no gRPC deadline.
                    let outcome = backend.execute_reply(&work, None).map_err(|e| e.message);
                    lock().finish(&job_owner, &job_id, outcome, clock.now());
                }),
            );
        }
        responder.reply(ArkoudaResponse {
            message: "submitted request to Arkouda".into(),
            request_id: Some(submitted.id),
            request_status: Some("SUBMITTED".into()),
            user: Some(request.user),
            cmd: Some(request.cmd),
            args: None,
            ..Default::default()
        });
    }

    fn status(&self, request: ArkoudaRequest, responder: Responder) {
        // Our channels send the id in request_id; the reference client in args.
        let id = request
            .request_id
            .clone()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| request.args.trim().to_string());
        let owner = self.owners.owner(&request.user, &request.token);
        let Some(state) = self.lock().status(&owner, &id, self.clock.now()) else {
            // The same answer whether the id never existed or is another owner's.
            return responder.error(Code::NotFound, &std::format!("unknown request id {id:?}"));
        };
        let mut payload = std::vec::Vec::new();
        let (status, body) = match state {
            State::Pending => (
                "PENDING",
                serde_json::json!({"request_id": id, "request_status": "PENDING"}),
            ),
            State::Running => (
                "RUNNING",
                serde_json::json!({"request_id": id, "request_status": "RUNNING"}),
            ),
            State::Finished(Reply::Binary(bytes)) => {
                // The bytes go in the payload; the result says msgFormat BINARY.
                payload = bytes;
                let result = serde_json::json!({
                    "msg": "", "msgType": "NORMAL", "msgFormat": "BINARY", "user": request.user,
                });
                (
                    "FINISHED",
                    serde_json::json!({"request_id": id, "request_result": result}),
                )
            }
            State::Finished(Reply::Json(json)) => {
                // The reply is embedded as JSON, not as a string, as the reference does.
                let result = serde_json::from_str::<serde_json::Value>(&json)
                    .unwrap_or(serde_json::Value::String(json));
                (
                    "FINISHED",
                    serde_json::json!({"request_id": id, "request_result": result}),
                )
            }
            State::Failed(error) => (
                "FAILED",
                serde_json::json!({"request_id": id, "request_status": "FAILED", "error": error}),
            ),
        };
        responder.reply(ArkoudaResponse {
            message: body.to_string(),
            request_id: Some(id),
            request_status: Some(status.into()),
            user: Some(request.user),
            cmd: Some(request.cmd),
            args: None,
            payload,
        });
    }
}

impl<B: Backend> Handler for AsyncProxy<B> {
    fn handle(&self, request: ArkoudaRequest, responder: Responder) {
        if request.cmd == STATUS_COMMAND {
            self.status(request, responder)
        } else {
            self.submit(request, responder)
        }
    }
}
