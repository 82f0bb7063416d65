//! The one socket loop: a mio poll around any number of sans-IO machines,
//! one per TCP connection. The client drives its one connection with it on
//! the calling thread, each server thread drives its share of the accepted
//! connections, and each upstream ZMTP connection drives itself on the
//! worker that uses it, blocking until an event or a deadline
//! ([`Driver::drive_until`]).
//!
//! Per turn: write what the machines the application touched have to send,
//! wait for the sockets or the earliest timer, read at most [`READ_SLICE`]
//! bytes per connection (a fairness defence: a peer that never stops
//! sending waits for the next turn, and the other connections and the
//! timers keep theirs), run due timers, close idle connections, and write
//! what the machines produced.

use std::boxed::Box;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::{Clock, IO_CHUNK, READ_SLICE};
use crate::arkouda::service::Wake;
use crate::sans_io::SansIo;
use crate::time::Instant;

/// A machine the driver can serve beyond the [`SansIo`] contract.
pub(crate) trait Endpoint: SansIo {
    /// Finished: once its last bytes are out, the connection is closed.
    fn is_finished(&self) -> bool {
        false
    }
    /// No call in progress, so it may be closed after the idle timeout.
    fn is_idle(&self) -> bool {
        false
    }
    /// Starts a graceful close.
    fn close(&mut self) {}
    /// The machine is in the middle of nothing it has to send: a frame the
    /// driver writes itself (a keepalive PING) may go out now without
    /// splitting one of the machine's frames or header blocks.
    fn at_frame_boundary(&self) -> bool {
        false
    }
    /// Sends `frame` (a keepalive PING, at a frame boundary) through the
    /// machine; false: the machine has no layer of its own below, so the
    /// driver writes the bytes to the socket as they are.
    fn write_frame(&mut self, _frame: &[u8]) -> bool {
        false
    }
    /// The socket reached end of file or failed (a TLS session tells a
    /// clean end from a truncated one).
    fn transport_closed(&mut self) {}
    /// Why the machine ended the connection, when it knows better than
    /// the socket (a failed TLS handshake).
    fn failure(&self) -> Option<String> {
        None
    }
}

/// HTTP/2 PING keepalive of one connection: after `interval` without a
/// byte from the peer, a PING goes out; a peer that then sends nothing for
/// `timeout` is taken for dead and the connection fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Keepalive {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

/// Whether a short read means the socket is drained (epoll, which mio
/// uses edge-triggered on Linux).
const SHORT_READ_DRAINS: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Names one connection of a driver.
pub(crate) type Key = usize;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST: usize = 2;
/// How often idle connections are looked for.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Wakes a driver's loop from another thread.
pub(crate) struct LoopWaker {
    waker: Waker,
    /// Connections with answers waiting, named by their wakes.
    woken: Mutex<Vec<Key>>,
}

impl LoopWaker {
    /// Wakes the loop with no connection named (to stop it, say).
    pub(crate) fn wake_loop(&self) {
        let _ = self.waker.wake();
    }
}

/// Wakes the loop without naming a connection: what a worker blocked in
/// its own driver is woken by (bytes arrived in a pipe it reads, say).
impl Wake for LoopWaker {
    fn wake(&self) {
        self.wake_loop();
    }
}

/// The [`Wake`] of one connection: names it and wakes its loop.
struct ConnWake {
    waker: Arc<LoopWaker>,
    key: Key,
}

impl Wake for ConnWake {
    fn wake(&self) {
        if let Ok(mut woken) = self.waker.woken.lock() {
            woken.push(self.key);
        }
        self.waker.wake_loop();
    }
}

/// Makes the machine of an accepted connection: the driver's clock and the
/// connection's wake in, a machine out (None refuses the connection).
pub(crate) type MakeEndpoint<M> = Box<dyn FnMut(Instant, Arc<dyn Wake>) -> Option<M> + Send>;

struct Accept<M> {
    listener: TcpListener,
    max_connections: usize,
    make: MakeEndpoint<M>,
}

/// One connection: its socket, its machine, and the bytes between them.
struct Link<M> {
    stream: TcpStream,
    machine: M,
    /// Bytes produced but not yet accepted by the socket: `unsent[pos..]`.
    unsent: Vec<u8>,
    unsent_pos: usize,
    writable_interest: bool,
    /// The last turn stopped reading at [`READ_SLICE`] with the socket
    /// still readable; edge-triggered polling will not say so again.
    more_to_read: bool,
    /// This turn's readiness said the peer closed its side or the socket
    /// failed: read until the end or the error, however short the reads.
    read_closed: bool,
    last_activity: Instant,
    /// Why the connection failed or ended, once it has.
    failure: Option<String>,
    /// The socket is done (end of stream, an I/O error): no more reads or writes.
    dead: bool,
    keepalive: Option<Keepalive>,
    /// A PING should go out at the next frame boundary.
    ping_due: bool,
    /// When the last PING went out, while it is unanswered.
    ping_sent: Option<Instant>,
    /// The peer has sent at least one byte.
    heard: bool,
}

/// See the module documentation.
pub(crate) struct Driver<M> {
    poll: Poll,
    events: Events,
    pub(crate) clock: Clock,
    links: Vec<Option<Link<M>>>,
    accept: Option<Accept<M>>,
    waker: Option<Arc<LoopWaker>>,
    idle_timeout: Option<Duration>,
    /// Shared by every connection of the driver: reads land here, and
    /// frames are produced here before they are written.
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    /// Connections to write for at the end of this turn.
    touched: Vec<Key>,
    /// Connections found readable this turn (kept between turns: a turn
    /// allocates nothing).
    readable: Vec<Key>,
    /// Connections the application reached between turns.
    dirty: Vec<Key>,
}

impl<M: Endpoint> Driver<M> {
    /// A driver with no connection yet.
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Driver {
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            clock: Clock::new(),
            links: Vec::new(),
            accept: None,
            waker: None,
            idle_timeout: None,
            read_buf: vec![0; IO_CHUNK],
            write_buf: vec![0; IO_CHUNK],
            touched: Vec::new(),
            readable: Vec::new(),
            dirty: Vec::new(),
        })
    }

    /// The driver's clock.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// A waker for answers from other threads (made on first call).
    pub(crate) fn waker(&mut self) -> io::Result<Arc<LoopWaker>> {
        if let Some(w) = &self.waker {
            return Ok(w.clone());
        }
        let waker = Arc::new(LoopWaker {
            waker: Waker::new(self.poll.registry(), WAKER)?,
            woken: Mutex::new(Vec::new()),
        });
        self.waker = Some(waker.clone());
        Ok(waker)
    }

    /// Accepts connections from `listener`, at most `max_connections` at
    /// once (more are closed at once), each with a machine from `make`.
    /// Connections that finish or fail are forgotten.
    pub(crate) fn listen(
        &mut self,
        mut listener: TcpListener,
        max_connections: usize,
        make: MakeEndpoint<M>,
    ) -> io::Result<()> {
        self.poll
            .registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        self.waker()?;
        self.accept = Some(Accept {
            listener,
            max_connections,
            make,
        });
        Ok(())
    }

    /// Closes connections with no call in progress and no bytes for `timeout`.
    pub(crate) fn set_idle_timeout(&mut self, timeout: Duration) {
        self.idle_timeout = Some(timeout);
    }

    /// Connects to `addr` within `timeout` and drives `make`'s machine over it.
    pub(crate) fn connect(
        &mut self,
        addr: SocketAddr,
        timeout: Duration,
        make: impl FnOnce(Instant) -> io::Result<M>,
    ) -> io::Result<Key> {
        let stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let machine = make(self.now())?;
        self.add(TcpStream::from_std(stream), machine)
    }

    fn add(&mut self, mut stream: TcpStream, machine: M) -> io::Result<Key> {
        let slot = match self.links.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.links.push(None);
                self.links.len() - 1
            }
        };
        let key = slot + FIRST;
        self.poll
            .registry()
            .register(&mut stream, Token(key), Interest::READABLE)?;
        self.links[slot] = Some(Link {
            stream,
            machine,
            unsent: Vec::new(),
            unsent_pos: 0,
            writable_interest: false,
            more_to_read: false,
            read_closed: false,
            last_activity: self.clock.now(),
            failure: None,
            dead: false,
            keepalive: None,
            ping_due: false,
            ping_sent: None,
            heard: false,
        });
        // A machine may speak first (an HTTP/2 server's SETTINGS, a ZMTP
        // greeting): write it on the next turn.
        self.dirty.push(key);
        Ok(key)
    }

    fn link(&self, key: Key) -> Option<&Link<M>> {
        self.links.get(key.checked_sub(FIRST)?)?.as_ref()
    }

    fn link_mut(&mut self, key: Key) -> Option<&mut Link<M>> {
        self.links.get_mut(key.checked_sub(FIRST)?)?.as_mut()
    }

    /// The machine of `key`.
    pub(crate) fn machine(&self, key: Key) -> Option<&M> {
        self.link(key).map(|l| &l.machine)
    }

    /// The machine of `key`, to act on; what it then has to send goes out
    /// on the next turn.
    pub(crate) fn machine_mut(&mut self, key: Key) -> Option<&mut M> {
        self.dirty.push(key);
        self.link_mut(key).map(|l| &mut l.machine)
    }

    /// Whether bytes of `key` wait for its socket to take them (the
    /// machine's own queue aside): a writer that wants to add more should
    /// wait for the socket first.
    pub(crate) fn write_blocked(&self, key: Key) -> bool {
        self.link(key)
            .is_some_and(|l| l.unsent_pos < l.unsent.len())
    }

    /// The socket of `key`, to set options on.
    pub(crate) fn socket(&self, key: Key) -> Option<socket2::SockRef<'_>> {
        self.link(key).map(|l| socket2::SockRef::from(&l.stream))
    }

    /// Turns PING keepalive on for `key` (None: off).
    pub(crate) fn set_keepalive(&mut self, key: Key, keepalive: Option<Keepalive>) {
        if let Some(link) = self.link_mut(key) {
            link.keepalive = keepalive;
        }
    }

    /// Sends a PING on `key` at the next frame boundary (the next turn);
    /// [`last_activity`](Self::last_activity) moves when anything comes back.
    pub(crate) fn ping(&mut self, key: Key) {
        if let Some(link) = self.link_mut(key) {
            link.ping_due = true;
            self.dirty.push(key);
        }
    }

    /// Whether the peer of `key` has sent anything yet.
    pub(crate) fn heard_from(&self, key: Key) -> bool {
        self.link(key).is_some_and(|l| l.heard)
    }

    /// When the peer of `key` last sent a byte.
    pub(crate) fn last_activity(&self, key: Key) -> Option<Instant> {
        self.link(key).map(|l| l.last_activity)
    }

    /// Fails the connection of `key` with `why`: the socket is shut down and
    /// no more bytes go either way.
    pub(crate) fn fail(&mut self, key: Key, why: &str) {
        if let Some(link) = self.link_mut(key) {
            if !link.dead {
                link.failure.get_or_insert_with(|| why.to_string());
                link.dead = true;
                let _ = link.stream.shutdown(std::net::Shutdown::Both);
            }
        }
        self.bury(key);
    }

    /// Why the connection of `key` failed or ended, once it has (a connection
    /// that is gone is reported as closed).
    pub(crate) fn closed(&self, key: Key) -> Option<&str> {
        match self.link(key) {
            Some(link) => link.failure.as_deref(),
            None => Some("the connection is closed"),
        }
    }

    /// Takes each event of the connections touched in the last turn.
    pub(crate) fn drain_events(&mut self, mut f: impl FnMut(Key, M::Event)) {
        for i in 0..self.touched.len() {
            let key = self.touched[i];
            if let Some(link) = self.link_mut(key) {
                while let Some(event) = link.machine.poll_event() {
                    f(key, event);
                }
            }
        }
    }

    /// One turn (see the module documentation), waiting no later than
    /// `until` when given. Fails only when polling fails; a connection's
    /// failure is reported by [`closed`](Self::closed).
    pub(crate) fn turn(&mut self, until: Option<Instant>) -> io::Result<()> {
        let mut dirty = core::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for &key in &dirty {
            self.flush(key);
        }
        dirty.clear();
        self.dirty = dirty;

        let timeout = self.next_timeout(until);
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != ErrorKind::Interrupted {
                return Err(e);
            }
        }
        self.touched.clear();
        let mut accept = false;
        let mut readable = core::mem::take(&mut self.readable);
        readable.clear();
        for event in self.events.iter() {
            match event.token() {
                LISTENER => accept = true,
                WAKER => {}
                Token(key) => {
                    self.touched.push(key);
                    let closed = event.is_read_closed() || event.is_error();
                    if event.is_readable() || closed {
                        readable.push(key);
                    }
                    if let Some(link) = self
                        .links
                        .get_mut(key.wrapping_sub(FIRST))
                        .and_then(Option::as_mut)
                    {
                        link.read_closed |= closed;
                    }
                }
            }
        }
        if let Some(waker) = &self.waker {
            if let Ok(mut woken) = waker.woken.lock() {
                self.touched.append(&mut woken);
            }
        }
        if accept {
            self.accept();
        }
        for &key in &readable {
            self.read(key);
        }
        self.readable = readable;
        self.read_leftovers();
        self.run_timers();
        self.touched.sort_unstable();
        self.touched.dedup();
        for i in 0..self.touched.len() {
            self.flush(self.touched[i]);
        }
        Ok(())
    }

    /// Turns until `f` finds what it waits for in the machine of `key`, the
    /// connection fails (why, as text), or `until` passes (`Ok(None)`).
    /// The blocking mode of a worker thread that owns its connection.
    pub(crate) fn drive_until<T>(
        &mut self,
        key: Key,
        until: Instant,
        mut f: impl FnMut(&mut M) -> Option<T>,
    ) -> Result<Option<T>, String> {
        loop {
            let Some(link) = self.link_mut(key) else {
                return Err("the connection is closed".into());
            };
            if let Some(found) = f(&mut link.machine) {
                return Ok(Some(found));
            }
            if let Some(why) = &link.failure {
                return Err(why.clone());
            }
            if self.now() >= until {
                return Ok(None);
            }
            self.dirty.push(key);
            self.turn(Some(until)).map_err(|e| e.to_string())?;
        }
    }

    fn next_timeout(&self, until: Option<Instant>) -> Option<Duration> {
        let live = self.links.iter().flatten().filter(|l| !l.dead);
        if live.clone().any(|l| l.more_to_read) {
            return Some(Duration::ZERO);
        }
        let core = live
            .clone()
            .filter_map(|l| l.machine.poll_timeout())
            .chain(live.clone().filter_map(keepalive_at))
            .chain(until)
            .min()
            .map(|at| self.clock.until(at));
        let idle = (self.idle_timeout.is_some() && live.count() > 0).then_some(IDLE_CHECK);
        match (core, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn accept(&mut self) {
        loop {
            let Some(accept) = &mut self.accept else {
                return;
            };
            let (stream, peer) = match accept.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return;
                }
            };
            let live = self.links.iter().flatten().count();
            if live >= accept.max_connections {
                log::warn!("refusing {peer}: {live} connections open");
                continue; // dropping the stream closes it
            }
            let _ = stream.set_nodelay(true);
            let key = self
                .links
                .iter()
                .position(Option::is_none)
                .unwrap_or(self.links.len())
                + FIRST;
            let Some(waker) = self.waker.clone() else {
                return;
            };
            let wake: Arc<dyn Wake> = Arc::new(ConnWake { waker, key });
            let now = self.clock.now();
            let Some(accept) = &mut self.accept else {
                return;
            };
            let Some(machine) = (accept.make)(now, wake) else {
                continue;
            };
            match self.add(stream, machine) {
                Ok(key) => {
                    log::debug!("accepted {peer}");
                    self.touched.push(key);
                }
                Err(e) => log::warn!("register failed: {e}"),
            }
        }
    }

    /// Reads at most [`READ_SLICE`] bytes from one connection.
    fn read(&mut self, key: Key) {
        let now = self.clock.now();
        let Some(link) = self
            .links
            .get_mut(key.wrapping_sub(FIRST))
            .and_then(Option::as_mut)
        else {
            return;
        };
        if link.dead {
            return;
        }
        link.more_to_read = false;
        let mut budget = READ_SLICE;
        loop {
            if budget == 0 {
                link.more_to_read = true;
                return;
            }
            let len = self.read_buf.len().min(budget);
            match link.stream.read(&mut self.read_buf[..len]) {
                Ok(0) => {
                    link.machine.transport_closed();
                    let why = match link.machine.failure() {
                        Some(why) => std::format!("the peer closed the connection ({why})"),
                        None => "the peer closed the connection".into(),
                    };
                    link.failure.get_or_insert(why);
                    link.dead = true;
                    break;
                }
                Ok(n) => {
                    budget -= n;
                    link.last_activity = now;
                    link.heard = true;
                    if let Err(e) = link.machine.recv(&self.read_buf[..n], now) {
                        log::debug!("connection error: {e}");
                        link.failure.get_or_insert_with(|| e.to_string());
                    }
                    // A read that did not fill the buffer took all the socket
                    // had: edge-triggered epoll reports the next bytes as a
                    // new event, so the read that would only say WouldBlock
                    // is saved (one system call per readable event). Not
                    // when the peer's close was reported: its end of stream
                    // comes with no further event.
                    if SHORT_READ_DRAINS && n < len && !link.read_closed {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    link.read_closed = false;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    link.machine.transport_closed();
                    link.failure.get_or_insert_with(|| e.to_string());
                    link.dead = true;
                    break;
                }
            }
        }
        self.bury(key);
    }

    /// Gives the connections that were cut off at their slice another turn.
    fn read_leftovers(&mut self) {
        for slot in 0..self.links.len() {
            let key = slot + FIRST;
            let pending = matches!(&self.links[slot], Some(l) if l.more_to_read && !l.dead);
            if pending && !self.touched.contains(&key) {
                self.touched.push(key);
                self.read(key);
            }
        }
    }

    fn run_timers(&mut self) {
        let now = self.clock.now();
        let idle_timeout = self.idle_timeout;
        for (slot, link) in self.links.iter_mut().enumerate() {
            let Some(link) = link else { continue };
            if link.machine.poll_timeout().is_some_and(|at| at <= now) {
                link.machine.handle_timeout(now);
                self.touched.push(slot + FIRST);
            }
            let idle = idle_timeout.is_some_and(|t| {
                link.machine.is_idle() && now.saturating_duration_since(link.last_activity) >= t
            });
            if idle && !link.machine.is_finished() {
                link.machine.close();
                self.touched.push(slot + FIRST);
            }
            if link.dead {
                continue;
            }
            if let Some(k) = link.keepalive {
                let unanswered = link.ping_sent.filter(|&at| link.last_activity < at);
                if let Some(sent) = unanswered {
                    if now.saturating_duration_since(sent) >= k.timeout {
                        let ms = k.timeout.as_millis();
                        link.failure.get_or_insert_with(|| {
                            std::format!("no answer to a keepalive PING within {ms} ms")
                        });
                        link.dead = true;
                        let _ = link.stream.shutdown(std::net::Shutdown::Both);
                        self.touched.push(slot + FIRST);
                    }
                } else if now.saturating_duration_since(link.last_activity) >= k.interval
                    && !link.ping_due
                {
                    link.ping_due = true;
                    self.touched.push(slot + FIRST);
                }
            }
        }
    }

    /// Writes everything the machine of `key` has, as far as the socket
    /// takes it; closes the connection when it is finished or broken.
    fn flush(&mut self, key: Key) {
        let Some(link) = self
            .links
            .get_mut(key.wrapping_sub(FIRST))
            .and_then(Option::as_mut)
        else {
            return;
        };
        if !link.dead {
            let at_boundary =
                link.unsent_pos == link.unsent.len() && link.machine.at_frame_boundary();
            if link.ping_due && at_boundary {
                link.ping_due = false;
                link.ping_sent = Some(self.clock.now());
                let frame = ping_frame(self.clock.now());
                if !link.machine.write_frame(&frame) {
                    link.unsent.clear();
                    link.unsent_pos = 0;
                    link.unsent.extend_from_slice(&frame);
                }
            }
            if let Err(e) = write_out(link, &mut self.write_buf) {
                link.failure.get_or_insert_with(|| e.to_string());
                link.dead = true;
            }
        }
        if !link.dead {
            let pending = link.unsent_pos < link.unsent.len();
            if pending != link.writable_interest {
                let interest = if pending {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                match self
                    .poll
                    .registry()
                    .reregister(&mut link.stream, Token(key), interest)
                {
                    Ok(()) => link.writable_interest = pending,
                    Err(e) => {
                        link.failure.get_or_insert_with(|| e.to_string());
                        link.dead = true;
                    }
                }
            }
            // A finished connection closes once its last bytes (GOAWAY) are out.
            if link.machine.is_finished() && !pending {
                let why = link.machine.failure();
                link.failure.get_or_insert_with(|| {
                    why.unwrap_or_else(|| "the connection is finished".into())
                });
                link.dead = true;
            }
        }
        self.bury(key);
    }

    /// Deregisters a dead connection; a listening driver also forgets it.
    fn bury(&mut self, key: Key) {
        let listening = self.accept.is_some();
        let Some(entry) = self.links.get_mut(key.wrapping_sub(FIRST)) else {
            return;
        };
        if !entry.as_ref().is_some_and(|l| l.dead) {
            return;
        }
        if listening {
            if let Some(mut link) = entry.take() {
                let _ = self.poll.registry().deregister(&mut link.stream);
            }
        } else if let Some(link) = entry {
            let _ = self.poll.registry().deregister(&mut link.stream);
            link.more_to_read = false;
        }
    }
}

/// When the keepalive of `link` next needs a turn: the end of an unanswered
/// PING's wait, or the end of the silence that sends one.
fn keepalive_at<M>(link: &Link<M>) -> Option<Instant> {
    let k = link.keepalive?;
    match link.ping_sent.filter(|&at| link.last_activity < at) {
        Some(sent) => Some(sent + k.timeout),
        None if link.ping_due => None,
        None => Some(link.last_activity + k.interval),
    }
}

/// An HTTP/2 PING frame (RFC 9113 §6.7) carrying the send time. The
/// peer's ACK needs no matching: any byte from the peer shows it is alive,
/// and the HTTP/2 connection ignores PING ACKs.
fn ping_frame(now: Instant) -> [u8; 17] {
    let mut frame = [0u8; 17];
    let ping = crate::h2::frame::Ping {
        ack: false,
        data: now.as_micros().to_be_bytes(),
    };
    let n = ping.emit(&mut frame).unwrap_or(0);
    debug_assert_eq!(n, frame.len());
    frame
}

/// Writes what the socket refused last time, then what the machine has.
fn write_out<M: Endpoint>(link: &mut Link<M>, buf: &mut [u8]) -> io::Result<()> {
    while link.unsent_pos < link.unsent.len() {
        match link.stream.write(&link.unsent[link.unsent_pos..]) {
            Ok(n) => link.unsent_pos += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    link.unsent.clear();
    link.unsent_pos = 0;
    loop {
        let n = link.machine.transmit(buf);
        if n == 0 {
            return Ok(());
        }
        let mut done = 0;
        while done < n {
            match link.stream.write(&buf[done..n]) {
                Ok(w) => done += w,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // Keep only what the socket would not take.
                    link.unsent.extend_from_slice(&buf[done..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Endpoint for crate::arkouda::service::ArkoudaService {
    fn is_finished(&self) -> bool {
        self.is_closed()
    }
    fn is_idle(&self) -> bool {
        self.active_calls() == 0
    }
    fn close(&mut self) {
        crate::arkouda::service::ArkoudaService::close(self)
    }
}

impl<S: crate::h2::conn::Storage> Endpoint for crate::grpc::Client<S> {}

impl<S: crate::h2::conn::Storage, const OPS: usize> Endpoint for crate::arkouda::Channel<S, OPS> {
    fn at_frame_boundary(&self) -> bool {
        // The HTTP/2 connection writes whole frames per transmit and keeps
        // a header block's CONTINUATION frames queued (wanting to transmit)
        // until they are out.
        !self.wants_transmit()
    }
}

impl<B: crate::buf::Buffer + Default> Endpoint for crate::zmtp::ReqConnection<B> {}
