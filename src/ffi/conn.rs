//! The sans-IO tier: an Arkouda client channel over fixed buffers, for hosts
//! that own their sockets and clocks.
//!
//! A connection lives in one block of memory sized by `arkwire_conn_size`:
//! the caller's (`arkwire_conn_init`) or one allocation
//! (`arkwire_conn_new`), built in place (no helper thread, no large stack).
//! Every later call works in that block and never touches the heap. The
//! block holds, in this order (see `arkwire_conn_size`):
//! 1. the connection's state (`arkwire_conn`: the channel, the HTTP/2
//!    connection's own small state, the last error), at the block's first
//!    address aligned for it;
//! 2. one result slot per operation it may track (`max_ops`): a completed
//!    operation's text or binary payload is copied into its own slot when
//!    the completion is first seen, so a result stays as it is until that
//!    operation is finished, whatever else happens on the connection;
//! 3. the lent HTTP/2 storage (`h2::conn::LentStorage::from_region`): the
//!    header scratch, the HPACK decoder table, and per operation a stream's
//!    received headers, received body and send queue;
//! 4. per operation a request buffer, where a command waiting its turn is
//!    kept (`Channel::lend_request_buffer`).
//!
//! A stream's send queue holds exactly the request's header fields and a
//! `max_message`-byte request, so the request limit is `max_message`
//! itself, checked before any stream is opened.

use core::alloc::Layout;
use core::ffi::c_char;
use core::fmt::{self, Write};
use core::time::Duration;

use super::{
    arg, arg_mut, arkwire_error_kind, arkwire_limits, arkwire_request_state, arkwire_result,
    arkwire_result_kind, arkwire_status, channel_error_status, guard_try, opt_str_arg, out,
    str_arg, LastError, ResultMeta, EMPTY,
};
use crate::arkouda::request_id::{REQUEST_ID_LEN, SEED_LEN};
use crate::arkouda::{
    Channel, ChannelConfig, ChannelError, ChannelEvent, JsonStr, MsgType, OpId, Outcome,
    PollConfig, RequestIdGenerator, RequestState,
};
use crate::buf::LentBuf;
use crate::grpc::{Client, Options};
use crate::h2::conn::{LentLayout, LentStorage, MIN_TRANSMIT_BUFFER};
use crate::h2::Config;
use crate::time::Instant;
use arkwire_status::*;

/// Smallest buffer `arkwire_conn_transmit` accepts: one largest HTTP/2
/// frame (16384 bytes) and its 9-byte header.
pub const ARKWIRE_MIN_TRANSMIT_BUFFER: usize = 16_393;
const _: () = assert!(ARKWIRE_MIN_TRANSMIT_BUFFER == MIN_TRANSMIT_BUFFER);

/// The largest `max_message` of an `arkwire_conn_config`, and its default:
/// the largest request and reply message (bytes of the encoded
/// ArkoudaRequest / ArkoudaResponse) a sans-IO connection sends and
/// receives. A larger reply fails its operation with
/// `ARKWIRE_RESOURCE_EXHAUSTED`; a larger request is refused before
/// anything is queued. Either way the connection lives on.
pub const ARKWIRE_CONN_MAX_MESSAGE: usize = 16_379;

/// The smallest `max_message` of an `arkwire_conn_config`.
pub const ARKWIRE_CONN_MIN_MESSAGE: usize = 256;

/// The largest request of a connection with the default `max_message`,
/// whatever its authority and call timeout: each stream's send queue is
/// sized for the request's header fields and a `max_message`-byte request,
/// so `arkwire_conn_limits`'s `max_request` is exactly `max_message`.
pub const ARKWIRE_CONN_MIN_MAX_REQUEST: usize = ARKWIRE_CONN_MAX_MESSAGE;

/// Most operations (calls, polls, submits, status queries) one sans-IO
/// connection can track at once, from start until `arkwire_conn_finish`:
/// the largest `max_ops` of an `arkwire_conn_config`, and its default.
pub const ARKWIRE_CONN_MAX_OPS: usize = 8;

/// The default `result_buffer_size` with the default `max_message`: any
/// reply fits, with its NUL. (Generally the default is `max_message + 1`.)
pub const ARKWIRE_CONN_RESULT_BUFFER: usize = ARKWIRE_CONN_MAX_MESSAGE + 1;

/// The smallest `result_buffer_size`: room for an error message.
pub const ARKWIRE_CONN_MIN_RESULT_BUFFER: usize = 64;

/// The default `scratch_size`: header blocks being received; the largest
/// response header field is about half of it.
pub const ARKWIRE_CONN_SCRATCH: usize = 2048;

/// The smallest `scratch_size`.
pub const ARKWIRE_CONN_MIN_SCRATCH: usize = 256;
const _: () = assert!(ARKWIRE_CONN_MIN_SCRATCH == crate::h2::conn::MIN_SCRATCH);

/// The default `decoder_table_size`: HTTP/2's default HPACK table.
pub const ARKWIRE_CONN_DECODER_TABLE: usize = 4096;

/// The largest `decoder_table_size`.
pub const ARKWIRE_CONN_MAX_DECODER_TABLE: usize = 65_536;

/// The default `headers_size`: received response headers and trailers per
/// operation (8 bytes per field besides its name and value).
pub const ARKWIRE_CONN_HEADERS: usize = 1024;

/// The smallest `headers_size`.
pub const ARKWIRE_CONN_MIN_HEADERS: usize = 128;

/// The connection's HTTP/2 storage: lent slices of its block, one stream
/// per operation at most.
type ConnStorage = LentStorage<'static, ARKWIRE_CONN_MAX_OPS>;
type ConnChannel = Channel<ConnStorage, ARKWIRE_CONN_MAX_OPS>;

/// Settings for `arkwire_conn_size`, `arkwire_conn_init` and
/// `arkwire_conn_new`. Fill it with `arkwire_conn_config_init` first, then
/// set `authority` and `user` (and whatever else differs). Only read by the
/// library; the strings need live only during the call they are passed to.
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
    /// Operations the connection tracks at once (from start until
    /// `arkwire_conn_finish`), 1 to `ARKWIRE_CONN_MAX_OPS`; each takes one
    /// result slot of the connection's memory. 0, the default, means
    /// `ARKWIRE_CONN_MAX_OPS`.
    pub max_ops: u32,
    /// Bytes of each operation's result slot: its text with the NUL, or its
    /// binary payload. At least `ARKWIRE_CONN_MIN_RESULT_BUFFER`; 0, the
    /// default, means `max_message + 1` (any reply fits). A reply
    /// that does not fit completes with `ARKWIRE_BUFFER_TOO_SMALL`; an error
    /// message that does not fit is cut short.
    pub result_buffer_size: usize,
    /// Bytes of the largest request and reply message,
    /// `ARKWIRE_CONN_MIN_MESSAGE` to `ARKWIRE_CONN_MAX_MESSAGE`; 0, the
    /// default, means `ARKWIRE_CONN_MAX_MESSAGE`. Each operation takes about
    /// three times this (a reply body, a send queue, a request buffer)
    /// besides its result slot.
    pub max_message: usize,
    /// Bytes of header scratch (header blocks being received; the largest
    /// response header field is about half of it), at least
    /// `ARKWIRE_CONN_MIN_SCRATCH`; 0, the default, means
    /// `ARKWIRE_CONN_SCRATCH`.
    pub scratch_size: usize,
    /// Bytes of HPACK decoder table (announced to the proxy in SETTINGS),
    /// 1 to `ARKWIRE_CONN_MAX_DECODER_TABLE`; 0, the default, means
    /// `ARKWIRE_CONN_DECODER_TABLE` (4096, HTTP/2's default).
    pub decoder_table_size: usize,
    /// Bytes of received response headers and trailers per operation
    /// (announced as SETTINGS_MAX_HEADER_LIST_SIZE), at least
    /// `ARKWIRE_CONN_MIN_HEADERS`; 0, the default, means
    /// `ARKWIRE_CONN_HEADERS`.
    pub headers_size: usize,
}

/// A sans-IO Arkouda client connection: bytes in (`arkwire_conn_recv`),
/// bytes out (`arkwire_conn_transmit`), time in (`arkwire_conn_handle_timeout`),
/// completions out (`arkwire_conn_poll_event`, `arkwire_conn_outcome`). It
/// never opens a socket or reads a clock.
///
/// It lives in the block given to `arkwire_conn_init` (or allocated by
/// `arkwire_conn_new`) and must not be moved or copied: the handle points
/// into the block.
///
/// Thread safety: not thread-safe. One thread at a time may use a
/// connection; it may move between threads.
///
/// The socket is the host's: when a read gives end-of-file or an error
/// (a reset), call `arkwire_conn_eof`, which fails the operations in flight
/// at once; write with MSG_NOSIGNAL (or ignore SIGPIPE), since the library
/// never touches signals. Limits: `arkwire_conn_limits`; a request past
/// them is refused before anything is queued, so it never harms the other
/// operations on the connection.
///
/// Time is the host's `now_us`, from a monotonic clock (CLOCK_MONOTONIC).
/// A value smaller than an earlier one is taken as it is: nothing breaks,
/// but timers due after the earlier value fire that much later.
///
/// TLS: the connection has none of its own; its bytes are the plaintext
/// HTTP/2 stream. A device that needs TLS (to `arkwire serve --tls-*`)
/// wraps them in its own TLS stack (mbedTLS, wolfSSL, a hardware engine)
/// between the socket and this connection: finish the handshake (with
/// ALPN `h2`, and the device's certificate for mutual TLS) before the
/// first `arkwire_conn_transmit` bytes go out, encrypt what
/// `arkwire_conn_transmit` gives before writing it, and pass what the TLS
/// stack decrypts to `arkwire_conn_recv`; a TLS failure is the end of the
/// connection (`arkwire_conn_eof`). bindings/c/sans_io_client.c marks the
/// place. The socket tier has TLS built in (`arkwire_session_open_tls`).
pub struct arkwire_conn {
    channel: ConnChannel,
    last_error: LastError<256>,
    /// Whether new operations are taken, and why not.
    life: Life,
    /// The largest request: what a request buffer and a stream's send
    /// queue hold (`max_message`).
    max_request: usize,
    /// The largest reply message.
    max_message: usize,
    user: heapless::String<64>,
    token: heapless::String<128>,
    /// The first result slot, in the same block after the connection.
    slots: *mut u8,
    max_ops: usize,
    /// Bytes of each slot's buffer.
    cap: usize,
    /// Bytes from one slot to the next.
    stride: usize,
    /// The block `arkwire_conn_new` allocated; None for the caller's memory.
    heap: Option<(*mut u8, Layout)>,
}

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// Taking operations.
    Open,
    /// `arkwire_conn_close` was called: no new operations; a GOAWAY goes
    /// out once those in flight are done.
    Closing,
    /// The GOAWAY is out: nothing more is sent.
    Closed,
    /// The peer is gone (end of stream, a socket error the host reported).
    Lost,
}

/// One operation's place: its result once captured, followed in memory by
/// `cap` bytes of buffer for the text or payload.
#[repr(C)]
struct Slot {
    used: bool,
    /// The operation is a submit (a reply instead of SUBMITTED is misuse:
    /// the proxy runs commands synchronously).
    submit: bool,
    /// The result is in the slot (and the channel's operation freed).
    captured: bool,
    /// `arkwire_conn_poll_event` reported the completion.
    reported: bool,
    /// The buffer holds a binary payload, not text.
    binary: bool,
    op: u32,
    meta: ResultMeta,
    /// Text or payload bytes in the buffer (text: without its NUL).
    len: usize,
    id: [u8; REQUEST_ID_LEN + 1],
    id_len: usize,
}

impl Slot {
    const FREE: Slot = Slot {
        used: false,
        submit: false,
        captured: false,
        reported: false,
        binary: false,
        op: 0,
        meta: ResultMeta::ok(arkwire_result_kind::ARKWIRE_RESULT_NONE),
        len: 0,
        id: [0; REQUEST_ID_LEN + 1],
        id_len: 0,
    };
}

/// Where the parts of a connection go in its block (see the module
/// documentation for the order). Offsets are from the block's first address
/// aligned for `arkwire_conn`; the byte buffers need no alignment.
#[derive(Clone, Copy, Debug)]
struct Plan {
    max_ops: usize,
    cap: usize,
    stride: usize,
    /// To the first slot.
    slots_offset: usize,
    /// To the lent HTTP/2 storage (`layout`).
    region_offset: usize,
    layout: LentLayout,
    /// To the first of `max_ops` request buffers of `max_message` bytes.
    requests_offset: usize,
    max_message: usize,
    align: usize,
    /// The whole block, with `align - 1` bytes to align its start.
    size: usize,
}

const fn round_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

/// `value`, or `default` for 0, refused outside `range`.
fn sized(
    value: usize,
    default: usize,
    range: core::ops::RangeInclusive<usize>,
) -> Result<usize, arkwire_status> {
    let v = if value == 0 { default } else { value };
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(ARKWIRE_INVALID_ARGUMENT)
    }
}

/// The plan for `c` with an authority of `authority_len` bytes.
fn plan(c: &arkwire_conn_config, authority_len: usize) -> Result<Plan, arkwire_status> {
    let max_ops = sized(
        c.max_ops as usize,
        ARKWIRE_CONN_MAX_OPS,
        1..=ARKWIRE_CONN_MAX_OPS,
    )?;
    let max_message = sized(
        c.max_message,
        ARKWIRE_CONN_MAX_MESSAGE,
        ARKWIRE_CONN_MIN_MESSAGE..=ARKWIRE_CONN_MAX_MESSAGE,
    )?;
    let cap = sized(
        c.result_buffer_size,
        max_message + 1,
        ARKWIRE_CONN_MIN_RESULT_BUFFER..=usize::MAX / 4,
    )?;
    let scratch = sized(
        c.scratch_size,
        ARKWIRE_CONN_SCRATCH,
        ARKWIRE_CONN_MIN_SCRATCH..=1 << 20,
    )?;
    let decoder_table = sized(
        c.decoder_table_size,
        ARKWIRE_CONN_DECODER_TABLE,
        1..=ARKWIRE_CONN_MAX_DECODER_TABLE,
    )?;
    let headers = sized(
        c.headers_size,
        ARKWIRE_CONN_HEADERS,
        ARKWIRE_CONN_MIN_HEADERS..=1 << 20,
    )?;
    if authority_len > 255 {
        return Err(ARKWIRE_INVALID_ARGUMENT);
    }
    let layout = LentLayout {
        scratch,
        decoder_table,
        streams: max_ops,
        headers,
        body: max_message + GRPC_PREFIX,
        send: send_queue(authority_len, c.call_timeout_ms, max_message),
    };
    let slot_align = core::mem::align_of::<Slot>();
    let align = core::mem::align_of::<arkwire_conn>().max(slot_align);
    let slots_offset = round_up(core::mem::size_of::<arkwire_conn>(), slot_align);
    let stride = round_up(core::mem::size_of::<Slot>() + cap, slot_align);
    let region_offset = slots_offset + stride * max_ops;
    let requests_offset = region_offset + layout.total();
    let size = requests_offset + max_ops * max_message + align - 1;
    Ok(Plan {
        max_ops,
        cap,
        stride,
        slots_offset,
        region_offset,
        layout,
        requests_offset,
        max_message,
        align,
        size,
    })
}

/// The gRPC message prefix (compressed flag, 4-byte length).
const GRPC_PREFIX: usize = 5;
/// The tag and length of one item of a stream's send queue.
const SEND_ITEM: usize = 5;

/// Bytes of a stream's send queue that hold one request of `max_message`
/// bytes to an authority of `authority_len` bytes with this call timeout:
/// the header block (an item of header fields, each stored with 8 bytes of
/// lengths) and the body (an item of the gRPC prefix and the message).
fn send_queue(authority_len: usize, call_timeout_ms: u32, max_message: usize) -> usize {
    let mut timeout_text = [0u8; 10];
    let timeout = (call_timeout_ms != 0).then(|| {
        crate::grpc::timeout::encode(
            Duration::from_millis(u64::from(call_timeout_ms)),
            &mut timeout_text,
        )
    });
    let fields: [(&str, usize); 7] = [
        (":method", 4),
        (":scheme", 4),
        (":path", crate::proto::HANDLE_REQUEST_PATH.len()),
        (":authority", authority_len),
        ("content-type", "application/grpc".len()),
        ("te", "trailers".len()),
        ("user-agent", crate::grpc::client::USER_AGENT.len()),
    ];
    let timeout_field = timeout.map(|len| ("grpc-timeout", len));
    let headers: usize = fields
        .into_iter()
        .chain(timeout_field)
        .map(|(name, len)| 8 + name.len() + len)
        .sum();
    SEND_ITEM + headers + SEND_ITEM + GRPC_PREFIX + max_message
}

/// Fills `config` with the defaults (no authority, no user, no token).
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`.
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
            max_ops: 0,
            result_buffer_size: 0,
            max_message: 0,
            scratch_size: 0,
            decoder_table_size: 0,
            headers_size: 0,
        };
        // SAFETY: `config` is NULL or writable (caller contract).
        unsafe { out(config, value) }
    })
}

/// Writes the bytes of memory a connection with `config` needs to `*size`,
/// exactly, plus room to align the block's start (any address will do):
/// - the connection's state (`sizeof`-like, a few KiB, aligned for a
///   pointer or `uint64_t`);
/// - per operation (`max_ops`): a result slot of `result_buffer_size`
///   bytes and its bookkeeping; received headers (`headers_size`); a reply
///   body and a send queue of `max_message` bytes and a little (the send
///   queue also holds the request's header fields, so it depends on the
///   authority and the call timeout); a request buffer of `max_message`
///   bytes;
/// - the header scratch (`scratch_size`) and HPACK decoder table
///   (`decoder_table_size`).
///
/// Only the sizes in `config` and the length of `authority` are read; a
/// NULL `authority` counts as the longest (255 bytes), so the size fits any.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_INVALID_UTF8`,
/// `ARKWIRE_INVALID_ARGUMENT` (a size out of its documented range, an
/// authority over 255 bytes). Thread-safe.
///
/// # Safety
/// `config` is NULL or valid for reads, its `authority` NULL or
/// NUL-terminated; `size` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_size(
    config: *const arkwire_conn_config,
    size: *mut usize,
) -> arkwire_status {
    guard_try(|| {
        // SAFETY: NULL or valid (caller contract).
        let c = unsafe { arg(config) }?;
        let authority = if c.authority.is_null() {
            255
        } else {
            // SAFETY: NUL-terminated (caller contract).
            unsafe { str_arg(c.authority) }?.len()
        };
        let p = plan(c, authority)?;
        // SAFETY: NULL or writable (caller contract).
        unsafe { out(size, p.size) }
    })
}

/// Builds a connection in the caller's memory: `len` bytes at `mem`, at
/// least what `arkwire_conn_size` gives for the same `config`, at any
/// alignment. Writes the handle (a pointer into `mem`) to `*conn_out`. The
/// memory stays the caller's: it must stay in place, untouched, until
/// `arkwire_conn_free`, which ends the connection without freeing the
/// memory. Nothing on the connection allocates, then or later.
///
/// The connection and all its buffers are laid out inside `mem` (see
/// `arkwire_conn_size`), which is zeroed first; building takes no other
/// thread and a few copies of the connection's state (about 6 KiB) on the
/// calling thread's stack: a connection is built and called on a 128 KiB
/// stack in an unoptimized build, 64 KiB optimized (tests/ffi_sans_io.rs).
///
/// The connection starts by queueing the HTTP/2 preface: send what
/// `arkwire_conn_transmit` gives right after connecting the socket.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT` (mem, config, authority, user or
/// conn_out is NULL), `ARKWIRE_INVALID_UTF8`, `ARKWIRE_INVALID_ARGUMENT` (a
/// field too long, a size out of range), `ARKWIRE_BUFFER_TOO_SMALL` (`len`
/// below `arkwire_conn_size`), `ARKWIRE_INTERNAL` (no seed from the
/// operating system). `*conn_out` is untouched on failure.
///
/// Thread safety: `mem` and the new connection belong to the calling
/// thread until it hands them on.
///
/// # Safety
/// `mem` is NULL or valid for reads and writes of `len` bytes, not used
/// otherwise until the connection is freed; `config` is NULL or points to a
/// valid config whose strings are NULL or NUL-terminated; `conn_out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_init(
    mem: *mut core::ffi::c_void,
    len: usize,
    config: *const arkwire_conn_config,
    conn_out: *mut *mut arkwire_conn,
) -> arkwire_status {
    guard_try(|| {
        if mem.is_null() || conn_out.is_null() {
            return Err(ARKWIRE_NULL_ARGUMENT);
        }
        // SAFETY: NULL or valid (caller contract).
        let c = unsafe { arg(config) }?;
        // SAFETY: `mem` is valid for `len` bytes (caller contract).
        let conn = unsafe { init_at(mem.cast(), len, c, None) }?;
        // SAFETY: checked non-NULL; writable by the caller's contract.
        unsafe { out(conn_out, conn) }
    })
}

/// Creates a connection in one block the library allocates (of
/// `arkwire_conn_size` bytes for `config`), laid out as
/// `arkwire_conn_init` lays out the caller's, and writes it to
/// `*conn_out`; free it with `arkwire_conn_free`. As `arkwire_conn_init`
/// otherwise, with `ARKWIRE_RESOURCE_EXHAUSTED` also when the allocation
/// fails.
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
        // SAFETY: NUL-terminated or NULL (caller contract).
        let authority = unsafe { str_arg(c.authority) }?;
        let p = plan(c, authority.len())?;
        let layout =
            Layout::from_size_align(p.size, p.align).map_err(|_| ARKWIRE_INVALID_ARGUMENT)?;
        // SAFETY: the size is not zero (the connection's state alone is KiB).
        let block = unsafe { std::alloc::alloc(layout) };
        if block.is_null() {
            return Err(ARKWIRE_RESOURCE_EXHAUSTED);
        }
        // SAFETY: a fresh block of `p.size` bytes, ours until freed.
        match unsafe { init_at(block, p.size, c, Some((block, layout))) } {
            // SAFETY: checked non-NULL; writable by the caller's contract.
            Ok(conn) => unsafe { out(conn_out, conn) },
            Err(s) => {
                // SAFETY: allocated above with this layout; nothing lives in it.
                unsafe { std::alloc::dealloc(block, layout) };
                Err(s)
            }
        }
    })
}

/// The numbers of an `arkwire_conn_config`.
#[derive(Clone, Copy)]
struct Settings {
    call_timeout_ms: u32,
    poll_interval_ms: u32,
    poll_backoff: u32,
    poll_max_interval_ms: u32,
    poll_deadline_ms: u32,
    ordered: bool,
    seed: u64,
    now_us: u64,
}

impl Settings {
    fn of(c: &arkwire_conn_config) -> Self {
        Settings {
            call_timeout_ms: c.call_timeout_ms,
            poll_interval_ms: c.poll_interval_ms,
            poll_backoff: c.poll_backoff,
            poll_max_interval_ms: c.poll_max_interval_ms,
            poll_deadline_ms: c.poll_deadline_ms,
            ordered: c.ordered,
            seed: c.seed,
            now_us: c.now_us,
        }
    }
}

/// Builds a connection at the aligned start of `mem`, as [`Plan`] lays it
/// out.
///
/// # Safety
/// `mem` is valid for reads and writes of `len` bytes and used by nothing
/// else until the connection is dropped; the config's strings are NULL or
/// NUL-terminated.
unsafe fn init_at(
    mem: *mut u8,
    len: usize,
    c: &arkwire_conn_config,
    heap: Option<(*mut u8, Layout)>,
) -> Result<*mut arkwire_conn, arkwire_status> {
    // SAFETY: the config's strings are NULL or NUL-terminated.
    let (authority, user, token) = unsafe {
        (
            str_arg(c.authority)?,
            str_arg(c.user)?,
            opt_str_arg(c.token)?,
        )
    };
    let p = plan(c, authority.len())?;
    if len < p.size {
        return Err(ARKWIRE_BUFFER_TOO_SMALL);
    }
    let mut user_copy = heapless::String::new();
    let mut token_copy = heapless::String::new();
    user_copy
        .push_str(user)
        .map_err(|_| ARKWIRE_INVALID_ARGUMENT)?;
    token_copy
        .push_str(token)
        .map_err(|_| ARKWIRE_INVALID_ARGUMENT)?;
    let skip = mem.align_offset(p.align);
    // SAFETY: `skip < align`, and the plan keeps `align - 1` bytes for it.
    let base = unsafe { mem.add(skip) };
    // Every byte the connection lends out is initialized: the buffers are
    // made slices of.
    // SAFETY: `p.size - skip` bytes from `base` are inside the block.
    unsafe { base.write_bytes(0, p.size - skip) };
    let conn = base.cast::<arkwire_conn>();
    // SAFETY: the parts are inside the block, where the plan put them.
    let (slots, region, requests) = unsafe {
        (
            base.add(p.slots_offset),
            base.add(p.region_offset),
            base.add(p.requests_offset),
        )
    };
    // SAFETY: `conn` is aligned and inside the block; the channel field is
    // written once, in place; the region and the request buffers are this
    // connection's alone.
    unsafe {
        build_into(
            core::ptr::addr_of_mut!((*conn).channel),
            Settings::of(c),
            authority,
            &user_copy,
            &token_copy,
            region,
            &p,
            requests,
        )
    }?;
    // SAFETY: the other fields are inside the block, aligned; the slots and
    // their buffers too (the plan reserved `max_ops * stride` bytes).
    unsafe {
        core::ptr::addr_of_mut!((*conn).last_error).write(LastError::new());
        core::ptr::addr_of_mut!((*conn).life).write(Life::Open);
        core::ptr::addr_of_mut!((*conn).max_request).write(p.max_message);
        core::ptr::addr_of_mut!((*conn).max_message).write(p.max_message);
        core::ptr::addr_of_mut!((*conn).user).write(user_copy);
        core::ptr::addr_of_mut!((*conn).token).write(token_copy);
        core::ptr::addr_of_mut!((*conn).slots).write(slots);
        core::ptr::addr_of_mut!((*conn).max_ops).write(p.max_ops);
        core::ptr::addr_of_mut!((*conn).cap).write(p.cap);
        core::ptr::addr_of_mut!((*conn).stride).write(p.stride);
        core::ptr::addr_of_mut!((*conn).heap).write(heap);
        for i in 0..p.max_ops {
            slots.add(i * p.stride).cast::<Slot>().write(Slot::FREE);
        }
    }
    Ok(conn)
}

/// Builds the channel straight into `dst`, over the lent storage cut from
/// `region` and the request buffers at `requests`. Its own frame holds the
/// channel once (a few KiB), not a copy per layer.
///
/// # Safety
/// `dst` is aligned and writable; `region` holds `plan.layout.total()`
/// bytes and `requests` `plan.max_ops * plan.max_message`, initialized,
/// used by nothing else for as long as the channel lives.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn build_into(
    dst: *mut ConnChannel,
    c: Settings,
    authority: &str,
    user: &str,
    token: &str,
    region: *mut u8,
    plan: &Plan,
    requests: *mut u8,
) -> Result<(), arkwire_status> {
    let now = Instant::from_micros(c.now_us);
    let l = plan.layout;
    let h2 = Config {
        max_concurrent_streams: plan.max_ops as u32,
        max_header_list_size: l.headers as u32,
        max_connection_header_size: plan.max_ops * l.headers,
        max_connection_body_size: plan.max_ops * l.body,
        ..Config::embedded()
    };
    let options = Options {
        h2,
        max_message_size: plan.max_message,
        ..Options::default()
    };
    // SAFETY: the region is the connection's for its life (caller contract).
    let region = unsafe { core::slice::from_raw_parts_mut(region, l.total()) };
    let storage = ConnStorage::from_region(region, &l).map_err(|_| ARKWIRE_INTERNAL)?;
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
    let grpc = Client::with_storage(authority, options, storage, now)
        .map_err(|_| ARKWIRE_INVALID_ARGUMENT)?;
    let channel =
        Channel::new(grpc, user, token, config, ids).map_err(|_| ARKWIRE_INVALID_ARGUMENT)?;
    // SAFETY: aligned and writable (caller contract).
    unsafe { dst.write(channel) };
    // SAFETY: just written.
    let channel = unsafe { &mut *dst };
    for i in 0..plan.max_ops {
        // SAFETY: request buffer `i`, inside the block, the channel's alone.
        let buf = unsafe {
            core::slice::from_raw_parts_mut(requests.add(i * plan.max_message), plan.max_message)
        };
        if channel.lend_request_buffer(LentBuf::new(buf)).is_err() {
            // SAFETY: written above; dropped once, before the failure.
            unsafe { core::ptr::drop_in_place(dst) };
            return Err(ARKWIRE_INTERNAL);
        }
    }
    Ok(())
}

/// Ends a connection: one made by `arkwire_conn_new` is freed, one built by
/// `arkwire_conn_init` is dropped and its memory given back to the caller
/// (it may be reused or freed after this returns). Pointers into it
/// (results, the last error) die with it. NULL is ignored.
///
/// # Safety
/// `conn` is NULL or a connection from `arkwire_conn_new` or
/// `arkwire_conn_init`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_free(conn: *mut arkwire_conn) {
    let _ = guard_try(|| {
        if conn.is_null() {
            return Ok(());
        }
        // SAFETY: a live connection (caller contract), ended once: read its
        // block, drop it in place (the slots are plain data), then free the
        // block when the library allocated it.
        unsafe {
            let heap = (*conn).heap;
            core::ptr::drop_in_place(conn);
            if let Some((block, layout)) = heap {
                std::alloc::dealloc(block, layout);
            }
        }
        Ok(())
    });
}

/// The message of the last failed call on `conn` (every status but
/// `ARKWIRE_OK` sets it), NUL-terminated; empty after a call that
/// succeeded. Valid until the next call on `conn`. NULL gives a static
/// "NULL connection".
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

/// Runs `f` on a live connection, keeping its last error in step: cleared
/// first, and set to the status's text on a failure `f` did not describe.
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
        let result = f(c);
        if let Err(s) = result {
            if c.last_error.as_bytes().is_empty() {
                c.last_error
                    .set(format_args!("{}", s.text().to_bytes().escape_ascii()));
            }
        }
        result
    })
}

impl arkwire_conn {
    /// An operation started and not yet complete in its slot.
    fn in_flight(&self) -> bool {
        (0..self.max_ops).any(|i| {
            let s = self.slot(i);
            s.used && !s.captured
        })
    }

    /// The peer is gone: every operation in flight fails at once with
    /// `ARKWIRE_CLOSED` (reported by `arkwire_conn_poll_event` like any
    /// completion), and new ones are refused.
    fn lose(&mut self, why: &str) {
        if self.life == Life::Lost {
            return;
        }
        self.life = Life::Lost;
        for i in 0..self.max_ops {
            let (used, captured, op) = {
                let s = self.slot(i);
                (s.used, s.captured, s.op)
            };
            if !used || captured || self.capture(i) {
                continue;
            }
            let cap = self.cap;
            // SAFETY: slot `i`'s buffer, `cap` bytes inside the block.
            let buf = unsafe { core::slice::from_raw_parts_mut(self.buf_ptr(i), cap) };
            let (len, _) = write_text(buf, format_args!("connection lost: {why}"));
            self.channel.finish(OpId(op));
            let slot = self.slot_mut(i);
            slot.meta =
                ResultMeta::failed(ARKWIRE_CLOSED, arkwire_error_kind::ARKWIRE_ERROR_TRANSPORT);
            slot.len = len;
            slot.binary = false;
            slot.captured = true;
        }
    }

    fn slot_ptr(&self, i: usize) -> *mut Slot {
        debug_assert!(i < self.max_ops);
        // SAFETY: slot `i` is inside the block (the plan reserved it).
        unsafe { self.slots.add(i * self.stride) }.cast()
    }

    fn slot(&self, i: usize) -> &Slot {
        // SAFETY: initialized by init_at; only reached through `self`.
        unsafe { &*self.slot_ptr(i) }
    }

    fn slot_mut(&mut self, i: usize) -> &mut Slot {
        // SAFETY: as `slot`, and `&mut self` makes it unique.
        unsafe { &mut *self.slot_ptr(i) }
    }

    /// Slot `i`'s buffer.
    fn buf_ptr(&self, i: usize) -> *mut u8 {
        // SAFETY: the buffer follows the slot inside the block.
        unsafe {
            self.slot_ptr(i)
                .cast::<u8>()
                .add(core::mem::size_of::<Slot>())
        }
    }

    fn find(&self, op: u32) -> Option<usize> {
        (0..self.max_ops).find(|&i| {
            let s = self.slot(i);
            s.used && s.op == op
        })
    }

    fn free_slot(&self) -> Option<usize> {
        (0..self.max_ops).find(|&i| !self.slot(i).used)
    }

    /// Moves operation `i`'s outcome into its slot if it is ready, and frees
    /// the channel's operation. Returns whether the slot holds the result.
    fn capture(&mut self, i: usize) -> bool {
        if self.slot(i).captured {
            return true;
        }
        let op = OpId(self.slot(i).op);
        let cap = self.cap;
        // SAFETY: the slot's buffer is `cap` bytes inside the block, apart
        // from the channel and the slot header; nothing else refers to it.
        let buf = unsafe { core::slice::from_raw_parts_mut(self.buf_ptr(i), cap) };
        let Some((mut meta, mut len, binary)) =
            capture_into(&self.channel, op, buf, &mut self.last_error)
        else {
            return false;
        };
        if self.slot(i).submit && meta.kind == arkwire_result_kind::ARKWIRE_RESULT_REPLY {
            // The proxy ran the command at once: a synchronous proxy.
            let why = "a submit was answered with a reply, not SUBMITTED: the proxy runs \
                       commands synchronously (use arkwire_conn_call)";
            self.last_error.set(format_args!("{why}"));
            len = write_text(buf, format_args!("{why}")).0;
            meta = ResultMeta::failed(
                ARKWIRE_BAD_REPLY,
                arkwire_error_kind::ARKWIRE_ERROR_PROTOCOL,
            );
        }
        let mut id = [0u8; REQUEST_ID_LEN + 1];
        let id_text = self.channel.request_id(op).unwrap_or_default().as_bytes();
        let id_len = id_text.len().min(REQUEST_ID_LEN);
        id[..id_len].copy_from_slice(&id_text[..id_len]);
        let slot = self.slot_mut(i);
        slot.meta = meta;
        slot.len = len;
        slot.binary = binary;
        slot.id = id;
        slot.id_len = id_len;
        slot.captured = true;
        self.channel.finish(op);
        true
    }

    /// Slot `i`'s result (it holds one).
    fn result(&self, i: usize) -> arkwire_result {
        let s = self.slot(i);
        let buf = self.buf_ptr(i);
        let (msg, payload): ((*const u8, usize), &[u8]) = if s.binary {
            // SAFETY: `len` payload bytes were written to the buffer.
            let payload = unsafe { core::slice::from_raw_parts(buf, s.len) };
            ((EMPTY.as_ptr().cast(), 0), payload)
        } else {
            ((buf, s.len), &[])
        };
        s.meta.result(s.op, msg, payload, (s.id.as_ptr(), s.id_len))
    }
}

/// A writer into a result buffer that keeps room for the NUL and cuts the
/// text short at a character boundary when it does not fit.
struct Text<'a> {
    buf: &'a mut [u8],
    len: usize,
    cut: bool,
}

impl Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let c = if c == '\0' { ' ' } else { c };
            let n = c.len_utf8();
            if self.len + n >= self.buf.len() {
                self.cut = true;
                return Err(fmt::Error);
            }
            c.encode_utf8(&mut self.buf[self.len..]);
            self.len += n;
        }
        Ok(())
    }
}

/// Writes `args` into `buf`, NUL-terminated, cut short when it does not
/// fit; returns the text's length and whether all of it fit.
fn write_text(buf: &mut [u8], args: fmt::Arguments<'_>) -> (usize, bool) {
    let mut t = Text {
        buf,
        len: 0,
        cut: false,
    };
    let _ = t.write_fmt(args);
    let (len, cut) = (t.len, t.cut);
    buf[len] = 0;
    (len, !cut)
}

/// A JSON string's text into `buf`, NUL-terminated, in full.
fn json_text(s: JsonStr<'_>, buf: &mut [u8]) -> Result<usize, arkwire_status> {
    let room = buf.len() - 1;
    let len = s
        .unescape_into(&mut buf[..room])
        .map_err(|e| match e {
            crate::arkouda::UnescapeError::BufferTooSmall => ARKWIRE_BUFFER_TOO_SMALL,
            crate::arkouda::UnescapeError::InvalidEscape => ARKWIRE_BAD_REPLY,
        })?
        .len();
    buf[len] = 0;
    Ok(len)
}

/// Writes operation `op`'s outcome into `buf`: its result values, the bytes
/// written (text without its NUL, or payload), and whether they are a
/// binary payload. None while it is still running.
fn capture_into(
    channel: &ConnChannel,
    op: OpId,
    buf: &mut [u8],
    last_error: &mut LastError<256>,
) -> Option<(ResultMeta, usize, bool)> {
    use arkwire_result_kind::*;
    let outcome = match channel.outcome(op) {
        Err(ChannelError::UnknownOp) => return None,
        other => other,
    };
    // A reply that cannot be kept whole is a failure of its own.
    let unkept = |status: arkwire_status, buf: &mut [u8], last_error: &mut LastError<256>| {
        let why = match status {
            ARKWIRE_BUFFER_TOO_SMALL => "the reply does not fit the operation's result buffer",
            _ => "the reply text has an invalid JSON escape",
        };
        last_error.set(format_args!("{why}"));
        let (len, _) = write_text(buf, format_args!("{why}"));
        let kind = match status {
            ARKWIRE_BUFFER_TOO_SMALL => arkwire_error_kind::ARKWIRE_ERROR_LOCAL,
            _ => arkwire_error_kind::ARKWIRE_ERROR_PROTOCOL,
        };
        Some((ResultMeta::failed(status, kind), len, false))
    };
    match outcome {
        Ok(Outcome::Reply(reply)) => match json_text(reply.msg, buf) {
            Ok(len) => {
                let meta = ResultMeta {
                    warning: reply.msg_type == MsgType::Warning,
                    ..ResultMeta::ok(ARKWIRE_RESULT_REPLY)
                };
                Some((meta, len, false))
            }
            Err(s) => unkept(s, buf, last_error),
        },
        Ok(Outcome::Binary(bytes)) => match buf.get_mut(..bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                Some((ResultMeta::ok(ARKWIRE_RESULT_BINARY), bytes.len(), true))
            }
            None => unkept(ARKWIRE_BUFFER_TOO_SMALL, buf, last_error),
        },
        Ok(Outcome::Submitted(_)) => {
            buf[0] = 0;
            Some((ResultMeta::ok(ARKWIRE_RESULT_SUBMITTED), 0, false))
        }
        Ok(Outcome::Status(state)) => {
            use arkwire_request_state::*;
            let mut meta = ResultMeta::ok(ARKWIRE_RESULT_STATUS);
            let (s, msg) = match state {
                RequestState::Submitted => (ARKWIRE_STATE_SUBMITTED, None),
                RequestState::Pending => (ARKWIRE_STATE_PENDING, None),
                RequestState::Running => (ARKWIRE_STATE_RUNNING, None),
                RequestState::Finished(r) => {
                    if r.msg_type == MsgType::Error {
                        meta.error_kind = arkwire_error_kind::ARKWIRE_ERROR_ARKOUDA;
                    }
                    meta.warning = r.msg_type == MsgType::Warning;
                    (ARKWIRE_STATE_FINISHED, Some(r.msg))
                }
                RequestState::Failed => (ARKWIRE_STATE_FAILED, None),
                RequestState::Unknown(name) => (ARKWIRE_STATE_UNKNOWN, Some(name)),
            };
            meta.state = s;
            match msg.map_or(Ok(0), |m| json_text(m, buf)) {
                Ok(len) => {
                    buf[len] = 0;
                    Some((meta, len, false))
                }
                Err(s) => unkept(s, buf, last_error),
            }
        }
        Err(e) => {
            let meta = ResultMeta::of_channel_error(&e);
            last_error.set(format_args!("{e}"));
            let (len, _) = match e {
                ChannelError::Arkouda(reply) => write_text(buf, format_args!("{}", reply.msg)),
                ChannelError::Failed(why) => write_text(buf, format_args!("{why}")),
                _ => write_text(buf, format_args!("{e}")),
            };
            Some((meta, len, false))
        }
    }
}

/// Feeds bytes read from the socket, with the caller's clock in
/// microseconds. `data` NULL with `len` 0 is the end of the stream: the
/// same as `arkwire_conn_eof`. A non-NULL `data` with `len` 0 does nothing.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT` (`data` NULL with a `len`),
/// `ARKWIRE_CLOSED` when the bytes break HTTP/2 and the connection is
/// closed (operations in flight then complete with an error; send what
/// `arkwire_conn_transmit` still gives, a GOAWAY, then close the socket),
/// or when the connection is already lost (`arkwire_conn_eof`).
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
            if data.is_null() && len == 0 {
                c.lose("the peer closed the connection (end of stream)");
                return Ok(());
            }
            if c.life == Life::Lost {
                c.last_error
                    .set(format_args!("the connection is lost: bytes after its end"));
                return Err(ARKWIRE_CLOSED);
            }
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
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_BUFFER_TOO_SMALL` when `cap`
/// is below the minimum.
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
            let n = match c.life {
                Life::Open => c.channel.transmit(buf),
                Life::Closing => match c.channel.transmit(buf) {
                    0 if !c.in_flight() => {
                        c.life = Life::Closed;
                        goaway(buf)
                    }
                    n => n,
                },
                Life::Closed | Life::Lost => 0,
            };
            out(written, n)
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
        Some(c) => match c.life {
            Life::Open => c.channel.wants_transmit(),
            Life::Closing => c.channel.wants_transmit() || !c.in_flight(),
            Life::Closed | Life::Lost => false,
        },
        None => false,
    }
}

/// A GOAWAY (NO_ERROR, no stream of the proxy's processed) into `buf`,
/// which has room for it.
fn goaway(buf: &mut [u8]) -> usize {
    crate::h2::frame::GoAway::new(0, crate::h2::ErrorCode::NoError, &[])
        .emit(buf)
        .unwrap_or(0)
}

#[derive(Clone, Copy)]
enum Start {
    Call,
    Polling,
    Submit,
    Status,
}

/// Takes a free result slot for operation `op`.
fn occupy(c: &mut arkwire_conn, i: usize, op: u32) {
    let slot = c.slot_mut(i);
    *slot = Slot::FREE;
    slot.used = true;
    slot.op = op;
}

/// A free slot, or `ARKWIRE_RESOURCE_EXHAUSTED` with the reason.
fn free_slot(c: &mut arkwire_conn) -> Result<usize, arkwire_status> {
    c.free_slot().ok_or_else(|| {
        let n = c.max_ops;
        c.last_error.set(format_args!(
            "all {n} operations of the connection are unfinished: finish one first"
        ));
        ARKWIRE_RESOURCE_EXHAUSTED
    })
}

/// Whether a new operation of a request of `len` bytes may start:
/// `ARKWIRE_CLOSED` on a connection closing, closed or lost,
/// `ARKWIRE_RESOURCE_EXHAUSTED` past the request limit (the last error
/// says which).
fn admit(c: &mut arkwire_conn, len: usize) -> Result<(), arkwire_status> {
    let why = match c.life {
        Life::Open => None,
        Life::Closing | Life::Closed => {
            Some("the connection is closing (arkwire_conn_close): build a new one")
        }
        Life::Lost => Some("the connection is lost: build a new one over a new socket"),
    };
    if let Some(why) = why {
        c.last_error.set(format_args!("{why}"));
        return Err(ARKWIRE_CLOSED);
    }
    if len > c.max_request {
        let max = c.max_request;
        c.last_error.set(format_args!(
            "a request of {len} bytes is over the connection's limit of {max} bytes \
             (arkwire_conn_limits); nothing was sent"
        ));
        return Err(ARKWIRE_RESOURCE_EXHAUSTED);
    }
    Ok(())
}

/// The encoded size of a request of `kind` with these fields.
fn request_len(c: &arkwire_conn, kind: Start, cmd: &str, args: &str, payload: usize) -> usize {
    let id = match kind {
        Start::Call => 0,
        // A 32-character request id (field 7: tag, length, bytes).
        Start::Polling | Start::Submit => 2 + REQUEST_ID_LEN,
        Start::Status => return 0, // checked by its id's length
    };
    let varint = |n: usize| (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize;
    let payload = if payload == 0 {
        0
    } else {
        1 + varint(payload) + payload
    };
    super::request_size(&c.user, &c.token, cmd, args.len()) + id + payload
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
        let args = match opt_str_arg(args) {
            Ok(a) => a,
            Err(e) => return with_conn(conn, |_| Err(e)),
        };
        start_with(conn, kind, cmd, args, now_us, op_out)
    }
}

/// [`start`] with the arguments as a string.
///
/// # Safety
/// As the exported starters.
unsafe fn start_with(
    conn: *mut arkwire_conn,
    kind: Start,
    cmd: *const c_char,
    args: &str,
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
            if matches!(kind, Start::Status) && cmd.len() > REQUEST_ID_LEN {
                c.last_error.set(format_args!(
                    "a request id has at most {REQUEST_ID_LEN} characters, this one {}",
                    cmd.len()
                ));
                return Err(ARKWIRE_INVALID_ARGUMENT);
            }
            admit(c, request_len(c, kind, cmd, args, 0))?;
            let i = free_slot(c)?;
            let now = Instant::from_micros(now_us);
            let started = match kind {
                Start::Call => c.channel.call(cmd, args, now),
                Start::Polling => c.channel.call_polling(cmd, args, now),
                Start::Submit => c.channel.submit(cmd, args, now),
                Start::Status => c.channel.status(cmd, now),
            };
            match started {
                Ok(OpId(op)) => {
                    occupy(c, i, op);
                    c.slot_mut(i).submit = matches!(kind, Start::Submit);
                    out(op_out, op)
                }
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
/// `arkwire_conn_poll_event` and read with `arkwire_conn_outcome`; it holds
/// one of the connection's `max_ops` result slots until
/// `arkwire_conn_finish`. A proxy that answers SUBMITTED is followed up by
/// polling, transparently.
///
/// Errors (nothing started; the last error says more):
/// `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_INVALID_UTF8`,
/// `ARKWIRE_RESOURCE_EXHAUSTED` (`max_ops` operations unfinished, or on an
/// ordered connection submitted requests it still watches; or the request
/// is larger than `max_request` of `arkwire_conn_limits`, the config's
/// `max_message`: refused before anything is queued), `ARKWIRE_CLOSED`
/// (the connection is closed).
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
/// result's `request_id` is the id for `arkwire_conn_status`.
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
/// longer than 32 characters. The result's `request_id` is the id asked about.
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
/// expected: its result is then `ARKWIRE_RESULT_BINARY`. `polling` picks
/// the polling pattern, else the blocking one. The payload is copied into the
/// connection's request buffer before this returns; the caller keeps
/// ownership of it. Otherwise as `arkwire_conn_call`; a request larger than
/// `max_request` (the config's `max_message`) is `ARKWIRE_RESOURCE_EXHAUSTED`.
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
            let cmd = str_arg(cmd)?;
            let args = opt_str_arg(args)?;
            let kind = if polling { Start::Polling } else { Start::Call };
            admit(c, request_len(c, kind, cmd, args, payload.len()))?;
            let i = free_slot(c)?;
            let command = crate::arkouda::Command {
                cmd,
                args,
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
                Ok(OpId(op)) => {
                    occupy(c, i, op);
                    out(op_out, op)
                }
                Err(e) => {
                    c.last_error.set(format_args!("{e}"));
                    Err(channel_error_status(&e))
                }
            }
        })
    }
}

/// Writes the id of the next operation that completed to `*op`: `ARKWIRE_OK`,
/// or `ARKWIRE_NO_EVENT` when none has since the last report. Each
/// operation is reported once. Its result is copied into its slot here (if
/// `arkwire_conn_outcome` did not already), so it no longer depends on the
/// connection.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_NO_EVENT`.
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
            // Completions `arkwire_conn_outcome` saw first are still reported.
            let early = (0..c.max_ops).find(|&i| {
                let s = c.slot(i);
                s.used && s.captured && !s.reported
            });
            if let Some(i) = early {
                c.slot_mut(i).reported = true;
                return out(op, c.slot(i).op);
            }
            while let Some(ChannelEvent::Complete(OpId(id))) = c.channel.poll_event() {
                // An operation finished before it completed has no slot.
                if let Some(i) = c.find(id) {
                    c.capture(i);
                    c.slot_mut(i).reported = true;
                    return out(op, id);
                }
            }
            Err(ARKWIRE_NO_EVENT)
        })
    }
}

/// Writes operation `op`'s result to `*result` (see `arkwire_result` for how
/// long its pointers live: until `arkwire_conn_finish` for `op`) and
/// returns its status: `ARKWIRE_OK` for a reply, a binary reply, a submit
/// or a status; the failure otherwise, with `msg` saying more:
/// `ARKWIRE_ARKOUDA_ERROR` (Arkouda's error text), `ARKWIRE_GRPC_STATUS`
/// (`grpc_code` and the gRPC message), `ARKWIRE_DEADLINE_EXCEEDED`,
/// `ARKWIRE_REQUEST_FAILED`, `ARKWIRE_CLOSED`, `ARKWIRE_BAD_REPLY`,
/// `ARKWIRE_RESOURCE_EXHAUSTED`, `ARKWIRE_BUFFER_TOO_SMALL` (the reply is
/// larger than the result slot). `ARKWIRE_PENDING` means the operation is
/// still running (the result says only that); `ARKWIRE_NOT_FOUND` that
/// there is no such operation (a result with `op` 0). Reading does not
/// finish: call `arkwire_conn_finish`. Reading again gives the same result.
///
/// Errors besides those: `ARKWIRE_NULL_ARGUMENT` (nothing written when
/// `result` is NULL).
///
/// # Safety
/// `conn` is NULL or live; `result` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_outcome(
    conn: *mut arkwire_conn,
    op: u32,
    result: *mut arkwire_result,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            if result.is_null() {
                return Err(ARKWIRE_NULL_ARGUMENT);
            }
            let Some(i) = c.find(op) else {
                out(result, ResultMeta::local(ARKWIRE_NOT_FOUND).static_result())?;
                return Err(ARKWIRE_NOT_FOUND);
            };
            if !c.capture(i) {
                let pending = ResultMeta {
                    status: ARKWIRE_PENDING,
                    ..ResultMeta::ok(arkwire_result_kind::ARKWIRE_RESULT_NONE)
                };
                let empty = (EMPTY.as_ptr().cast(), 0);
                out(result, pending.result(op, empty, &[], empty))?;
                return Err(ARKWIRE_PENDING);
            }
            let value = c.result(i);
            out(result, value)?;
            match value.status {
                ARKWIRE_OK => Ok(()),
                s => {
                    // SAFETY: the slot's text is `msg_len` bytes of UTF-8.
                    let text = core::str::from_utf8(core::slice::from_raw_parts(
                        value.msg.cast::<u8>(),
                        value.msg_len,
                    ))
                    .unwrap_or_default();
                    c.last_error.set(format_args!("{text}"));
                    Err(s)
                }
            }
        })
    }
}

/// Finishes an operation: frees its result slot (the pointers of its
/// `arkwire_result` die). An operation still running is cancelled (a submit
/// an ordered connection still watches goes on being watched).
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_NOT_FOUND` (unknown, or already
/// finished).
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_finish(conn: *mut arkwire_conn, op: u32) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            let i = c.find(op).ok_or(ARKWIRE_NOT_FOUND)?;
            if !c.slot(i).captured {
                c.channel.finish(OpId(op));
            }
            *c.slot_mut(i) = Slot::FREE;
            Ok(())
        })
    }
}

/// Writes the instant (caller clock, microseconds) at which
/// `arkwire_conn_handle_timeout` must next be called to `*at_us`, or returns
/// `ARKWIRE_NO_TIMER` when no timer is armed (wait for bytes alone).
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`, `ARKWIRE_NO_TIMER`.
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
        with_conn(conn, |c| {
            match c.channel.poll_timeout().filter(|_| c.life != Life::Lost) {
                Some(at) => out(at_us, at.as_micros()),
                None if at_us.is_null() => Err(ARKWIRE_NULL_ARGUMENT),
                None => Err(ARKWIRE_NO_TIMER),
            }
        })
    }
}

/// Advances time to `now_us`: call deadlines, status polls, polling deadlines
/// and HTTP/2 timers. Then transmit and poll events.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`.
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
            if c.life != Life::Lost {
                c.channel.handle_timeout(Instant::from_micros(now_us));
            }
            Ok(())
        })
    }
}

/// The end of the connection's stream: the host's socket read end-of-file,
/// or failed (a reset, a timeout of its own). Every operation in flight
/// fails at once with `ARKWIRE_CLOSED` (error kind TRANSPORT, gRPC code 14;
/// `arkwire_conn_poll_event` reports each, `arkwire_conn_outcome` reads it);
/// results already there stay. From then on new operations are refused
/// with `ARKWIRE_CLOSED`, `arkwire_conn_transmit` gives nothing and no timer
/// is armed: close the socket, free the connection (finished or not, its
/// results die with it) and build a new one over a new socket. Calling it
/// again does nothing.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_eof(conn: *mut arkwire_conn) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            c.lose("the peer closed the connection (end of stream)");
            Ok(())
        })
    }
}

/// Starts a graceful close: new operations are refused with
/// `ARKWIRE_CLOSED`; those in flight go on; once none is left (each
/// completed and seen by `arkwire_conn_poll_event` or `arkwire_conn_outcome`,
/// or finished), `arkwire_conn_transmit` gives a GOAWAY (NO_ERROR) and then
/// nothing more. Close the socket when `arkwire_conn_check` says
/// `ARKWIRE_CLOSED` and `arkwire_conn_wants_transmit` is false.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_close(conn: *mut arkwire_conn) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            if c.life == Life::Open {
                c.life = Life::Closing;
            }
            Ok(())
        })
    }
}

/// Whether the connection takes new operations: `ARKWIRE_OK`, or
/// `ARKWIRE_CLOSED` with the last error saying why (lost by
/// `arkwire_conn_eof`, closing or closed by `arkwire_conn_close`, closed by
/// the proxy's GOAWAY or an HTTP/2 error).
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_check(conn: *mut arkwire_conn) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            let why = match c.life {
                Life::Open => {
                    let h2 = c.channel.client().connection();
                    if h2.is_closed() {
                        Some("the HTTP/2 connection is closed")
                    } else if !h2.is_accepting_streams() {
                        Some("the proxy is closing the connection (GOAWAY)")
                    } else {
                        None
                    }
                }
                Life::Closing => Some("closing: arkwire_conn_close was called"),
                Life::Closed => Some("closed: the GOAWAY is out"),
                Life::Lost => Some("lost: the peer closed the connection"),
            };
            match why {
                None => Ok(()),
                Some(why) => {
                    c.last_error.set(format_args!("{why}"));
                    Err(ARKWIRE_CLOSED)
                }
            }
        })
    }
}

/// Writes the connection's real limits to `*limits` (see `arkwire_limits`):
/// the largest request and reply, both exactly the config's `max_message`
/// (`ARKWIRE_CONN_MAX_MESSAGE` by default, whatever the authority and call
/// timeout: the send queues are sized for them),
/// its `result_buffer_size` and `max_ops`.
///
/// Errors: `ARKWIRE_NULL_ARGUMENT`.
///
/// # Safety
/// `conn` is NULL or live; `limits` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_limits(
    conn: *mut arkwire_conn,
    limits: *mut arkwire_limits,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        with_conn(conn, |c| {
            let value = arkwire_limits {
                max_request: c.max_request,
                max_args: super::max_args(&c.user, &c.token, "cccccccccccccccc", c.max_request),
                max_reply: c.max_message,
                max_payload: c.max_request,
                max_result: c.cap,
                max_ops: c.max_ops as u32,
                request_id_len: REQUEST_ID_LEN as u32,
            };
            out(limits, value)
        })
    }
}

/// `arkwire_conn_call` with arguments of explicit length: `args_len` bytes
/// at `args` (NULL with 0 for none), which need no NUL and may contain NUL
/// bytes; they must be UTF-8 (else `ARKWIRE_INVALID_UTF8`). They are copied
/// into the connection before this returns.
///
/// # Safety
/// As `arkwire_conn_call`; `args` NULL or valid for reads of `args_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn arkwire_conn_call_len(
    conn: *mut arkwire_conn,
    cmd: *const c_char,
    args: *const c_char,
    args_len: usize,
    now_us: u64,
    op: *mut u32,
) -> arkwire_status {
    // SAFETY: forwarded contract.
    unsafe {
        let args = match super::bytes_arg(args.cast(), args_len)
            .and_then(|b| core::str::from_utf8(b).map_err(|_| ARKWIRE_INVALID_UTF8))
        {
            Ok(a) => a,
            Err(e) => return with_conn(conn, |_| Err(e)),
        };
        start_with(conn, Start::Call, cmd, args, now_us, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(authority: &core::ffi::CStr, user: &core::ffi::CStr) -> arkwire_conn_config {
        let mut c = core::mem::MaybeUninit::uninit();
        // SAFETY: a writable config.
        unsafe {
            assert_eq!(arkwire_conn_config_init(c.as_mut_ptr()), ARKWIRE_OK);
            let mut c = c.assume_init();
            c.authority = authority.as_ptr();
            c.user = user.as_ptr();
            c.seed = 1;
            c
        }
    }

    #[test]
    fn a_send_queue_holds_the_headers_and_the_largest_request_for_any_authority_and_timeout() {
        for authority in [0, 3, 255] {
            for timeout in [0, 1, 999, 30_000, u32::MAX] {
                let q = send_queue(authority, timeout, 100);
                assert!(q > 100 + 2 * SEND_ITEM + GRPC_PREFIX + authority);
                assert!(q < 100 + 400 + authority, "{q}");
                assert_eq!(send_queue(authority + 1, timeout, 100), q + 1);
                assert_eq!(send_queue(authority, timeout, 101), q + 1);
            }
        }
    }

    #[test]
    fn a_send_queue_of_that_size_holds_the_largest_request_and_not_a_byte_more() {
        use crate::grpc::CallError;
        use crate::h2::conn::StreamBuffers;
        let longest = "a".repeat(255);
        let max = 300;
        for (authority, timeout_ms) in [("h:1", 0u32), ("h:1", 1), (longest.as_str(), 59_999)] {
            for shrink in [0, 1] {
                let (mut scratch, mut table) = ([0u8; 256], [0u8; 64]);
                let mut headers = [0u8; 128];
                let mut body = std::vec![0u8; max + GRPC_PREFIX];
                let mut send =
                    std::vec![0u8; send_queue(authority.len(), timeout_ms, max) - shrink];
                let stream = StreamBuffers {
                    headers: &mut headers,
                    body: &mut body,
                    send: &mut send,
                };
                let storage = LentStorage::<1>::new(&mut scratch, &mut table, [stream]).unwrap();
                let options = Options {
                    h2: Config::embedded(),
                    max_message_size: max,
                    ..Options::default()
                };
                let now = Instant::from_micros(0);
                let mut client = Client::with_storage(authority, options, storage, now).unwrap();
                let timeout =
                    (timeout_ms != 0).then(|| Duration::from_millis(u64::from(timeout_ms)));
                let path = crate::proto::HANDLE_REQUEST_PATH;
                // One byte past the limit is refused before a stream opens.
                let over = client.start_call_with(path, max + 1, &[], timeout, now, |_| {});
                assert_eq!(over.unwrap_err(), CallError::MessageTooLarge);
                assert!(client.can_start_call());
                let at = client.start_call_with(path, max, &[], timeout, now, |o| o.fill(b'x'));
                if shrink == 0 {
                    assert!(at.is_ok(), "{authority:?} {timeout_ms}: {at:?}");
                } else {
                    assert_eq!(at.unwrap_err(), CallError::BufferFull, "{authority:?}");
                }
            }
        }
    }

    #[test]
    fn the_size_is_the_plan_and_the_state_is_small() {
        let c = config(c"h:1", c"u");
        let p = plan(&c, 3).unwrap();
        let l = p.layout;
        assert_eq!(
            p.size,
            p.slots_offset + p.max_ops * p.stride + l.total() + p.max_ops * p.max_message + p.align
                - 1
        );
        assert_eq!(p.max_ops, ARKWIRE_CONN_MAX_OPS);
        assert_eq!(p.cap, ARKWIRE_CONN_RESULT_BUFFER);
        let state = core::mem::size_of::<arkwire_conn>();
        std::println!("arkwire_conn state: {state} B");
        assert!(state < 16 * 1024, "{state}");
        let mut bad = c;
        bad.max_message = ARKWIRE_CONN_MAX_MESSAGE + 1;
        assert_eq!(plan(&bad, 3).unwrap_err(), ARKWIRE_INVALID_ARGUMENT);
        bad = c;
        bad.scratch_size = ARKWIRE_CONN_MIN_SCRATCH - 1;
        assert_eq!(plan(&bad, 3).unwrap_err(), ARKWIRE_INVALID_ARGUMENT);
        bad = c;
        bad.headers_size = ARKWIRE_CONN_MIN_HEADERS - 1;
        assert_eq!(plan(&bad, 3).unwrap_err(), ARKWIRE_INVALID_ARGUMENT);
        bad = c;
        bad.decoder_table_size = ARKWIRE_CONN_MAX_DECODER_TABLE + 1;
        assert_eq!(plan(&bad, 3).unwrap_err(), ARKWIRE_INVALID_ARGUMENT);
        assert_eq!(plan(&c, 256).unwrap_err(), ARKWIRE_INVALID_ARGUMENT);
    }

    #[test]
    fn the_header_constants_are_the_code_limits() {
        let user = std::ffi::CString::new("u".repeat(super::super::ARKWIRE_MAX_USER)).unwrap();
        let token = std::ffi::CString::new("t".repeat(super::super::ARKWIRE_MAX_TOKEN)).unwrap();
        let long_user =
            std::ffi::CString::new("u".repeat(super::super::ARKWIRE_MAX_USER + 1)).unwrap();
        let long_token =
            std::ffi::CString::new("t".repeat(super::super::ARKWIRE_MAX_TOKEN + 1)).unwrap();
        let mut c = config(c"h:1", &user);
        c.token = token.as_ptr();
        let mut conn = core::ptr::null_mut();
        // SAFETY: valid configs and out-pointers; the connection is freed once.
        unsafe {
            assert_eq!(arkwire_conn_new(&c, &mut conn), ARKWIRE_OK);
            arkwire_conn_free(conn);
            c.user = long_user.as_ptr();
            assert_eq!(arkwire_conn_new(&c, &mut conn), ARKWIRE_INVALID_ARGUMENT);
            c.user = user.as_ptr();
            c.token = long_token.as_ptr();
            assert_eq!(arkwire_conn_new(&c, &mut conn), ARKWIRE_INVALID_ARGUMENT);
        }
    }

    #[test]
    fn goaway_is_one_frame() {
        let mut buf = [0u8; 32];
        assert_eq!(goaway(&mut buf), 17);
        assert_eq!(buf[3], 7, "GOAWAY");
    }
}
