//! The sans-IO tier: an Arkouda client channel over fixed buffers, for hosts
//! that own their sockets and clocks.
//!
//! `arkwire_conn_new` allocates the whole connection once (one `Box`, about
//! 340 KiB); every later call works in that block and never touches the
//! heap: error messages and unescaped reply text go to fixed buffers inside it.

use core::ffi::c_char;
use core::time::Duration;

use super::{
    arg, arg_mut, arkwire_request_state, arkwire_status, channel_error_status, guard_try,
    opt_str_arg, out, str_arg, LastError,
};
use crate::arkouda::request_id::SEED_LEN;
use crate::arkouda::{
    Channel, ChannelConfig, ChannelError, ChannelEvent, JsonStr, MsgType, OpId, Outcome,
    PollConfig, RequestIdGenerator, RequestState,
};
use crate::grpc::{Client, Options};
use crate::h2::conn::{FixedStorage, MIN_TRANSMIT_BUFFER};
use crate::h2::Config;
use crate::time::Instant;
use arkwire_status::*;
use std::boxed::Box;

/// Smallest buffer `arkwire_conn_transmit` accepts: one largest HTTP/2
/// frame (16384 bytes) and its 9-byte header.
pub const ARKWIRE_MIN_TRANSMIT_BUFFER: usize = 16_393;
const _: () = assert!(ARKWIRE_MIN_TRANSMIT_BUFFER == MIN_TRANSMIT_BUFFER);

/// Largest request or reply message a sans-IO connection carries (bytes of
/// the encoded ArkoudaRequest/ArkoudaResponse); a reply also fits the
/// unescape buffer.
pub const ARKWIRE_CONN_MAX_MESSAGE: usize = 16_379;

/// Operations (calls, polls, submits, status queries) a sans-IO connection
/// tracks at once, from start until `arkwire_conn_finish`.
pub const ARKWIRE_CONN_MAX_OPS: usize = 8;

/// Streams, header bytes and body bytes per stream: `h2::Config::embedded()`.
type ConnStorage = FixedStorage<4, 4096, 16_384>;
const SCRATCH: usize = 16_384;

/// Settings for `arkwire_conn_new`. Fill it with `arkwire_conn_config_init`
/// first, then set `authority` and `user` (and whatever else differs).
/// Only read by the library; the strings need live only during `arkwire_conn_new`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct arkwire_conn_config {
    /// `host:port` of the proxy, sent as the HTTP/2 `:authority` (required).
    pub authority: *const c_char,
    /// The Arkouda user (required, at most 64 bytes).
    pub user: *const c_char,
    /// The Arkouda token; NULL means none (at most 128 bytes).
    pub token: *const c_char,
    /// Deadline of each gRPC call in milliseconds; 0 means none. Default 30000.
    pub call_timeout_ms: u32,
    /// Wait before the first status poll, in milliseconds. Default 50.
    pub poll_interval_ms: u32,
    /// Each wait between polls is this many times the last (1 keeps it constant). Default 2.
    pub poll_backoff: u32,
    /// Upper bound of the wait between polls, in milliseconds. Default 2000.
    pub poll_max_interval_ms: u32,
    /// A polled command fails with `ARKWIRE_DEADLINE_EXCEEDED` this long
    /// after it started, in milliseconds. Default 600000.
    pub poll_deadline_ms: u32,
    /// Commands run one after another (true, the default) or concurrently.
    pub ordered: bool,
    /// Seeds the request ids of polled and submitted commands. 0, the
    /// default, seeds them from the operating system (what a host with one
    /// should keep); any other value is used as the seed itself and must
    /// differ per device and boot (a hardware random number): two
    /// connections given the same seed send the same ids.
    pub seed: u64,
    /// The caller's clock at creation, in microseconds.
    pub now_us: u64,
}

/// What kind of outcome `arkwire_conn_outcome` reports.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum arkwire_outcome_kind {
    /// Failed: the function's return value says why, `msg` says more
    /// (Arkouda's error text, the gRPC message, the failure reason).
    ARKWIRE_OUTCOME_ERROR = 0,
    /// Arkouda's reply: `msg` is its `msg`, `warning` its msgType WARNING.
    ARKWIRE_OUTCOME_REPLY = 1,
    /// A submit was accepted: `msg` is the request id.
    ARKWIRE_OUTCOME_SUBMITTED = 2,
    /// A status query's answer: `state`, and for FINISHED the reply in `msg`
    /// (`is_error` when its msgType was ERROR).
    ARKWIRE_OUTCOME_STATUS = 3,
    /// A binary reply (the command asked `recv_binary`): `msg` points to its
    /// `msg_len` bytes, verbatim and not NUL-terminated.
    ARKWIRE_OUTCOME_BINARY = 4,
}

/// A completed operation, written by `arkwire_conn_outcome`.
///
/// `msg` points into the connection (the received reply, or its unescape
/// buffer) and is *not* NUL-terminated: use `msg_len`. It stays valid until
/// `arkwire_conn_finish` for that operation, the next `arkwire_conn_outcome`
/// call, or `arkwire_conn_free`, whichever comes first.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct arkwire_outcome {
    /// What the operation produced.
    pub kind: arkwire_outcome_kind,
    /// The text (see the kinds); never NULL, possibly empty.
    pub msg: *const c_char,
    /// Bytes at `msg`.
    pub msg_len: usize,
    /// The reply's msgType was WARNING.
    pub warning: bool,
    /// For a FINISHED status: the finished request's msgType was ERROR.
    pub is_error: bool,
    /// For `ARKWIRE_OUTCOME_STATUS`: where the request stands.
    pub state: arkwire_request_state,
    /// For `ARKWIRE_GRPC_STATUS` and a gRPC `ARKWIRE_DEADLINE_EXCEEDED`: the
    /// gRPC status code; 0 otherwise.
    pub grpc_code: u32,
}

/// A sans-IO Arkouda client connection: bytes in (`arkwire_conn_recv`),
/// bytes out (`arkwire_conn_transmit`), time in (`arkwire_conn_handle_timeout`),
/// events out (`arkwire_conn_poll_event`). It never opens a socket or reads a clock.
///
/// Thread safety: not thread-safe. One thread at a time may use a
/// connection; it may move between threads.
pub struct arkwire_conn {
    channel: Channel<ConnStorage, ARKWIRE_CONN_MAX_OPS>,
    /// Unescaped reply text and decoded gRPC messages.
    scratch: [u8; SCRATCH],
    last_error: LastError<256>,
}

/// Fills `config` with the defaults (no authority, no user, no token).
///
/// # Safety
/// `config` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_config_init(
    config: *mut arkwire_conn_config,
) -> arkwire_status {
    guard_try(|| {
        let d = ChannelConfig::default();
        let ms = |t: Duration| u32::try_from(t.as_millis()).unwrap_or(u32::MAX);
        let value = arkwire_conn_config {
            authority: core::ptr::null(),
            user: core::ptr::null(),
            token: core::ptr::null(),
            call_timeout_ms: d.call_timeout.map_or(0, ms),
            poll_interval_ms: ms(d.poll.interval),
            poll_backoff: d.poll.backoff,
            poll_max_interval_ms: ms(d.poll.max_interval),
            poll_deadline_ms: ms(d.poll.deadline),
            ordered: d.ordered,
            seed: 0,
            now_us: 0,
        };
        // SAFETY: `config` is NULL or writable (caller contract).
        unsafe { out(config, value) }
    })
}

/// Creates a connection and writes it to `*conn_out`; free it with
/// `arkwire_conn_free`. Creation allocates (the connection, about 340 KiB
/// in one block, built on a short-lived helper thread so the caller's stack
/// may be small); nothing on the connection allocates after that.
///
/// The connection starts by queueing the HTTP/2 preface: send what
/// `arkwire_conn_transmit` gives right after connecting the socket.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT` (config, authority, user or conn_out is
/// NULL), `ARKWIRE_INVALID_UTF8`, `ARKWIRE_INVALID_ARGUMENT` (a field too
/// long), `ARKWIRE_RESOURCE_EXHAUSTED` (no thread to build it on).
///
/// # Safety
/// `config` is NULL or points to a valid config whose strings are NULL or
/// NUL-terminated; `conn_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_new(
    config: *const arkwire_conn_config,
    conn_out: *mut *mut arkwire_conn,
) -> arkwire_status {
    guard_try(|| {
        if conn_out.is_null() {
            return Err(ARKWIRE_NULL_ARGUMENT);
        }
        // SAFETY: NULL or valid (caller contract).
        let c = unsafe { arg(config) }?;
        // SAFETY: the config's strings are NULL or NUL-terminated.
        let (authority, user, token) = unsafe {
            (
                str_arg(c.authority)?,
                str_arg(c.user)?,
                opt_str_arg(c.token)?,
            )
        };
        // The connection is about 340 KiB. Built on the caller's stack it
        // would be copied there (several times in a debug build) before
        // reaching the heap, and a C thread's stack may be 128 KiB: build it
        // on a helper thread whose stack is known to be large enough.
        let settings = arkwire_conn_settings {
            call_timeout_ms: c.call_timeout_ms,
            poll_interval_ms: c.poll_interval_ms,
            poll_backoff: c.poll_backoff,
            poll_max_interval_ms: c.poll_max_interval_ms,
            poll_deadline_ms: c.poll_deadline_ms,
            ordered: c.ordered,
            seed: c.seed,
            now_us: c.now_us,
        };
        let conn = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("arkwire-conn-new".into())
                .stack_size(BUILD_STACK)
                .spawn_scoped(scope, || build(settings, authority, user, token))
                .map_err(|_| ARKWIRE_RESOURCE_EXHAUSTED)?
                .join()
                .map_err(|_| ARKWIRE_PANIC)?
        })?;
        // SAFETY: checked non-NULL above; writable by the caller's contract.
        unsafe { out(conn_out, Box::into_raw(conn)) }
    })
}

/// The numbers of an `arkwire_conn_config` (no pointers: they may cross threads).
#[derive(Clone, Copy)]
struct arkwire_conn_settings {
    call_timeout_ms: u32,
    poll_interval_ms: u32,
    poll_backoff: u32,
    poll_max_interval_ms: u32,
    poll_deadline_ms: u32,
    ordered: bool,
    seed: u64,
    now_us: u64,
}

/// Stack for building a connection: room for a few copies of it.
const BUILD_STACK: usize = 16 << 20;

fn build(
    c: arkwire_conn_settings,
    authority: &str,
    user: &str,
    token: &str,
) -> Result<Box<arkwire_conn>, arkwire_status> {
    let now = Instant::from_micros(c.now_us);
    let options = Options {
        h2: Config::embedded(),
        max_message_size: ARKWIRE_CONN_MAX_MESSAGE,
        ..Options::default()
    };
    let grpc = Client::new(authority, options, now).map_err(|_| ARKWIRE_INVALID_ARGUMENT)?;
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    let config = ChannelConfig {
        call_timeout: (c.call_timeout_ms != 0).then(|| ms(c.call_timeout_ms)),
        poll: PollConfig {
            interval: ms(c.poll_interval_ms),
            backoff: c.poll_backoff.max(1),
            max_interval: ms(c.poll_max_interval_ms),
            deadline: ms(c.poll_deadline_ms),
        },
        ordered: c.ordered,
    };
    let ids = if c.seed == 0 {
        RequestIdGenerator::from_os().map_err(|_| ARKWIRE_INTERNAL)?
    } else {
        let mut seed = [0u8; SEED_LEN];
        seed[..8].copy_from_slice(&c.seed.to_le_bytes());
        RequestIdGenerator::from_seed(seed)
    };
    let channel =
        Channel::new(grpc, user, token, config, ids).map_err(|_| ARKWIRE_INVALID_ARGUMENT)?;
    Ok(Box::new(arkwire_conn {
        channel,
        scratch: [0; SCRATCH],
        last_error: LastError::new(),
    }))
}

/// Frees a connection. NULL is ignored. Pointers into it (outcome messages,
/// the last error) die with it.
///
/// # Safety
/// `conn` is NULL or a connection from `arkwire_conn_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_free(conn: *mut arkwire_conn) {
    let _ = guard_try(|| {
        if !conn.is_null() {
            // SAFETY: from Box::into_raw in arkwire_conn_new, freed once.
            drop(unsafe { Box::from_raw(conn) });
        }
        Ok(())
    });
}

/// The message of the last failed call on `conn`, NUL-terminated; empty
/// after a call that succeeded. Valid until the next call on `conn`.
/// NULL gives a static "NULL connection".
///
/// # Safety
/// `conn` is NULL or a live connection.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_last_error(conn: *const arkwire_conn) -> *const c_char {
    // SAFETY: NULL or live (caller contract).
    match unsafe { conn.as_ref() } {
        Some(c) => c.last_error.as_ptr(),
        None => c"NULL connection".as_ptr(),
    }
}

/// Runs `f` on a live connection, keeping its last error in step.
///
/// # Safety
/// `conn` is NULL or a live connection not used elsewhere during the call.
unsafe fn with_conn(
    conn: *mut arkwire_conn,
    f: impl FnOnce(&mut arkwire_conn) -> Result<(), arkwire_status>,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: forwarded contract.
        let c = unsafe { arg_mut(conn) }?;
        c.last_error.clear();
        f(c)
    })
}

/// Feeds bytes read from the socket, with the caller's clock in
/// microseconds. `data` may be NULL when `len` is 0.
///
/// Errors: `ARKWIRE_CLOSED` when the bytes break HTTP/2 and the connection
/// is closed (operations in flight then complete with an error; send what
/// `arkwire_conn_transmit` still gives, a GOAWAY, then close the socket).
///
/// # Safety
/// `conn` is NULL or live; `data` is NULL or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_recv(
    conn: *mut arkwire_conn,
    data: *const u8,
    len: usize,
    now_us: u64,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            let bytes: &[u8] = match (data.is_null(), len) {
                (_, 0) => &[],
                (true, _) => return Err(ARKWIRE_NULL_ARGUMENT),
                // SAFETY: non-NULL and readable for `len` bytes (caller contract).
                (false, _) => core::slice::from_raw_parts(data, len),
            };
            c.channel
                .recv(bytes, Instant::from_micros(now_us))
                .map_err(|e| {
                    c.last_error
                        .set(format_args!("HTTP/2 {:?}: {}", e.code, e.reason));
                    ARKWIRE_CLOSED
                })
        })
    }
}

/// Writes bytes to send into `out_buf` (at least `ARKWIRE_MIN_TRANSMIT_BUFFER`
/// bytes) and their count to `*written`; 0 means nothing to send now.
/// Call until it writes 0 after every other call on the connection.
///
/// Errors: `ARKWIRE_BUFFER_TOO_SMALL` when `cap` is below the minimum.
///
/// # Safety
/// `conn` is NULL or live; `out_buf` is NULL or writable for `cap` bytes;
/// `written` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_transmit(
    conn: *mut arkwire_conn,
    out_buf: *mut u8,
    cap: usize,
    written: *mut usize,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            if out_buf.is_null() || written.is_null() {
                return Err(ARKWIRE_NULL_ARGUMENT);
            }
            if cap < ARKWIRE_MIN_TRANSMIT_BUFFER {
                c.last_error.set(format_args!(
                    "transmit needs {ARKWIRE_MIN_TRANSMIT_BUFFER} bytes, got {cap}"
                ));
                return Err(ARKWIRE_BUFFER_TOO_SMALL);
            }
            // SAFETY: non-NULL and writable for `cap` bytes (caller contract).
            let buf = core::slice::from_raw_parts_mut(out_buf, cap);
            out(written, c.channel.transmit(buf))
        })
    }
}

/// Whether `arkwire_conn_transmit` has bytes to give (watch the socket for
/// POLLOUT). false for NULL.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_wants_transmit(conn: *const arkwire_conn) -> bool {
    // SAFETY: NULL or live (caller contract).
    match unsafe { conn.as_ref() } {
        Some(c) => c.channel.wants_transmit(),
        None => false,
    }
}

#[derive(Clone, Copy)]
enum Start {
    Call,
    Polling,
    Submit,
    Status,
}

/// Starts an operation and writes its id.
///
/// # Safety
/// As the exported starters.
unsafe fn start(
    conn: *mut arkwire_conn,
    kind: Start,
    cmd: *const c_char,
    args: *const c_char,
    now_us: u64,
    op_out: *mut u32,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            if op_out.is_null() {
                return Err(ARKWIRE_NULL_ARGUMENT);
            }
            let cmd = str_arg(cmd)?;
            let args = opt_str_arg(args)?;
            let now = Instant::from_micros(now_us);
            let started = match kind {
                Start::Call => c.channel.call(cmd, args, now),
                Start::Polling => c.channel.call_polling(cmd, args, now),
                Start::Submit => c.channel.submit(cmd, args, now),
                Start::Status => c.channel.status(cmd, now),
            };
            match started {
                Ok(OpId(op)) => out(op_out, op),
                Err(e) => {
                    c.last_error.set(format_args!("{e}"));
                    Err(match e {
                        // A request id that cannot be one.
                        ChannelError::BadReply(_) => ARKWIRE_INVALID_ARGUMENT,
                        e => channel_error_status(&e),
                    })
                }
            }
        })
    }
}

/// Blocking pattern: starts one call of `cmd` with `args` (NULL means "")
/// and writes its operation id to `*op`. The call goes out with the next
/// `arkwire_conn_transmit`; its completion is reported by
/// `arkwire_conn_poll_event`. A proxy that answers SUBMITTED is followed up
/// by polling, transparently.
///
/// Errors: `ARKWIRE_RESOURCE_EXHAUSTED` (`ARKWIRE_CONN_MAX_OPS` operations
/// unfinished, or the request is too large), `ARKWIRE_CLOSED`.
///
/// # Safety
/// `conn` is NULL or live; `cmd`, `args` NULL or NUL-terminated; `op` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_call(
    conn: *mut arkwire_conn,
    cmd: *const c_char,
    args: *const c_char,
    now_us: u64,
    op: *mut u32,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe { start(conn, Start::Call, cmd, args, now_us, op) }
}

/// Polling pattern: submits under a fresh request id, then polls its status
/// (on the timers of `arkwire_conn_poll_timeout`) until the result.
/// Otherwise as `arkwire_conn_call`.
///
/// # Safety
/// As `arkwire_conn_call`.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_call_polling(
    conn: *mut arkwire_conn,
    cmd: *const c_char,
    args: *const c_char,
    now_us: u64,
    op: *mut u32,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe { start(conn, Start::Polling, cmd, args, now_us, op) }
}

/// Fire-and-forget pattern: completes once the proxy answers SUBMITTED; the
/// outcome's `msg` is the request id for `arkwire_conn_status`.
/// Otherwise as `arkwire_conn_call`.
///
/// # Safety
/// As `arkwire_conn_call`.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_submit(
    conn: *mut arkwire_conn,
    cmd: *const c_char,
    args: *const c_char,
    now_us: u64,
    op: *mut u32,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe { start(conn, Start::Submit, cmd, args, now_us, op) }
}

/// One status query for the request id a submit gave.
///
/// Errors: as `arkwire_conn_call`, and `ARKWIRE_INVALID_ARGUMENT` for an id
/// longer than 32 characters.
///
/// # Safety
/// `conn` is NULL or live; `request_id` NULL or NUL-terminated; `op` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_status(
    conn: *mut arkwire_conn,
    request_id: *const c_char,
    now_us: u64,
    op: *mut u32,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        start(
            conn,
            Start::Status,
            request_id,
            core::ptr::null(),
            now_us,
            op,
        )
    }
}

/// Starts one command with everything Arkouda's channels may send: `size`
/// (Arkouda's argument count, -1 for none), a binary `payload` of
/// `payload_len` bytes (NULL with 0 for none; when not empty the command goes
/// out with format BINARY), and `recv_binary` when a binary reply is
/// expected: its outcome is then `ARKWIRE_OUTCOME_BINARY`. `polling` picks
/// the polling pattern, else the blocking one. The payload is copied into the
/// connection's request buffer before this returns; the caller keeps
/// ownership of it. Otherwise as `arkwire_conn_call`; a request larger than
/// `ARKWIRE_CONN_MAX_MESSAGE` is `ARKWIRE_RESOURCE_EXHAUSTED`.
///
/// # Safety
/// As `arkwire_conn_call`; `payload` NULL or valid for reads of `payload_len` bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn arkwire_conn_command(
    conn: *mut arkwire_conn,
    cmd: *const c_char,
    args: *const c_char,
    size: i32,
    payload: *const u8,
    payload_len: usize,
    recv_binary: bool,
    polling: bool,
    now_us: u64,
    op_out: *mut u32,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            if op_out.is_null() {
                return Err(ARKWIRE_NULL_ARGUMENT);
            }
            let payload = super::bytes_arg(payload, payload_len)?;
            let command = crate::arkouda::Command {
                cmd: str_arg(cmd)?,
                args: opt_str_arg(args)?,
                size,
                payload,
                recv_binary,
            };
            let pattern = if polling {
                crate::arkouda::Pattern::Polling
            } else {
                crate::arkouda::Pattern::Blocking
            };
            match c
                .channel
                .command(pattern, &command, Instant::from_micros(now_us))
            {
                Ok(OpId(op)) => out(op_out, op),
                Err(e) => {
                    c.last_error.set(format_args!("{e}"));
                    Err(channel_error_status(&e))
                }
            }
        })
    }
}

/// Writes the id of the next operation whose outcome is ready to `*op`:
/// `ARKWIRE_OK`, or `ARKWIRE_WOULD_BLOCK` when none is. Each operation is
/// reported once.
///
/// # Safety
/// `conn` is NULL or live; `op` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_poll_event(
    conn: *mut arkwire_conn,
    op: *mut u32,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            if op.is_null() {
                return Err(ARKWIRE_NULL_ARGUMENT);
            }
            match c.channel.poll_event() {
                Some(ChannelEvent::Complete(OpId(id))) => out(op, id),
                None => Err(ARKWIRE_WOULD_BLOCK),
            }
        })
    }
}

/// The text of a JSON string: borrowed when it has no escapes, else
/// unescaped into `scratch`.
fn text<'a>(s: JsonStr<'a>, scratch: &'a mut [u8]) -> Result<&'a str, arkwire_status> {
    match s.as_str() {
        Some(t) => Ok(t),
        None => s.unescape_into(scratch).map_err(|e| match e {
            crate::arkouda::UnescapeError::BufferTooSmall => ARKWIRE_BUFFER_TOO_SMALL,
            crate::arkouda::UnescapeError::InvalidEscape => ARKWIRE_BAD_REPLY,
        }),
    }
}

/// Reads a completed operation into `*outcome` (see `arkwire_outcome` for how
/// long its `msg` lives). Returns `ARKWIRE_OK` for a reply, a submit or a
/// status; otherwise the failure, with `outcome->kind` ERROR and the text in
/// `outcome->msg`: `ARKWIRE_ARKOUDA_ERROR` (Arkouda's error text),
/// `ARKWIRE_GRPC_STATUS` (`grpc_code` and the gRPC message),
/// `ARKWIRE_DEADLINE_EXCEEDED`, `ARKWIRE_REQUEST_FAILED`, `ARKWIRE_CLOSED`,
/// `ARKWIRE_BAD_REPLY`, `ARKWIRE_RESOURCE_EXHAUSTED`. `ARKWIRE_WOULD_BLOCK`
/// means the operation is still running; `ARKWIRE_NOT_FOUND` that there is
/// no such operation. Reading does not free: call `arkwire_conn_finish`.
///
/// # Safety
/// `conn` is NULL or live; `outcome` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_outcome(
    conn: *mut arkwire_conn,
    op: u32,
    outcome: *mut arkwire_outcome,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            if outcome.is_null() {
                return Err(ARKWIRE_NULL_ARGUMENT);
            }
            let (status, value) = read_outcome(c, OpId(op));
            out(outcome, value)?;
            match status {
                ARKWIRE_OK => Ok(()),
                s => Err(s),
            }
        })
    }
}

fn read_outcome(c: &mut arkwire_conn, op: OpId) -> (arkwire_status, arkwire_outcome) {
    let mut value = arkwire_outcome {
        kind: arkwire_outcome_kind::ARKWIRE_OUTCOME_ERROR,
        msg: c"".as_ptr(),
        msg_len: 0,
        warning: false,
        is_error: false,
        state: arkwire_request_state::ARKWIRE_STATE_NONE,
        grpc_code: 0,
    };
    let set = |v: &mut arkwire_outcome, t: &str| {
        v.msg = t.as_ptr().cast();
        v.msg_len = t.len();
    };
    let scratch = &mut c.scratch[..];
    let result = c.channel.outcome(op);
    let status = match result {
        Ok(Outcome::Reply(reply)) => match text(reply.msg, scratch) {
            Ok(t) => {
                value.kind = arkwire_outcome_kind::ARKWIRE_OUTCOME_REPLY;
                value.warning = reply.msg_type == MsgType::Warning;
                set(&mut value, t);
                ARKWIRE_OK
            }
            Err(s) => s,
        },
        Ok(Outcome::Binary(bytes)) => {
            value.kind = arkwire_outcome_kind::ARKWIRE_OUTCOME_BINARY;
            value.msg = bytes.as_ptr().cast();
            value.msg_len = bytes.len();
            ARKWIRE_OK
        }
        Ok(Outcome::Submitted(id)) => {
            value.kind = arkwire_outcome_kind::ARKWIRE_OUTCOME_SUBMITTED;
            set(&mut value, id);
            ARKWIRE_OK
        }
        Ok(Outcome::Status(state)) => {
            use arkwire_request_state::*;
            let (s, msg) = match state {
                RequestState::Submitted => (ARKWIRE_STATE_SUBMITTED, None),
                RequestState::Pending => (ARKWIRE_STATE_PENDING, None),
                RequestState::Running => (ARKWIRE_STATE_RUNNING, None),
                RequestState::Finished(r) => {
                    value.is_error = r.msg_type == MsgType::Error;
                    value.warning = r.msg_type == MsgType::Warning;
                    (ARKWIRE_STATE_FINISHED, Some(r.msg))
                }
                RequestState::Failed => (ARKWIRE_STATE_FAILED, None),
                RequestState::Unknown(name) => (ARKWIRE_STATE_UNKNOWN, Some(name)),
            };
            match msg.map(|m| text(m, scratch)).transpose() {
                Ok(t) => {
                    value.kind = arkwire_outcome_kind::ARKWIRE_OUTCOME_STATUS;
                    value.state = s;
                    set(&mut value, t.unwrap_or(""));
                    ARKWIRE_OK
                }
                Err(s) => s,
            }
        }
        Err(ChannelError::UnknownOp) if c.channel.request_id(op).is_some() => {
            return (ARKWIRE_WOULD_BLOCK, value);
        }
        Err(e) => {
            let status = channel_error_status(&e);
            match e {
                ChannelError::Arkouda(reply) => {
                    if let Ok(t) = text(reply.msg, scratch) {
                        set(&mut value, t);
                    }
                }
                ChannelError::Failed(why) => {
                    if let Ok(t) = text(why, scratch) {
                        set(&mut value, t);
                    }
                }
                ChannelError::Status(s) => {
                    value.grpc_code = s.code as u32;
                    if let Some(t) = s.message_into(scratch) {
                        set(&mut value, t);
                    }
                }
                _ => {}
            }
            c.last_error.set(format_args!("{e}"));
            if value.msg_len == 0 {
                // Into the scratch buffer: the last error is cleared by the next call.
                let t = c.last_error.as_bytes();
                c.scratch[..t.len()].copy_from_slice(t);
                value.msg = c.scratch.as_ptr().cast();
                value.msg_len = t.len();
            }
            return (status, value);
        }
    };
    if status != ARKWIRE_OK {
        c.last_error.set(format_args!(
            "the reply text cannot be decoded ({status:?})"
        ));
    }
    (status, value)
}

/// Frees a completed operation (and the memory its outcome points to). An
/// operation still running is cancelled. `ARKWIRE_NOT_FOUND` for an unknown id.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_finish(conn: *mut arkwire_conn, op: u32) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            if c.channel.request_id(OpId(op)).is_none() {
                return Err(ARKWIRE_NOT_FOUND);
            }
            c.channel.finish(OpId(op));
            Ok(())
        })
    }
}

/// Writes the instant (caller clock, microseconds) at which
/// `arkwire_conn_handle_timeout` must next be called to `*at_us`, or returns
/// `ARKWIRE_WOULD_BLOCK` when no timer is set.
///
/// # Safety
/// `conn` is NULL or live; `at_us` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_poll_timeout(
    conn: *mut arkwire_conn,
    at_us: *mut u64,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| match c.channel.poll_timeout() {
            Some(at) => out(at_us, at.as_micros()),
            None if at_us.is_null() => Err(ARKWIRE_NULL_ARGUMENT),
            None => Err(ARKWIRE_WOULD_BLOCK),
        })
    }
}

/// Advances time to `now_us`: call deadlines, status polls, polling deadlines
/// and HTTP/2 timers. Then transmit and poll events.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_handle_timeout(
    conn: *mut arkwire_conn,
    now_us: u64,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            c.channel.handle_timeout(Instant::from_micros(now_us));
            Ok(())
        })
    }
}
