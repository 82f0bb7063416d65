//! Forwarding to a real arkouda_server over ZeroMQ: a pool of persistent REQ
//! connections, each a sans-IO [`ReqConnection`] in a [`Driver`] of its own,
//! driven until its reply or its deadline on the worker thread that uses it.

use std::net::ToSocketAddrs;
use std::string::{String, ToString};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::driver::{Driver, Key};
use crate::arkouda::proxy::{Backend, BackendError};
use crate::arkouda::upstream_msg::{self, Reply};
use crate::grpc::Code;
use crate::proto::{ArkoudaRequest, ArkoudaRequestRef};
use crate::zmtp::{ReqConnection, ZmtpConfig, ZmtpError, ZmtpEvent};

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
    /// First wait before connecting again after a failure; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest wait between connection attempts while the upstream is down.
    pub max_backoff: Duration,
    /// ZMTP limits (largest reply, handshake timeout). The largest reply
    /// must cover `max_binary_size`, or binary replies fail before reaching it.
    pub zmtp: ZmtpConfig,
    /// Largest binary payload forwarded either way (`serve --max-binary-size`);
    /// beyond it a call fails with RESOURCE_EXHAUSTED.
    pub max_binary_size: usize,
}

impl UpstreamConfig {
    /// Defaults for `address`: 4 connections, 5 s to connect, 60 s per call,
    /// backoff from 100 ms to 5 s, binary payloads up to 64 MiB.
    pub fn new(address: &str) -> Self {
        let address = address
            .strip_prefix("tcp://")
            .unwrap_or(address)
            .to_string();
        UpstreamConfig {
            address,
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
        }
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
    /// While the upstream is down, no connection is tried before this.
    retry_at: Option<Instant>,
    backoff: Duration,
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
}

enum Failure {
    Deadline,
    Broken(String),
    /// The reply grew past the ZMTP limit (announced size, limit).
    TooLarge(u64, u64),
}

impl UpstreamBackend {
    /// A backend for `config`; connections open on first use.
    pub fn new(config: UpstreamConfig) -> Self {
        let backoff = config.initial_backoff;
        UpstreamBackend {
            config,
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
                retry_at: None,
                backoff,
                last_error: String::new(),
                lost: 0,
            }),
            freed: Condvar::new(),
        }
    }

    fn unavailable(&self, why: &str) -> BackendError {
        BackendError::new(
            Code::Unavailable,
            std::format!(
                "arkouda_server at {} is unavailable: {why}",
                self.config.address
            ),
        )
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
                if let Some(at) = pool.retry_at {
                    if Instant::now() < at {
                        return Err(self.unavailable(&pool.last_error));
                    }
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
                pool.retry_at = None;
                pool.backoff = self.config.initial_backoff;
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
                pool.retry_at = Some(Instant::now() + pool.backoff);
                pool.backoff = (pool.backoff * 2).min(self.config.max_backoff);
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

impl UpstreamBackend {
    /// Whether arkouda_server can be reached, for health checks: an idle
    /// connection still open (what it sent meanwhile is read, heartbeats
    /// included), or a new one through its ZMTP handshake, within
    /// `timeout`. Sends no request. Every connection busy counts as
    /// reachable.
    pub fn check(&self, timeout: Duration) -> Result<(), String> {
        match self.checkout(Instant::now() + timeout) {
            Ok(conn) => {
                self.checkin(Some(conn));
                Ok(())
            }
            Err(e) if e.code == Code::Unavailable => Err(e.message),
            Err(_) => Ok(()),
        }
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
                Ok(Some(ZmtpEvent::Reply)) => {}
                Err(Failure::Broken(why)) => return Err(why),
                Err(Failure::TooLarge(size, max)) => {
                    return Err(std::format!(
                        "a handshake message of {size} bytes exceeds the limit of {max}"
                    ))
                }
                Err(Failure::Deadline) => return Err(LATE.into()),
            }
        }
    }

    /// Sends one request and waits for its reply frames.
    fn exchange(&mut self, frames: &[&[u8]], deadline: Instant) -> Result<Vec<Vec<u8>>, Failure> {
        let core_deadline = self.driver.clock.at(deadline);
        let zmtp = self
            .driver
            .machine_mut(self.key)
            .ok_or_else(|| Failure::Broken("the connection is closed".into()))?;
        zmtp.send_request(frames, Some(core_deadline))
            .map_err(|e| Failure::Broken(e.to_string()))?;
        loop {
            match self.next_event(deadline)? {
                Some(ZmtpEvent::Reply) => {
                    let zmtp = self
                        .driver
                        .machine_mut(self.key)
                        .ok_or_else(|| Failure::Broken("the connection is closed".into()))?;
                    let reply = zmtp.reply_frames().map(<[u8]>::to_vec).collect();
                    zmtp.release_reply();
                    return Ok(reply);
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
        let mut conn = self.checkout(deadline)?;
        if Instant::now() >= deadline {
            // The client has stopped waiting: arkouda_server must not run
            // a command nobody will read (a retry would run it twice).
            self.checkin(Some(conn));
            return Err(BackendError::new(
                Code::DeadlineExceeded,
                "the deadline passed before the call could be sent; it was not sent",
            ));
        }
        let sent = Instant::now();
        let exchanged = conn.exchange(frames, deadline);
        crate::metrics::global().upstream_answered(sent.elapsed());
        match exchanged {
            Ok(frames) => {
                self.checkin(Some(conn));
                upstream_msg::read_reply(frames, request.recv_binary, &request.user, max_binary)
            }
            Err(Failure::TooLarge(size, max)) => {
                self.checkin(None);
                Err(BackendError::new(
                    Code::ResourceExhausted,
                    std::format!(
                        "arkouda_server's reply of {size} bytes or more exceeds the limit of \
                         {max} bytes (serve --max-binary-size)"
                    ),
                ))
            }
            Err(Failure::Deadline) => {
                // A late reply must never answer the next request: drop the connection.
                self.checkin(None);
                Err(BackendError::new(
                    Code::DeadlineExceeded,
                    "arkouda_server did not answer before the deadline",
                ))
            }
            Err(Failure::Broken(why)) => {
                self.checkin(None);
                Err(self.unavailable(&why))
            }
        }
    }
}
