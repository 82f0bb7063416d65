//! Two machines wired back to back in memory, with a fake clock: the harness
//! the h2, gRPC, Arkouda and ZMTP tests share. No sockets and no sleeps, so
//! a test of a 30-second deadline runs in microseconds and always the same.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::{SansIo, EXCHANGE_CHUNK};
use crate::time::Instant;

/// Bytes on their way, delivered at `at`.
struct InFlight {
    at: Instant,
    bytes: Vec<u8>,
}

/// Two [`SansIo`] machines, `a` and `b`, joined by an in-memory link with
/// a one-way `latency`, delivering reads of at most `chunk` bytes.
///
/// ```
/// use arkwire::grpc::{Client, ClientEvent, Code, Options, Server};
/// use arkwire::h2::conn::GrowableStorage;
/// use arkwire::sans_io::{Pair, SansIo};
/// use arkwire::time::Instant;
/// use core::time::Duration;
///
/// const PATH: &str = "/arkouda.Arkouda/HandleRequest";
/// let t0 = Instant::from_millis(0);
/// let client = Client::<GrowableStorage>::new("localhost", Options::default(), t0).unwrap();
/// let server = Server::<GrowableStorage>::new(PATH, Options::default(), t0).unwrap();
/// let mut pair = Pair::new(client, server, t0).with_latency(Duration::from_millis(20));
/// let timeout = Some(Duration::from_millis(100));
/// let call = pair.a.start_call(PATH, b"slow", &[], timeout, t0).unwrap();
/// // Nobody answers: one simulated second passes in an instant.
/// pair.advance(Duration::from_secs(1));
/// assert_eq!(pair.a.poll_event(), Some(ClientEvent::Complete(call)));
/// assert_eq!(pair.a.response(call).unwrap_err().code, Code::DeadlineExceeded);
/// ```
pub struct Pair<A, B> {
    /// The first machine (usually the client).
    pub a: A,
    /// The second machine (usually the server).
    pub b: B,
    now: Instant,
    latency: Duration,
    chunk: usize,
    to_b: VecDeque<InFlight>,
    to_a: VecDeque<InFlight>,
}

impl<A: SansIo, B: SansIo> Pair<A, B> {
    /// Joins `a` and `b` at time `now`, with no latency and whole reads.
    pub fn new(a: A, b: B, now: Instant) -> Self {
        Pair {
            a,
            b,
            now,
            latency: Duration::ZERO,
            chunk: usize::MAX,
            to_b: VecDeque::new(),
            to_a: VecDeque::new(),
        }
    }

    /// Each byte takes `latency` to reach the other side.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Reads deliver at most `chunk` bytes (at least 1), as a socket may.
    pub fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    /// The fake clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Drops everything in flight both ways, as a link that goes dead would.
    pub fn lose_in_flight(&mut self) {
        self.to_a.clear();
        self.to_b.clear();
    }

    /// At the current instant: sends what each side has, delivers what has
    /// arrived and runs due timers, until nothing more happens now.
    pub fn drive(&mut self) {
        let mut buf = vec![0u8; EXCHANGE_CHUNK.max(64 * 1024)];
        for _ in 0..1_000_000 {
            let mut busy = false;
            let at = self.now + self.latency;
            loop {
                let n = self.a.transmit(&mut buf);
                if n == 0 {
                    break;
                }
                busy = true;
                self.to_b.push_back(InFlight {
                    at,
                    bytes: buf[..n].to_vec(),
                });
            }
            loop {
                let n = self.b.transmit(&mut buf);
                if n == 0 {
                    break;
                }
                busy = true;
                self.to_a.push_back(InFlight {
                    at,
                    bytes: buf[..n].to_vec(),
                });
            }
            busy |= deliver(&mut self.to_b, &mut self.b, self.now, self.chunk);
            busy |= deliver(&mut self.to_a, &mut self.a, self.now, self.chunk);
            if self.a.poll_timeout().is_some_and(|t| t <= self.now) {
                self.a.handle_timeout(self.now);
                busy = true;
            }
            if self.b.poll_timeout().is_some_and(|t| t <= self.now) {
                self.b.handle_timeout(self.now);
                busy = true;
            }
            if !busy {
                return;
            }
        }
    }

    /// The next instant something is due: an arrival or a timer.
    pub fn next_due(&self) -> Option<Instant> {
        [
            self.to_a.front().map(|f| f.at),
            self.to_b.front().map(|f| f.at),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the clock forward to `until`, stopping at every instant something
    /// is due on the way.
    ///
    /// # Panics
    /// When a machine keeps asking for a timeout that has passed and that
    /// its `handle_timeout` does not clear: the contract says it must move
    /// on, and a driver would otherwise spin on it.
    pub fn advance_to(&mut self, until: Instant) {
        self.drive();
        let mut stuck = 0;
        while let Some(next) = self.next_due().filter(|&t| t <= until) {
            stuck = if next <= self.now { stuck + 1 } else { 0 };
            assert!(
                stuck < 1_000,
                "a machine asks for a timeout at {next:?} (now {:?}) that handle_timeout never clears",
                self.now
            );
            self.now = self.now.max(next);
            self.drive();
        }
        self.now = self.now.max(until);
        self.drive();
    }

    /// Runs the clock forward by `by`.
    pub fn advance(&mut self, by: Duration) {
        self.advance_to(self.now + by);
    }
}

/// Delivers what has arrived by `now` to `to`, in reads of at most `chunk`.
fn deliver<M: SansIo>(
    queue: &mut VecDeque<InFlight>,
    to: &mut M,
    now: Instant,
    chunk: usize,
) -> bool {
    let mut delivered = false;
    while queue.front().is_some_and(|f| f.at <= now) {
        let Some(flight) = queue.pop_front() else {
            break;
        };
        for piece in flight.bytes.chunks(chunk) {
            let _ = to.recv(piece, now);
        }
        delivered = true;
    }
    delivered
}
