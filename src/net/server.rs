//! The server loop: accepts connections, feeds them bytes, hands complete
//! requests to the handler, and writes what the connections produce.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use prost::Message;

use super::{Clock, IO_CHUNK, READ_SLICE};
use crate::grpc::{self, CallId, Code, ServerEvent};
use crate::h2::conn::GrowableStorage;
use crate::proto::{ArkoudaRequest, ArkoudaResponse, HANDLE_REQUEST_PATH};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONN: usize = 2;

/// Answers Arkouda requests. Called on the event loop's thread: answer at
/// once through the [`Responder`], or move it to another thread and answer
/// later; the loop does not wait.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn handle(&self, request: ArkoudaRequest, responder: Responder);
}

impl<F> Handler for F
where
    F: Fn(ArkoudaRequest, Responder) + Send + Sync + 'static,
{
    fn handle(&self, request: ArkoudaRequest, responder: Responder) {
        self(request, responder)
    }
}

/// How the server runs.
#[derive(Clone, Copy, Debug)]
pub struct ServerConfig {
    /// gRPC and HTTP/2 limits per connection. Without a `body_budget` of
    /// their own, connections draw from the process-wide
    /// [`BODY_BUDGET`](super::BODY_BUDGET).
    pub options: grpc::Options,
    /// Event loops, each on its own thread, sharing one listening socket.
    pub threads: usize,
    /// Connections per event loop; more are accepted and closed at once.
    pub max_connections: usize,
    /// A connection with no call in progress and no bytes for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            options: grpc::Options::default(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

enum Outcome {
    Reply(ArkoudaResponse),
    Status(Code, std::string::String),
}

struct Completion {
    token: Token,
    generation: u64,
    call: CallId,
    outcome: Outcome,
}

/// Answers one request, once, from any thread. Dropping it unanswered
/// answers INTERNAL, so a call is never left hanging.
pub struct Responder {
    tx: mpsc::Sender<Completion>,
    waker: Arc<Waker>,
    token: Token,
    generation: u64,
    call: CallId,
    deadline: Option<std::time::Instant>,
    loop_thread: std::thread::ThreadId,
    done: bool,
}

impl Responder {
    /// When the client stops waiting (from its `grpc-timeout`), if it said.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.deadline
    }

    /// Answers with a response message.
    pub fn reply(mut self, response: ArkoudaResponse) {
        self.send(Outcome::Reply(response));
    }

    /// Answers with a gRPC status other than OK.
    pub fn error(mut self, code: Code, message: &str) {
        self.send(Outcome::Status(code, message.into()));
    }

    fn send(&mut self, outcome: Outcome) {
        self.done = true;
        let completion = Completion {
            token: self.token,
            generation: self.generation,
            call: self.call,
            outcome,
        };
        // A closed loop means the server is shutting down: nothing to answer.
        // An answer given on the loop's own thread is collected right after
        // the handler returns, so waking the loop would only cost a syscall.
        if self.tx.send(completion).is_ok() && std::thread::current().id() != self.loop_thread {
            let _ = self.waker.wake();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.done {
            self.send(Outcome::Status(
                Code::Internal,
                "handler dropped the call".into(),
            ));
        }
    }
}

/// A running server; dropping it stops the loops.
pub struct Server {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    wakers: Vec<Arc<Waker>>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and starts serving with `handler`.
    pub fn bind(
        addr: SocketAddr,
        handler: Arc<dyn Handler>,
        config: ServerConfig,
    ) -> io::Result<Server> {
        let stop = Arc::new(AtomicBool::new(false));
        let first = exclusive_listener(addr)?;
        let local_addr = first.local_addr()?;
        // Every loop polls a duplicate of the one listening socket: no other
        // process can join the port, and whichever loop accepts first gets
        // the connection.
        let mut listeners = Vec::new();
        for _ in 1..config.threads.max(1) {
            listeners.push(TcpListener::from_std(first.try_clone()?));
        }
        listeners.insert(0, TcpListener::from_std(first));
        let mut wakers = Vec::new();
        let mut threads = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let mut event_loop = EventLoop::new(listener, handler.clone(), config, stop.clone())?;
            wakers.push(event_loop.waker.clone());
            let thread = std::thread::Builder::new()
                .name(std::format!("arkwire-loop-{i}"))
                .spawn(move || {
                    if let Err(e) = event_loop.run() {
                        log::error!("event loop stopped: {e}");
                    }
                })?;
            threads.push(thread);
        }
        Ok(Server {
            local_addr,
            stop,
            wakers,
            threads,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Blocks until the loops end (they end when the server is dropped elsewhere or fails).
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in &self.wakers {
            let _ = w.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Writes as much of `bytes` as the socket takes now.
fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        match stream.write(&bytes[done..]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// A listening socket on `addr`, refused with `AddrInUse` when another
/// socket listens there. SO_REUSEADDR only lets it reuse a port whose old
/// connections linger in TIME_WAIT; SO_REUSEPORT is not set, so a second
/// server cannot share the port and split the clients with this one.
fn exclusive_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

struct Conn {
    stream: TcpStream,
    grpc: grpc::Server<GrowableStorage>,
    generation: u64,
    /// Bytes produced but not yet accepted by the socket (empty unless the
    /// socket pushed back: frames are produced into the loop's shared buffer).
    unsent: Vec<u8>,
    unsent_pos: usize,
    writable_interest: bool,
    last_activity: std::time::Instant,
    /// The last turn stopped reading at [`READ_SLICE`] with the socket still
    /// readable; edge-triggered polling will not say so again.
    more_to_read: bool,
}

struct EventLoop {
    poll: Poll,
    listener: TcpListener,
    waker: Arc<Waker>,
    rx: mpsc::Receiver<Completion>,
    tx: mpsc::Sender<Completion>,
    handler: Arc<dyn Handler>,
    config: ServerConfig,
    stop: Arc<AtomicBool>,
    conns: Vec<Option<Conn>>,
    next_generation: u64,
    clock: Clock,
    /// Shared by every connection of the loop: reads land here, and frames
    /// are produced here before they are written.
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
}

impl EventLoop {
    fn new(
        mut listener: TcpListener,
        handler: Arc<dyn Handler>,
        mut config: ServerConfig,
        stop: Arc<AtomicBool>,
    ) -> io::Result<Self> {
        if config.options.h2.body_budget.is_none() {
            config.options.h2.body_budget = Some(&super::BODY_BUDGET);
        }
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = mpsc::channel();
        Ok(EventLoop {
            poll,
            listener,
            waker,
            rx,
            tx,
            handler,
            config,
            stop,
            conns: Vec::new(),
            next_generation: 0,
            clock: Clock::new(),
            read_buf: vec![0; IO_CHUNK],
            write_buf: vec![0; IO_CHUNK],
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        let mut touched = Vec::new();
        while !self.stop.load(Ordering::Relaxed) {
            let timeout = self.next_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            touched.clear();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(&mut touched),
                    WAKER => self.complete(&mut touched),
                    token => {
                        touched.push(token.0);
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(token.0);
                        }
                    }
                }
            }
            self.read_leftovers(&mut touched);
            self.expire(&mut touched);
            touched.sort_unstable();
            touched.dedup();
            for &i in &touched {
                self.drive(i);
            }
        }
        Ok(())
    }

    fn next_timeout(&self) -> Option<Duration> {
        if self.conns.iter().flatten().any(|c| c.more_to_read) {
            return Some(Duration::ZERO);
        }
        let core = self
            .conns
            .iter()
            .flatten()
            .filter_map(|c| c.grpc.poll_timeout())
            .min()
            .map(|at| self.clock.until(at));
        // Idle connections are checked at a coarse period.
        let idle = (!self.conns.iter().all(Option::is_none)).then_some(Duration::from_secs(1));
        match (core, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn accept(&mut self, touched: &mut Vec<usize>) {
        loop {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return;
                }
            };
            let live = self.conns.iter().flatten().count();
            if live >= self.config.max_connections {
                log::warn!("refusing {peer}: {live} connections open");
                continue; // dropping the stream closes it
            }
            let _ = stream.set_nodelay(true);
            let slot = self
                .conns
                .iter()
                .position(Option::is_none)
                .unwrap_or_else(|| {
                    self.conns.push(None);
                    self.conns.len() - 1
                });
            let token = Token(slot + FIRST_CONN);
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE)
            {
                log::warn!("register failed: {e}");
                continue;
            }
            let grpc =
                match grpc::Server::new(HANDLE_REQUEST_PATH, self.config.options, self.clock.now())
                {
                    Ok(g) => g,
                    Err(e) => {
                        log::error!("{e}");
                        continue;
                    }
                };
            self.next_generation += 1;
            log::debug!("accepted {peer}");
            self.conns[slot] = Some(Conn {
                stream,
                grpc,
                generation: self.next_generation,
                unsent: Vec::new(),
                unsent_pos: 0,
                writable_interest: false,
                last_activity: std::time::Instant::now(),
                more_to_read: false,
            });
            // The server speaks first (its SETTINGS), so drive it now.
            touched.push(token.0);
        }
    }

    fn complete(&mut self, touched: &mut Vec<usize>) {
        while let Ok(done) = self.rx.try_recv() {
            let Some(Some(conn)) = self.conns.get_mut(done.token.0 - FIRST_CONN) else {
                continue;
            };
            if conn.generation != done.generation {
                continue; // the connection it belonged to is gone
            }
            let result = match done.outcome {
                Outcome::Reply(resp) => conn.grpc.respond(done.call, &resp.encode_to_vec()),
                Outcome::Status(code, msg) => conn.grpc.respond_status(done.call, code, &msg),
            };
            if let Err(e) = result {
                log::debug!("could not answer call {:?}: {e}", done.call);
            }
            touched.push(done.token.0);
        }
    }

    /// Reads at most [`READ_SLICE`] bytes from one connection.
    fn read(&mut self, token: usize) {
        let now = self.clock.now();
        let Some(Some(conn)) = self.conns.get_mut(token - FIRST_CONN) else {
            return;
        };
        conn.more_to_read = false;
        let mut budget = READ_SLICE;
        loop {
            if budget == 0 {
                conn.more_to_read = true;
                return;
            }
            let len = self.read_buf.len().min(budget);
            match conn.stream.read(&mut self.read_buf[..len]) {
                Ok(0) => {
                    self.close(token);
                    return;
                }
                Ok(n) => {
                    budget -= n;
                    conn.last_activity = std::time::Instant::now();
                    if let Err(e) = conn.grpc.recv(&self.read_buf[..n], now) {
                        log::debug!("connection error: {e}");
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(token);
                    return;
                }
            }
        }
    }

    /// Gives the connections that were cut off at their slice another turn.
    fn read_leftovers(&mut self, touched: &mut Vec<usize>) {
        for slot in 0..self.conns.len() {
            let token = slot + FIRST_CONN;
            let pending = matches!(&self.conns[slot], Some(c) if c.more_to_read);
            if pending && !touched.contains(&token) {
                touched.push(token);
                self.read(token);
            }
        }
    }

    fn expire(&mut self, touched: &mut Vec<usize>) {
        let now = self.clock.now();
        let idle_timeout = self.config.idle_timeout;
        for (slot, conn) in self.conns.iter_mut().enumerate() {
            let Some(conn) = conn else { continue };
            if conn.grpc.poll_timeout().is_some_and(|at| at <= now) {
                conn.grpc.handle_timeout(now);
                touched.push(slot + FIRST_CONN);
            }
            let idle = conn.grpc.connection().active_streams() == 0
                && conn.last_activity.elapsed() >= idle_timeout;
            if idle {
                conn.grpc.close();
                touched.push(slot + FIRST_CONN);
            }
        }
    }

    /// Hands new requests to the handler and writes what the connection produced.
    fn drive(&mut self, token: usize) {
        let slot = token - FIRST_CONN;
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        while let Some(event) = conn.grpc.poll_event() {
            match event {
                ServerEvent::Request(call) => {
                    let request = match conn.grpc.request(call).map(ArkoudaRequest::decode) {
                        Ok(Ok(r)) => r,
                        Ok(Err(e)) => {
                            let _ = conn.grpc.respond_status(
                                call,
                                Code::InvalidArgument,
                                &std::format!("invalid ArkoudaRequest: {e}"),
                            );
                            continue;
                        }
                        Err(status) => {
                            let _ = conn.grpc.respond_status(
                                call,
                                status.code,
                                "invalid request message",
                            );
                            continue;
                        }
                    };
                    let deadline = conn
                        .grpc
                        .deadline(call)
                        .map(|at| std::time::Instant::now() + self.clock.until(at));
                    let responder = Responder {
                        tx: self.tx.clone(),
                        waker: self.waker.clone(),
                        token: Token(token),
                        generation: conn.generation,
                        call,
                        deadline,
                        loop_thread: std::thread::current().id(),
                        done: false,
                    };
                    self.handler.handle(request, responder);
                }
                ServerEvent::Cancelled(call) => log::debug!("call {call:?} cancelled"),
                ServerEvent::Closed { code } => log::debug!("connection closed: {code:?}"),
            }
        }
        // Answers given inline by the handler are waiting in the channel,
        // perhaps beside answers from workers for other connections.
        let mut answered = Vec::new();
        self.complete(&mut answered);
        for other in answered.into_iter().filter(|&t| t != token) {
            if !self.flush(other - FIRST_CONN) {
                self.close(other);
            }
        }
        if !self.flush(slot) {
            self.close(token);
        }
    }

    /// Writes everything the connection has; false when the socket is gone.
    fn flush(&mut self, slot: usize) -> bool {
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return true;
        };
        // What the socket refused last time goes first.
        while conn.unsent_pos < conn.unsent.len() {
            match conn.stream.write(&conn.unsent[conn.unsent_pos..]) {
                Ok(n) => conn.unsent_pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if conn.unsent_pos == conn.unsent.len() {
            conn.unsent.clear();
            conn.unsent_pos = 0;
            loop {
                let n = conn.grpc.transmit(&mut self.write_buf);
                if n == 0 {
                    break;
                }
                let written = match write_some(&mut conn.stream, &self.write_buf[..n]) {
                    Ok(w) => w,
                    Err(_) => return false,
                };
                if written < n {
                    // Keep only what the socket would not take.
                    conn.unsent.extend_from_slice(&self.write_buf[written..n]);
                    break;
                }
            }
        }
        let pending = conn.unsent_pos < conn.unsent.len();
        if pending != conn.writable_interest {
            let interest = if pending {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let token = Token(slot + FIRST_CONN);
            if self
                .poll
                .registry()
                .reregister(&mut conn.stream, token, interest)
                .is_err()
            {
                return false;
            }
            conn.writable_interest = pending;
        }
        // A finished connection closes once its last bytes (GOAWAY) are out.
        !conn.grpc.is_closed() || pending
    }

    fn close(&mut self, token: usize) {
        if let Some(slot) = self.conns.get_mut(token - FIRST_CONN) {
            if let Some(mut conn) = slot.take() {
                let _ = self.poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}
