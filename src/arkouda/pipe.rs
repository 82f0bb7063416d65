//! A bounded byte pipe between the thread that drives a client's connection
//! and the worker that talks to arkouda_server, so a payload of gigabytes
//! passes through the proxy in chunks: at most the pipe's capacity waits in
//! it, and a full pipe holds the writer back (the client's HTTP/2 window is
//! not given back; the upstream socket is not read).
//!
//! Each side may be a thread blocked in a socket poll rather than on the
//! pipe, so each registers a [`Wake`] the other side calls when it makes
//! progress (data for the reader, room for the writer, an end for both).
//!
//! A pipe has no room until its reader attaches ([`Pipe::attach_reader`]):
//! a payload waiting for a worker stays in the client's HTTP/2 window (and
//! its connection's budgets), so the bytes held in pipes are bounded by the
//! workers reading them, not by the transfers queued.

use std::collections::VecDeque;
use std::string::String;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;
use std::vec::Vec;

use super::service::Wake;
use crate::grpc::Code;

/// Chunks kept for reuse, so a long transfer does not allocate per chunk.
const SPARE_CHUNKS: usize = 4;

/// Why a transfer ended before its last byte: the status the call ends with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aborted {
    /// The gRPC status of the call.
    pub code: Code,
    /// What happened, for the client.
    pub message: String,
}

/// What [`Pipe::pop`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Popped {
    /// The next bytes.
    Chunk(Vec<u8>),
    /// Nothing waits now; more is coming.
    Empty,
    /// The writer finished and everything was read.
    End,
    /// The transfer was abandoned (by either side).
    Aborted(Aborted),
}

#[derive(Default)]
struct State {
    chunks: VecDeque<Vec<u8>>,
    queued: usize,
    finished: bool,
    aborted: Option<Aborted>,
    reader_attached: bool,
    spare: Vec<Vec<u8>>,
    reader_wake: Option<Arc<dyn Wake>>,
    writer_wake: Option<Arc<dyn Wake>>,
}

/// See the module documentation.
pub struct Pipe {
    state: Mutex<State>,
    changed: Condvar,
    capacity: usize,
}

impl core::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pipe")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Pipe {
    /// A pipe holding at most `capacity` bytes (at least one byte).
    pub fn new(capacity: usize) -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            capacity: capacity.max(1),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation leaves the state whole: a panic elsewhere while
        // the lock was held cannot have left it half-done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most bytes that may wait in the pipe.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Called when bytes or the end become available to read.
    pub fn set_reader_wake(&self, wake: Arc<dyn Wake>) {
        self.lock().reader_wake = Some(wake);
    }

    /// The reader is ready to take bytes (woken by `wake` when they come):
    /// from now on the writer has room, and is told so.
    pub fn attach_reader(&self, wake: Option<Arc<dyn Wake>>) {
        let writer = {
            let mut state = self.lock();
            state.reader_attached = true;
            if wake.is_some() {
                state.reader_wake = wake;
            }
            state.writer_wake.clone()
        };
        self.changed.notify_all();
        if let Some(w) = writer {
            w.wake();
        }
    }

    /// Called when room opens for the writer, or the reader abandons the transfer.
    pub fn set_writer_wake(&self, wake: Arc<dyn Wake>) {
        self.lock().writer_wake = Some(wake);
    }

    /// Bytes the writer may add now (0 before the reader attached, and
    /// once the transfer ended).
    pub fn room(&self) -> usize {
        let state = self.lock();
        if state.aborted.is_some() || state.finished || !state.reader_attached {
            return 0;
        }
        self.capacity.saturating_sub(state.queued)
    }

    /// Bytes waiting to be read.
    pub fn queued(&self) -> usize {
        self.lock().queued
    }

    /// An empty chunk with room, reused from one already read when there is one.
    pub fn chunk(&self) -> Vec<u8> {
        self.lock().spare.pop().unwrap_or_default()
    }

    /// Gives a chunk back for reuse once its bytes were read.
    pub fn recycle(&self, mut chunk: Vec<u8>) {
        chunk.clear();
        let mut state = self.lock();
        if state.spare.len() < SPARE_CHUNKS {
            state.spare.push(chunk);
        }
    }

    /// Adds `chunk` (the writer checked [`room`](Self::room)); fails once
    /// the transfer was abandoned, with why.
    pub fn push(&self, chunk: Vec<u8>) -> Result<(), Aborted> {
        let wake = {
            let mut state = self.lock();
            if let Some(why) = &state.aborted {
                return Err(why.clone());
            }
            if chunk.is_empty() {
                return Ok(());
            }
            state.queued += chunk.len();
            state.chunks.push_back(chunk);
            state.reader_wake.clone()
        };
        self.changed.notify_all();
        if let Some(w) = wake {
            w.wake();
        }
        Ok(())
    }

    /// Waits until the pipe has room (or the transfer ended, or `deadline`
    /// passed: then why); the blocking writer's half of [`push`](Self::push).
    pub fn wait_room(&self, deadline: Instant) -> Result<(), Aborted> {
        let mut state = self.lock();
        loop {
            if let Some(why) = &state.aborted {
                return Err(why.clone());
            }
            if state.queued < self.capacity && state.reader_attached {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Aborted {
                    code: Code::DeadlineExceeded,
                    message: "the deadline passed while the client was still reading".into(),
                });
            }
            // Looked at again at least every 50 ms, whatever wakes it.
            let wait = (deadline - now).min(std::time::Duration::from_millis(50));
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The writer wrote its last byte.
    pub fn finish(&self) {
        let wake = {
            let mut state = self.lock();
            state.finished = true;
            state.reader_wake.clone()
        };
        self.changed.notify_all();
        if let Some(w) = wake {
            w.wake();
        }
    }

    /// Abandons the transfer (either side): both are told, waiting bytes
    /// are dropped at once. The first reason given stays.
    pub fn abort(&self, code: Code, message: &str) {
        let wakes = {
            let mut state = self.lock();
            if state.aborted.is_none() {
                state.aborted = Some(Aborted {
                    code,
                    message: message.into(),
                });
            }
            state.chunks.clear();
            state.spare.clear();
            state.queued = 0;
            [state.reader_wake.take(), state.writer_wake.take()]
        };
        self.changed.notify_all();
        for w in wakes.into_iter().flatten() {
            w.wake();
        }
    }

    /// Why the transfer was abandoned, if it was.
    pub fn aborted(&self) -> Option<Aborted> {
        self.lock().aborted.clone()
    }

    /// The next chunk, without waiting; the writer is told of the room.
    pub fn pop(&self) -> Popped {
        let (popped, wake) = {
            let mut state = self.lock();
            if let Some(why) = &state.aborted {
                return Popped::Aborted(why.clone());
            }
            match state.chunks.pop_front() {
                Some(chunk) => {
                    state.queued -= chunk.len();
                    (Popped::Chunk(chunk), state.writer_wake.clone())
                }
                None if state.finished => return Popped::End,
                None => return Popped::Empty,
            }
        };
        self.changed.notify_all();
        if let Some(w) = wake {
            w.wake();
        }
        popped
    }
}

/// The payload of a request still arriving from the client: `len` bytes,
/// through `pipe` (the service writes, the backend reads).
#[derive(Clone, Debug)]
pub struct Upload {
    /// Where the bytes come through.
    pub pipe: Arc<Pipe>,
    /// How many bytes the payload has, as the request announced.
    pub len: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use std::vec;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn bytes_pass_in_order_and_room_is_bounded() {
        let pipe = Pipe::new(10);
        assert_eq!(pipe.room(), 0, "no room before the reader attaches");
        pipe.attach_reader(None);
        assert_eq!(pipe.room(), 10);
        pipe.push(b"hello".to_vec()).unwrap();
        pipe.push(b"world".to_vec()).unwrap();
        assert_eq!(pipe.room(), 0);
        assert_eq!(pipe.pop(), Popped::Chunk(b"hello".to_vec()));
        assert_eq!(pipe.room(), 5);
        pipe.finish();
        assert_eq!(pipe.room(), 0, "nothing more may be written after the end");
        assert_eq!(pipe.pop(), Popped::Chunk(b"world".to_vec()));
        assert_eq!(pipe.pop(), Popped::End);
    }

    #[test]
    fn each_side_is_woken_by_the_other() {
        let pipe = Pipe::new(4);
        let (reader, writer) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        pipe.set_writer_wake(writer.clone());
        pipe.attach_reader(Some(reader.clone()));
        assert_eq!(writer.0.load(Ordering::SeqCst), 1, "told of the room");
        writer.0.store(0, Ordering::SeqCst);
        pipe.push(vec![1, 2]).unwrap();
        assert_eq!(reader.0.load(Ordering::SeqCst), 1);
        assert_eq!(pipe.pop(), Popped::Chunk(vec![1, 2]));
        assert_eq!(writer.0.load(Ordering::SeqCst), 1);
        assert_eq!(pipe.pop(), Popped::Empty);
        assert_eq!(writer.0.load(Ordering::SeqCst), 1, "no room was made");
        pipe.abort(Code::Cancelled, "gone");
        assert_eq!(reader.0.load(Ordering::SeqCst), 2);
        assert_eq!(writer.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_abort_drops_what_waits_and_tells_both_sides_the_first_reason() {
        let pipe = Pipe::new(100);
        pipe.push(vec![0; 50]).unwrap();
        pipe.abort(Code::Unavailable, "upstream died");
        pipe.abort(Code::Cancelled, "later reason");
        assert_eq!(pipe.queued(), 0);
        let why = pipe.push(vec![1]).unwrap_err();
        assert_eq!(why.code, Code::Unavailable);
        assert_eq!(
            pipe.pop(),
            Popped::Aborted(Aborted {
                code: Code::Unavailable,
                message: "upstream died".into()
            })
        );
    }

    #[test]
    fn a_blocked_writer_resumes_when_the_reader_takes_and_gives_up_at_its_deadline() {
        let pipe = Pipe::new(4);
        pipe.attach_reader(None);
        pipe.push(vec![0; 4]).unwrap();
        let reader = pipe.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            reader.pop()
        });
        let waited = Instant::now();
        pipe.wait_room(Instant::now() + Duration::from_secs(10))
            .unwrap();
        assert!(waited.elapsed() < Duration::from_secs(5));
        assert_eq!(t.join().unwrap(), Popped::Chunk(vec![0; 4]));
        pipe.push(vec![0; 4]).unwrap();
        let why = pipe
            .wait_room(Instant::now() + Duration::from_millis(10))
            .unwrap_err();
        assert_eq!(why.code, Code::DeadlineExceeded);
    }

    #[test]
    fn chunks_are_reused_up_to_a_few() {
        let pipe = Pipe::new(1 << 20);
        for _ in 0..10 {
            pipe.recycle(Vec::with_capacity(1024));
        }
        let mut reused = 0;
        while pipe.chunk().capacity() == 1024 {
            reused += 1;
        }
        assert_eq!(reused, SPARE_CHUNKS);
    }
}
