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
//!   `catch_unwind` and a panic becomes `ARKWIRE_PANIC`.
//!
//! Two tiers: [`conn`] is the sans-IO channel for hosts that own their sockets
//! and clocks (fixed capacity, no allocation after creation); [`session`] and
//! [`server`] drive real sockets with the std event loop.
#![allow(non_camel_case_types)]

use core::ffi::{c_char, CStr};
use core::fmt::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::arkouda::ChannelError;
use crate::grpc::{CallError, Code};

pub mod conn;
pub mod server;
pub mod session;

/// What a call into the library came to. `ARKWIRE_OK` is 0; every other
/// value says why the call failed. `arkwire_status_str` names each one.
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
    /// An argument was out of range or malformed (an address, a too-long user name, …).
    ARKWIRE_INVALID_ARGUMENT = 3,
    /// The TCP connection could not be made, or the socket failed.
    ARKWIRE_CONNECTION_FAILED = 4,
    /// The connection is closed (by the peer or after an HTTP/2 error).
    ARKWIRE_CLOSED = 5,
    /// A deadline passed: the call's gRPC deadline or the polling deadline.
    ARKWIRE_DEADLINE_EXCEEDED = 6,
    /// The call ended with a gRPC status other than OK (see the last error).
    ARKWIRE_GRPC_STATUS = 7,
    /// Arkouda answered with msgType ERROR; the error text is available.
    ARKWIRE_ARKOUDA_ERROR = 8,
    /// The asynchronous proxy reports the request FAILED.
    ARKWIRE_REQUEST_FAILED = 9,
    /// A reply broke the protocol (not an ArkoudaResponse, not Arkouda JSON, …).
    ARKWIRE_BAD_REPLY = 10,
    /// A caller's buffer is too small (see `ARKWIRE_MIN_TRANSMIT_BUFFER`).
    ARKWIRE_BUFFER_TOO_SMALL = 11,
    /// Nothing to report yet: no event, no timer, or the operation is still running.
    ARKWIRE_WOULD_BLOCK = 12,
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
}

use arkwire_status::*;

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
    let text: &'static CStr = match status {
        0 => c"ok",
        1 => c"a required argument was NULL",
        2 => c"a string argument is not valid UTF-8",
        3 => c"invalid argument",
        4 => c"connection failed",
        5 => c"connection closed",
        6 => c"deadline exceeded",
        7 => c"the call ended with a gRPC status other than OK",
        8 => c"Arkouda answered with an ERROR reply",
        9 => c"the asynchronous request failed",
        10 => c"the reply breaks the protocol",
        11 => c"buffer too small",
        12 => c"would block: nothing ready yet",
        13 => c"not found",
        14 => c"resource exhausted",
        15 => c"internal error",
        16 => c"a panic was caught at the C boundary",
        _ => c"unknown status",
    };
    text.as_ptr()
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

/// Frees a string the library handed out (such as a request id from
/// `arkwire_session_submit`). NULL is ignored. Free each string once.
///
/// # Safety
/// `s` is NULL or a string returned by this library and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn arkwire_string_free(s: *mut c_char) {
    let _ = guard(|| {
        if !s.is_null() {
            // SAFETY: the caller passes a pointer from CString::into_raw in
            // this library, freed once.
            drop(unsafe { std::ffi::CString::from_raw(s) });
        }
        ARKWIRE_OK
    });
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

/// What happened to an asynchronous request, as a status query reports it.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum arkwire_request_state {
    /// Not a status outcome.
    ARKWIRE_STATE_NONE = 0,
    /// Accepted, not started.
    ARKWIRE_STATE_SUBMITTED = 1,
    /// Waiting to run.
    ARKWIRE_STATE_PENDING = 2,
    /// Running.
    ARKWIRE_STATE_RUNNING = 3,
    /// Done: the message is Arkouda's reply `msg` (`is_error` when msgType was ERROR).
    ARKWIRE_STATE_FINISHED = 4,
    /// The request failed.
    ARKWIRE_STATE_FAILED = 5,
    /// A status this library does not know; the message is its name.
    ARKWIRE_STATE_UNKNOWN = 6,
}

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
    fn every_status_has_text() {
        for code in 0..=16 {
            // SAFETY: static NUL-terminated strings.
            let text = unsafe { CStr::from_ptr(arkwire_status_str(code)) };
            assert_ne!(text.to_str().unwrap(), "unknown status", "code {code}");
        }
        // SAFETY: as above.
        let v = unsafe { CStr::from_ptr(arkwire_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
