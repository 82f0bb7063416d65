//! The server: event loops on threads sharing one listening socket, each a
//! [`Driver`] of [`ArkoudaService`] connections whose requests go to the
//! handler.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use std::vec::Vec;

use mio::net::TcpListener;

use super::driver::{Driver, LoopWaker};
use crate::arkouda::service::{ArkoudaService, Handler, ServiceEvent};
use crate::grpc;

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

/// A running server; dropping it stops the loops.
pub struct Server {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    wakers: Vec<Arc<LoopWaker>>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and starts serving with `handler`.
    pub fn bind(
        addr: SocketAddr,
        handler: Arc<dyn Handler>,
        mut config: ServerConfig,
    ) -> io::Result<Server> {
        if config.options.h2.body_budget.is_none() {
            config.options.h2.body_budget = Some(&super::BODY_BUDGET);
        }
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
            let mut driver = Driver::new()?;
            let (handler, options) = (handler.clone(), config.options);
            driver.listen(
                listener,
                config.max_connections,
                std::boxed::Box::new(move |now, wake| {
                    match ArkoudaService::new(handler.clone(), options, now) {
                        Ok(service) => Some(service.with_wake(wake)),
                        Err(e) => {
                            log::error!("{e}");
                            None
                        }
                    }
                }),
            )?;
            driver.set_idle_timeout(config.idle_timeout);
            wakers.push(driver.waker()?);
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(std::format!("arkwire-loop-{i}"))
                .spawn(move || {
                    if let Err(e) = run(&mut driver, &stop) {
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
            w.wake_loop();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn run(driver: &mut Driver<ArkoudaService>, stop: &AtomicBool) -> io::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        driver.turn(None)?;
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
    }
    Ok(())
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
