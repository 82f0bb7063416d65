//! Streaming decoding: frames read as they arrive, no payload ever buffered
//! whole, so a connection needs no frame-sized buffer however large the
//! peer's frames (up to our SETTINGS_MAX_FRAME_SIZE) are.
//!
//! DATA, HEADERS and CONTINUATION come out as a [`Piece::Begin`] (the frame
//! header and its fixed fields, checked), their content in as many
//! [`Piece::Content`] slices as the input arrives in (padding removed,
//! borrowed from the input), and a [`Piece::End`]. SETTINGS comes out as a
//! begin, one [`Piece::Setting`] per entry, and an end. Every other frame
//! is small and comes out whole as [`Piece::Frame`], checked by
//! [`Frame::parse`]; a GOAWAY keeps the first
//! [`GOAWAY_DEBUG_KEPT`] bytes of its debug data and an unknown frame none of
//! its payload.

use super::error::FrameError;
use super::header::{Flags, FrameHeader, FrameKind};
use super::headers::Priority;
use super::settings::{Setting, SettingId};
use super::{Frame, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN, MAX_MAX_FRAME_SIZE};

/// Bytes of a GOAWAY's debug data [`FrameReader`] keeps.
pub const GOAWAY_DEBUG_KEPT: usize = 64;

/// The payload kept of a small frame: a GOAWAY's 8 fixed bytes and its kept
/// debug data (every other small frame is shorter).
const SMALL: usize = 8 + GOAWAY_DEBUG_KEPT;

/// A DATA, HEADERS, CONTINUATION or SETTINGS frame whose payload streams by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamedFrame {
    /// DATA, HEADERS, CONTINUATION or SETTINGS.
    pub kind: FrameKind,
    /// The stream (0 for SETTINGS).
    pub stream_id: u32,
    /// END_STREAM (DATA, HEADERS).
    pub end_stream: bool,
    /// END_HEADERS (HEADERS, CONTINUATION).
    pub end_headers: bool,
    /// ACK (SETTINGS).
    pub ack: bool,
    /// HEADERS' priority fields, if present.
    pub priority: Option<Priority>,
    /// The whole payload's length, padding included: what flow control
    /// counts (RFC 9113 §6.9).
    pub flow_len: u32,
    /// The content's length: what the [`Piece::Content`] slices add up to.
    pub content_len: u32,
}

/// One step of a frame, as [`FrameReader::read`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A whole small frame (PRIORITY, RST_STREAM, PING, GOAWAY,
    /// WINDOW_UPDATE, PUSH_PROMISE without its block, an unknown type).
    Frame(Frame<'a>),
    /// A streamed frame starts; its header and fixed fields are checked.
    Begin(StreamedFrame),
    /// Content of the streamed frame: DATA's data or a header block fragment.
    Content(&'a [u8]),
    /// One entry of the SETTINGS frame begun.
    Setting(Setting),
    /// The streamed frame is complete.
    End(StreamedFrame),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Reading a frame header.
    Header,
    /// Keeping a small frame's payload (up to [`SMALL`] bytes).
    Small,
    /// Reading a streamed frame's pad length and priority fields.
    Head(usize),
    /// Passing content through until the payload offset reaches the end.
    Content(usize),
    /// Dropping padding until the payload ends.
    Padding,
    /// Reading SETTINGS entries.
    Settings,
    /// Dropping the rest of the payload (`true`: report an unknown frame after).
    Skip(bool),
}

/// Reads frames from a byte stream without buffering payloads; see the
/// module documentation. Holds about a hundred bytes whatever the frame size.
#[derive(Clone, Debug)]
pub struct FrameReader {
    max_frame_size: u32,
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    /// Payload bytes read of the current frame.
    pos: usize,
    mode: Mode,
    small: [u8; SMALL],
    small_len: usize,
    current: StreamedFrame,
    /// Set by a connection error: the stream is no longer framed.
    failed: Option<FrameError>,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// A reader with the RFC's initial SETTINGS_MAX_FRAME_SIZE of 16384.
    pub const fn new() -> Self {
        FrameReader {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            pos: 0,
            mode: Mode::Header,
            small: [0; SMALL],
            small_len: 0,
            current: StreamedFrame {
                kind: FrameKind::Data,
                stream_id: 0,
                end_stream: false,
                end_headers: false,
                ack: false,
                priority: None,
                flow_len: 0,
                content_len: 0,
            },
            failed: None,
        }
    }

    /// Our SETTINGS_MAX_FRAME_SIZE: larger frames are refused.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Changes the limit (once the peer has acknowledged our SETTINGS
    /// carrying it); refuses values outside RFC 9113 §6.5.2's range.
    pub fn set_max_frame_size(&mut self, size: u32) -> Result<(), super::ConfigError> {
        if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&size) {
            return Err(super::ConfigError::MaxFrameSizeOutOfRange(size));
        }
        self.max_frame_size = size;
        Ok(())
    }

    /// True between frames.
    pub fn is_at_boundary(&self) -> bool {
        self.mode == Mode::Header && self.header_len == 0
    }

    /// Reads at most one piece from the front of `input`.
    ///
    /// Returns the number of bytes taken and:
    /// - `Ok(Some(piece))`: call again with the rest of the input (even an
    ///   empty rest: a frame may end without more bytes);
    /// - `Ok(None)`: all of `input` was taken; wait for more bytes;
    /// - `Err(e)` with a stream scope: the frame is being skipped and reading
    ///   can go on;
    /// - `Err(e)` with connection scope: every later call returns it again.
    ///
    /// A frame larger than `max_frame_size` is refused as soon as its header
    /// is seen (RFC 9113 §4.2).
    pub fn read<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> (usize, Result<Option<Piece<'a>>, FrameError>) {
        if let Some(e) = self.failed {
            return (0, Err(e));
        }
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or_default();
            let length = FrameHeader::parse(&self.header).length as usize;
            match self.mode {
                Mode::Header => {
                    let n = (FRAME_HEADER_LEN - self.header_len).min(rest.len());
                    self.header[self.header_len..self.header_len + n].copy_from_slice(&rest[..n]);
                    self.header_len += n;
                    used += n;
                    if self.header_len < FRAME_HEADER_LEN {
                        return (used, Ok(None));
                    }
                    self.header_len = 0;
                    self.pos = 0;
                    self.small_len = 0;
                    match self.start_frame() {
                        Ok(Some(frame)) => return (used, Ok(Some(Piece::Begin(frame)))),
                        Ok(None) => {}
                        Err(e) if e.is_connection_error() => return (used, Err(self.fail(e))),
                        // A stream error: the frame is skipped and reading goes on.
                        Err(e) => return (used, Err(e)),
                    }
                }
                Mode::Small => {
                    let keep = (SMALL - self.small_len)
                        .min(length - self.pos)
                        .min(rest.len());
                    self.small[self.small_len..self.small_len + keep]
                        .copy_from_slice(&rest[..keep]);
                    self.small_len += keep;
                    // A GOAWAY's debug data past what is kept is dropped.
                    let drop = (length - self.pos - keep).min(rest.len() - keep);
                    self.pos += keep + drop;
                    used += keep + drop;
                    if self.pos < length {
                        return (used, Ok(None));
                    }
                    self.mode = Mode::Header;
                    let h = FrameHeader::parse(&self.header);
                    let payload = &self.small[..self.small_len];
                    return match Frame::parse(&h, payload) {
                        Ok(frame) => (used, Ok(Some(Piece::Frame(frame)))),
                        Err(e) if e.is_connection_error() => {
                            self.failed = Some(e);
                            (used, Err(e))
                        }
                        Err(e) => (used, Err(e)),
                    };
                }
                Mode::Head(head_len) => {
                    let n = (head_len - self.small_len).min(rest.len());
                    self.small[self.small_len..self.small_len + n].copy_from_slice(&rest[..n]);
                    self.small_len += n;
                    self.pos += n;
                    used += n;
                    if self.small_len < head_len {
                        return (used, Ok(None));
                    }
                    match self.finish_head(head_len, length) {
                        Ok(frame) => return (used, Ok(Some(Piece::Begin(frame)))),
                        Err(e) if e.is_connection_error() => return (used, Err(self.fail(e))),
                        Err(e) => {
                            self.mode = Mode::Skip(false);
                            return (used, Err(e));
                        }
                    }
                }
                Mode::Content(end) => {
                    if self.pos >= end {
                        self.mode = Mode::Padding;
                        continue;
                    }
                    let n = (end - self.pos).min(rest.len());
                    if n == 0 {
                        return (used, Ok(None));
                    }
                    self.pos += n;
                    used += n;
                    return (used, Ok(Some(Piece::Content(&rest[..n]))));
                }
                Mode::Padding => {
                    let n = (length - self.pos).min(rest.len());
                    self.pos += n;
                    used += n;
                    if self.pos < length {
                        return (used, Ok(None));
                    }
                    self.mode = Mode::Header;
                    return (used, Ok(Some(Piece::End(self.current))));
                }
                Mode::Settings => {
                    if self.pos >= length {
                        self.mode = Mode::Header;
                        return (used, Ok(Some(Piece::End(self.current))));
                    }
                    let n = (6 - self.small_len).min(rest.len());
                    self.small[self.small_len..self.small_len + n].copy_from_slice(&rest[..n]);
                    self.small_len += n;
                    self.pos += n;
                    used += n;
                    if self.small_len < 6 {
                        return (used, Ok(None));
                    }
                    self.small_len = 0;
                    let b = &self.small;
                    let setting = Setting {
                        id: SettingId::from_u16(u16::from_be_bytes([b[0], b[1]])),
                        value: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
                    };
                    return (used, Ok(Some(Piece::Setting(setting))));
                }
                Mode::Skip(unknown) => {
                    let n = (length - self.pos).min(rest.len());
                    self.pos += n;
                    used += n;
                    if self.pos < length {
                        return (used, Ok(None));
                    }
                    self.mode = Mode::Header;
                    if unknown {
                        let h = FrameHeader::parse(&self.header);
                        let frame = Frame::Unknown {
                            kind: match h.kind {
                                FrameKind::Unknown(k) => k,
                                _ => 0xff,
                            },
                            flags: h.flags.0,
                            stream_id: h.stream_id,
                            payload: &[],
                        };
                        return (used, Ok(Some(Piece::Frame(frame))));
                    }
                }
            }
        }
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.failed = Some(e);
        e
    }

    /// Checks a new frame's header and picks how its payload is read;
    /// returns the frame to report at once, if any.
    fn start_frame(&mut self) -> Result<Option<StreamedFrame>, FrameError> {
        let h = FrameHeader::parse(&self.header);
        if h.length > self.max_frame_size {
            return Err(FrameError::TooLarge {
                length: h.length,
                max: self.max_frame_size,
            });
        }
        let length = h.length as usize;
        let (flags, id) = (h.flags, h.stream_id);
        self.current = StreamedFrame {
            kind: h.kind,
            stream_id: id,
            end_stream: flags.has(Flags::END_STREAM),
            end_headers: flags.has(Flags::END_HEADERS),
            ack: flags.has(Flags::ACK),
            priority: None,
            flow_len: h.length,
            content_len: 0,
        };
        match h.kind {
            FrameKind::Data | FrameKind::Headers | FrameKind::Continuation => {
                // §6.1, §6.2, §6.10: these belong to a stream.
                super::require_stream(h.kind, id)?;
                let padded = h.kind != FrameKind::Continuation && flags.has(Flags::PADDED);
                let prioritized = h.kind == FrameKind::Headers && flags.has(Flags::PRIORITY);
                let head = usize::from(padded) + if prioritized { Priority::LEN } else { 0 };
                if length < head {
                    // §4.2: too small for the mandatory fields.
                    return Err(FrameError::TooShort {
                        kind: h.kind,
                        length,
                    });
                }
                if head == 0 {
                    return self.finish_head(0, length).map(Some);
                }
                self.mode = Mode::Head(head);
                Ok(None)
            }
            FrameKind::Settings => {
                super::require_connection(h.kind, id)?;
                if self.current.ack && length != 0 {
                    return Err(FrameError::SettingsAckWithPayload { length });
                }
                if !length.is_multiple_of(6) {
                    return Err(FrameError::SettingsLength { length });
                }
                self.mode = Mode::Settings;
                Ok(Some(self.current))
            }
            FrameKind::PushPromise => {
                // Never buffered: a connection that gets one ends (push is off).
                super::require_stream(h.kind, id)?;
                self.mode = Mode::Skip(false);
                Ok(Some(self.current))
            }
            FrameKind::Unknown(_) => {
                self.mode = Mode::Skip(true);
                Ok(None)
            }
            kind if length > SMALL && kind != FrameKind::GoAway => {
                // Each of these has a fixed, short length: name the error
                // as Frame::parse would, without reading the payload.
                Err(match kind {
                    FrameKind::Priority if id == 0 => FrameError::StreamIdZero { kind },
                    FrameKind::Priority => {
                        self.mode = Mode::Skip(false);
                        FrameError::PriorityLength {
                            stream_id: id,
                            length,
                        }
                    }
                    FrameKind::RstStream if id == 0 => FrameError::StreamIdZero { kind },
                    FrameKind::RstStream => FrameError::RstStreamLength { length },
                    FrameKind::Ping if id != 0 => FrameError::StreamIdNonZero {
                        kind,
                        stream_id: id,
                    },
                    FrameKind::Ping => FrameError::PingLength { length },
                    _ => FrameError::WindowUpdateLength { length },
                })
            }
            _ => {
                self.mode = Mode::Small;
                Ok(None)
            }
        }
    }

    /// A streamed frame's fixed fields are in `small[..head_len]`.
    fn finish_head(&mut self, head_len: usize, length: usize) -> Result<StreamedFrame, FrameError> {
        let kind = self.current.kind;
        let padded = kind != FrameKind::Continuation
            && FrameHeader::parse(&self.header).flags.has(Flags::PADDED);
        let pad = if padded {
            usize::from(self.small[0])
        } else {
            0
        };
        if head_len > usize::from(padded) {
            let at = usize::from(padded);
            let mut fields = [0u8; Priority::LEN];
            fields.copy_from_slice(&self.small[at..at + Priority::LEN]);
            let p = Priority::parse(&fields);
            self.current.priority = Some(p);
            p.check(self.current.stream_id)?;
        }
        let content = (length - head_len)
            .checked_sub(pad)
            .ok_or(FrameError::PaddingTooLong {
                kind,
                pad_len: pad as u8,
            })?;
        self.current.content_len = content as u32;
        self.mode = Mode::Content(head_len + content);
        Ok(self.current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::frame::{Data, GoAway, Headers, Ping};
    use std::vec::Vec;

    /// Every piece of `bytes` fed `chunk` bytes at a time, contents joined.
    fn pieces(reader: &mut FrameReader, bytes: &[u8], chunk: usize) -> Vec<std::string::String> {
        let mut out: Vec<std::string::String> = Vec::new();
        for part in bytes.chunks(chunk.max(1)) {
            let mut input = part;
            loop {
                let (used, result) = reader.read(input);
                input = &input[used..];
                match result {
                    Ok(Some(Piece::Content(c))) => match out.last_mut() {
                        Some(last) if last_is_content(last.as_str()) => {
                            last.push_str(std::str::from_utf8(c).unwrap())
                        }
                        _ => out.push(std::format!("content:{}", std::str::from_utf8(c).unwrap())),
                    },
                    Ok(Some(p)) => out.push(std::format!("{p:?}")),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(std::format!("error:{e:?}"));
                        if e.is_connection_error() {
                            return out;
                        }
                    }
                }
            }
        }
        out
    }

    fn last_is_content(s: &str) -> bool {
        s.starts_with("content:")
    }

    fn emit(f: impl FnOnce(&mut [u8]) -> usize) -> Vec<u8> {
        let mut buf = std::vec![0u8; 20_000];
        let n = f(&mut buf);
        buf.truncate(n);
        buf
    }

    #[test]
    fn a_padded_data_frame_streams_its_data_in_any_chunking() {
        let mut data = Data::new(1, b"hello world", true);
        data.pad_len = Some(3);
        let bytes = emit(|b| data.emit(b).unwrap());
        let whole = pieces(&mut FrameReader::new(), &bytes, bytes.len());
        for chunk in 1..bytes.len() {
            assert_eq!(
                pieces(&mut FrameReader::new(), &bytes, chunk),
                whole,
                "chunk {chunk}"
            );
        }
        assert_eq!(whole.len(), 3, "{whole:?}");
        assert_eq!(whole[1], "content:hello world");
        assert!(whole[2].contains("flow_len: 15") && whole[2].contains("content_len: 11"));
    }

    #[test]
    fn a_16_kib_headers_frame_streams_with_no_buffer() {
        let block = std::vec![b'x'; 16_384];
        let bytes = emit(|b| Headers::new(3, &block, false, true).emit(b).unwrap());
        let mut reader = FrameReader::new();
        let got = pieces(&mut reader, &bytes, 1000);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].len(), "content:".len() + 16_384);
        assert!(reader.is_at_boundary());
        // The frame's 16 KiB went by; the reader holds a fixed ~150 bytes.
        assert!(core::mem::size_of::<FrameReader>() < 200);
    }

    #[test]
    fn small_frames_come_whole_and_goaway_debug_is_cut() {
        let mut bytes = emit(|b| Ping::ack([1; 8]).emit(b).unwrap());
        let debug = [b'd'; 200];
        bytes.extend(emit(|b| {
            GoAway::new(7, crate::h2::ErrorCode::NoError, &debug)
                .emit(b)
                .unwrap()
        }));
        let mut reader = FrameReader::new();
        let mut input = &bytes[..];
        let (used, first) = reader.read(input);
        input = &input[used..];
        assert!(matches!(first, Ok(Some(Piece::Frame(Frame::Ping(p)))) if p.ack));
        let (_, second) = reader.read(input);
        let Ok(Some(Piece::Frame(Frame::GoAway(g)))) = second else {
            panic!("{second:?}")
        };
        assert_eq!(g.last_stream_id, 7);
        assert_eq!(g.debug_data, &debug[..GOAWAY_DEBUG_KEPT]);
    }

    #[test]
    fn settings_come_one_entry_at_a_time_and_bad_frames_are_named() {
        // SETTINGS with two entries (RFC 9113 §6.5.1), then one of 5 bytes.
        let bytes = [
            0, 0, 12, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0, //
            0, 0, 5, 4, 0, 0, 0, 0, 0,
        ];
        let got = pieces(&mut FrameReader::new(), &bytes, 1);
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(got[1].contains("MaxConcurrentStreams") && got[1].contains("100"));
        assert!(got[2].contains("InitialWindowSize") && got[2].contains("65536"));
        assert_eq!(got[4], "error:SettingsLength { length: 5 }");
        // A PING of 100 bytes is refused without reading it (§6.7).
        let ping = [0, 0, 100, 6, 0, 0, 0, 0, 0];
        let got = pieces(&mut FrameReader::new(), &ping, 9);
        assert_eq!(got, ["error:PingLength { length: 100 }"]);
        // Padding as long as the payload (§6.1).
        let data = [0, 0, 2, 0, 0x8, 0, 0, 0, 1, 2, 0];
        let got = pieces(&mut FrameReader::new(), &data, 11);
        assert!(got[0].starts_with("error:PaddingTooLong"), "{got:?}");
    }
}
