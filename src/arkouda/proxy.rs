//! The server side of the call patterns: a synchronous proxy that answers
//! each request from a backend, and an asynchronous one that answers
//! SUBMITTED at once, runs the work on workers, and answers
//! `getrequeststatus` from a bounded registry.

use std::boxed::Box;
use std::collections::HashMap;
use std::string::{String, ToString};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::builtin::{self, Action};
use super::channel::STATUS_COMMAND;
use super::request_id::RequestIdGenerator;
use super::upstream_msg::Reply;
use crate::grpc::Code;
use crate::net::{Handler, Responder};
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

    /// Whether `execute` may take long; such requests run on a worker so
    /// the event loop keeps serving.
    fn may_block(&self, _request: &ArkoudaRequest) -> bool {
        true
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
        if request.recv_binary || !request.payload.is_empty() {
            return Ok(builtin::no_arrays(&request.user, &request.cmd));
        }
        match builtin::answer(&request.user, &request.cmd, &request.args) {
            Action::Reply(json) => Ok(json),
            Action::Sleep(ms, json) => {
                std::thread::sleep(Duration::from_millis(ms));
                Ok(json)
            }
        }
    }

    fn may_block(&self, request: &ArkoudaRequest) -> bool {
        request.cmd == "sleep"
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of worker threads taking jobs from one queue.
struct Workers {
    tx: Mutex<mpsc::Sender<Job>>,
}

impl Workers {
    fn new(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(std::format!("arkwire-worker-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // the proxy is gone
                    }
                });
            if let Err(e) = spawned {
                log::error!("cannot start worker thread: {e}");
            }
        }
        Workers { tx: Mutex::new(tx) }
    }

    fn run(&self, job: Job) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(job);
        }
    }
}

/// Answers each request from the backend, on a worker when it may block.
pub struct SyncProxy<B: Backend> {
    backend: Arc<B>,
    workers: Workers,
}

impl<B: Backend> SyncProxy<B> {
    /// A proxy with `workers` threads for blocking commands.
    pub fn new(backend: B, workers: usize) -> Self {
        SyncProxy {
            backend: Arc::new(backend),
            workers: Workers::new(workers),
        }
    }
}

impl<B: Backend> Handler for SyncProxy<B> {
    fn handle(&self, request: ArkoudaRequest, responder: Responder) {
        let run = |backend: &B, request: ArkoudaRequest, responder: Responder| match backend
            .execute_reply(&request, responder.deadline())
        {
            Ok(reply) => responder.reply(reply.into_response(&request)),
            Err(e) => responder.error(e.code, &e.message),
        };
        if self.backend.may_block(&request) {
            let backend = self.backend.clone();
            self.workers
                .run(Box::new(move || run(&backend, request, responder)));
        } else {
            run(&self.backend, request, responder);
        }
    }
}

/// Limits of the asynchronous registry.
#[derive(Clone, Copy, Debug)]
pub struct AsyncConfig {
    /// Requests the registry holds at once (pending, running or finished);
    /// a submit beyond it is RESOURCE_EXHAUSTED.
    pub capacity: usize,
    /// How long a result stays fetchable after it was first read, so a
    /// client whose status reply was lost can ask again.
    pub result_grace: Duration,
    /// How long an unread result is kept.
    pub result_max_age: Duration,
    /// Worker threads running requests.
    pub workers: usize,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        AsyncConfig {
            capacity: 1024,
            result_grace: Duration::from_secs(60),
            result_max_age: Duration::from_secs(3600),
            workers: 4,
        }
    }
}

#[derive(Clone, Debug)]
enum State {
    Pending,
    Running,
    Finished(Reply),
    Failed(String),
}

struct Entry {
    state: State,
    finished_at: Option<Instant>,
    first_read: Option<Instant>,
}

struct Registry {
    entries: HashMap<String, Entry>,
    ids: RequestIdGenerator,
}

/// Answers commands with SUBMITTED and `getrequeststatus` from a registry;
/// the wire shapes are those of the reference asynchronous proxy, plus a
/// `request_status` on every reply, NOT_FOUND for unknown ids, and FAILED.
pub struct AsyncProxy<B: Backend> {
    backend: Arc<B>,
    registry: Arc<Mutex<Registry>>,
    config: AsyncConfig,
    workers: Workers,
}

impl<B: Backend> AsyncProxy<B> {
    /// A proxy with the given registry limits.
    pub fn new(backend: B, config: AsyncConfig) -> Self {
        let seed = std::collections::hash_map::RandomState::new();
        let seed = std::hash::BuildHasher::hash_one(&seed, Instant::now());
        AsyncProxy {
            backend: Arc::new(backend),
            registry: Arc::new(Mutex::new(Registry {
                entries: HashMap::new(),
                ids: RequestIdGenerator::new(seed),
            })),
            workers: Workers::new(config.workers),
            config,
        }
    }

    fn submit(&self, request: ArkoudaRequest, responder: Responder) {
        let Ok(mut reg) = self.registry.lock() else {
            return responder.error(Code::Internal, "request registry unavailable");
        };
        reg.expire(&self.config);
        let id = match request.request_id.as_deref() {
            Some(id) if !id.is_empty() && id.len() <= 64 => id.to_string(),
            Some(_) => {
                return responder.error(
                    Code::InvalidArgument,
                    "request_id must be 1 to 64 characters",
                )
            }
            None => reg.ids.generate().as_str().to_string(),
        };
        // A client that lost the SUBMITTED reply may submit again: the
        // request runs once.
        if !reg.entries.contains_key(&id) {
            if reg.entries.len() >= self.config.capacity {
                return responder.error(Code::ResourceExhausted, "request registry is full");
            }
            reg.entries.insert(
                id.clone(),
                Entry {
                    state: State::Pending,
                    finished_at: None,
                    first_read: None,
                },
            );
            let (backend, registry, job_id) =
                (self.backend.clone(), self.registry.clone(), id.clone());
            let work = request.clone();
            self.workers.run(Box::new(move || {
                set_state(&registry, &job_id, State::Running);
                // The caller is not waiting: the work has no gRPC deadline.
                let state = match backend.execute_reply(&work, None) {
                    Ok(reply) => State::Finished(reply),
                    Err(e) => State::Failed(e.message),
                };
                set_state(&registry, &job_id, state);
            }));
        }
        drop(reg);
        responder.reply(ArkoudaResponse {
            message: "submitted request to Arkouda".into(),
            request_id: Some(id),
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
        let Ok(mut reg) = self.registry.lock() else {
            return responder.error(Code::Internal, "request registry unavailable");
        };
        reg.expire(&self.config);
        let Some(entry) = reg.entries.get_mut(&id) else {
            return responder.error(Code::NotFound, &std::format!("unknown request id {id:?}"));
        };
        let mut payload = Vec::new();
        let (status, body) = match &entry.state {
            State::Pending => (
                "PENDING",
                serde_json::json!({"request_id": id, "request_status": "PENDING"}),
            ),
            State::Running => (
                "RUNNING",
                serde_json::json!({"request_id": id, "request_status": "RUNNING"}),
            ),
            State::Finished(Reply::Binary(bytes)) => {
                entry.first_read.get_or_insert_with(Instant::now);
                // The bytes go in the payload; the result says msgFormat BINARY.
                payload.clone_from(bytes);
                let result = serde_json::json!({
                    "msg": "", "msgType": "NORMAL", "msgFormat": "BINARY", "user": request.user,
                });
                (
                    "FINISHED",
                    serde_json::json!({"request_id": id, "request_result": result}),
                )
            }
            State::Finished(Reply::Json(json)) => {
                entry.first_read.get_or_insert_with(Instant::now);
                // The reply is embedded as JSON, not as a string, as the reference does.
                let result = serde_json::from_str::<serde_json::Value>(json)
                    .unwrap_or_else(|_| serde_json::Value::String(json.clone()));
                (
                    "FINISHED",
                    serde_json::json!({"request_id": id, "request_result": result}),
                )
            }
            State::Failed(error) => {
                entry.first_read.get_or_insert_with(Instant::now);
                (
                    "FAILED",
                    serde_json::json!({"request_id": id, "request_status": "FAILED", "error": error}),
                )
            }
        };
        drop(reg);
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

fn set_state(registry: &Mutex<Registry>, id: &str, state: State) {
    if let Ok(mut reg) = registry.lock() {
        if let Some(entry) = reg.entries.get_mut(id) {
            if matches!(state, State::Finished(_) | State::Failed(_)) {
                entry.finished_at = Some(Instant::now());
            }
            entry.state = state;
        }
    }
}

impl Registry {
    fn expire(&mut self, config: &AsyncConfig) {
        let now = Instant::now();
        let stale: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                let read_long_ago = e.first_read.is_some_and(|t| now - t >= config.result_grace);
                let unread_too_long = e
                    .finished_at
                    .is_some_and(|t| now - t >= config.result_max_age);
                read_long_ago || unread_too_long
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            self.entries.remove(&id);
        }
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
