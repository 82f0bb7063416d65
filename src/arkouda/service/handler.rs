//! What the service hands a request to ([`Handler`]), and how the answer
//! comes back ([`Responder`]), from any thread.

use std::string::String;
use std::sync::{mpsc, Arc};

use crate::arkouda::pipe::{Pipe, Upload};
use crate::grpc::{CallId, Code};
use crate::proto::{ArkoudaRequest, ArkoudaResponse};
use crate::time::Instant;

/// Answers Arkouda requests. Called on the thread that drives the service:
/// answer at once through the [`Responder`], or move it to another thread
/// and answer later; the service does not wait.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn handle(&self, request: ArkoudaRequest, responder: Responder);

    /// Whether [`handle_streamed`](Self::handle_streamed) passes payloads
    /// on as they come. When false (the default) the service assembles
    /// large requests whole (within `ServiceOptions::max_assembled`) and
    /// hands them to [`handle`](Self::handle).
    fn takes_streamed(&self) -> bool {
        false
    }

    /// Handles a request too large to assemble: its fields are in `request`
    /// (with an empty `payload`), its payload still arriving through
    /// `upload`. Handlers that cannot forward a payload as it comes keep
    /// the default, which refuses RESOURCE_EXHAUSTED.
    fn handle_streamed(&self, request: ArkoudaRequest, upload: Upload, responder: Responder) {
        let _ = request;
        const WHY: &str = "this server does not take payloads too large to hold whole";
        upload.pipe.abort(Code::ResourceExhausted, WHY);
        responder.error(Code::ResourceExhausted, WHY);
    }
}

impl<F> Handler for F
where
    F: Fn(ArkoudaRequest, Responder) + Send + Sync + 'static,
{
    fn handle(&self, request: ArkoudaRequest, responder: Responder) {
        self(request, responder)
    }
}

/// Told when an answer arrives from a thread other than the one driving the
/// service, so the driver wakes and sends it (a socket loop's waker, say).
pub trait Wake: Send + Sync {
    /// An answer is waiting in the service.
    fn wake(&self);
}

/// How a call was answered.
#[derive(Debug)]
pub(super) enum Answer {
    Reply(ArkoudaResponse),
    Status(Code, String),
    /// `head` with a payload of `len` bytes that arrives through `pipe`.
    Stream {
        head: ArkoudaResponse,
        len: u64,
        pipe: Arc<Pipe>,
    },
}

/// One answer on its way back to the service.
pub(super) struct Completion {
    pub(super) call: CallId,
    pub(super) answer: Answer,
}

/// Answers one request, once, from any thread. Dropping it unanswered
/// answers INTERNAL, so a call is never left hanging.
pub struct Responder {
    tx: mpsc::Sender<Completion>,
    wake: Option<Arc<dyn Wake>>,
    call: CallId,
    now: Instant,
    deadline: Option<std::time::Instant>,
    service_thread: std::thread::ThreadId,
    done: bool,
    /// The verified name of the client's certificate (mutual TLS).
    peer_identity: Option<Arc<str>>,
}

impl Responder {
    pub(super) fn new(
        tx: mpsc::Sender<Completion>,
        wake: Option<Arc<dyn Wake>>,
        call: CallId,
        now: Instant,
        deadline: Option<std::time::Instant>,
    ) -> Self {
        Responder {
            tx,
            wake,
            call,
            now,
            deadline,
            service_thread: std::thread::current().id(),
            done: false,
            peer_identity: None,
        }
    }

    pub(super) fn with_peer_identity(mut self, identity: Option<Arc<str>>) -> Self {
        self.peer_identity = identity;
        self
    }

    /// The name the client proved with its certificate (mutual TLS:
    /// common name, else the first subject alternative name), if it
    /// presented one. Unlike the request's `user`, the client cannot
    /// choose it.
    pub fn peer_identity(&self) -> Option<&str> {
        self.peer_identity.as_deref()
    }

    /// The gRPC call being answered.
    pub fn call(&self) -> CallId {
        self.call
    }

    /// The service's clock when the request arrived.
    pub fn received_at(&self) -> Instant {
        self.now
    }

    /// When the client stops waiting (from its `grpc-timeout`), if it said,
    /// on the process clock.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.deadline
    }

    /// Answers with a response message.
    pub fn reply(mut self, response: ArkoudaResponse) {
        self.send(Answer::Reply(response));
    }

    /// Answers with a gRPC status other than OK.
    pub fn error(mut self, code: Code, message: &str) {
        self.send(Answer::Status(code, message.into()));
    }

    /// Answers with `head` and a payload of `len` bytes written into the
    /// returned pipe as they become available (holding at most `capacity`
    /// bytes): the service sends them as the client reads. Finish the pipe
    /// after the last byte, or abort it to end the call with that status;
    /// a pipe the client abandoned (it cancelled, or went away) is aborted
    /// by the service.
    pub fn stream(mut self, head: ArkoudaResponse, len: u64, capacity: usize) -> Arc<Pipe> {
        let pipe = Pipe::new(capacity);
        self.send(Answer::Stream {
            head,
            len,
            pipe: pipe.clone(),
        });
        pipe
    }

    fn send(&mut self, answer: Answer) {
        self.done = true;
        let completion = Completion {
            call: self.call,
            answer,
        };
        // A service that is gone has nobody to answer. An answer given on
        // the service's own thread is collected by its next transmit, so
        // waking its driver would only cost a system call.
        let sent = match self.tx.send(completion) {
            Ok(()) => true,
            Err(mpsc::SendError(lost)) => {
                if let Answer::Stream { pipe, .. } = lost.answer {
                    pipe.abort(Code::Cancelled, "the client's connection is gone");
                }
                false
            }
        };
        if sent && std::thread::current().id() != self.service_thread {
            if let Some(wake) = &self.wake {
                wake.wake();
            }
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.done {
            self.send(Answer::Status(
                Code::Internal,
                "handler dropped the call".into(),
            ));
        }
    }
}

impl core::fmt::Debug for Responder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Responder")
            .field("call", &self.call)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}
