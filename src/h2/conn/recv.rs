//! The receive path: frames in, as pieces that stream by, state changes and
//! queued replies out. Each RFC 9113 rule that needs connection state is
//! checked here, once. Nothing is buffered whole: DATA goes straight into
//! its stream's body and header blocks are HPACK-decoded as they arrive.

use super::guard::Flood;
use super::timers::Timer;
use super::{
    Connection, ConnectionError, Control, DataRoute, Event, Fault, GoAwayDebug, PartialBlock,
    Phase, Role, State, Storage, StreamTable,
};
use crate::buf::Buffer;
use crate::h2::frame::{ErrorScope, Frame, FrameKind, Piece, SettingId, StreamedFrame};
use crate::h2::header_list;
use crate::h2::hpack::{Header, HpackError};
use crate::h2::stream::{
    BodyLimit, CloseCause, Stream, PENDING_DATA, PENDING_END, PENDING_HEADERS, PENDING_RESET,
    PENDING_TRAILERS,
};
use crate::h2::ErrorCode;
use crate::time::Instant;

const fn conn_err(code: ErrorCode, reason: &'static str) -> ConnectionError {
    ConnectionError::peer(code, reason)
}

impl<S: Storage> Connection<S> {
    /// Feeds bytes read from the peer. A protocol violation queues GOAWAY
    /// and is returned once; later input is ignored.
    pub fn recv(&mut self, mut input: &[u8], now: Instant) -> Result<(), ConnectionError> {
        let Connection {
            preface,
            reader,
            state,
        } = self;
        state.now = now;
        if state.close_code.is_some() || state.phase == Phase::Closed {
            return Ok(());
        }
        if state.phase == Phase::AwaitPreface {
            let result = preface
                .feed(input)
                .map_err(|_| conn_err(ErrorCode::ProtocolError, "invalid HTTP/2 client preface"));
            let used = match result {
                Ok(used) => used,
                Err(e) => {
                    state.fail(e);
                    return Err(e);
                }
            };
            input = &input[used..];
            if !preface.is_complete() {
                return Ok(());
            }
            state.phase = Phase::AwaitSettings;
        }
        loop {
            let (used, result) = reader.read(input);
            input = &input[used..];
            let outcome = match result {
                Ok(Some(piece)) => state.handle_piece(piece),
                Ok(None) => break,
                Err(e) => match e.scope() {
                    ErrorScope::Stream(id) if state.partial.is_none() => {
                        state.stream_error(id, e.error_code())
                    }
                    _ => Err(conn_err(e.error_code(), "malformed frame")),
                },
            };
            if let Err(e) = outcome {
                state.fail(e);
                state.note_stream_availability();
                return Err(e);
            }
            if let Some(size) = state.pending_max_frame_size.take() {
                // Our own SETTINGS carrying it was acknowledged.
                let _ = reader.set_max_frame_size(size);
            }
        }
        state.note_stream_availability();
        Ok(())
    }
}

impl<S: Storage> State<S> {
    /// Checks that apply to every frame as it starts: the peer's preface
    /// ends with SETTINGS, and a header block admits nothing but its own
    /// CONTINUATION frames.
    fn frame_starts(
        &mut self,
        kind: FrameKind,
        stream: u32,
        ack: bool,
    ) -> Result<(), ConnectionError> {
        if self.phase == Phase::AwaitSettings {
            // RFC 9113 §3.4: the peer's preface ends with a SETTINGS frame.
            if kind == FrameKind::Settings && !ack {
                self.phase = Phase::Open;
                self.timers.clear(Timer::Handshake);
            } else if kind == FrameKind::GoAway && self.role == Role::Client {
                // A server refusing the connection outright (a TLS port
                // answering a plaintext client) sends only its GOAWAY: its
                // code and reason are the closing, not a preface error.
            } else {
                return Err(conn_err(
                    ErrorCode::ProtocolError,
                    "first frame from the peer was not SETTINGS",
                ));
            }
        }
        if let Some(partial) = self.partial {
            // §6.10: a header block is contiguous; nothing may interleave.
            if kind != FrameKind::Continuation || stream != partial.stream {
                return Err(conn_err(
                    ErrorCode::ProtocolError,
                    "expected CONTINUATION of the open header block",
                ));
            }
        }
        Ok(())
    }

    fn handle_piece(&mut self, piece: Piece<'_>) -> Result<(), ConnectionError> {
        match piece {
            Piece::Frame(frame) => {
                let ack = matches!(frame, Frame::Ping(p) if p.ack);
                self.frame_starts(frame.kind(), frame.stream_id(), ack)?;
                self.count_flood(&frame)?;
                self.handle_frame(frame)
            }
            Piece::Begin(f) => {
                self.frame_starts(f.kind, f.stream_id, f.ack)?;
                self.current = Some(f);
                self.begin_streamed(f)
            }
            Piece::Content(bytes) => match self.current.map(|f| f.kind) {
                Some(FrameKind::Data) => {
                    self.on_data_chunk(bytes);
                    Ok(())
                }
                Some(FrameKind::Headers | FrameKind::Continuation) => self.on_fragment(bytes),
                _ => Ok(()),
            },
            Piece::Setting(setting) => {
                self.peer
                    .apply(setting)
                    .map_err(|e| conn_err(e.error_code(), "invalid SETTINGS value"))?;
                if setting.id == SettingId::HeaderTableSize {
                    // Our encoder may use at most what the peer's decoder allows.
                    self.hpack_encoder
                        .set_max_table_size(setting.value as usize);
                }
                Ok(())
            }
            Piece::End(f) => {
                self.current = None;
                self.end_streamed(f)
            }
        }
    }

    /// A DATA, HEADERS, CONTINUATION or SETTINGS frame starts.
    fn begin_streamed(&mut self, f: StreamedFrame) -> Result<(), ConnectionError> {
        let empty = f.content_len == 0;
        let kind = match f.kind {
            FrameKind::Settings if !f.ack => Some(Flood::Control),
            FrameKind::Data if empty && !f.end_stream => Some(Flood::Empty),
            FrameKind::Headers | FrameKind::Continuation if empty && !f.end_headers => {
                Some(Flood::Empty)
            }
            _ => None,
        };
        if let Some(kind) = kind {
            self.flood.count(kind, self.now, &self.config)?;
        }
        match f.kind {
            FrameKind::Settings => {
                if f.ack {
                    if self.timers.clear(Timer::Settings) {
                        self.pending_max_frame_size = Some(self.config.max_frame_size);
                    }
                    let _ = self.conn_events.push_back(Event::SettingsAcked);
                } else {
                    self.settings_old_window = self.peer.initial_window_size;
                }
                Ok(())
            }
            FrameKind::Data => self.on_data_begin(f),
            FrameKind::Headers => self.on_headers_begin(f),
            FrameKind::Continuation => {
                let Some(mut partial) = self.partial else {
                    return Err(conn_err(
                        ErrorCode::ProtocolError,
                        "CONTINUATION without a header block",
                    ));
                };
                partial.frames += 1;
                if partial.frames > self.config.max_continuation_frames + 1 {
                    return Err(conn_err(
                        ErrorCode::EnhanceYourCalm,
                        "header block spans too many CONTINUATION frames",
                    ));
                }
                self.partial = Some(partial);
                Ok(())
            }
            // We announce ENABLE_PUSH = 0 as a client and servers never receive it (§8.4).
            _ => Err(conn_err(
                ErrorCode::ProtocolError,
                "PUSH_PROMISE received but push is disabled",
            )),
        }
    }

    fn end_streamed(&mut self, f: StreamedFrame) -> Result<(), ConnectionError> {
        match f.kind {
            FrameKind::Settings if !f.ack => {
                // §6.9.2: a new initial window shifts every stream's send window by the difference.
                let delta =
                    i64::from(self.peer.initial_window_size) - i64::from(self.settings_old_window);
                if delta != 0 {
                    for stream in self.streams.as_mut_slice() {
                        if stream.send_window.adjust(delta).is_err() {
                            return Err(conn_err(
                                ErrorCode::FlowControlError,
                                "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window",
                            ));
                        }
                    }
                }
                self.queue_control(Control::SettingsAck)
            }
            FrameKind::Data => {
                self.on_data_end(f.end_stream);
                Ok(())
            }
            FrameKind::Headers | FrameKind::Continuation if f.end_headers => self.on_block_end(),
            _ => Ok(()),
        }
    }

    /// Small frames, whole.
    fn handle_frame(&mut self, frame: Frame<'_>) -> Result<(), ConnectionError> {
        match frame {
            Frame::RstStream(r) => {
                self.check_not_idle(r.stream_id)?;
                let now = self.now;
                if let Some(stream) = self.stream_mut(r.stream_id) {
                    // A peer enforcing the same deadline may beat our timer by a hair.
                    let cause = if stream.timers.deadline.is_some_and(|d| now >= d) {
                        CloseCause::DeadlinePassed
                    } else {
                        CloseCause::ResetByPeer(r.error_code)
                    };
                    if stream.close(cause) {
                        stream.pending |= PENDING_RESET;
                    }
                }
                self.forget_if_unseen(r.stream_id);
                self.maybe_finish_closing();
                Ok(())
            }
            Frame::Ping(p) => {
                if p.ack {
                    Ok(())
                } else {
                    self.queue_control(Control::PingAck(p.data))
                }
            }
            Frame::GoAway(g) => {
                self.on_goaway(g.last_stream_id, g.error_code, g.debug_data);
                Ok(())
            }
            Frame::WindowUpdate(w) => self.on_window_update(w.stream_id, w.increment),
            // §5.3.2: priority signals are advisory; arkwire schedules round-robin.
            // §5.5: unknown frame types are ignored.
            _ => Ok(()),
        }
    }

    /// Counts the frames that floods are made of (see `guard`).
    fn count_flood(&mut self, frame: &Frame<'_>) -> Result<(), ConnectionError> {
        let kind = match frame {
            Frame::RstStream(_) => Flood::Reset,
            Frame::Ping(p) if !p.ack => Flood::Control,
            Frame::Priority(_) | Frame::Unknown { .. } => Flood::Empty,
            _ => return Ok(()),
        };
        self.flood.count(kind, self.now, &self.config)
    }

    /// A HEADERS frame opens a header block. Who the block is for is decided
    /// now; it is always HPACK-decoded, since the compression context is
    /// shared by every stream, and stored only for a stream that may take it
    /// (one that may not costs the peer from its futile-frame budget).
    fn on_headers_begin(&mut self, f: StreamedFrame) -> Result<(), ConnectionError> {
        let id = f.stream_id;
        self.timers.set(
            Timer::HeaderBlock,
            self.now + self.config.header_block_timeout,
        );
        let refusal = match self.stream(id) {
            None => {
                if self.accept_new_stream(id)? {
                    None
                } else {
                    // Refused, forgotten or after GOAWAY: the answer is queued.
                    Some(None)
                }
            }
            // §5.1: HEADERS on a half-closed (remote) or closed stream.
            Some(s) if !s.state.remote_open() => Some(Some(ErrorCode::StreamClosed)),
            // A third block, or trailers without END_STREAM (§8.1).
            Some(s) if s.trailers_at.is_some() || (s.headers_done && !f.end_stream) => {
                Some(Some(ErrorCode::ProtocolError))
            }
            Some(_) => None,
        };
        let per_stream = 2 * self.config.max_header_list_size as usize;
        let per_connection = self
            .config
            .max_connection_header_size
            .max(per_stream)
            .saturating_sub(self.header_bytes);
        let mut block = PartialBlock {
            stream: id,
            end_stream: f.end_stream,
            frames: 1,
            bytes: 0,
            refusal,
            trailers: false,
            start: 0,
            budget: 0,
            malformed: false,
            over_budget: false,
            regular_seen: false,
        };
        if refusal.is_none() {
            if let Some(s) = self.stream_mut(id) {
                block.trailers = s.headers_done;
                block.start = s.headers.len();
                block.budget = per_stream
                    .saturating_sub(s.headers.len())
                    .min(per_connection);
                if block.trailers {
                    s.trailers_at = Some(block.start);
                }
            }
        }
        self.partial = Some(block);
        self.carry_len = 0;
        self.hpack_decoder.begin_block();
        Ok(())
    }

    /// Header block bytes arrived: decoded as far as whole representations go.
    fn on_fragment(&mut self, mut fragment: &[u8]) -> Result<(), ConnectionError> {
        let Some(mut partial) = self.partial else {
            return Ok(());
        };
        // The encoded block can never be larger than the decoded list it
        // expands to, so the list limit bounds it too.
        partial.bytes += fragment.len();
        if partial.bytes > self.config.max_header_list_size as usize {
            return Err(conn_err(
                ErrorCode::EnhanceYourCalm,
                "header block larger than SETTINGS_MAX_HEADER_LIST_SIZE",
            ));
        }
        let half = self.scratch.as_ref().len() / 2;
        while !fragment.is_empty() {
            let carry = &mut self.scratch.as_mut()[..half];
            let n = (half - self.carry_len).min(fragment.len());
            carry[self.carry_len..self.carry_len + n].copy_from_slice(&fragment[..n]);
            self.carry_len += n;
            fragment = &fragment[n..];
            self.decode_carry(&mut partial, false)?;
        }
        self.partial = Some(partial);
        Ok(())
    }

    /// Decodes what the carry holds; at the end of the block, all of it.
    fn decode_carry(
        &mut self,
        partial: &mut PartialBlock,
        last: bool,
    ) -> Result<(), ConnectionError> {
        let Self {
            hpack_decoder,
            scratch,
            carry_len,
            streams,
            header_bytes,
            ..
        } = self;
        let scratch = scratch.as_mut();
        let (carry, strings) = scratch.split_at_mut(scratch.len() / 2);
        let mut target = match partial.refusal {
            None => streams
                .as_mut_slice()
                .iter_mut()
                .find(|s| s.id == partial.stream),
            Some(_) => None,
        };
        // Stored fields count against the connection as they are stored.
        let before = target.as_ref().map_or(0, |s| s.headers.len());
        let result = (|| loop {
            let input = &carry[..*carry_len];
            let used = hpack_decoder.decode_part(input, last, strings, |field: Header<'_>| {
                store_field(partial, target.as_deref_mut(), field);
                Ok::<(), HpackError>(())
            });
            let used = match used {
                Ok(0) if !last && *carry_len == carry.len() => {
                    // One representation fills the carry: skip it if the
                    // table does not need it (the list is then refused).
                    hpack_decoder.skip_oversized(input).map_err(hpack_failure)?
                }
                Ok(used) => used,
                Err(e) => return Err(hpack_failure(e)),
            };
            carry.copy_within(used..*carry_len, 0);
            *carry_len -= used;
            if used == 0 || *carry_len == 0 {
                return Ok(());
            }
        })();
        let after = target.as_ref().map_or(0, |s| s.headers.len());
        *header_bytes += after - before;
        result
    }

    /// The header block is complete.
    fn on_block_end(&mut self) -> Result<(), ConnectionError> {
        let Some(mut partial) = self.partial else {
            return Ok(());
        };
        self.decode_carry(&mut partial, true)?;
        self.partial = None;
        self.carry_len = 0;
        self.timers.clear(Timer::HeaderBlock);
        let id = partial.stream;
        let ended = self.hpack_decoder.end_block();
        match ended {
            Ok(()) => {}
            // The context survived; only this stream's list is refused (§10.5.1).
            Err(HpackError::HeaderListTooLarge) => partial.malformed = true,
            Err(e) => return Err(hpack_failure(e)),
        }
        if let Some(code) = partial.refusal {
            // A stream error costs from the futile budget itself.
            return match code {
                Some(code) => self.stream_error(id, code),
                None => self.flood.count(Flood::Futile, self.now, &self.config),
            };
        }
        let Some(s) = self.stream_mut(id) else {
            return Ok(());
        };
        s.headers_done = true;
        s.pending |= if partial.trailers {
            PENDING_TRAILERS
        } else {
            PENDING_HEADERS
        };
        if partial.over_budget || partial.malformed {
            // Keep only what was there, and no spare capacity: a refused
            // block must not leave its memory behind.
            let dropped = s.headers.len() - partial.start;
            s.headers.truncate(partial.start);
            s.headers.shrink_to_fit();
            if partial.trailers {
                s.trailers_at = None;
            }
            // §5.1.2: over budget is not processed, so the client may retry
            // when we hold less; a malformed list is the peer's error (§8.2).
            let code = if partial.over_budget {
                ErrorCode::RefusedStream
            } else {
                ErrorCode::ProtocolError
            };
            self.header_bytes -= dropped;
            return self.stream_error(id, code);
        }
        if partial.end_stream {
            if let Some(stream) = self.stream_mut(id) {
                stream.state = stream.state.remote_end();
                stream.pending |= PENDING_END;
            }
        }
        self.maybe_finish_closing();
        Ok(())
    }

    /// Decides about a HEADERS frame that opens a stream. `Ok(false)`: the
    /// block is decoded and dropped (the stream is refused or ignored).
    fn accept_new_stream(&mut self, id: u32) -> Result<bool, ConnectionError> {
        let ours = (id % 2 == 1) == (self.role == Role::Client);
        let seen = if ours {
            id < self.next_stream_id
        } else {
            id <= self.last_peer_stream
        };
        if seen {
            // A stream we closed and forgot: the peer may not have seen our
            // reset yet (§5.1, "closed"), so this is not worth the connection.
            self.queue_control(Control::Reset(id, ErrorCode::StreamClosed))?;
            return Ok(false);
        }
        if self.role == Role::Client || ours {
            // §5.1.1: servers only open streams by push, which we disable;
            // clients only open odd ones.
            return Err(conn_err(
                ErrorCode::ProtocolError,
                "HEADERS on an idle stream",
            ));
        }
        self.last_peer_stream = id;
        if self.phase != Phase::Open {
            // §6.8: after our GOAWAY, new streams are ignored.
            return Ok(false);
        }
        let limit = self.config.max_concurrent_streams as usize;
        let stream = Stream::new(
            id,
            self.peer.initial_window_size,
            self.config.initial_window_size,
        );
        if self.active_streams() >= limit || self.streams.try_push(stream).is_err() {
            // §5.1.2: REFUSED_STREAM tells the client it may retry elsewhere.
            self.queue_control(Control::Reset(id, ErrorCode::RefusedStream))?;
            return Ok(false);
        }
        Ok(true)
    }

    /// A DATA frame starts: flow control counts all of it now (§6.9), and
    /// where its bytes go is decided.
    fn on_data_begin(&mut self, f: StreamedFrame) -> Result<(), ConnectionError> {
        let (id, flow_len, data_len) = (f.stream_id, f.flow_len, f.content_len);
        self.data_route = DataRoute::Drop;
        // §6.9: DATA counts against the connection window whatever its stream.
        if !self.conn_recv_window.receive(flow_len) {
            return Err(conn_err(
                ErrorCode::FlowControlError,
                "DATA exceeds the connection flow-control window",
            ));
        }
        self.check_not_idle(id)?;
        // Window comes back as the application consumes what was stored;
        // padding and dropped bytes are never stored, so theirs comes back now.
        let padding = flow_len - data_len;
        self.conn_recv_window.release(padding);
        let Some(stream) = self.stream_mut(id) else {
            // A stream we closed and forgot. The peer may not have seen our
            // END_STREAM or reset yet (§5.1, "closed"): the data is dropped
            // without another reset, so a late body cannot make us queue frames.
            self.conn_recv_window.release(data_len);
            return Ok(());
        };
        let violation = if !stream.state.remote_open() {
            Some(ErrorCode::StreamClosed)
        } else if !stream.headers_done {
            // §8.1: a message starts with HEADERS.
            Some(ErrorCode::ProtocolError)
        } else {
            (!stream.recv_window.receive(flow_len)).then_some(ErrorCode::FlowControlError)
        };
        if let Some(code) = violation {
            self.conn_recv_window.release(data_len);
            return self.stream_error(id, code);
        }
        stream.recv_window.release(padding);
        if stream.body_limit.is_none() {
            stream.pending |= PENDING_DATA;
        }
        self.data_route = DataRoute::Store(id);
        Ok(())
    }

    /// Bytes of the current DATA frame, stored in its stream's body as they
    /// arrive, within the stream's, the connection's and the process's limits.
    fn on_data_chunk(&mut self, data: &[u8]) {
        let DataRoute::Store(id) = self.data_route else {
            return;
        };
        let max_body = self.config.max_body_size;
        let max_conn_body = self.config.max_connection_body_size.max(max_body);
        // By index: the stream is borrowed beside the connection's counters.
        let Some(stream) = self
            .index_of(id)
            .and_then(|i| self.streams.as_mut_slice().get_mut(i))
        else {
            return;
        };
        let n = data.len() as u32;
        let mut stored = false;
        // A released stream (answered while the peer still sends) has
        // nobody to read its bytes: they are dropped below.
        if stream.body_limit.is_none() && !stream.released {
            let limit = if stream.body.len() + data.len() > max_body {
                Some(BodyLimit::Stream)
            } else if self.body_bytes + data.len() > max_conn_body {
                Some(BodyLimit::Connection)
            } else if !self
                .config
                .body_budget
                .is_none_or(|b| b.try_take(data.len()))
            {
                Some(BodyLimit::Process)
            } else if stream.body.try_extend(data).is_err() {
                if let Some(budget) = self.config.body_budget {
                    budget.give(data.len());
                }
                Some(BodyLimit::Stream)
            } else {
                None
            };
            match limit {
                None => {
                    stream.recv_window.hold(n);
                    self.body_bytes += data.len();
                    stored = true;
                }
                // Keep the stream so the application can answer with a status.
                Some(limit) => stream.body_limit = Some(limit),
            }
            stream.pending |= PENDING_DATA;
        }
        if !stored {
            // Dropped bytes never wait for the application: the peer may
            // finish its message (and learn the outcome) while we discard it.
            self.conn_recv_window.release(n);
            stream.recv_window.release(n);
        }
    }

    /// The DATA frame is complete: END_STREAM takes effect.
    fn on_data_end(&mut self, end_stream: bool) {
        let DataRoute::Store(id) = core::mem::replace(&mut self.data_route, DataRoute::Drop) else {
            return;
        };
        if end_stream {
            if let Some(stream) = self.stream_mut(id) {
                stream.state = stream.state.remote_end();
                stream.pending |= PENDING_END;
            }
        }
        self.maybe_finish_closing();
    }

    fn on_window_update(&mut self, id: u32, increment: u32) -> Result<(), ConnectionError> {
        if id == 0 {
            if self.conn_send_window.adjust(i64::from(increment)).is_err() {
                return Err(conn_err(
                    ErrorCode::FlowControlError,
                    "connection window above 2^31-1",
                ));
            }
            return Ok(());
        }
        self.check_not_idle(id)?;
        let stream = self.stream_mut(id).filter(|s| !s.state.is_closed());
        let Some(stream) = stream else {
            // §6.9: WINDOW_UPDATE may arrive for a closed stream; it changes
            // nothing, so it costs from the futile budget.
            return self.flood.count(Flood::Futile, self.now, &self.config);
        };
        if stream.send_window.adjust(i64::from(increment)).is_err() {
            return self.stream_error(id, ErrorCode::FlowControlError);
        }
        Ok(())
    }

    fn on_goaway(&mut self, last_stream_id: u32, code: ErrorCode, debug: &[u8]) {
        self.goaway_received = Some((last_stream_id, code));
        let _ = self.conn_events.push_back(Event::GoAway {
            last_stream_id,
            code,
            debug: GoAwayDebug::new(debug),
        });
        let role = self.role;
        for stream in self.streams.as_mut_slice() {
            let ours = (stream.id % 2 == 1) == (role == Role::Client);
            // §6.8: not processed, so safe to retry on a new connection.
            if ours && stream.id > last_stream_id && stream.close(CloseCause::NotProcessed) {
                stream.pending |= PENDING_RESET;
            }
        }
        if self.phase == Phase::Open || self.phase == Phase::AwaitSettings {
            self.phase = Phase::Closing;
        }
        self.maybe_finish_closing();
    }

    /// §5.1: frames other than HEADERS/PRIORITY on an idle stream are a connection error.
    fn check_not_idle(&self, id: u32) -> Result<(), ConnectionError> {
        let ours = (id % 2 == 1) == (self.role == Role::Client);
        let idle = if ours {
            id >= self.next_stream_id
        } else {
            id > self.last_peer_stream
        };
        if idle {
            return Err(conn_err(
                ErrorCode::ProtocolError,
                "frame on an idle stream",
            ));
        }
        Ok(())
    }

    /// Resets one stream for a violation the peer committed on it (§5.4.2).
    /// Each costs the peer from its futile-frame budget, so violations cannot
    /// fill the stream table faster than the application reaps it.
    pub(super) fn stream_error(&mut self, id: u32, code: ErrorCode) -> Result<(), ConnectionError> {
        self.flood.count(Flood::Futile, self.now, &self.config)?;
        if let Some(stream) = self.stream_mut(id) {
            stream.pending |= PENDING_RESET;
        }
        self.reset_stream(id, CloseCause::ResetLocally(code));
        if self.stream(id).is_none() {
            self.queue_control(Control::Reset(id, code))?;
        }
        self.forget_if_unseen(id);
        Ok(())
    }

    /// Drops a closed stream the peer opened and the application has not
    /// been told of: nobody will poll or release it, and keeping it would let
    /// opens followed by resets fill the table between two polls. Its id
    /// stays below `last_peer_stream`, so later frames find it forgotten.
    fn forget_if_unseen(&mut self, id: u32) {
        let peer_opened = (id % 2 == 1) == (self.role == Role::Server);
        let unseen =
            self.streams.as_slice().iter().position(|s| {
                s.id == id && s.state.is_closed() && s.pending & PENDING_HEADERS != 0
            });
        if let (true, Some(i)) = (peer_opened, unseen) {
            self.remove_stream_at(i);
        }
    }
}

/// A header block could not be decoded: the shared context is lost. A field
/// larger than our buffers that the table needs is our limit, not the
/// peer's fault.
fn hpack_failure(e: HpackError) -> ConnectionError {
    match e {
        HpackError::FieldTooLarge => ConnectionError {
            code: ErrorCode::CompressionError,
            reason: "header field larger than the connection's header scratch",
            fault: Fault::Local,
        },
        e => conn_err(e.error_code(), "header block could not be decoded"),
    }
}

/// One decoded field of the block being received: checked against the
/// rules of RFC 9113 §8.2 and §8.3 that hold for every message, and stored
/// on `target` within the block's budget. Nothing of a block that breaks a
/// rule or the budget is kept (the caller truncates at its end).
fn store_field<H: Buffer, B: Buffer>(
    block: &mut PartialBlock,
    target: Option<&mut Stream<H, B>>,
    field: Header<'_>,
) {
    let (name, value) = (field.name, field.value);
    if name.is_empty() || name.iter().any(u8::is_ascii_uppercase) {
        block.malformed = true;
    }
    if name.first() == Some(&b':') {
        if block.regular_seen || block.trailers {
            block.malformed = true;
        }
    } else {
        block.regular_seen = true;
        if matches!(
            name,
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
        ) || (name == b"te" && value != b"trailers")
        {
            block.malformed = true;
        }
    }
    let Some(s) = target else {
        return;
    };
    if block.over_budget || block.malformed {
        // Nothing of this block is kept; decoding goes on for HPACK.
    } else if s.headers.len() - block.start + header_list::stored_len(name, value) > block.budget {
        block.over_budget = true;
    } else if header_list::push(&mut s.headers, name, value).is_err() {
        block.malformed = true;
    }
}
