//! HTTP/2 frames (RFC 9113 §4, §6): parse and emit without allocating.
//!
//! Reading follows the smoltcp split: [`FrameHeader::parse`] reads the 9-byte header,
//! then [`Frame::parse`] checks the payload against every per-type rule of RFC 9113 and
//! returns a [`Frame`] whose slices borrow the input. [`FrameDecoder`] does both
//! incrementally over bytes that arrive in arbitrary pieces, and [`Preface`] checks the
//! client connection preface. [`FrameReader`] reads the same frames without
//! buffering any payload (DATA and header blocks stream through as
//! [`Piece`]s): it is what a connection uses.
//!
//! Writing: each frame type is also its own Repr, with `emit(&self, buf) -> Result<usize, _>`
//! into the caller's buffer, plus helpers for the common control frames
//! ([`emit_settings`], [`emit_settings_ack`], [`Ping::ack`], [`WindowUpdate::new`],
//! [`RstStream::new`], [`GoAway::new`], [`Data::header_only`]).
//!
//! Errors carry the RFC error code and say whether they end the connection or one
//! stream ([`FrameError::scope`]). Rules that need connection state (CONTINUATION
//! sequencing, stream states, flow-control windows, ENABLE_PUSH enforcement) belong to
//! the connection layer, not here.

mod control;
mod data;
mod decoder;
mod error;
mod header;
mod headers;
mod reader;
mod settings;

pub use control::{GoAway, Ping, PriorityFrame, RstStream, WindowUpdate};
pub use data::Data;
pub use decoder::{FrameDecoder, Preface};
pub use error::{ConfigError, EncodeError, ErrorScope, FrameError};
pub use header::{Flags, FrameHeader, FrameKind};
pub use headers::{Continuation, Headers, Priority, PushPromise};
pub use reader::{FrameReader, Piece, StreamedFrame, GOAWAY_DEBUG_KEPT};
pub use settings::{
    emit_settings, emit_settings_ack, Setting, SettingId, Settings, SettingsFrame, SettingsIter,
};

/// Size of the frame header (RFC 9113 §4.1).
pub const FRAME_HEADER_LEN: usize = 9;
/// The initial and smallest SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2, §6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 1 << 14;
/// The largest SETTINGS_MAX_FRAME_SIZE, the limit of the 24-bit length field (§6.5.2).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;
/// Largest flow-control window and window increment (RFC 9113 §6.9.1).
pub const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;
/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Largest payload the length field can express.
pub(crate) const MAX_PAYLOAD_LEN: u32 = MAX_MAX_FRAME_SIZE;
/// Clears the reserved high bit of stream ids and window increments.
pub(crate) const STREAM_ID_MASK: u32 = 0x7fff_ffff;

/// Rejects stream 0 for frames that belong to a stream. Callers name the RFC section.
pub(crate) const fn require_stream(kind: FrameKind, stream_id: u32) -> Result<(), FrameError> {
    if stream_id == 0 {
        return Err(FrameError::StreamIdZero { kind });
    }
    Ok(())
}

/// Rejects non-zero streams for frames that belong to the connection.
pub(crate) const fn require_connection(kind: FrameKind, stream_id: u32) -> Result<(), FrameError> {
    if stream_id != 0 {
        return Err(FrameError::StreamIdNonZero { kind, stream_id });
    }
    Ok(())
}

/// One decoded frame, borrowing its payload from the input or the decoder's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA (§6.1).
    Data(Data<'a>),
    /// HEADERS (§6.2).
    Headers(Headers<'a>),
    /// PRIORITY (§6.3).
    Priority(PriorityFrame),
    /// RST_STREAM (§6.4).
    RstStream(RstStream),
    /// SETTINGS (§6.5).
    Settings(SettingsFrame<'a>),
    /// PUSH_PROMISE (§6.6).
    PushPromise(PushPromise<'a>),
    /// PING (§6.7).
    Ping(Ping),
    /// GOAWAY (§6.8).
    GoAway(GoAway<'a>),
    /// WINDOW_UPDATE (§6.9).
    WindowUpdate(WindowUpdate),
    /// CONTINUATION (§6.10).
    Continuation(Continuation<'a>),
    /// A frame type we do not know. §4.1 and §5.5 say to ignore and discard it; it is
    /// reported so extensions can look at it, and so callers see that bytes went by.
    Unknown {
        /// The type octet.
        kind: u8,
        /// The flags octet.
        flags: u8,
        /// The stream id (reserved bit cleared).
        stream_id: u32,
        /// The payload, unchecked.
        payload: &'a [u8],
    },
}

impl<'a> Frame<'a> {
    /// Checks `payload` against the rules for `header`'s type and returns the frame.
    /// `header.length` is not consulted: `payload` is taken to be the whole payload,
    /// and the size limit is the decoder's to enforce.
    pub fn parse(header: &FrameHeader, payload: &'a [u8]) -> Result<Self, FrameError> {
        let (flags, id) = (header.flags, header.stream_id);
        Ok(match header.kind {
            FrameKind::Data => Frame::Data(Data::parse(flags, id, payload)?),
            FrameKind::Headers => Frame::Headers(Headers::parse(flags, id, payload)?),
            FrameKind::Priority => Frame::Priority(PriorityFrame::parse(id, payload)?),
            FrameKind::RstStream => Frame::RstStream(RstStream::parse(id, payload)?),
            FrameKind::Settings => Frame::Settings(SettingsFrame::parse(flags, id, payload)?),
            FrameKind::PushPromise => Frame::PushPromise(PushPromise::parse(flags, id, payload)?),
            FrameKind::Ping => Frame::Ping(Ping::parse(flags, id, payload)?),
            FrameKind::GoAway => Frame::GoAway(GoAway::parse(id, payload)?),
            FrameKind::WindowUpdate => Frame::WindowUpdate(WindowUpdate::parse(id, payload)?),
            FrameKind::Continuation => {
                Frame::Continuation(Continuation::parse(flags, id, payload)?)
            }
            FrameKind::Unknown(kind) => Frame::Unknown {
                kind,
                flags: flags.0,
                stream_id: id,
                payload,
            },
        })
    }

    /// The frame type.
    pub fn kind(&self) -> FrameKind {
        match self {
            Frame::Data(_) => FrameKind::Data,
            Frame::Headers(_) => FrameKind::Headers,
            Frame::Priority(_) => FrameKind::Priority,
            Frame::RstStream(_) => FrameKind::RstStream,
            Frame::Settings(_) => FrameKind::Settings,
            Frame::PushPromise(_) => FrameKind::PushPromise,
            Frame::Ping(_) => FrameKind::Ping,
            Frame::GoAway(_) => FrameKind::GoAway,
            Frame::WindowUpdate(_) => FrameKind::WindowUpdate,
            Frame::Continuation(_) => FrameKind::Continuation,
            Frame::Unknown { kind, .. } => FrameKind::Unknown(*kind),
        }
    }

    /// The stream the frame belongs to (0 for connection frames).
    pub fn stream_id(&self) -> u32 {
        match self {
            Frame::Data(f) => f.stream_id,
            Frame::Headers(f) => f.stream_id,
            Frame::Priority(f) => f.stream_id,
            Frame::RstStream(f) => f.stream_id,
            Frame::PushPromise(f) => f.stream_id,
            Frame::WindowUpdate(f) => f.stream_id,
            Frame::Continuation(f) => f.stream_id,
            Frame::Unknown { stream_id, .. } => *stream_id,
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => 0,
        }
    }

    /// Bytes [`Frame::emit`] writes, header included.
    pub fn buffer_len(&self) -> usize {
        let payload = match self {
            Frame::Data(f) => f.payload_len(),
            Frame::Headers(f) => f.payload_len(),
            Frame::Priority(_) => Priority::LEN,
            Frame::RstStream(_) => RstStream::LEN,
            Frame::Settings(f) => f.payload().len(),
            Frame::PushPromise(f) => f.payload_len(),
            Frame::Ping(_) => Ping::LEN,
            Frame::GoAway(f) => f.payload_len(),
            Frame::WindowUpdate(_) => WindowUpdate::LEN,
            Frame::Continuation(f) => f.fragment.len(),
            Frame::Unknown { payload, .. } => payload.len(),
        };
        FRAME_HEADER_LEN.saturating_add(payload)
    }

    /// Writes the frame into `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            Frame::Data(f) => f.emit(buf),
            Frame::Headers(f) => f.emit(buf),
            Frame::Priority(f) => f.emit(buf),
            Frame::RstStream(f) => f.emit(buf),
            Frame::Settings(f) => f.emit(buf),
            Frame::PushPromise(f) => f.emit(buf),
            Frame::Ping(f) => f.emit(buf),
            Frame::GoAway(f) => f.emit(buf),
            Frame::WindowUpdate(f) => f.emit(buf),
            Frame::Continuation(f) => f.emit(buf),
            Frame::Unknown {
                kind,
                flags,
                stream_id,
                payload,
            } => {
                let mut w = header::Writer::start(
                    buf,
                    FrameKind::Unknown(*kind),
                    *flags,
                    *stream_id,
                    payload.len(),
                )?;
                w.put(payload)?;
                Ok(w.finish())
            }
        }
    }
}

#[cfg(test)]
mod tests;
