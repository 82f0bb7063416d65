//! An HTTP/2 connection as a sans-IO state machine, for either role.
//!
//! Bytes in through [`Connection::recv`], bytes out through
//! [`Connection::transmit`], changes out through [`Connection::poll_event`],
//! time in through [`Connection::handle_timeout`] with the next deadline from
//! [`Connection::poll_timeout`]. The connection owns no socket and reads no clock.
//!
//! Memory comes from a [`Storage`] value the caller hands in (see
//! [`storage`](self#storage)): [`LentStorage`] is made of slices the caller
//! lends, [`FixedStorage`] holds fixed arrays, `GrowableStorage` (with
//! `alloc`) grows. Frames are never buffered whole: DATA streams into its
//! stream's body and header blocks are decoded as they arrive.
//!
//! # Storage
//!
//! A client that lends 1 KiB of scratch, a 4 KiB HPACK table and two
//! streams' buffers (the whole connection then fits in about 7 KiB besides
//! the message buffers):
//!
//! ```
//! use arkwire::h2::conn::{Connection, LentStorage, Role, StreamBuffers};
//! use arkwire::h2::Config;
//! use arkwire::time::Instant;
//!
//! let (mut scratch, mut table) = ([0u8; 1024], [0u8; 4096]);
//! let mut bufs = [[0u8; 512]; 6];
//! let [h1, b1, s1, h2, b2, s2] = &mut bufs;
//! let streams = [
//!     StreamBuffers { headers: h1, body: b1, send: s1 },
//!     StreamBuffers { headers: h2, body: b2, send: s2 },
//! ];
//! let storage = LentStorage::<2>::new(&mut scratch, &mut table, streams).unwrap();
//! let now = Instant::from_millis(0);
//! let conn = Connection::with_storage(Role::Client, Config::embedded(), storage, now).unwrap();
//! assert!(conn.can_open_stream());
//! ```

mod event;
mod guard;
mod recv;
mod send;
mod storage;
mod timers;
mod writer;
pub use crate::buf::ByteArray;
pub use event::{ConfigError, ConnectionError, Event, Fault, GoAwayDebug, StreamError};
pub use send::MIN_TRANSMIT_BUFFER;
#[cfg(feature = "alloc")]
pub use storage::{
    BoundedControl, GrowableStorage, RecyclingStreams, SPARE_BUFFER_BYTES, SPARE_BUFFER_CAPACITY,
    SPARE_STREAM_BUFFERS,
};
pub use storage::{
    ControlQueue, FixedStorage, LentLayout, LentStorage, LentStreams, Parts, Storage,
    StreamBuffers, StreamTable, Twice,
};

use writer::finish_item;
pub use writer::HeaderBlockWriter;
#[cfg(test)]
mod bounds_tests;
#[cfg(test)]
mod tests;

use heapless::Deque;

use super::flow::{RecvWindow, SendWindow};
use super::frame::{self, StreamedFrame};
use super::frame::{FrameReader, Preface, Settings};
use super::hpack;
pub use super::stream::CloseCause;
use super::stream::{Stream, StreamState};
use super::{Config, ErrorCode};
use crate::buf::Buffer;
use crate::time::Instant;
use timers::{Timer, Timers};

/// Which end of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We send the preface and open odd-numbered streams.
    Client,
    /// We accept the preface and the client's streams.
    Server,
}

/// Bytes of HPACK dynamic table HTTP/2 starts with (RFC 9113 §6.5.2), and
/// what [`FixedStorage`] and `GrowableStorage` keep each way.
pub const HPACK_TABLE_SIZE: usize = 4096;

/// A control frame waiting to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// SETTINGS with ACK.
    SettingsAck,
    /// PING with ACK, echoing the peer's data.
    PingAck([u8; 8]),
    /// Our PING.
    Ping([u8; 8]),
    /// RST_STREAM on a stream.
    Reset(u32, ErrorCode),
    /// GOAWAY with the last stream processed.
    GoAway(u32, ErrorCode),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Server: reading the client's preface.
    AwaitPreface,
    /// Waiting for the peer's first SETTINGS frame.
    AwaitSettings,
    Open,
    /// A GOAWAY is queued or sent; no new streams.
    Closing,
    Closed,
}

/// A header block being received across HEADERS and CONTINUATION frames,
/// decoded as it arrives.
#[derive(Clone, Copy, Debug)]
struct PartialBlock {
    stream: u32,
    end_stream: bool,
    frames: u32,
    /// Encoded bytes received so far.
    bytes: usize,
    /// `None`: the block is stored on its stream. `Some(None)`: decoded and
    /// dropped (refused or forgotten stream). `Some(Some(code))`: decoded,
    /// then the stream is reset with `code`.
    refusal: Option<Option<ErrorCode>>,
    /// The block is the stream's trailers.
    trailers: bool,
    /// Where the block starts in the stream's stored list.
    start: usize,
    /// Most bytes the block may store.
    budget: usize,
    malformed: bool,
    over_budget: bool,
    regular_seen: bool,
}

/// Where the bytes of the DATA frame being read go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataRoute {
    /// Into this stream's body.
    Store(u32),
    /// Nowhere: their window was already given back.
    Drop,
}

/// An HTTP/2 connection (RFC 9113). See the module documentation.
///
/// The frame reader lives beside the rest of the state so a piece of a
/// frame can borrow the reader while the state is updated; every method
/// is the connection's own.
pub struct Connection<S: Storage> {
    preface: Preface,
    reader: FrameReader,
    state: State<S>,
}

/// Everything about a connection except its frame reader: streams, windows,
/// settings, timers and queued frames.
struct State<S: Storage> {
    role: Role,
    config: Config,
    phase: Phase,
    preface_sent: bool,
    hpack_decoder: hpack::Decoder<S::DecoderTable>,
    hpack_encoder: hpack::Encoder<S::EncoderTable>,
    partial: Option<PartialBlock>,
    /// The streamed frame being read (DATA, HEADERS, CONTINUATION, SETTINGS).
    current: Option<StreamedFrame>,
    /// Where the current DATA frame's bytes go.
    data_route: DataRoute,
    /// The peer's initial window before the SETTINGS frame being read.
    settings_old_window: u32,
    /// Header blocks being received: the first half carries a representation
    /// split across frames (`carry_len` bytes), the second takes its decoded
    /// strings.
    scratch: S::Scratch,
    carry_len: usize,
    /// An encoded header block partly written to the wire: (stream, end_stream, sent).
    block_out: S::BlockOut,
    block_out_len: usize,
    block_out_state: Option<(u32, bool, usize)>,
    /// Our acknowledged SETTINGS_MAX_FRAME_SIZE, for the decoder to adopt.
    pending_max_frame_size: Option<u32>,
    /// The peer's settings, as last received.
    peer: Settings,
    /// Every connection-wide deadline (streams keep their own beside them).
    timers: Timers,
    /// What the peer lets us send on the connection.
    conn_send_window: SendWindow,
    /// What we let the peer send on the connection.
    conn_recv_window: RecvWindow,
    /// Body bytes held by all streams (against `max_connection_body_size`
    /// and the shared `body_budget`).
    body_bytes: usize,
    /// Header-list bytes held by all streams (against `max_connection_header_size`).
    header_bytes: usize,
    streams: S::Streams,
    /// Where the stream looked up last sits in `streams`: looked at first,
    /// as the next lookup is most often for the same stream (a guess,
    /// checked; the table is searched when it misses). Growable tables
    /// only: they hold the many streams where a search costs; the no-alloc
    /// tier's few are searched, in less code.
    #[cfg(feature = "alloc")]
    stream_hint: core::cell::Cell<usize>,
    next_stream_id: u32,
    /// Client: highest stream id whose HEADERS went out; a new stream may not
    /// open on the wire before a lower one that is still waiting (§5.1.1).
    opened_on_wire: u32,
    /// Highest stream id the peer opened.
    last_peer_stream: u32,
    control: S::Control,
    goaway_received: Option<(u32, ErrorCode)>,
    /// Events not tied to a stream, waiting to be polled.
    conn_events: Deque<Event, 4>,
    closed_reported: bool,
    close_code: Option<(ErrorCode, Fault)>,
    /// Client: whether a new stream could be opened when last looked at,
    /// so [`Event::StreamsAvailable`] is raised once it can again.
    streams_available: bool,
    /// Round-robin position for fair sending.
    next_send: usize,
    now: Instant,
    flood: guard::FloodGuard,
}

impl<S: Storage + Default> Connection<S> {
    /// A new connection with storage of its own ([`FixedStorage`],
    /// `GrowableStorage`). A client queues its preface at once; a server
    /// waits for the client's.
    pub fn new(role: Role, config: Config, now: Instant) -> Result<Self, ConfigError> {
        Self::with_storage(role, config, S::default(), now)
    }
}

impl<S: Storage> Connection<S> {
    /// A new connection in the memory `storage` provides (for instance a
    /// [`LentStorage`] of the caller's slices). A client queues its preface
    /// at once; a server waits for the client's.
    pub fn with_storage(
        role: Role,
        config: Config,
        storage: S,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let range = frame::DEFAULT_MAX_FRAME_SIZE..=frame::MAX_MAX_FRAME_SIZE;
        if !range.contains(&config.max_frame_size) {
            return Err(ConfigError {
                reason: "max_frame_size outside 16384..=16777215",
            });
        }
        // The reader starts at the RFC's 16384 and adopts ours once acked;
        // it buffers no payload whatever the size.
        let reader = FrameReader::new();
        let parts = storage.into_parts(&config)?;
        if parts.scratch.as_ref().len() < MIN_SCRATCH {
            return Err(ConfigError {
                reason: "header scratch smaller than conn::MIN_SCRATCH",
            });
        }
        Ok(Connection {
            preface: Preface::new(),
            reader,
            state: State::new(role, config, parts, now),
        })
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.state.role
    }

    /// The limits this connection enforces.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// The settings the peer announced.
    pub fn peer_settings(&self) -> &Settings {
        &self.state.peer
    }

    /// Whether the peer's first SETTINGS frame has come and neither side
    /// has begun to close the connection: the peer is speaking HTTP/2 to
    /// us (over TLS, only after it accepted the handshake).
    pub fn is_open(&self) -> bool {
        self.state.phase == Phase::Open
    }

    /// Whether the connection is finished.
    pub fn is_closed(&self) -> bool {
        self.state.phase == Phase::Closed
    }

    /// Whether new streams may be opened (client) or accepted (server).
    pub fn is_accepting_streams(&self) -> bool {
        self.state.is_accepting_streams()
    }

    /// Streams that are open or half-closed, as counted against concurrency limits.
    pub fn active_streams(&self) -> usize {
        self.state.active_streams()
    }

    /// Whether a client may open another stream now. When it may not, an
    /// [`Event::StreamsAvailable`] follows once it may again.
    pub fn can_open_stream(&self) -> bool {
        self.state.can_open_stream()
    }

    /// The stream with `id`, if it is in the table.
    pub fn stream(&self, id: u32) -> Option<&Stream<S::Headers, S::Body>> {
        self.state.stream(id)
    }

    /// The streams in the table, in no particular order.
    pub fn streams(&self) -> impl Iterator<Item = &Stream<S::Headers, S::Body>> {
        self.state.streams.as_slice().iter()
    }

    /// Client: opens a stream and queues its request headers.
    pub fn open_stream<'h>(
        &mut self,
        headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
        end_stream: bool,
    ) -> Result<u32, StreamError> {
        let opened = self.state.open_stream(headers, end_stream);
        self.state.note_stream_availability();
        opened
    }

    /// Queues a header block (response headers, or trailers after a body).
    pub fn send_headers<'h>(
        &mut self,
        id: u32,
        headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
        end_stream: bool,
    ) -> Result<(), StreamError> {
        self.state.send_headers(id, headers, end_stream)
    }

    /// Starts a header block to fill field by field (useful when values are
    /// produced in place, like base64 metadata). Nothing is queued unless
    /// [`HeaderBlockWriter::finish`] succeeds.
    pub fn begin_headers(
        &mut self,
        id: u32,
        end_stream: bool,
    ) -> Result<HeaderBlockWriter<'_, S::Headers, S::Body>, StreamError> {
        self.state.begin_headers(id, end_stream)
    }

    /// Reopens the last queued header block to add more fields (for example
    /// metadata after the fixed request headers). Nothing is added unless
    /// [`HeaderBlockWriter::finish`] succeeds.
    pub fn begin_headers_continue(
        &mut self,
        id: u32,
    ) -> Result<HeaderBlockWriter<'_, S::Headers, S::Body>, StreamError> {
        self.state.begin_headers_continue(id)
    }

    /// Queues body bytes, given in parts that go out as one contiguous body;
    /// they are sent as the peer's windows allow.
    pub fn send_data(
        &mut self,
        id: u32,
        parts: &[&[u8]],
        end_stream: bool,
    ) -> Result<(), StreamError> {
        self.state.send_data(id, parts, end_stream)
    }

    /// Queues `len` body bytes that `fill` writes in place, straight into the
    /// stream's send queue (a message encoded where it is sent from, with no
    /// copy of the caller's). `fill` gets exactly `len` zeroed bytes.
    pub fn send_data_with(
        &mut self,
        id: u32,
        len: usize,
        end_stream: bool,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), StreamError> {
        self.state.send_data_with(id, len, end_stream, fill)
    }

    /// Resets a stream with `code` (for example CANCEL when the application
    /// gives up on it).
    pub fn reset_stream(&mut self, id: u32, code: ErrorCode) {
        self.state
            .reset_stream(id, crate::h2::stream::CloseCause::ResetLocally(code));
        self.state.note_stream_availability();
    }

    /// The application is done with a stream: its memory is reclaimed once it
    /// is closed (at once, if it already is). An open stream is reset first.
    pub fn release_stream(&mut self, id: u32) {
        // Nobody reads its body now: what it holds goes, and its window
        // back to the peer, so a request answered before it was all sent
        // (refused, say) can finish rather than stall on a window that
        // nobody would open.
        self.take_body(id, usize::MAX);
        self.state.release_stream(id);
        self.state.note_stream_availability();
    }

    /// Starts a graceful shutdown: GOAWAY with NO_ERROR, no new streams;
    /// streams already accepted finish.
    pub fn go_away(&mut self) {
        self.state.go_away();
        self.state.note_stream_availability();
    }

    /// Ends the connection with `error` at once, as if the peer had caused
    /// it (a keepalive timeout, say): GOAWAY with its code goes out, every
    /// open stream is closed, and [`Event::Closed`] follows.
    pub fn abort(&mut self, error: ConnectionError) {
        self.state.fail(error);
        self.state.note_stream_availability();
    }

    /// Sends a PING; the peer's ACK proves the connection is alive.
    pub fn ping(&mut self, data: [u8; 8]) -> Result<(), StreamError> {
        self.state
            .queue_control(Control::Ping(data))
            .map_err(|_| StreamError::BufferFull)
    }

    /// The next change for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.state.poll_event()
    }

    /// Removes a stream's deadline (the layer above answered it another way).
    pub fn clear_deadline(&mut self, id: u32) {
        if let Some(stream) = self.state.stream_mut(id) {
            stream.timers.deadline = None;
        }
    }

    /// Resets the stream with CANCEL if it is still open at `deadline`
    /// (its cause then is [`CloseCause::DeadlinePassed`]).
    pub fn set_deadline(&mut self, id: u32, deadline: Instant) {
        if let Some(stream) = self.state.stream_mut(id) {
            stream.timers.deadline = Some(deadline);
        }
    }

    /// Stores bits of the layer above with a stream (h2 never reads them;
    /// the gRPC layer marks calls it has reported, for instance).
    pub fn set_tag(&mut self, id: u32, tag: u8) {
        if let Some(stream) = self.state.stream_mut(id) {
            stream.tag = tag;
        }
    }

    /// The body of stream `id` is expected to reach `total` bytes (its
    /// message's announced length): a growable body grows toward it as
    /// [`Buffer::grow_toward`] says, so a
    /// large message is held in one allocation of its own size. Ignored
    /// past `max_body_size`.
    pub fn grow_body_toward(&mut self, id: u32, total: usize) {
        let max = self.state.config.max_body_size;
        if let Some(stream) = self.state.stream_mut(id) {
            if total <= max {
                stream.body.grow_toward(total);
            }
        }
    }

    /// The application has taken the body bytes received so far on stream
    /// `id` (assembled them into its message, or read them): the peer may
    /// send as much again. Flow-control window is granted only through this
    /// call, so bytes nobody reads are bounded by the windows we announce.
    /// Every layer above (the gRPC client and server) calls it as it
    /// accepts a message's bytes; a raw HTTP/2 user calls it after reading
    /// [`Stream::body`].
    pub fn consume(&mut self, id: u32) {
        self.state.consume(id)
    }

    /// The application has taken the first `n` body bytes of stream `id`
    /// (a streaming call's message): they leave the body, go back to the
    /// connection's and process's body budgets, and the peer gets window
    /// for every byte received so far (as [`consume`](Self::consume)).
    /// `n` past the body's length takes the whole body.
    pub fn take_body(&mut self, id: u32, n: usize) {
        if self.drop_body_bytes(id, n).is_some() {
            self.state.consume(id);
        }
    }

    /// The application has taken the first `n` body bytes of stream `id`
    /// and only those: as [`take_body`](Self::take_body), but the peer
    /// gets window for the `n` bytes alone, so bytes left in the body keep
    /// holding theirs. A reader that takes a large body in parts, as fast
    /// as it can pass them on, thus holds at most the window we announced.
    pub fn take_body_part(&mut self, id: u32, n: usize) {
        let Some(n) = self.drop_body_bytes(id, n) else {
            return;
        };
        let state = &mut self.state;
        if let Some(stream) = state.stream_mut(id) {
            let granted = stream
                .recv_window
                .consume(u32::try_from(n).unwrap_or(u32::MAX));
            state.conn_recv_window.release(granted);
        }
    }

    /// Takes stream `id`'s whole body out of the connection in exchange
    /// for `replacement` (emptied): a large message handed to the
    /// application without a copy. Its bytes leave the connection's and
    /// process's budgets (the application holds them now). With lent
    /// storage the replacement is what the stream's slot keeps for the
    /// streams after it. `None` (and `replacement` dropped) for no such stream.
    pub fn swap_body(&mut self, id: u32, mut replacement: S::Body) -> Option<S::Body> {
        replacement.clear();
        let state = &mut self.state;
        let stream = state.stream_mut(id)?;
        let body = core::mem::replace(&mut stream.body, replacement);
        state.body_left(body.len());
        Some(body)
    }

    /// Removes the first `n` body bytes of stream `id` (at most its body)
    /// and gives them back to the connection's and process's budgets;
    /// how many, or `None` for no such stream.
    fn drop_body_bytes(&mut self, id: u32, n: usize) -> Option<usize> {
        let state = &mut self.state;
        let stream = state.stream_mut(id)?;
        let n = n.min(stream.body.len());
        stream.body.consume(n);
        state.body_left(n);
        Some(n)
    }

    /// Body bytes all streams hold now.
    pub fn body_bytes(&self) -> usize {
        self.state.body_bytes
    }

    /// Header-list bytes all streams hold now.
    pub fn header_bytes(&self) -> usize {
        self.state.header_bytes
    }

    /// The instant the connection was last given.
    pub fn now(&self) -> Instant {
        self.state.now
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) must be
    /// called: the earliest entry of the timer table.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let s = &self.state;
        s.timers
            .next(s.streams.as_slice(), s.config.send_stall_timeout)
    }

    /// Advances time: each timer that is due takes effect (see
    /// [`Config`]'s timeouts; streams past their deadline are reset with
    /// CANCEL).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.state.handle_timeout(now);
        self.state.note_stream_availability();
    }
}

/// The smallest header scratch a connection accepts: room for the common
/// response fields of a gRPC peer (see [`Storage`]).
pub const MIN_SCRATCH: usize = 256;

impl<S: Storage> State<S> {
    fn new(role: Role, config: Config, parts: Parts<S>, now: Instant) -> Self {
        let mut hpack_decoder = hpack::Decoder::with_table(parts.decoder_table);
        hpack_decoder.set_max_header_list_size(config.max_header_list_size as usize);
        let mut timers = Timers::default();
        timers.set(Timer::Handshake, now + config.handshake_timeout);
        State {
            role,
            config,
            phase: match role {
                Role::Client => Phase::AwaitSettings,
                Role::Server => Phase::AwaitPreface,
            },
            preface_sent: false,
            hpack_decoder,
            hpack_encoder: hpack::Encoder::with_table(parts.encoder_table),
            partial: None,
            current: None,
            data_route: DataRoute::Drop,
            settings_old_window: 0,
            scratch: parts.scratch,
            carry_len: 0,
            block_out: parts.block_out,
            block_out_len: 0,
            block_out_state: None,
            pending_max_frame_size: None,
            peer: Settings::default(),
            timers,
            conn_send_window: SendWindow::new(65_535),
            conn_recv_window: RecvWindow::new(65_535),
            body_bytes: 0,
            header_bytes: 0,
            streams: parts.streams,
            #[cfg(feature = "alloc")]
            stream_hint: core::cell::Cell::new(0),
            next_stream_id: match role {
                Role::Client => 1,
                Role::Server => 2,
            },
            opened_on_wire: 0,
            last_peer_stream: 0,
            control: parts.control,
            goaway_received: None,
            conn_events: Deque::new(),
            closed_reported: false,
            close_code: None,
            streams_available: role == Role::Client,
            next_send: 0,
            now,
            flood: guard::FloodGuard::new(now),
        }
    }

    fn is_accepting_streams(&self) -> bool {
        matches!(self.phase, Phase::AwaitSettings | Phase::Open) && self.goaway_received.is_none()
    }

    fn active_streams(&self) -> usize {
        self.streams
            .as_slice()
            .iter()
            .filter(|s| !s.state.is_closed())
            .count()
    }

    fn can_open_stream(&self) -> bool {
        let peer_limit = self.peer.max_concurrent_streams.unwrap_or(u32::MAX) as usize;
        self.role == Role::Client
            && self.is_accepting_streams()
            && self.active_streams() < peer_limit
            && self.streams.has_room()
            && self.next_stream_id <= super::frame::MAX_WINDOW_SIZE
    }

    /// Client: raises [`Event::StreamsAvailable`] when a stream may be
    /// opened again after it could not. Called after every input that can
    /// free a stream or raise the peer's limit.
    fn note_stream_availability(&mut self) {
        if self.role != Role::Client {
            return;
        }
        let available = self.can_open_stream();
        if available && !self.streams_available {
            let _ = self.conn_events.push_back(Event::StreamsAvailable);
        }
        self.streams_available = available;
    }

    /// Where stream `id` sits in the table. Not inlined: one copy serves
    /// every lookup, which the no-alloc tier's code size counts.
    #[inline(never)]
    fn index_of(&self, id: u32) -> Option<usize> {
        let streams = self.streams.as_slice();
        #[cfg(feature = "alloc")]
        {
            let hint = self.stream_hint.get();
            if streams.get(hint).is_some_and(|s| s.id == id) {
                return Some(hint);
            }
            let i = streams.iter().position(|s| s.id == id)?;
            self.stream_hint.set(i);
            Some(i)
        }
        #[cfg(not(feature = "alloc"))]
        streams.iter().position(|s| s.id == id)
    }

    fn stream(&self, id: u32) -> Option<&Stream<S::Headers, S::Body>> {
        let i = self.index_of(id)?;
        self.streams.as_slice().get(i)
    }

    fn stream_mut(&mut self, id: u32) -> Option<&mut Stream<S::Headers, S::Body>> {
        let i = self.index_of(id)?;
        self.streams.as_mut_slice().get_mut(i)
    }

    fn open_stream<'h>(
        &mut self,
        headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
        end_stream: bool,
    ) -> Result<u32, StreamError> {
        if !self.is_accepting_streams() {
            return Err(StreamError::Closing);
        }
        if !self.can_open_stream() {
            return Err(StreamError::TooManyStreams);
        }
        let id = self.next_stream_id;
        let stream = Stream::new(
            id,
            self.peer.initial_window_size,
            self.config.initial_window_size,
        );
        self.streams
            .try_push(stream)
            .map_err(|_| StreamError::TooManyStreams)?;
        self.next_stream_id += 2;
        if let Err(e) = self.send_headers(id, headers, end_stream) {
            self.drop_stream(id);
            return Err(e);
        }
        Ok(id)
    }

    fn send_headers<'h>(
        &mut self,
        id: u32,
        headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
        end_stream: bool,
    ) -> Result<(), StreamError> {
        let mut block = self.begin_headers(id, end_stream)?;
        for (name, value) in headers {
            block.push(name, value);
        }
        block.finish()
    }

    fn begin_headers(
        &mut self,
        id: u32,
        end_stream: bool,
    ) -> Result<HeaderBlockWriter<'_, S::Headers, S::Body>, StreamError> {
        let stream = self.writable(id)?;
        let start = stream.send.len();
        let tag = super::stream::ITEM_HEADERS
            | if end_stream {
                super::stream::ITEM_END_STREAM
            } else {
                0
            };
        let failed = stream.send.try_extend(&[tag, 0, 0, 0, 0]).is_err();
        Ok(HeaderBlockWriter {
            stream,
            start,
            rollback: start,
            failed,
        })
    }

    fn begin_headers_continue(
        &mut self,
        id: u32,
    ) -> Result<HeaderBlockWriter<'_, S::Headers, S::Body>, StreamError> {
        let stream = self.stream_mut(id).ok_or(StreamError::NotWritable)?;
        let start = stream.last_item.ok_or(StreamError::NotWritable)?;
        if start < stream.send_pos {
            // Already (partly) on the wire.
            return Err(StreamError::NotWritable);
        }
        match stream.send.as_slice().get(start) {
            Some(tag) if tag & !super::stream::ITEM_END_STREAM == super::stream::ITEM_HEADERS => {}
            _ => return Err(StreamError::NotWritable),
        }
        let rollback = stream.send.len();
        Ok(HeaderBlockWriter {
            stream,
            start,
            rollback,
            failed: false,
        })
    }

    fn send_data(&mut self, id: u32, parts: &[&[u8]], end_stream: bool) -> Result<(), StreamError> {
        let stream = self.writable(id)?;
        let start = stream.send.len();
        let tag = super::stream::ITEM_DATA
            | if end_stream {
                super::stream::ITEM_END_STREAM
            } else {
                0
            };
        let result = stream
            .send
            .try_extend(&[tag, 0, 0, 0, 0])
            .and_then(|_| parts.iter().try_for_each(|p| stream.send.try_extend(p)));
        finish_item(stream, start, result)
    }

    fn send_data_with(
        &mut self,
        id: u32,
        len: usize,
        end_stream: bool,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), StreamError> {
        let stream = self.writable(id)?;
        if stream.send.free() < super::stream::ITEM_PREFIX.saturating_add(len) {
            return Err(StreamError::BufferFull);
        }
        let start = stream.send.len();
        let tag = super::stream::ITEM_DATA
            | if end_stream {
                super::stream::ITEM_END_STREAM
            } else {
                0
            };
        let result = stream
            .send
            .try_extend(&[tag, 0, 0, 0, 0])
            .and_then(|_| stream.send.try_extend_zeroed(len));
        if result.is_ok() {
            let at = start + super::stream::ITEM_PREFIX;
            if let Some(body) = stream.send.as_mut_slice().get_mut(at..at + len) {
                fill(body);
            }
        }
        finish_item(stream, start, result)
    }

    fn writable(&mut self, id: u32) -> Result<&mut Stream<S::Headers, S::Body>, StreamError> {
        if self.phase == Phase::Closed {
            return Err(StreamError::Closing);
        }
        let stream = self.stream_mut(id).ok_or(StreamError::NotWritable)?;
        if stream.local_end_queued
            || matches!(
                stream.state,
                StreamState::HalfClosedLocal | StreamState::Closed(_)
            )
        {
            return Err(StreamError::NotWritable);
        }
        Ok(stream)
    }

    /// Closes a stream for `cause` and tells the peer with RST_STREAM.
    fn reset_stream(&mut self, id: u32, cause: CloseCause) {
        let code = cause.reset().map_or(ErrorCode::Cancel, |(code, _)| code);
        // A stream of ours whose HEADERS never went out is idle to the
        // peer: RST_STREAM on it would be a connection error (RFC 9113
        // §6.4), and a later stream closes it implicitly (§5.1.1).
        let unseen = self.role == Role::Client && id > self.opened_on_wire;
        if let Some(stream) = self.stream_mut(id) {
            if stream.close(cause) && !unseen {
                let _ = self.queue_control(Control::Reset(id, code));
            }
        }
    }

    fn release_stream(&mut self, id: u32) {
        let client = self.role == Role::Client;
        if let Some(stream) = self.stream_mut(id) {
            stream.released = true;
            // Nobody is left to read its events.
            stream.pending = 0;
            // A stream whose end is queued finishes on its own; others are
            // cancelled. A client's stream whose response has not ended is
            // still running, however much of its request is queued: its
            // request is not sent on for nobody.
            let running = !stream.local_end_queued || (client && !stream.remote_closed());
            let abandoned = !stream.state.is_closed() && running;
            if abandoned {
                self.reset_stream(id, CloseCause::ResetLocally(ErrorCode::Cancel));
            }
        }
        self.reap();
    }

    fn go_away(&mut self) {
        if matches!(self.phase, Phase::Closing | Phase::Closed) {
            return;
        }
        self.phase = Phase::Closing;
        let _ = self.queue_control(Control::GoAway(self.last_peer_stream, ErrorCode::NoError));
    }

    fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.conn_events.pop_front() {
            return Some(e);
        }
        for stream in self.streams.as_mut_slice() {
            if stream.pending == 0 {
                continue;
            }
            let id = stream.id;
            for (bit, event) in [
                (
                    super::stream::PENDING_HEADERS,
                    Event::Headers { stream: id },
                ),
                (super::stream::PENDING_DATA, Event::Data { stream: id }),
                (
                    super::stream::PENDING_TRAILERS,
                    Event::Trailers { stream: id },
                ),
                (
                    super::stream::PENDING_END,
                    Event::StreamEnded { stream: id },
                ),
            ] {
                if stream.pending & bit != 0 {
                    stream.pending &= !bit;
                    return Some(event);
                }
            }
            if stream.pending & super::stream::PENDING_RESET != 0 {
                stream.pending = 0;
                let (code, remote) = stream.reset().unwrap_or((ErrorCode::Cancel, false));
                return Some(Event::StreamReset {
                    stream: id,
                    code,
                    remote,
                });
            }
        }
        if self.phase == Phase::Closed && !self.closed_reported {
            self.closed_reported = true;
            let (code, fault) = self.close_code.unwrap_or(match self.goaway_received {
                Some((_, code)) => (code, Fault::PeerClosed),
                None => (ErrorCode::NoError, Fault::Local),
            });
            return Some(Event::Closed { code, fault });
        }
        None
    }

    fn consume(&mut self, id: u32) {
        if let Some(stream) = self.stream_mut(id) {
            let n = stream.recv_window.consume_all();
            self.conn_recv_window.release(n);
        }
    }

    /// Every due timer takes effect: an unfinished handshake or header
    /// block and unacknowledged SETTINGS end the connection; a stream past
    /// its deadline, or stalled waiting for a window, is reset with CANCEL.
    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let awaiting = matches!(self.phase, Phase::AwaitPreface | Phase::AwaitSettings);
        if self.timers.expired(Timer::Handshake, now) {
            // Once the handshake failed another way the timer means nothing,
            // but left armed and due it would be asked for forever.
            self.timers.clear(Timer::Handshake);
            if awaiting {
                return self.fail(ConnectionError::timeout(
                    ErrorCode::SettingsTimeout,
                    "peer did not complete the HTTP/2 handshake in time",
                ));
            }
        }
        if self.timers.expired(Timer::HeaderBlock, now) {
            self.timers.clear(Timer::HeaderBlock);
            return self.fail(ConnectionError::timeout(
                ErrorCode::EnhanceYourCalm,
                "header block not finished in time",
            ));
        }
        let stall = self.config.send_stall_timeout;
        let mut i = 0;
        while let Some(stream) = self.streams.as_mut_slice().get_mut(i) {
            i += 1;
            if stream.state.is_closed() {
                continue;
            }
            let t = stream.timers;
            let cause = if t.deadline.is_some_and(|d| now >= d) {
                CloseCause::DeadlinePassed
            } else if t.blocked_since.is_some_and(|b| now >= b + stall) {
                CloseCause::Stalled
            } else {
                continue;
            };
            stream.pending |= super::stream::PENDING_RESET;
            let id = stream.id;
            self.reset_stream(id, cause);
        }
        if self.timers.expired(Timer::Settings, now) {
            self.timers.clear(Timer::Settings);
            self.fail(ConnectionError::timeout(
                ErrorCode::SettingsTimeout,
                "peer did not acknowledge SETTINGS in time",
            ));
        }
    }

    fn queue_control(&mut self, c: Control) -> Result<(), ConnectionError> {
        let calm = ConnectionError::peer(
            ErrorCode::EnhanceYourCalm,
            "too many control frames waiting to be sent",
        );
        if self.control.len() >= self.config.max_pending_control.min(self.control.capacity()) {
            return Err(calm);
        }
        self.control.push_back(c).map_err(|_| calm)
    }

    /// Ends the connection with an error: GOAWAY goes out, nothing else does.
    fn fail(&mut self, error: ConnectionError) {
        if self.phase == Phase::Closed || self.close_code.is_some() {
            return;
        }
        self.close_code = Some((error.code, error.fault));
        let remote = error.fault.is_remote();
        self.control.clear();
        let _ = self
            .control
            .push_back(Control::GoAway(self.last_peer_stream, error.code));
        self.phase = Phase::Closing;
        let cause = CloseCause::ConnectionClosed {
            code: error.code,
            remote,
        };
        for stream in self.streams.as_mut_slice() {
            if stream.close(cause) {
                stream.pending |= super::stream::PENDING_RESET;
            }
        }
    }

    fn drop_stream(&mut self, id: u32) {
        if let Some(i) = self.index_of(id) {
            self.remove_stream_at(i);
        }
    }

    /// The one way a stream leaves the table: what it held goes back to the
    /// connection's budgets, and window for bytes it never consumed comes
    /// back to the peer.
    fn remove_stream_at(&mut self, i: usize) {
        let Some(stream) = self.streams.as_slice().get(i) else {
            return;
        };
        let (body, headers) = (stream.body.len(), stream.headers.len());
        let unconsumed = stream.recv_window.unconsumed();
        // Its buffers go back to the table, for the next stream.
        self.streams.swap_remove(i);
        self.body_left(body);
        self.header_bytes -= headers;
        self.conn_recv_window.release(unconsumed);
    }

    /// `n` body bytes left the connection (taken, or dropped with their
    /// stream): they go back to its budget and the process's.
    fn body_left(&mut self, n: usize) {
        self.body_bytes -= n;
        if let Some(budget) = self.config.body_budget {
            budget.give(n);
        }
    }

    /// Drops closed streams the application has released.
    fn reap(&mut self) {
        let mut i = 0;
        while i < self.streams.as_slice().len() {
            let s = &self.streams.as_slice()[i];
            if s.released && s.state.is_closed() && s.pending == 0 {
                self.remove_stream_at(i);
            } else {
                i += 1;
            }
        }
        self.maybe_finish_closing();
    }

    /// A graceful shutdown ends once no stream is active and all is sent.
    fn maybe_finish_closing(&mut self) {
        if self.phase == Phase::Closing
            && self.close_code.is_none()
            && self.active_streams() == 0
            && self.control.is_empty()
        {
            self.phase = Phase::Closed;
        }
    }
}

impl<S: Storage> Drop for State<S> {
    /// Bodies still held go back to the shared budget.
    fn drop(&mut self) {
        if let Some(budget) = self.config.body_budget {
            budget.give(self.body_bytes);
        }
    }
}
