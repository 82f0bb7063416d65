//! A server's lifecycle as its connections see it: serving, draining (no
//! new calls; the ones in progress finish), then past the grace (what is
//! still in progress is cancelled with UNAVAILABLE).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::vec::Vec;

use super::Wake;

const SERVING: u8 = 0;
const DRAINING: u8 = 1;
const EXPIRED: u8 = 2;

/// Shared by a server and every connection it serves: whoever starts the
/// drain (a signal handler, a test) calls [`start`](Drain::start), each
/// connection notices on its next transmit (its driver is woken for it) and
/// sends GOAWAY; [`expire`](Drain::expire) ends the grace.
#[derive(Debug, Default)]
pub struct Drain {
    phase: AtomicU8,
    /// The wakes of the connections, to make each driver transmit.
    wakes: Mutex<Vec<Weak<dyn Wake>>>,
    /// Connections alive.
    live: AtomicUsize,
}

impl Drain {
    /// Serving, with no connection yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the drain: every connection sends GOAWAY with the last stream
    /// it accepted and takes no new call. Calling it again does nothing.
    pub fn start(&self) {
        if self
            .phase
            .compare_exchange(SERVING, DRAINING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.wake_all();
        }
    }

    /// Ends the grace: every call still in progress is answered UNAVAILABLE.
    /// Starts the drain first when it had not started.
    pub fn expire(&self) {
        if self.phase.swap(EXPIRED, Ordering::SeqCst) != EXPIRED {
            self.wake_all();
        }
    }

    /// Whether the drain has started.
    pub fn is_draining(&self) -> bool {
        self.phase.load(Ordering::SeqCst) != SERVING
    }

    /// Whether the grace is over.
    pub fn is_expired(&self) -> bool {
        self.phase.load(Ordering::SeqCst) == EXPIRED
    }

    /// Connections alive (made and not yet dropped).
    pub fn connections(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    pub(super) fn joined(&self) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn left(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }

    /// Remembers a connection's wake (weakly: the connection owns it).
    pub(super) fn register(&self, wake: &Arc<dyn Wake>) {
        if let Ok(mut wakes) = self.wakes.lock() {
            // Forget the wakes of connections that are gone before the
            // list doubles, so it stays within twice the live connections.
            if wakes.len() >= 64 && wakes.len() == wakes.capacity() {
                wakes.retain(|w| w.strong_count() > 0);
            }
            wakes.push(Arc::downgrade(wake));
        }
    }

    fn wake_all(&self) {
        let wakes: Vec<Arc<dyn Wake>> = match self.wakes.lock() {
            Ok(wakes) => wakes.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => return,
        };
        for w in wakes {
            w.wake();
        }
    }
}
