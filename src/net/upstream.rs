//! Forwarding to a real arkouda_server over ZeroMQ: a pool of persistent REQ
//! connections, each a sans-IO [`ReqConnection`] in a [`Driver`] of its own,
//! driven until its reply or its deadline on the worker thread that uses it.

use std::net::ToSocketAddrs;
use std::string::{String, ToString};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::driver::{Driver, Key};
use super::route::{ConnectThrottle, InflightLimit};
use crate::arkouda::pipe::{Aborted, Pipe, Popped, Upload};
use crate::arkouda::proxy::{Backend, BackendError, ReplySink};
use crate::arkouda::route::Reachability;
use crate::arkouda::upstream_msg::{self, Reply};
use crate::grpc::Code;
use crate::proto::{ArkoudaRequest, ArkoudaRequestRef};
use crate::zmtp::{ReqConnection, Streaming, ZmtpConfig, ZmtpError, ZmtpEvent};

/// Binary replies larger than this pass through as they arrive instead of
/// being held whole. Errors arkouda_server sends in their place are short,
/// so they are still read whole and told apart.
pub const STREAM_REPLY_ABOVE: u64 = 1 << 20;

/// Longest a worker moving a payload blocks without looking at its pipe.
const RECHECK: Duration = Duration::from_millis(50);

/// Bytes a streamed reply may have waiting between the upstream and the
/// client's connection.
pub const REPLY_PIPE_CAPACITY: usize = 1 << 20;

/// How the proxy reaches arkouda_server.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    /// `host:port` of arkouda_server's ZeroMQ socket (a `tcp://` prefix is accepted).
    pub address: String,
    /// Persistent connections kept open; each carries one request at a time.
    pub pool_size: usize,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// Deadline of a forwarded call whose client sent none.
    pub default_deadline: Duration,
    /// Least time between connection attempts once an attempt failed or a
    /// connection broke; doubles with each failure up to `max_backoff`,
    /// and ends when a call is answered.
    pub initial_backoff: Duration,
    /// Longest time between connection attempts while the upstream is down.
    pub max_backoff: Duration,
    /// Calls in flight to this upstream at once (more wait, within their
    /// deadline); see [`InflightLimit`] for one limit shared by routes.
    pub max_inflight: usize,
    /// The route this upstream serves, named in error messages.
    pub route: Option<String>,
    /// ZMTP limits (largest reply, handshake timeout). The largest reply
    /// must cover `max_binary_size`, or binary replies fail before reaching it.
    pub zmtp: ZmtpConfig,
    /// Largest binary payload forwarded either way (`serve --max-binary-size`);
    /// beyond it a call fails with RESOURCE_EXHAUSTED.
    pub max_binary_size: usize,
}

impl UpstreamConfig {
    /// Defaults for `address`: 4 connections, 4 calls in flight, 5 s to
    /// connect, 60 s per call, backoff from 100 ms to 5 s, binary payloads
    /// up to 64 MiB.
    pub fn new(address: &str) -> Self {
        UpstreamConfig {
            address: String::new(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            default_deadline: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            zmtp: ZmtpConfig {
                max_message_size: upstream_msg::DEFAULT_MAX_BINARY_SIZE,
                ..ZmtpConfig::default()
            },
            max_binary_size: upstream_msg::DEFAULT_MAX_BINARY_SIZE,
            max_inflight: 4,
            route: None,
        }
        .at(address)
    }

    /// This configuration for another `address` (a `tcp://` prefix is accepted).
    pub fn at(mut self, address: &str) -> Self {
        self.address = address
            .strip_prefix("tcp://")
            .unwrap_or(address)
            .to_string();
        self
    }
}

/// One connection: the driver keeps its socket buffers, so a call
/// allocates none of them.
struct Upstream {
    driver: Driver<ReqConnection<Vec<u8>>>,
    key: Key,
}

struct Pool {
    idle: Vec<Upstream>,
    /// Connections in use or idle.
    open: usize,
    /// When the next connection may be tried.
    throttle: ConnectThrottle,
    last_error: String,
    /// Connections lost and not yet replaced (a new one is a reconnect).
    lost: usize,
}

/// A [`Backend`] that forwards each command to arkouda_server and returns
/// its reply JSON unchanged.
pub struct UpstreamBackend {
    config: UpstreamConfig,
    pool: Mutex<Pool>,
    freed: Condvar,
    inflight: Arc<InflightLimit>,
}

enum Failure {
    Deadline,
    Broken(String),
    /// The other side of a streamed payload gave up (the client went away
    /// or its call ended): no fault of the upstream.
    Abandoned(Aborted),
    /// The reply grew past the ZMTP limit (announced size, limit).
    TooLarge(u64, u64),
}

impl UpstreamBackend {
    /// A backend for `config`; connections open on first use.
    pub fn new(config: UpstreamConfig) -> Self {
        let limit = Arc::new(InflightLimit::new(config.max_inflight));
        Self::with_inflight_limit(config, limit)
    }

    /// A backend for `config` whose calls in flight count against `limit`
    /// (shared with the other routes to the same arkouda_server) instead
    /// of `config.max_inflight`.
    pub fn with_inflight_limit(config: UpstreamConfig, limit: Arc<InflightLimit>) -> Self {
        let throttle = ConnectThrottle::new(config.initial_backoff, config.max_backoff);
        UpstreamBackend {
            config,
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
                throttle,
                last_error: String::new(),
                lost: 0,
            }),
            freed: Condvar::new(),
            inflight: limit,
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// The limit its calls in flight count against.
    pub fn inflight_limit(&self) -> &Arc<InflightLimit> {
        &self.inflight
    }

    /// What the last connection attempt or call said of the upstream;
    /// never blocks on the network.
    pub fn reachability(&self) -> Reachability {
        self.pool
            .lock()
            .map_or(Reachability::Unreachable, |p| p.throttle.reachability())
    }

    /// Asks the upstream now, for an active health check: takes a
    /// connection by `deadline` (an idle one still open — what it sent
    /// meanwhile is read, heartbeats included — or a new one through its
    /// ZMTP handshake, throttled as calls are) and puts it back, sending no
    /// command. Every connection busy counts as reachable; otherwise why not.
    pub fn check(&self, deadline: Instant) -> Result<(), String> {
        match self.checkout(deadline) {
            Ok(conn) => {
                self.checkin(Some(conn));
                Ok(())
            }
            Err(e) if e.code == Code::Unavailable => Err(e.message),
            Err(_) => Ok(()),
        }
    }

    /// What the route's users are told while the upstream cannot be reached.
    fn unavailable(&self, why: &str) -> BackendError {
        let route = match &self.config.route {
            Some(name) => std::format!("route {name:?}: "),
            None => String::new(),
        };
        BackendError::new(
            Code::Unavailable,
            std::format!(
                "{route}arkouda_server at {} is unavailable: {why}",
                self.config.address
            ),
        )
    }

    /// Records what a call said of the upstream: answered, or broken.
    fn note(&self, answered: Result<(), &str>) {
        if let Ok(mut pool) = self.pool.lock() {
            match answered {
                Ok(()) => pool.throttle.answered(),
                Err(why) => {
                    pool.throttle.failed(Instant::now());
                    pool.last_error = why.to_string();
                }
            }
        }
    }

    /// A free connection: an idle one that is still open, a new one, or the
    /// next one returned. An idle connection the upstream closed (after a
    /// restart, say) is found out here, before a byte of the call is
    /// written, and replaced.
    fn checkout(&self, deadline: Instant) -> Result<Upstream, BackendError> {
        loop {
            let mut pool = self
                .pool
                .lock()
                .map_err(|_| self.unavailable("pool poisoned"))?;
            if let Some(mut conn) = pool.idle.pop() {
                drop(pool);
                match conn.probe() {
                    Ok(()) => return Ok(conn),
                    Err(why) => {
                        log::info!("dropping an idle upstream connection: {why}");
                        self.checkin(None);
                        continue;
                    }
                }
            }
            if pool.open < self.config.pool_size.max(1) {
                if !pool.throttle.permit(Instant::now()) {
                    return Err(self.unavailable(&pool.last_error));
                }
                pool.open += 1;
                drop(pool);
                return self.connect(deadline);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(BackendError::new(
                    Code::DeadlineExceeded,
                    "no upstream connection became free before the deadline",
                ));
            }
            drop(
                self.freed
                    .wait_timeout(pool, deadline - now)
                    .map_err(|_| self.unavailable("pool poisoned"))?,
            );
        }
    }

    /// Opens a connection and completes the ZMTP handshake, so an upstream
    /// that cannot talk to us (wrong mechanism, not ZeroMQ) is reported as
    /// such here rather than as a broken call. A handshake cut short by the
    /// call's `deadline` is DEADLINE_EXCEEDED and no mark against the upstream.
    fn connect(&self, deadline: Instant) -> Result<Upstream, BackendError> {
        let connect_by = Instant::now() + self.config.connect_timeout;
        let mut cut_by_call = false;
        let attempt = (|| -> Result<Upstream, String> {
            let addr = self
                .config
                .address
                .to_socket_addrs()
                .map_err(|e| e.to_string())?
                .next()
                .ok_or_else(|| String::from("address has no IP"))?;
            let mut driver = Driver::new().map_err(|e| e.to_string())?;
            let zmtp = self.config.zmtp;
            let key = driver
                .connect(addr, self.config.connect_timeout, |now| {
                    ReqConnection::new(zmtp, now)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
                })
                .map_err(|e| e.to_string())?;
            let mut conn = Upstream { driver, key };
            let handshake_by = connect_by.min(deadline);
            let shaken = conn.handshake(handshake_by);
            cut_by_call = shaken.is_err() && deadline < connect_by && Instant::now() >= deadline;
            shaken?;
            Ok(conn)
        })();
        let mut pool = self
            .pool
            .lock()
            .map_err(|_| self.unavailable("pool poisoned"))?;
        match attempt {
            Ok(conn) => {
                pool.throttle.connected();
                let reconnect = pool.lost > 0;
                pool.lost = pool.lost.saturating_sub(1);
                crate::metrics::global().upstream_changed(1, reconnect);
                Ok(conn)
            }
            Err(_) if cut_by_call => {
                pool.open -= 1;
                self.freed.notify_one();
                Err(BackendError::new(
                    Code::DeadlineExceeded,
                    "arkouda_server did not finish the ZMTP handshake before the deadline",
                ))
            }
            Err(e) => {
                pool.open -= 1;
                pool.last_error = e;
                pool.throttle.failed(Instant::now());
                self.freed.notify_one();
                Err(self.unavailable(&pool.last_error))
            }
        }
    }

    /// Returns a connection to the pool, or forgets a broken one.
    fn checkin(&self, conn: Option<Upstream>) {
        if let Ok(mut pool) = self.pool.lock() {
            match conn {
                Some(c) => pool.idle.push(c),
                None => {
                    pool.open -= 1;
                    pool.lost += 1;
                    crate::metrics::global().upstream_changed(-1, false);
                }
            }
        }
        self.freed.notify_one();
    }
}

impl Upstream {
    fn zmtp(&self) -> Option<&ReqConnection<Vec<u8>>> {
        self.driver.machine(self.key)
    }

    /// Whether an idle connection is still usable: reads what the upstream
    /// sent meanwhile (a heartbeat PING, say) without waiting. End of
    /// stream, a reset or a ZMTP error means it is not.
    fn probe(&mut self) -> Result<(), String> {
        let now = self.driver.now();
        self.driver.turn(Some(now)).map_err(|e| e.to_string())?;
        if let Some(why) = self.driver.closed(self.key) {
            return Err(std::format!("arkouda_server's connection ended: {why}"));
        }
        if self.zmtp().is_none_or(ReqConnection::is_closed) {
            return Err(String::from("the ZMTP connection is finished"));
        }
        Ok(())
    }

    /// Drives the connection until its next event or `until`.
    fn next_event(&mut self, until: Instant) -> Result<Option<ZmtpEvent>, Failure> {
        let until = self.driver.clock.at(until);
        self.driver
            .drive_until(self.key, until, ReqConnection::poll_event)
            .map_err(|why| Failure::Broken(std::format!("arkouda_server's connection: {why}")))
    }

    /// Drives the handshake to READY by `deadline`.
    fn handshake(&mut self, deadline: Instant) -> Result<(), String> {
        const LATE: &str = "the ZMTP handshake did not finish in time";
        loop {
            match self.next_event(deadline) {
                Ok(Some(ZmtpEvent::Ready)) => return Ok(()),
                Ok(Some(ZmtpEvent::Closed { error })) => return Err(error.to_string()),
                Ok(Some(ZmtpEvent::TimedOut) | None) => return Err(LATE.into()),
                Ok(Some(ZmtpEvent::Reply | ZmtpEvent::StreamedReply { .. })) => {}
                Err(Failure::Broken(why)) => return Err(why),
                Err(Failure::TooLarge(size, max)) => {
                    return Err(std::format!(
                        "a handshake message of {size} bytes exceeds the limit of {max}"
                    ))
                }
                Err(Failure::Deadline) => return Err(LATE.into()),
                Err(Failure::Abandoned(a)) => return Err(a.message),
            }
        }
    }

    /// Sends one request and waits for its reply frames.
    fn exchange(&mut self, frames: &[&[u8]], deadline: Instant) -> Result<Vec<Vec<u8>>, Failure> {
        let held = self.exchange_streaming(
            frames,
            Streaming::default(),
            None,
            None,
            &mut None,
            deadline,
        )?;
        held.ok_or_else(|| Failure::Broken("a streamed reply nobody asked for".into()))
    }
}

impl Upstream {
    /// Sends one request whose payload comes through `upload` and whose
    /// binary reply may go out through `sink` as it arrives (the pipe it
    /// started is left in `download`); `Ok(None)`: the reply was streamed.
    /// Without a sink a streamed reply is the upstream's mistake.
    fn exchange_streaming(
        &mut self,
        frames: &[&[u8]],
        streaming: Streaming,
        upload: Option<&Upload>,
        sink: Option<&mut ReplySink>,
        download: &mut Option<Arc<Pipe>>,
        deadline: Instant,
    ) -> Result<Option<Vec<Vec<u8>>>, Failure> {
        let core_deadline = self.driver.clock.at(deadline);
        self.zmtp_mut()?
            .send_request_with(frames, streaming, Some(core_deadline))
            .map_err(|e| Failure::Broken(e.to_string()))?;
        if let Some(upload) = upload {
            self.send_payload(upload, deadline)?;
        }
        loop {
            match self.next_event(deadline)? {
                Some(ZmtpEvent::Reply) => {
                    let zmtp = self.zmtp_mut()?;
                    let reply = zmtp.reply_frames().map(<[u8]>::to_vec).collect();
                    zmtp.release_reply();
                    return Ok(Some(reply));
                }
                Some(ZmtpEvent::StreamedReply { size }) => {
                    let Some(sink) = sink else {
                        return Err(Failure::Broken("a streamed reply nobody asked for".into()));
                    };
                    let pipe = sink.start(size, REPLY_PIPE_CAPACITY).ok_or_else(|| {
                        Failure::Broken("the call was answered before its reply".into())
                    })?;
                    *download = Some(pipe.clone());
                    self.receive_streamed(&pipe, deadline)?;
                    pipe.finish();
                    return Ok(None);
                }
                Some(ZmtpEvent::TimedOut) | None => return Err(Failure::Deadline),
                Some(ZmtpEvent::Closed {
                    error: ZmtpError::FrameTooLarge { size, max },
                }) => return Err(Failure::TooLarge(size, max)),
                Some(ZmtpEvent::Closed { error }) => {
                    return Err(Failure::Broken(error.to_string()))
                }
                Some(ZmtpEvent::Ready) => {}
            }
        }
    }

    fn zmtp_mut(&mut self) -> Result<&mut ReqConnection<Vec<u8>>, Failure> {
        self.driver
            .machine_mut(self.key)
            .ok_or_else(|| Failure::Broken("the connection is closed".into()))
    }

    /// One turn of the driver: writes what is queued, waits for the socket,
    /// a wake or `deadline`, reads what came. A failed connection, or a
    /// deadline that passed, ends the exchange.
    fn wait(&mut self, deadline: Instant) -> Result<(), Failure> {
        self.turn(deadline, true)
    }

    /// A turn that waits for nothing (`block` false), or for the socket, a
    /// wake or `deadline`.
    fn turn(&mut self, deadline: Instant, block: bool) -> Result<(), Failure> {
        let now = Instant::now();
        if now >= deadline {
            return Err(Failure::Deadline);
        }
        // A blocked worker looks at its pipe again every RECHECK even
        // without a wake: a wake lost between threads costs a pause, never
        // the call.
        let wait_until = if block {
            deadline.min(now + RECHECK)
        } else {
            now
        };
        let until = self.driver.clock.at(wait_until);
        self.zmtp_mut()?;
        self.driver
            .turn(Some(until))
            .map_err(|e| Failure::Broken(e.to_string()))?;
        if let Some(why) = self.driver.closed(self.key) {
            return Err(Failure::Broken(std::format!(
                "arkouda_server's connection: {why}"
            )));
        }
        Ok(())
    }

    /// Writes the payload's bytes into the ZMTP frame as they come through
    /// the pipe, the send queue and the pipe each holding at most their
    /// bound: the client's window opens as the upstream takes the bytes.
    fn send_payload(&mut self, upload: &Upload, deadline: Instant) -> Result<(), Failure> {
        let waker = self
            .driver
            .waker()
            .map_err(|e| Failure::Broken(e.to_string()))?;
        // Only now may the payload fill the pipe: it waited in the client's
        // window while this call waited for a worker and a connection.
        upload.pipe.attach_reader(Some(waker));
        let mut pending: Option<(Vec<u8>, usize)> = None;
        loop {
            let zmtp = self.zmtp_mut()?;
            if zmtp.is_closed() {
                return Err(ended(zmtp));
            }
            loop {
                if pending.is_none() {
                    match upload.pipe.pop() {
                        Popped::Chunk(chunk) => pending = Some((chunk, 0)),
                        Popped::Empty | Popped::End => break,
                        Popped::Aborted(a) => return Err(Failure::Abandoned(a)),
                    }
                }
                let Some((chunk, at)) = pending.as_mut() else {
                    break;
                };
                let n = zmtp.write_payload(&chunk[*at..]);
                *at += n;
                if *at == chunk.len() {
                    if let Some((chunk, _)) = pending.take() {
                        upload.pipe.recycle(chunk);
                    }
                } else if n == 0 {
                    break;
                }
            }
            if zmtp.payload_remaining() == 0 {
                return Ok(());
            }
            if pending.is_some() || upload.pipe.queued() > 0 {
                // More is at hand than the send queue took: write it out
                // without waiting, and wait only if the socket is full.
                self.turn(deadline, false)?;
                if !self.driver.write_blocked(self.key) {
                    continue;
                }
            }
            self.wait(deadline)?;
        }
    }

    /// Moves a streamed reply frame's bytes into `pipe` as they arrive,
    /// reading the socket only while the pipe has room.
    fn receive_streamed(&mut self, pipe: &Pipe, deadline: Instant) -> Result<(), Failure> {
        let mut complete = false;
        loop {
            let zmtp = self.zmtp_mut()?;
            let waiting = zmtp.streamed().len();
            if waiting > 0 {
                pipe.wait_room(deadline).map_err(Failure::Abandoned)?;
                let zmtp = self.zmtp_mut()?;
                let n = waiting.min(pipe.room().max(1));
                let mut chunk = pipe.chunk();
                chunk.extend_from_slice(&zmtp.streamed()[..n]);
                zmtp.take_streamed(n);
                pipe.push(chunk).map_err(Failure::Abandoned)?;
                continue;
            }
            if complete {
                zmtp.release_reply();
                return Ok(());
            }
            match zmtp.poll_event() {
                Some(ZmtpEvent::Reply) => complete = true,
                Some(ZmtpEvent::TimedOut) => return Err(Failure::Deadline),
                Some(ZmtpEvent::Closed { error }) => {
                    return Err(Failure::Broken(error.to_string()))
                }
                Some(_) => {}
                None => self.wait(deadline)?,
            }
        }
    }
}

/// Why a connection that finished mid-exchange did: its deadline passing
/// (the call's to report, not a mark against the upstream) or a failure.
fn ended(zmtp: &mut ReqConnection<Vec<u8>>) -> Failure {
    while let Some(event) = zmtp.poll_event() {
        match event {
            ZmtpEvent::TimedOut => return Failure::Deadline,
            ZmtpEvent::Closed { error } => return Failure::Broken(error.to_string()),
            _ => {}
        }
    }
    Failure::Broken("the ZMTP connection is finished".into())
}

impl UpstreamBackend {
    /// Waits for one of arkouda_server's call slots and a connection, by
    /// `deadline`; refuses when the deadline passed meanwhile (nothing sent).
    fn begin(
        &self,
        deadline: Instant,
    ) -> Result<(super::route::Permit<'_>, Upstream), BackendError> {
        let permit = self.inflight.acquire(deadline).ok_or_else(|| {
            BackendError::new(
                Code::DeadlineExceeded,
                std::format!(
                    "the deadline passed while the call waited for one of the {} calls \
                     arkouda_server at {} may have in flight (--upstream-max-inflight); \
                     it was not sent",
                    self.inflight.max(),
                    self.config.address
                ),
            )
        })?;
        let conn = self.checkout(deadline)?;
        if Instant::now() >= deadline {
            // The client has stopped waiting: arkouda_server must not run
            // a command nobody will read (a retry would run it twice).
            self.checkin(Some(conn));
            return Err(BackendError::new(
                Code::DeadlineExceeded,
                "the deadline passed before the call could be sent; it was not sent",
            ));
        }
        Ok((permit, conn))
    }

    /// What a failed exchange means for the pool and for the client.
    fn failed(&self, failure: Failure) -> BackendError {
        match failure {
            Failure::TooLarge(size, max) => {
                self.checkin(None);
                BackendError::new(
                    Code::ResourceExhausted,
                    std::format!(
                        "arkouda_server's reply of {size} bytes or more exceeds the limit of \
                         {max} bytes (serve --max-binary-size)"
                    ),
                )
            }
            Failure::Deadline => {
                // A late reply must never answer the next request: drop the connection.
                self.checkin(None);
                BackendError::new(
                    Code::DeadlineExceeded,
                    "arkouda_server did not answer before the deadline",
                )
            }
            Failure::Abandoned(a) => {
                // Half a message went one way or the other: the connection
                // cannot carry another, but the upstream is not to blame.
                self.checkin(None);
                BackendError::new(a.code, a.message)
            }
            Failure::Broken(why) => {
                self.checkin(None);
                self.note(Err(&why));
                self.unavailable(&why)
            }
        }
    }
}

impl Backend for UpstreamBackend {
    fn execute(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<Instant>,
    ) -> Result<String, BackendError> {
        match self.execute_reply(request, deadline)? {
            Reply::Json(json) => Ok(json),
            Reply::Binary(_) => Err(BackendError::new(
                Code::DataLoss,
                "arkouda_server sent a binary reply where reply JSON was expected",
            )),
        }
    }

    fn execute_reply(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<Instant>,
    ) -> Result<Reply, BackendError> {
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.config.default_deadline);
        // The token is a credential: never logged.
        log::debug!("forwarding {:?} for user {:?}", request.cmd, request.user);
        let view = ArkoudaRequestRef::from(request);
        let max_binary = self.config.max_binary_size;
        upstream_msg::check_request(&view, max_binary)?;
        let first = upstream_msg::first_frame(&view);
        let binary = [&first[..], &request.payload[..]];
        let frames = if upstream_msg::is_binary(&view) {
            &binary[..]
        } else {
            &binary[..1]
        };
        let (_permit, mut conn) = self.begin(deadline)?;
        let sent = Instant::now();
        let exchanged = conn.exchange(frames, deadline);
        crate::metrics::global().upstream_answered(sent.elapsed());
        match exchanged {
            Ok(frames) => {
                self.checkin(Some(conn));
                self.note(Ok(()));
                upstream_msg::read_reply(frames, request.recv_binary, &request.user, max_binary)
            }
            Err(failure) => Err(self.failed(failure)),
        }
    }

    fn execute_streaming(
        &self,
        request: &ArkoudaRequest,
        upload: Option<&Upload>,
        sink: &mut ReplySink,
        deadline: Option<Instant>,
    ) -> Result<Option<Reply>, BackendError> {
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.config.default_deadline);
        let max_binary = self.config.max_binary_size;
        let streaming = Streaming {
            payload_len: upload.map(|u| u.len),
            reply_above: request.recv_binary.then_some(STREAM_REPLY_ABOVE),
            max_streamed_reply: max_binary as u64,
        };
        if streaming.payload_len.is_none() && streaming.reply_above.is_none() {
            return self.execute_reply(request, deadline.into()).map(Some);
        }
        log::debug!("forwarding {:?} for user {:?}", request.cmd, request.user);
        let view = ArkoudaRequestRef::from(request);
        let payload_len = upload.map_or(request.payload.len() as u64, |u| u.len);
        if payload_len > max_binary as u64 {
            let size = usize::try_from(payload_len).unwrap_or(usize::MAX);
            return Err(upstream_msg::too_large("request", size, max_binary));
        }
        let first = match upload {
            // A payload on its way makes the request binary however it was labelled.
            Some(_) => upstream_msg::first_frame(&ArkoudaRequestRef {
                format: "BINARY",
                ..view
            }),
            None => upstream_msg::first_frame(&view),
        };
        let binary = [&first[..], &request.payload[..]];
        let frames = if upload.is_some() || !upstream_msg::is_binary(&view) {
            &binary[..1]
        } else {
            &binary[..]
        };
        let (_permit, mut conn) = self.begin(deadline)?;
        let sent = Instant::now();
        let mut download = None;
        let exchanged = conn.exchange_streaming(
            frames,
            streaming,
            upload,
            Some(sink),
            &mut download,
            deadline,
        );
        crate::metrics::global().upstream_answered(sent.elapsed());
        match exchanged {
            Ok(Some(frames)) => {
                self.checkin(Some(conn));
                self.note(Ok(()));
                upstream_msg::read_reply(frames, request.recv_binary, &request.user, max_binary)
                    .map(Some)
            }
            Ok(None) => {
                self.checkin(Some(conn));
                self.note(Ok(()));
                Ok(None)
            }
            Err(failure) => {
                let error = self.failed(failure);
                if let Some(pipe) = download {
                    // The reply is under way: its pipe carries the status.
                    pipe.abort(error.code, &error.message);
                }
                Err(error)
            }
        }
    }
}
