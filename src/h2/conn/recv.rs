//! The receive path: frames in, state changes and queued replies out.
//! Each RFC 9113 rule that needs connection state is checked here, once.

use super::guard::Flood;
use super::timers::Timer;
use super::{
    Connection, ConnectionError, Control, Event, GoAwayDebug, PartialBlock, Phase, Role, State,
    Storage, StreamTable,
};
use crate::buf::Buffer;
use crate::h2::frame::{ErrorScope, Frame, SettingId, SettingsFrame};
use crate::h2::header_list;
use crate::h2::hpack::{Decoder, Header, HpackError};
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
            decoder,
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
        while !input.is_empty() {
            let (used, result) = decoder.decode(input);
            input = &input[used..];
            let outcome = match result {
                Ok(Some(frame)) => state.handle_frame(frame),
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
                return Err(e);
            }
            if let Some(size) = state.pending_max_frame_size.take() {
                // Our own SETTINGS carrying it was acknowledged.
                let _ = decoder.set_max_frame_size(size);
            }
        }
        state.note_stream_availability();
        Ok(())
    }
}

impl<S: Storage> State<S> {
    fn handle_frame(&mut self, frame: Frame<'_>) -> Result<(), ConnectionError> {
        if self.phase == Phase::AwaitSettings {
            // RFC 9113 §3.4: the peer's preface ends with a SETTINGS frame.
            match frame {
                Frame::Settings(s) if !s.ack => {
                    self.phase = Phase::Open;
                    self.timers.clear(Timer::Handshake);
                }
                _ => {
                    return Err(conn_err(
                        ErrorCode::ProtocolError,
                        "first frame from the peer was not SETTINGS",
                    ))
                }
            }
        }
        if let Some(partial) = self.partial {
            // §6.10: a header block is contiguous; nothing may interleave.
            match frame {
                Frame::Continuation(c) if c.stream_id == partial.stream => {}
                _ => {
                    return Err(conn_err(
                        ErrorCode::ProtocolError,
                        "expected CONTINUATION of the open header block",
                    ))
                }
            }
        }
        self.count_flood(&frame)?;
        match frame {
            Frame::Settings(s) => self.on_settings(&s),
            Frame::Headers(h) => {
                self.timers.set(
                    Timer::HeaderBlock,
                    self.now + self.config.header_block_timeout,
                );
                self.partial = Some(PartialBlock {
                    stream: h.stream_id,
                    end_stream: h.end_stream,
                    frames: 0,
                });
                self.block_in.clear();
                self.on_fragment(h.fragment, h.end_headers)
            }
            Frame::Continuation(c) => self.on_fragment(c.fragment, c.end_headers),
            Frame::Data(d) => {
                let flow_len = d.data.len() + d.pad_len.map_or(0, |p| usize::from(p) + 1);
                self.on_data(d.stream_id, d.data, flow_len as u32, d.end_stream)
            }
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
            Frame::Priority(_) => Ok(()),
            // We announce ENABLE_PUSH = 0 as a client and servers never receive it (§8.4).
            Frame::PushPromise(_) => Err(conn_err(
                ErrorCode::ProtocolError,
                "PUSH_PROMISE received but push is disabled",
            )),
            // §5.5: unknown frame types are ignored.
            Frame::Unknown { .. } => Ok(()),
        }
    }

    /// Counts the frames that floods are made of (see `guard`).
    fn count_flood(&mut self, frame: &Frame<'_>) -> Result<(), ConnectionError> {
        use super::guard::Flood;
        let kind = match frame {
            Frame::RstStream(_) => Flood::Reset,
            Frame::Ping(p) if !p.ack => Flood::Control,
            Frame::Settings(s) if !s.ack => Flood::Control,
            Frame::Data(d) if d.data.is_empty() && !d.end_stream => Flood::Empty,
            Frame::Headers(h) if h.fragment.is_empty() && !h.end_headers => Flood::Empty,
            Frame::Continuation(c) if c.fragment.is_empty() && !c.end_headers => Flood::Empty,
            Frame::Priority(_) | Frame::Unknown { .. } => Flood::Empty,
            _ => return Ok(()),
        };
        self.flood.count(kind, self.now, &self.config)
    }

    fn on_settings(&mut self, frame: &SettingsFrame<'_>) -> Result<(), ConnectionError> {
        if frame.ack {
            if self.timers.clear(Timer::Settings) {
                self.pending_max_frame_size = Some(self.config.max_frame_size);
            }
            let _ = self.conn_events.push_back(Event::SettingsAcked);
            return Ok(());
        }
        let old_window = self.peer.initial_window_size;
        for setting in frame.iter() {
            self.peer
                .apply(setting)
                .map_err(|e| conn_err(e.error_code(), "invalid SETTINGS value"))?;
            if setting.id == SettingId::HeaderTableSize {
                // Our encoder may use at most what the peer's decoder allows.
                self.hpack_encoder
                    .set_max_table_size((setting.value as usize).min(super::HPACK_TABLE_SIZE));
            }
        }
        // §6.9.2: a new initial window shifts every stream's send window by the difference.
        let delta = i64::from(self.peer.initial_window_size) - i64::from(old_window);
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

    fn on_fragment(&mut self, fragment: &[u8], end_headers: bool) -> Result<(), ConnectionError> {
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
        // The encoded block can never be larger than the decoded list it
        // expands to, so the list limit bounds the buffering too.
        if self.block_in.len() + fragment.len() > self.config.max_header_list_size as usize
            || self.block_in.try_extend(fragment).is_err()
        {
            return Err(conn_err(
                ErrorCode::EnhanceYourCalm,
                "header block larger than SETTINGS_MAX_HEADER_LIST_SIZE",
            ));
        }
        self.partial = Some(partial);
        if end_headers {
            self.partial = None;
            self.timers.clear(Timer::HeaderBlock);
            self.on_header_block(partial.stream, partial.end_stream)?;
        }
        Ok(())
    }

    /// A complete header block arrived on `id`. The block is always
    /// HPACK-decoded, since the compression context is shared by every
    /// stream; it is stored only for a stream that may take it, and one that
    /// may not costs the peer from its futile-frame budget.
    fn on_header_block(&mut self, id: u32, end_stream: bool) -> Result<(), ConnectionError> {
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
            Some(s) if s.trailers_at.is_some() || (s.headers_done && !end_stream) => {
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
        let Self {
            hpack_decoder,
            block_in,
            streams,
            scratch,
            ..
        } = self;
        let target = match refusal {
            None => streams.as_mut_slice().iter_mut().find(|s| s.id == id),
            Some(_) => None,
        };
        let budget = target
            .as_ref()
            .map_or(0, |s| per_stream.saturating_sub(s.headers.len()))
            .min(per_connection);
        let decoded = decode_into(
            hpack_decoder,
            block_in.as_slice(),
            scratch.as_mut(),
            target,
            budget,
        );
        if let Some(code) = refusal {
            if let Err(DecodeFailure::Hpack(code)) = decoded {
                return Err(conn_err(code, "header block could not be decoded"));
            }
            // A stream error costs from the futile budget itself.
            return match code {
                Some(code) => self.stream_error(id, code),
                None => self.flood.count(Flood::Futile, self.now, &self.config),
            };
        }
        match decoded {
            Err(DecodeFailure::Hpack(code)) => {
                return Err(conn_err(code, "header block could not be decoded"))
            }
            Err(DecodeFailure::Malformed) => {
                return self.stream_error(id, ErrorCode::ProtocolError)
            }
            // §5.1.2: not processed, so the client may retry when we hold less.
            Err(DecodeFailure::OverBudget) => {
                return self.stream_error(id, ErrorCode::RefusedStream)
            }
            Ok(stored) => self.header_bytes += stored,
        }
        if end_stream {
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

    fn on_data(
        &mut self,
        id: u32,
        data: &[u8],
        flow_len: u32,
        end_stream: bool,
    ) -> Result<(), ConnectionError> {
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
        let data_len = data.len() as u32;
        let padding = flow_len - data_len;
        self.conn_recv_window.release(padding);
        let max_body = self.config.max_body_size;
        let max_conn_body = self.config.max_connection_body_size.max(max_body);
        let Some(stream) = self.streams.as_mut_slice().iter_mut().find(|s| s.id == id) else {
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
        let mut stored = false;
        if stream.body_limit.is_none() {
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
                    stream.recv_window.hold(data_len);
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
            self.conn_recv_window.release(data_len);
            stream.recv_window.release(data_len);
        }
        if end_stream {
            stream.state = stream.state.remote_end();
            stream.pending |= PENDING_END;
        }
        self.maybe_finish_closing();
        Ok(())
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

enum DecodeFailure {
    /// The block broke HPACK: the shared context is lost.
    Hpack(ErrorCode),
    /// The block decoded but the header list is malformed (§8.2): a stream error.
    Malformed,
    /// The list would pass the stream's or the connection's header budget.
    OverBudget,
}

/// Decodes a header block, storing the fields on `target` if given (at most
/// `budget` bytes; nothing is kept of a block that fails) and checking the
/// rules of RFC 9113 §8.2 and §8.3 that hold for every message. Returns the
/// bytes stored.
fn decode_into<H: Buffer + Default, B: Buffer, const T: usize, const E: usize>(
    decoder: &mut Decoder<T, E>,
    block: &[u8],
    scratch: &mut [u8],
    mut target: Option<&mut Stream<H, B>>,
    budget: usize,
) -> Result<usize, DecodeFailure> {
    let trailers = target.as_ref().is_some_and(|s| s.headers_done);
    let start = target.as_ref().map_or(0, |s| s.headers.len());
    if trailers {
        if let Some(s) = target.as_deref_mut() {
            s.trailers_at = Some(start);
        }
    }
    let mut malformed = false;
    let mut over_budget = false;
    let mut regular_seen = false;
    let result = decoder.decode(block, scratch, |field: Header<'_>| {
        let (name, value) = (field.name, field.value);
        if name.is_empty() || name.iter().any(u8::is_ascii_uppercase) {
            malformed = true;
        }
        if name.first() == Some(&b':') {
            if regular_seen || trailers {
                malformed = true;
            }
        } else {
            regular_seen = true;
            if matches!(
                name,
                b"connection"
                    | b"keep-alive"
                    | b"proxy-connection"
                    | b"transfer-encoding"
                    | b"upgrade"
            ) || (name == b"te" && value != b"trailers")
            {
                malformed = true;
            }
        }
        if let Some(s) = target.as_deref_mut() {
            if over_budget || malformed {
                // Nothing of this block is kept; decoding goes on for HPACK.
            } else if s.headers.len() - start + header_list::stored_len(name, value) > budget {
                over_budget = true;
            } else if header_list::push(&mut s.headers, name, value).is_err() {
                malformed = true;
            }
        }
        Ok::<(), HpackError>(())
    });
    match result {
        Ok(()) => {}
        // The context survived; only this stream's list is refused (§10.5.1).
        Err(HpackError::HeaderListTooLarge) => malformed = true,
        Err(e) => return Err(DecodeFailure::Hpack(e.error_code())),
    }
    let Some(s) = target else {
        return Ok(0);
    };
    s.headers_done = true;
    s.pending |= if trailers {
        PENDING_TRAILERS
    } else {
        PENDING_HEADERS
    };
    if over_budget || malformed {
        // Keep only what was there, in a buffer no larger than that: a
        // refused block must not leave its memory behind.
        let mut kept = H::default();
        let _ = kept.try_extend(&s.headers.as_slice()[..start]);
        s.headers = kept;
        if trailers {
            s.trailers_at = None;
        }
        return Err(if over_budget {
            DecodeFailure::OverBudget
        } else {
            DecodeFailure::Malformed
        });
    }
    Ok(s.headers.len() - start)
}
