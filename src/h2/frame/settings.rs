//! SETTINGS frames (RFC 9113 §6.5) and the [`Settings`] a peer has announced.

use super::error::{EncodeError, FrameError};
use super::header::{Flags, FrameHeader, FrameKind, Writer};
use super::{data::saturating_u32, require_connection, FRAME_HEADER_LEN};
use super::{DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE};

/// A setting identifier (RFC 9113 §6.5.2, §11.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SettingId {
    /// 0x1 SETTINGS_HEADER_TABLE_SIZE.
    HeaderTableSize,
    /// 0x2 SETTINGS_ENABLE_PUSH.
    EnablePush,
    /// 0x3 SETTINGS_MAX_CONCURRENT_STREAMS.
    MaxConcurrentStreams,
    /// 0x4 SETTINGS_INITIAL_WINDOW_SIZE.
    InitialWindowSize,
    /// 0x5 SETTINGS_MAX_FRAME_SIZE.
    MaxFrameSize,
    /// 0x6 SETTINGS_MAX_HEADER_LIST_SIZE.
    MaxHeaderListSize,
    /// Any other identifier; §6.5.2 says to ignore it.
    Unknown(u16),
}

impl SettingId {
    /// The identifier for a wire value.
    pub const fn from_u16(id: u16) -> Self {
        match id {
            0x1 => SettingId::HeaderTableSize,
            0x2 => SettingId::EnablePush,
            0x3 => SettingId::MaxConcurrentStreams,
            0x4 => SettingId::InitialWindowSize,
            0x5 => SettingId::MaxFrameSize,
            0x6 => SettingId::MaxHeaderListSize,
            other => SettingId::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        match self {
            SettingId::HeaderTableSize => 0x1,
            SettingId::EnablePush => 0x2,
            SettingId::MaxConcurrentStreams => 0x3,
            SettingId::InitialWindowSize => 0x4,
            SettingId::MaxFrameSize => 0x5,
            SettingId::MaxHeaderListSize => 0x6,
            SettingId::Unknown(other) => other,
        }
    }
}

/// One (identifier, value) pair of a SETTINGS frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Setting {
    /// Which setting.
    pub id: SettingId,
    /// Its new value.
    pub value: u32,
}

impl Setting {
    /// Wire size of one pair.
    pub const LEN: usize = 6;

    /// A pair.
    pub const fn new(id: SettingId, value: u32) -> Self {
        Setting { id, value }
    }

    /// Checks the value against RFC 9113 §6.5.2. This is the one place the value
    /// rules live; both frame parsing and [`Settings::apply`] go through it.
    pub const fn validate(&self) -> Result<(), FrameError> {
        let value = self.value;
        match self.id {
            // §6.5.2: "Any value other than 0 or 1 MUST be treated as a connection
            // error of type PROTOCOL_ERROR."
            SettingId::EnablePush if value > 1 => Err(FrameError::InvalidEnablePush { value }),
            // §6.5.2: above 2^31-1 "MUST be treated as a connection error of type
            // FLOW_CONTROL_ERROR".
            SettingId::InitialWindowSize if value > MAX_WINDOW_SIZE => {
                Err(FrameError::InvalidInitialWindowSize { value })
            }
            // §6.5.2: outside [2^14, 2^24-1] "MUST be treated as a connection error of
            // type PROTOCOL_ERROR".
            SettingId::MaxFrameSize
                if value < DEFAULT_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE =>
            {
                Err(FrameError::InvalidMaxFrameSize { value })
            }
            _ => Ok(()),
        }
    }

    fn from_bytes(b: &[u8; Self::LEN]) -> Self {
        let [i0, i1, v0, v1, v2, v3] = *b;
        Setting {
            id: SettingId::from_u16(u16::from_be_bytes([i0, i1])),
            value: u32::from_be_bytes([v0, v1, v2, v3]),
        }
    }

    fn to_bytes(self) -> [u8; Self::LEN] {
        let [i0, i1] = self.id.to_u16().to_be_bytes();
        let [v0, v1, v2, v3] = self.value.to_be_bytes();
        [i0, i1, v0, v1, v2, v3]
    }
}

/// A received SETTINGS frame. Its payload has been checked (length and every value),
/// so iterating it cannot fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingsFrame<'a> {
    /// ACK: this acknowledges our SETTINGS; the payload is then empty.
    pub ack: bool,
    payload: &'a [u8],
}

impl<'a> SettingsFrame<'a> {
    /// The acknowledgement of the peer's SETTINGS.
    pub const ACK: SettingsFrame<'static> = SettingsFrame {
        ack: true,
        payload: &[],
    };

    /// Parses a SETTINGS payload.
    pub fn parse(flags: Flags, stream_id: u32, payload: &'a [u8]) -> Result<Self, FrameError> {
        // §6.5: SETTINGS on a stream other than 0 is a connection error of type PROTOCOL_ERROR.
        require_connection(FrameKind::Settings, stream_id)?;
        let ack = flags.has(Flags::ACK);
        // §6.5: an ACK with a payload is a connection error of type FRAME_SIZE_ERROR.
        if ack && !payload.is_empty() {
            return Err(FrameError::SettingsAckWithPayload {
                length: payload.len(),
            });
        }
        // §6.5: a length not a multiple of 6 is a connection error of type FRAME_SIZE_ERROR.
        if !payload.len().is_multiple_of(Setting::LEN) {
            return Err(FrameError::SettingsLength {
                length: payload.len(),
            });
        }
        let frame = SettingsFrame { ack, payload };
        for setting in frame.iter() {
            setting.validate()?;
        }
        Ok(frame)
    }

    /// The settings in the order sent, unknown identifiers included (the caller ignores them).
    pub fn iter(&self) -> SettingsIter<'a> {
        SettingsIter {
            chunks: self.payload.chunks_exact(Setting::LEN),
        }
    }

    /// The raw payload (a multiple of 6 bytes).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The header this frame is sent with.
    pub fn header(&self) -> FrameHeader {
        FrameHeader {
            length: saturating_u32(self.payload.len()),
            kind: FrameKind::Settings,
            flags: Flags(Flags::bit(self.ack, Flags::ACK)),
            stream_id: 0,
        }
    }

    /// Bytes [`SettingsFrame::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        FRAME_HEADER_LEN.saturating_add(self.payload.len())
    }

    /// Writes the frame back out (e.g. to forward it); returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let h = self.header();
        let mut w = Writer::start(buf, h.kind, h.flags.0, 0, self.payload.len())?;
        w.put(self.payload)?;
        Ok(w.finish())
    }
}

impl<'a> IntoIterator for &SettingsFrame<'a> {
    type Item = Setting;
    type IntoIter = SettingsIter<'a>;
    fn into_iter(self) -> SettingsIter<'a> {
        self.iter()
    }
}

/// Iterator over the (identifier, value) pairs of a [`SettingsFrame`].
#[derive(Clone, Debug)]
pub struct SettingsIter<'a> {
    chunks: core::slice::ChunksExact<'a, u8>,
}

impl Iterator for SettingsIter<'_> {
    type Item = Setting;
    fn next(&mut self) -> Option<Setting> {
        let chunk = self.chunks.next()?;
        chunk
            .first_chunk::<{ Setting::LEN }>()
            .map(Setting::from_bytes)
    }
}

/// Writes a SETTINGS frame carrying `settings`; returns the bytes written. Values are
/// not validated: sending what the peer must reject is the caller's choice.
pub fn emit_settings(settings: &[Setting], buf: &mut [u8]) -> Result<usize, EncodeError> {
    let len = settings.len().saturating_mul(Setting::LEN);
    let mut w = Writer::start(buf, FrameKind::Settings, 0, 0, len)?;
    for s in settings {
        w.put(&s.to_bytes())?;
    }
    Ok(w.finish())
}

/// Writes the 9-byte SETTINGS ACK; returns 9.
pub fn emit_settings_ack(buf: &mut [u8]) -> Result<usize, EncodeError> {
    SettingsFrame::ACK.emit(buf)
}

/// The six settings of RFC 9113 §6.5.2 as one side has announced them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// HPACK dynamic table size the sender's decoder allows (default 4096).
    pub header_table_size: u32,
    /// Whether server push is allowed (default true).
    pub enable_push: bool,
    /// Stream concurrency limit (default: unlimited).
    pub max_concurrent_streams: Option<u32>,
    /// Initial stream flow-control window (default 65535).
    pub initial_window_size: u32,
    /// Largest frame payload the sender accepts (default 16384).
    pub max_frame_size: u32,
    /// Advisory header list size limit (default: unlimited).
    pub max_header_list_size: Option<u32>,
}

impl Default for Settings {
    /// The RFC 9113 §6.5.2 initial values, in force until the peer says otherwise.
    fn default() -> Self {
        Settings {
            header_table_size: 4096,
            enable_push: true,
            max_concurrent_streams: None,
            initial_window_size: 65_535,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
        }
    }
}

impl Settings {
    /// Applies one received setting after validating it (§6.5.2); unknown ones are
    /// ignored (§6.5.2: "MUST ignore"). On error nothing changes.
    pub fn apply(&mut self, setting: Setting) -> Result<(), FrameError> {
        setting.validate()?;
        let v = setting.value;
        match setting.id {
            SettingId::HeaderTableSize => self.header_table_size = v,
            SettingId::EnablePush => self.enable_push = v == 1,
            SettingId::MaxConcurrentStreams => self.max_concurrent_streams = Some(v),
            SettingId::InitialWindowSize => self.initial_window_size = v,
            SettingId::MaxFrameSize => self.max_frame_size = v,
            SettingId::MaxHeaderListSize => self.max_header_list_size = Some(v),
            SettingId::Unknown(_) => {}
        }
        Ok(())
    }

    /// Applies every setting of a received frame in order (§6.5.3: processed in order).
    pub fn apply_frame(&mut self, frame: &SettingsFrame<'_>) -> Result<(), FrameError> {
        frame.iter().try_for_each(|s| self.apply(s))
    }

    /// The settings that differ from the defaults, in identifier order; `None` entries
    /// are defaults. Only these need sending, since the peer starts from the defaults.
    pub fn non_default(&self) -> [Option<Setting>; 6] {
        let d = Settings::default();
        let pick = |differs: bool, id, value| differs.then_some(Setting::new(id, value));
        [
            pick(
                self.header_table_size != d.header_table_size,
                SettingId::HeaderTableSize,
                self.header_table_size,
            ),
            pick(
                self.enable_push != d.enable_push,
                SettingId::EnablePush,
                u32::from(self.enable_push),
            ),
            self.max_concurrent_streams
                .map(|v| Setting::new(SettingId::MaxConcurrentStreams, v)),
            pick(
                self.initial_window_size != d.initial_window_size,
                SettingId::InitialWindowSize,
                self.initial_window_size,
            ),
            pick(
                self.max_frame_size != d.max_frame_size,
                SettingId::MaxFrameSize,
                self.max_frame_size,
            ),
            self.max_header_list_size
                .map(|v| Setting::new(SettingId::MaxHeaderListSize, v)),
        ]
    }

    /// Writes a SETTINGS frame with the non-default settings; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let all = self.non_default();
        let mut list = [Setting::new(SettingId::Unknown(0), 0); 6];
        let mut n = 0;
        for (slot, s) in list.iter_mut().zip(all.iter().flatten()) {
            *slot = *s;
            n += 1;
        }
        emit_settings(list.get(..n).unwrap_or_default(), buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::ErrorCode;

    fn err(flags: u8, stream: u32, p: &[u8]) -> ErrorCode {
        let e = SettingsFrame::parse(Flags(flags), stream, p).unwrap_err();
        assert!(e.is_connection_error());
        e.error_code()
    }

    fn one(id: u16, value: u32) -> [u8; 6] {
        Setting::new(SettingId::from_u16(id), value).to_bytes()
    }

    #[test]
    fn frame_level_rules() {
        assert_eq!(err(0, 1, &[]), ErrorCode::ProtocolError);
        assert_eq!(err(0, 0, &[0; 5]), ErrorCode::FrameSizeError);
        assert_eq!(err(0, 0, &[0; 13]), ErrorCode::FrameSizeError);
        assert_eq!(err(Flags::ACK, 0, &[0; 6]), ErrorCode::FrameSizeError);
        assert!(SettingsFrame::parse(Flags(Flags::ACK), 0, &[]).unwrap().ack);
    }

    #[test]
    fn value_rules() {
        assert_eq!(err(0, 0, &one(2, 2)), ErrorCode::ProtocolError);
        assert_eq!(err(0, 0, &one(4, 1 << 31)), ErrorCode::FlowControlError);
        assert_eq!(err(0, 0, &one(5, 16_383)), ErrorCode::ProtocolError);
        assert_eq!(err(0, 0, &one(5, 1 << 24)), ErrorCode::ProtocolError);
        for ok in [one(2, 0), one(2, 1), one(4, (1 << 31) - 1), one(5, 16_384)] {
            assert!(SettingsFrame::parse(Flags(0), 0, &ok).is_ok());
        }
        assert!(SettingsFrame::parse(Flags(0), 0, &one(5, (1 << 24) - 1)).is_ok());
    }

    #[test]
    fn apply_validates_and_ignores_unknown() {
        let mut s = Settings::default();
        let mut p = [0u8; 18];
        p[..6].copy_from_slice(&one(0x3, 100));
        p[6..12].copy_from_slice(&one(0xff, 7));
        p[12..].copy_from_slice(&one(0x2, 0));
        let f = SettingsFrame::parse(Flags(0), 0, &p).unwrap();
        assert_eq!(f.iter().count(), 3);
        s.apply_frame(&f).unwrap();
        assert_eq!(s.max_concurrent_streams, Some(100));
        assert!(!s.enable_push);
        let before = s;
        let e = s
            .apply(Setting::new(SettingId::MaxFrameSize, 10))
            .unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::ProtocolError);
        assert_eq!(s, before);
    }

    #[test]
    fn emit_non_default_only() {
        let mut buf = [0; 64];
        assert_eq!(Settings::default().emit(&mut buf), Ok(9));
        assert_eq!(&buf[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let s = Settings {
            enable_push: false,
            max_frame_size: 1 << 20,
            ..Settings::default()
        };
        let n = s.emit(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            &[0, 0, 12, 4, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 5, 0, 0x10, 0, 0]
        );
        assert_eq!(emit_settings_ack(&mut buf), Ok(9));
        assert_eq!(&buf[..9], &[0, 0, 0, 4, 1, 0, 0, 0, 0]);
    }
}
