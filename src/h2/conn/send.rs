//! The send path: queued control frames, window updates and stream items
//! turned into frames in the caller's buffer.

use super::timers::Timer;
use super::{Connection, Control, ControlQueue, Phase, Role, State, Storage, StreamTable};
use crate::h2::flow::SendWindow;
use crate::h2::frame::{
    self, Continuation, Data, Flags, FrameHeader, FrameKind, GoAway, Headers, Ping, RstStream,
    Setting, SettingId, WindowUpdate, FRAME_HEADER_LEN, PREFACE,
};
use crate::h2::header_list::HeaderIter;
use crate::h2::hpack::Header;
use crate::h2::stream::{Stream, ITEM_DATA, ITEM_END_STREAM, ITEM_HEADERS};
use crate::h2::ErrorCode;

/// The smallest `out` that [`Connection::transmit`] always makes progress with:
/// a frame header plus the largest frame the peer may accept by default.
pub const MIN_TRANSMIT_BUFFER: usize = FRAME_HEADER_LEN + 16_384;

impl<S: Storage> Connection<S> {
    /// Writes frames that are ready into `out` and returns the bytes written;
    /// 0 means nothing is ready. Give it at least [`MIN_TRANSMIT_BUFFER`] bytes.
    pub fn transmit(&mut self, out: &mut [u8]) -> usize {
        let n = self.state.transmit(out);
        // Sending can finish streams (and reap released ones).
        self.state.note_stream_availability();
        n
    }

    /// Whether [`transmit`](Self::transmit) has something to write.
    pub fn wants_transmit(&self) -> bool {
        self.state.wants_transmit()
    }
}

impl<S: Storage> State<S> {
    fn transmit(&mut self, out: &mut [u8]) -> usize {
        if self.phase == Phase::Closed {
            return 0;
        }
        let mut n = 0;
        if !self.preface_sent {
            match self.write_preface(out) {
                Some(len) => n += len,
                None => return 0,
            }
        }
        n += self.flush_block(&mut out[n..]);
        if self.block_out_state.is_some() {
            return n;
        }
        n += self.write_control(&mut out[n..]);
        if self.close_code.is_some() {
            if self.control.is_empty() {
                // The GOAWAY carrying the error is out: nothing more is sent.
                self.phase = Phase::Closed;
            }
            return n;
        }
        n += self.write_window_updates(&mut out[n..]);
        n += self.write_streams(&mut out[n..]);
        self.reap();
        n
    }

    fn wants_transmit(&self) -> bool {
        if self.phase == Phase::Closed {
            return false;
        }
        !self.preface_sent
            || self.block_out_state.is_some()
            || !self.control.is_empty()
            || self.conn_update_due().is_some()
            || self.streams.as_slice().iter().any(|s| {
                (s.state.remote_open() && self.stream_update_due(s).is_some())
                    || (!s.send_idle() && self.sendable_now(&s.send_window, s.next_item()))
            })
    }

    fn conn_update_due(&self) -> Option<u32> {
        self.conn_recv_window
            .update_due(self.config.connection_window_size / 2)
    }

    fn stream_update_due(&self, stream: &Stream<S::Headers, S::Body>) -> Option<u32> {
        stream
            .recv_window
            .update_due(self.config.initial_window_size / 2)
    }

    fn sendable_now(&self, window: &SendWindow, item: Option<(u8, &[u8])>) -> bool {
        match item {
            Some((tag, data)) if tag & !ITEM_END_STREAM == ITEM_DATA => {
                data.is_empty() || (window.is_open() && self.conn_send_window.is_open())
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Client preface (if client), our SETTINGS, and the connection window raise.
    fn write_preface(&mut self, out: &mut [u8]) -> Option<usize> {
        let mut settings = [Setting::new(SettingId::EnablePush, 0); 6];
        settings[1] = Setting::new(
            SettingId::MaxConcurrentStreams,
            self.config.max_concurrent_streams,
        );
        settings[2] = Setting::new(
            SettingId::InitialWindowSize,
            self.config.initial_window_size,
        );
        settings[3] = Setting::new(SettingId::MaxFrameSize, self.config.max_frame_size);
        settings[4] = Setting::new(
            SettingId::MaxHeaderListSize,
            self.config.max_header_list_size,
        );
        // A decoder table smaller than HTTP/2's 4096 bytes is announced
        // (RFC 7541 §4.2); the peer must signal the change before it uses it.
        let table = self.hpack_decoder.table().capacity();
        let mut count = 5;
        if table < crate::h2::hpack::DEFAULT_TABLE_SIZE {
            settings[5] = Setting::new(SettingId::HeaderTableSize, table as u32);
            count = 6;
        }
        // ENABLE_PUSH is a client's setting only (§6.5.2); a server must not send it.
        let list = if self.role == Role::Client {
            &settings[..count]
        } else {
            &settings[1..count]
        };
        let mut n = 0;
        if self.role == Role::Client {
            out.get_mut(..PREFACE.len())?.copy_from_slice(PREFACE);
            n += PREFACE.len();
        }
        n += frame::emit_settings(list, out.get_mut(n..)?).ok()?;
        let raise = self.config.connection_window_size.saturating_sub(65_535);
        if raise > 0 {
            n += WindowUpdate::new(0, raise).emit(out.get_mut(n..)?).ok()?;
            self.conn_recv_window.granted(raise);
        }
        self.preface_sent = true;
        self.timers
            .set(Timer::Settings, self.now + self.config.settings_timeout);
        Some(n)
    }

    fn write_control(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        while let Some(&c) = self.control.front() {
            let written = match c {
                Control::SettingsAck => frame::emit_settings_ack(&mut out[n..]),
                Control::PingAck(data) => Ping { ack: true, data }.emit(&mut out[n..]),
                Control::Ping(data) => Ping { ack: false, data }.emit(&mut out[n..]),
                Control::Reset(id, code) => RstStream::new(id, code).emit(&mut out[n..]),
                Control::GoAway(last, code) => GoAway::new(last, code, &[]).emit(&mut out[n..]),
            };
            match written {
                Ok(len) => n += len,
                Err(_) => break,
            }
            self.control.pop_front();
        }
        n
    }

    /// Grants the peer more window once half of it is used: batched, not one
    /// WINDOW_UPDATE per DATA frame.
    fn write_window_updates(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        if let Some(increment) = self.conn_update_due() {
            match WindowUpdate::new(0, increment).emit(&mut out[n..]) {
                Ok(len) => {
                    n += len;
                    self.conn_recv_window.granted(increment);
                }
                Err(_) => return n,
            }
        }
        let threshold = self.config.initial_window_size / 2;
        for stream in self.streams.as_mut_slice() {
            let due = stream.recv_window.update_due(threshold);
            let Some(increment) = due.filter(|_| stream.state.remote_open()) else {
                continue;
            };
            match WindowUpdate::new(stream.id, increment).emit(&mut out[n..]) {
                Ok(len) => {
                    n += len;
                    stream.recv_window.granted(increment);
                }
                Err(_) => break,
            }
        }
        n
    }

    /// One frame per stream per round, round-robin, until nothing more fits or is ready.
    fn write_streams(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        loop {
            let count = self.streams.as_slice().len();
            let mut progressed = false;
            for k in 0..count {
                let i = (self.next_send + k) % count;
                let written = self.write_stream_frame(i, &mut out[n..]);
                if written > 0 {
                    n += written;
                    progressed = true;
                }
                if self.block_out_state.is_some() {
                    // A header block must finish before any other frame (§6.10).
                    self.next_send = (i + 1) % count.max(1);
                    return n;
                }
            }
            if count > 0 {
                self.next_send = (self.next_send + 1) % count;
            }
            if !progressed {
                return n;
            }
        }
    }

    /// Whether stream `i` may write its next item now. A client's new stream
    /// must not open on the wire before a lower-numbered one that still waits
    /// to send its first HEADERS: opening a higher id implicitly closes every
    /// idle lower one (RFC 9113 §5.1.1), and the peer would reset it with
    /// STREAM_CLOSED. The stream table is not kept in id order, so the
    /// round-robin alone does not guarantee this.
    fn opens_in_order(&self, i: usize) -> bool {
        if self.role != Role::Client {
            return true;
        }
        let streams = self.streams.as_slice();
        let Some(stream) = streams.get(i) else {
            return true;
        };
        let (id, opened) = (stream.id, self.opened_on_wire);
        let waits_to_open = |s: &crate::h2::stream::Stream<_, _>| {
            s.id > opened
                && matches!(s.next_item(), Some((tag, _)) if tag & !ITEM_END_STREAM == ITEM_HEADERS)
        };
        id <= opened || !streams.iter().any(|s| s.id < id && waits_to_open(s))
    }

    /// Writes the next frame of stream `i`, if one is ready and fits.
    fn write_stream_frame(&mut self, i: usize, out: &mut [u8]) -> usize {
        if !self.opens_in_order(i) {
            return 0;
        }
        let max_frame = self.peer.max_frame_size as usize;
        let conn_window = self.conn_send_window.available();
        let Some(stream) = self.streams.as_mut_slice().get_mut(i) else {
            return 0;
        };
        let Some((tag, payload)) = stream.next_item() else {
            return 0;
        };
        let id = stream.id;
        let end_stream = tag & ITEM_END_STREAM != 0;
        let payload_len = payload.len();
        if tag & !ITEM_END_STREAM == ITEM_HEADERS {
            if out.len() < FRAME_HEADER_LEN + 1 {
                return 0;
            }
            // Encode now, not when queued: HPACK state must follow wire order.
            let fields = HeaderIter::new(payload).map(|(name, value)| header(name, value));
            if self.hpack_encoder.is_stateless() {
                // Nothing changes by encoding: straight into `out`, or
                // again next time if it does not fit.
                let written = match self
                    .hpack_encoder
                    .encode(fields, &mut out[FRAME_HEADER_LEN..])
                {
                    Ok(len) => split_block(out, len, id, end_stream, max_frame),
                    Err(_) => None,
                };
                let Some(written) = written else {
                    if out.len() >= MIN_TRANSMIT_BUFFER {
                        // It will never fit: the list is larger than a frame's worth.
                        self.reset_stream(
                            id,
                            crate::h2::stream::CloseCause::ResetLocally(ErrorCode::InternalError),
                        );
                    }
                    return 0;
                };
                let stream = &mut self.streams.as_mut_slice()[i];
                stream.finish_item(payload_len);
                if end_stream {
                    stream.state = stream.state.local_end();
                }
                if self.role == Role::Client {
                    self.opened_on_wire = self.opened_on_wire.max(id);
                }
                return written;
            }
            let encoded = self.hpack_encoder.encode(fields, self.block_out.as_mut());
            let stream = &mut self.streams.as_mut_slice()[i];
            stream.finish_item(payload_len);
            match encoded {
                Ok(len) => {
                    if end_stream {
                        stream.state = stream.state.local_end();
                    }
                    if self.role == Role::Client {
                        self.opened_on_wire = self.opened_on_wire.max(id);
                    }
                    self.block_out_len = len;
                    self.block_out_state = Some((id, end_stream, 0));
                    self.flush_block(out)
                }
                Err(_) => {
                    self.reset_stream(
                        id,
                        crate::h2::stream::CloseCause::ResetLocally(ErrorCode::InternalError),
                    );
                    0
                }
            }
        } else {
            let sent = stream.item_sent;
            let remaining = payload_len - sent;
            let window = stream.send_window.available().min(conn_window);
            let room = out.len().saturating_sub(FRAME_HEADER_LEN);
            let len = remaining.min(window).min(max_frame).min(room);
            if len == 0 && (remaining > 0 || out.len() < FRAME_HEADER_LEN) {
                if window == 0 && self.role == Role::Server {
                    // Waiting on the peer's window: the stall defence starts
                    // counting. A server's answers are the peer's to read; a
                    // client's request waits for a server that may take its
                    // time (a large upload queued behind busy workers), and
                    // the call's deadline bounds that wait instead.
                    stream.timers.blocked_since.get_or_insert(self.now);
                }
                return 0;
            }
            let last = len == remaining;
            let chunk = &payload[sent..sent + len];
            let frame = Data::new(id, chunk, end_stream && last);
            let Ok(written) = frame.emit(out) else {
                return 0;
            };
            stream.timers.blocked_since = None;
            stream.send_window.spend(len);
            stream.item_sent += len;
            if last {
                stream.finish_item(payload_len);
                if end_stream {
                    stream.state = stream.state.local_end();
                }
            }
            self.conn_send_window.spend(len);
            written
        }
    }

    /// Writes as much of the pending encoded header block as fits, as one
    /// HEADERS frame followed by CONTINUATION frames.
    pub(super) fn flush_block(&mut self, out: &mut [u8]) -> usize {
        let Some((id, end_stream, mut sent)) = self.block_out_state else {
            return 0;
        };
        let max_frame = self.peer.max_frame_size as usize;
        let block = &self.block_out.as_ref()[..self.block_out_len];
        let mut n = 0;
        loop {
            let room = out.len().saturating_sub(n + FRAME_HEADER_LEN);
            let len = (block.len() - sent).min(max_frame).min(room);
            let first = sent == 0;
            if len == 0 && !(first && block.is_empty() && room > 0) {
                break;
            }
            let fragment = &block[sent..sent + len];
            let end_headers = sent + len == block.len();
            let result = if first {
                Headers::new(id, fragment, end_stream, end_headers).emit(&mut out[n..])
            } else {
                Continuation {
                    stream_id: id,
                    end_headers,
                    fragment,
                }
                .emit(&mut out[n..])
            };
            let Ok(written) = result else { break };
            n += written;
            sent += len;
            if end_headers {
                self.block_out_state = None;
                return n;
            }
        }
        self.block_out_state = Some((id, end_stream, sent));
        n
    }
}

/// Turns an encoded block of `len` bytes at `out[9..]` into a HEADERS frame
/// and as many CONTINUATION frames as `max_frame` requires, in place;
/// returns the bytes written, or `None` when `out` cannot hold them.
fn split_block(
    out: &mut [u8],
    len: usize,
    id: u32,
    end_stream: bool,
    max_frame: usize,
) -> Option<usize> {
    let max_frame = max_frame.max(1);
    let frames = len.div_ceil(max_frame).max(1);
    let total = len + frames * FRAME_HEADER_LEN;
    if total > out.len() {
        return None;
    }
    // Move each later fragment right to make room for its frame header,
    // the last first so nothing is overwritten before it moves.
    for k in (1..frames).rev() {
        let from = FRAME_HEADER_LEN + k * max_frame;
        let to = from + k * FRAME_HEADER_LEN;
        let n = max_frame.min(len - k * max_frame);
        out.copy_within(from..from + n, to);
    }
    for k in 0..frames {
        let n = max_frame.min(len - k * max_frame);
        let last = k + 1 == frames;
        let (kind, flags) = if k == 0 {
            let end = if end_stream { Flags::END_STREAM } else { 0 };
            (FrameKind::Headers, end)
        } else {
            (FrameKind::Continuation, 0)
        };
        let head = FrameHeader {
            length: n as u32,
            kind,
            flags: Flags(flags | if last { Flags::END_HEADERS } else { 0 }),
            stream_id: id,
        };
        let at = k * (max_frame + FRAME_HEADER_LEN);
        out[at..at + FRAME_HEADER_LEN].copy_from_slice(&head.to_bytes());
    }
    Some(total)
}

fn header<'a>(name: &'a [u8], value: &'a [u8]) -> Header<'a> {
    // Credentials stay out of both compression contexts (RFC 7541 §7.1.3).
    if matches!(name, b"authorization" | b"proxy-authorization") {
        Header::new_sensitive(name, value)
    } else {
        Header::new(name, value)
    }
}
