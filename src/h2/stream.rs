//! One HTTP/2 stream: its state (RFC 9113 §5.1), windows, and buffers.

use super::flow::{RecvWindow, SendWindow};
use super::header_list::HeaderIter;
use super::ErrorCode;
use crate::buf::Buffer;
use crate::time::Instant;

/// The states of RFC 9113 §5.1 that a stream in the table can be in.
/// (Idle streams are not stored; reserved states need server push, which
/// arkwire never enables.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Both sides may send.
    Open,
    /// We sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
    /// Both sides are done, or the stream was reset: why, in the cause.
    Closed(CloseCause),
}

/// Why a stream closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCause {
    /// Both sides sent END_STREAM.
    Finished,
    /// The peer reset it (RST_STREAM with this code).
    ResetByPeer(ErrorCode),
    /// We reset it with this code: the application did, or the peer broke
    /// the protocol on this stream.
    ResetLocally(ErrorCode),
    /// Its deadline passed (we reset it with CANCEL, or the peer reset it
    /// first, enforcing the same deadline).
    DeadlinePassed,
    /// Its queued data waited past `send_stall_timeout` for a window the
    /// peer never opened; we reset it with CANCEL.
    Stalled,
    /// The peer's GOAWAY says it was never processed: safe to retry on a
    /// new connection (REFUSED_STREAM).
    NotProcessed,
    /// The connection ended with this code (`remote`: the peer's doing).
    ConnectionClosed {
        /// The connection's error code.
        code: ErrorCode,
        /// Whether the peer ended it.
        remote: bool,
    },
}

impl CloseCause {
    /// The reset this cause stands for, and whether the peer did it; `None`
    /// for a stream that finished normally.
    pub const fn reset(self) -> Option<(ErrorCode, bool)> {
        match self {
            CloseCause::Finished => None,
            CloseCause::ResetByPeer(code) => Some((code, true)),
            CloseCause::ResetLocally(code) => Some((code, false)),
            CloseCause::DeadlinePassed | CloseCause::Stalled => Some((ErrorCode::Cancel, false)),
            CloseCause::NotProcessed => Some((ErrorCode::RefusedStream, true)),
            CloseCause::ConnectionClosed { code, remote } => Some((code, remote)),
        }
    }
}

impl StreamState {
    /// The state after the peer ends its side.
    pub(crate) fn remote_end(self) -> Self {
        match self {
            StreamState::Open => StreamState::HalfClosedRemote,
            StreamState::Closed(cause) => StreamState::Closed(cause),
            _ => StreamState::Closed(CloseCause::Finished),
        }
    }

    /// The state after we end our side.
    pub(crate) fn local_end(self) -> Self {
        match self {
            StreamState::Open => StreamState::HalfClosedLocal,
            StreamState::Closed(cause) => StreamState::Closed(cause),
            _ => StreamState::Closed(CloseCause::Finished),
        }
    }

    /// Whether the stream is closed, for whatever cause.
    pub const fn is_closed(self) -> bool {
        matches!(self, StreamState::Closed(_))
    }

    /// Whether the peer may still send on the stream.
    pub(crate) fn remote_open(self) -> bool {
        matches!(self, StreamState::Open | StreamState::HalfClosedLocal)
    }
}

/// The memory limit a received body ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLimit {
    /// The stream's own `max_body_size` (or its fixed buffer).
    Stream,
    /// `max_connection_body_size`: the connection's streams hold too much.
    Connection,
    /// The process-wide `body_budget` is spent.
    Process,
}

impl BodyLimit {
    /// A fixed description, suitable for `grpc-message`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BodyLimit::Stream => "message larger than the configured maximum",
            BodyLimit::Connection => {
                "this connection holds too many unfinished messages (max_connection_body_size)"
            }
            BodyLimit::Process => {
                "the server holds too many unfinished messages (memory budget; serve --memory-budget)"
            }
        }
    }
}

/// The deadlines one stream keeps, read by the connection's timer table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StreamTimers {
    /// When the stream must be finished; past it the stream is reset with CANCEL.
    pub(crate) deadline: Option<Instant>,
    /// Since when queued data has waited for a window (stall defence).
    pub(crate) blocked_since: Option<Instant>,
}

/// Tags of the items in a stream's send queue: `[tag][len u32][payload]`.
pub(crate) const ITEM_HEADERS: u8 = 1;
pub(crate) const ITEM_DATA: u8 = 2;
/// Set on the tag of the item after which END_STREAM goes out.
pub(crate) const ITEM_END_STREAM: u8 = 0x80;
pub(crate) const ITEM_PREFIX: usize = 5;

/// A stream in the connection's table.
#[derive(Debug)]
pub struct Stream<H, B> {
    pub(crate) id: u32,
    pub(crate) state: StreamState,
    /// What the peer lets us send on this stream.
    pub(crate) send_window: SendWindow,
    /// What we let the peer send on this stream.
    pub(crate) recv_window: RecvWindow,
    /// Received header list; trailers follow from `trailers_at`.
    pub(crate) headers: H,
    pub(crate) trailers_at: Option<usize>,
    /// The first header block has been received.
    pub(crate) headers_done: bool,
    pub(crate) body: B,
    /// Items to send, consumed from `send_pos`; `item_sent` counts DATA bytes
    /// already sent from the item at `send_pos`.
    pub(crate) send: B,
    pub(crate) send_pos: usize,
    pub(crate) item_sent: usize,
    /// Where the last complete item starts in `send`.
    pub(crate) last_item: Option<usize>,
    /// An item carrying END_STREAM is queued: nothing more may follow it.
    pub(crate) local_end_queued: bool,
    /// The limit the body ran into; later DATA was dropped.
    pub(crate) body_limit: Option<BodyLimit>,
    /// The stream's timers: its deadline and the stall defence.
    pub(crate) timers: StreamTimers,
    /// Bits the layer above keeps per stream; h2 never reads them.
    pub(crate) tag: u8,
    /// Changes the application has not polled yet.
    pub(crate) pending: u8,
    /// The application has released the stream; it can be dropped once closed.
    pub(crate) released: bool,
}

/// Sent bytes at the front of a send queue worth moving the rest over.
const COMPACT_AFTER: usize = 16 * 1024;

pub(crate) const PENDING_HEADERS: u8 = 1;
pub(crate) const PENDING_DATA: u8 = 2;
pub(crate) const PENDING_TRAILERS: u8 = 4;
pub(crate) const PENDING_END: u8 = 8;
pub(crate) const PENDING_RESET: u8 = 16;

impl<H: Buffer + Default, B: Buffer + Default> Stream<H, B> {
    pub(crate) fn new(id: u32, send_window: u32, recv_window: u32) -> Self {
        Stream {
            id,
            state: StreamState::Open,
            send_window: SendWindow::new(send_window),
            recv_window: RecvWindow::new(recv_window),
            headers: H::default(),
            trailers_at: None,
            headers_done: false,
            body: B::default(),
            send: B::default(),
            send_pos: 0,
            item_sent: 0,
            last_item: None,
            local_end_queued: false,
            body_limit: None,
            timers: StreamTimers::default(),
            tag: 0,
            pending: 0,
            released: false,
        }
    }
}

impl<H: Buffer, B: Buffer> Stream<H, B> {
    /// The stream id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The stream's state.
    pub fn state(&self) -> StreamState {
        self.state
    }

    /// The first header block received (request or response headers).
    pub fn headers(&self) -> HeaderIter<'_> {
        let end = self.trailers_at.unwrap_or(self.headers.len());
        HeaderIter::new(self.headers.as_slice().get(..end).unwrap_or_default())
    }

    /// The trailers, once received.
    pub fn trailers(&self) -> Option<HeaderIter<'_>> {
        let at = self.trailers_at?;
        Some(HeaderIter::new(
            self.headers.as_slice().get(at..).unwrap_or_default(),
        ))
    }

    /// Body bytes received so far.
    pub fn body(&self) -> &[u8] {
        self.body.as_slice()
    }

    /// Why the stream closed, once it has.
    pub fn close_cause(&self) -> Option<CloseCause> {
        match self.state {
            StreamState::Closed(cause) => Some(cause),
            _ => None,
        }
    }

    /// Why the stream was reset, and whether the peer did it.
    pub fn reset(&self) -> Option<(ErrorCode, bool)> {
        self.close_cause().and_then(CloseCause::reset)
    }

    /// The stream's deadline, if one was set.
    pub fn deadline(&self) -> Option<Instant> {
        self.timers.deadline
    }

    /// Whether the stream was reset because its deadline passed.
    pub fn timed_out(&self) -> bool {
        self.close_cause() == Some(CloseCause::DeadlinePassed)
    }

    /// The bits the layer above stored with [`set_tag`](crate::h2::Connection::set_tag).
    pub fn tag(&self) -> u8 {
        self.tag
    }

    /// Whether the peer has finished sending (END_STREAM or reset).
    pub fn remote_closed(&self) -> bool {
        !self.state.remote_open()
    }

    /// Whether our side's END_STREAM is queued or sent.
    pub fn local_end_queued(&self) -> bool {
        self.local_end_queued
            || self.state == StreamState::HalfClosedLocal
            || self.close_cause() == Some(CloseCause::Finished)
    }

    /// Bytes queued to send on the stream and not yet sent (data and
    /// header blocks waiting for the peer's window, with their framing):
    /// what a sender streaming a large body keeps small.
    pub fn send_queued(&self) -> usize {
        self.send.len().saturating_sub(self.send_pos)
    }

    /// Whether the body outgrew its limit (later DATA was dropped).
    pub fn body_overflowed(&self) -> bool {
        self.body_limit.is_some()
    }

    /// Which limit the body ran into, if any.
    pub fn body_limit(&self) -> Option<BodyLimit> {
        self.body_limit
    }

    /// Whether everything queued to send has gone out.
    pub(crate) fn send_idle(&self) -> bool {
        self.send_pos >= self.send.len()
    }

    /// The next queued item: (tag, payload).
    pub(crate) fn next_item(&self) -> Option<(u8, &[u8])> {
        let rest = self.send.as_slice().get(self.send_pos..)?;
        let (head, tail) = (rest.get(..ITEM_PREFIX)?, &rest[ITEM_PREFIX..]);
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        Some((head[0], tail.get(..len)?))
    }

    /// Writes an item's payload length into its prefix at `start`.
    pub(crate) fn patch_item_len(&mut self, start: usize, len: u32) {
        if let Some(prefix) = self
            .send
            .as_mut_slice()
            .get_mut(start + 1..start + ITEM_PREFIX)
        {
            prefix.copy_from_slice(&len.to_be_bytes());
        }
        if self
            .send
            .as_slice()
            .get(start)
            .is_some_and(|t| t & ITEM_END_STREAM != 0)
        {
            self.local_end_queued = true;
        }
    }

    /// The one transition to a reset: closed for `cause`, unsent frames
    /// dropped, timers stopped. True if the stream was open, so the caller
    /// knows there is a reset to tell (the application, or the peer).
    pub(crate) fn close(&mut self, cause: CloseCause) -> bool {
        self.send.clear();
        self.send_pos = 0;
        self.timers.blocked_since = None;
        if self.state.is_closed() {
            return false;
        }
        self.state = StreamState::Closed(cause);
        true
    }

    /// Drops a half-written item.
    pub(crate) fn truncate_send(&mut self, len: usize) {
        self.send.truncate(len);
    }

    /// Marks the item at `send_pos` sent and moves on; clears the queue at its end.
    pub(crate) fn finish_item(&mut self, len: usize) {
        self.send_pos += ITEM_PREFIX + len;
        self.item_sent = 0;
        if self.send_pos >= self.send.len() {
            self.send.clear();
            self.send_pos = 0;
            self.last_item = None;
        } else if self.send_pos >= COMPACT_AFTER && self.send_pos * 2 >= self.send.len() {
            // A sender that tops the queue up before it empties (a large
            // body streamed as the window opens) would otherwise append
            // behind sent items for ever: the queue would grow to the whole
            // body. Moving what is left to the front, once the sent part is
            // at least half (and 16 KiB), keeps the queue within twice what
            // is queued at a cost of at most one byte moved per byte sent.
            let sent = self.send_pos;
            self.send.consume(sent);
            self.send_pos = 0;
            self.last_item = self.last_item.and_then(|at| at.checked_sub(sent));
        }
    }
}
