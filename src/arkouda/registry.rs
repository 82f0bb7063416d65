//! The asynchronous proxy's registry: submitted requests and their results,
//! filed by ([`Owner`], request id), with limits per owner.
//!
//! - An id means something only to its owner: another owner's lookup of it
//!   finds nothing, and is answered exactly like an id that never existed;
//!   two owners may use the same id for two independent requests.
//! - The same owner submitting the same id with the same command and
//!   arguments again is a re-submit (the client lost the SUBMITTED reply):
//!   the request runs once. The same id with another command is refused.
//! - Each owner may hold [`RegistryLimits::per_owner_entries`] requests and
//!   [`RegistryLimits::per_owner_result_bytes`] of results, so one user
//!   cannot fill the registry for everyone.
//!
//! The registry is plain data with the clock passed in (the core's
//! [`Instant`], from the proxy's [`Clock`](super::clock::Clock)): the proxy
//! wraps it in a lock and runs the work.

use core::time::Duration;
use std::collections::HashMap;
use std::string::String;

use crate::time::Instant;

use sha2::{Digest, Sha256};

use super::owner::Owner;
use super::request_id::RequestIdGenerator;
use super::upstream_msg::Reply;

/// Longest request id a client may choose.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// Limits of the registry, in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryLimits {
    /// Requests held at once (pending, running or finished), all owners together.
    pub capacity: usize,
    /// Requests one owner may hold at once.
    pub per_owner_entries: usize,
    /// Bytes of results held at once, all owners together.
    pub result_bytes: usize,
    /// Bytes of results one owner may hold at once. A result larger than
    /// the room left is kept as FAILED, saying so.
    pub per_owner_result_bytes: usize,
    /// How long a result stays fetchable after it was first read, so a
    /// client whose status reply was lost can ask again.
    pub result_grace: Duration,
    /// How long an unread result is kept.
    pub result_max_age: Duration,
}

impl RegistryLimits {
    /// Limits for `capacity` requests: a quarter of them per owner, 256 MiB
    /// of results with a quarter per owner, a minute of grace after the
    /// first read, an hour for an unread result.
    pub fn new(capacity: usize) -> Self {
        const RESULT_BYTES: usize = 256 << 20;
        RegistryLimits {
            capacity,
            per_owner_entries: (capacity / 4).max(1),
            result_bytes: RESULT_BYTES,
            per_owner_result_bytes: RESULT_BYTES / 4,
            result_grace: Duration::from_secs(60),
            result_max_age: Duration::from_secs(3600),
        }
    }
}

impl Default for RegistryLimits {
    /// 1024 requests (see [`RegistryLimits::new`]).
    fn default() -> Self {
        Self::new(1024)
    }
}

/// Where a request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for a worker.
    Pending,
    /// A worker is running it.
    Running,
    /// Done: Arkouda's reply JSON, or a binary reply's bytes.
    Finished(Reply),
    /// Could not be done: why.
    Failed(String),
}

struct Entry {
    state: State,
    /// SHA-256 of the command and arguments, to tell a re-submit from a clash.
    fingerprint: [u8; 32],
    /// Bytes of the result counted against the owner.
    bytes: usize,
    finished_at: Option<Instant>,
    first_read: Option<Instant>,
}

#[derive(Clone, Copy, Default)]
struct Usage {
    entries: usize,
    bytes: usize,
}

/// Why a submit was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The id is not 1 to [`MAX_CLIENT_ID_LEN`] characters.
    BadId,
    /// The owner already used this id for another command.
    IdInUse,
    /// The owner holds as many requests, or as many result bytes, as allowed.
    OwnerFull(&'static str),
    /// The registry holds as many requests as allowed.
    Full,
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Refusal::BadId => write!(f, "request_id must be 1 to {MAX_CLIENT_ID_LEN} characters"),
            Refusal::IdInUse => {
                f.write_str("this request_id is already in use for another command of yours")
            }
            Refusal::OwnerFull(what) => write!(
                f,
                "you hold as many {what} as one user may; fetch your results or wait"
            ),
            Refusal::Full => f.write_str("request registry is full"),
        }
    }
}

/// What a submit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The request's id.
    pub id: String,
    /// False for a re-submit of a request already held: do not run it again.
    pub new: bool,
}

/// See the module documentation.
pub struct Registry {
    limits: RegistryLimits,
    entries: HashMap<(Owner, String), Entry>,
    usage: HashMap<Owner, Usage>,
    result_bytes: usize,
    ids: RequestIdGenerator,
}

fn fingerprint(cmd: &str, args: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((cmd.len() as u64).to_le_bytes());
    h.update(cmd.as_bytes());
    h.update(args.as_bytes());
    h.finalize().into()
}

impl Registry {
    /// An empty registry making ids with `ids`.
    pub fn new(limits: RegistryLimits, ids: RequestIdGenerator) -> Self {
        Registry {
            limits,
            entries: HashMap::new(),
            usage: HashMap::new(),
            result_bytes: 0,
            ids,
        }
    }

    /// Files a request of `owner` under `id` (a fresh one when `None`).
    pub fn submit(
        &mut self,
        owner: &Owner,
        id: Option<&str>,
        cmd: &str,
        args: &str,
        now: Instant,
    ) -> Result<Submitted, Refusal> {
        self.expire(now);
        let print = fingerprint(cmd, args);
        let id = match id {
            Some(id) if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN => {
                return Err(Refusal::BadId)
            }
            Some(id) => {
                if let Some(e) = self.entries.get(&(owner.clone(), id.into())) {
                    return if e.fingerprint == print {
                        Ok(Submitted {
                            id: id.into(),
                            new: false,
                        })
                    } else {
                        Err(Refusal::IdInUse)
                    };
                }
                String::from(id)
            }
            None => loop {
                let id = String::from(self.ids.generate().as_str());
                if !self.entries.contains_key(&(owner.clone(), id.clone())) {
                    break id;
                }
            },
        };
        let usage = self.usage.get(owner).copied().unwrap_or_default();
        if usage.entries >= self.limits.per_owner_entries {
            return Err(Refusal::OwnerFull("requests"));
        }
        if usage.bytes >= self.limits.per_owner_result_bytes {
            return Err(Refusal::OwnerFull("bytes of results"));
        }
        if self.entries.len() >= self.limits.capacity {
            return Err(Refusal::Full);
        }
        self.entries.insert(
            (owner.clone(), id.clone()),
            Entry {
                state: State::Pending,
                fingerprint: print,
                bytes: 0,
                finished_at: None,
                first_read: None,
            },
        );
        self.usage.entry(owner.clone()).or_default().entries += 1;
        Ok(Submitted { id, new: true })
    }

    /// Marks a request running.
    pub fn start(&mut self, owner: &Owner, id: &str) {
        if let Some(e) = self.entries.get_mut(&(owner.clone(), id.into())) {
            e.state = State::Running;
        }
    }

    /// Stores a request's outcome. A result that does not fit the owner's
    /// or the registry's room for results is replaced by a FAILED saying so.
    pub fn finish(
        &mut self,
        owner: &Owner,
        id: &str,
        outcome: Result<Reply, String>,
        now: Instant,
    ) {
        let Some(entry) = self.entries.get_mut(&(owner.clone(), id.into())) else {
            return;
        };
        let usage = self.usage.entry(owner.clone()).or_default();
        let (state, bytes) = match outcome {
            Ok(reply) => {
                let n = reply.len();
                let owner_room = self
                    .limits
                    .per_owner_result_bytes
                    .saturating_sub(usage.bytes);
                let room = self.limits.result_bytes.saturating_sub(self.result_bytes);
                if n > owner_room || n > room {
                    let why = std::format!(
                        "the result of {n} bytes does not fit the room left for results \
                         ({} bytes for you, {} bytes in all)",
                        owner_room,
                        room
                    );
                    (State::Failed(why), 0)
                } else {
                    (State::Finished(reply), n)
                }
            }
            Err(why) => (State::Failed(why), 0),
        };
        usage.bytes += bytes;
        self.result_bytes += bytes;
        entry.bytes = bytes;
        entry.state = state;
        entry.finished_at = Some(now);
    }

    /// Where `owner`'s request `id` stands, counting this as a read of a
    /// finished one; `None` when the owner has no such request.
    pub fn status(&mut self, owner: &Owner, id: &str, now: Instant) -> Option<State> {
        self.expire(now);
        let entry = self.entries.get_mut(&(owner.clone(), id.into()))?;
        if matches!(entry.state, State::Finished(_) | State::Failed(_)) {
            entry.first_read.get_or_insert(now);
        }
        Some(entry.state.clone())
    }

    /// Requests held, all owners together.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no request is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets results read longer than the grace ago or unread too long.
    pub fn expire(&mut self, now: Instant) {
        let limits = self.limits;
        let (usage, result_bytes) = (&mut self.usage, &mut self.result_bytes);
        self.entries.retain(|(owner, _), e| {
            let read_long_ago = e
                .first_read
                .is_some_and(|t| now.saturating_duration_since(t) >= limits.result_grace);
            let unread_too_long = e
                .finished_at
                .is_some_and(|t| now.saturating_duration_since(t) >= limits.result_max_age);
            let keep = !(read_long_ago || unread_too_long);
            if !keep {
                *result_bytes -= e.bytes;
                if let Some(u) = usage.get_mut(owner) {
                    u.entries -= 1;
                    u.bytes -= e.bytes;
                    if u.entries == 0 {
                        usage.remove(owner);
                    }
                }
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arkouda::owner::OwnerKeys;

    fn setup(limits: RegistryLimits) -> (Registry, Owner, Owner) {
        let keys = OwnerKeys::from_key([3; 32]);
        let reg = Registry::new(limits, RequestIdGenerator::from_seed([5; 32]));
        (reg, keys.owner("ann", "tok-a"), keys.owner("bob", "tok-b"))
    }

    #[test]
    fn another_owners_id_is_not_found_and_can_be_used_again() {
        let (mut reg, ann, bob) = setup(RegistryLimits::new(16));
        let now = Instant::from_millis(1);
        let id = reg.submit(&ann, None, "echo", "a", now).unwrap().id;
        assert_eq!(reg.status(&bob, &id, now), None);
        assert_eq!(reg.status(&ann, &id, now), Some(State::Pending));
        // bob's request under ann's id is his own, independent request.
        let s = reg.submit(&bob, Some(&id), "echo", "b", now).unwrap();
        assert!(s.new);
        reg.finish(&bob, &id, Ok(Reply::Json("B".into())), now);
        reg.finish(&ann, &id, Ok(Reply::Json("A".into())), now);
        assert_eq!(
            reg.status(&ann, &id, now),
            Some(State::Finished(Reply::Json("A".into())))
        );
        assert_eq!(
            reg.status(&bob, &id, now),
            Some(State::Finished(Reply::Json("B".into())))
        );
    }

    #[test]
    fn a_resubmit_is_idempotent_and_a_clash_is_refused() {
        let (mut reg, ann, _) = setup(RegistryLimits::new(16));
        let now = Instant::from_millis(1);
        let s = reg.submit(&ann, Some("mine"), "echo", "x", now).unwrap();
        assert!(s.new);
        let again = reg.submit(&ann, Some("mine"), "echo", "x", now).unwrap();
        assert!(!again.new);
        assert_eq!(
            reg.submit(&ann, Some("mine"), "echo", "y", now),
            Err(Refusal::IdInUse)
        );
        assert_eq!(
            reg.submit(&ann, Some("mine"), "ech", "ox", now),
            Err(Refusal::IdInUse)
        );
        assert_eq!(
            reg.submit(&ann, Some(""), "echo", "x", now),
            Err(Refusal::BadId)
        );
        assert_eq!(reg.len(), 1);
    }

    #[test]
    fn one_owner_cannot_fill_the_registry() {
        let (mut reg, ann, bob) = setup(RegistryLimits::new(8));
        let now = Instant::from_millis(1);
        for _ in 0..2 {
            reg.submit(&ann, None, "sleep", "1", now).unwrap();
        }
        assert_eq!(
            reg.submit(&ann, None, "sleep", "1", now),
            Err(Refusal::OwnerFull("requests"))
        );
        assert!(reg.submit(&bob, None, "noop", "", now).is_ok());
    }

    #[test]
    fn results_count_against_their_owner_and_an_oversized_one_fails() {
        let mut limits = RegistryLimits::new(8);
        limits.per_owner_result_bytes = 10;
        limits.result_bytes = 15;
        let (mut reg, ann, bob) = setup(limits);
        let now = Instant::from_millis(1);
        let a = reg.submit(&ann, None, "echo", "", now).unwrap().id;
        reg.finish(&ann, &a, Ok(Reply::Json("0123456789".into())), now);
        assert_eq!(
            reg.submit(&ann, None, "echo", "", now),
            Err(Refusal::OwnerFull("bytes of results"))
        );
        let b = reg.submit(&bob, None, "echo", "", now).unwrap().id;
        reg.finish(&bob, &b, Ok(Reply::Json("0123456789".into())), now);
        match reg.status(&bob, &b, now) {
            Some(State::Failed(why)) => assert!(why.contains("10 bytes"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Reading ann's result and waiting out the grace frees her room.
        assert!(matches!(
            reg.status(&ann, &a, now),
            Some(State::Finished(_))
        ));
        let later = now + limits.result_grace;
        assert!(reg.submit(&ann, None, "echo", "", later).is_ok());
    }

    #[test]
    fn unread_results_expire_after_the_max_age() {
        let mut limits = RegistryLimits::new(8);
        limits.result_max_age = Duration::from_millis(100);
        let (mut reg, ann, _) = setup(limits);
        let now = Instant::from_millis(1);
        let a = reg.submit(&ann, None, "echo", "", now).unwrap().id;
        reg.finish(&ann, &a, Ok(Reply::Json("x".into())), now);
        assert!(reg
            .status(&ann, &a, now + Duration::from_millis(99))
            .is_some());
        assert!(reg
            .status(&ann, &a, now + Duration::from_millis(100))
            .is_none());
        assert!(reg.is_empty());
    }

    #[test]
    fn a_generated_id_that_collides_is_drawn_again() {
        let limits = RegistryLimits::new(8);
        let keys = OwnerKeys::from_key([3; 32]);
        let ann = keys.owner("ann", "");
        let mut reg = Registry::new(limits, RequestIdGenerator::from_seed([5; 32]));
        let first = RequestIdGenerator::from_seed([5; 32]).generate();
        let now = Instant::from_millis(1);
        // ann already holds the id the generator will give first.
        reg.submit(&ann, Some(first.as_str()), "echo", "", now)
            .unwrap();
        let s = reg.submit(&ann, None, "echo", "", now).unwrap();
        assert!(s.new);
        assert_ne!(s.id, first.as_str());
    }
}
