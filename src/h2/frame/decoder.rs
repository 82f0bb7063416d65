//! Incremental decoding: frames out of bytes that arrive in arbitrary pieces.

use super::error::{ConfigError, FrameError};
use super::header::FrameHeader;
use super::{Frame, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN, MAX_MAX_FRAME_SIZE, PREFACE};

/// Turns a byte stream into [`Frame`]s without allocating.
///
/// When a whole frame lies in the input slice it is parsed in place (zero-copy).
/// Otherwise the partial header is kept in the decoder and the payload is copied into
/// the caller-provided storage `B`, which must hold at least `max_frame_size` bytes
/// (`[u8; 16384]`, `&mut [u8]`, a `Vec<u8>` with that length...). The frame is then
/// returned borrowing that storage.
///
/// [`FrameDecoder::decode`] returns how many input bytes it took together with the
/// outcome, so the caller advances its own slice and the returned frame can borrow
/// both the input and the decoder:
///
/// ```
/// use arkwire::h2::frame::{Frame, FrameDecoder};
///
/// let mut decoder = FrameDecoder::new([0u8; 16_384]).unwrap();
/// // A SETTINGS ACK and a PING, delivered in one read.
/// let bytes = [
///     0, 0, 0, 4, 1, 0, 0, 0, 0, //
///     0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
/// ];
/// let mut input = &bytes[..];
/// let mut frames = 0;
/// while !input.is_empty() {
///     let (used, result) = decoder.decode(input);
///     input = &input[used..];
///     match result {
///         Ok(Some(Frame::Ping(ping))) => assert_eq!(ping.data, [1, 2, 3, 4, 5, 6, 7, 8]),
///         Ok(Some(_frame)) => {}
///         Ok(None) => break, // everything buffered; wait for more bytes
///         // A stream error (e.g. WINDOW_UPDATE of 0 on a stream): the frame was
///         // consumed; send RST_STREAM and carry on.
///         Err(e) if !e.is_connection_error() => continue,
///         // A connection error: send GOAWAY with e.error_code() and close.
///         Err(e) => panic!("{e}"),
///     }
///     frames += 1;
/// }
/// assert_eq!(frames, 2);
/// ```
#[derive(Clone, Debug)]
pub struct FrameDecoder<B> {
    buf: B,
    max_frame_size: u32,
    header: [u8; FRAME_HEADER_LEN],
    /// Header bytes buffered so far; the payload is being buffered once this is 9.
    header_len: usize,
    /// Payload bytes buffered so far.
    payload_len: usize,
    /// Set by a connection error: the stream is no longer framed, so decoding stops.
    failed: Option<FrameError>,
}

impl<B: AsMut<[u8]>> FrameDecoder<B> {
    /// A decoder with the RFC's initial SETTINGS_MAX_FRAME_SIZE of 16384; `buf` must
    /// hold at least that many bytes.
    pub fn new(mut buf: B) -> Result<Self, ConfigError> {
        check_capacity(buf.as_mut().len(), DEFAULT_MAX_FRAME_SIZE)?;
        Ok(FrameDecoder {
            buf,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            payload_len: 0,
            failed: None,
        })
    }

    /// Our SETTINGS_MAX_FRAME_SIZE: larger frames are rejected.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Changes the limit (once the peer has acknowledged our SETTINGS carrying it).
    /// Refuses values outside RFC 9113 §6.5.2's [16384, 16777215] and values the
    /// buffer cannot hold.
    pub fn set_max_frame_size(&mut self, size: u32) -> Result<(), ConfigError> {
        if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&size) {
            return Err(ConfigError::MaxFrameSizeOutOfRange(size));
        }
        check_capacity(self.buf.as_mut().len(), size)?;
        self.max_frame_size = size;
        Ok(())
    }

    /// True between frames: nothing of a partial frame is buffered.
    pub fn is_at_boundary(&self) -> bool {
        self.header_len == 0
    }

    /// The connection error that stopped the decoder, if any.
    pub fn failed(&self) -> Option<FrameError> {
        self.failed
    }

    /// Gives the storage back.
    pub fn into_inner(self) -> B {
        self.buf
    }

    /// Decodes at most one frame from the front of `input`.
    ///
    /// Returns the number of bytes taken from `input` and:
    /// - `Ok(Some(frame))`: a frame; call again with the rest of the input.
    /// - `Ok(None)`: all of `input` was taken and buffered; wait for more bytes.
    /// - `Err(e)` with a stream scope ([`FrameError::scope`]): the bad frame was
    ///   consumed and decoding can go on.
    /// - `Err(e)` with connection scope: the connection must be closed; every later
    ///   call returns the same error and takes nothing.
    ///
    /// A frame larger than `max_frame_size` is refused as soon as its header is seen,
    /// before any of its payload is buffered (RFC 9113 §4.2).
    pub fn decode<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> (usize, Result<Option<Frame<'a>>, FrameError>) {
        // Split the borrow so the returned frame can borrow `buf` while `failed` is set.
        let FrameDecoder {
            buf,
            max_frame_size,
            header,
            header_len,
            payload_len,
            failed,
        } = self;
        if let Some(e) = *failed {
            return (0, Err(e));
        }
        let mut used = 0;
        if *header_len == 0 {
            if let Some(h) = FrameHeader::parse_prefix(input) {
                if let Err(e) = check_size(&h, *max_frame_size) {
                    *failed = Some(e);
                    return (FRAME_HEADER_LEN, Err(e));
                }
                let end = FRAME_HEADER_LEN.saturating_add(h.length as usize);
                if let Some(payload) = input.get(FRAME_HEADER_LEN..end) {
                    // Zero-copy: the whole frame is in the input.
                    return (end, finish(Frame::parse(&h, payload), failed));
                }
            }
        }
        if *header_len < FRAME_HEADER_LEN {
            let n = copy_some(header, *header_len, FRAME_HEADER_LEN, input);
            *header_len += n;
            used += n;
            if *header_len < FRAME_HEADER_LEN {
                return (used, Ok(None));
            }
            let h = FrameHeader::parse(header);
            if let Err(e) = check_size(&h, *max_frame_size) {
                *failed = Some(e);
                return (used, Err(e));
            }
        }
        let h = FrameHeader::parse(header);
        let length = h.length as usize;
        let storage = buf.as_mut();
        let n = copy_some(
            storage,
            *payload_len,
            length,
            input.get(used..).unwrap_or_default(),
        );
        *payload_len += n;
        used += n;
        if *payload_len < length {
            return (used, Ok(None));
        }
        *header_len = 0;
        *payload_len = 0;
        let payload = storage.get(..length).unwrap_or_default();
        (used, finish(Frame::parse(&h, payload), failed))
    }
}

/// Records a connection error so later calls repeat it.
fn finish<'a>(
    result: Result<Frame<'a>, FrameError>,
    failed: &mut Option<FrameError>,
) -> Result<Option<Frame<'a>>, FrameError> {
    match result {
        Ok(frame) => Ok(Some(frame)),
        Err(e) => {
            if e.is_connection_error() {
                *failed = Some(e);
            }
            Err(e)
        }
    }
}

/// RFC 9113 §4.2: a frame that "exceeds the size defined in SETTINGS_MAX_FRAME_SIZE"
/// gets FRAME_SIZE_ERROR. We always make it a connection error: the payload is not
/// buffered, and every frame that alters connection state must be treated so anyway.
fn check_size(h: &FrameHeader, max: u32) -> Result<(), FrameError> {
    if h.length > max {
        return Err(FrameError::TooLarge {
            length: h.length,
            max,
        });
    }
    Ok(())
}

fn check_capacity(available: usize, size: u32) -> Result<(), ConfigError> {
    let needed = size as usize;
    if available < needed {
        return Err(ConfigError::BufferTooSmall { needed, available });
    }
    Ok(())
}

/// Copies from `input` into `dst[filled..want]` as much as is available; returns the count.
fn copy_some(dst: &mut [u8], filled: usize, want: usize, input: &[u8]) -> usize {
    let n = want.saturating_sub(filled).min(input.len());
    let end = filled.saturating_add(n);
    match (dst.get_mut(filled..end), input.get(..n)) {
        (Some(d), Some(s)) => {
            d.copy_from_slice(s);
            n
        }
        _ => 0,
    }
}

/// Checks the client connection preface (RFC 9113 §3.4) as its bytes trickle in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Preface {
    matched: usize,
}

impl Preface {
    /// Nothing matched yet.
    pub const fn new() -> Self {
        Preface { matched: 0 }
    }

    /// Matches the front of `input` against the rest of the preface; returns the bytes
    /// taken (never more than the preface needs, so the frames after it are left alone).
    /// A mismatch is a connection error of type PROTOCOL_ERROR (§3.4).
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, FrameError> {
        let rest = PREFACE.get(self.matched..).unwrap_or_default();
        let n = rest.len().min(input.len());
        if input.get(..n) != rest.get(..n) {
            return Err(FrameError::BadPreface);
        }
        self.matched += n;
        Ok(n)
    }

    /// True once all 24 bytes have matched.
    pub fn is_complete(&self) -> bool {
        self.matched == PREFACE.len()
    }
}
