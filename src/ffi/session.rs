//! The socket tier, client side: an Arkouda session over a TCP connection
//! the library owns, driven by the std event loop on the calling thread.

use core::ffi::c_char;
use std::boxed::Box;
use std::ffi::CString;
use std::net::ToSocketAddrs;
use std::time::Duration;
use std::vec::Vec;

use super::{
    arg, arg_mut, arkwire_request_state, arkwire_status, call_error_status, guard_try, opt_str_arg,
    out, str_arg,
};
use crate::arkouda::{ChannelConfig, PollConfig};
use crate::grpc::Code;
use crate::net::{ClientConfig, Session, SessionError, SessionOutcome, StatusView};
use arkwire_status::*;

/// An Arkouda session: one HTTP/2 connection to a proxy, calls kept in order.
///
/// Every call blocks the calling thread until it completes or fails.
/// Thread safety: not thread-safe. One thread at a time may use a session;
/// it may move between threads. Use one session per thread for parallel calls.
pub struct arkwire_session {
    inner: Session,
    last_error: CString,
    /// Text `arkwire_session_status` points to.
    status_msg: Vec<u8>,
}

/// A reply: Arkouda's `msg`, or a binary reply's bytes, owned by the caller
/// until `arkwire_reply_free`.
///
/// Thread safety: immutable; may be read from any number of threads at once,
/// and freed once by one of them.
pub struct arkwire_reply {
    /// The text followed by a NUL (just the NUL for a binary reply).
    msg: Vec<u8>,
    warning: bool,
    /// A binary reply's bytes.
    payload: Vec<u8>,
    binary: bool,
}

/// Where a submitted request stands, written by `arkwire_session_status`.
///
/// `msg` (NUL-terminated, also sized by `msg_len`) points into the session
/// and stays valid until the next call on that session or its free.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct arkwire_status_view {
    /// Where the request stands.
    pub state: arkwire_request_state,
    /// FINISHED: Arkouda's reply `msg`; UNKNOWN: the status name; else empty.
    pub msg: *const c_char,
    /// Bytes at `msg`, without the NUL.
    pub msg_len: usize,
    /// FINISHED with msgType ERROR.
    pub is_error: bool,
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
            inner,
            last_error: CString::default(),
            status_msg: Vec::new(),
        });
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { out(session_out, Box::into_raw(session)) }
    })
}

/// Closes the connection and frees the session. NULL is ignored.
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
/// reply: "Arkouda error: " and its text), NUL-terminated; empty after a call
/// that succeeded. Valid until the next call on `session`. NULL gives a static
/// "NULL session".
///
/// # Safety
/// `session` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_last_error(
    session: *const arkwire_session,
) -> *const c_char {
    // SAFETY: NULL or live (caller contract).
    match unsafe { session.as_ref() } {
        Some(s) => s.last_error.as_ptr(),
        None => c"NULL session".as_ptr(),
    }
}

fn error_status(e: &SessionError) -> arkwire_status {
    match e {
        SessionError::Io(_) => ARKWIRE_CONNECTION_FAILED,
        SessionError::Closed(_) => ARKWIRE_CLOSED,
        SessionError::Status {
            code: Code::DeadlineExceeded,
            ..
        } => ARKWIRE_DEADLINE_EXCEEDED,
        SessionError::Status { .. } => ARKWIRE_GRPC_STATUS,
        SessionError::Arkouda(_) => ARKWIRE_ARKOUDA_ERROR,
        SessionError::Failed(_) => ARKWIRE_REQUEST_FAILED,
        SessionError::DeadlineExceeded => ARKWIRE_DEADLINE_EXCEEDED,
        SessionError::BadReply(_) => ARKWIRE_BAD_REPLY,
        SessionError::Start(e) => call_error_status(*e),
    }
}

fn c_text(s: &str) -> CString {
    // Interior NULs would cut the C string; they cannot be told apart anyway.
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// Runs `f` on a live session, recording a failure as its last error.
///
/// # Safety
/// `session` is NULL or live and not used elsewhere during the call.
unsafe fn with_session(
    session: *mut arkwire_session,
    f: impl FnOnce(&mut arkwire_session) -> Result<(), SessionFailure>,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: forwarded contract.
        let s = unsafe { arg_mut(session) }?;
        s.last_error = CString::default();
        f(s).map_err(|e| match e {
            SessionFailure::Code(code) => code,
            SessionFailure::Session(e) => {
                s.last_error = c_text(&std::format!("{e}"));
                error_status(&e)
            }
        })
    })
}

enum SessionFailure {
    Code(arkwire_status),
    Session(SessionError),
}

impl From<arkwire_status> for SessionFailure {
    fn from(s: arkwire_status) -> Self {
        SessionFailure::Code(s)
    }
}

impl From<SessionError> for SessionFailure {
    fn from(e: SessionError) -> Self {
        SessionFailure::Session(e)
    }
}

/// Turns a reply outcome into an owned `arkwire_reply`.
fn reply(outcome: SessionOutcome) -> Result<Box<arkwire_reply>, SessionFailure> {
    match outcome {
        SessionOutcome::Reply { msg, warning } => {
            let mut bytes = msg.into_bytes();
            bytes.push(0);
            Ok(Box::new(arkwire_reply {
                msg: bytes,
                warning,
                payload: Vec::new(),
                binary: false,
            }))
        }
        SessionOutcome::Binary(payload) => Ok(Box::new(arkwire_reply {
            msg: std::vec![0],
            warning: false,
            payload,
            binary: true,
        })),
        _ => Err(SessionError::BadReply("a call was answered without a reply").into()),
    }
}

/// Blocking pattern: calls `cmd` with `args` (NULL means "") and waits for
/// Arkouda's reply, following a SUBMITTED answer by polling. On success
/// writes a reply to `*reply_out` (free with `arkwire_reply_free`).
///
/// Errors: `ARKWIRE_ARKOUDA_ERROR` (the last error holds Arkouda's text),
/// `ARKWIRE_GRPC_STATUS`, `ARKWIRE_DEADLINE_EXCEEDED`, `ARKWIRE_CLOSED`,
/// `ARKWIRE_CONNECTION_FAILED`, `ARKWIRE_REQUEST_FAILED`, `ARKWIRE_BAD_REPLY`,
/// `ARKWIRE_RESOURCE_EXHAUSTED`, and the argument errors. `*reply_out` is
/// untouched on failure.
///
/// # Safety
/// `session` is NULL or live; `cmd`, `args` NULL or NUL-terminated;
/// `reply_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_call(
    session: *mut arkwire_session,
    cmd: *const c_char,
    args: *const c_char,
    reply_out: *mut *mut arkwire_reply,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe { call(session, cmd, args, reply_out, false) }
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
    reply_out: *mut *mut arkwire_reply,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe { call(session, cmd, args, reply_out, true) }
}

/// # Safety
/// As `arkwire_session_call`.
unsafe fn call(
    session: *mut arkwire_session,
    cmd: *const c_char,
    args: *const c_char,
    reply_out: *mut *mut arkwire_reply,
    polling: bool,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_session(session, |s| {
            if reply_out.is_null() {
                return Err(ARKWIRE_NULL_ARGUMENT.into());
            }
            let (cmd, args) = (str_arg(cmd)?, opt_str_arg(args)?);
            let outcome = if polling {
                s.inner.call_polling(cmd, args)?
            } else {
                s.inner.call(cmd, args)?
            };
            out(reply_out, Box::into_raw(reply(outcome)?))?;
            Ok(())
        })
    }
}

/// Runs one command with everything Arkouda's channels may send and waits
/// for its reply: `size` (Arkouda's argument count, -1 for none), a binary
/// `payload` of `payload_len` bytes (NULL with 0 for none; when not empty the
/// command goes out with format BINARY, as Arkouda's `send_binary_message`),
/// and `recv_binary` when a binary reply is expected: the reply then holds
/// bytes (`arkwire_reply_is_binary`, `arkwire_reply_payload`). `polling`
/// picks the polling pattern, else the blocking one. The payload is only
/// read during the call; the caller keeps ownership. Errors as
/// `arkwire_session_call`; a payload past the proxy's limit is
/// `ARKWIRE_GRPC_STATUS` with RESOURCE_EXHAUSTED in the last error.
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
    reply_out: *mut *mut arkwire_reply,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_session(session, |s| {
            if reply_out.is_null() {
                return Err(ARKWIRE_NULL_ARGUMENT.into());
            }
            let command = crate::arkouda::Command {
                cmd: str_arg(cmd)?,
                args: opt_str_arg(args)?,
                size,
                payload: super::bytes_arg(payload, payload_len)?,
                recv_binary,
            };
            let pattern = if polling {
                crate::arkouda::Pattern::Polling
            } else {
                crate::arkouda::Pattern::Blocking
            };
            let outcome = s.inner.command(pattern, &command)?;
            out(reply_out, Box::into_raw(reply(outcome)?))?;
            Ok(())
        })
    }
}

/// Fire-and-forget: submits `cmd` and returns once the proxy answers
/// SUBMITTED, writing the request id (32 characters, NUL-terminated) to
/// `*request_id_out`; free it with `arkwire_string_free`. A proxy that runs
/// commands synchronously answers `ARKWIRE_BAD_REPLY`.
///
/// # Safety
/// As `arkwire_session_call`; `request_id_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_submit(
    session: *mut arkwire_session,
    cmd: *const c_char,
    args: *const c_char,
    request_id_out: *mut *mut c_char,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_session(session, |s| {
            if request_id_out.is_null() {
                return Err(ARKWIRE_NULL_ARGUMENT.into());
            }
            let (cmd, args) = (str_arg(cmd)?, opt_str_arg(args)?);
            let id = s.inner.submit(cmd, args)?;
            out(request_id_out, c_text(&id).into_raw())?;
            Ok(())
        })
    }
}

/// One status query for `request_id`; writes the answer to `*view` (its
/// `msg` lives until the next call on `session`).
///
/// # Safety
/// `session` is NULL or live; `request_id` NULL or NUL-terminated; `view`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_session_status(
    session: *mut arkwire_session,
    request_id: *const c_char,
    view: *mut arkwire_status_view,
) -> arkwire_status {
    use arkwire_request_state::*;
    // SAFETY: forwarded contract.
    unsafe {
        with_session(session, |s| {
            if view.is_null() {
                return Err(ARKWIRE_NULL_ARGUMENT.into());
            }
            let id = str_arg(request_id)?;
            let (state, msg, is_error) = match s.inner.status(id)? {
                StatusView::Submitted => (ARKWIRE_STATE_SUBMITTED, None, false),
                StatusView::Pending => (ARKWIRE_STATE_PENDING, None, false),
                StatusView::Running => (ARKWIRE_STATE_RUNNING, None, false),
                StatusView::Finished { msg, error } => (ARKWIRE_STATE_FINISHED, Some(msg), error),
                StatusView::Failed => (ARKWIRE_STATE_FAILED, None, false),
                StatusView::Unknown(name) => (ARKWIRE_STATE_UNKNOWN, Some(name), false),
            };
            s.status_msg.clear();
            s.status_msg
                .extend_from_slice(msg.unwrap_or_default().as_bytes());
            let len = s.status_msg.len();
            s.status_msg.push(0);
            out(
                view,
                arkwire_status_view {
                    state,
                    msg: s.status_msg.as_ptr().cast(),
                    msg_len: len,
                    is_error,
                },
            )?;
            Ok(())
        })
    }
}

/// The reply's text: `*msg` gets a pointer to it (NUL-terminated, and also
/// sized by `*len`, since the text may itself contain NUL bytes), valid until
/// `arkwire_reply_free`.
///
/// # Safety
/// `reply` is NULL or live; `msg` and `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_reply_msg(
    reply: *const arkwire_reply,
    msg: *mut *const c_char,
    len: *mut usize,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: NULL or live (caller contract).
        let r = unsafe { arg(reply) }?;
        if msg.is_null() || len.is_null() {
            return Err(ARKWIRE_NULL_ARGUMENT);
        }
        // SAFETY: both checked non-NULL and writable by the caller's contract.
        unsafe {
            out(msg, r.msg.as_ptr().cast())?;
            out(len, r.msg.len() - 1)
        }
    })
}

/// A binary reply's bytes: `*data` gets a pointer to them and `*len` their
/// number, valid until `arkwire_reply_free` (the reply owns them). For a text
/// reply `*len` is 0.
///
/// # Safety
/// `reply` is NULL or live; `data` and `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_reply_payload(
    reply: *const arkwire_reply,
    data: *mut *const u8,
    len: *mut usize,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: NULL or live (caller contract).
        let r = unsafe { arg(reply) }?;
        if data.is_null() || len.is_null() {
            return Err(ARKWIRE_NULL_ARGUMENT);
        }
        // SAFETY: both checked non-NULL and writable by the caller's contract.
        unsafe {
            out(data, r.payload.as_ptr())?;
            out(len, r.payload.len())
        }
    })
}

/// Whether the reply is binary (its bytes are at `arkwire_reply_payload`,
/// its text is empty). false for NULL.
///
/// # Safety
/// `reply` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_reply_is_binary(reply: *const arkwire_reply) -> bool {
    // SAFETY: NULL or live (caller contract).
    unsafe { reply.as_ref() }.is_some_and(|r| r.binary)
}

/// Whether Arkouda flagged the reply as a WARNING (the text is the
/// warning). false for NULL.
///
/// # Safety
/// `reply` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_reply_is_warning(reply: *const arkwire_reply) -> bool {
    // SAFETY: NULL or live (caller contract).
    unsafe { reply.as_ref() }.is_some_and(|r| r.warning)
}

/// Frees a reply. NULL is ignored.
///
/// # Safety
/// `reply` is NULL or from this library, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn arkwire_reply_free(reply: *mut arkwire_reply) {
    let _ = guard_try(|| {
        if !reply.is_null() {
            // SAFETY: from Box::into_raw in this module, freed once.
            drop(unsafe { Box::from_raw(reply) });
        }
        Ok(())
    });
}
