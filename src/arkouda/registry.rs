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
//!
//! A draining server keeps its results across a restart with
//! [`Registry::save`] and [`Registry::load`], and the file functions
//! [`write_state_file`] and [`state_keys`]: results are kept with their
//! owner's user name and token tag (never a token), and the key of those
//! tags lives beside the state file, so the same tokens name the same
//! owners after the restart.

use core::time::Duration;
use std::collections::HashMap;
use std::string::String;
use std::vec::Vec;

use crate::time::Instant;

use sha2::{Digest, Sha256};

use super::owner::{Owner, OwnerKeys, TAG_LEN};
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

/// Requests by state, in the order of [`crate::metrics::REGISTRY_STATES`]:
/// pending, running, finished, failed.
pub type StateCounts = [usize; 4];

/// The state file's format version.
const STATE_VERSION: u64 = 1;

/// One request as a state file keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedEntry {
    user: String,
    /// The owner's token tag, hex.
    tag: String,
    id: String,
    /// The command's fingerprint, hex (a re-submit stays one after the restart).
    fingerprint: String,
    /// `json`, `binary` (the result base64) or `failed` (the result is why).
    kind: String,
    result: String,
    /// Milliseconds since the result was stored.
    age_ms: u64,
    /// Milliseconds since it was first read, if it was.
    read_ms: Option<u64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedState {
    version: u64,
    entries: Vec<SavedEntry>,
}

/// What [`Registry::load`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Requests taken into the registry.
    pub kept: usize,
    /// Requests left out: expired, malformed, or past a limit.
    pub dropped: usize,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| std::format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Registry {
    /// Requests held by state: pending, running, finished, failed.
    pub fn counts(&self) -> StateCounts {
        let mut counts = [0; 4];
        for e in self.entries.values() {
            let i = match e.state {
                State::Pending => 0,
                State::Running => 1,
                State::Finished(_) => 2,
                State::Failed(_) => 3,
            };
            counts[i] += 1;
        }
        counts
    }

    /// The registry as a state file's bytes (JSON). Finished and failed
    /// requests are kept as they are; a request still pending or running is
    /// kept as FAILED saying the proxy restarted, so its owner learns what
    /// happened rather than NOT_FOUND. No token is in it: owners are kept
    /// as user name and token tag.
    pub fn save(&self, now: Instant) -> Vec<u8> {
        use base64::Engine;
        let b64 = &base64::engine::general_purpose::STANDARD;
        let mut entries = Vec::with_capacity(self.entries.len());
        for ((owner, id), e) in &self.entries {
            let (kind, result) = match &e.state {
                State::Finished(Reply::Json(json)) => ("json", json.clone()),
                State::Finished(Reply::Binary(bytes)) => ("binary", b64.encode(bytes)),
                State::Failed(why) => ("failed", why.clone()),
                State::Pending | State::Running => (
                    "failed",
                    String::from(
                        "the proxy restarted before this request finished; submit it again",
                    ),
                ),
            };
            let since = |t: Option<Instant>| t.map(|t| millis(now.saturating_duration_since(t)));
            entries.push(SavedEntry {
                user: owner.user().into(),
                tag: hex(owner.tag()),
                id: id.clone(),
                fingerprint: hex(&e.fingerprint),
                kind: kind.into(),
                result,
                age_ms: since(e.finished_at).unwrap_or(0),
                read_ms: since(e.first_read),
            });
        }
        let state = SavedState {
            version: STATE_VERSION,
            entries,
        };
        serde_json::to_vec(&state).unwrap_or_default()
    }

    /// Takes the requests of a state file's `bytes` into the registry,
    /// within its limits: entries that expired meanwhile, that are
    /// malformed, or that would break a limit (capacity, per owner, result
    /// bytes) are left out, so a file written under larger limits, or
    /// edited, cannot overfill the registry. Fails only when the file is
    /// not a state file at all.
    pub fn load(&mut self, bytes: &[u8], now: Instant) -> Result<Loaded, String> {
        let b64 = &base64::engine::general_purpose::STANDARD;
        let state: SavedState =
            serde_json::from_slice(bytes).map_err(|e| std::format!("not a state file: {e}"))?;
        if state.version != STATE_VERSION {
            return Err(std::format!(
                "state file version {} (this arkwire reads {STATE_VERSION})",
                state.version
            ));
        }
        let mut loaded = Loaded::default();
        for saved in state.entries {
            if self.restore(saved, now, b64).is_some() {
                loaded.kept += 1;
            } else {
                loaded.dropped += 1;
            }
        }
        Ok(loaded)
    }

    fn restore(
        &mut self,
        saved: SavedEntry,
        now: Instant,
        b64: &base64::engine::GeneralPurpose,
    ) -> Option<()> {
        use base64::Engine;
        let limits = self.limits;
        let age = Duration::from_millis(saved.age_ms);
        let read = saved.read_ms.map(Duration::from_millis);
        if age >= limits.result_max_age || read.is_some_and(|r| r >= limits.result_grace) {
            return None;
        }
        if saved.id.is_empty() || saved.id.len() > MAX_CLIENT_ID_LEN {
            return None;
        }
        let tag = unhex::<TAG_LEN>(&saved.tag)?;
        let fingerprint = unhex::<32>(&saved.fingerprint)?;
        let owner = Owner::from_parts(saved.user, tag);
        let state = match saved.kind.as_str() {
            "json" => State::Finished(Reply::Json(saved.result)),
            "binary" => State::Finished(Reply::Binary(b64.decode(saved.result).ok()?)),
            "failed" => State::Failed(saved.result),
            _ => return None,
        };
        let bytes = match &state {
            State::Finished(reply) => reply.len(),
            _ => 0,
        };
        let key = (owner.clone(), saved.id);
        let usage = self.usage.get(&owner).copied().unwrap_or_default();
        let fits = !self.entries.contains_key(&key)
            && self.entries.len() < limits.capacity
            && usage.entries < limits.per_owner_entries
            && usage.bytes.saturating_add(bytes) <= limits.per_owner_result_bytes
            && self.result_bytes.saturating_add(bytes) <= limits.result_bytes;
        if !fits {
            return None;
        }
        // Times before this process's clock began are its start.
        let back = |d: Duration| {
            Instant::from_micros(now.as_micros().saturating_sub(d.as_micros() as u64))
        };
        self.entries.insert(
            key,
            Entry {
                state,
                fingerprint,
                bytes,
                finished_at: Some(back(age)),
                first_read: read.map(back),
            },
        );
        let u = self.usage.entry(owner).or_default();
        u.entries += 1;
        u.bytes += bytes;
        self.result_bytes += bytes;
        Some(())
    }
}

/// Writes a state file atomically: a temporary file beside `path` (mode
/// 0600 on Unix: results are the users' data), synced, then renamed over
/// `path`, so a crash leaves the old file or the new one, never half of one.
pub fn write_state_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = std::ffi::OsString::from(path.as_os_str());
    tmp.push(std::format!(".tmp{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let result = (|| {
        let mut file = private_file(&tmp, false)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates (or, with `exclusive`, only creates anew) a file only its owner
/// may read and write.
fn private_file(path: &std::path::Path, exclusive: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if exclusive {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    // A file that existed keeps its mode through open: set it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// The owner keys that go with the state file at `state_path`: read from
/// `<state_path>.key` (64 hex digits), or drawn from the operating system
/// and written there (mode 0600) when it does not exist yet. A proxy that
/// restarts with the same state file thus names the same tokens' owners
/// the same way.
pub fn state_keys(state_path: &std::path::Path) -> Result<OwnerKeys, String> {
    let mut path = std::ffi::OsString::from(state_path.as_os_str());
    path.push(".key");
    let path = std::path::PathBuf::from(path);
    match std::fs::read_to_string(&path) {
        Ok(text) => unhex::<32>(text.trim())
            .map(OwnerKeys::from_key)
            .ok_or_else(|| std::format!("{} is not 64 hex digits", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| std::format!("no entropy: {e}"))?;
            let mut file = private_file(&path, true)
                .map_err(|e| std::format!("cannot create {}: {e}", path.display()))?;
            file.write_all(std::format!("{}\n", hex(&key)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| std::format!("cannot write {}: {e}", path.display()))?;
            Ok(OwnerKeys::from_key(key))
        }
        Err(e) => Err(std::format!("cannot read {}: {e}", path.display())),
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

    #[test]
    fn saved_results_load_within_the_limits_and_keep_their_owners() {
        let (mut reg, ann, bob) = setup(RegistryLimits::new(16));
        let now = Instant::from_millis(10_000);
        let a = reg.submit(&ann, None, "echo", "A", now).unwrap().id;
        reg.finish(&ann, &a, Ok(Reply::Json("{\"msg\":\"A\"}".into())), now);
        let b = reg.submit(&bob, Some("mine"), "bin", "", now).unwrap().id;
        reg.finish(&bob, &b, Ok(Reply::Binary(std::vec![0, 1, 255])), now);
        let c = reg.submit(&ann, None, "sleep", "9", now).unwrap().id;
        assert_eq!(reg.counts(), [1, 0, 2, 0]);
        let bytes = reg.save(now);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("tok-a") && !text.contains("tok-b"), "{text}");
        // A fresh registry (after a restart, its clock started anew).
        let (mut back, _, _) = setup(RegistryLimits::new(16));
        let later = Instant::from_millis(5);
        let loaded = back.load(&bytes, later).unwrap();
        assert_eq!(
            loaded,
            Loaded {
                kept: 3,
                dropped: 0
            }
        );
        assert_eq!(
            back.status(&ann, &a, later),
            Some(State::Finished(Reply::Json("{\"msg\":\"A\"}".into())))
        );
        assert_eq!(
            back.status(&bob, &b, later),
            Some(State::Finished(Reply::Binary(std::vec![0, 1, 255])))
        );
        assert_eq!(back.status(&bob, &a, later), None);
        assert!(
            matches!(back.status(&ann, &c, later), Some(State::Failed(why)) if why.contains("restarted"))
        );
        // The same command under the same id is still a re-submit.
        assert!(
            !back
                .submit(&bob, Some("mine"), "bin", "", later)
                .unwrap()
                .new
        );
    }

    #[test]
    fn loading_respects_the_limits_and_refuses_what_is_not_a_state_file() {
        let (mut reg, ann, _) = setup(RegistryLimits::new(64));
        let now = Instant::from_millis(1);
        for i in 0..10 {
            let id = reg.submit(&ann, None, "echo", "", now).unwrap().id;
            let result = if i == 0 {
                Ok(Reply::Json("x".repeat(100)))
            } else {
                Ok(Reply::Json("y".into()))
            };
            reg.finish(&ann, &id, result, now);
        }
        let bytes = reg.save(now);
        let mut small = RegistryLimits::new(64);
        small.per_owner_entries = 4;
        small.per_owner_result_bytes = 50;
        let (mut back, _, _) = setup(small);
        let loaded = back.load(&bytes, now).unwrap();
        assert_eq!(loaded.kept + loaded.dropped, 10);
        assert!(loaded.kept <= 4, "{loaded:?}");
        assert!(back.counts()[2] <= 4);
        // Expired meanwhile: dropped.
        let mut brief = RegistryLimits::new(64);
        brief.result_max_age = Duration::from_millis(10);
        let (mut aged, _, _) = setup(brief);
        let old = reg.save(now + Duration::from_millis(20));
        assert_eq!(aged.load(&old, now).unwrap().kept, 0);
        assert!(back.load(b"{}", now).is_err());
        assert!(back.load(b"\xff", now).is_err());
        assert!(back.load(br#"{"version":99,"entries":[]}"#, now).is_err());
    }

    #[test]
    fn the_state_file_and_its_key_are_private_and_the_key_is_kept() {
        let dir = std::env::temp_dir().join(std::format!("arkwire-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let keys = state_keys(&path).unwrap();
        let again = state_keys(&path).unwrap();
        assert_eq!(keys.owner("ann", "t"), again.owner("ann", "t"));
        write_state_file(&path, b"{}").unwrap();
        write_state_file(&path, b"{\"version\":1}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"version\":1}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [path.clone(), dir.join("state.json.key")] {
                let mode = std::fs::metadata(&f).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", f.display());
            }
        }
        // Only the two files: no temporary one left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::write(dir.join("bad.key"), "nothex").unwrap();
        assert!(state_keys(&dir.join("bad")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
