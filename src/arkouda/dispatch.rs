//! The one dispatcher in front of a backend: worker threads that take jobs
//! from a queue per [`Owner`], owners served in turn (round-robin), and at
//! most [`FairConfig::per_owner`] jobs of one owner running at once. A user
//! who sends many slow commands therefore waits behind their own commands,
//! not in front of everyone else's.
//!
//! A job whose deadline passed while it was queued is not run: it is told
//! so ([`Start::Expired`]), answers DEADLINE_EXCEEDED, and is counted
//! ([`FairWorkers::expired`]). Nothing of it reaches the backend.
//!
//! The queues are the dispatcher's state; who runs the jobs is separate.
//! [`FairWorkers::new`] starts threads that take jobs as they come;
//! [`FairWorkers::manual`] starts none and hands back a [`Runner`] that runs
//! the jobs on the caller's thread when the caller says so, in the same
//! order, so a proxy can be driven step by step (tests, fuzzing, a host
//! that owns its threads).

use std::boxed::Box;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;
use std::vec::Vec;

use super::owner::Owner;

/// Most emptied owner queues kept for reuse.
const SPARE_QUEUES: usize = 16;
/// Largest capacity of a queue kept (a long backlog's memory is freed).
const SPARE_QUEUE_CAPACITY: usize = 64;

/// How a job is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Do the work.
    Run,
    /// The deadline passed while the job waited: answer without working.
    Expired,
}

/// A job: called once, on a worker thread.
pub type Job = Box<dyn FnOnce(Start) + Send>;

/// The dispatcher's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FairConfig {
    /// Worker threads.
    pub workers: usize,
    /// Jobs of one owner running at once. Below `workers`, a user cannot
    /// take every worker, so another user's job starts at once.
    pub per_owner: usize,
}

impl FairConfig {
    /// `workers` threads and the default per-owner cap: one less than the
    /// workers, at least one.
    pub fn new(workers: usize) -> Self {
        let workers = workers.max(1);
        FairConfig {
            workers,
            per_owner: workers.saturating_sub(1).max(1),
        }
    }
}

struct Queued {
    deadline: Option<Instant>,
    job: Job,
}

#[derive(Default)]
struct Queues {
    waiting: HashMap<Owner, VecDeque<Queued>>,
    /// Emptied queues of owners with nothing waiting, for the next owner
    /// that queues a job (at most [`SPARE_QUEUES`]): one job at a time
    /// allocates no queue.
    spare: Vec<VecDeque<Queued>>,
    /// Owners with waiting jobs, in the order they are next served.
    turn: VecDeque<Owner>,
    running: HashMap<Owner, usize>,
    closed: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
    per_owner: usize,
    expired: AtomicU64,
    /// Times a worker woke and found no job it could start.
    idle_wakes: AtomicU64,
}

/// Per-owner queues served in turn, by worker threads or by a [`Runner`];
/// see the module docs. Dropping it stops the workers once their running
/// jobs end; queued jobs are dropped unrun.
pub struct FairWorkers {
    shared: Arc<Shared>,
}

/// Runs the jobs of a [`FairWorkers::manual`] dispatcher on the calling
/// thread. Cloning it gives another handle to the same queues.
#[derive(Clone)]
pub struct Runner {
    shared: Arc<Shared>,
}

impl Runner {
    /// Runs every job that may start, one after another on this thread,
    /// owners in turn, until none is left; returns how many ran (expired
    /// ones included). Jobs submitted by the jobs themselves run too.
    pub fn run_ready(&self) -> usize {
        let mut ran = 0;
        loop {
            let mut q = self.shared.lock();
            if q.closed {
                return ran;
            }
            let Some((owner, queued)) = self.shared.next(&mut q) else {
                return ran;
            };
            drop(q);
            self.shared.run(owner, queued);
            ran += 1;
        }
    }

    /// Jobs queued and not yet started.
    pub fn queued(&self) -> usize {
        self.shared.lock().waiting.values().map(VecDeque::len).sum()
    }
}

impl FairWorkers {
    fn shared(config: FairConfig) -> Arc<Shared> {
        Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            per_owner: config.per_owner.max(1),
            expired: AtomicU64::new(0),
            idle_wakes: AtomicU64::new(0),
        })
    }

    /// A dispatcher with no threads: jobs wait until the returned
    /// [`Runner`] runs them. `config.workers` is not used; the per-owner
    /// cap is (it matters only to jobs that submit jobs).
    pub fn manual(config: FairConfig) -> (Self, Runner) {
        let shared = Self::shared(config);
        let runner = Runner {
            shared: shared.clone(),
        };
        (FairWorkers { shared }, runner)
    }

    /// Starts `config.workers` threads.
    pub fn new(config: FairConfig) -> Self {
        let shared = Self::shared(config);
        for i in 0..config.workers.max(1) {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(std::format!("arkwire-worker-{i}"))
                .spawn(move || shared.work());
            if let Err(e) = spawned {
                log::error!("cannot start worker thread: {e}");
            }
        }
        FairWorkers { shared }
    }

    /// Queues `job` for `owner`; it starts when a worker is free, the
    /// owner's turn has come and fewer than the per-owner cap of its jobs
    /// run. With a `deadline` that passes first, it starts as
    /// [`Start::Expired`].
    pub fn submit(&self, owner: Owner, deadline: Option<Instant>, job: Job) {
        let mut q = self.shared.lock();
        if q.closed {
            return;
        }
        let Queues { waiting, spare, .. } = &mut *q;
        let queue = waiting
            .entry(owner.clone())
            .or_insert_with(|| spare.pop().unwrap_or_default());
        queue.push_back(Queued { deadline, job });
        if queue.len() == 1 {
            q.turn.push_back(owner);
        }
        drop(q);
        self.shared.ready.notify_one();
    }

    /// Jobs answered [`Start::Expired`] so far.
    pub fn expired(&self) -> u64 {
        self.shared.expired.load(Ordering::Relaxed)
    }

    /// Jobs queued and not yet started.
    pub fn queued(&self) -> usize {
        self.shared.lock().waiting.values().map(VecDeque::len).sum()
    }
}

impl Drop for FairWorkers {
    fn drop(&mut self) {
        let waiting = {
            let mut q = self.shared.lock();
            q.closed = true;
            q.turn.clear();
            core::mem::take(&mut q.waiting)
        };
        // Dropped outside the lock: a job may own a responder that answers.
        drop(waiting);
        self.shared.ready.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A job never runs under the lock, so poisoning cannot leave the
        // queues half-changed: carry on with them.
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next job whose owner is under the cap, taking owners in turn.
    fn next(&self, q: &mut Queues) -> Option<(Owner, Queued)> {
        for _ in 0..q.turn.len() {
            let owner = q.turn.pop_front()?;
            let running = q.running.get(&owner).copied().unwrap_or(0);
            if running >= self.per_owner {
                q.turn.push_back(owner);
                continue;
            }
            let queue = q.waiting.get_mut(&owner)?;
            let job = queue.pop_front()?;
            if queue.is_empty() {
                if let Some(empty) = q.waiting.remove(&owner) {
                    if q.spare.len() < SPARE_QUEUES && empty.capacity() <= SPARE_QUEUE_CAPACITY {
                        q.spare.push(empty);
                    }
                }
            } else {
                q.turn.push_back(owner.clone());
            }
            *q.running.entry(owner.clone()).or_insert(0) += 1;
            return Some((owner, job));
        }
        None
    }

    fn work(&self) {
        let mut q = self.lock();
        loop {
            if q.closed {
                return;
            }
            let Some((owner, queued)) = self.next(&mut q) else {
                q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
                if q.turn.is_empty() {
                    self.idle_wakes.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            };
            drop(q);
            self.run(owner, queued);
            q = self.lock();
        }
    }

    /// Runs one job taken by [`next`](Self::next) (not under the lock),
    /// then counts it as no longer running.
    fn run(&self, owner: Owner, queued: Queued) {
        let start = match queued.deadline {
            Some(d) if Instant::now() >= d => {
                self.expired.fetch_add(1, Ordering::Relaxed);
                log::info!("a call of {:?} expired in the queue", owner.user());
                Start::Expired
            }
            _ => Start::Run,
        };
        (queued.job)(start);
        let mut q = self.lock();
        if let Some(n) = q.running.get_mut(&owner) {
            *n -= 1;
            if *n == 0 {
                q.running.remove(&owner);
            }
        }
        // The owner may be under its cap again, which lets at most one more
        // of its jobs start: the worker that ran this one takes it when it
        // looks for work next. Another is woken only while jobs wait, never
        // every idle one: waking them all cost every forwarded call a
        // context switch per worker.
        let waiting = !q.turn.is_empty();
        drop(q);
        if waiting {
            self.ready.notify_one();
        }
    }
}

/// Owners of the jobs in `turn` order, for tests.
#[cfg(test)]
fn turn_users(w: &FairWorkers) -> std::vec::Vec<std::string::String> {
    w.shared
        .lock()
        .turn
        .iter()
        .map(|o| o.user().into())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arkouda::owner::OwnerKeys;
    use std::sync::mpsc;
    use std::time::Duration;
    use std::vec::Vec;

    fn owner(user: &str) -> Owner {
        OwnerKeys::from_key([9; 32]).owner(user, "")
    }

    /// A job that reports its name when it runs, then waits for `go`.
    fn gated(
        name: &'static str,
        log: mpsc::Sender<(&'static str, Start)>,
        go: Arc<(Mutex<bool>, Condvar)>,
    ) -> Job {
        Box::new(move |start| {
            let _ = log.send((name, start));
            let (m, c) = &*go;
            let mut open = m.lock().unwrap();
            while !*open {
                open = c.wait(open).unwrap();
            }
        })
    }

    fn open(go: &(Mutex<bool>, Condvar)) {
        *go.0.lock().unwrap() = true;
        go.1.notify_all();
    }

    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn one_owner_cannot_take_every_worker() {
        let w = FairWorkers::new(FairConfig::new(2));
        let (tx, rx) = mpsc::channel();
        let go = Arc::new((Mutex::new(false), Condvar::new()));
        for name in ["a1", "a2", "a3"] {
            w.submit(owner("ann"), None, gated(name, tx.clone(), go.clone()));
        }
        assert_eq!(rx.recv_timeout(LONG).unwrap(), ("a1", Start::Run));
        // ann is at her cap (1 of 2 workers): bob's job starts before a2.
        w.submit(owner("bob"), None, gated("b1", tx.clone(), go.clone()));
        assert_eq!(rx.recv_timeout(LONG).unwrap(), ("b1", Start::Run));
        assert_eq!(w.queued(), 2);
        assert_eq!(turn_users(&w), ["ann"]);
        open(&go);
        let mut rest: Vec<_> = (0..2).map(|_| rx.recv_timeout(LONG).unwrap().0).collect();
        rest.sort();
        assert_eq!(rest, ["a2", "a3"]);
    }

    #[test]
    fn a_finished_job_does_not_wake_the_idle_workers() {
        // One job at a time on 8 workers, as sequential forwarded calls
        // are: the worker that is told of a job takes it, and the other
        // seven sleep on. Waking them all after every job costs 7 context
        // switches per call (about 1,200 wakes here; a worker that is told of
        // a job another one takes first still wakes for nothing, at most
        // about once a job).
        let w = FairWorkers::new(FairConfig::new(8));
        let (tx, rx) = mpsc::channel();
        let jobs = 200;
        for i in 0..jobs {
            let tx = tx.clone();
            w.submit(owner("u"), None, Box::new(move |_| tx.send(i).unwrap()));
            assert_eq!(rx.recv_timeout(LONG), Ok(i));
        }
        let idle = w.shared.idle_wakes.load(Ordering::Relaxed);
        assert!(idle < jobs, "{idle} idle wakes for {jobs} jobs");
    }

    #[test]
    fn owners_take_turns() {
        let w = FairWorkers::new(FairConfig {
            workers: 1,
            per_owner: 1,
        });
        let (tx, rx) = mpsc::channel();
        let go = Arc::new((Mutex::new(false), Condvar::new()));
        w.submit(owner("ann"), None, gated("a1", tx.clone(), go.clone()));
        assert_eq!(rx.recv_timeout(LONG).unwrap().0, "a1");
        w.submit(owner("ann"), None, gated("a2", tx.clone(), go.clone()));
        w.submit(owner("ann"), None, gated("a3", tx.clone(), go.clone()));
        w.submit(owner("bob"), None, gated("b1", tx.clone(), go.clone()));
        w.submit(owner("cat"), None, gated("c1", tx.clone(), go.clone()));
        open(&go);
        let order: Vec<_> = (0..4).map(|_| rx.recv_timeout(LONG).unwrap().0).collect();
        assert_eq!(order, ["a2", "b1", "c1", "a3"]);
    }

    #[test]
    fn a_job_whose_deadline_passed_in_the_queue_is_not_run() {
        let w = FairWorkers::new(FairConfig {
            workers: 1,
            per_owner: 1,
        });
        let (tx, rx) = mpsc::channel();
        let go = Arc::new((Mutex::new(false), Condvar::new()));
        w.submit(owner("ann"), None, gated("slow", tx.clone(), go.clone()));
        assert_eq!(rx.recv_timeout(LONG).unwrap().0, "slow");
        let past = Instant::now();
        w.submit(
            owner("bob"),
            Some(past),
            gated("late", tx.clone(), go.clone()),
        );
        let future = Instant::now() + LONG;
        w.submit(
            owner("cat"),
            Some(future),
            gated("timely", tx.clone(), go.clone()),
        );
        open(&go);
        assert_eq!(rx.recv_timeout(LONG).unwrap(), ("late", Start::Expired));
        assert_eq!(rx.recv_timeout(LONG).unwrap(), ("timely", Start::Run));
        assert_eq!(w.expired(), 1);
    }

    #[test]
    fn dropping_the_workers_drops_queued_jobs() {
        let w = FairWorkers::new(FairConfig {
            workers: 1,
            per_owner: 1,
        });
        let (tx, rx) = mpsc::channel();
        let go = Arc::new((Mutex::new(false), Condvar::new()));
        w.submit(owner("ann"), None, gated("a1", tx.clone(), go.clone()));
        assert_eq!(rx.recv_timeout(LONG).unwrap().0, "a1");
        w.submit(owner("ann"), None, gated("a2", tx.clone(), go.clone()));
        drop(w);
        open(&go);
        drop(tx);
        // a2 never runs: the channel closes once a1's job and a2's are gone.
        assert!(rx.recv_timeout(LONG).is_err());
        assert_eq!(FairConfig::new(1).per_owner, 1);
        assert_eq!(FairConfig::new(4).per_owner, 3);
    }

    #[test]
    fn a_manual_dispatcher_runs_jobs_only_when_told_and_in_turn() {
        let (w, runner) = FairWorkers::manual(FairConfig::new(4));
        let order = Arc::new(Mutex::new(Vec::new()));
        for (who, name) in [("ann", "a1"), ("ann", "a2"), ("bob", "b1")] {
            let order = order.clone();
            w.submit(
                owner(who),
                None,
                Box::new(move |start| order.lock().unwrap().push((name, start))),
            );
        }
        assert!(order.lock().unwrap().is_empty(), "nothing runs unasked");
        assert_eq!(runner.queued(), 3);
        let past = Instant::now();
        w.submit(owner("cat"), Some(past), Box::new(|_| {}));
        assert_eq!(runner.run_ready(), 4);
        assert_eq!(
            *order.lock().unwrap(),
            [("a1", Start::Run), ("b1", Start::Run), ("a2", Start::Run)]
        );
        assert_eq!(w.expired(), 1);
        assert_eq!(runner.run_ready(), 0);
        drop(w);
        // A closed dispatcher takes no more jobs and runs none.
        assert_eq!(runner.run_ready(), 0);
    }
}
