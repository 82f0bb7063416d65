//! What the service hands a request to ([`Handler`]), and how the answer
//! comes back ([`Responder`]), from any thread.

use std::collections::VecDeque;
use std::string::String;
use std::sync::{Arc, Mutex};

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
    /// The response, and the request it answers when the handler gave it
    /// back (its memory then takes the connection's next request).
    Reply(ArkoudaResponse, Option<ArkoudaRequest>),
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

/// Answers on their way back to the service, from any thread. Unlike a
/// channel it keeps its memory between answers: answering a call
/// allocates nothing here once the queue has grown to the calls in flight.
pub(super) struct Answers {
    inner: Mutex<AnswerQueue>,
}

struct AnswerQueue {
    queue: VecDeque<Completion>,
    /// The service is gone: nobody collects answers any more.
    closed: bool,
}

impl Answers {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Answers {
            inner: Mutex::new(AnswerQueue {
                queue: VecDeque::new(),
                closed: false,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AnswerQueue> {
        // A push or pop is never left half-done: carry on after a panic elsewhere.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an answer; false when the service is gone (the answer is
    /// then abandoned).
    fn push(&self, done: Completion) -> bool {
        let mut q = self.lock();
        if q.closed {
            drop(q);
            done.abandon();
            return false;
        }
        q.queue.push_back(done);
        true
    }

    /// The oldest answer not yet collected.
    pub(super) fn pop(&self) -> Option<Completion> {
        self.lock().queue.pop_front()
    }

    /// The service is gone: answers still queued, and any given later,
    /// find nobody (a streamed one's pipe is aborted, so its writer stops).
    pub(super) fn close(&self) {
        let left = {
            let mut q = self.lock();
            q.closed = true;
            core::mem::take(&mut q.queue)
        };
        for done in left {
            done.abandon();
        }
    }
}

impl Completion {
    /// Nobody will send this answer: a pipe behind it is told.
    fn abandon(self) {
        if let Answer::Stream { pipe, .. } = self.answer {
            pipe.abort(Code::Cancelled, "the client's connection is gone");
        }
    }
}

/// Answers one request, once, from any thread. Dropping it unanswered
/// answers INTERNAL, so a call is never left hanging.
pub struct Responder {
    answers: Arc<Answers>,
    wake: Option<Arc<dyn Wake>>,
    call: CallId,
    now: Instant,
    deadline: Option<std::time::Instant>,
    service_thread: std::thread::ThreadId,
    done: bool,
    /// The verified name of the client's certificate (mutual TLS).
    peer_identity: Option<Arc<str>>,
    /// Memory of an earlier reply's text, for this one's.
    buffer: String,
}

impl Responder {
    pub(super) fn new(
        answers: Arc<Answers>,
        wake: Option<Arc<dyn Wake>>,
        call: CallId,
        now: Instant,
        deadline: Option<std::time::Instant>,
    ) -> Self {
        Responder {
            answers,
            wake,
            call,
            now,
            deadline,
            service_thread: std::thread::current().id(),
            done: false,
            peer_identity: None,
            buffer: String::new(),
        }
    }

    pub(super) fn with_buffer(mut self, buffer: String) -> Self {
        self.buffer = buffer;
        self
    }

    /// An empty string to write the reply's text into: the memory of an
    /// earlier reply on the connection when there is one, so a handler
    /// that builds its reply JSON in it and answers with
    /// [`reply_with_request`](Self::reply_with_request) allocates nothing
    /// per call. Later calls get a new, empty string.
    pub fn take_buffer(&mut self) -> String {
        let mut buffer = core::mem::take(&mut self.buffer);
        buffer.clear();
        buffer
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
        self.send(Answer::Reply(response, None));
    }

    /// Answers with a response message and gives back the request it
    /// answers: the service decodes the connection's next request into the
    /// request's memory (and the response's), rather than allocating anew.
    pub fn reply_with_request(mut self, response: ArkoudaResponse, request: ArkoudaRequest) {
        self.send(Answer::Reply(response, Some(request)));
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
        let sent = self.answers.push(completion);
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
