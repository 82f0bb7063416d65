//! The C ABI: `include/arkwire.h`, generated from this module by cbindgen.
//!
//! Conventions (modelled on rustls-ffi and hyper's C API):
//! - every name starts with `arkwire_` (constants with `ARKWIRE_`);
//! - handles are opaque; a constructor returns an [`arkwire_status`] and
//!   writes the handle through an out-pointer; every handle has one `_free`;
//! - every fallible function returns an [`arkwire_status`], `ARKWIRE_OK` (0)
//!   on success, and writes results through out-pointers;
//! - a NULL argument is answered with `ARKWIRE_NULL_ARGUMENT`, never a crash;
//! - no panic crosses the boundary: each exported function runs inside
//!   `catch_unwind` and a panic becomes `ARKWIRE_PANIC`;
//! - one meaning per status code ([`arkwire_status::text`] names each);
//! - one result shape: every operation of either client tier ends in an
//!   [`arkwire_result`], whose pointers stay valid until that operation is
//!   finished, whatever else happens on the connection.
//!
//! Two tiers: [`conn`] is the sans-IO channel for hosts that own their sockets
//! and clocks (built in the caller's memory, fixed capacity, no allocation
//! after it is built); [`session`] and [`server`] drive real sockets with the
//! std event loop; [`tls`] gives the socket tier's sessions TLS.
#![allow(non_camel_case_types)]

use core::ffi::{c_char, CStr};
use core::fmt::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::arkouda::ChannelError;
use crate::grpc::{CallError, Code};

pub mod conn;
pub mod server;
pub mod session;
pub mod tls;

/// What a call into the library came to. `ARKWIRE_OK` is 0; every other
/// value says why the call failed, and each has exactly one meaning.
/// `arkwire_status_str` names each one.
///
/// The type is a `uint32_t` in C, so future codes keep the ABI.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum arkwire_status {
    /// Success.
    ARKWIRE_OK = 0,
    /// A required pointer argument was NULL.
    ARKWIRE_NULL_ARGUMENT = 1,
    /// A string argument was not valid UTF-8.
    ARKWIRE_INVALID_UTF8 = 2,
    /// An argument was out of range or malformed (an address, a too-long
    /// user name or request id, a config value, ...).
    ARKWIRE_INVALID_ARGUMENT = 3,
    /// The TCP connection could not be made, or the socket failed.
    ARKWIRE_CONNECTION_FAILED = 4,
    /// The connection is closed (by the peer or after an HTTP/2 error).
    ARKWIRE_CLOSED = 5,
    /// A deadline passed: the call's gRPC deadline or the polling deadline.
    ARKWIRE_DEADLINE_EXCEEDED = 6,
    /// The call ended with a gRPC status other than OK (the result's
    /// `grpc_code` says which).
    ARKWIRE_GRPC_STATUS = 7,
    /// Arkouda answered with msgType ERROR; the result's `msg` is its text.
    ARKWIRE_ARKOUDA_ERROR = 8,
    /// The asynchronous proxy reports the request FAILED.
    ARKWIRE_REQUEST_FAILED = 9,
    /// A reply broke the protocol (not an ArkoudaResponse, not Arkouda JSON, ...).
    ARKWIRE_BAD_REPLY = 10,
    /// A caller's buffer is too small (see `ARKWIRE_MIN_TRANSMIT_BUFFER` and
    /// `arkwire_conn_size`), or a reply does not fit its operation's result buffer.
    ARKWIRE_BUFFER_TOO_SMALL = 11,
    /// The operation is still running: its result is not there yet.
    ARKWIRE_PENDING = 12,
    /// No such operation (never started, or already finished).
    ARKWIRE_NOT_FOUND = 13,
    /// A fixed capacity is used up: too many operations or calls in flight,
    /// or a request larger than the message limit.
    ARKWIRE_RESOURCE_EXHAUSTED = 14,
    /// An internal error; the last error says more.
    ARKWIRE_INTERNAL = 15,
    /// A Rust panic was caught at the boundary. The handle it happened on
    /// should only be freed.
    ARKWIRE_PANIC = 16,
    /// No timer is armed: nothing needs `arkwire_conn_handle_timeout` until
    /// more bytes or operations come.
    ARKWIRE_NO_TIMER = 17,
    /// No operation has completed since the last report: nothing to read now.
    ARKWIRE_NO_EVENT = 18,
    /// The TLS handshake failed: the proxy's certificate is not from a
    /// trusted CA or does not carry the server name, the proxy refused this
    /// client's certificate (or its absence), or the peer does not speak
    /// TLS with `h2`. `arkwire_session_open_last_error` names the cause.
    ARKWIRE_TLS_FAILED = 19,
}

use arkwire_status::*;

impl arkwire_status {
    /// Every status, in code order (the code is the index).
    pub(crate) const ALL: [arkwire_status; 20] = [
        ARKWIRE_OK,
        ARKWIRE_NULL_ARGUMENT,
        ARKWIRE_INVALID_UTF8,
        ARKWIRE_INVALID_ARGUMENT,
        ARKWIRE_CONNECTION_FAILED,
        ARKWIRE_CLOSED,
        ARKWIRE_DEADLINE_EXCEEDED,
        ARKWIRE_GRPC_STATUS,
        ARKWIRE_ARKOUDA_ERROR,
        ARKWIRE_REQUEST_FAILED,
        ARKWIRE_BAD_REPLY,
        ARKWIRE_BUFFER_TOO_SMALL,
        ARKWIRE_PENDING,
        ARKWIRE_NOT_FOUND,
        ARKWIRE_RESOURCE_EXHAUSTED,
        ARKWIRE_INTERNAL,
        ARKWIRE_PANIC,
        ARKWIRE_NO_TIMER,
        ARKWIRE_NO_EVENT,
        ARKWIRE_TLS_FAILED,
    ];

    /// The status a C integer stands for, if any.
    pub fn from_code(code: StatusCode) -> Option<arkwire_status> {
        Self::ALL.iter().copied().find(|s| *s as StatusCode == code)
    }

    /// The text `arkwire_status_str` gives (one line, no trailing period).
    pub fn text(self) -> &'static CStr {
        match self {
            ARKWIRE_OK => c"ok",
            ARKWIRE_NULL_ARGUMENT => c"a required argument was NULL",
            ARKWIRE_INVALID_UTF8 => c"a string argument is not valid UTF-8",
            ARKWIRE_INVALID_ARGUMENT => c"invalid argument",
            ARKWIRE_CONNECTION_FAILED => c"connection failed",
            ARKWIRE_CLOSED => c"connection closed",
            ARKWIRE_DEADLINE_EXCEEDED => c"deadline exceeded",
            ARKWIRE_GRPC_STATUS => c"the call ended with a gRPC status other than OK",
            ARKWIRE_ARKOUDA_ERROR => c"Arkouda answered with an ERROR reply",
            ARKWIRE_REQUEST_FAILED => c"the asynchronous request failed",
            ARKWIRE_BAD_REPLY => c"the reply breaks the protocol",
            ARKWIRE_BUFFER_TOO_SMALL => c"buffer too small",
            ARKWIRE_PENDING => c"the operation is still running",
            ARKWIRE_NOT_FOUND => c"no such operation",
            ARKWIRE_RESOURCE_EXHAUSTED => c"resource exhausted",
            ARKWIRE_INTERNAL => c"internal error",
            ARKWIRE_PANIC => c"a panic was caught at the C boundary",
            ARKWIRE_NO_TIMER => c"no timer is armed",
            ARKWIRE_NO_EVENT => c"no operation has completed",
            ARKWIRE_TLS_FAILED => c"the TLS handshake failed",
        }
    }

    /// The gRPC status code a gRPC client reports for this outcome when the
    /// peer sent none: what the `grpc_code` of a result says.
    pub fn grpc_code(self) -> Code {
        match self {
            ARKWIRE_OK | ARKWIRE_ARKOUDA_ERROR | ARKWIRE_REQUEST_FAILED => Code::Ok,
            ARKWIRE_NULL_ARGUMENT | ARKWIRE_INVALID_UTF8 | ARKWIRE_INVALID_ARGUMENT => {
                Code::InvalidArgument
            }
            ARKWIRE_CONNECTION_FAILED | ARKWIRE_CLOSED | ARKWIRE_TLS_FAILED => Code::Unavailable,
            ARKWIRE_DEADLINE_EXCEEDED => Code::DeadlineExceeded,
            ARKWIRE_GRPC_STATUS | ARKWIRE_INTERNAL | ARKWIRE_PANIC | ARKWIRE_BAD_REPLY => {
                Code::Internal
            }
            ARKWIRE_BUFFER_TOO_SMALL | ARKWIRE_RESOURCE_EXHAUSTED => Code::ResourceExhausted,
            ARKWIRE_NOT_FOUND => Code::NotFound,
            ARKWIRE_PENDING | ARKWIRE_NO_TIMER | ARKWIRE_NO_EVENT => Code::Ok,
        }
    }
}

/// An `arkwire_status` as a plain integer, for values that come *from* C
/// (a handler's return value, an argument to `arkwire_status_str`): C may pass
/// any number, and reading one that is not a variant as the Rust enum would
/// be undefined behaviour. The header calls it `arkwire_status`, which in C is
/// the same `uint32_t`.
pub type StatusCode = u32;

/// The text of a status code: a static, NUL-terminated string that is never
/// freed. Unknown codes give "unknown status". Thread-safe.
#[no_mangle]
pub extern "C" fn arkwire_status_str(status: StatusCode) -> *const c_char {
    arkwire_status::from_code(status)
        .map_or(c"unknown status", arkwire_status::text)
        .as_ptr()
}

/// The library version, e.g. "0.1.0": a static string, never freed.
/// Compare with `ARKWIRE_VERSION_STRING` to detect a header/library
/// mismatch. Thread-safe.
#[no_mangle]
pub extern "C" fn arkwire_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the version contains a NUL"),
        };
    VERSION.as_ptr()
}

/// Runs `f`, turning a panic into `ARKWIRE_PANIC`.
pub(crate) fn guard(f: impl FnOnce() -> arkwire_status) -> arkwire_status {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(ARKWIRE_PANIC)
}

/// Runs `f` with `Result` control flow; `Err` is returned as the status.
pub(crate) fn guard_try(f: impl FnOnce() -> Result<(), arkwire_status>) -> arkwire_status {
    guard(|| match f() {
        Ok(()) => ARKWIRE_OK,
        Err(s) => s,
    })
}

/// `p` as a reference, or `ARKWIRE_NULL_ARGUMENT`.
///
/// # Safety
/// `p` is NULL or valid for reads for `'a`.
pub(crate) unsafe fn arg<'a, T>(p: *const T) -> Result<&'a T, arkwire_status> {
    // SAFETY: the caller guarantees `p` is NULL or valid.
    unsafe { p.as_ref() }.ok_or(ARKWIRE_NULL_ARGUMENT)
}

/// `p` as a mutable reference, or `ARKWIRE_NULL_ARGUMENT`.
///
/// # Safety
/// `p` is NULL or valid for reads and writes for `'a`, and not aliased.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T) -> Result<&'a mut T, arkwire_status> {
    // SAFETY: the caller guarantees `p` is NULL or valid and unaliased.
    unsafe { p.as_mut() }.ok_or(ARKWIRE_NULL_ARGUMENT)
}

/// Writes `value` through an out-pointer, or answers `ARKWIRE_NULL_ARGUMENT`.
///
/// # Safety
/// `p` is NULL or valid for writes.
pub(crate) unsafe fn out<T>(p: *mut T, value: T) -> Result<(), arkwire_status> {
    if p.is_null() {
        return Err(ARKWIRE_NULL_ARGUMENT);
    }
    // SAFETY: non-NULL and, by the caller's contract, valid for writes; the
    // old value is plain data (or uninitialized), so it is not dropped.
    unsafe { p.write(value) };
    Ok(())
}

/// A NUL-terminated C string as `&str`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char) -> Result<&'a str, arkwire_status> {
    if p.is_null() {
        return Err(ARKWIRE_NULL_ARGUMENT);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| ARKWIRE_INVALID_UTF8)
}

/// Like [`str_arg`], but NULL is the empty string (for optional arguments).
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(p: *const c_char) -> Result<&'a str, arkwire_status> {
    if p.is_null() {
        return Ok("");
    }
    // SAFETY: forwarded contract.
    unsafe { str_arg(p) }
}

/// `len` bytes at `p` as a slice; NULL with a length of 0 is the empty slice.
///
/// # Safety
/// `p` is NULL (then `len` is 0) or valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn bytes_arg<'a>(p: *const u8, len: usize) -> Result<&'a [u8], arkwire_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(ARKWIRE_NULL_ARGUMENT);
    }
    // SAFETY: non-NULL and readable for len bytes by the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// An error message in a fixed buffer, NUL-terminated, truncated at a
/// character boundary: setting it never allocates.
pub(crate) struct LastError<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> LastError<N> {
    pub(crate) const fn new() -> Self {
        LastError {
            buf: [0; N],
            len: 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.buf[0] = 0;
    }

    pub(crate) fn set(&mut self, args: fmt::Arguments<'_>) {
        self.clear();
        let _ = self.write_fmt(args);
        self.buf[self.len] = 0;
    }

    pub(crate) fn as_ptr(&self) -> *const c_char {
        self.buf.as_ptr().cast()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Write for LastError<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep one byte for the NUL; NUL bytes inside would cut the C string
        // short, so they become spaces.
        for c in s.chars() {
            let c = if c == '\0' { ' ' } else { c };
            let n = c.len_utf8();
            if self.len + n >= N {
                return Err(fmt::Error);
            }
            c.encode_utf8(&mut self.buf[self.len..]);
            self.len += n;
        }
        Ok(())
    }
}

/// Where an asynchronous request stands, as a status query reports it.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum arkwire_request_state {
    /// Not a status query's result.
    ARKWIRE_STATE_NONE = 0,
    /// Accepted, not started.
    ARKWIRE_STATE_SUBMITTED = 1,
    /// Waiting to run.
    ARKWIRE_STATE_PENDING = 2,
    /// Running.
    ARKWIRE_STATE_RUNNING = 3,
    /// Done: `msg` is Arkouda's reply (`error_kind` is `ARKWIRE_ERROR_ARKOUDA`
    /// when its msgType was ERROR, `warning` when WARNING).
    ARKWIRE_STATE_FINISHED = 4,
    /// The request failed.
    ARKWIRE_STATE_FAILED = 5,
    /// A status this library does not know; `msg` is its name.
    ARKWIRE_STATE_UNKNOWN = 6,
}

/// What an operation produced, when it succeeded.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum arkwire_result_kind {
    /// Nothing: the operation failed or is still running (see `status`).
    ARKWIRE_RESULT_NONE = 0,
    /// Arkouda's reply text in `msg` (`warning` when its msgType was WARNING).
    ARKWIRE_RESULT_REPLY = 1,
    /// A binary reply (the command asked `recv_binary`): its bytes in
    /// `payload`; `msg` is empty.
    ARKWIRE_RESULT_BINARY = 2,
    /// A submit was accepted: the id for status queries is in `request_id`.
    ARKWIRE_RESULT_SUBMITTED = 3,
    /// A status query's answer: `state`, and for FINISHED the reply in `msg`.
    ARKWIRE_RESULT_STATUS = 4,
}

/// Whose failure an operation's failure is, and so what a program can do
/// about it. The `status` says what happened; this says where.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum arkwire_error_kind {
    /// No failure.
    ARKWIRE_ERROR_NONE = 0,
    /// Arkouda ran or refused the command and answered msgType ERROR (for a
    /// status query: the finished request's reply was an ERROR). Sending the
    /// same command again gives the same answer.
    ARKWIRE_ERROR_ARKOUDA = 1,
    /// The asynchronous proxy reports the request FAILED; `msg` says why.
    ARKWIRE_ERROR_REQUEST_FAILED = 2,
    /// The proxy ended the call with a gRPC status (`grpc_code`).
    ARKWIRE_ERROR_GRPC = 3,
    /// The connection failed or closed while the operation was under way:
    /// the request may or may not have reached the server.
    ARKWIRE_ERROR_TRANSPORT = 4,
    /// A deadline passed (the call's gRPC deadline or the polling deadline).
    ARKWIRE_ERROR_TIMEOUT = 5,
    /// A reply broke the protocol.
    ARKWIRE_ERROR_PROTOCOL = 6,
    /// This side refused or could not take it: an argument, a capacity, a
    /// buffer size, a connection already closed, an unknown operation.
    ARKWIRE_ERROR_LOCAL = 7,
}

/// The one result shape of both C tiers: what one operation (a call, a
/// polled call, a submit, a status query) came to, success or failure.
///
/// Written by `arkwire_session_call` and its siblings (socket tier) and by
/// `arkwire_conn_outcome` (sans-IO tier).
///
/// Lifetime, the same in both tiers: the pointers (`msg`, `payload`,
/// `request_id`) stay valid, and the bytes they point to unchanged, until
/// that operation is finished (`arkwire_session_finish` or
/// `arkwire_conn_finish` with `op`) or its session or connection is freed,
/// whatever else happens on the connection meanwhile (other operations
/// started, read or finished, the connection closed). A result whose `op` is
/// 0 belongs to no operation (the call failed before one started): its
/// pointers are static and there is nothing to finish. The struct itself is
/// the caller's; copying it copies the pointers, not the bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct arkwire_result {
    /// What the operation came to: `ARKWIRE_OK`, or why it failed (the same
    /// value the function that wrote the result returned).
    pub status: arkwire_status,
    /// The operation this result belongs to (pass it to the tier's
    /// `_finish`); 0 when none started.
    pub op: u32,
    /// What a successful operation produced.
    pub kind: arkwire_result_kind,
    /// Whose failure it is; `ARKWIRE_ERROR_NONE` on success, except a
    /// FINISHED status whose reply was an Arkouda ERROR.
    pub error_kind: arkwire_error_kind,
    /// The gRPC status code the call ended with (0 is OK), as a gRPC client
    /// reports it: the proxy's code when it sent one, else the code for what
    /// happened here (4 DEADLINE_EXCEEDED for a deadline, 14 UNAVAILABLE for
    /// a closed connection, 8 RESOURCE_EXHAUSTED for a full buffer, ...).
    /// An Arkouda ERROR reply is a gRPC success: 0.
    pub grpc_code: u32,
    /// For `ARKWIRE_RESULT_STATUS`: where the request stands; else NONE.
    pub state: arkwire_request_state,
    /// Arkouda flagged the reply as a WARNING (the text is the warning).
    pub warning: bool,
    /// Text: Arkouda's reply, the failure's message (Arkouda's error text,
    /// the gRPC message, the failure reason), or empty. Never NULL,
    /// NUL-terminated, and also sized by `msg_len` (the text may contain NUL
    /// bytes). UTF-8.
    pub msg: *const c_char,
    /// Bytes at `msg`, without the NUL.
    pub msg_len: usize,
    /// A binary reply's bytes (`ARKWIRE_RESULT_BINARY`), verbatim; never
    /// NULL, `payload_len` 0 for every other kind.
    pub payload: *const u8,
    /// Bytes at `payload`.
    pub payload_len: usize,
    /// The request id the operation used or obtained: a submit's id, a
    /// polled call's, the id a status query asked about; empty for a
    /// blocking call the proxy answered directly. Never NULL, NUL-terminated,
    /// at most 32 characters.
    pub request_id: *const c_char,
    /// Bytes at `request_id`, without the NUL.
    pub request_id_len: usize,
}

/// Longest user name a session or connection accepts, in bytes.
pub const ARKWIRE_MAX_USER: usize = 64;
/// Longest token a session or connection accepts, in bytes.
pub const ARKWIRE_MAX_TOKEN: usize = 128;
/// Length of a request id (a submit's, or the one a status query names).
pub const ARKWIRE_REQUEST_ID_LEN: usize = 32;
const _: () = assert!(ARKWIRE_REQUEST_ID_LEN == crate::arkouda::request_id::REQUEST_ID_LEN);

/// The real limits of one session or connection, as
/// `arkwire_session_limits` and `arkwire_conn_limits` report them. Each is
/// checked before anything is sent: past it an operation fails with
/// `ARKWIRE_RESOURCE_EXHAUSTED` (error kind LOCAL) and the connection is
/// untouched.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct arkwire_limits {
    /// Largest encoded request message (ArkoudaRequest: user, token, cmd,
    /// args, request id; a session's binary payload is not counted here).
    pub max_request: usize,
    /// Largest arguments of a blocking call with a command of `cmd_len`
    /// bytes: `max_request` less the request's other fields for this user
    /// and token, for a command of 16 bytes or less. Longer commands or a
    /// polled or submitted call (a 32-character request id) leave a little
    /// less.
    pub max_args: usize,
    /// Largest reply message accepted (text and binary payload).
    pub max_reply: usize,
    /// Largest binary payload a request may carry (0: none).
    pub max_payload: usize,
    /// Bytes a result keeps of a reply (with the text's NUL); a larger
    /// reply completes with `ARKWIRE_BUFFER_TOO_SMALL`.
    pub max_result: usize,
    /// Operations in flight at once (a session runs one at a time).
    pub max_ops: u32,
    /// Length of a request id.
    pub request_id_len: u32,
}

/// The encoded size of a blocking request with these fields' lengths.
pub(crate) fn request_size(user: &str, token: &str, cmd: &str, args_len: usize) -> usize {
    // The encoded length depends only on the fields' lengths; the
    // arguments' bytes are stood in for by a field of the same length.
    let base = crate::proto::ArkoudaRequestRef {
        user,
        token,
        cmd,
        format: "STRING",
        size: -1,
        args: "",
        request_id: None,
        recv_binary: false,
        payload: &[],
    }
    .encoded_len();
    // Tag (1) and length varint of the args field.
    let varint = |n: usize| (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize;
    base + if args_len == 0 {
        0
    } else {
        1 + varint(args_len) + args_len
    }
}

/// The largest `args_len` with `request_size(..) <= max_request`.
pub(crate) fn max_args(user: &str, token: &str, cmd: &str, max_request: usize) -> usize {
    let base = request_size(user, token, cmd, 0);
    let mut n = max_request.saturating_sub(base + 1);
    while n > 0 && request_size(user, token, cmd, n) > max_request {
        n -= 1;
    }
    n
}

/// The non-pointer part of a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResultMeta {
    pub(crate) status: arkwire_status,
    pub(crate) kind: arkwire_result_kind,
    pub(crate) error_kind: arkwire_error_kind,
    pub(crate) grpc_code: u32,
    pub(crate) state: arkwire_request_state,
    pub(crate) warning: bool,
}

impl ResultMeta {
    /// A success of `kind`.
    pub(crate) const fn ok(kind: arkwire_result_kind) -> Self {
        ResultMeta {
            status: ARKWIRE_OK,
            kind,
            error_kind: arkwire_error_kind::ARKWIRE_ERROR_NONE,
            grpc_code: 0,
            state: arkwire_request_state::ARKWIRE_STATE_NONE,
            warning: false,
        }
    }

    /// A failure with `status`, of `error_kind`; the gRPC code is the one
    /// the status stands for.
    pub(crate) fn failed(status: arkwire_status, error_kind: arkwire_error_kind) -> Self {
        ResultMeta {
            status,
            kind: arkwire_result_kind::ARKWIRE_RESULT_NONE,
            error_kind,
            grpc_code: status.grpc_code() as u32,
            state: arkwire_request_state::ARKWIRE_STATE_NONE,
            warning: false,
        }
    }

    /// A failure on this side, before any operation.
    pub(crate) fn local(status: arkwire_status) -> Self {
        Self::failed(status, arkwire_error_kind::ARKWIRE_ERROR_LOCAL)
    }

    /// The failure a channel error stands for.
    pub(crate) fn of_channel_error(e: &ChannelError<'_>) -> Self {
        use arkwire_error_kind::*;
        let status = channel_error_status(e);
        let kind = match e {
            ChannelError::Transport(_) => ARKWIRE_ERROR_TRANSPORT,
            ChannelError::Status(s) if s.code == Code::DeadlineExceeded => ARKWIRE_ERROR_TIMEOUT,
            ChannelError::Status(_) => ARKWIRE_ERROR_GRPC,
            ChannelError::Arkouda(_) => ARKWIRE_ERROR_ARKOUDA,
            ChannelError::Failed(_) => ARKWIRE_ERROR_REQUEST_FAILED,
            ChannelError::DeadlineExceeded => ARKWIRE_ERROR_TIMEOUT,
            ChannelError::BadReply(_) => ARKWIRE_ERROR_PROTOCOL,
            ChannelError::Start(_) | ChannelError::UnknownOp => ARKWIRE_ERROR_LOCAL,
        };
        let mut meta = Self::failed(status, kind);
        if let ChannelError::Status(s) = e {
            meta.grpc_code = s.code as u32;
        }
        meta
    }

    /// The result with these values and the given text, payload and id.
    /// `msg` and `request_id` are followed by a NUL in memory.
    pub(crate) fn result(
        self,
        op: u32,
        msg: (*const u8, usize),
        payload: &[u8],
        request_id: (*const u8, usize),
    ) -> arkwire_result {
        arkwire_result {
            status: self.status,
            op,
            kind: self.kind,
            error_kind: self.error_kind,
            grpc_code: self.grpc_code,
            state: self.state,
            warning: self.warning,
            msg: msg.0.cast(),
            msg_len: msg.1,
            payload: if payload.is_empty() {
                EMPTY.as_ptr().cast()
            } else {
                payload.as_ptr()
            },
            payload_len: payload.len(),
            request_id: request_id.0.cast(),
            request_id_len: request_id.1,
        }
    }

    /// A result that belongs to no operation: the status's text as `msg`.
    pub(crate) fn static_result(self) -> arkwire_result {
        let text = self.status.text();
        let empty = (EMPTY.as_ptr().cast(), 0);
        self.result(0, (text.as_ptr().cast(), text.count_bytes()), &[], empty)
    }
}

/// The empty C string results point to when they have no text.
pub(crate) const EMPTY: &CStr = c"";

/// The status for a call that could not start.
pub(crate) fn call_error_status(e: CallError) -> arkwire_status {
    match e {
        CallError::TooManyCalls | CallError::BufferFull | CallError::MessageTooLarge => {
            ARKWIRE_RESOURCE_EXHAUSTED
        }
        CallError::Closing => ARKWIRE_CLOSED,
        CallError::InvalidMetadata => ARKWIRE_INVALID_ARGUMENT,
    }
}

/// The status for a failed channel operation.
pub(crate) fn channel_error_status(e: &ChannelError<'_>) -> arkwire_status {
    match e {
        ChannelError::Transport(_) => ARKWIRE_CLOSED,
        ChannelError::Status(s) if s.code == Code::DeadlineExceeded => ARKWIRE_DEADLINE_EXCEEDED,
        ChannelError::Status(_) => ARKWIRE_GRPC_STATUS,
        ChannelError::Arkouda(_) => ARKWIRE_ARKOUDA_ERROR,
        ChannelError::Failed(_) => ARKWIRE_REQUEST_FAILED,
        ChannelError::DeadlineExceeded => ARKWIRE_DEADLINE_EXCEEDED,
        ChannelError::BadReply(_) => ARKWIRE_BAD_REPLY,
        ChannelError::Start(e) => call_error_status(*e),
        ChannelError::UnknownOp => ARKWIRE_NOT_FOUND,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_error_truncates_on_a_char_boundary() {
        let mut e = LastError::<8>::new();
        e.set(format_args!("ab✓✓✓"));
        assert_eq!(e.as_bytes(), "ab✓".as_bytes());
        e.set(format_args!("a\0b"));
        assert_eq!(e.as_bytes(), b"a b");
    }

    #[test]
    fn every_status_has_its_own_text_and_code() {
        for (code, status) in arkwire_status::ALL.iter().enumerate() {
            assert_eq!(*status as usize, code, "ALL is in code order");
            // SAFETY: static NUL-terminated strings.
            let text = unsafe { CStr::from_ptr(arkwire_status_str(code as u32)) };
            assert_eq!(text, status.text());
            assert_ne!(text.to_str().unwrap(), "unknown status", "code {code}");
        }
        let texts: std::collections::BTreeSet<_> =
            arkwire_status::ALL.iter().map(|s| s.text()).collect();
        assert_eq!(
            texts.len(),
            arkwire_status::ALL.len(),
            "one text per status"
        );
        let past = arkwire_status::ALL.len() as u32;
        assert_eq!(arkwire_status::from_code(past), None);
        // SAFETY: as above.
        let text = unsafe { CStr::from_ptr(arkwire_status_str(past)) };
        assert_eq!(text.to_str().unwrap(), "unknown status");
        // SAFETY: as above.
        let v = unsafe { CStr::from_ptr(arkwire_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
