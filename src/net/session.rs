//! The Arkouda call patterns over a socket: [`Session`] drives an
//! [`arkouda::Channel`](crate::arkouda::Channel) with the client loop and
//! hands back owned results.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::string::{String, ToString};
use std::vec::Vec;

use super::driver::{Driver, Key};
use super::ClientConfig;
use crate::arkouda::{
    Channel, ChannelConfig, ChannelError, ChannelEvent, Command, MsgType, OpId, Outcome, Pattern,
    RequestIdGenerator, RequestState,
};
use crate::grpc::{self, CallError, Code};
use crate::h2::conn::GrowableStorage;

/// A finished operation, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionOutcome {
    /// Arkouda's reply text; `warning` when msgType was WARNING.
    Reply {
        /// The reply's `msg`, unescaped.
        msg: String,
        /// Arkouda flagged a warning.
        warning: bool,
    },
    /// A binary reply's bytes (the command asked `recv_binary`).
    Binary(Vec<u8>),
    /// The asynchronous proxy accepted the request under this id.
    Submitted(String),
    /// Where an asynchronous request stands.
    Status(StatusView),
}

/// [`RequestState`], owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusView {
    /// Accepted, not started.
    Submitted,
    /// Waiting to run.
    Pending,
    /// Running.
    Running,
    /// Done: Arkouda's reply `msg` and whether it was an ERROR.
    Finished {
        /// The reply's `msg`.
        msg: String,
        /// msgType was ERROR.
        error: bool,
    },
    /// The request failed.
    Failed,
    /// A status this client does not know.
    Unknown(String),
}

/// Why an operation failed; see [`ChannelError`].
#[derive(Debug)]
pub enum SessionError {
    /// The socket failed.
    Io(io::Error),
    /// The connection closed.
    Closed(String),
    /// A gRPC status other than OK.
    Status {
        /// The code.
        code: Code,
        /// The decoded message.
        message: String,
    },
    /// Arkouda answered msgType ERROR with this text.
    Arkouda(String),
    /// The asynchronous request failed, with the proxy's reason.
    Failed(String),
    /// The polling deadline passed.
    DeadlineExceeded,
    /// A reply broke the protocol.
    BadReply(&'static str),
    /// The operation could not start.
    Start(CallError),
}

impl core::fmt::Display for SessionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SessionError::Io(e) => write!(f, "connection failed: {e}"),
            SessionError::Closed(why) => write!(f, "connection closed: {why}"),
            SessionError::Status { code, message } if message.is_empty() => write!(f, "{code}"),
            SessionError::Status { code, message } => write!(f, "{code}: {message}"),
            SessionError::Arkouda(msg) => write!(f, "Arkouda error: {msg}"),
            SessionError::Failed(why) => write!(f, "request failed: {why}"),
            SessionError::DeadlineExceeded => {
                f.write_str("DEADLINE_EXCEEDED: no result before the deadline")
            }
            SessionError::BadReply(why) => write!(f, "invalid reply: {why}"),
            SessionError::Start(e) => write!(f, "call not started: {e}"),
        }
    }
}

impl std::error::Error for SessionError {}

fn text(s: crate::arkouda::JsonStr<'_>) -> String {
    s.to_string().unwrap_or_else(|_| s.raw().to_string())
}

/// An Arkouda session over one connection: blocking, polling and
/// fire-and-forget calls, kept in order unless the config says otherwise.
pub struct Session {
    driver: Driver<Channel<GrowableStorage, 64>>,
    key: Key,
    completed: BTreeSet<OpId>,
    /// Why the connection ended, once it has.
    closed: Option<String>,
}

impl Session {
    /// Connects to `addr` as `user` (with `token`).
    pub fn connect(
        addr: SocketAddr,
        user: &str,
        token: &str,
        config: ClientConfig,
        channel: ChannelConfig,
    ) -> io::Result<Session> {
        let ids = RequestIdGenerator::from_os()
            .map_err(|e| io::Error::other(std::format!("request ids: {e}")))?;
        let mut driver = Driver::new()?;
        let key = driver.connect(addr, config.connect_timeout, |now| {
            let grpc = grpc::Client::new(&addr.to_string(), config.options, now)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            Channel::new(grpc, user, token, channel, ids)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user or token too long"))
        })?;
        Ok(Session {
            driver,
            key,
            completed: BTreeSet::new(),
            closed: None,
        })
    }

    /// Why the connection ended, if it has.
    fn closed(&self) -> Option<String> {
        self.closed
            .clone()
            .or_else(|| self.driver.closed(self.key).map(String::from))
    }

    fn channel(&mut self) -> Result<&mut Channel<GrowableStorage, 64>, SessionError> {
        self.driver
            .machine_mut(self.key)
            .ok_or_else(|| SessionError::Closed("the connection is closed".into()))
    }

    /// Blocking pattern.
    pub fn call(&mut self, cmd: &str, args: &str) -> Result<SessionOutcome, SessionError> {
        let op = self.start(Pattern::Blocking, cmd, args)?;
        self.wait(op)
    }

    /// Polling pattern.
    pub fn call_polling(&mut self, cmd: &str, args: &str) -> Result<SessionOutcome, SessionError> {
        let op = self.start(Pattern::Polling, cmd, args)?;
        self.wait(op)
    }

    /// Runs `command` (a binary payload, a binary reply, a size) with
    /// `pattern` (blocking or polling) and waits for its outcome:
    /// [`SessionOutcome::Binary`] when it asked `recv_binary`.
    pub fn command(
        &mut self,
        pattern: Pattern,
        command: &Command<'_>,
    ) -> Result<SessionOutcome, SessionError> {
        let now = self.driver.now();
        let started = self.channel()?.command(pattern, command, now);
        let op = match started {
            Ok(op) => op,
            Err(e) => return Err(convert(e, &self.closed())),
        };
        self.wait(op)
    }

    /// Fire-and-forget: returns the request id once SUBMITTED.
    pub fn submit(&mut self, cmd: &str, args: &str) -> Result<String, SessionError> {
        let op = self.start(Pattern::Submit, cmd, args)?;
        match self.wait(op)? {
            SessionOutcome::Submitted(id) => Ok(id),
            _ => Err(SessionError::BadReply(
                "a submit was answered without SUBMITTED",
            )),
        }
    }

    /// One status query.
    pub fn status(&mut self, request_id: &str) -> Result<StatusView, SessionError> {
        let op = self.start(
            Pattern::Status,
            crate::arkouda::channel::STATUS_COMMAND,
            request_id,
        )?;
        match self.wait(op)? {
            SessionOutcome::Status(s) => Ok(s),
            _ => Err(SessionError::BadReply(
                "a status query was answered without a status",
            )),
        }
    }

    /// Starts an operation without waiting (for several at once).
    pub fn start(&mut self, pattern: Pattern, cmd: &str, args: &str) -> Result<OpId, SessionError> {
        let now = self.driver.now();
        let channel = self.channel()?;
        let started = match pattern {
            Pattern::Blocking => channel.call(cmd, args, now),
            Pattern::Polling => channel.call_polling(cmd, args, now),
            Pattern::Submit => channel.submit(cmd, args, now),
            Pattern::Status => channel.status(args, now),
        };
        match started {
            Ok(op) => Ok(op),
            Err(e) => Err(convert(e, &self.closed())),
        }
    }

    /// Waits for an operation and returns its outcome.
    pub fn wait(&mut self, op: OpId) -> Result<SessionOutcome, SessionError> {
        loop {
            if let Some(channel) = self.driver.machine_mut(self.key) {
                while let Some(ChannelEvent::Complete(done)) = channel.poll_event() {
                    self.completed.insert(done);
                }
            }
            if self.completed.remove(&op) {
                break;
            }
            if let Some(why) = self.closed() {
                // A dead connection has nothing left to wait for.
                return Err(SessionError::Closed(why));
            }
            self.driver.turn(None).map_err(SessionError::Io)?;
        }
        let closed = self.closed();
        let channel = self.channel()?;
        let result = match channel.outcome(op) {
            Ok(Outcome::Reply(reply)) => Ok(SessionOutcome::Reply {
                msg: text(reply.msg),
                warning: reply.msg_type == MsgType::Warning,
            }),
            Ok(Outcome::Binary(bytes)) => Ok(SessionOutcome::Binary(bytes.to_vec())),
            Ok(Outcome::Submitted(id)) => Ok(SessionOutcome::Submitted(id.to_string())),
            Ok(Outcome::Status(state)) => Ok(SessionOutcome::Status(match state {
                RequestState::Submitted => StatusView::Submitted,
                RequestState::Pending => StatusView::Pending,
                RequestState::Running => StatusView::Running,
                RequestState::Finished(r) => StatusView::Finished {
                    msg: text(r.msg),
                    error: r.msg_type == MsgType::Error,
                },
                RequestState::Failed => StatusView::Failed,
                RequestState::Unknown(s) => StatusView::Unknown(text(s)),
            })),
            Err(e) => Err(convert(e, &closed)),
        };
        channel.finish(op);
        result
    }
}

fn convert(e: ChannelError<'_>, closed: &Option<String>) -> SessionError {
    match e {
        ChannelError::Transport(code) => SessionError::Closed(
            closed
                .clone()
                .unwrap_or_else(|| std::format!("HTTP/2 {code:?}")),
        ),
        ChannelError::Status(s) => SessionError::Status {
            code: s.code,
            message: s.message(),
        },
        ChannelError::Arkouda(reply) => SessionError::Arkouda(text(reply.msg)),
        ChannelError::Failed(why) => SessionError::Failed(text(why)),
        ChannelError::DeadlineExceeded => SessionError::DeadlineExceeded,
        ChannelError::BadReply(why) => SessionError::BadReply(why),
        ChannelError::Start(e) => SessionError::Start(e),
        ChannelError::UnknownOp => SessionError::BadReply("operation vanished"),
    }
}
