//! The server: event loops on threads sharing one listening socket, each a
//! [`Driver`] of [`ArkoudaService`] connections whose requests go to the
//! handler.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use std::vec::Vec;

use mio::net::TcpListener;

use super::driver::{Driver, LoopWaker};
use super::wire::Wire;
use crate::arkouda::service::{ArkoudaService, Drain, Handler, ServiceEvent, ServiceOptions};
use crate::grpc;
use crate::metrics::Metrics;
use crate::ops::health::Health;
use crate::time::Instant;

/// Puts an accepted connection's service on the wire (plaintext, or a TLS
/// session); None refuses the connection.
type WrapService =
    Arc<dyn Fn(ArkoudaService, Instant) -> Option<Wire<ArkoudaService>> + Send + Sync>;

/// TLS on a [`Server`]'s connections (feature `tls`).
#[cfg(feature = "tls")]
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// Starts each connection's TLS session; [`Acceptor::reload`](crate::tls::Acceptor::reload)
    /// (on SIGHUP, say) changes the certificate for new connections while
    /// open ones keep theirs.
    pub acceptor: Arc<crate::tls::Acceptor>,
    /// Refuse (PERMISSION_DENIED) every request whose `user` is not the
    /// name in the client's certificate; see
    /// [`ArkoudaService::with_user_match`]. Needs a client CA in the
    /// acceptor's configuration, or every request is refused.
    pub require_user_match: bool,
}

/// How long past the grace the loops keep writing the UNAVAILABLE answers
/// and GOAWAYs before they stop.
const LINGER: Duration = Duration::from_secs(1);

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
    /// TCP keepalive on accepted connections: the first probe after this
    /// long without traffic, two more a third of it apart, so the kernel
    /// finds a peer that is gone (a dead host, a dropped NAT mapping) after
    /// about twice this, calls in flight or not. On Linux unacknowledged
    /// data is given as long (`TCP_USER_TIMEOUT`). `None`: off.
    pub tcp_keepalive: Option<Duration>,
    /// Where connections, calls and defences are counted; `None`: nowhere.
    pub metrics: Option<&'static Metrics>,
    /// What `grpc.health.v1.Health/Check` answers; `None`: SERVING until a
    /// drain starts.
    pub health: Option<&'static Health>,
    /// Per connection: health `Watch` polling and HTTP/2 PING keepalive
    /// (after `keepalive_interval` of silence a PING goes out; no answer
    /// within `keepalive_timeout` closes the connection).
    pub service: ServiceOptions,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            options: grpc::Options::default(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
            tcp_keepalive: Some(Duration::from_secs(60)),
            metrics: None,
            health: None,
            service: ServiceOptions::default(),
        }
    }
}

/// A running server; dropping it stops the loops at once (see
/// [`Shutdown`] for the graceful way).
pub struct Server {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    shutdown: Shutdown,
    threads: Vec<JoinHandle<()>>,
}

/// Starts a server's graceful drain, from any thread (a signal handler's,
/// say): the listening socket closes, every connection gets GOAWAY naming
/// the last call it accepted, the calls in progress (forwarded ones
/// included) have the grace to finish, and what is left then is answered
/// UNAVAILABLE. The loops end once their connections are gone, at most
/// about a second past the grace; [`Server::wait`] then returns.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<ShutdownInner>,
}

struct ShutdownInner {
    /// One per loop, so each loop ends when its own connections are gone.
    drains: Vec<Arc<Drain>>,
    wakers: Vec<Arc<LoopWaker>>,
    /// A duplicate of the listening socket, to stop it accepting.
    listener: std::net::TcpListener,
    deadline: Mutex<Option<std::time::Instant>>,
    health: &'static Health,
}

/// The health cell of a server given none.
fn own_health() -> &'static Health {
    static HEALTH: Health = Health::new(crate::ops::health::ServingStatus::Serving);
    &HEALTH
}

impl Shutdown {
    /// Starts the drain with `grace` for the calls in progress. Calling it
    /// again does not extend the grace.
    pub fn start(&self, grace: Duration) {
        let inner = &self.inner;
        if let Ok(mut deadline) = inner.deadline.lock() {
            deadline.get_or_insert_with(|| std::time::Instant::now() + grace);
        }
        inner.health.set_draining();
        // A shut-down listening socket takes no more connections (they are
        // refused); every loop's duplicate shares it.
        let _ = socket2::SockRef::from(&inner.listener).shutdown(std::net::Shutdown::Both);
        for d in &inner.drains {
            d.start();
        }
        for w in &inner.wakers {
            w.wake_loop();
        }
    }

    /// Whether the drain has started.
    pub fn is_draining(&self) -> bool {
        self.deadline().is_some()
    }

    /// When the grace ends, once the drain has started.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.inner.deadline.lock().ok().and_then(|d| *d)
    }
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and starts serving with `handler`.
    pub fn bind(
        addr: SocketAddr,
        handler: Arc<dyn Handler>,
        config: ServerConfig,
    ) -> io::Result<Server> {
        let plain: WrapService = Arc::new(|service, _| Some(Wire::Plain(service)));
        Self::bind_wrapped(addr, handler, config, plain)
    }

    /// [`bind`](Self::bind), with every connection a TLS session started by
    /// `tls.acceptor`. A client that does not speak TLS, fails the
    /// handshake or does not finish it within the acceptor's limits is
    /// closed (logged at debug level, counted nowhere else); the verified
    /// name of a client certificate reaches the handler through
    /// [`Responder::peer_identity`](crate::arkouda::service::Responder::peer_identity).
    #[cfg(feature = "tls")]
    pub fn bind_tls(
        addr: SocketAddr,
        handler: Arc<dyn Handler>,
        config: ServerConfig,
        tls: ServerTls,
    ) -> io::Result<Server> {
        let wrap: WrapService = Arc::new(move |service, now| {
            let service = service.with_user_match(tls.require_user_match);
            match tls.acceptor.accept(service, now) {
                Ok(session) => Some(Wire::Tls(std::boxed::Box::new(
                    session.with_handshake_hook(|service, handshake| {
                        service.set_peer_identity(handshake.peer.as_ref().map(|p| p.name()))
                    }),
                ))),
                Err(e) => {
                    log::error!("cannot start a TLS session: {e}");
                    None
                }
            }
        });
        Self::bind_wrapped(addr, handler, config, wrap)
    }

    fn bind_wrapped(
        addr: SocketAddr,
        handler: Arc<dyn Handler>,
        mut config: ServerConfig,
        wrap: WrapService,
    ) -> io::Result<Server> {
        if config.options.h2.body_budget.is_none() {
            config.options.h2.body_budget = Some(&super::BODY_BUDGET);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let first = exclusive_listener(addr, config.tcp_keepalive)?;
        let local_addr = first.local_addr()?;
        let kept = first.try_clone()?;
        // Every loop polls a duplicate of the one listening socket: no other
        // process can join the port, and whichever loop accepts first gets
        // the connection.
        let mut listeners = Vec::new();
        for _ in 1..config.threads.max(1) {
            listeners.push(TcpListener::from_std(first.try_clone()?));
        }
        listeners.insert(0, TcpListener::from_std(first));
        let health = config.health.unwrap_or_else(own_health);
        let mut wakers = Vec::new();
        let mut drains = Vec::new();
        let mut drivers = Vec::new();
        for listener in listeners {
            let mut driver = Driver::new()?;
            let (handler, options) = (handler.clone(), config.options);
            let service_options = config.service;
            let drain = Arc::new(Drain::new());
            let (loop_drain, metrics) = (drain.clone(), config.metrics);
            let wrap = wrap.clone();
            driver.listen(
                listener,
                config.max_connections,
                std::boxed::Box::new(move |now, wake| {
                    match ArkoudaService::new(handler.clone(), options, now) {
                        Ok(service) => {
                            let service = service
                                .with_wake(wake)
                                .with_options(service_options)
                                .with_health(health)
                                .with_drain(loop_drain.clone());
                            let service = match metrics {
                                Some(m) => service.with_metrics(m),
                                None => service,
                            };
                            wrap(service, now)
                        }
                        Err(e) => {
                            log::error!("{e}");
                            None
                        }
                    }
                }),
            )?;
            driver.set_idle_timeout(config.idle_timeout);
            wakers.push(driver.waker()?);
            drains.push(drain);
            drivers.push(driver);
        }
        let shutdown = Shutdown {
            inner: Arc::new(ShutdownInner {
                drains,
                wakers,
                listener: kept,
                deadline: Mutex::new(None),
                health,
            }),
        };
        let mut threads = Vec::new();
        for (i, mut driver) in drivers.into_iter().enumerate() {
            let (stop, shutdown) = (stop.clone(), shutdown.clone());
            let thread = std::thread::Builder::new()
                .name(std::format!("arkwire-loop-{i}"))
                .spawn(move || {
                    if let Err(e) = run(&mut driver, &stop, &shutdown, i) {
                        log::error!("event loop stopped: {e}");
                    }
                })?;
            threads.push(thread);
        }
        Ok(Server {
            local_addr,
            stop,
            shutdown,
            threads,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts the graceful drain from any thread; see [`Shutdown`].
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Blocks until the loops end: after a drain (see [`Shutdown`]), or when
    /// they fail.
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in &self.shutdown.inner.wakers {
            w.wake_loop();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn run(
    driver: &mut Driver<Wire<ArkoudaService>>,
    stop: &AtomicBool,
    shutdown: &Shutdown,
    index: usize,
) -> io::Result<()> {
    let drain = shutdown.inner.drains[index].clone();
    while !stop.load(Ordering::Relaxed) {
        let deadline = shutdown.deadline();
        // While draining, wake at the end of the grace, then of the linger.
        let until = deadline.map(|d| {
            let at = if drain.is_expired() { d + LINGER } else { d };
            driver.clock.at(at)
        });
        driver.turn(until)?;
        driver.drain_events(|key, event| match event {
            ServiceEvent::Request(_) => {}
            ServiceEvent::Refused { call, code } => {
                log::debug!("connection {key}: call {call:?} refused with {code}")
            }
            ServiceEvent::Cancelled(call) => {
                log::debug!("connection {key}: call {call:?} cancelled")
            }
            ServiceEvent::Closed { code } => log::debug!("connection {key} closed: {code:?}"),
        });
        // Read again: the drain may have started during the turn.
        let Some(deadline) = shutdown.deadline() else {
            continue;
        };
        if drain.connections() == 0 {
            break;
        }
        let now = std::time::Instant::now();
        if now >= deadline && !drain.is_expired() {
            log::warn!(
                "shutdown grace over: {} connection(s) of loop {index} still open; \
                 cancelling their calls",
                drain.connections()
            );
            drain.expire();
        }
        if now >= deadline + LINGER {
            break;
        }
    }
    Ok(())
}

/// A listening socket on `addr`, refused with `AddrInUse` when another
/// socket listens there. SO_REUSEADDR only lets it reuse a port whose old
/// connections linger in TIME_WAIT; SO_REUSEPORT is not set, so a second
/// server cannot share the port and split the clients with this one.
///
/// Accepted connections inherit the listening socket's keepalive options.
fn exclusive_listener(
    addr: SocketAddr,
    keepalive: Option<Duration>,
) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, TcpKeepalive, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if let Some(idle) = keepalive.filter(|d| !d.is_zero()) {
        // The kernel counts keepalive times in whole seconds.
        let idle = idle.max(Duration::from_secs(1));
        let interval = (idle / 3).max(Duration::from_secs(1));
        let params = TcpKeepalive::new().with_time(idle).with_interval(interval);
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
        let params = params.with_retries(3);
        socket.set_tcp_keepalive(&params)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        socket.set_tcp_user_timeout(Some(idle.saturating_mul(2)))?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
