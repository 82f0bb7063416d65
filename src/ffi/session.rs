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
    arg, arkwire_error_kind, arkwire_limits, arkwire_request_state, arkwire_result,
    arkwire_result_kind, arkwire_status, call_error_status, guard_try, opt_str_arg, out, str_arg,
    ResultMeta,
};
use crate::arkouda::{ChannelConfig, Command, Pattern, PollConfig};
use crate::grpc::Code;
use crate::net::{
    BinaryReply, ClientConfig, Session, SessionError, SessionOptions, SessionOutcome, StatusView,
};
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
///
/// Waits: every call returns by its deadline at the latest (the config's
/// `call_timeout_ms`, `arkwire_session_set_deadline`, or for a polled call
/// `poll_deadline_ms`); a connection that closes or is reset ends the wait
/// at once (`ARKWIRE_CLOSED`, with the operating system's reason in `msg`).
///
/// Limits: a request message (without a binary payload) of at most the
/// config's `max_request`, 4 MiB by default as `arkwire serve`'s
/// `--max-message-size`; larger is `ARKWIRE_RESOURCE_EXHAUSTED` before
/// anything is sent. `arkwire_session_limits` reports them.
///
/// After `ARKWIRE_CLOSED`: the session stays usable for results and
/// `arkwire_session_finish`; every operation returns `ARKWIRE_CLOSED` at
/// once until `arkwire_session_reconnect` succeeds (or, with
/// `reconnect_attempts`, the next operation reconnects first;
/// `ARKWIRE_CONNECTION_FAILED` when that fails). An operation that failed
/// with CLOSED may or may not have reached the proxy, and is not sent again
/// unless `resend_in_flight` is set.
///
/// Signals: the library never raises SIGPIPE: it writes with MSG_NOSIGNAL
/// (Linux) or on SO_NOSIGPIPE sockets (macOS, BSD), so a host need not
/// ignore the signal. Time: the session reads the monotonic clock; changes
/// to the wall clock do not move its deadlines.
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
    /// The largest reply accepted.
    max_reply: usize,
    user_len: usize,
    token_len: usize,
}

/// One operation's result, owned by the session until it is finished. The
/// `Vec`s' heap blocks do not move when the map changes, so the pointers a
/// result holds stay put.
struct Stored {
    meta: ResultMeta,
    /// The text followed by a NUL.
    msg: Vec<u8>,
    /// A binary reply's bytes, in the buffer they were received into.
    payload: BinaryReply,
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

/// Settings for `arkwire_session_open`. Fill it with
/// `arkwire_session_config_init`, then change what differs. Times are in
/// milliseconds; 0 turns a feature off where that is said. Only read by
/// the library, during the call it is passed to.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct arkwire_session_config {
    /// How long the TCP connect (and each reconnect attempt) may take.
    /// Default 5000.
    pub connect_timeout_ms: u32,
    /// The gRPC deadline of each call, told to the proxy (`grpc-timeout`);
    /// 0: none. Default 30000. `arkwire_session_set_deadline` bounds single
    /// calls more tightly.
    pub call_timeout_ms: u32,
    /// Wait before the first status poll of a polled call. Default 10.
    pub poll_interval_ms: u32,
    /// Each wait between polls is this many times the last (1: constant).
    /// Default 2.
    pub poll_backoff: u32,
    /// Upper bound of the wait between polls. Default 500.
    pub poll_max_interval_ms: u32,
    /// A polled call fails with `ARKWIRE_DEADLINE_EXCEEDED` this long after
    /// it started. Default 600000.
    pub poll_deadline_ms: u32,
    /// HTTP/2 PING keepalive: after this much silence from the proxy while
    /// a call is under way, a PING goes out; 0: off. Default 10000.
    pub keepalive_interval_ms: u32,
    /// A proxy that sends nothing for this long after a keepalive PING is
    /// taken for dead: the call fails with `ARKWIRE_CLOSED`. Default 5000.
    pub keepalive_timeout_ms: u32,
    /// TCP keepalive: after this many seconds of an idle connection the
    /// kernel probes the peer, and fails the socket after about half as
    /// long again without an answer (Linux also bounds unacknowledged data
    /// to twice this), so a dead host or a dropped NAT mapping is noticed
    /// by the next call at once; 0: off. Default 60.
    pub tcp_keepalive_s: u32,
    /// Automatic reconnect: when an operation starts on a connection found
    /// closed, up to this many connect attempts are made first (nothing of
    /// the operation was sent yet); 0, the default: none (reconnect with
    /// `arkwire_session_reconnect`).
    pub reconnect_attempts: u32,
    /// The wait before the second attempt; each further wait doubles up to
    /// `reconnect_max_backoff_ms`, and each is drawn from its upper half
    /// (jitter). Default 100.
    pub reconnect_backoff_ms: u32,
    /// The longest wait between attempts. Default 5000.
    pub reconnect_max_backoff_ms: u32,
    /// Also send again, once, an operation whose connection closed while it
    /// was under way: the proxy may then run it twice. Only for commands
    /// that may run twice; needs `reconnect_attempts`. Default false.
    pub resend_in_flight: bool,
    /// The largest request message (without a binary payload) a call may
    /// send: a larger one fails with `ARKWIRE_RESOURCE_EXHAUSTED` before
    /// anything is sent. Default 4194304, `arkwire serve`'s
    /// `--max-message-size`; raise both together.
    pub max_request: usize,
}

/// Fills `config` with the defaults (see each field).
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`. Thread-safe.
///
/// # Safety
/// `config` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_config_init(
    config: *mut arkwire_session_config,
) -> arkwire_status {
    guard_try(|| {
        let o = SessionOptions::default();
        let value = arkwire_session_config {
            connect_timeout_ms: 5000,
            call_timeout_ms: 30_000,
            poll_interval_ms: 10,
            poll_backoff: 2,
            poll_max_interval_ms: 500,
            poll_deadline_ms: 600_000,
            keepalive_interval_ms: 10_000,
            keepalive_timeout_ms: 5000,
            tcp_keepalive_s: 60,
            reconnect_attempts: 0,
            reconnect_backoff_ms: 100,
            reconnect_max_backoff_ms: 5000,
            resend_in_flight: false,
            max_request: o.max_request,
        };
        // SAFETY: NULL or writable (caller contract).
        unsafe { out(config, value) }
    })
}

/// Connects to the proxy at `addr` (`host:port`) as `user` (with `token`,
/// NULL for none) with the settings of `config`, and writes the session to
/// `*session_out`; free it with `arkwire_session_free`.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_INVALID_UTF8`,
/// `ARKWIRE_INVALID_ARGUMENT` (addr does not resolve, user longer than
/// `ARKWIRE_MAX_USER` or token than `ARKWIRE_MAX_TOKEN` bytes, a zero
/// `connect_timeout_ms` or `max_request`), `ARKWIRE_CONNECTION_FAILED` (the
/// connect failed or timed out). `arkwire_session_open_last_error` says
/// why. `*session_out` is untouched on failure. `arkwire_session_open_tls`
/// opens a session over TLS.
///
/// # Safety
/// `addr`, `user` are NULL or NUL-terminated; `token` likewise; `config`
/// NULL or valid for reads; `session_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_open(
    addr: *const c_char,
    user: *const c_char,
    token: *const c_char,
    config: *const arkwire_session_config,
    session_out: *mut *mut arkwire_session,
) -> arkwire_status {
    guard_try(|| {
        super::tls::set_open_error("");
        // SAFETY: NULL or valid (caller contract).
        let c = *unsafe { arg(config) }?;
        // SAFETY: forwarded contract.
        unsafe { open_with(addr, user, token, c, None, session_out) }
    })
}

/// Connects to the proxy at `addr` (`host:port`) as `user` (with `token`,
/// NULL for none) and writes the session to `*session_out`; free it with
/// `arkwire_session_free`.
///
/// The settings are `arkwire_session_config_init`'s, except that a
/// `timeout_ms` other than 0 is both the connect timeout and the deadline
/// of every gRPC call (0: 5 s to connect, 30 s per call). A reply may
/// carry 4 MiB of text and a binary payload of up to 2 GiB (what a gRPC
/// message can carry; the proxy's `--max-binary-size` decides what it
/// passes on); a request at most 4 MiB besides its binary payload. Polled commands give up after 10 minutes. Use
/// `arkwire_session_open` for the other settings.
///
/// Errors: as `arkwire_session_open`.
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
        let mut c = core::mem::MaybeUninit::uninit();
        // SAFETY: a valid out-pointer.
        unsafe { arkwire_session_config_init(c.as_mut_ptr()) };
        // SAFETY: initialized just now.
        let mut c = unsafe { c.assume_init() };
        if timeout_ms != 0 {
            c.connect_timeout_ms = timeout_ms;
            c.call_timeout_ms = timeout_ms;
        }
        super::tls::set_open_error("");
        // SAFETY: forwarded contract.
        unsafe { open_with(addr, user, token, c, None, session_out) }
    })
}

/// The body of `arkwire_session_open`, `arkwire_session_connect` and
/// (with `tls`) `arkwire_session_open_tls`; a failure's text goes to
/// `arkwire_session_open_last_error`.
///
/// # Safety
/// As `arkwire_session_connect`.
pub(crate) unsafe fn open_with(
    addr: *const c_char,
    user: *const c_char,
    token: *const c_char,
    c: arkwire_session_config,
    tls: Option<std::sync::Arc<crate::tls::Connector>>,
    session_out: *mut *mut arkwire_session,
) -> Result<(), arkwire_status> {
    let fail = |status: arkwire_status, text: &str| {
        super::tls::set_open_error(text);
        status
    };
    if session_out.is_null() {
        return Err(ARKWIRE_NULL_ARGUMENT);
    }
    // SAFETY: NULL or NUL-terminated (caller contract).
    let (addr, user, token) = unsafe { (str_arg(addr)?, str_arg(user)?, opt_str_arg(token)?) };
    if c.connect_timeout_ms == 0 || c.max_request == 0 {
        return Err(fail(
            ARKWIRE_INVALID_ARGUMENT,
            "connect_timeout_ms and max_request must not be 0",
        ));
    }
    let addr = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            fail(
                ARKWIRE_INVALID_ARGUMENT,
                &std::format!("{addr} is not an address"),
            )
        })?;
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    let mut client = ClientConfig::default();
    client.options.max_message_size = client
        .options
        .max_message_size
        .saturating_add(crate::arkouda::upstream_msg::MAX_BINARY_SIZE_LIMIT);
    client.connect_timeout = ms(c.connect_timeout_ms);
    let channel = ChannelConfig {
        call_timeout: (c.call_timeout_ms != 0).then(|| ms(c.call_timeout_ms)),
        poll: PollConfig {
            interval: ms(c.poll_interval_ms),
            backoff: c.poll_backoff.max(1),
            max_interval: ms(c.poll_max_interval_ms),
            deadline: ms(c.poll_deadline_ms),
        },
        ..ChannelConfig::default()
    };
    let options = SessionOptions {
        keepalive_interval: (c.keepalive_interval_ms != 0).then(|| ms(c.keepalive_interval_ms)),
        keepalive_timeout: ms(c.keepalive_timeout_ms.max(1)),
        tcp_keepalive: (c.tcp_keepalive_s != 0)
            .then(|| Duration::from_secs(u64::from(c.tcp_keepalive_s))),
        reconnect_attempts: c.reconnect_attempts,
        reconnect_backoff: ms(c.reconnect_backoff_ms),
        reconnect_max_backoff: ms(c.reconnect_max_backoff_ms),
        resend_in_flight: c.resend_in_flight,
        max_request: c.max_request,
    };
    let connect_timeout = client.connect_timeout;
    let connected = match tls {
        None => Session::connect_with(addr, user, token, client, channel, options),
        Some(connector) => {
            Session::connect_tls(addr, user, token, client, channel, options, connector)
        }
    };
    let mut inner = connected.map_err(|e| {
        let text = std::format!("cannot connect to {addr}: {e}");
        if e.kind() == std::io::ErrorKind::InvalidInput {
            fail(ARKWIRE_INVALID_ARGUMENT, &text)
        } else {
            fail(ARKWIRE_CONNECTION_FAILED, &text)
        }
    })?;
    if inner.is_tls() {
        // The handshake now, up to the proxy's first HTTP/2 frame, so that
        // a refused handshake is this call's failure, with its cause.
        inner.wait_ready(connect_timeout).map_err(|e| match e {
            SessionError::Closed(why) if why.starts_with(crate::net::TLS_FAILURE) => {
                fail(ARKWIRE_TLS_FAILED, &why)
            }
            e => fail(ARKWIRE_CONNECTION_FAILED, &std::format!("{e}")),
        })?;
    }
    let session = Box::new(arkwire_session {
        state: UnsafeCell::new(SessionState {
            inner,
            last_error: CString::default(),
            next_op: 1,
            max_reply: client.options.max_message_size,
            user_len: user.len(),
            token_len: token.len(),
        }),
        results: Mutex::new(BTreeMap::new()),
    });
    // SAFETY: checked non-NULL; writable by the caller's contract.
    unsafe { out(session_out, Box::into_raw(session)) }
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
        // A (re)connect that failed, or the event loop itself.
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
        SessionError::TooLarge { .. } => (ARKWIRE_RESOURCE_EXHAUSTED, ARKWIRE_ERROR_LOCAL),
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
                    payload: BinaryReply::default(),
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
            payload: BinaryReply::default(),
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
            payload: BinaryReply::default(),
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
                payload: BinaryReply::default(),
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

/// Runs `f` on a live session for a function that is not an operation:
/// the last error is cleared first and set to what `f` reports on failure.
///
/// # Safety
/// `session` is NULL or live and in no other call (but `_finish`).
unsafe fn with_session(
    session: *mut arkwire_session,
    f: impl FnOnce(&mut SessionState) -> Result<(), (arkwire_status, std::string::String)>,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: NULL or live (caller contract).
        let s = unsafe { arg(session) }?;
        // SAFETY: no other call runs on the session (caller contract).
        let state = unsafe { &mut *s.state.get() };
        state.last_error = CString::default();
        f(state).map_err(|(status, why)| {
            state.last_error = c_text(&why);
            status
        })
    })
}

/// Replaces the session's connection with a new one to the same proxy,
/// with the same settings: the way back after `ARKWIRE_CLOSED` (a session
/// whose connection closed stays closed: every operation on it returns
/// `ARKWIRE_CLOSED`, at once, until it is reconnected or freed, unless
/// `reconnect_attempts` reconnects it automatically). Results not yet
/// finished are kept. A live connection is closed and replaced too. The
/// new connection counts once the proxy has sent its first bytes (HTTP/2
/// SETTINGS) within `connect_timeout_ms`; one reset before that (a proxy
/// going down as the connect arrives) is `ARKWIRE_CONNECTION_FAILED`.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_CONNECTION_FAILED` (the last
/// error says why; the session stays closed and may be reconnected again).
/// Thread safety: as a call.
///
/// # Safety
/// `session` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_reconnect(
    session: *mut arkwire_session,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_session(session, |s| {
            s.inner.reconnect().map_err(|e| {
                let why = std::format!("reconnect failed: {e}");
                (ARKWIRE_CONNECTION_FAILED, why)
            })
        })
    }
}

/// Whether the session's connection is up. With `ping_timeout_ms` 0 it
/// only takes what the socket already reports (a close, a reset, a failed
/// TCP keepalive), without waiting; otherwise it also sends an HTTP/2 PING
/// and waits up to that long for the proxy to answer, and a proxy that
/// does not is taken for dead (the connection is closed).
///
/// Returns `ARKWIRE_OK` (alive), `ARKWIRE_CLOSED` (the last error says
/// why, with the operating system's reason when there is one; reconnect
/// with `arkwire_session_reconnect`), `ARKWIRE_NULL_ARGUMENT`,
/// `ARKWIRE_CONNECTION_FAILED` (the event loop failed). Thread safety: as
/// a call.
///
/// # Safety
/// `session` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_check(
    session: *mut arkwire_session,
    ping_timeout_ms: u32,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_session(session, |s| {
            let ping =
                (ping_timeout_ms != 0).then(|| Duration::from_millis(ping_timeout_ms.into()));
            s.inner.check(ping).map_err(|e| {
                let status = match e {
                    SessionError::Closed(_) => ARKWIRE_CLOSED,
                    _ => ARKWIRE_CONNECTION_FAILED,
                };
                (status, std::format!("{e}"))
            })
        })
    }
}

/// Bounds each operation started from now on to `deadline_ms`
/// milliseconds (0: no bound beyond the config's `call_timeout_ms` and
/// `poll_deadline_ms`): an operation still running then is cancelled
/// (HTTP/2 RST_STREAM) and fails with `ARKWIRE_DEADLINE_EXCEEDED`. The
/// proxy is not told this bound; it runs until the call's `call_timeout_ms`.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`. Thread safety: as a call.
///
/// # Safety
/// `session` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_set_deadline(
    session: *mut arkwire_session,
    deadline_ms: u32,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_session(session, |s| {
            let d = (deadline_ms != 0).then(|| Duration::from_millis(deadline_ms.into()));
            s.inner.set_deadline(d);
            Ok(())
        })
    }
}

/// Writes the session's real limits to `*limits` (see `arkwire_limits`):
/// the config's `max_request`, a reply of 4 MiB of text plus a binary
/// payload of up to 2 GiB, one operation at a time.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`. Thread safety: as a call.
///
/// # Safety
/// `session` is NULL or live; `limits` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_limits(
    session: *mut arkwire_session,
    limits: *mut arkwire_limits,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_session(session, |s| {
            let max_request = s.inner.options().max_request;
            let (user, token) = ("u".repeat(s.user_len), "t".repeat(s.token_len));
            let value = arkwire_limits {
                max_request,
                max_args: super::max_args(&user, &token, &"c".repeat(16), max_request),
                max_reply: s.max_reply,
                max_payload: crate::arkouda::upstream_msg::MAX_BINARY_SIZE_LIMIT,
                max_result: s.max_reply,
                max_ops: 1,
                request_id_len: super::ARKWIRE_REQUEST_ID_LEN as u32,
            };
            out(limits, value).map_err(|st| (st, "limits is NULL".into()))
        })
    }
}

/// `arkwire_session_call` with arguments of explicit length: `args_len`
/// bytes at `args` (NULL with 0 for none), which need no NUL and may
/// contain NUL bytes; they must be UTF-8 (else `ARKWIRE_INVALID_UTF8`).
/// The bytes are only read during the call.
///
/// # Safety
/// As `arkwire_session_call`; `args` NULL or valid for reads of `args_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_call_len(
    session: *mut arkwire_session,
    cmd: *const c_char,
    args: *const c_char,
    args_len: usize,
    result: *mut arkwire_result,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        run(session, result, |s| {
            let cmd = str_arg(cmd)?;
            let args = super::bytes_arg(args.cast(), args_len)?;
            let args = core::str::from_utf8(args).map_err(|_| ARKWIRE_INVALID_UTF8)?;
            Ok(stored(s.call(cmd, args)))
        })
    }
}
