//! Hostile peers played from a byte script, and well-behaved applications
//! driving arkwire's connections against them, with the connection's heap
//! checked against the bound its config promises after every step.
//!
//! The script (from proptest or libFuzzer) is read like a stream of choices:
//! each byte picks what the peer does next, how big, on which stream. The
//! peers speak *valid* protocol most of the time, tracking their own HPACK
//! context, the streams they opened or saw, and the flow-control windows the
//! victim grants (they read the victim's output), so the traffic reaches the
//! states where memory is held: open streams with half-sent bodies, header
//! blocks on streams that are half-closed, closed, reset or forgotten, long
//! CONTINUATION chains, a large dynamic-table entry referenced again and
//! again. Now and then they lie (gRPC prefixes announcing more than comes,
//! windows overrun, ZMTP sizes that never arrive) or send garbage.
//!
//! The drivers play the application as the heap bounds assume it: poll every
//! event, answer requests with a small reply, read and consume bodies,
//! release streams, transmit into a buffer whose bytes are only scanned by the
//! peer and then dropped, and advance a fake clock.
//!
//! Shared by `tests/heap_bound.rs` (proptest) and the `heap_*` fuzz targets,
//! which include this file with `#[path]`; it uses nothing but `std` and
//! `arkwire`.
#![allow(dead_code)] // each includer uses a different part

use core::time::Duration;

use arkwire::grpc::{self, ServerEvent};
use arkwire::h2::conn::{Connection, Event, GrowableStorage, Role, MIN_TRANSMIT_BUFFER};
use arkwire::h2::frame::PREFACE;
use arkwire::h2::hpack::{Encoder, Header, HuffmanPolicy, IndexingPolicy};
use arkwire::h2::Config;
use arkwire::sans_io::SansIo;
use arkwire::time::Instant;
use arkwire::zmtp::{ReqConnection, ZmtpConfig, ZmtpEvent};

/// Most bytes one step of a peer sends. The wire buffer is allocated with
/// this capacity before the measurement starts and never grows.
pub const MAX_STEP: usize = 64 * 1024;
/// Bytes the driver hands to `transmit` at a time.
const OUT_LEN: usize = if MIN_TRANSMIT_BUFFER > 16 * 1024 {
    MIN_TRANSMIT_BUFFER
} else {
    16 * 1024
};
/// Upper bound on `transmit` calls per step (a connection that keeps
/// producing is a bug the fuzzer's timeout would catch anyway).
const MAX_TRANSMITS: usize = 4096;
/// The gRPC method the peers call.
pub const PATH: &[u8] = b"/arkouda.Arkouda/HandleRequest";
/// Name of the large dynamic-table entry the peers index and reference.
const BIG_NAME: &[u8] = b"x-bulk";
/// HPACK's per-entry overhead (RFC 7541 §4.1).
const HPACK_ENTRY_OVERHEAD: usize = 32;
/// The dynamic table every arkwire decoder starts with (RFC 7541 default).
const HPACK_TABLE: usize = 4096;
/// The largest big value whose entry still fits the table.
const BIG_MAX: usize = HPACK_TABLE - HPACK_ENTRY_OVERHEAD - BIG_NAME.len();
/// The big entry's value (its first `big_len` bytes).
static BIG_VALUE: [u8; BIG_MAX] = [b'v'; BIG_MAX];

/// The small answer the h2 server driver queues for a finished request.
const ANSWER_HEADERS: [(&[u8], &[u8]); 2] =
    [(b":status", b"200"), (b"content-type", b"application/grpc")];
const ANSWER_BODY: &[u8] = &[0, 0, 0, 0, 2, b'o', b'k'];
const ANSWER_TRAILERS: [(&[u8], &[u8]); 1] = [(b"grpc-status", b"0")];
/// The request the client drivers send.
const REQUEST_HEADERS: [(&[u8], &[u8]); 6] = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", PATH),
    (b":authority", b"victim"),
    (b"content-type", b"application/grpc"),
    (b"te", b"trailers"),
];
const REQUEST_BODY: &[u8] = &[0, 0, 0, 0, 4, b'p', b'i', b'n', b'g'];
/// Calls the h2 client driver keeps in flight.
const CLIENT_CALLS: usize = 4;
/// How long the client driver gives a call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes a queued item of a header list takes per field beyond its name and
/// value (`h2::header_list` stores two 16-bit lengths), and a queued item's
/// own prefix (tag and length): used to size the allowance for what the
/// driver itself queues.
const QUEUED_FIELD_OVERHEAD: usize = 4;
const QUEUED_ITEM_PREFIX: usize = 5;

fn queued_block_len(fields: &[(&[u8], &[u8])]) -> usize {
    QUEUED_ITEM_PREFIX
        + fields
            .iter()
            .map(|(n, v)| n.len() + v.len() + QUEUED_FIELD_OVERHEAD)
            .sum::<usize>()
}

/// Heap the h2 server driver's own answers may hold on one stream until they
/// are sent: headers, the body and trailers as queued items, doubled because
/// a growable queue may keep twice what it holds.
pub fn answer_allowance_per_stream() -> usize {
    2 * (queued_block_len(&ANSWER_HEADERS)
        + QUEUED_ITEM_PREFIX
        + ANSWER_BODY.len()
        + queued_block_len(&ANSWER_TRAILERS))
}

/// Heap the h2 client driver's own requests may hold on one stream, as above.
pub fn request_allowance_per_stream() -> usize {
    2 * (queued_block_len(&REQUEST_HEADERS) + QUEUED_ITEM_PREFIX + REQUEST_BODY.len())
}

/// How the drivers measure the heap: `start` marks the baseline right before
/// the connection is created, `peak_growth` is the most bytes held above it
/// since (see `counting_alloc`).
#[derive(Clone, Copy)]
pub struct Meter {
    pub start: fn(),
    pub peak_growth: fn() -> usize,
}

/// What a run did, for the tests to say something about coverage.
#[derive(Clone, Copy, Debug, Default)]
pub struct Run {
    /// Peer steps played.
    pub steps: usize,
    /// Whether the victim closed the connection before the script ended.
    pub closed: bool,
    /// Most heap the connection held above the baseline.
    pub peak: usize,
    /// The bound it was held to.
    pub bound: usize,
    /// Why the victim ended the connection (HTTP/2), if it did.
    pub reason: Option<&'static str>,
    /// The last peer action.
    pub last: Option<Action>,
    /// Heap the connection held right after it was created.
    pub created: usize,
}

/// Reads choices from the script; an exhausted script reads as zeros.
pub struct Script<'a> {
    bytes: &'a [u8],
}

impl<'a> Script<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Script { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// A number in `0..n` (`n` at most 65536).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            0
        } else if n <= 256 {
            usize::from(self.byte()) % n
        } else {
            usize::from(self.u16()) % n
        }
    }

    /// True with probability `k / 256`.
    pub fn chance(&mut self, k: u8) -> bool {
        self.byte() < k
    }

    /// A length in `0..=max`, biased to small values but reaching `max`.
    pub fn len(&mut self, max: usize) -> usize {
        match self.byte() % 4 {
            0 => max,
            1 => self.below(max.min(64) + 1),
            _ => self.below(max.min(65_535) + 1),
        }
    }

    /// Time that passes between two steps: mostly milliseconds, sometimes
    /// seconds, so handshake, settings, stall and flood windows all expire.
    pub fn delay(&mut self) -> Duration {
        match self.byte() {
            b @ 0..=239 => Duration::from_millis(u64::from(b % 32)),
            b => Duration::from_secs(u64::from(b - 239)),
        }
    }
}

/// The bytes one peer step sends. Its buffer is allocated once, before the
/// measurement, and writes that would pass its capacity are refused.
pub struct Wire {
    buf: Vec<u8>,
}

impl Default for Wire {
    fn default() -> Self {
        Self::new()
    }
}

impl Wire {
    pub fn new() -> Self {
        Wire {
            buf: Vec::with_capacity(MAX_STEP),
        }
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn room(&self) -> usize {
        MAX_STEP - self.buf.len()
    }

    /// Appends `bytes` whole, or nothing.
    pub fn raw(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > self.room() {
            return false;
        }
        self.buf.extend_from_slice(bytes);
        true
    }

    /// Appends one HTTP/2 frame whose payload is `parts` back to back.
    pub fn frame(&mut self, kind: u8, flags: u8, stream: u32, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if 9 + len > self.room() || len >= 1 << 24 {
            return false;
        }
        let l = (len as u32).to_be_bytes();
        self.buf.extend_from_slice(&[l[1], l[2], l[3], kind, flags]);
        self.buf
            .extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        for p in parts {
            self.buf.extend_from_slice(p);
        }
        true
    }

    /// Appends `n` copies of byte `b`, or nothing.
    pub fn fill(&mut self, b: u8, n: usize) -> bool {
        if n > self.room() {
            return false;
        }
        self.buf.resize(self.buf.len() + n, b);
        true
    }
}

/// HTTP/2 frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

/// Reads the victim's output frame by frame (across `transmit` calls) and
/// keeps the first bytes of each payload, enough for SETTINGS,
/// WINDOW_UPDATE, RST_STREAM and GOAWAY.
struct Scanner {
    /// Bytes still to skip before the first frame (a client's preface).
    skip: usize,
    head: [u8; 9],
    have: usize,
    payload: [u8; 48],
    kept: usize,
    left: usize,
    frame: Option<(u8, u8, u32, usize)>,
}

impl Scanner {
    fn new(skip: usize) -> Self {
        Scanner {
            skip,
            head: [0; 9],
            have: 0,
            payload: [0; 48],
            kept: 0,
            left: 0,
            frame: None,
        }
    }

    /// Calls `f(kind, flags, stream, first payload bytes)` for every frame
    /// that `bytes` completes.
    fn feed(&mut self, mut bytes: &[u8], f: &mut impl FnMut(u8, u8, u32, &[u8])) {
        let skip = self.skip.min(bytes.len());
        self.skip -= skip;
        bytes = &bytes[skip..];
        while !bytes.is_empty() {
            if self.frame.is_none() {
                let n = (9 - self.have).min(bytes.len());
                self.head[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                bytes = &bytes[n..];
                if self.have < 9 {
                    return;
                }
                self.have = 0;
                let h = self.head;
                let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                self.frame = Some((h[3], h[4], stream, len));
                self.left = len;
                self.kept = 0;
            }
            let n = self.left.min(bytes.len());
            let keep = n.min(self.payload.len() - self.kept);
            self.payload[self.kept..self.kept + keep].copy_from_slice(&bytes[..keep]);
            self.kept += keep;
            self.left -= n;
            bytes = &bytes[n..];
            if self.left == 0 {
                if let Some((kind, flags, stream, _)) = self.frame.take() {
                    f(kind, flags, stream, &self.payload[..self.kept]);
                }
            }
        }
    }
}

/// What a hostile HTTP/2 peer knows of one stream.
#[derive(Clone, Copy, Debug, Default)]
struct PeerStream {
    id: u32,
    /// How much more DATA the victim lets us send on it.
    window: i64,
    /// We sent END_STREAM.
    ended: bool,
    /// Either side reset it.
    reset: bool,
    /// Server peer: response headers went out.
    answered: bool,
}

/// Streams remembered; older ones are forgotten (but may still be targeted
/// by id, as "forgotten" streams).
const RING: usize = 16;

/// Which side the hostile HTTP/2 peer plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerRole {
    /// A client attacking a server.
    Client,
    /// A server attacking a client.
    Server,
}

/// A hostile HTTP/2 peer. See the module documentation.
pub struct H2Peer {
    role: PeerRole,
    hpack: Encoder,
    /// Length of the big entry's value, chosen once per run.
    big_len: usize,
    ring: [PeerStream; RING],
    ring_len: usize,
    ring_next: usize,
    /// Client peer: the next stream id we open. Server peer: the highest
    /// stream the victim opened.
    next_id: u32,
    /// The victim's connection window for our DATA.
    conn_window: i64,
    /// The victim's SETTINGS_INITIAL_WINDOW_SIZE.
    initial_window: i64,
    /// The victim's SETTINGS_MAX_FRAME_SIZE.
    max_frame: usize,
    /// The largest message the victim accepts, for honest gRPC prefixes.
    max_message: usize,
    scanner: Scanner,
    /// The victim sent GOAWAY.
    goaway: bool,
    /// SETTINGS frames of the victim's not yet acknowledged.
    owed_acks: u32,
}

/// What one step did, for failure messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Handshake,
    Open,
    Data,
    Trailers,
    Response,
    DeadStreamRun,
    Continuations,
    Reset,
    WindowUpdate,
    Settings,
    Ping,
    Priority,
    GoAway,
    Garbage,
    ZmtpReply,
    ZmtpLie,
    ZmtpCommand,
    ZmtpPings,
    Timeout,
}

impl H2Peer {
    /// A peer whose victim accepts messages of up to `max_message` bytes.
    pub fn new(role: PeerRole, max_message: usize, s: &mut Script<'_>) -> Self {
        let mut hpack = Encoder::new();
        hpack.set_huffman(if s.chance(32) {
            HuffmanPolicy::WhenShorter
        } else {
            HuffmanPolicy::Never
        });
        let big_len = match s.byte() % 4 {
            0 => s.below(BIG_MAX + 1),
            _ => BIG_MAX - s.below(64),
        };
        H2Peer {
            role,
            hpack,
            big_len,
            ring: [PeerStream::default(); RING],
            ring_len: 0,
            ring_next: 0,
            next_id: match role {
                PeerRole::Client => 1,
                PeerRole::Server => 0,
            },
            conn_window: 65_535,
            initial_window: 65_535,
            max_frame: 16_384,
            max_message,
            // A client victim's output starts with the connection preface.
            scanner: Scanner::new(match role {
                PeerRole::Client => 0,
                PeerRole::Server => PREFACE.len(),
            }),
            goaway: false,
            owed_acks: 0,
        }
    }

    /// Reads what the victim sent: windows, settings, the streams a client
    /// victim opens, resets, GOAWAY.
    pub fn observe(&mut self, bytes: &[u8]) {
        let mut scanner = core::mem::replace(&mut self.scanner, Scanner::new(0));
        scanner.feed(bytes, &mut |kind, flags, stream, payload| {
            self.on_frame(kind, flags, stream, payload)
        });
        self.scanner = scanner;
    }

    fn on_frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let be32 = |p: &[u8]| -> u32 {
            p.get(..4)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        match kind {
            kind::SETTINGS if flags & ACK == 0 => {
                self.owed_acks += 1;
                for s in payload.chunks_exact(6) {
                    let value = be32(&s[2..]);
                    match u16::from_be_bytes([s[0], s[1]]) {
                        0x4 => {
                            let delta = i64::from(value) - self.initial_window;
                            self.initial_window = i64::from(value);
                            for st in &mut self.ring[..self.ring_len] {
                                st.window += delta;
                            }
                        }
                        0x5 => self.max_frame = value as usize,
                        _ => {}
                    }
                }
            }
            kind::WINDOW_UPDATE => {
                let inc = i64::from(be32(payload) & 0x7fff_ffff);
                if stream == 0 {
                    self.conn_window += inc;
                } else if let Some(st) = self.find(stream) {
                    st.window += inc;
                }
            }
            kind::RST_STREAM => {
                if let Some(st) = self.find(stream) {
                    st.reset = true;
                }
            }
            kind::HEADERS if self.role == PeerRole::Server && stream > self.next_id => {
                // A client victim opened a call.
                self.next_id = stream;
                let window = self.initial_window;
                self.remember(PeerStream {
                    id: stream,
                    window,
                    ..PeerStream::default()
                });
            }
            kind::GOAWAY => self.goaway = true,
            _ => {}
        }
    }

    fn find(&mut self, id: u32) -> Option<&mut PeerStream> {
        self.ring[..self.ring_len].iter_mut().find(|s| s.id == id)
    }

    fn remember(&mut self, stream: PeerStream) {
        self.ring[self.ring_next] = stream;
        self.ring_next = (self.ring_next + 1) % RING;
        self.ring_len = (self.ring_len + 1).min(RING);
    }

    /// A stream id to aim at: a remembered one (of any state), a long
    /// forgotten one, or (rarely) one that was never opened.
    fn pick(&mut self, s: &mut Script<'_>) -> u32 {
        let newest = match self.role {
            PeerRole::Client => self.next_id.saturating_sub(2),
            PeerRole::Server => self.next_id,
        };
        match s.byte() {
            0..=223 if self.ring_len > 0 => self.ring[s.below(self.ring_len)].id,
            // An older stream of the opener's parity, likely forgotten.
            0..=251 if newest > 0 => newest.saturating_sub(2 * s.below(64) as u32).max(1),
            // One that was never opened (or stream 0): the victim must end
            // the connection.
            252..=255 => u32::from(s.u16()),
            // Nothing opened yet: a client opens a stream to aim at; a
            // server aims at the client's first.
            _ => 1,
        }
    }

    /// Like [`pick`](Self::pick), but a client peer that has opened nothing
    /// opens a stream first, so early steps do not all break the connection.
    fn pick_known(&mut self, s: &mut Script<'_>, wire: &mut Wire) -> u32 {
        if self.role == PeerRole::Client && self.next_id == 1 {
            self.open_plain(1, false, wire);
        }
        self.pick(s)
    }

    /// A remembered stream we may still send DATA on, if any.
    fn pick_sendable(&mut self, s: &mut Script<'_>) -> Option<usize> {
        let n = self.ring_len;
        let start = s.below(n.max(1));
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| !self.ring[i].ended && !self.ring[i].reset)
    }

    /// Encodes `fields` with our HPACK context and sends it as HEADERS (and
    /// CONTINUATION frames when `split` asks) on `stream`. Returns false
    /// (and sends nothing, leaving the context untouched) when it cannot fit.
    fn block(
        &mut self,
        wire: &mut Wire,
        stream: u32,
        fields: &[(&[u8], &[u8])],
        end_stream: bool,
        split: usize,
    ) -> bool {
        let mut encoded = [0u8; 5 * HPACK_TABLE];
        // Room for the largest block we build and a frame header per piece.
        let worst: usize = fields.iter().map(|(n, v)| n.len() + v.len() + 12).sum();
        if worst > encoded.len() || worst + 9 * (split + 1) > wire.room() {
            return false;
        }
        let Ok(n) = self
            .hpack
            .encode(fields.iter().map(|(n, v)| Header::new(n, v)), &mut encoded)
        else {
            return false;
        };
        let block = &encoded[..n];
        let piece = if split == 0 {
            n.max(1)
        } else {
            n.div_ceil(split + 1).max(1)
        };
        let mut pieces = block.chunks(piece).peekable();
        let first = pieces.next().unwrap_or(&[]);
        let last = pieces.peek().is_none();
        let flags = if end_stream { END_STREAM } else { 0 } | if last { END_HEADERS } else { 0 };
        wire.frame(kind::HEADERS, flags, stream, &[first]);
        while let Some(p) = pieces.next() {
            let flags = if pieces.peek().is_none() {
                END_HEADERS
            } else {
                0
            };
            wire.frame(kind::CONTINUATION, flags, stream, &[p]);
        }
        true
    }

    /// Sends a header block of `refs` copies of the big entry (indexing it
    /// first if our table lost it) on `stream`.
    fn big_block(&mut self, wire: &mut Wire, stream: u32, refs: usize, end_stream: bool) -> bool {
        self.hpack.set_indexing(IndexingPolicy::All);
        let big: (&[u8], &[u8]) = (BIG_NAME, &BIG_VALUE[..self.big_len]);
        let list = [big; 4];
        let ok = self.block(wire, stream, &list[..refs.clamp(1, 4)], end_stream, 0);
        self.hpack.set_indexing(IndexingPolicy::Never);
        ok
    }

    /// The handshake: our preface (client) and SETTINGS from the script, and
    /// an acknowledgement of the victim's SETTINGS.
    pub fn handshake(&mut self, s: &mut Script<'_>, wire: &mut Wire) {
        self.hpack.set_indexing(IndexingPolicy::Never);
        if self.role == PeerRole::Client {
            wire.raw(PREFACE);
        }
        self.settings(s, wire);
    }

    fn settings(&mut self, s: &mut Script<'_>, wire: &mut Wire) {
        let mut payload = [0u8; 36];
        let mut n = 0;
        for _ in 0..s.below(4) {
            let (id, value): (u16, u32) = match s.byte() % 6 {
                // Our receive window: 0 stalls the victim's replies.
                0 => (0x4, [0, 1, 65_535, 1 << 20, 0x7fff_ffff][s.below(5)]),
                1 => (0x5, [16_384, 16_777_215][s.below(2)]),
                2 => (0x1, [0, 64, 4096, 65_536][s.below(4)]),
                3 => (0x3, [0, 1, 100][s.below(3)]),
                4 => (0x6, [0, 1024, 1 << 20][s.below(3)]),
                _ => (s.u16(), s.u32()),
            };
            payload[n..n + 2].copy_from_slice(&id.to_be_bytes());
            payload[n + 2..n + 6].copy_from_slice(&value.to_be_bytes());
            n += 6;
        }
        wire.frame(kind::SETTINGS, 0, 0, &[&payload[..n]]);
    }

    /// One step of hostile traffic into `wire`.
    pub fn step(&mut self, s: &mut Script<'_>, wire: &mut Wire) -> Action {
        // A well-behaved peer acknowledges the victim's SETTINGS (RFC 9113
        // §6.5.3); once in a while this one forgets, and the victim's
        // SETTINGS timeout must end the connection.
        while self.owed_acks > 0 && !s.chance(2) {
            wire.frame(kind::SETTINGS, ACK, 0, &[]);
            self.owed_acks -= 1;
        }
        match (self.role, s.byte() % 16) {
            (PeerRole::Client, 0..=2) => {
                self.open(s, wire);
                Action::Open
            }
            (PeerRole::Server, 0..=2) => {
                self.respond(s, wire);
                Action::Response
            }
            (_, 3..=5) => {
                self.data(s, wire);
                Action::Data
            }
            (_, 6) => {
                let id = self.pick_known(s, wire);
                self.trailers(id, wire);
                Action::Trailers
            }
            (_, 7) => {
                self.dead_stream_run(s, wire);
                Action::DeadStreamRun
            }
            (_, 8..=9) => {
                self.continuations(s, wire);
                Action::Continuations
            }
            (_, 10) => {
                let id = self.pick_known(s, wire);
                self.reset(id, s.byte() % 14, wire);
                Action::Reset
            }
            (_, 11) => {
                let id = if s.chance(64) {
                    0
                } else {
                    self.pick_known(s, wire)
                };
                let inc = match s.byte() % 16 {
                    0 => s.u32() & 0x7fff_ffff,
                    _ => u32::from(s.u16()).max(1),
                };
                if id == 0 {
                    self.conn_window += i64::from(inc);
                }
                // Runs of them (small ones), on closed streams too.
                let times = if inc < 1 << 16 { 1 + s.below(32) } else { 1 };
                for _ in 0..times {
                    wire.frame(kind::WINDOW_UPDATE, 0, id, &[&inc.to_be_bytes()]);
                }
                Action::WindowUpdate
            }
            (_, 12) => {
                if s.chance(64) {
                    wire.frame(kind::SETTINGS, ACK, 0, &[]);
                } else {
                    self.settings(s, wire);
                }
                Action::Settings
            }
            (_, 13) => {
                let ack = if s.chance(128) { ACK } else { 0 };
                let data = [s.byte(); 8];
                for _ in 0..=s.below(8) {
                    wire.frame(kind::PING, ack, 0, &[&data]);
                }
                Action::Ping
            }
            (_, 14) => {
                let id = self.pick(s);
                let dep = self.pick(s);
                wire.frame(kind::PRIORITY, 0, id, &[&dep.to_be_bytes(), &[s.byte()]]);
                Action::Priority
            }
            _ => self.noise(s, wire),
        }
    }

    /// Rare protocol breakers: GOAWAY, PUSH_PROMISE, frames of unknown type,
    /// garbage. Most scripts should keep the connection alive, so each is
    /// picked only one time in four.
    fn noise(&mut self, s: &mut Script<'_>, wire: &mut Wire) -> Action {
        match s.byte() {
            0..=7 => {
                let n = s.below(64);
                for _ in 0..n {
                    let b = s.byte();
                    wire.raw(&[b]);
                }
                Action::Garbage
            }
            8..=15 => {
                let last = self.pick(s);
                wire.frame(kind::GOAWAY, 0, 0, &[&last.to_be_bytes(), &[0, 0, 0, 0]]);
                Action::GoAway
            }
            16..=23 => {
                let id = self.pick(s);
                let promised = self.pick(s);
                wire.frame(
                    kind::PUSH_PROMISE,
                    END_HEADERS,
                    id,
                    &[&promised.to_be_bytes()],
                );
                Action::Garbage
            }
            24..=39 => {
                let n = s.below(64);
                wire.frame(0xfa, s.byte(), self.pick(s), &[&[0u8; 64][..n]]);
                Action::Garbage
            }
            // Otherwise: nothing this step but time passing.
            _ => Action::Timeout,
        }
    }

    /// Client peer: a request on a new stream, sometimes ending it at once,
    /// sometimes split into CONTINUATION frames, sometimes carrying the big entry.
    fn open(&mut self, s: &mut Script<'_>, wire: &mut Wire) {
        let id = self.next_id;
        if s.chance(3) && wire.room() >= 9 + 6 {
            // Fields the victim may store, then an HPACK integer that never
            // ends (RFC 7541 §5.1): the block breaks after a stored field.
            wire.frame(
                kind::HEADERS,
                END_HEADERS,
                id,
                &[&[0x83, 0x86, 0xff, 0xff, 0xff, 0x0f]],
            );
            return;
        }
        let end = s.chance(48);
        let split = if s.chance(48) { s.below(4) } else { 0 };
        let mut fields: [(&[u8], &[u8]); 8] = [(b"", b""); 8];
        fields[..6].copy_from_slice(&REQUEST_HEADERS);
        let mut n = 6;
        if s.chance(64) {
            fields[n] = (
                b"grpc-timeout",
                [&b"1S"[..], b"100m", b"1H", b"x"][s.below(4)],
            );
            n += 1;
        }
        if s.chance(16) {
            // A path we do not serve, or a method that is not POST.
            fields[2] = (b":path", b"/other");
        }
        if !self.block(wire, id, &fields[..n], end, split) {
            return;
        }
        if s.chance(48) {
            // Index the big entry early, so later blocks can point at it.
            self.big_block(wire, id, 1, false);
        }
        self.next_id += 2;
        let window = self.initial_window;
        self.remember(PeerStream {
            id,
            window,
            ended: end,
            ..PeerStream::default()
        });
    }

    /// Server peer: response headers on a call the victim opened, or a
    /// whole trailers-only answer.
    fn respond(&mut self, s: &mut Script<'_>, wire: &mut Wire) {
        let id = match self.pick_sendable(s) {
            Some(i) if !s.chance(32) => self.ring[i].id,
            _ => self.pick(s),
        };
        let trailers_only = s.chance(48);
        let split = if s.chance(48) { s.below(4) } else { 0 };
        let ok: [(&[u8], &[u8]); 3] = [
            (b":status", b"200"),
            (b"content-type", b"application/grpc"),
            (b"grpc-status", b"0"),
        ];
        let n = if trailers_only { 3 } else { 2 };
        if self.block(wire, id, &ok[..n], trailers_only, split) {
            if let Some(st) = self.find(id) {
                st.answered = true;
                st.ended |= trailers_only;
            }
        }
    }

    /// DATA on a stream: a gRPC message prefix announcing an honest length,
    /// the largest allowed, or a lie; then body bytes as the windows allow
    /// (now and then more than they allow).
    fn data(&mut self, s: &mut Script<'_>, wire: &mut Wire) {
        if self.role == PeerRole::Client && self.pick_sendable(s).is_none() {
            let id = self.next_id;
            self.open_plain(id, false, wire);
        }
        let (slot, id) = match self.pick_sendable(s) {
            Some(i) if !s.chance(24) => (Some(i), self.ring[i].id),
            _ => (None, self.pick(s)),
        };
        let window = slot.map_or(0, |i| self.ring[i].window);
        let mut allowed = window.min(self.conn_window).max(0) as usize;
        if s.chance(16) {
            // Overrun the window.
            allowed += 1 + s.below(1024);
        }
        let frames = 1 + s.below(8);
        let mut sent_total = 0usize;
        for f in 0..frames {
            // Leave room in the frame for the padding below.
            let room = wire.room().saturating_sub(9 + 1 + 255);
            let max = allowed
                .saturating_sub(sent_total)
                .min(self.max_frame.saturating_sub(1 + 255))
                .min(room);
            let mut prefix = [0u8; 5];
            let with_prefix = f == 0 && s.chance(192) && max >= 5;
            if with_prefix {
                let announced: u32 = match s.byte() % 6 {
                    0 => self.max_message as u32,
                    1 => (self.max_message as u32).saturating_add(1),
                    2 => u32::MAX,
                    3 => s.u16().into(),
                    _ => max.saturating_sub(5) as u32,
                };
                prefix[0] = if s.chance(16) { 1 } else { 0 };
                prefix[1..].copy_from_slice(&announced.to_be_bytes());
            }
            let body = s.len(max.saturating_sub(if with_prefix { 5 } else { 0 }));
            let end = f + 1 == frames && s.chance(96);
            let padded = s.chance(16);
            let pad = if padded { s.below(256) } else { 0 };
            let flags = if end { END_STREAM } else { 0 } | if padded { PADDED } else { 0 };
            let prefix_part: &[u8] = if with_prefix { &prefix } else { &[] };
            let pad_len = [pad as u8];
            let pad_part: &[u8] = if padded { &pad_len } else { &[] };
            let zeros = [b'd'; 1024];
            // Build the payload from pieces so no buffer is allocated.
            let mut pieces: [&[u8]; 20] = [&[]; 20];
            pieces[0] = pad_part;
            pieces[1] = prefix_part;
            let mut left = body;
            let mut k = 2;
            while left > 0 && k < 18 {
                let n = left.min(zeros.len());
                pieces[k] = &zeros[..n];
                left -= n;
                k += 1;
            }
            let body = body - left;
            pieces[k] = &zeros[..pad.min(zeros.len())];
            if !wire.frame(kind::DATA, flags, id, &pieces[..=k]) {
                break;
            }
            let flow = prefix_part.len() + body + if padded { pad + 1 } else { 0 };
            sent_total += flow;
            self.conn_window -= flow as i64;
            if let Some(i) = slot {
                self.ring[i].window -= flow as i64;
                self.ring[i].ended |= end;
            }
            if end {
                break;
            }
        }
    }

    /// Trailers (END_STREAM) on `id`.
    fn trailers(&mut self, id: u32, wire: &mut Wire) {
        let fields: [(&[u8], &[u8]); 1] = match self.role {
            PeerRole::Client => [(b"x-trailer", b"t")],
            PeerRole::Server => [(b"grpc-status", b"0")],
        };
        if self.block(wire, id, &fields, true, 0) {
            if let Some(st) = self.find(id) {
                st.ended = true;
            }
        }
    }

    fn reset(&mut self, id: u32, code: u8, wire: &mut Wire) {
        wire.frame(kind::RST_STREAM, 0, id, &[&u32::from(code).to_be_bytes()]);
        if let Some(st) = self.find(id) {
            st.reset = true;
        }
    }

    /// The dead-stream header-block flood: a stream is brought to a state
    /// where it cannot take headers (half-closed by END_STREAM, reset, past
    /// its trailers, answered, or long forgotten), then a run of small header
    /// blocks, each a few references to the big entry, arrives on it.
    fn dead_stream_run(&mut self, s: &mut Script<'_>, wire: &mut Wire) {
        let id = match (self.role, s.byte() % 5) {
            (PeerRole::Client, 0) => {
                // A request ended at once: the stream is half-closed.
                let id = self.next_id;
                self.open_plain(id, true, wire);
                id
            }
            (PeerRole::Client, 1) => {
                // Opened and reset by us.
                let id = self.next_id;
                self.open_plain(id, false, wire);
                self.reset(id, 0x8, wire);
                id
            }
            (PeerRole::Client, 2) => {
                // Opened, a body, trailers: past its trailers.
                let id = self.next_id;
                self.open_plain(id, false, wire);
                wire.frame(kind::DATA, 0, id, &[REQUEST_BODY]);
                self.trailers(id, wire);
                id
            }
            (PeerRole::Server, 0) => {
                // A whole answer: headers, a message, trailers.
                let Some(i) = self.pick_sendable(s) else {
                    return;
                };
                let id = self.ring[i].id;
                let head: [(&[u8], &[u8]); 2] =
                    [(b":status", b"200"), (b"content-type", b"application/grpc")];
                self.block(wire, id, &head, false, 0);
                wire.frame(kind::DATA, 0, id, &[ANSWER_BODY]);
                self.trailers(id, wire);
                id
            }
            (PeerRole::Server, 1) => {
                let Some(i) = self.pick_sendable(s) else {
                    return;
                };
                let id = self.ring[i].id;
                self.reset(id, 0x2, wire);
                id
            }
            (PeerRole::Server, 2) => {
                // Response headers only: the next blocks are trailers without
                // END_STREAM, then blocks past the stream's end.
                let Some(i) = self.pick_sendable(s) else {
                    return;
                };
                let id = self.ring[i].id;
                let head: [(&[u8], &[u8]); 1] = [(b":status", b"200")];
                self.block(wire, id, &head, false, 0);
                id
            }
            _ => self.pick_known(s, wire),
        };
        let refs = 1 + s.below(4);
        // Mostly short runs, so a script can hold many; sometimes long
        // enough to pass any futile-frame budget.
        let runs = 1 + if s.chance(32) {
            s.below(256)
        } else {
            s.below(8)
        };
        let end_stream = s.chance(64);
        for _ in 0..runs {
            if wire.room() < 9 + refs + 2 * HPACK_TABLE {
                break;
            }
            self.big_block(wire, id, refs, end_stream);
        }
    }

    /// A request (client peer) with no extras, for the dead-stream runs.
    fn open_plain(&mut self, id: u32, end: bool, wire: &mut Wire) {
        if self.block(wire, id, &REQUEST_HEADERS, end, 0) {
            self.next_id += 2;
            let window = self.initial_window;
            self.remember(PeerStream {
                id,
                window,
                ended: end,
                ..PeerStream::default()
            });
        }
    }

    /// A header block that goes on in CONTINUATION frames, ended or not:
    /// each fragment a piece of one literal field, so the block never
    /// decodes before it ends.
    fn continuations(&mut self, s: &mut Script<'_>, wire: &mut Wire) {
        let id = if self.role == PeerRole::Client && s.chance(128) {
            let id = self.next_id;
            self.next_id += 2;
            id
        } else {
            self.pick_known(s, wire)
        };
        // Mostly within the victim's CONTINUATION limit, sometimes past it;
        // mostly ended, sometimes left open for the next frame to break.
        let frames = 1 + if s.chance(16) { s.len(64) } else { s.below(8) };
        let piece = s.below(256);
        let finish = !s.chance(16);
        // Literal without indexing, new name "x" and a value of `frames *
        // piece` bytes (§6.2.2; the length as a 7-bit prefix integer).
        let value_len = frames * piece;
        let mut head = [0u8; 16];
        head[0] = 0x00;
        head[1] = 1;
        head[2] = b'x';
        let n = encode_int(value_len, 7, &mut head[3..]);
        let pad = [b'c'; 256];
        wire.frame(kind::HEADERS, 0, id, &[&head[..3 + n]]);
        for i in 0..frames {
            let last = finish && i + 1 == frames;
            let flags = if last { END_HEADERS } else { 0 };
            if !wire.frame(kind::CONTINUATION, flags, id, &[&pad[..piece]]) {
                break;
            }
        }
    }
}

/// RFC 7541 §5.1 integer with an `n`-bit prefix (flags zero); returns bytes written.
fn encode_int(mut value: usize, n: u8, out: &mut [u8]) -> usize {
    let max = (1usize << n) - 1;
    if value < max {
        out[0] = value as u8;
        return 1;
    }
    out[0] = max as u8;
    value -= max;
    let mut i = 1;
    while value >= 128 {
        out[i] = (value % 128 + 128) as u8;
        value /= 128;
        i += 1;
    }
    out[i] = value as u8;
    i + 1
}

/// Feeds a step to the victim, split in two at a point the script picks.
fn split_point(s: &mut Script<'_>, len: usize) -> usize {
    if len > 1 && s.chance(64) {
        s.below(len.min(65_536))
    } else {
        len
    }
}

/// True when `HOSTILE_DEBUG` is set: the drivers print every step and event.
pub fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("HOSTILE_DEBUG").is_some())
}

fn check(meter: &Meter, bound: usize, run: &mut Run, what: &dyn core::fmt::Debug) {
    let peak = (meter.peak_growth)();
    run.peak = run.peak.max(peak);
    if debug() {
        eprintln!("step {} {what:?}: peak {peak} of {bound}", run.steps);
    }
    assert!(
        peak <= bound,
        "heap peaked at {peak} bytes above the connection's baseline, past the bound of \
         {bound} bytes derived from its config, at step {} ({what:?})",
        run.steps
    );
}

/// A peer the scripts drive: its opening bytes, then one action per step.
trait Hostile {
    fn handshake(&mut self, s: &mut Script<'_>, wire: &mut Wire);
    fn step(&mut self, s: &mut Script<'_>, wire: &mut Wire) -> Action;
}

impl Hostile for H2Peer {
    fn handshake(&mut self, s: &mut Script<'_>, wire: &mut Wire) {
        H2Peer::handshake(self, s, wire)
    }
    fn step(&mut self, s: &mut Script<'_>, wire: &mut Wire) -> Action {
        H2Peer::step(self, s, wire)
    }
}

impl Hostile for ZmtpPeer {
    fn handshake(&mut self, s: &mut Script<'_>, wire: &mut Wire) {
        ZmtpPeer::handshake(self, s, wire)
    }
    fn step(&mut self, s: &mut Script<'_>, wire: &mut Wire) -> Action {
        ZmtpPeer::step(self, s, wire)
    }
}

/// The loop every role shares: the peer's bytes in (split where the script
/// says), the application's turn, the heap checked; then time passes and
/// the same again; until the script ends or the victim closes.
#[allow(clippy::too_many_arguments)]
fn play<M: SansIo, P: Hostile>(
    victim: &mut M,
    peer: &mut P,
    s: &mut Script<'_>,
    wire: &mut Wire,
    meter: &Meter,
    run: &mut Run,
    mut now: Instant,
    mut app: impl FnMut(&mut M, &mut P, Instant),
    is_closed: impl Fn(&M) -> bool,
    reason: impl Fn(&M::Error) -> &'static str,
) {
    let bound = run.bound;
    let mut action = Action::Handshake;
    peer.handshake(s, wire);
    loop {
        let bytes = wire.bytes();
        let cut = split_point(s, bytes.len());
        for piece in [&bytes[..cut], &bytes[cut..]] {
            if let Err(e) = victim.recv(piece, now) {
                run.reason = run.reason.or(Some(reason(&e)));
                if debug() {
                    eprintln!("  recv: {e:?}");
                }
            }
        }
        app(victim, peer, now);
        check(meter, bound, run, &action);
        now = now + s.delay();
        victim.handle_timeout(now);
        app(victim, peer, now);
        check(meter, bound, run, &Action::Timeout);
        if s.is_empty() || is_closed(victim) {
            break;
        }
        wire.clear();
        action = peer.step(s, wire);
        run.last = Some(action);
        run.steps += 1;
    }
    run.closed = is_closed(victim);
}

/// An h2 server `Connection<GrowableStorage>` against a hostile client. The
/// bound is `GrowableStorage::heap_bound(&config)` plus the driver's own
/// answers on every stream the config lets be open.
pub fn h2_server(script: &[u8], config: Config, meter: Meter) -> Run {
    let bound = GrowableStorage::heap_bound(&config)
        + config.max_concurrent_streams as usize * answer_allowance_per_stream();
    let mut s = Script::new(script);
    let mut wire = Wire::new();
    let mut out = vec![0u8; OUT_LEN];
    let mut peer = H2Peer::new(PeerRole::Client, config.max_body_size, &mut s);
    let now = Instant::from_millis(0);
    let mut run = Run {
        bound,
        ..Run::default()
    };
    (meter.start)();
    let mut conn: Connection<GrowableStorage> =
        Connection::new(Role::Server, config, now).expect("a valid config");
    check(&meter, bound, &mut run, &"connection created");
    run.created = run.peak;
    play(
        &mut conn,
        &mut peer,
        &mut s,
        &mut wire,
        &meter,
        &mut run,
        now,
        |c, p, _| serve_h2(c, &mut out, p),
        |c| c.is_closed(),
        |e| e.reason,
    );
    run
}

/// The well-behaved server application for raw h2: reads what arrives,
/// consumes bodies, answers ended requests with a small reply, releases.
fn serve_h2(conn: &mut Connection<GrowableStorage>, out: &mut [u8], peer: &mut H2Peer) {
    loop {
        let mut any = false;
        while let Some(event) = conn.poll_event() {
            any = true;
            if debug() {
                eprintln!("  event {event:?}");
            }
            match event {
                Event::Headers { stream } | Event::Trailers { stream } => {
                    if let Some(st) = conn.stream(stream) {
                        let _ = st.headers().get(b":path");
                        let _ = st.trailers().map(|t| t.count());
                    }
                }
                Event::Data { stream } => {
                    let _ = conn.stream(stream).map(|st| st.body().len());
                    conn.consume(stream);
                }
                Event::StreamEnded { stream } => {
                    conn.consume(stream);
                    let _ = conn
                        .send_headers(stream, ANSWER_HEADERS, false)
                        .and_then(|_| conn.send_data(stream, &[ANSWER_BODY], false))
                        .and_then(|_| conn.send_headers(stream, ANSWER_TRAILERS, true));
                    conn.release_stream(stream);
                }
                Event::StreamReset { stream, .. } => conn.release_stream(stream),
                Event::GoAway { .. }
                | Event::SettingsAcked
                | Event::StreamsAvailable
                | Event::Closed { .. } => {}
            }
        }
        let mut sent = 0;
        for _ in 0..MAX_TRANSMITS {
            let n = conn.transmit(out);
            if n == 0 {
                break;
            }
            peer.observe(&out[..n]);
            sent += n;
        }
        if !any && sent == 0 {
            return;
        }
    }
}

/// An h2 client `Connection<GrowableStorage>` against a hostile server,
/// keeping a few calls in flight. The bound is
/// `GrowableStorage::heap_bound(&config)` plus the driver's own queued
/// requests.
pub fn h2_client(script: &[u8], config: Config, meter: Meter) -> Run {
    let bound =
        GrowableStorage::heap_bound(&config) + CLIENT_CALLS * request_allowance_per_stream();
    let mut s = Script::new(script);
    let mut wire = Wire::new();
    let mut out = vec![0u8; OUT_LEN];
    let mut peer = H2Peer::new(PeerRole::Server, config.max_body_size, &mut s);
    let now = Instant::from_millis(0);
    let mut run = Run {
        bound,
        ..Run::default()
    };
    (meter.start)();
    let mut conn: Connection<GrowableStorage> =
        Connection::new(Role::Client, config, now).expect("a valid config");
    check(&meter, bound, &mut run, &"connection created");
    run.created = run.peak;
    // The client speaks first; the hostile server answers the preface.
    call_h2(&mut conn, &mut out, &mut peer, now);
    play(
        &mut conn,
        &mut peer,
        &mut s,
        &mut wire,
        &meter,
        &mut run,
        now,
        |c, p, now| call_h2(c, &mut out, p, now),
        |c| c.is_closed(),
        |e| e.reason,
    );
    run
}

/// The well-behaved client application for raw h2: keeps `CLIENT_CALLS`
/// calls going (each with a deadline), reads and consumes responses,
/// releases finished streams.
fn call_h2(
    conn: &mut Connection<GrowableStorage>,
    out: &mut [u8],
    peer: &mut H2Peer,
    now: Instant,
) {
    loop {
        let mut any = false;
        while conn.active_streams() < CLIENT_CALLS && conn.can_open_stream() {
            let Ok(id) = conn.open_stream(REQUEST_HEADERS, false) else {
                break;
            };
            let _ = conn.send_data(id, &[REQUEST_BODY], true);
            conn.set_deadline(id, now + CALL_TIMEOUT);
            any = true;
        }
        while let Some(event) = conn.poll_event() {
            any = true;
            if debug() {
                eprintln!("  event {event:?}");
            }
            match event {
                Event::Headers { stream } | Event::Trailers { stream } => {
                    if let Some(st) = conn.stream(stream) {
                        let _ = st.headers().get(b":status");
                        let _ = st.trailers().map(|t| t.count());
                    }
                }
                Event::Data { stream } => {
                    let _ = conn.stream(stream).map(|st| st.body().len());
                    conn.consume(stream);
                }
                Event::StreamEnded { stream } | Event::StreamReset { stream, .. } => {
                    conn.consume(stream);
                    conn.release_stream(stream);
                }
                Event::GoAway { .. }
                | Event::SettingsAcked
                | Event::StreamsAvailable
                | Event::Closed { .. } => {}
            }
        }
        let mut sent = 0;
        for _ in 0..MAX_TRANSMITS {
            let n = conn.transmit(out);
            if n == 0 {
                break;
            }
            peer.observe(&out[..n]);
            sent += n;
        }
        if !any && sent == 0 {
            return;
        }
    }
}

/// A `grpc::Server<GrowableStorage>` against a hostile client. The bound is
/// `options.heap_bound()` plus the driver's answers (the same small reply
/// as the h2 driver's) on every stream the config lets be open.
pub fn grpc_server(script: &[u8], options: grpc::Options, meter: Meter) -> Run {
    let bound = options.heap_bound()
        + options.h2.max_concurrent_streams as usize * answer_allowance_per_stream();
    let mut s = Script::new(script);
    let mut wire = Wire::new();
    let mut out = vec![0u8; OUT_LEN];
    let mut peer = H2Peer::new(PeerRole::Client, options.max_message_size, &mut s);
    let now = Instant::from_millis(0);
    let mut run = Run {
        bound,
        ..Run::default()
    };
    let path = core::str::from_utf8(PATH).expect("ASCII");
    (meter.start)();
    let mut server: grpc::Server<GrowableStorage> =
        grpc::Server::new(path, options, now).expect("valid options");
    check(&meter, bound, &mut run, &"connection created");
    run.created = run.peak;
    play(
        &mut server,
        &mut peer,
        &mut s,
        &mut wire,
        &meter,
        &mut run,
        now,
        |c, p, _| serve_grpc(c, &mut out, p),
        |c| c.is_closed(),
        |e| e.reason,
    );
    run
}

fn serve_grpc(server: &mut grpc::Server<GrowableStorage>, out: &mut [u8], peer: &mut H2Peer) {
    loop {
        let mut any = false;
        while let Some(event) = server.poll_event() {
            any = true;
            if debug() {
                eprintln!("  event {event:?}");
            }
            if let ServerEvent::Request(call) = event {
                let _ = server.request_headers(call).map(|h| h.count());
                let _ = match server.request(call) {
                    Ok(message) => {
                        let _ = message.len();
                        server.respond(call, &ANSWER_BODY[grpc::message::PREFIX_LEN..])
                    }
                    Err(status) => server.respond_status(call, status.code, "bad request"),
                };
            }
        }
        let mut sent = 0;
        for _ in 0..MAX_TRANSMITS {
            let n = server.transmit(out);
            if n == 0 {
                break;
            }
            peer.observe(&out[..n]);
            sent += n;
        }
        if !any && sent == 0 {
            return;
        }
    }
}

/// A hostile ZMTP REP peer (a fake arkouda_server).
pub struct ZmtpPeer {
    /// Bytes still owed by a message frame whose header announced more than
    /// was sent; later steps may send them, or not.
    owed: u64,
    /// The largest reply the victim accepts, so most replies fit.
    max_message: usize,
}

/// The request the ZMTP driver sends each time.
const ZMTP_REQUEST: &[u8] = b"{\"cmd\":\"connect\"}";

impl ZmtpPeer {
    pub fn new(max_message: usize) -> Self {
        ZmtpPeer {
            owed: 0,
            max_message,
        }
    }

    /// Greeting and READY (RFC 23/37), mostly valid: a REP or ROUTER socket,
    /// version 3.0 or 3.1.
    pub fn handshake(&mut self, s: &mut Script<'_>, wire: &mut Wire) {
        let mut g = [0u8; 64];
        g[0] = 0xff;
        g[9] = 0x7f;
        g[10] = 3;
        g[11] = if s.chance(128) { 1 } else { 0 };
        g[12..16].copy_from_slice(b"NULL");
        if s.chance(8) {
            g[12..16].copy_from_slice(b"PLAI");
        }
        wire.raw(&g);
        let socket: &[u8] = match s.byte() {
            0..=7 => b"PUB",
            8..=127 => b"ROUTER",
            _ => b"REP",
        };
        let mut ready = [0u8; 64];
        let mut n = 0;
        for part in [
            &[5u8][..],
            b"READY",
            &[11],
            b"Socket-Type",
            &(socket.len() as u32).to_be_bytes(),
            socket,
        ] {
            ready[n..n + part.len()].copy_from_slice(part);
            n += part.len();
        }
        wire.raw(&[0x04, n as u8]);
        wire.raw(&ready[..n]);
    }

    fn frame_header(&mut self, wire: &mut Wire, flags: u8, size: u64, long: bool) {
        if long || size > 255 {
            let mut h = [0u8; 9];
            h[0] = flags | 0x02;
            h[1..].copy_from_slice(&size.to_be_bytes());
            wire.raw(&h);
        } else {
            wire.raw(&[flags, size as u8]);
        }
    }

    pub fn step(&mut self, s: &mut Script<'_>, wire: &mut Wire) -> Action {
        if self.owed > 0 {
            // Pay (part of) what a frame header announced; the victim reads
            // any other bytes as the frame's body anyway.
            let n = (s.len(wire.room()) as u64).min(self.owed);
            wire.fill(b'r', n as usize);
            self.owed -= n;
            return Action::ZmtpLie;
        }
        match s.byte() % 32 {
            0..=11 => {
                // A reply: the delimiter, then one to three frames, together
                // mostly within the victim's limit.
                wire.raw(&[0x01, 0x00]);
                let frames = 1 + s.below(3);
                let limit = if s.chance(4) {
                    1 << 16
                } else {
                    self.max_message / frames
                };
                for i in 0..frames {
                    let more = if i + 1 < frames { 0x01 } else { 0 };
                    let size = s.len(wire.room().saturating_sub(16).min(limit));
                    self.frame_header(wire, more, size as u64, s.chance(32));
                    wire.fill(b'm', size);
                }
                Action::ZmtpReply
            }
            12..=15 => {
                // A frame header announcing more than comes now: mostly
                // within the limit (the rest may follow later), sometimes far more.
                let size = match s.byte() % 32 {
                    0 => u64::from(s.u32()),
                    1 => u64::MAX >> s.below(64),
                    _ => s.below(self.max_message + 1) as u64,
                };
                wire.raw(&[0x01, 0x00]);
                self.frame_header(wire, 0, size, true);
                let now = (s.below(size.min(1 << 16) as usize + 1)).min(wire.room());
                wire.fill(b'r', now);
                self.owed = size - now as u64;
                Action::ZmtpLie
            }
            16..=21 => {
                // PING, PONG or an unknown command; sometimes long.
                let (name, body): (&[u8], usize) = match s.byte() % 16 {
                    // Contexts of up to 16 bytes, sometimes more.
                    0..=5 => {
                        let max = if s.chance(16) { 24 } else { 17 };
                        (b"PING", 2 + s.below(max))
                    }
                    6..=9 => {
                        let max = if s.chance(16) { 24 } else { 17 };
                        (b"PONG", s.below(max))
                    }
                    10..=14 => (b"X-NOISE", s.len(4096)),
                    _ => (b"ERROR", 1 + s.below(16)),
                };
                let size = 1 + name.len() + body;
                self.frame_header(wire, 0x04, size as u64, s.chance(32));
                wire.raw(&[name.len() as u8]);
                wire.raw(name);
                if name == b"ERROR" {
                    wire.raw(&[(body - 1) as u8]);
                    wire.fill(b'e', body - 1);
                } else {
                    wire.fill(0, body);
                }
                Action::ZmtpCommand
            }
            22..=26 => {
                // A run of PINGs with contexts, each asking for a PONG.
                let n = 1 + s.len(4096);
                let context = s.below(17);
                for _ in 0..n {
                    if wire.room() < 9 + 16 {
                        break;
                    }
                    wire.raw(&[0x04, (5 + 2 + context) as u8, 4]);
                    wire.raw(b"PING");
                    wire.raw(&[0, 10]);
                    wire.fill(b'c', context);
                }
                Action::ZmtpPings
            }
            27 => {
                let n = s.below(64);
                for _ in 0..n {
                    let b = s.byte();
                    wire.raw(&[b]);
                }
                Action::Garbage
            }
            _ => Action::Timeout,
        }
    }
}

/// A `ReqConnection<Vec<u8>>` against a hostile REP peer, a request always
/// outstanding. The bound is `config.growable_heap_bound()` plus the
/// driver's own queued request, doubled for a growable queue.
pub fn zmtp(script: &[u8], config: ZmtpConfig, meter: Meter) -> Run {
    // Two frames (delimiter and request), each with a header of at most 9 bytes.
    let allowance = 2 * (ZMTP_REQUEST.len() + 2 * 9);
    let bound = config.growable_heap_bound() + allowance;
    let mut s = Script::new(script);
    let mut wire = Wire::new();
    let mut out = vec![0u8; 512];
    let mut peer = ZmtpPeer::new(config.max_message_size);
    let now = Instant::from_millis(0);
    let mut run = Run {
        bound,
        ..Run::default()
    };
    (meter.start)();
    let mut conn = ReqConnection::<Vec<u8>>::new(config, now).expect("a valid config");
    // Without a deadline: a REQ connection whose request times out is
    // finished, and the script would end there.
    let _ = conn.send_request(&[ZMTP_REQUEST], None);
    check(&meter, bound, &mut run, &"connection created");
    run.created = run.peak;
    play(
        &mut conn,
        &mut peer,
        &mut s,
        &mut wire,
        &meter,
        &mut run,
        now,
        |c, _, _| drive_zmtp(c, &mut out),
        |c| c.is_closed(),
        zmtp_reason,
    );
    run
}

fn zmtp_reason(e: &arkwire::zmtp::ZmtpError) -> &'static str {
    use arkwire::zmtp::ZmtpError as E;
    match e {
        E::WrongSignature => "wrong signature",
        E::UnsupportedVersion { .. } => "unsupported version",
        E::UnsupportedMechanism { .. } => "unsupported mechanism",
        E::WrongSocketType => "wrong socket type",
        E::MalformedCommand(why) => why,
        E::FrameTooLarge { .. } => "frame too large",
        E::TooManyFrames { .. } => "too many frames",
        E::UnexpectedCommand => "unexpected command",
        _ => "other",
    }
}

fn drive_zmtp(conn: &mut ReqConnection<Vec<u8>>, out: &mut [u8]) {
    for _ in 0..MAX_TRANSMITS {
        if conn.transmit(out) == 0 {
            break;
        }
    }
    while let Some(event) = conn.poll_event() {
        if debug() {
            eprintln!("  event {event:?}");
        }
        if event == ZmtpEvent::Reply {
            let _ = conn.reply_frames().map(<[u8]>::len).sum::<usize>();
            conn.release_reply();
            let _ = conn.send_request(&[ZMTP_REQUEST], None);
        }
    }
    for _ in 0..MAX_TRANSMITS {
        if conn.transmit(out) == 0 {
            break;
        }
    }
}

/// Small limits for the heap-bound properties and fuzz targets, so a
/// script of a few KiB reaches every one of them.
pub mod limits {
    use arkwire::grpc;
    use arkwire::h2::Config;
    use arkwire::zmtp::ZmtpConfig;
    use core::time::Duration;

    /// Eight streams, 16 KiB windows, 8 KiB bodies, tight flood budgets.
    pub fn h2() -> Config {
        Config {
            max_concurrent_streams: 8,
            initial_window_size: 16 * 1024,
            connection_window_size: 64 * 1024,
            max_header_list_size: 16 * 1024,
            max_continuation_frames: 8,
            max_body_size: 8 * 1024,
            max_connection_body_size: 32 * 1024,
            max_connection_header_size: 32 * 1024,
            max_pending_control: 32,
            max_resets_per_window: 50,
            max_control_per_window: 50,
            max_empty_per_window: 50,
            max_futile_per_window: 50,
            handshake_timeout: Duration::from_secs(5),
            header_block_timeout: Duration::from_secs(5),
            send_stall_timeout: Duration::from_secs(5),
            ..Config::default()
        }
    }

    /// [`h2`] with 8 KiB messages.
    pub fn grpc() -> grpc::Options {
        grpc::Options {
            h2: h2(),
            max_message_size: 8 * 1024,
            ..grpc::Options::default()
        }
    }

    /// 8 KiB replies, heartbeats on.
    pub fn zmtp() -> ZmtpConfig {
        ZmtpConfig {
            max_message_size: 8 * 1024,
            handshake_timeout: Duration::from_secs(5),
            // The heartbeat's PINGs are part of what the peer can provoke.
            heartbeat_interval: Some(Duration::from_millis(100)),
            heartbeat_timeout: Duration::from_millis(300),
        }
    }
}
