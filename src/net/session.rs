//! The Arkouda call patterns over a socket: [`Session`] drives an
//! [`arkouda::Channel`](crate::arkouda::Channel) with the client loop and
//! hands back owned results.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

use super::driver::{Driver, Keepalive, Key};
use super::wire::{client_wire, ClientTls, Wire};
use super::ClientConfig;
use crate::arkouda::{
    Channel, ChannelConfig, ChannelError, ChannelEvent, Command, MsgType, OpId, Outcome, Pattern,
    RequestIdGenerator, RequestState,
};
use crate::grpc::{self, CallError, Code};
use crate::h2::conn::GrowableStorage;
use crate::sans_io::SansIo;

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
    /// A binary reply's bytes (the command asked `recv_binary`), in the
    /// buffer they arrived in.
    Binary(BinaryReply),
    /// The asynchronous proxy accepted the request under this id.
    Submitted(String),
    /// Where an asynchronous request stands.
    Status(StatusView),
}

/// A binary reply's bytes, left in the buffer they were received into (an
/// array of a gigabyte is not copied again to be handed over): it reads as
/// `&[u8]`; [`into_vec`](Self::into_vec) makes it a `Vec` of its own.
#[derive(Clone, Default)]
pub struct BinaryReply {
    buffer: Vec<u8>,
    range: core::ops::Range<usize>,
}

impl BinaryReply {
    /// The bytes at `range` of `buffer` (a range past the buffer is cut to it).
    pub fn new(buffer: Vec<u8>, range: core::ops::Range<usize>) -> Self {
        let end = range.end.min(buffer.len());
        let start = range.start.min(end);
        BinaryReply {
            buffer,
            range: start..end,
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer[self.range.clone()]
    }

    /// The bytes as a `Vec` of their own: the buffer itself, with what came
    /// before them moved out of the way (the reply's headers, a few dozen
    /// bytes before the payload, so the move is the bytes once).
    pub fn into_vec(self) -> Vec<u8> {
        crate::buf::carve(self.buffer, self.range)
    }
}

impl From<Vec<u8>> for BinaryReply {
    fn from(buffer: Vec<u8>) -> Self {
        let range = 0..buffer.len();
        BinaryReply { buffer, range }
    }
}

impl core::ops::Deref for BinaryReply {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for BinaryReply {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for BinaryReply {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for BinaryReply {}

impl core::fmt::Debug for BinaryReply {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "BinaryReply({} bytes)", self.range.len())
    }
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
    /// The request is larger than the session's limit; nothing was sent.
    TooLarge {
        /// The request's encoded size.
        len: usize,
        /// The limit.
        limit: usize,
    },
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
            SessionError::TooLarge { len, limit } => write!(
                f,
                "call not started: a request of {len} bytes is over the limit of {limit} bytes"
            ),
        }
    }
}

impl std::error::Error for SessionError {}

fn text(s: crate::arkouda::JsonStr<'_>) -> String {
    s.to_string().unwrap_or_else(|_| s.raw().to_string())
}

/// How a session watches and replaces its connection. Every field has a
/// default that keeps to what a plain connection does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// HTTP/2 PING keepalive: after this much silence from the proxy while
    /// the session waits for something, a PING goes out. None: off.
    pub keepalive_interval: Option<Duration>,
    /// A proxy that sends nothing for this long after a keepalive PING is
    /// taken for dead: the connection is closed and calls on it fail.
    pub keepalive_timeout: Duration,
    /// TCP keepalive: the kernel probes a connection idle this long (and
    /// gives up after about twice as long again), so a dead host or a
    /// dropped NAT mapping fails the socket even with nobody calling. None: off.
    pub tcp_keepalive: Option<Duration>,
    /// Automatic reconnects before an operation starts on a closed
    /// connection: at most this many attempts (0: none, the caller
    /// reconnects with [`Session::reconnect`]).
    pub reconnect_attempts: u32,
    /// The wait before the second attempt; each further wait doubles, up to
    /// `reconnect_max_backoff`, and is randomised (the upper half of it).
    pub reconnect_backoff: Duration,
    /// The longest wait between attempts.
    pub reconnect_max_backoff: Duration,
    /// An operation whose connection closed while it was under way (so its
    /// request may have reached the proxy) is sent again on a new
    /// connection. Off by default: only for commands that may run twice.
    pub resend_in_flight: bool,
    /// The largest request message, not counting a binary payload: a larger
    /// one fails before anything is sent (`arkwire serve`'s default
    /// `--max-message-size`).
    pub max_request: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(10),
            tcp_keepalive: None,
            reconnect_attempts: 0,
            reconnect_backoff: Duration::from_millis(100),
            reconnect_max_backoff: Duration::from_secs(5),
            resend_in_flight: false,
            max_request: 4 << 20,
        }
    }
}

/// An Arkouda session over one connection: blocking, polling and
/// fire-and-forget calls, kept in order unless the config says otherwise.
pub struct Session {
    driver: Driver<Wire<Channel<GrowableStorage, 64>>>,
    key: Key,
    /// Starts each connection's TLS session, when the proxy speaks TLS.
    tls: Option<ClientTls>,
    completed: BTreeSet<OpId>,
    /// Why the connection ended, once it has.
    closed: Option<String>,
    addr: SocketAddr,
    user: String,
    token: String,
    config: ClientConfig,
    channel_config: ChannelConfig,
    options: SessionOptions,
    /// Bounds the wait for each operation that starts from now on.
    deadline: Option<Duration>,
    /// Jitter for reconnect waits.
    jitter: u64,
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
        Self::connect_with(
            addr,
            user,
            token,
            config,
            channel,
            SessionOptions::default(),
        )
    }

    /// Connects with keepalive, reconnect and limit `options`.
    pub fn connect_with(
        addr: SocketAddr,
        user: &str,
        token: &str,
        config: ClientConfig,
        channel: ChannelConfig,
        options: SessionOptions,
    ) -> io::Result<Session> {
        Self::open_session(addr, user, token, config, channel, options, None)
    }

    /// [`connect_with`](Self::connect_with) over TLS: every connection of
    /// the session (reconnects too) is a TLS session started by
    /// `connector`. A failed handshake ends the connection with the TLS
    /// error ([`SessionError::Closed`]), saying whose fault it was.
    #[cfg(feature = "tls")]
    pub fn connect_tls(
        addr: SocketAddr,
        user: &str,
        token: &str,
        config: ClientConfig,
        channel: ChannelConfig,
        options: SessionOptions,
        connector: std::sync::Arc<crate::tls::Connector>,
    ) -> io::Result<Session> {
        Self::open_session(addr, user, token, config, channel, options, Some(connector))
    }

    fn open_session(
        addr: SocketAddr,
        user: &str,
        token: &str,
        config: ClientConfig,
        channel: ChannelConfig,
        options: SessionOptions,
        tls: Option<ClientTls>,
    ) -> io::Result<Session> {
        let (mut driver, key) = open(addr, user, token, &config, channel, &options, tls.as_ref())?;
        // The HTTP/2 handshake is done now, not at the first call: a session
        // opened and left idle (Arkouda's client connects long before its
        // first command) must not leave the proxy waiting for its preface
        // and its SETTINGS acknowledgement (10 s each, then the proxy
        // closes). A proxy slow to answer is left to the first call: this
        // waits at most a second.
        let until = driver.now() + config.connect_timeout.min(Duration::from_secs(1));
        while !driver.heard_from(key) && driver.closed(key).is_none() && driver.now() < until {
            driver.turn(Some(until))?;
        }
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Ok(Session {
            driver,
            key,
            tls,
            completed: BTreeSet::new(),
            closed: None,
            addr,
            user: user.into(),
            token: token.into(),
            config,
            channel_config: channel,
            options,
            deadline: None,
            jitter: seed | 1,
        })
    }

    /// Whether the session's connections are TLS sessions
    /// ([`connect_tls`](Self::connect_tls)).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The options the session was made with.
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// The channel config the session was made with.
    pub fn channel_config(&self) -> &ChannelConfig {
        &self.channel_config
    }

    /// Bounds the wait for each operation started from now on (None: the
    /// channel's own deadlines alone). An operation still running then is
    /// cancelled and fails with [`SessionError::DeadlineExceeded`].
    pub fn set_deadline(&mut self, deadline: Option<Duration>) {
        self.deadline = deadline;
    }

    /// Replaces the connection with a new one to the same proxy. Operations
    /// of the old connection are gone; the session's other state stays.
    ///
    /// The new connection counts once the proxy has spoken (its HTTP/2
    /// SETTINGS), within the connect timeout: a listener that accepts and
    /// then resets (a server going down as the connect arrives) is a failed
    /// attempt, not a connection an operation would be lost on.
    pub fn reconnect(&mut self) -> io::Result<()> {
        let (mut driver, key) = open(
            self.addr,
            &self.user,
            &self.token,
            &self.config,
            self.channel_config,
            &self.options,
            self.tls.as_ref(),
        )?;
        let until = driver.now() + self.config.connect_timeout;
        while !driver.heard_from(key) {
            if let Some(why) = driver.closed(key) {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    std::format!("the proxy closed the new connection: {why}"),
                ));
            }
            if driver.now() >= until {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the proxy did not speak on the new connection",
                ));
            }
            driver.turn(Some(until))?;
        }
        self.driver = driver;
        self.key = key;
        self.completed.clear();
        self.closed = None;
        Ok(())
    }

    /// Whether the connection is still up: what the socket already says
    /// (a close, a reset, a keepalive that went unanswered), found without
    /// waiting; with a `ping` timeout also a PING round trip, which fails
    /// the connection when nothing comes back in time.
    pub fn check(&mut self, ping: Option<Duration>) -> Result<(), SessionError> {
        let now = self.driver.now();
        self.driver.turn(Some(now)).map_err(SessionError::Io)?;
        if let Some(why) = self.closed() {
            return Err(SessionError::Closed(why));
        }
        let Some(timeout) = ping else {
            return Ok(());
        };
        let sent = self.driver.now();
        self.driver.ping(self.key);
        let until = sent + timeout;
        loop {
            if self
                .driver
                .last_activity(self.key)
                .is_some_and(|at| at > sent)
            {
                return Ok(());
            }
            if let Some(why) = self.closed() {
                return Err(SessionError::Closed(why));
            }
            if self.driver.now() >= until {
                let why = std::format!("no answer to a PING within {} ms", timeout.as_millis());
                self.driver.fail(self.key, &why);
                return Err(SessionError::Closed(why));
            }
            self.driver.turn(Some(until)).map_err(SessionError::Io)?;
        }
    }

    /// Waits up to `timeout` until the proxy speaks HTTP/2 on the
    /// connection (its first SETTINGS frame has come): over TLS that is
    /// after the handshake, so a proxy that refuses this client's
    /// certificate (or one this client refuses) fails here with the TLS
    /// cause ([`SessionError::Closed`]), not at the first call.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), SessionError> {
        let until = self.driver.now() + timeout;
        loop {
            if let Some(why) = self.closed() {
                return Err(SessionError::Closed(why));
            }
            let open = self
                .driver
                .machine(self.key)
                .is_some_and(|m| m.inner().client().connection().is_open());
            if open {
                return Ok(());
            }
            if self.driver.now() >= until {
                let why = std::format!(
                    "the proxy did not speak HTTP/2 within {} ms",
                    timeout.as_millis()
                );
                self.driver.fail(self.key, &why);
                return Err(SessionError::Closed(why));
            }
            self.driver.turn(Some(until)).map_err(SessionError::Io)?;
        }
    }

    /// Why the connection ended, if it has.
    fn closed(&self) -> Option<String> {
        self.closed
            .clone()
            .or_else(|| self.driver.closed(self.key).map(String::from))
    }

    /// Before an operation starts: notices a connection that died since the
    /// last turn (nothing waits), and replaces it when the options allow.
    /// A dead connection with no reconnect is left for the start to report.
    fn ready(&mut self) -> Result<(), SessionError> {
        let now = self.driver.now();
        self.driver.turn(Some(now)).map_err(SessionError::Io)?;
        if self.closed().is_none() || self.options.reconnect_attempts == 0 {
            return Ok(());
        }
        let mut wait = self.options.reconnect_backoff;
        let mut last = None;
        for attempt in 0..self.options.reconnect_attempts {
            if attempt > 0 {
                std::thread::sleep(self.jittered(wait));
                wait = (wait * 2).min(self.options.reconnect_max_backoff);
            }
            match self.reconnect() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(SessionError::Io(last.unwrap_or_else(|| {
            io::Error::other("no reconnect attempt was made")
        })))
    }

    /// A wait from the upper half of `wait` (xorshift jitter: reconnecting
    /// devices spread out instead of arriving together).
    fn jittered(&mut self, wait: Duration) -> Duration {
        let mut x = self.jitter;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter = x;
        let half = wait / 2;
        let nanos = half.as_nanos().max(1) as u64;
        half + Duration::from_nanos(x % nanos)
    }

    /// Runs `f` (start and wait for one operation); when its connection
    /// closed under it and the options say it may be sent again, reconnects
    /// and runs it once more.
    fn with_retry(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<SessionOutcome, SessionError>,
    ) -> Result<SessionOutcome, SessionError> {
        self.ready()?;
        let result = f(self);
        let retry = self.options.resend_in_flight
            && self.options.reconnect_attempts > 0
            && matches!(result, Err(SessionError::Closed(_)));
        if !retry {
            return result;
        }
        self.ready()?;
        f(self)
    }

    /// The encoded size of `command`'s request with `pattern`.
    fn request_len(&self, pattern: Pattern, command: &Command<'_>) -> usize {
        let len = request_len(&self.user, &self.token, command);
        match pattern {
            // The 32-character request id (tag, length, bytes).
            Pattern::Polling | Pattern::Submit => {
                len + 2 + crate::arkouda::request_id::REQUEST_ID_LEN
            }
            Pattern::Blocking | Pattern::Status => len,
        }
    }

    /// A request of `len` bytes fits the proxy's limit.
    fn check_size(&self, len: usize) -> Result<(), SessionError> {
        if len > self.options.max_request {
            return Err(SessionError::TooLarge {
                len,
                limit: self.options.max_request,
            });
        }
        Ok(())
    }

    fn channel(&mut self) -> Result<&mut Channel<GrowableStorage, 64>, SessionError> {
        self.driver
            .machine_mut(self.key)
            .map(Wire::inner_mut)
            .ok_or_else(|| SessionError::Closed("the connection is closed".into()))
    }

    /// Blocking pattern.
    pub fn call(&mut self, cmd: &str, args: &str) -> Result<SessionOutcome, SessionError> {
        self.with_retry(|s| {
            let op = s.start(Pattern::Blocking, cmd, args)?;
            s.wait(op)
        })
    }

    /// Polling pattern.
    pub fn call_polling(&mut self, cmd: &str, args: &str) -> Result<SessionOutcome, SessionError> {
        self.with_retry(|s| {
            let op = s.start(Pattern::Polling, cmd, args)?;
            s.wait(op)
        })
    }

    /// Runs `command` (a binary payload, a binary reply, a size) with
    /// `pattern` (blocking or polling) and waits for its outcome:
    /// [`SessionOutcome::Binary`] when it asked `recv_binary`.
    pub fn command(
        &mut self,
        pattern: Pattern,
        command: &Command<'_>,
    ) -> Result<SessionOutcome, SessionError> {
        let text = Command {
            payload: &[],
            ..*command
        };
        self.check_size(self.request_len(pattern, &text))?;
        let payload = command.payload;
        let streamed = payload.len() >= MIN_STREAMED_PAYLOAD;
        self.with_retry(|s| {
            let now = s.driver.now();
            let channel = s.channel()?;
            let started = if streamed {
                channel.command_streamed(pattern, command, payload.len(), now)
            } else {
                channel.command(pattern, command, now)
            };
            let op = match started {
                Ok(op) => op,
                Err(e) => return Err(convert(e, &s.closed())),
            };
            s.wait_sending(op, if streamed { payload } else { &[] })
        })
    }

    /// Fire-and-forget: returns the request id once SUBMITTED.
    pub fn submit(&mut self, cmd: &str, args: &str) -> Result<String, SessionError> {
        let outcome = self.with_retry(|s| {
            let op = s.start(Pattern::Submit, cmd, args)?;
            s.wait(op)
        })?;
        match outcome {
            SessionOutcome::Submitted(id) => Ok(id),
            _ => Err(SessionError::BadReply(
                "a submit was answered without SUBMITTED",
            )),
        }
    }

    /// One status query.
    pub fn status(&mut self, request_id: &str) -> Result<StatusView, SessionError> {
        let outcome = self.with_retry(|s| {
            let op = s.start(
                Pattern::Status,
                crate::arkouda::channel::STATUS_COMMAND,
                request_id,
            )?;
            s.wait(op)
        })?;
        match outcome {
            SessionOutcome::Status(s) => Ok(s),
            _ => Err(SessionError::BadReply(
                "a status query was answered without a status",
            )),
        }
    }

    /// Starts an operation without waiting (for several at once).
    pub fn start(&mut self, pattern: Pattern, cmd: &str, args: &str) -> Result<OpId, SessionError> {
        self.check_size(self.request_len(pattern, &Command::new(cmd, args)))?;
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

    /// Waits for an operation and returns its outcome. The wait ends with
    /// the operation, with its connection (at once: a closed or reset
    /// socket is an event), or at the session's deadline; every way out
    /// but success releases the operation.
    pub fn wait(&mut self, op: OpId) -> Result<SessionOutcome, SessionError> {
        self.wait_sending(op, &[])
    }

    /// [`wait`](Self::wait) for an operation started with
    /// [`Channel::command_streamed`], giving it `payload` from the caller's
    /// memory as the channel takes it.
    fn wait_sending(&mut self, op: OpId, payload: &[u8]) -> Result<SessionOutcome, SessionError> {
        let started = self.driver.now();
        let mut given = 0;
        // The channel's own deadlines end a call; this bounds the wait even
        // for an operation they do not cover (one queued behind another).
        let limit = self.deadline.unwrap_or_else(|| {
            let c = &self.channel_config;
            c.call_timeout.unwrap_or(Duration::ZERO) + c.poll.deadline + Duration::from_secs(1)
        });
        let until = started + limit;
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
                self.release(op);
                return Err(SessionError::Closed(why));
            }
            if self.driver.now() >= until {
                self.release(op);
                return Err(SessionError::DeadlineExceeded);
            }
            // While the channel takes payload, the turn only writes and
            // looks (it does not wait): the next part is queued as soon as
            // the last has gone.
            let mut wait_until = until;
            if given < payload.len() {
                if let Some(channel) = self.driver.machine_mut(self.key).map(Wire::inner_mut) {
                    let n = channel.send_payload(op, &payload[given..]);
                    given = match channel.payload_left(op) {
                        0 => payload.len(),
                        _ => given + n,
                    };
                    if n > 0 {
                        wait_until = started;
                    }
                }
            }
            if let Err(e) = self.driver.turn(Some(wait_until)) {
                self.release(op);
                return Err(SessionError::Io(e));
            }
        }
        let closed = self.closed();
        let channel = self.channel()?;
        let result = match channel.outcome(op) {
            Ok(Outcome::Reply(reply)) => Ok(SessionOutcome::Reply {
                msg: text(reply.msg),
                warning: reply.msg_type == MsgType::Warning,
            }),
            Ok(Outcome::Binary(bytes)) => {
                let len = bytes.len();
                // The reply's own buffer is handed over, not copied.
                let taken = (len > 0).then(|| channel.take_binary(op, Vec::new()));
                match taken {
                    None => Ok(SessionOutcome::Binary(BinaryReply::default())),
                    Some(Some((buffer, range))) if range.len() == len => {
                        Ok(SessionOutcome::Binary(BinaryReply::new(buffer, range)))
                    }
                    Some(_) => Err(SessionError::BadReply("a binary reply vanished")),
                }
            }
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

impl Session {
    /// Forgets an operation that will not be waited for (a running call is
    /// cancelled).
    fn release(&mut self, op: OpId) {
        if let Some(channel) = self.driver.machine_mut(self.key).map(Wire::inner_mut) {
            channel.finish(op);
        }
        self.completed.remove(&op);
    }
}

/// Opens a connection with the session's socket options.
fn open(
    addr: SocketAddr,
    user: &str,
    token: &str,
    config: &ClientConfig,
    channel: ChannelConfig,
    options: &SessionOptions,
    tls: Option<&ClientTls>,
) -> io::Result<(Driver<Wire<Channel<GrowableStorage, 64>>>, Key)> {
    let ids = RequestIdGenerator::from_os()
        .map_err(|e| io::Error::other(std::format!("request ids: {e}")))?;
    let mut driver = Driver::new()?;
    let grpc_options = config.options;
    let key = driver.connect(addr, config.connect_timeout, |now| {
        let grpc = grpc::Client::new(&addr.to_string(), grpc_options, now)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let channel = Channel::new(grpc, user, token, channel, ids)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user or token too long"))?;
        client_wire(channel, tls, now)
    })?;
    if let (Some(idle), Some(socket)) = (options.tcp_keepalive, driver.socket(key)) {
        let probes = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval((idle / 4).max(Duration::from_secs(1)));
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let probes = probes.with_retries(4);
        socket.set_tcp_keepalive(&probes)?;
        // Unacknowledged data to a host that vanished fails as soon.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        socket.set_tcp_user_timeout(Some(idle * 2))?;
    }
    let keepalive = options.keepalive_interval.map(|interval| Keepalive {
        interval,
        timeout: options.keepalive_timeout,
    });
    driver.set_keepalive(key, keepalive);
    Ok((driver, key))
}

/// A binary payload at least this long goes out from the caller's memory
/// as the proxy's window opens, not copied whole into the send queue first.
const MIN_STREAMED_PAYLOAD: usize = 64 * 1024;

/// The encoded size of `command`'s request from `user` with `token`,
/// without a request id.
fn request_len(user: &str, token: &str, command: &Command<'_>) -> usize {
    crate::proto::ArkoudaRequestRef {
        user,
        token,
        cmd: command.cmd,
        format: "STRING",
        size: command.size,
        args: command.args,
        request_id: None,
        recv_binary: command.recv_binary,
        payload: command.payload,
    }
    .encoded_len()
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

#[cfg(test)]
mod tests {
    use super::BinaryReply;

    #[test]
    fn a_binary_reply_reads_as_its_range_and_becomes_a_vec_of_just_it() {
        let reply = BinaryReply::new(b"headPAYLOADtail".to_vec(), 4..11);
        assert_eq!(&*reply, b"PAYLOAD");
        assert_eq!(reply, BinaryReply::from(b"PAYLOAD".to_vec()));
        assert_eq!(std::format!("{reply:?}"), "BinaryReply(7 bytes)");
        assert_eq!(reply.into_vec(), b"PAYLOAD");
        // A range past the buffer is cut to it, never a panic.
        let cut = BinaryReply::new(b"abc".to_vec(), 2..10);
        assert_eq!(&*cut, b"c");
        assert!(BinaryReply::new(std::vec::Vec::new(), 5..9).is_empty());
    }
}
