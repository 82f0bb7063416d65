//! The socket tier, client side: an Arkouda session over a TCP connection
//! the library owns, driven by the std event loop on the calling thread.

use core::cell::UnsafeCell;
use core::ffi::c_char;
use std::boxed::Box;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::net::ToSocketAddrs;
use std::sync::Mutex;
use std::time::Duration;
use std::vec::Vec;

use super::{
    arg, arkwire_error_kind, arkwire_request_state, arkwire_result, arkwire_result_kind,
    arkwire_status, call_error_status, guard_try, opt_str_arg, out, str_arg, ResultMeta,
};
use crate::arkouda::{ChannelConfig, Command, Pattern, PollConfig};
use crate::grpc::Code;
use crate::net::{ClientConfig, Session, SessionError, SessionOutcome, StatusView};
use arkwire_status::*;

/// An Arkouda session: one HTTP/2 connection to a proxy, calls kept in order.
///
/// Every call blocks the calling thread until it completes or fails, and
/// writes an `arkwire_result` that stays valid until
/// `arkwire_session_finish` (or `arkwire_session_free`).
///
/// Thread safety: calls on one session (everything but
/// `arkwire_session_finish`) must not overlap: one thread at a time, and the
/// session may move between threads; use one session per thread for
/// parallel calls. `arkwire_session_finish` may be called from any thread at
/// any time, also while another thread is in a call on the same session.
pub struct arkwire_session {
    /// Used by one thread at a time (the caller's contract).
    state: UnsafeCell<SessionState>,
    /// Results not yet finished, by operation; shared with `_finish`.
    results: Mutex<BTreeMap<u32, Stored>>,
}

struct SessionState {
    inner: Session,
    last_error: CString,
    next_op: u32,
}

/// One operation's result, owned by the session until it is finished. The
/// `Vec`s' heap blocks do not move when the map changes, so the pointers a
/// result holds stay put.
struct Stored {
    meta: ResultMeta,
    /// The text followed by a NUL.
    msg: Vec<u8>,
    payload: Vec<u8>,
    /// The request id followed by a NUL.
    request_id: Vec<u8>,
}

impl Stored {
    fn result(&self, op: u32) -> arkwire_result {
        self.meta.result(
            op,
            (self.msg.as_ptr(), self.msg.len() - 1),
            &self.payload,
            (self.request_id.as_ptr(), self.request_id.len() - 1),
        )
    }
}

/// `text` followed by a NUL.
fn nul_terminated(text: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(text.len() + 1);
    v.extend_from_slice(text.as_bytes());
    v.push(0);
    v
}

/// Connects to the proxy at `addr` (`host:port`) as `user` (with `token`,
/// NULL for none) and writes the session to `*session_out`; free it with
/// `arkwire_session_free`.
///
/// `timeout_ms` bounds the TCP connect and is the deadline of every gRPC
/// call; 0 means the defaults (5 s to connect, 30 s per call). A reply may
/// carry 4 MiB of text and a binary payload of up to 64 MiB (the proxy's
/// default `--max-binary-size`).
/// Polled commands give up after 10 minutes.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_INVALID_UTF8`,
/// `ARKWIRE_INVALID_ARGUMENT` (addr does not resolve, user or token too
/// long), `ARKWIRE_CONNECTION_FAILED`. There is no handle to read a message
/// from on failure; the code is all.
///
/// # Safety
/// `addr`, `user` are NULL or NUL-terminated; `token` likewise; `session_out`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_connect(
    addr: *const c_char,
    user: *const c_char,
    token: *const c_char,
    timeout_ms: u32,
    session_out: *mut *mut arkwire_session,
) -> arkwire_status {
    guard_try(|| {
        if session_out.is_null() {
            return Err(ARKWIRE_NULL_ARGUMENT);
        }
        // SAFETY: NULL or NUL-terminated (caller contract).
        let (addr, user, token) = unsafe { (str_arg(addr)?, str_arg(user)?, opt_str_arg(token)?) };
        let addr = addr
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or(ARKWIRE_INVALID_ARGUMENT)?;
        let mut client = ClientConfig::default();
        client.options.max_message_size = client
            .options
            .max_message_size
            .saturating_add(crate::arkouda::upstream_msg::DEFAULT_MAX_BINARY_SIZE);
        let mut channel = ChannelConfig {
            poll: PollConfig {
                interval: Duration::from_millis(10),
                backoff: 2,
                max_interval: Duration::from_millis(500),
                deadline: Duration::from_secs(600),
            },
            ..ChannelConfig::default()
        };
        if timeout_ms != 0 {
            let t = Duration::from_millis(u64::from(timeout_ms));
            client.connect_timeout = t;
            channel.call_timeout = Some(t);
        }
        let inner = Session::connect(addr, user, token, client, channel).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidInput {
                ARKWIRE_INVALID_ARGUMENT
            } else {
                ARKWIRE_CONNECTION_FAILED
            }
        })?;
        let session = Box::new(arkwire_session {
            state: UnsafeCell::new(SessionState {
                inner,
                last_error: CString::default(),
                next_op: 1,
            }),
            results: Mutex::new(BTreeMap::new()),
        });
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { out(session_out, Box::into_raw(session)) }
    })
}

/// Closes the connection and frees the session with every result it still
/// holds (their pointers die with it). NULL is ignored.
///
/// # Safety
/// `session` is NULL or from `arkwire_session_connect`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_free(session: *mut arkwire_session) {
    let _ = guard_try(|| {
        if !session.is_null() {
            // SAFETY: from Box::into_raw in arkwire_session_connect, freed once.
            drop(unsafe { Box::from_raw(session) });
        }
        Ok(())
    });
}

/// The message of the last failed call on `session` (for an Arkouda ERROR
/// reply: "Arkouda error: " and its text; for a bad argument: what was
/// wrong), NUL-terminated; empty after a call that succeeded. Valid until
/// the next call on `session`. NULL gives a static "NULL session". A
/// result's `msg` says the same per operation and lives longer.
///
/// # Safety
/// `session` is NULL or live, not in a call on another thread.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_last_error(
    session: *const arkwire_session,
) -> *const c_char {
    // SAFETY: NULL or live (caller contract).
    match unsafe { session.as_ref() } {
        // SAFETY: no call runs on the session meanwhile (caller contract).
        Some(s) => unsafe { &*s.state.get() }.last_error.as_ptr(),
        None => c"NULL session".as_ptr(),
    }
}

/// The result values of a failed operation, and its text.
fn failure(e: &SessionError) -> (ResultMeta, std::string::String) {
    use arkwire_error_kind::*;
    let (status, kind) = match e {
        SessionError::Io(_) => (ARKWIRE_CONNECTION_FAILED, ARKWIRE_ERROR_TRANSPORT),
        SessionError::Closed(_) => (ARKWIRE_CLOSED, ARKWIRE_ERROR_TRANSPORT),
        SessionError::Status {
            code: Code::DeadlineExceeded,
            ..
        } => (ARKWIRE_DEADLINE_EXCEEDED, ARKWIRE_ERROR_TIMEOUT),
        SessionError::Status { .. } => (ARKWIRE_GRPC_STATUS, ARKWIRE_ERROR_GRPC),
        SessionError::Arkouda(_) => (ARKWIRE_ARKOUDA_ERROR, ARKWIRE_ERROR_ARKOUDA),
        SessionError::Failed(_) => (ARKWIRE_REQUEST_FAILED, ARKWIRE_ERROR_REQUEST_FAILED),
        SessionError::DeadlineExceeded => (ARKWIRE_DEADLINE_EXCEEDED, ARKWIRE_ERROR_TIMEOUT),
        SessionError::BadReply(_) => (ARKWIRE_BAD_REPLY, ARKWIRE_ERROR_PROTOCOL),
        SessionError::Start(e) => (call_error_status(*e), ARKWIRE_ERROR_LOCAL),
    };
    let mut meta = ResultMeta::failed(status, kind);
    if let SessionError::Status { code, .. } = e {
        meta.grpc_code = *code as u32;
    }
    let text = match e {
        SessionError::Arkouda(text) | SessionError::Failed(text) => text.clone(),
        e => std::format!("{e}"),
    };
    (meta, text)
}

fn c_text(s: &str) -> CString {
    // Interior NULs would cut the C string; they cannot be told apart anyway.
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// Why an operation did not start: its status and what was wrong.
struct Refused(arkwire_status, &'static str);

impl From<arkwire_status> for Refused {
    fn from(s: arkwire_status) -> Self {
        Refused(s, "")
    }
}

/// Runs one operation on a live session: `f` checks the arguments (an
/// `Err` means nothing started) and runs it; its result, success or
/// failure, is kept under a fresh operation id and written to `*result`.
///
/// # Safety
/// `session` is NULL or live and in no other call (but `_finish`);
/// `result` is NULL or writable.
unsafe fn run(
    session: *const arkwire_session,
    result: *mut arkwire_result,
    f: impl FnOnce(&mut Session) -> Result<Result<Stored, SessionError>, Refused>,
) -> arkwire_status {
    guard_try(|| {
        if result.is_null() {
            return Err(ARKWIRE_NULL_ARGUMENT);
        }
        let refuse = |status: arkwire_status| {
            // SAFETY: checked non-NULL; writable by the caller's contract.
            let _ = unsafe { out(result, ResultMeta::local(status).static_result()) };
            Err(status)
        };
        // SAFETY: NULL or live (caller contract).
        let Ok(s) = (unsafe { arg(session) }) else {
            return refuse(ARKWIRE_NULL_ARGUMENT);
        };
        // SAFETY: no other call runs on the session (caller contract);
        // `_finish` touches only `results`, behind its lock.
        let state = unsafe { &mut *s.state.get() };
        state.last_error = CString::default();
        let stored = match f(&mut state.inner) {
            Ok(Ok(stored)) => stored,
            Ok(Err(e)) => {
                state.last_error = c_text(&std::format!("{e}"));
                let (meta, text) = failure(&e);
                Stored {
                    meta,
                    msg: nul_terminated(&text.replace('\0', " ")),
                    payload: Vec::new(),
                    request_id: std::vec![0],
                }
            }
            Err(Refused(status, why)) => {
                let why = if why.is_empty() {
                    status.text().to_str().unwrap_or_default()
                } else {
                    why
                };
                state.last_error = c_text(why);
                return refuse(status);
            }
        };
        let op = state.next_op;
        state.next_op = state.next_op.wrapping_add(1).max(1);
        let status = stored.meta.status;
        let value = stored.result(op);
        let mut results = s.results.lock().unwrap_or_else(|p| p.into_inner());
        results.insert(op, stored);
        drop(results);
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { out(result, value) }?;
        match status {
            ARKWIRE_OK => Ok(()),
            s => Err(s),
        }
    })
}

/// Keeps a finished call's outcome.
fn stored(outcome: Result<SessionOutcome, SessionError>) -> Result<Stored, SessionError> {
    use arkwire_request_state::*;
    use arkwire_result_kind::*;
    let empty_id = || std::vec![0];
    Ok(match outcome? {
        SessionOutcome::Reply { msg, warning } => Stored {
            meta: ResultMeta {
                warning,
                ..ResultMeta::ok(ARKWIRE_RESULT_REPLY)
            },
            msg: nul_terminated(&msg),
            payload: Vec::new(),
            request_id: empty_id(),
        },
        SessionOutcome::Binary(payload) => Stored {
            meta: ResultMeta::ok(ARKWIRE_RESULT_BINARY),
            msg: std::vec![0],
            payload,
            request_id: empty_id(),
        },
        SessionOutcome::Submitted(id) => Stored {
            meta: ResultMeta::ok(ARKWIRE_RESULT_SUBMITTED),
            msg: std::vec![0],
            payload: Vec::new(),
            request_id: nul_terminated(&id),
        },
        SessionOutcome::Status(view) => {
            let mut meta = ResultMeta::ok(ARKWIRE_RESULT_STATUS);
            let (state, msg) = match view {
                StatusView::Submitted => (ARKWIRE_STATE_SUBMITTED, None),
                StatusView::Pending => (ARKWIRE_STATE_PENDING, None),
                StatusView::Running => (ARKWIRE_STATE_RUNNING, None),
                StatusView::Finished { msg, error } => {
                    if error {
                        meta.error_kind = arkwire_error_kind::ARKWIRE_ERROR_ARKOUDA;
                    }
                    (ARKWIRE_STATE_FINISHED, Some(msg))
                }
                StatusView::Failed => (ARKWIRE_STATE_FAILED, None),
                StatusView::Unknown(name) => (ARKWIRE_STATE_UNKNOWN, Some(name)),
            };
            meta.state = state;
            Stored {
                meta,
                msg: nul_terminated(&msg.unwrap_or_default()),
                payload: Vec::new(),
                request_id: empty_id(),
            }
        }
    })
}

/// Blocking pattern: calls `cmd` with `args` (NULL means "") and waits for
/// Arkouda's reply, following a SUBMITTED answer by polling. Writes the
/// operation's result to `*result` whatever happens (see `arkwire_result`
/// for how long it lives; finish it with `arkwire_session_finish`) and
/// returns its status: `ARKWIRE_OK` with a REPLY, or
/// `ARKWIRE_ARKOUDA_ERROR` (`msg` is Arkouda's text), `ARKWIRE_GRPC_STATUS`
/// (`grpc_code`), `ARKWIRE_DEADLINE_EXCEEDED`, `ARKWIRE_CLOSED`,
/// `ARKWIRE_CONNECTION_FAILED`, `ARKWIRE_REQUEST_FAILED`,
/// `ARKWIRE_BAD_REPLY`, `ARKWIRE_RESOURCE_EXHAUSTED`; the argument errors
/// `ARKWIRE_NULL_ARGUMENT` and `ARKWIRE_INVALID_UTF8` give a result with
/// `op` 0 (nothing to finish), and a NULL `result` is
/// `ARKWIRE_NULL_ARGUMENT` with nothing written.
///
/// # Safety
/// `session` is NULL or live; `cmd`, `args` NULL or NUL-terminated;
/// `result` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_call(
    session: *mut arkwire_session,
    cmd: *const c_char,
    args: *const c_char,
    result: *mut arkwire_result,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        run(session, result, |s| {
            let (cmd, args) = (str_arg(cmd)?, opt_str_arg(args)?);
            Ok(stored(s.call(cmd, args)))
        })
    }
}

/// Polling pattern: submits `cmd` under a fresh request id and polls its
/// status until the result. Otherwise as `arkwire_session_call`.
///
/// # Safety
/// As `arkwire_session_call`.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_call_polling(
    session: *mut arkwire_session,
    cmd: *const c_char,
    args: *const c_char,
    result: *mut arkwire_result,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        run(session, result, |s| {
            let (cmd, args) = (str_arg(cmd)?, opt_str_arg(args)?);
            Ok(stored(s.call_polling(cmd, args)))
        })
    }
}

/// Runs one command with everything Arkouda's channels may send and waits
/// for its reply: `size` (Arkouda's argument count, -1 for none), a binary
/// `payload` of `payload_len` bytes (NULL with 0 for none; when not empty the
/// command goes out with format BINARY, as Arkouda's `send_binary_message`),
/// and `recv_binary` when a binary reply is expected: the result is then
/// `ARKWIRE_RESULT_BINARY` with the bytes in `payload`. `polling` picks the
/// polling pattern, else the blocking one. The payload is only read during
/// the call; the caller keeps ownership. Otherwise as
/// `arkwire_session_call`; a payload past the proxy's limit is
/// `ARKWIRE_GRPC_STATUS` with `grpc_code` 8 (RESOURCE_EXHAUSTED).
///
/// # Safety
/// As `arkwire_session_call`; `payload` NULL or valid for reads of
/// `payload_len` bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn arkwire_session_command(
    session: *mut arkwire_session,
    cmd: *const c_char,
    args: *const c_char,
    size: i32,
    payload: *const u8,
    payload_len: usize,
    recv_binary: bool,
    polling: bool,
    result: *mut arkwire_result,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        run(session, result, |s| {
            let command = Command {
                cmd: str_arg(cmd)?,
                args: opt_str_arg(args)?,
                size,
                payload: super::bytes_arg(payload, payload_len)?,
                recv_binary,
            };
            let pattern = if polling {
                Pattern::Polling
            } else {
                Pattern::Blocking
            };
            Ok(stored(s.command(pattern, &command)))
        })
    }
}

/// Fire-and-forget: submits `cmd` and returns once the proxy answers
/// SUBMITTED: `ARKWIRE_OK` with a SUBMITTED result whose `request_id` (32
/// characters) is the id for `arkwire_session_status`. A proxy that runs
/// commands synchronously answers `ARKWIRE_BAD_REPLY`. Otherwise as
/// `arkwire_session_call`.
///
/// # Safety
/// As `arkwire_session_call`.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_submit(
    session: *mut arkwire_session,
    cmd: *const c_char,
    args: *const c_char,
    result: *mut arkwire_result,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        run(session, result, |s| {
            let (cmd, args) = (str_arg(cmd)?, opt_str_arg(args)?);
            Ok(stored(s.submit(cmd, args).map(SessionOutcome::Submitted)))
        })
    }
}

/// One status query for `request_id`: `ARKWIRE_OK` with a STATUS result
/// (`state`; for FINISHED, Arkouda's reply in `msg` and `error_kind`
/// `ARKWIRE_ERROR_ARKOUDA` when it was an ERROR; `request_id` is the id
/// asked about). An id longer than 32 characters is
/// `ARKWIRE_INVALID_ARGUMENT` (nothing sent). Otherwise as
/// `arkwire_session_call`.
///
/// # Safety
/// `session` is NULL or live; `request_id` NULL or NUL-terminated; `result`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_status(
    session: *mut arkwire_session,
    request_id: *const c_char,
    result: *mut arkwire_result,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        run(session, result, |s| {
            let id = str_arg(request_id)?;
            if id.len() > crate::arkouda::request_id::REQUEST_ID_LEN {
                return Err(Refused(
                    ARKWIRE_INVALID_ARGUMENT,
                    "a request id has at most 32 characters",
                ));
            }
            let mut stored = stored(s.status(id).map(SessionOutcome::Status));
            if let Ok(kept) = &mut stored {
                kept.request_id = nul_terminated(id);
            }
            Ok(stored)
        })
    }
}

/// Finishes an operation: frees its result (the pointers in its
/// `arkwire_result` die). `ARKWIRE_NOT_FOUND` for an operation that is
/// unknown or already finished; op 0 (no operation) is `ARKWIRE_OK` and does
/// nothing, so any result may be finished.
///
/// Thread safety: may be called from any thread, also while another thread
/// is in a call on the same session (not concurrently with its free).
///
/// # Safety
/// `session` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_finish(
    session: *const arkwire_session,
    op: u32,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: NULL or live (caller contract).
        let s = unsafe { arg(session) }?;
        if op == 0 {
            return Ok(());
        }
        let mut results = s.results.lock().unwrap_or_else(|p| p.into_inner());
        results.remove(&op).map(drop).ok_or(ARKWIRE_NOT_FOUND)
    })
}
