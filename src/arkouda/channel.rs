//! The three call patterns of the Arkouda proxy client — blocking, polling
//! and fire-and-forget — as one sans-IO channel over a gRPC client.
//!
//! Every operation is started with a `now`, finishes with a
//! [`ChannelEvent::Complete`], and is read with [`Channel::outcome`] then
//! freed with [`Channel::finish`]. The channel never sleeps: between status
//! polls it asks for [`Channel::handle_timeout`] through
//! [`Channel::poll_timeout`].

use core::time::Duration;

use super::request_id::{RequestId, RequestIdGenerator};
use super::{
    parse_async_status, parse_reply, ArkoudaReply, JsonStr, MsgFormat, MsgType, RequestState,
};
use crate::buf::Buffer;
use crate::grpc::{CallError, CallId, Client, ClientEvent, Status};
use crate::h2::conn::Storage;
use crate::h2::ErrorCode;
use crate::proto::{ArkoudaRequestRef, ArkoudaResponseRef, HANDLE_REQUEST_PATH};
use crate::time::Instant;

/// The command that asks the asynchronous proxy about a request.
pub const STATUS_COMMAND: &str = "getrequeststatus";

/// Bytes of a streamed payload queued unsent on its call before
/// [`Channel::send_payload`] takes more: enough to keep a fast link busy
/// between two turns of the caller's loop, small beside an array.
pub const PAYLOAD_AHEAD: usize = 512 * 1024;

/// How status polling paces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollConfig {
    /// Wait before the first status query.
    pub interval: Duration,
    /// Each wait is this many times the last (1 keeps it constant)…
    pub backoff: u32,
    /// …up to this cap.
    pub max_interval: Duration,
    /// Give up (DEADLINE_EXCEEDED) this long after the command was started.
    pub deadline: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            interval: Duration::from_millis(50),
            backoff: 2,
            max_interval: Duration::from_secs(2),
            deadline: Duration::from_secs(600),
        }
    }
}

/// How a channel behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Deadline of each gRPC call the channel makes.
    pub call_timeout: Option<Duration>,
    /// Status polling.
    pub poll: PollConfig,
    /// Keep commands in order: command N+1 is not sent before command N has
    /// finished on the server. Turn off to let commands run concurrently.
    pub ordered: bool,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            call_timeout: Some(Duration::from_secs(30)),
            poll: PollConfig::default(),
            ordered: true,
        }
    }
}

/// Identifies one operation on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u32);

/// Which call pattern an operation follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// One call, one reply (a SUBMITTED answer is followed up by polling).
    Blocking,
    /// Submit with a request id, then poll its status until the result.
    Polling,
    /// Submit and return once the proxy says SUBMITTED.
    Submit,
    /// One status query.
    Status,
}

/// What the application should act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelEvent {
    /// The operation's outcome is ready: read [`Channel::outcome`], then [`Channel::finish`].
    Complete(OpId),
}

/// One Arkouda command with everything it may carry: Arkouda's
/// `send_string_message` / `send_binary_message` arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command<'a> {
    /// The command, such as `connect` or `array<int64,1>`.
    pub cmd: &'a str,
    /// Its arguments.
    pub args: &'a str,
    /// Arkouda's argument count; `-1` for "not given".
    pub size: i32,
    /// A binary payload (an array); when not empty the command goes out with
    /// format BINARY, as Arkouda's `send_binary_message`.
    pub payload: &'a [u8],
    /// A binary reply is expected: it comes back as [`Outcome::Binary`].
    pub recv_binary: bool,
}

impl<'a> Command<'a> {
    /// A string command with `args`, size -1, no payload.
    pub fn new(cmd: &'a str, args: &'a str) -> Self {
        Command {
            cmd,
            args,
            size: -1,
            payload: &[],
            recv_binary: false,
        }
    }
}

/// A successful outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Arkouda's reply; `msg_type` is NORMAL or WARNING (errors are [`ChannelError::Arkouda`]).
    Reply(ArkoudaReply<'a>),
    /// A binary reply's bytes (the command asked `recv_binary`), verbatim;
    /// they live in the channel's response buffer until [`Channel::finish`].
    Binary(&'a [u8]),
    /// Accepted by the asynchronous proxy under this id.
    Submitted(&'a str),
    /// Where an asynchronous request stands.
    Status(RequestState<'a>),
}

/// Why an operation failed. Transport, gRPC, Arkouda and protocol failures
/// are different values, never a made-up reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelError<'a> {
    /// The connection closed with this HTTP/2 code.
    Transport(ErrorCode),
    /// The call ended with a gRPC status (DEADLINE_EXCEEDED, NOT_FOUND, …).
    Status(Status<'a>),
    /// Arkouda answered with msgType ERROR.
    Arkouda(ArkoudaReply<'a>),
    /// The proxy reports the asynchronous request FAILED.
    Failed(JsonStr<'a>),
    /// The polling deadline passed before a result.
    DeadlineExceeded,
    /// The reply is not what the protocol says it should be.
    BadReply(&'static str),
    /// The call could not be started.
    Start(CallError),
    /// No such operation (never started, or already finished).
    UnknownOp,
}

impl core::fmt::Display for ChannelError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChannelError::Transport(code) => write!(f, "connection closed ({code:?})"),
            ChannelError::Status(s) => write!(f, "{s}"),
            ChannelError::Arkouda(reply) => write!(f, "Arkouda error: {}", reply.msg),
            ChannelError::Failed(why) => write!(f, "request failed: {why}"),
            ChannelError::DeadlineExceeded => {
                f.write_str("DEADLINE_EXCEEDED: no result before the deadline")
            }
            ChannelError::BadReply(why) => write!(f, "invalid reply: {why}"),
            ChannelError::Start(e) => write!(f, "call not started: {e}"),
            ChannelError::UnknownOp => f.write_str("no such operation"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for an earlier command to finish (ordered channels).
    Queued,
    /// The first call is in flight.
    Calling(CallId),
    /// Between status polls.
    Waiting(Instant),
    /// A status query is in flight.
    Polling(CallId),
    /// Nothing more to do on the network.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Deadline,
    Bad(&'static str),
    Start(CallError),
}

struct Op<B> {
    id: OpId,
    pattern: Pattern,
    phase: Phase,
    request_id: RequestId,
    /// The encoded command while it waits its turn.
    request: B,
    /// `request` is a buffer the caller lent (it goes back to the spares).
    lent: bool,
    /// Payload bytes the caller has still to give
    /// ([`Channel::send_payload`]); `request` then holds the rest of the
    /// request, up to the payload's key and length.
    payload_left: usize,
    deadline: Instant,
    interval: Duration,
    /// The call whose reply holds the outcome.
    result_call: Option<CallId>,
    failure: Option<Failure>,
    /// The outcome is ready (for a submit: SUBMITTED arrived).
    ready: bool,
    reported: bool,
    released: bool,
}

impl<B> Op<B> {
    fn is_command(&self) -> bool {
        self.pattern != Pattern::Status
    }
}

/// The Arkouda call patterns over one gRPC connection; see the module docs.
pub struct Channel<S: Storage, const OPS: usize = 16> {
    grpc: Client<S>,
    config: ChannelConfig,
    user: heapless::String<64>,
    token: heapless::String<128>,
    ops: heapless::Vec<Op<S::Body>, OPS>,
    next_op: u32,
    ids: RequestIdGenerator,
    /// Buffers lent for commands that wait their turn.
    spare: heapless::Vec<S::Body, OPS>,
    closed: Option<ErrorCode>,
    /// The client could not start a call: queued work waits for
    /// [`ClientEvent::StreamsAvailable`] rather than trying on every turn.
    blocked: bool,
    now: Instant,
}

/// Field too long for a channel's fixed storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldTooLong;

impl<S: Storage, const OPS: usize> Channel<S, OPS> {
    /// A channel for `user` (and `token`) over `grpc`; `ids` makes the
    /// request ids of polled and submitted commands.
    pub fn new(
        grpc: Client<S>,
        user: &str,
        token: &str,
        config: ChannelConfig,
        ids: RequestIdGenerator,
    ) -> Result<Self, FieldTooLong> {
        let mut u = heapless::String::new();
        u.push_str(user).map_err(|_| FieldTooLong)?;
        let mut t = heapless::String::new();
        t.push_str(token).map_err(|_| FieldTooLong)?;
        Ok(Channel {
            grpc,
            config,
            user: u,
            token: t,
            ops: heapless::Vec::new(),
            next_op: 1,
            ids,
            spare: heapless::Vec::new(),
            closed: None,
            blocked: false,
            now: Instant::default(),
        })
    }

    /// Lends the channel a buffer for a command that must wait its turn
    /// (an ordered channel's command while an earlier one runs, or any
    /// command while the connection has no stream free). A command that
    /// can start at once is encoded straight into its stream and needs
    /// none. With storage whose buffers have no capacity of their own
    /// ([`LentStorage`](crate::h2::conn::LentStorage)), a command that must
    /// wait and finds no lent buffer fails with
    /// `ChannelError::Start(CallError::BufferFull)`. The buffer is handed
    /// back when the channel holds `OPS` of them already.
    pub fn lend_request_buffer(&mut self, mut buffer: S::Body) -> Result<(), S::Body> {
        buffer.clear();
        self.spare.push(buffer)
    }

    /// The gRPC client underneath.
    pub fn client(&self) -> &Client<S> {
        &self.grpc
    }

    /// Blocking pattern: one call, one reply.
    pub fn call(
        &mut self,
        cmd: &str,
        args: &str,
        now: Instant,
    ) -> Result<OpId, ChannelError<'static>> {
        self.start(Pattern::Blocking, &Command::new(cmd, args), now)
    }

    /// Starts `command` with `pattern` (blocking, polling or submit; a
    /// status query takes [`status`](Self::status)): the way to send a
    /// binary payload, ask for a binary reply, or give a `size`.
    pub fn command(
        &mut self,
        pattern: Pattern,
        command: &Command<'_>,
        now: Instant,
    ) -> Result<OpId, ChannelError<'static>> {
        if pattern == Pattern::Status {
            return Err(ChannelError::BadReply("a status query is not a command"));
        }
        self.start(pattern, command, now)
    }

    /// Polling pattern: submit under a fresh request id, then poll until the result.
    pub fn call_polling(
        &mut self,
        cmd: &str,
        args: &str,
        now: Instant,
    ) -> Result<OpId, ChannelError<'static>> {
        self.start(Pattern::Polling, &Command::new(cmd, args), now)
    }

    /// Fire-and-forget pattern: completes once the proxy answers SUBMITTED;
    /// the outcome carries the request id for [`status`](Self::status).
    pub fn submit(
        &mut self,
        cmd: &str,
        args: &str,
        now: Instant,
    ) -> Result<OpId, ChannelError<'static>> {
        self.start(Pattern::Submit, &Command::new(cmd, args), now)
    }

    /// One status query for a submitted request.
    pub fn status(
        &mut self,
        request_id: &str,
        now: Instant,
    ) -> Result<OpId, ChannelError<'static>> {
        self.start(
            Pattern::Status,
            &Command::new(STATUS_COMMAND, request_id),
            now,
        )
    }

    fn start(
        &mut self,
        pattern: Pattern,
        command: &Command<'_>,
        now: Instant,
    ) -> Result<OpId, ChannelError<'static>> {
        self.start_with(pattern, command, 0, now)
    }

    /// Starts `command` (as [`command`](Self::command)) with a binary
    /// payload of `payload_len` bytes that the caller gives in parts with
    /// [`send_payload`](Self::send_payload) while the call runs, so a
    /// large array goes out from the caller's memory as the proxy's window
    /// opens and is never held whole. `command.payload` is not read. The
    /// request goes out as [`command`](Self::command) would send it with
    /// that payload.
    pub fn command_streamed(
        &mut self,
        pattern: Pattern,
        command: &Command<'_>,
        payload_len: usize,
        now: Instant,
    ) -> Result<OpId, ChannelError<'static>> {
        if pattern == Pattern::Status {
            return Err(ChannelError::BadReply("a status query is not a command"));
        }
        let text = Command {
            payload: &[],
            ..*command
        };
        self.start_with(pattern, &text, payload_len, now)
    }

    /// Gives the next bytes of an operation's streamed payload
    /// ([`command_streamed`](Self::command_streamed)) and returns how many
    /// it took: none while the command waits its turn or while
    /// [`PAYLOAD_AHEAD`] bytes are queued unsent, at most what is left.
    /// Give the rest (from where it stopped) after the next turn. An
    /// operation that ended, or whose call the proxy already answered,
    /// takes nothing more: its outcome says why.
    pub fn send_payload(&mut self, op: OpId, bytes: &[u8]) -> usize {
        let Some(o) = self.ops.iter_mut().find(|o| o.id == op) else {
            return 0;
        };
        let Phase::Calling(call) = o.phase else {
            if o.phase != Phase::Queued {
                o.payload_left = 0;
            }
            return 0;
        };
        let room = PAYLOAD_AHEAD
            .saturating_sub(self.grpc.queued(call))
            .min(self.grpc.send_room(call));
        let n = bytes.len().min(o.payload_left).min(room);
        if n == 0 {
            return 0;
        }
        let last = n == o.payload_left;
        match self.grpc.send_request_part(call, &bytes[..n], last) {
            Ok(()) => {
                o.payload_left -= n;
                n
            }
            Err(_) => {
                // The stream is closed or reset (the proxy answered, or
                // the call ended): the call's completion tells the rest.
                o.payload_left = 0;
                0
            }
        }
    }

    /// Payload bytes an operation still waits for
    /// ([`send_payload`](Self::send_payload)); 0 once all are given, or
    /// for an operation that no longer takes them.
    pub fn payload_left(&self, op: OpId) -> usize {
        self.ops
            .iter()
            .find(|o| o.id == op)
            .map_or(0, |o| o.payload_left)
    }

    fn start_with(
        &mut self,
        pattern: Pattern,
        command: &Command<'_>,
        streamed: usize,
        now: Instant,
    ) -> Result<OpId, ChannelError<'static>> {
        let args = command.args;
        self.now = now;
        if let Some(code) = self.closed {
            return Err(ChannelError::Transport(code));
        }
        if self.ops.is_full() {
            return Err(ChannelError::Start(CallError::TooManyCalls));
        }
        let request_id = match pattern {
            Pattern::Polling | Pattern::Submit => self.ids.generate(),
            Pattern::Status => {
                let mut id = RequestId::new();
                id.push_str(args)
                    .map_err(|_| ChannelError::BadReply("request id longer than 32 characters"))?;
                id
            }
            Pattern::Blocking => RequestId::new(),
        };
        // Drain the client's events first, so `blocked` is up to date.
        while let Some(event) = self.grpc.poll_event() {
            self.on_client_event(event, now);
        }
        let binary = !command.payload.is_empty() || streamed > 0;
        let req = ArkoudaRequestRef {
            user: &self.user,
            token: &self.token,
            cmd: command.cmd,
            format: if binary { "BINARY" } else { "STRING" },
            size: command.size,
            args,
            request_id: (!request_id.is_empty()).then_some(&request_id),
            recv_binary: command.recv_binary,
            payload: command.payload,
        };
        let first_in_line = pattern == Pattern::Status
            || !self.config.ordered
            || self
                .ops
                .iter()
                .all(|o| !o.is_command() || o.phase == Phase::Done);
        let mut request = S::Body::default();
        let mut lent = false;
        let (phase, failure) = if first_in_line && !self.blocked && self.grpc.can_start_call() {
            // Encoded where it is sent from: no copy of the request is kept.
            let timeout = self.config.call_timeout;
            // A streamed payload follows its head; otherwise the head is all.
            let (len, head) = match streamed {
                0 => (req.encoded_len(), req.encoded_len()),
                n => (req.head_len(n).saturating_add(n), req.head_len(n)),
            };
            let started = self.grpc.start_call_streaming(
                HANDLE_REQUEST_PATH,
                len,
                head,
                &[],
                timeout,
                now,
                |out| {
                    let _ = match streamed {
                        0 => req.encode_to_slice(out),
                        n => req.encode_head(n, out),
                    };
                },
            );
            match started {
                Ok(call) => (Phase::Calling(call), None),
                Err(e) => (Phase::Done, Some(Failure::Start(e))),
            }
        } else {
            // It waits its turn: the op keeps it, in a lent buffer if any.
            if let Some(spare) = self.spare.pop() {
                request = spare;
                lent = true;
            }
            let encoded = if streamed > 0 {
                let head = req.head_len(streamed);
                request.try_extend_zeroed(head).map(|()| {
                    let _ = req.encode_head(streamed, request.as_mut_slice());
                })
            } else {
                req.encode_to_buffer(&mut request)
            };
            if encoded.is_err() {
                if lent {
                    request.clear();
                    let _ = self.spare.push(request);
                }
                return Err(ChannelError::Start(CallError::BufferFull));
            }
            (Phase::Queued, None)
        };
        let id = OpId(self.next_op);
        self.next_op = self.next_op.wrapping_add(1);
        let op = Op {
            id,
            pattern,
            phase,
            request_id,
            request,
            lent,
            // A command that failed to start takes no payload.
            payload_left: if failure.is_some() { 0 } else { streamed },
            deadline: now + self.config.poll.deadline,
            interval: self.config.poll.interval,
            result_call: None,
            failure,
            ready: failure.is_some(),
            reported: false,
            released: false,
        };
        if self.ops.push(op).is_err() {
            return Err(ChannelError::Start(CallError::TooManyCalls));
        }
        self.advance(now);
        Ok(id)
    }

    /// Feeds bytes read from the proxy.
    pub fn recv(&mut self, input: &[u8], now: Instant) -> Result<(), crate::h2::ConnectionError> {
        self.now = now;
        let result = self.grpc.recv(input, now);
        self.advance(now);
        result
    }

    /// Writes bytes to send into `out`.
    pub fn transmit(&mut self, out: &mut [u8]) -> usize {
        self.grpc.transmit(out)
    }

    /// Whether [`transmit`](Self::transmit) has something to write.
    pub fn wants_transmit(&self) -> bool {
        self.grpc.wants_transmit()
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ops = self.ops.iter().filter_map(|op| match op.phase {
            Phase::Waiting(at) => Some(at.min(op.deadline)),
            Phase::Polling(_) => Some(op.deadline),
            _ => None,
        });
        ops.chain(self.grpc.poll_timeout()).min()
    }

    /// Advances time: call deadlines, status polls, and the polling deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.grpc.handle_timeout(now);
        self.advance(now);
    }

    /// The next operation whose outcome is ready.
    pub fn poll_event(&mut self) -> Option<ChannelEvent> {
        let now = self.now;
        self.advance(now);
        let op = self.ops.iter_mut().find(|op| op.ready && !op.reported)?;
        op.reported = true;
        Some(ChannelEvent::Complete(op.id))
    }

    /// Runs the state machine: completed calls, due polls, queued commands.
    fn advance(&mut self, now: Instant) {
        // Released operations free their streams first, so the client's
        // StreamsAvailable is heard in this turn.
        self.drop_released();
        while let Some(event) = self.grpc.poll_event() {
            self.on_client_event(event, now);
        }
        for i in 0..self.ops.len() {
            let (phase, deadline) = (self.ops[i].phase, self.ops[i].deadline);
            match phase {
                Phase::Waiting(_) | Phase::Polling(_) if now >= deadline => {
                    if let Phase::Polling(call) = phase {
                        self.grpc.finish_call(call);
                    }
                    let op = &mut self.ops[i];
                    op.phase = Phase::Done;
                    if !op.ready {
                        op.failure = Some(Failure::Deadline);
                        op.ready = true;
                    }
                }
                Phase::Waiting(at) if now >= at => self.send_status_poll(i, now),
                Phase::Queued if self.may_start(i) => self.send_command(i, now),
                _ => {}
            }
        }
        self.drop_released();
    }

    fn on_client_event(&mut self, event: ClientEvent, now: Instant) {
        match event {
            ClientEvent::Complete(call) => self.on_call_complete(call, now),
            ClientEvent::GoAway => {}
            ClientEvent::StreamsAvailable => self.blocked = false,
            ClientEvent::Closed { code } => self.closed = Some(code),
        }
    }

    /// Ordered channels start a command only when every earlier command is done.
    fn may_start(&self, i: usize) -> bool {
        let op = &self.ops[i];
        !op.is_command()
            || !self.config.ordered
            || self.ops[..i]
                .iter()
                .all(|o| !o.is_command() || o.phase == Phase::Done)
    }

    fn send_command(&mut self, i: usize, now: Instant) {
        if self.blocked || !self.grpc.can_start_call() {
            // Started once the client reports StreamsAvailable.
            self.blocked = true;
            return;
        }
        let timeout = self.config.call_timeout;
        let op = &mut self.ops[i];
        // The kept request, and the streamed payload after it if any.
        let head = op.request.as_slice();
        let started = self.grpc.start_call_streaming(
            HANDLE_REQUEST_PATH,
            head.len().saturating_add(op.payload_left),
            head.len(),
            &[],
            timeout,
            now,
            |out| out.copy_from_slice(head),
        );
        op.request.clear();
        if op.lent {
            op.lent = false;
            let _ = self.spare.push(core::mem::take(&mut op.request));
        }
        match started {
            Ok(call) => op.phase = Phase::Calling(call),
            Err(e) => {
                op.phase = Phase::Done;
                op.failure = Some(Failure::Start(e));
                op.ready = true;
                op.payload_left = 0;
            }
        }
    }

    fn send_status_poll(&mut self, i: usize, now: Instant) {
        if self.blocked || !self.grpc.can_start_call() {
            self.blocked = true;
            return;
        }
        let op = &self.ops[i];
        let req = ArkoudaRequestRef {
            user: &self.user,
            token: &self.token,
            cmd: STATUS_COMMAND,
            format: "STRING",
            size: -1,
            // The reference proxy reads the id from args; ours reads request_id. Send both.
            args: &op.request_id,
            request_id: Some(&op.request_id),
            ..Default::default()
        };
        let timeout = self.config.call_timeout;
        let started = self.grpc.start_call_with(
            HANDLE_REQUEST_PATH,
            req.encoded_len(),
            &[],
            timeout,
            now,
            |out| {
                let _ = req.encode_to_slice(out);
            },
        );
        let op = &mut self.ops[i];
        match started {
            Ok(call) => op.phase = Phase::Polling(call),
            Err(e) => {
                op.phase = Phase::Done;
                op.failure = Some(Failure::Start(e));
                op.ready = true;
            }
        }
    }

    fn on_call_complete(&mut self, call: CallId, now: Instant) {
        let Some(i) = self
            .ops
            .iter()
            .position(|op| op.phase == Phase::Calling(call) || op.phase == Phase::Polling(call))
        else {
            self.grpc.finish_call(call);
            return;
        };
        let polling = self.ops[i].phase == Phase::Polling(call);
        let response = self.grpc.response(call);
        let step = classify(response, &self.ops[i].request_id, polling);
        if step == Step::Submitted && self.ops[i].request_id.is_empty() {
            // A blocking call the proxy ran asynchronously: follow its id.
            let id = response
                .ok()
                .and_then(|b| ArkoudaResponseRef::decode(b).ok())
                .and_then(|r| r.request_id)
                .unwrap_or_default();
            let op = &mut self.ops[i];
            if op.request_id.push_str(id).is_err() || id.is_empty() {
                op.request_id.clear();
                op.failure = Some(Failure::Bad("SUBMITTED without a usable request id"));
                op.phase = Phase::Done;
                op.ready = true;
                op.result_call = Some(call);
                return;
            }
        }
        let pattern = self.ops[i].pattern;
        let poll = self.config.poll;
        let op = &mut self.ops[i];
        match (step, pattern) {
            // A submit is done when accepted, but an ordered channel keeps
            // watching it so the next command waits for it to finish.
            (Step::Submitted, Pattern::Submit) => {
                op.ready = true;
                op.phase = if self.config.ordered {
                    Phase::Waiting(now + op.interval)
                } else {
                    Phase::Done
                };
                self.grpc.finish_call(call);
            }
            (Step::Submitted | Step::Pending | Step::Retry, _) => {
                if polling {
                    op.interval = (op.interval * poll.backoff.max(1)).min(poll.max_interval);
                }
                op.phase = Phase::Waiting(now + op.interval);
                self.grpc.finish_call(call);
            }
            (Step::Finished, _) if op.ready => {
                // A tracked submit finished; its outcome was already given.
                op.phase = Phase::Done;
                self.grpc.finish_call(call);
            }
            (Step::Finished, _) => {
                if let Some(old) = op.result_call.replace(call) {
                    self.grpc.finish_call(old);
                }
                op.phase = Phase::Done;
                op.ready = true;
            }
        }
    }

    /// The outcome of a completed operation.
    pub fn outcome(&self, op: OpId) -> Result<Outcome<'_>, ChannelError<'_>> {
        let op = self
            .ops
            .iter()
            .find(|o| o.id == op && o.ready)
            .ok_or(ChannelError::UnknownOp)?;
        match op.failure {
            Some(Failure::Deadline) => return Err(ChannelError::DeadlineExceeded),
            Some(Failure::Bad(why)) => return Err(ChannelError::BadReply(why)),
            Some(Failure::Start(e)) => return Err(ChannelError::Start(e)),
            None => {}
        }
        if op.pattern == Pattern::Submit && op.result_call.is_none() {
            return Ok(Outcome::Submitted(&op.request_id));
        }
        let call = op.result_call.ok_or(ChannelError::UnknownOp)?;
        let bytes = self
            .grpc
            .response(call)
            .map_err(|status| match self.closed {
                Some(code) if status.is_reset() => ChannelError::Transport(code),
                _ => ChannelError::Status(status),
            })?;
        let resp = ArkoudaResponseRef::decode(bytes)
            .map_err(|_| ChannelError::BadReply("not an ArkoudaResponse"))?;
        let text = resp.message.as_bytes();
        if op.pattern == Pattern::Status {
            let status = parse_async_status(text)
                .map_err(|_| ChannelError::BadReply("not a status reply"))?;
            return Ok(Outcome::Status(status.state()));
        }
        // A polled result is wrapped in status JSON; a direct answer is the reply itself.
        let reply = match parse_async_status(text) {
            Ok(status) => match status.state() {
                RequestState::Finished(reply) => reply,
                RequestState::Failed => {
                    return Err(ChannelError::Failed(status.error.unwrap_or_default()))
                }
                _ => return Err(ChannelError::BadReply("status without a result")),
            },
            Err(_) => {
                parse_reply(text).map_err(|_| ChannelError::BadReply("not Arkouda reply JSON"))?
            }
        };
        match (reply.msg_type, reply.msg_format) {
            (MsgType::Error, _) => Err(ChannelError::Arkouda(reply)),
            (_, MsgFormat::Binary) => Ok(Outcome::Binary(resp.payload)),
            _ => Ok(Outcome::Reply(reply)),
        }
    }

    /// Takes a binary outcome's bytes out of the channel without copying
    /// them, in exchange for `replacement` (an empty buffer for the stream
    /// slot; see [`Connection::swap_body`](crate::h2::conn::Connection::swap_body)):
    /// the response buffer they arrived in and where in it they lie.
    /// `None` unless [`outcome`](Self::outcome) is [`Outcome::Binary`];
    /// the operation's outcome is gone after, and it still needs
    /// [`finish`](Self::finish).
    pub fn take_binary(
        &mut self,
        op: OpId,
        replacement: S::Body,
    ) -> Option<(S::Body, core::ops::Range<usize>)> {
        let call = self.ops.iter().find(|o| o.id == op)?.result_call?;
        // Where the payload lies in the response message, found before
        // anything moves (a buffer stored inline moves with its stream);
        // an empty payload is not in the message at all.
        let message = self.grpc.response(call).ok()?;
        let at = match self.outcome(op) {
            Ok(Outcome::Binary([])) => message.len()..message.len(),
            Ok(Outcome::Binary(bytes)) => crate::buf::range_within(message, bytes)?,
            _ => return None,
        };
        let (body, message) = self.grpc.take_response(call, replacement)?;
        Some((body, message.start + at.start..message.start + at.end))
    }

    /// Frees a completed operation. An operation still running is cancelled,
    /// except a submit an ordered channel is still watching. A command
    /// waiting for the stream this frees starts now.
    pub fn finish(&mut self, op: OpId) {
        if let Some(o) = self.ops.iter_mut().find(|o| o.id == op) {
            o.released = true;
            if let Phase::Calling(call) | Phase::Polling(call) = o.phase {
                if o.pattern != Pattern::Submit || !o.ready {
                    self.grpc.finish_call(call);
                    o.phase = Phase::Done;
                }
            }
        }
        // The stream it frees may start a waiting command at once.
        let now = self.now;
        self.advance(now);
    }

    fn drop_released(&mut self) {
        let mut i = 0;
        while i < self.ops.len() {
            let op = &self.ops[i];
            if op.released && op.phase == Phase::Done {
                if let Some(call) = op.result_call {
                    self.grpc.finish_call(call);
                }
                let mut op = self.ops.remove(i);
                if op.lent {
                    op.request.clear();
                    let _ = self.spare.push(op.request);
                }
            } else {
                i += 1;
            }
        }
    }
}

/// What a completed call means for its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The proxy accepted an asynchronous request.
    Submitted,
    /// Not finished yet: poll again.
    Pending,
    /// A status reply was lost (UNAVAILABLE, a timeout, a reset): ask again.
    Retry,
    /// The outcome is in this call.
    Finished,
}

fn classify(response: Result<&[u8], Status<'_>>, request_id: &str, polling: bool) -> Step {
    use crate::grpc::Code;
    let bytes = match response {
        Ok(b) => b,
        Err(s)
            if polling
                && matches!(
                    s.code,
                    Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
                ) =>
        {
            return Step::Retry
        }
        Err(_) => return Step::Finished,
    };
    let Ok(resp) = ArkoudaResponseRef::decode(bytes) else {
        return Step::Finished;
    };
    let ours = !request_id.is_empty() && resp.request_id.is_some_and(|id| id == request_id);
    let submitted =
        resp.request_status == Some("SUBMITTED") || resp.message == "submitted request to Arkouda";
    if !polling {
        // A blocking call to an asynchronous proxy becomes a polled one.
        return if submitted && (ours || request_id.is_empty()) {
            Step::Submitted
        } else {
            Step::Finished
        };
    }
    match parse_async_status(resp.message.as_bytes()).map(|s| s.state()) {
        Ok(RequestState::Pending | RequestState::Running | RequestState::Submitted) => {
            Step::Pending
        }
        _ => Step::Finished,
    }
}

impl<S: Storage, const OPS: usize> Channel<S, OPS> {
    /// The request id the channel uses for `op` (empty for blocking calls
    /// answered directly).
    pub fn request_id(&self, op: OpId) -> Option<&str> {
        self.ops
            .iter()
            .find(|o| o.id == op)
            .map(|o| o.request_id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::{Options, Server, ServerEvent};
    use crate::h2::conn::{GrowableStorage, LentStorage, StreamBuffers};
    use crate::proto::ArkoudaResponseRef;
    use crate::sans_io::exchange;
    use std::vec::Vec;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Answers every request with a NORMAL reply naming its command.
    fn answer_all(server: &mut Server<GrowableStorage>) -> usize {
        let mut answered = 0;
        while let Some(event) = server.poll_event() {
            let ServerEvent::Request(id) = event else {
                continue;
            };
            let req = ArkoudaRequestRef::decode(server.request(id).unwrap()).unwrap();
            let msg = std::format!(
                r#"{{"msg": "ran {}", "msgType": "NORMAL", "msgFormat": "STRING", "user": "u"}}"#,
                req.cmd
            );
            let resp = ArkoudaResponseRef {
                message: &msg,
                ..Default::default()
            };
            let mut out = [0u8; 256];
            let n = resp.encode_to_slice(&mut out).unwrap();
            server.respond(id, &out[..n]).unwrap();
            answered += 1;
        }
        answered
    }

    fn outcome_msg<S: Storage, const N: usize>(c: &Channel<S, N>, op: OpId) -> std::string::String {
        match c.outcome(op).unwrap() {
            Outcome::Reply(r) => std::format!("{}", r.msg),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_channel_in_lent_memory_queues_in_lent_buffers_and_starts_when_a_stream_frees() {
        let (mut scratch, mut table) = ([0u8; 1024], [0u8; 4096]);
        let (mut headers, mut body, mut send) = ([0u8; 512], [0u8; 512], [0u8; 512]);
        let mut spare = [0u8; 256];
        let stream = StreamBuffers {
            headers: &mut headers,
            body: &mut body,
            send: &mut send,
        };
        // One stream: the second command must wait for it.
        let storage = LentStorage::<1>::new(&mut scratch, &mut table, [stream]).unwrap();
        let options = Options {
            h2: crate::h2::Config::embedded(),
            max_message_size: 400,
            ..Options::default()
        };
        let client = Client::with_storage("proxy:50053", options, storage, t(0)).unwrap();
        let config = ChannelConfig {
            ordered: false,
            ..ChannelConfig::default()
        };
        let ids = RequestIdGenerator::from_seed([7; super::super::request_id::SEED_LEN]);
        let mut c = Channel::<_, 4>::new(client, "u", "", config, ids).unwrap();
        let mut server =
            Server::<GrowableStorage>::new(HANDLE_REQUEST_PATH, Options::default(), t(0)).unwrap();

        let first = c.call("connect", "", t(1)).unwrap();
        // No stream free and no buffer lent: the second cannot be kept.
        assert_eq!(
            c.call("echo", "x", t(1)),
            Err(ChannelError::Start(CallError::BufferFull))
        );
        assert!(c
            .lend_request_buffer(crate::buf::LentBuf::new(&mut spare))
            .is_ok());
        let second = c.call("echo", "x", t(1)).unwrap();
        exchange(&mut c, &mut server, t(2));
        assert_eq!(
            answer_all(&mut server),
            1,
            "one stream: one call on the wire"
        );
        exchange(&mut c, &mut server, t(3));
        let done: Vec<ChannelEvent> = core::iter::from_fn(|| c.poll_event()).collect();
        assert_eq!(done, [ChannelEvent::Complete(first)]);
        assert_eq!(outcome_msg(&c, first), "ran connect");
        // Finishing the first frees its stream; StreamsAvailable starts the second.
        c.finish(first);
        exchange(&mut c, &mut server, t(4));
        assert_eq!(answer_all(&mut server), 1);
        exchange(&mut c, &mut server, t(5));
        assert_eq!(c.poll_event(), Some(ChannelEvent::Complete(second)));
        assert_eq!(outcome_msg(&c, second), "ran echo");
        c.finish(second);
        // The lent buffer came back: another command may wait in it.
        let third = c.call("noop", "", t(6)).unwrap();
        let fourth = c.call("noop", "", t(6)).unwrap();
        assert_ne!(third, fourth);
    }

    /// Gives `payload` to `op` as the channel takes it, exchanging bytes
    /// with `server` between the parts (which reads them as a proxy
    /// would); the largest part taken at once, and the calls that arrived.
    fn feed<const N: usize>(
        c: &mut Channel<GrowableStorage, N>,
        server: &mut Server<GrowableStorage>,
        op: OpId,
        payload: &[u8],
        now: Instant,
    ) -> (usize, Vec<CallId>) {
        let (mut at, mut largest) = (payload.len() - c.payload_left(op), 0);
        let mut arrived = Vec::new();
        for _ in 0..10_000 {
            let n = c.send_payload(op, &payload[at..]);
            largest = largest.max(n);
            at += n;
            exchange(c, server, now);
            while let Some(event) = server.poll_event() {
                if let ServerEvent::Request(id) = event {
                    arrived.push(id);
                }
            }
            if c.payload_left(op) == 0 && !arrived.is_empty() {
                break;
            }
        }
        (largest, arrived)
    }

    #[test]
    fn a_streamed_payload_goes_out_in_parts_as_the_request_prost_encodes() {
        use prost::Message;
        let options = Options {
            max_message_size: 8 << 20,
            ..Options::default()
        };
        let client = Client::<GrowableStorage>::new("proxy:50053", options, t(0)).unwrap();
        let ids = RequestIdGenerator::from_seed([3; super::super::request_id::SEED_LEN]);
        let mut c =
            Channel::<_, 4>::new(client, "u", "tok", ChannelConfig::default(), ids).unwrap();
        let mut server =
            Server::<GrowableStorage>::new(HANDLE_REQUEST_PATH, options, t(0)).unwrap();
        let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let command = Command {
            size: 1,
            ..Command::new("array", "uint8 1")
        };
        let first = c
            .command_streamed(Pattern::Blocking, &command, payload.len(), t(1))
            .unwrap();
        // Ordered: the second waits for the first and takes nothing yet.
        let second = c
            .command_streamed(Pattern::Blocking, &command, 1000, t(1))
            .unwrap();
        assert_eq!(c.send_payload(second, &payload[..1000]), 0);
        let (largest, arrived) = feed(&mut c, &mut server, first, &payload, t(2));
        assert!(
            largest <= PAYLOAD_AHEAD,
            "{largest} bytes taken at once, more than {PAYLOAD_AHEAD} queued"
        );
        let golden = crate::proto::ArkoudaRequest {
            user: "u".into(),
            token: "tok".into(),
            cmd: "array".into(),
            format: "BINARY".into(),
            size: 1,
            args: "uint8 1".into(),
            payload: payload.clone(),
            ..Default::default()
        };
        let mut seen = Vec::new();
        for id in arrived {
            seen.push(server.request(id).unwrap().to_vec());
            let reply =
                r#"{"msg": "created", "msgType": "NORMAL", "msgFormat": "STRING", "user": "u"}"#;
            let resp = ArkoudaResponseRef {
                message: reply,
                ..Default::default()
            };
            let mut out = [0u8; 256];
            let n = resp.encode_to_slice(&mut out).unwrap();
            server.respond(id, &out[..n]).unwrap();
        }
        assert_eq!(seen.len(), 1);
        assert!(
            seen[0] == golden.encode_to_vec(),
            "not the request prost encodes"
        );
        exchange(&mut c, &mut server, t(3));
        assert_eq!(c.poll_event(), Some(ChannelEvent::Complete(first)));
        assert_eq!(outcome_msg(&c, first), "created");
        c.finish(first);
        // The first is done: the second starts and takes its payload.
        let (_, arrived) = feed(&mut c, &mut server, second, &payload[..1000], t(4));
        assert_eq!(c.payload_left(second), 0);
        let golden = crate::proto::ArkoudaRequest {
            payload: payload[..1000].to_vec(),
            ..golden
        };
        let got: Vec<Vec<u8>> = arrived
            .iter()
            .map(|&id| server.request(id).unwrap().to_vec())
            .collect();
        assert_eq!(got, [golden.encode_to_vec()]);
    }

    #[test]
    fn a_proxy_that_refuses_a_streamed_payload_stops_it_and_says_why() {
        let client = Client::<GrowableStorage>::new(
            "proxy:50053",
            Options {
                max_message_size: 8 << 20,
                ..Options::default()
            },
            t(0),
        )
        .unwrap();
        let ids = RequestIdGenerator::from_seed([4; super::super::request_id::SEED_LEN]);
        let mut c = Channel::<_, 4>::new(client, "u", "", ChannelConfig::default(), ids).unwrap();
        // The proxy takes messages of 64 KiB at most.
        let small = Options {
            max_message_size: 64 << 10,
            ..Options::default()
        };
        let mut server = Server::<GrowableStorage>::new(HANDLE_REQUEST_PATH, small, t(0)).unwrap();
        let payload = std::vec![9u8; 4 << 20];
        let op = c
            .command_streamed(
                Pattern::Blocking,
                &Command::new("array", ""),
                payload.len(),
                t(1),
            )
            .unwrap();
        let mut given = 0;
        for _ in 0..100 {
            if c.payload_left(op) == 0 {
                break;
            }
            given += c.send_payload(op, &payload[given..]);
            exchange(&mut c, &mut server, t(2));
            while server.poll_event().is_some() {}
            exchange(&mut c, &mut server, t(2));
        }
        assert_eq!(c.payload_left(op), 0, "nothing more is asked for");
        assert!(
            given <= 2 * PAYLOAD_AHEAD,
            "{given} bytes given to a refused call"
        );
        assert_eq!(c.poll_event(), Some(ChannelEvent::Complete(op)));
        match c.outcome(op) {
            Err(ChannelError::Status(s)) => {
                assert_eq!(s.code, crate::grpc::Code::ResourceExhausted)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_binary_outcome_is_taken_in_its_buffer_where_it_lies() {
        let options = Options::default();
        let client = Client::<GrowableStorage>::new("proxy:50053", options, t(0)).unwrap();
        let ids = RequestIdGenerator::from_seed([5; super::super::request_id::SEED_LEN]);
        let mut c = Channel::<_, 4>::new(client, "u", "", ChannelConfig::default(), ids).unwrap();
        let mut server =
            Server::<GrowableStorage>::new(HANDLE_REQUEST_PATH, options, t(0)).unwrap();
        let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        for (n, expected) in [(5000usize, &payload[..]), (0, &[][..])] {
            let command = Command {
                recv_binary: true,
                ..Command::new("tondarray", "")
            };
            let op = c.command(Pattern::Blocking, &command, t(1)).unwrap();
            exchange(&mut c, &mut server, t(2));
            while let Some(event) = server.poll_event() {
                if let ServerEvent::Request(id) = event {
                    let resp = ArkoudaResponseRef {
                        message: r#"{"msg": "", "msgType": "NORMAL", "msgFormat": "BINARY", "user": "u"}"#,
                        payload: &payload[..n],
                        ..Default::default()
                    };
                    let mut out = std::vec![0u8; 6000];
                    let len = resp.encode_to_slice(&mut out).unwrap();
                    server.respond(id, &out[..len]).unwrap();
                }
            }
            exchange(&mut c, &mut server, t(3));
            assert_eq!(c.poll_event(), Some(ChannelEvent::Complete(op)));
            assert_eq!(c.outcome(op), Ok(Outcome::Binary(expected)));
            let (body, range) = c.take_binary(op, Vec::new()).expect("taken");
            assert_eq!(&body[range], expected, "payload of {n} bytes");
            // Taken once: the outcome is gone with it.
            assert!(c.take_binary(op, Vec::new()).is_none());
            c.finish(op);
        }
    }
}
