//! A ZeroMQ REQ socket's side of one ZMTP 3.x connection, as a sans-IO state machine.
//!
//! Bytes in through [`ReqConnection::recv`], bytes out through
//! [`ReqConnection::transmit`], happenings out through [`ReqConnection::poll_event`],
//! time in through [`ReqConnection::handle_timeout`] with the next deadline from
//! [`ReqConnection::poll_timeout`]. No socket, no clock, no allocator of its own:
//! the outgoing queue and the reply live in two `B: Buffer`s.
//!
//! REQ semantics (RFC 28/REQREP): one request, then its reply, then the next
//! request. Each request goes out as an empty delimiter frame and the message
//! frames; the reply comes back the same way and is kept whole until
//! [`ReqConnection::release_reply`].
//!
//! Large messages need not fit a buffer. A request may end with a payload
//! frame whose bytes the application writes as they become available
//! ([`ReqConnection::send_request_with`], [`ReqConnection::write_payload`]),
//! and a one-frame reply larger than [`Streaming::reply_above`] is handed out
//! as it arrives ([`ZmtpEvent::StreamedReply`], [`ReqConnection::streamed`],
//! [`ReqConnection::take_streamed`]) rather than held whole: memory stays at
//! what the application lets wait, however large the frame.
//!
//! A request deadline that passes ends the connection ([`ZmtpEvent::TimedOut`]):
//! the reply may still be on its way, and REQ replies carry no id, so a late one
//! would be mistaken for the answer to the next request. The caller must drop
//! the connection and open a new one; this one ignores all further input.

mod recv;
#[cfg(test)]
mod tests;

use core::time::Duration;

use heapless::Deque;

use super::command::{Command, Metadata, Property};
use super::frame::{FrameHeader, FrameHeaderDecoder, MAX_HEADER_LEN};
use super::greeting::{Greeting, GreetingDecoder, GREETING_LEN};
use super::ZmtpError;
use crate::buf::Buffer;
use crate::time::Instant;

/// Largest command body kept for parsing. READY metadata from libzmq is a few
/// dozen bytes; unknown commands above this are skipped unread, known ones
/// are refused with [`ZmtpError::FrameTooLarge`].
pub const MAX_COMMAND_LEN: usize = 512;
/// Most frames one reply may have (after the delimiter). Arkouda sends one or
/// two; the bound keeps the frame table fixed-size.
pub const MAX_REPLY_FRAMES: usize = 32;
/// The greeting's signature and major version: what goes out before the
/// peer's greeting is seen (RFC 23 "Version Negotiation").
const GREETING_FIRST_PART: usize = 11;
/// Longest PONG frame: header, name and a 16-byte context.
const MAX_PONG_LEN: usize = 2 + 1 + 4 + super::MAX_PING_CONTEXT;
/// Most bytes the send queue holds while a streamed payload is written
/// into it ([`ReqConnection::write_payload`] takes no more): the payload
/// waits in the application's memory, not here.
pub const MAX_QUEUED_PAYLOAD: usize = 256 * 1024;

/// How one request's large parts travel: its last frame written as it comes
/// ([`ReqConnection::write_payload`]), its reply handed out as it arrives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Streaming {
    /// The request's last frame has this many bytes, written after the
    /// call with [`ReqConnection::write_payload`]; `None`: the frames given
    /// are the whole request.
    pub payload_len: Option<u64>,
    /// A reply of one frame larger than this is streamed
    /// ([`ZmtpEvent::StreamedReply`]) instead of held; `None`: replies are held.
    pub reply_above: Option<u64>,
    /// The largest streamed reply frame accepted (the config's
    /// `max_message_size` bounds held replies only); larger is
    /// [`ZmtpError::FrameTooLarge`].
    pub max_streamed_reply: u64,
}

/// Limits, in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZmtpConfig {
    /// Most bytes a reply may carry, all frames together. Every peer-announced
    /// size is checked against it before its bytes are buffered. With a fixed
    /// buffer it must not exceed the buffer's capacity.
    pub max_message_size: usize,
    /// How long greeting and READY exchange may take.
    pub handshake_timeout: Duration,
    /// Send a PING (RFC 37) after this long without input from the peer, so
    /// a dead peer or a dropped path is found without a request in flight;
    /// `None` sends none. Only peers of ZMTP 3.1 or later get PINGs.
    pub heartbeat_interval: Option<Duration>,
    /// How long after a PING the peer has to send something (its PONG, or
    /// anything) before the connection fails with
    /// [`ZmtpError::HeartbeatTimeout`]; also the PING's TTL, which tells the
    /// peer how long we may go quiet.
    pub heartbeat_timeout: Duration,
}

impl Default for ZmtpConfig {
    /// 16 MiB replies (Arkouda's large replies are binary arrays; anything
    /// bigger should be fetched another way) and a 10 s handshake.
    fn default() -> Self {
        ZmtpConfig {
            max_message_size: 16 << 20,
            handshake_timeout: Duration::from_secs(10),
            heartbeat_interval: None,
            heartbeat_timeout: Duration::from_secs(30),
        }
    }
}

/// Something the application should act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZmtpEvent {
    /// The handshake is complete: the peer is a REP or ROUTER socket.
    Ready,
    /// A whole reply arrived: read it with [`ReqConnection::reply_frames`],
    /// then call [`ReqConnection::release_reply`]. After
    /// [`StreamedReply`](Self::StreamedReply): the frame's last bytes are
    /// in; take what [`ReqConnection::streamed`] still holds, then release.
    Reply,
    /// The reply is one frame of `size` bytes, larger than
    /// [`Streaming::reply_above`]: its bytes come through
    /// [`ReqConnection::streamed`] as they arrive, and
    /// [`Reply`](Self::Reply) follows the last of them.
    StreamedReply {
        /// The frame's length, as the peer announced it.
        size: u64,
    },
    /// The request deadline passed. The connection is finished; drop it and
    /// connect again (see the module documentation for why).
    TimedOut,
    /// The connection is finished because of `error`.
    Closed {
        /// What ended it.
        error: ZmtpError,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading the peer's 64-byte greeting.
    Greeting,
    /// Waiting for the peer's READY.
    AwaitReady,
    Open,
    /// Failed, timed out or closed by the peer: input is ignored.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Idle,
    Outstanding {
        deadline: Option<Instant>,
    },
    /// The reply is complete and held for the caller.
    Replied,
}

/// What the bytes after the last frame header belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    Header,
    Message {
        remaining: u64,
        more: bool,
    },
    /// A streamed reply frame: its bytes wait in `reply` for the application.
    Streamed {
        remaining: u64,
    },
    Command {
        size: u64,
        seen: u64,
    },
}

/// A REQ socket's end of one ZMTP connection. See the module documentation.
///
/// ```
/// use arkwire::time::Instant;
/// use arkwire::zmtp::{ReqConnection, ZmtpConfig, ZmtpEvent};
///
/// let now = Instant::from_millis(0);
/// let config = ZmtpConfig { max_message_size: 1024, ..ZmtpConfig::default() };
/// let mut conn = ReqConnection::<heapless::Vec<u8, 1024>>::new(config, now).unwrap();
/// conn.send_request(&[b"{\"cmd\":\"connect\"}"], None).unwrap();
/// let mut out = [0u8; 256];
/// let n = conn.transmit(&mut out); // the greeting's first part: write it out
/// assert_eq!(&out[..2], &[0xff, 0]);
/// # let _ = n;
/// // Then loop: conn.recv(read_bytes, now)?; while let Some(ev) = conn.poll_event() { .. }
/// assert_eq!(conn.poll_event(), None);
/// ```
pub struct ReqConnection<B> {
    config: ZmtpConfig,
    phase: Phase,
    greeting: GreetingDecoder,
    header: FrameHeaderDecoder,
    input: Input,
    /// The body of the command being received (its first MAX_COMMAND_LEN bytes).
    cmd: heapless::Vec<u8, MAX_COMMAND_LEN>,
    /// Bytes to send; holds only whole messages, so a PONG can be appended
    /// anywhere, except while `payload_left` bytes of a streamed payload
    /// are still to come (commands then wait for its end).
    tx: B,
    /// Bytes at the front of `tx` already transmitted: they are dropped
    /// once they are as many as the bytes after them (or `tx` needs the
    /// room), so a queue sent in small pieces is not moved for each piece.
    tx_sent: usize,
    /// Bytes of the streamed payload frame not yet written into `tx`.
    payload_left: u64,
    /// The outstanding request's streaming settings.
    streaming: Streaming,
    /// The reply is a streamed frame: `reply` holds its untaken bytes.
    streaming_reply: bool,
    /// Bytes of our greeting and READY at the front of `tx` that may go out
    /// now. Until the peer's READY arrives only these go out: libzmq 4.3
    /// drops a connection whose first message arrives before its own READY
    /// was sent (seen with pyzmq 27.3 / libzmq 4.3.5), so requests wait for
    /// the handshake.
    handshake_unsent: usize,
    /// Handshake bytes queued but held back, released in steps as libzmq
    /// does: the signature and major version go first; the rest of the
    /// greeting once the peer's signature and major version are in; READY
    /// once the peer's whole greeting is in and its mechanism accepted. A
    /// peer that wants another mechanism (PLAIN, CURVE) thus sends its
    /// greeting before it hangs up, and is refused by name
    /// ([`ZmtpError::UnsupportedMechanism`]) rather than seen as a reset.
    greeting_rest_held: usize,
    ready_held: usize,
    /// The PONG to send at the next transmit; a newer PING replaces it.
    pong: Option<heapless::Vec<u8, MAX_PONG_LEN>>,
    /// Reply frame bodies, back to back; `frame_lens` says where they split.
    reply: B,
    frame_lens: heapless::Vec<usize, MAX_REPLY_FRAMES>,
    delimiter_seen: bool,
    request: Request,
    handshake_deadline: Instant,
    peer_minor: u8,
    /// When the peer last sent anything.
    last_input: Instant,
    /// When our unanswered PING went out.
    ping_sent: Option<Instant>,
    /// A PING is due at the next transmit.
    ping_due: bool,
    events: Deque<ZmtpEvent, 4>,
}

impl ZmtpConfig {
    /// Most heap a `ReqConnection<Vec<u8>>` with this config holds whatever
    /// its peer sends, while its application releases each reply and
    /// transmits between inputs: the reply buffer (at most
    /// `max_message_size`, twice that while a growing `Vec` doubles), the
    /// greeting, READY, one PONG and one PING in the send queue (twice, for
    /// the same reason), and the connection itself. Requests the application
    /// queues come on top, twice their length.
    #[cfg(feature = "alloc")]
    pub fn growable_heap_bound(&self) -> usize {
        let handshake = 64 + 64 + 2 * (MAX_PONG_LEN + 2);
        core::mem::size_of::<ReqConnection<alloc::vec::Vec<u8>>>()
            + 2 * self.max_message_size
            + 2 * handshake
    }
}

impl<B: Buffer + Default> ReqConnection<B> {
    /// A new connection whose greeting and READY are queued at once; they go
    /// out in the steps the peer's greeting allows (see `transmit`).
    pub fn new(config: ZmtpConfig, now: Instant) -> Result<Self, ZmtpError> {
        let mut tx = B::default();
        let reply = B::default();
        if reply.max_capacity() < config.max_message_size {
            return Err(ZmtpError::InvalidConfig(
                "buffer capacity below max_message_size",
            ));
        }
        let props = [Property {
            name: b"Socket-Type",
            value: b"REQ",
        }];
        let mut hello = [0u8; GREETING_LEN + 32];
        let mut n = Greeting::CLIENT.emit(&mut hello)?;
        let mut meta = [0u8; 24];
        let meta_len = Metadata::emit(&props, &mut meta)?;
        let ready = Command::Ready(Metadata::new_checked(&meta[..meta_len])?);
        n += ready.emit(&mut hello[n..])?;
        tx.try_extend(&hello[..n])
            .map_err(|_| ZmtpError::InvalidConfig("buffer cannot hold the greeting"))?;
        Ok(ReqConnection {
            handshake_unsent: GREETING_FIRST_PART,
            greeting_rest_held: GREETING_LEN - GREETING_FIRST_PART,
            ready_held: n - GREETING_LEN,
            config,
            phase: Phase::Greeting,
            greeting: GreetingDecoder::new(),
            header: FrameHeaderDecoder::new(),
            input: Input::Header,
            cmd: heapless::Vec::new(),
            tx,
            tx_sent: 0,
            payload_left: 0,
            streaming: Streaming::default(),
            streaming_reply: false,
            pong: None,
            reply,
            frame_lens: heapless::Vec::new(),
            delimiter_seen: false,
            request: Request::Idle,
            handshake_deadline: now + config.handshake_timeout,
            peer_minor: 0,
            last_input: now,
            ping_sent: None,
            ping_due: false,
            events: Deque::new(),
        })
    }
}

impl<B: Buffer> ReqConnection<B> {
    /// Queues a request: the empty delimiter, then `frames` (MORE on all but the
    /// last). An empty `frames` sends one empty frame, since a ZeroMQ message
    /// has at least one part. May be called before the handshake completes; the
    /// request then follows our READY. Fails with [`ZmtpError::Busy`] while a
    /// request or its unreleased reply is outstanding, and with
    /// [`ZmtpError::BufferFull`] if the send queue cannot hold it whole.
    ///
    /// When `deadline` passes before the whole reply is in, the connection
    /// reports [`ZmtpEvent::TimedOut`] and is finished.
    pub fn send_request(
        &mut self,
        frames: &[&[u8]],
        deadline: Option<Instant>,
    ) -> Result<(), ZmtpError> {
        self.send_request_with(frames, Streaming::default(), deadline)
    }

    /// Queues a request as [`send_request`](Self::send_request) does, with
    /// its large parts streamed as `streaming` says: when
    /// [`Streaming::payload_len`] is given, `frames` all carry MORE and a
    /// last frame of that length follows, its bytes written with
    /// [`write_payload`](Self::write_payload) (REQ allows nothing else on
    /// the connection until they are all written).
    pub fn send_request_with(
        &mut self,
        frames: &[&[u8]],
        streaming: Streaming,
        deadline: Option<Instant>,
    ) -> Result<(), ZmtpError> {
        if self.phase == Phase::Closed {
            return Err(ZmtpError::Closed);
        }
        if self.request != Request::Idle {
            return Err(ZmtpError::Busy);
        }
        let empty: [&[u8]; 1] = [b""];
        let frames = if frames.is_empty() && streaming.payload_len.is_none() {
            &empty[..]
        } else {
            frames
        };
        let payload_head = streaming
            .payload_len
            .map_or(0, |len| FrameHeader::message(len, false).buffer_len());
        let total = frames.iter().fold(2usize + payload_head, |acc, f| {
            let h = FrameHeader::message(f.len() as u64, false).buffer_len();
            acc.saturating_add(h).saturating_add(f.len())
        });
        self.make_room(total);
        if self.tx.free() < total {
            return Err(ZmtpError::BufferFull);
        }
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = FrameHeader::message(0, true).emit(&mut head)?;
        self.tx.try_extend(&head[..n])?;
        for (i, f) in frames.iter().enumerate() {
            let more = i + 1 < frames.len() || streaming.payload_len.is_some();
            let n = FrameHeader::message(f.len() as u64, more).emit(&mut head)?;
            self.tx.try_extend(&head[..n])?;
            self.tx.try_extend(f)?;
        }
        if let Some(len) = streaming.payload_len {
            let n = FrameHeader::message(len, false).emit(&mut head)?;
            self.tx.try_extend(&head[..n])?;
            self.payload_left = len;
            // A PING not yet answered is forgotten: the heartbeat starts
            // again once the payload is out (see `heartbeat_deadline`).
            self.ping_sent = None;
            self.ping_due = false;
        }
        self.streaming = streaming;
        self.request = Request::Outstanding { deadline };
        Ok(())
    }

    /// Writes the next bytes of the streamed payload into the send queue:
    /// as many as fit under [`MAX_QUEUED_PAYLOAD`] and the payload's
    /// announced length; returns how many (0: transmit first, or the
    /// payload is complete).
    pub fn write_payload(&mut self, bytes: &[u8]) -> usize {
        if self.phase == Phase::Closed || self.payload_left == 0 {
            return 0;
        }
        let want = MAX_QUEUED_PAYLOAD.saturating_sub(self.unsent());
        self.make_room(want);
        let room = want.min(self.tx.free());
        let n = bytes
            .len()
            .min(room)
            .min(usize::try_from(self.payload_left).unwrap_or(usize::MAX));
        if n == 0 || self.tx.try_extend(&bytes[..n]).is_err() {
            return 0;
        }
        self.payload_left -= n as u64;
        n
    }

    /// Bytes of the streamed payload still to be written with
    /// [`write_payload`](Self::write_payload).
    pub fn payload_remaining(&self) -> u64 {
        self.payload_left
    }

    /// The bytes of a streamed reply frame that arrived and were not yet
    /// taken (see [`ZmtpEvent::StreamedReply`]); empty otherwise.
    pub fn streamed(&self) -> &[u8] {
        if self.streaming_reply {
            self.reply.as_slice()
        } else {
            &[]
        }
    }

    /// The application has the first `n` bytes of [`streamed`](Self::streamed).
    pub fn take_streamed(&mut self, n: usize) {
        if self.streaming_reply {
            self.reply.consume(n);
        }
    }

    /// Copies queued bytes into `out`; returns how many. Any `out` size works:
    /// the rest stays queued for the next call.
    pub fn transmit(&mut self, out: &mut [u8]) -> usize {
        if self.phase == Phase::Closed {
            return 0;
        }
        // Commands go between messages, never inside a streamed payload.
        let boundary = self.payload_left == 0;
        if let Some(len) = self.pong.as_ref().filter(|_| boundary).map(|p| p.len()) {
            self.make_room(len);
            if self
                .pong
                .as_ref()
                .is_some_and(|p| self.tx.try_extend(p).is_ok())
            {
                self.pong = None;
            }
        }
        if self.ping_due && self.phase == Phase::Open && boundary {
            self.queue_ping();
        }
        let ready = self.phase == Phase::Open;
        let sendable = if ready {
            self.unsent()
        } else {
            self.handshake_unsent.min(self.unsent())
        };
        let n = out.len().min(sendable);
        let from = self.tx_sent;
        out[..n].copy_from_slice(&self.tx.as_slice()[from..from + n]);
        self.tx_sent += n;
        if self.tx_sent == self.tx.len() {
            self.tx.clear();
            self.tx_sent = 0;
        } else if self.tx_sent >= self.unsent() {
            self.tx.consume(self.tx_sent);
            self.tx_sent = 0;
        }
        self.handshake_unsent = self.handshake_unsent.saturating_sub(n);
        n
    }

    /// Bytes queued in `tx` and not yet transmitted.
    fn unsent(&self) -> usize {
        self.tx.len() - self.tx_sent
    }

    /// Drops the transmitted bytes at the front of `tx` when fewer than
    /// `n` bytes are free behind them.
    fn make_room(&mut self, n: usize) {
        if self.tx_sent > 0 && self.tx.free() < n {
            self.tx.consume(self.tx_sent);
            self.tx_sent = 0;
        }
    }

    /// Whether [`transmit`](Self::transmit) has bytes to give.
    pub fn wants_transmit(&self) -> bool {
        // A held PONG goes out only between messages: while a streamed
        // payload is unfinished it gives transmit nothing to send.
        let pong = self.pong.is_some() && self.payload_left == 0;
        self.phase != Phase::Closed
            && ((self.phase == Phase::Open && (self.unsent() > 0 || pong))
                || self.handshake_unsent > 0)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ZmtpEvent> {
        self.events.pop_front()
    }

    /// The frames of the reply announced by [`ZmtpEvent::Reply`], delimiter
    /// stripped, in order; empty when no reply is held.
    pub fn reply_frames(&self) -> ReplyFrames<'_> {
        let lens: &[usize] = if self.request == Request::Replied {
            &self.frame_lens
        } else {
            &[]
        };
        ReplyFrames {
            rest: self.reply.as_slice(),
            lens: lens.iter(),
        }
    }

    /// Frees the held reply, making room for the next request.
    pub fn release_reply(&mut self) {
        if self.request == Request::Replied {
            self.reply.clear();
            self.frame_lens.clear();
            self.delimiter_seen = false;
            self.streaming_reply = false;
            self.streaming = Streaming::default();
            self.request = Request::Idle;
        }
    }

    /// The earliest instant [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let handshake = match self.phase {
            Phase::Greeting | Phase::AwaitReady => Some(self.handshake_deadline),
            Phase::Open | Phase::Closed => None,
        };
        let request = match (self.phase, self.request) {
            (Phase::Closed, _) => None,
            (_, Request::Outstanding { deadline }) => deadline,
            _ => None,
        };
        [handshake, request, self.heartbeat_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the next PING is due, or when the peer's answer to ours is.
    fn heartbeat_deadline(&self) -> Option<Instant> {
        let interval = self.config.heartbeat_interval?;
        // While a streamed payload is written no PING can go out (it would
        // land inside the frame), so none is awaited: the peer is taking
        // our bytes, and the request's deadline bounds the wait.
        if self.phase != Phase::Open
            || self.peer_minor < 1
            || self.ping_due
            || self.payload_left > 0
        {
            return None;
        }
        Some(match self.ping_sent {
            Some(sent) => sent + self.config.heartbeat_timeout,
            None => self.last_input + interval,
        })
    }

    /// Appends a PING to the send queue (whole messages only are queued, so
    /// a command may follow any of them).
    fn queue_ping(&mut self) {
        let ttl = self.config.heartbeat_timeout.as_millis() / 100;
        let ping = super::Command::Ping {
            ttl: u16::try_from(ttl).unwrap_or(u16::MAX),
            context: b"arkwire",
        };
        let mut frame = [0u8; MAX_PONG_LEN + 2];
        if let Ok(n) = ping.emit(&mut frame) {
            self.make_room(n);
            if self.tx.try_extend(&frame[..n]).is_ok() {
                self.ping_due = false;
            }
        }
    }

    /// Fires whatever deadline `now` has reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.heartbeat_deadline().is_some_and(|d| now >= d) {
            if self.ping_sent.is_some() {
                self.fail(ZmtpError::HeartbeatTimeout);
                return;
            }
            self.ping_sent = Some(now);
            self.ping_due = true;
        }
        if matches!(self.phase, Phase::Greeting | Phase::AwaitReady)
            && now >= self.handshake_deadline
        {
            self.fail(ZmtpError::HandshakeTimeout);
            return;
        }
        if let (
            Phase::Greeting | Phase::AwaitReady | Phase::Open,
            Request::Outstanding { deadline: Some(d) },
        ) = (self.phase, self.request)
        {
            if now >= d {
                self.phase = Phase::Closed;
                self.push_event(ZmtpEvent::TimedOut);
            }
        }
    }

    /// Whether the handshake is complete and the connection not finished.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether the connection is finished (failed, timed out, or closed by the peer).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The peer's ZMTP minor version (0 or 1), once its greeting is in.
    pub fn peer_minor_version(&self) -> Option<u8> {
        match self.phase {
            Phase::Greeting => None,
            _ => Some(self.peer_minor),
        }
    }

    fn push_event(&mut self, event: ZmtpEvent) {
        // At most Ready, StreamedReply, Reply and one final event can be pending, so 4 slots
        // never overflow; dropping would still be better than panicking.
        let _ = self.events.push_back(event);
    }

    /// Ends the connection because of `error` and reports it.
    fn fail(&mut self, error: ZmtpError) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.push_event(ZmtpEvent::Closed { error });
        }
    }
}

/// Iterator over the frames of a held reply.
#[derive(Clone, Debug)]
pub struct ReplyFrames<'a> {
    rest: &'a [u8],
    lens: core::slice::Iter<'a, usize>,
}

impl<'a> Iterator for ReplyFrames<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let len = *self.lens.next()?;
        let (frame, rest) = self.rest.split_at_checked(len)?;
        self.rest = rest;
        Some(frame)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.lens.len()))
    }
}
