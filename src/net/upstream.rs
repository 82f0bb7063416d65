//! Forwarding to a real arkouda_server over ZeroMQ: a pool of persistent REQ
//! connections, each driven by the sans-IO [`ReqConnection`] over a
//! blocking socket on the worker thread that uses it.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::string::{String, ToString};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use std::vec;
use std::vec::Vec;

use super::Clock;
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

struct Upstream {
    stream: TcpStream,
    zmtp: ReqConnection<Vec<u8>>,
    clock: Clock,
    /// Socket buffers, kept with the connection so a call allocates none.
    out: Vec<u8>,
    input: Vec<u8>,
}

struct Pool {
    idle: Vec<Upstream>,
    /// Connections in use or idle.
    open: usize,
    /// While the upstream is down, no connection is tried before this.
    retry_at: Option<Instant>,
    backoff: Duration,
    last_error: String,
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

    /// A free connection: an idle one, a new one, or the next one returned.
    fn checkout(&self, deadline: Instant) -> Result<Upstream, BackendError> {
        let mut pool = self
            .pool
            .lock()
            .map_err(|_| self.unavailable("pool poisoned"))?;
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(conn);
            }
            if pool.open < self.config.pool_size.max(1) {
                if let Some(at) = pool.retry_at {
                    if Instant::now() < at {
                        return Err(self.unavailable(&pool.last_error));
                    }
                }
                pool.open += 1;
                drop(pool);
                return self.connect();
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(BackendError::new(
                    Code::DeadlineExceeded,
                    "no upstream connection became free before the deadline",
                ));
            }
            pool = self
                .freed
                .wait_timeout(pool, deadline - now)
                .map_err(|_| self.unavailable("pool poisoned"))?
                .0;
        }
    }

    fn connect(&self) -> Result<Upstream, BackendError> {
        let attempt = (|| -> io::Result<Upstream> {
            let addr = self
                .config
                .address
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "address has no IP"))?;
            let stream = TcpStream::connect_timeout(&addr, self.config.connect_timeout)?;
            stream.set_nodelay(true)?;
            let clock = Clock::new();
            let zmtp = ReqConnection::new(self.config.zmtp, clock.now())
                .map_err(|e| io::Error::new(ErrorKind::InvalidInput, std::format!("{e}")))?;
            Ok(Upstream {
                stream,
                zmtp,
                clock,
                out: vec![0; 64 * 1024],
                input: vec![0; 64 * 1024],
            })
        })();
        let mut pool = self
            .pool
            .lock()
            .map_err(|_| self.unavailable("pool poisoned"))?;
        match attempt {
            Ok(conn) => {
                pool.retry_at = None;
                pool.backoff = self.config.initial_backoff;
                Ok(conn)
            }
            Err(e) => {
                pool.open -= 1;
                pool.last_error = e.to_string();
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
                None => pool.open -= 1,
            }
        }
        self.freed.notify_one();
    }
}

impl Upstream {
    /// Sends one request and waits for its reply frames.
    fn exchange(&mut self, frames: &[&[u8]], deadline: Instant) -> Result<Vec<Vec<u8>>, Failure> {
        let core_deadline = self.clock.now() + deadline.saturating_duration_since(Instant::now());
        // Queued now, sent once the handshake is done (see ReqConnection).
        self.zmtp
            .send_request(frames, Some(core_deadline))
            .map_err(|e| Failure::Broken(e.to_string()))?;
        loop {
            loop {
                let n = self.zmtp.transmit(&mut self.out);
                if n == 0 {
                    break;
                }
                self.stream
                    .write_all(&self.out[..n])
                    .map_err(|e| Failure::Broken(e.to_string()))?;
            }
            while let Some(event) = self.zmtp.poll_event() {
                match event {
                    ZmtpEvent::Ready => {}
                    ZmtpEvent::Reply => {
                        let reply = self.zmtp.reply_frames().map(<[u8]>::to_vec).collect();
                        self.zmtp.release_reply();
                        return Ok(reply);
                    }
                    ZmtpEvent::TimedOut => return Err(Failure::Deadline),
                    ZmtpEvent::Closed {
                        error: ZmtpError::FrameTooLarge { size, max },
                    } => return Err(Failure::TooLarge(size, max)),
                    ZmtpEvent::Closed { error } => return Err(Failure::Broken(error.to_string())),
                }
            }
            let wait = self
                .zmtp
                .poll_timeout()
                .map(|at| self.clock.until(at))
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_millis(1));
            self.stream
                .set_read_timeout(Some(wait))
                .map_err(|e| Failure::Broken(e.to_string()))?;
            match self.stream.read(&mut self.input) {
                Ok(0) => {
                    return Err(Failure::Broken(
                        "arkouda_server closed the connection".into(),
                    ))
                }
                Ok(n) => self
                    .zmtp
                    .recv(&self.input[..n], self.clock.now())
                    .map_err(|e| Failure::Broken(e.to_string()))?,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    self.zmtp.handle_timeout(self.clock.now())
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::Broken(e.to_string())),
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
        match conn.exchange(frames, deadline) {
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
