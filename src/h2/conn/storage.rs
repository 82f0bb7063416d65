//! Where a connection's memory comes from, as smoltcp does it: the caller
//! provides it. [`LentStorage`] is made of byte slices the caller lends (of
//! the sizes it chooses: a C host hands in its own memory this way);
//! [`FixedStorage`] holds fixed arrays of its own; `GrowableStorage` (with
//! `alloc`) grows buffers as needed. One connection type serves all three.
//!
//! What a connection needs besides its own small state:
//! - a *scratch* buffer for header blocks being received: half holds the
//!   representation split across frames, half its Huffman-decoded strings,
//!   so the largest field a connection accepts is about half of it (a larger
//!   one is refused, as a header list too large, unless the HPACK table
//!   needs it, which ends the connection);
//! - the HPACK *decoder table* (4096 bytes is HTTP/2's default; a smaller
//!   one is announced in our SETTINGS, safe for a client, whose peer sees
//!   it before it encodes anything);
//! - an HPACK *encoder table*, or none: an encoder without one never
//!   indexes and needs no buffer for outgoing header blocks either, since
//!   a block can be encoded again into the transmit buffer until it fits;
//! - *per-stream buffers*: received headers, received body, send queue;
//! - the *control queue* (PING and SETTINGS acknowledgements, resets).
//!
//! Frames are never buffered whole: DATA streams straight into its stream's
//! body and header blocks are decoded as they arrive, so no buffer is sized
//! by SETTINGS_MAX_FRAME_SIZE.

use core::mem;

use super::{ConfigError, Control};
use crate::buf::{Buffer, LentBuf};
use crate::h2::stream::Stream;
use crate::h2::Config;

/// Where the connection's memory comes from; see the module documentation.
/// A value of it is handed to
/// [`Connection::with_storage`](super::Connection::with_storage) and
/// split into the parts the connection keeps.
pub trait Storage: Sized {
    /// Received header lists, per stream (bounded by `max_header_list_size`).
    type Headers: Buffer + Default;
    /// Received bodies and send queues, per stream.
    type Body: Buffer + Default;
    /// Header blocks being received (see the module documentation).
    type Scratch: AsRef<[u8]> + AsMut<[u8]>;
    /// The HPACK decoder's dynamic table.
    type DecoderTable: AsRef<[u8]> + AsMut<[u8]>;
    /// The HPACK encoder's dynamic table; empty for an encoder that never indexes.
    type EncoderTable: AsRef<[u8]> + AsMut<[u8]>;
    /// An encoded header block going out in pieces (an indexing encoder's
    /// block must go out exactly once); may be empty when the encoder has
    /// no table.
    type BlockOut: AsRef<[u8]> + AsMut<[u8]>;
    /// The stream table and its buffers.
    type Streams: StreamTable<Self::Headers, Self::Body>;
    /// Control frames waiting to be sent.
    type Control: ControlQueue;

    /// Splits the storage into the parts a connection with `config` keeps.
    fn into_parts(self, config: &Config) -> Result<Parts<Self>, ConfigError>;
}

/// A [`Storage`] taken apart for the connection.
pub struct Parts<S: Storage> {
    /// See [`Storage::Scratch`].
    pub scratch: S::Scratch,
    /// See [`Storage::DecoderTable`].
    pub decoder_table: S::DecoderTable,
    /// See [`Storage::EncoderTable`].
    pub encoder_table: S::EncoderTable,
    /// See [`Storage::BlockOut`].
    pub block_out: S::BlockOut,
    /// See [`Storage::Streams`].
    pub streams: S::Streams,
    /// See [`Storage::Control`].
    pub control: S::Control,
}

/// The table of live streams, which also hands streams their buffers.
pub trait StreamTable<H, B> {
    /// The streams, in no particular order.
    fn as_slice(&self) -> &[Stream<H, B>];
    /// The streams, mutably.
    fn as_mut_slice(&mut self) -> &mut [Stream<H, B>];
    /// Adds a stream, giving it buffers, or hands it back when the table is
    /// full (by value: a fixed table has nowhere else to put it).
    #[allow(clippy::result_large_err)]
    fn try_push(&mut self, stream: Stream<H, B>) -> Result<(), Stream<H, B>>;
    /// Removes the stream at `index`; its buffers go back to the table.
    fn swap_remove(&mut self, index: usize) -> Stream<H, B>;
    /// Whether another stream fits.
    fn has_room(&self) -> bool;
}

impl<H, B, const N: usize> StreamTable<H, B> for heapless::Vec<Stream<H, B>, N> {
    fn as_slice(&self) -> &[Stream<H, B>] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [Stream<H, B>] {
        self
    }
    fn try_push(&mut self, stream: Stream<H, B>) -> Result<(), Stream<H, B>> {
        self.push(stream)
    }
    fn swap_remove(&mut self, index: usize) -> Stream<H, B> {
        heapless::Vec::swap_remove(self, index)
    }
    fn has_room(&self) -> bool {
        !self.is_full()
    }
}

#[cfg(feature = "alloc")]
impl<H, B> StreamTable<H, B> for alloc::vec::Vec<Stream<H, B>> {
    fn as_slice(&self) -> &[Stream<H, B>] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [Stream<H, B>] {
        self
    }
    fn try_push(&mut self, stream: Stream<H, B>) -> Result<(), Stream<H, B>> {
        self.push(stream);
        Ok(())
    }
    fn swap_remove(&mut self, index: usize) -> Stream<H, B> {
        alloc::vec::Vec::swap_remove(self, index)
    }
    fn has_room(&self) -> bool {
        true
    }
}

/// A queue of control frames waiting to be sent.
pub trait ControlQueue {
    /// Most frames it holds.
    fn capacity(&self) -> usize;
    /// Frames held.
    fn len(&self) -> usize;
    /// Whether it holds none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The oldest frame.
    fn front(&self) -> Option<&Control>;
    /// Removes the oldest frame.
    fn pop_front(&mut self) -> Option<Control>;
    /// Adds a frame, or hands it back when full.
    fn push_back(&mut self, c: Control) -> Result<(), Control>;
    /// Removes every frame.
    fn clear(&mut self);
}

impl<const N: usize> ControlQueue for heapless::Deque<Control, N> {
    fn capacity(&self) -> usize {
        N
    }
    fn len(&self) -> usize {
        heapless::Deque::len(self)
    }
    fn front(&self) -> Option<&Control> {
        heapless::Deque::front(self)
    }
    fn pop_front(&mut self) -> Option<Control> {
        heapless::Deque::pop_front(self)
    }
    fn push_back(&mut self, c: Control) -> Result<(), Control> {
        heapless::Deque::push_back(self, c)
    }
    fn clear(&mut self) {
        heapless::Deque::clear(self)
    }
}

/// A growable control queue that never holds more than the
/// `max_pending_control` it was made for.
#[cfg(feature = "alloc")]
#[derive(Debug, Default)]
pub struct BoundedControl {
    queue: alloc::collections::VecDeque<Control>,
    limit: usize,
}

#[cfg(feature = "alloc")]
impl ControlQueue for BoundedControl {
    fn capacity(&self) -> usize {
        self.limit
    }
    fn len(&self) -> usize {
        self.queue.len()
    }
    fn front(&self) -> Option<&Control> {
        self.queue.front()
    }
    fn pop_front(&mut self) -> Option<Control> {
        self.queue.pop_front()
    }
    fn push_back(&mut self, c: Control) -> Result<(), Control> {
        if self.queue.len() >= self.limit {
            return Err(c);
        }
        self.queue.push_back(c);
        Ok(())
    }
    fn clear(&mut self) {
        self.queue.clear()
    }
}

/// The buffers of one stream a caller lends: its received header list, its
/// received body, and its send queue (request or response headers and
/// message, with 5 bytes per queued item).
#[derive(Debug, Default)]
pub struct StreamBuffers<'a> {
    /// Received header list (and trailers): 8 bytes per field besides its
    /// name and value.
    pub headers: &'a mut [u8],
    /// Received body: a gRPC message and its 5-byte prefix.
    pub body: &'a mut [u8],
    /// What the stream sends.
    pub send: &'a mut [u8],
}

/// A stream table whose streams borrow lent buffers, at most `N` at once.
pub struct LentStreams<'a, const N: usize> {
    streams: heapless::Vec<Stream<LentBuf<'a>, LentBuf<'a>>, N>,
    /// Buffers of the streams not in use.
    free: heapless::Vec<StreamBuffers<'a>, N>,
}

impl<'a, const N: usize> StreamTable<LentBuf<'a>, LentBuf<'a>> for LentStreams<'a, N> {
    fn as_slice(&self) -> &[Stream<LentBuf<'a>, LentBuf<'a>>] {
        &self.streams
    }
    fn as_mut_slice(&mut self) -> &mut [Stream<LentBuf<'a>, LentBuf<'a>>] {
        &mut self.streams
    }
    fn try_push(
        &mut self,
        mut stream: Stream<LentBuf<'a>, LentBuf<'a>>,
    ) -> Result<(), Stream<LentBuf<'a>, LentBuf<'a>>> {
        if self.streams.is_full() {
            return Err(stream);
        }
        let Some(buffers) = self.free.pop() else {
            return Err(stream);
        };
        stream.headers = LentBuf::new(buffers.headers);
        stream.body = LentBuf::new(buffers.body);
        stream.send = LentBuf::new(buffers.send);
        self.streams.push(stream)
    }
    fn swap_remove(&mut self, index: usize) -> Stream<LentBuf<'a>, LentBuf<'a>> {
        let mut stream = self.streams.swap_remove(index);
        let buffers = StreamBuffers {
            headers: mem::take(&mut stream.headers).into_inner(),
            body: mem::take(&mut stream.body).into_inner(),
            send: mem::take(&mut stream.send).into_inner(),
        };
        // The buffers came from `free`, which has room for every one.
        let _ = self.free.push(buffers);
        stream
    }
    fn has_room(&self) -> bool {
        !self.free.is_empty() && !self.streams.is_full()
    }
}

/// Sizes for [`LentStorage::from_region`]: how one region of caller memory
/// is cut up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LentLayout {
    /// Bytes of header-block scratch.
    pub scratch: usize,
    /// Bytes of HPACK decoder table (4096 is HTTP/2's default).
    pub decoder_table: usize,
    /// Streams that may be open at once.
    pub streams: usize,
    /// Bytes of received headers per stream.
    pub headers: usize,
    /// Bytes of received body per stream.
    pub body: usize,
    /// Bytes of send queue per stream.
    pub send: usize,
}

impl LentLayout {
    /// Bytes of region the layout takes.
    pub const fn total(&self) -> usize {
        self.scratch + self.decoder_table + self.streams * (self.headers + self.body + self.send)
    }
}

/// Storage made of byte slices the caller lends, for at most `STREAMS`
/// streams at once and `CONTROL` queued control frames. The connection
/// holds the slices for its lifetime and nothing else: its encoder never
/// indexes (a client needs no table for the few fields it sends).
pub struct LentStorage<'a, const STREAMS: usize = 2, const CONTROL: usize = 8> {
    scratch: &'a mut [u8],
    decoder_table: &'a mut [u8],
    streams: LentStreams<'a, STREAMS>,
}

impl<'a, const STREAMS: usize, const CONTROL: usize> LentStorage<'a, STREAMS, CONTROL> {
    /// Storage over `scratch` (header blocks being received), `decoder_table`
    /// (the HPACK decoder's table) and one [`StreamBuffers`] per stream that
    /// may be open at once (at most `STREAMS`).
    pub fn new(
        scratch: &'a mut [u8],
        decoder_table: &'a mut [u8],
        streams: impl IntoIterator<Item = StreamBuffers<'a>>,
    ) -> Result<Self, ConfigError> {
        let mut free = heapless::Vec::new();
        for buffers in streams {
            free.push(buffers).map_err(|_| ConfigError {
                reason: "more stream buffers than the storage's STREAMS",
            })?;
        }
        Ok(LentStorage {
            scratch,
            decoder_table,
            streams: LentStreams {
                streams: heapless::Vec::new(),
                free,
            },
        })
    }

    /// Storage cut from one `region` of caller memory as `layout` says (the
    /// region must hold [`LentLayout::total`] bytes; the rest is unused).
    pub fn from_region(region: &'a mut [u8], layout: &LentLayout) -> Result<Self, ConfigError> {
        if region.len() < layout.total() || layout.streams > STREAMS {
            return Err(ConfigError {
                reason: "region smaller than the layout, or more streams than STREAMS",
            });
        }
        let (scratch, rest) = region.split_at_mut(layout.scratch);
        let (decoder_table, mut rest) = rest.split_at_mut(layout.decoder_table);
        let mut streams: heapless::Vec<StreamBuffers<'a>, STREAMS> = heapless::Vec::new();
        for _ in 0..layout.streams {
            let (headers, r) = mem::take(&mut rest).split_at_mut(layout.headers);
            let (body, r) = r.split_at_mut(layout.body);
            let (send, r) = r.split_at_mut(layout.send);
            rest = r;
            let _ = streams.push(StreamBuffers {
                headers,
                body,
                send,
            });
        }
        Self::new(scratch, decoder_table, streams)
    }
}

impl<'a, const STREAMS: usize, const CONTROL: usize> Storage for LentStorage<'a, STREAMS, CONTROL> {
    type Headers = LentBuf<'a>;
    type Body = LentBuf<'a>;
    type Scratch = &'a mut [u8];
    type DecoderTable = &'a mut [u8];
    type EncoderTable = [u8; 0];
    type BlockOut = [u8; 0];
    type Streams = LentStreams<'a, STREAMS>;
    type Control = heapless::Deque<Control, CONTROL>;

    fn into_parts(self, _config: &Config) -> Result<Parts<Self>, ConfigError> {
        if self.streams.free.is_empty() {
            return Err(ConfigError {
                reason: "no stream buffers lent",
            });
        }
        Ok(Parts {
            scratch: self.scratch,
            decoder_table: self.decoder_table,
            encoder_table: [],
            block_out: [],
            streams: self.streams,
            control: heapless::Deque::new(),
        })
    }
}

/// Two arrays of `N` bytes side by side, used as one slice.
#[derive(Clone, Debug)]
pub struct Twice<const N: usize>([[u8; N]; 2]);

impl<const N: usize> AsRef<[u8]> for Twice<N> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_flattened()
    }
}

impl<const N: usize> AsMut<[u8]> for Twice<N> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.0.as_flattened_mut()
    }
}

/// Fixed capacities held inline, no allocator: `STREAMS` streams, `HEADERS`
/// bytes of received header list per stream (and twice that of scratch),
/// `BODY` bytes per body and send queue, 4 KiB HPACK tables both ways.
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedStorage<const STREAMS: usize, const HEADERS: usize, const BODY: usize>;

impl<const STREAMS: usize, const HEADERS: usize, const BODY: usize> Storage
    for FixedStorage<STREAMS, HEADERS, BODY>
{
    type Headers = heapless::Vec<u8, HEADERS>;
    type Body = heapless::Vec<u8, BODY>;
    type Scratch = Twice<HEADERS>;
    type DecoderTable = [u8; crate::h2::hpack::DEFAULT_TABLE_SIZE];
    type EncoderTable = [u8; crate::h2::hpack::DEFAULT_TABLE_SIZE];
    type BlockOut = [u8; HEADERS];
    type Streams = heapless::Vec<Stream<Self::Headers, Self::Body>, STREAMS>;
    type Control = heapless::Deque<Control, 16>;

    fn into_parts(self, _config: &Config) -> Result<Parts<Self>, ConfigError> {
        Ok(Parts {
            scratch: Twice([[0; HEADERS]; 2]),
            decoder_table: [0; crate::h2::hpack::DEFAULT_TABLE_SIZE],
            encoder_table: [0; crate::h2::hpack::DEFAULT_TABLE_SIZE],
            block_out: [0; HEADERS],
            streams: heapless::Vec::new(),
            control: heapless::Deque::new(),
        })
    }
}

/// Growable buffers from the allocator; limits come from [`Config`] alone.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, Default)]
pub struct GrowableStorage;

#[cfg(feature = "alloc")]
impl Storage for GrowableStorage {
    type Headers = alloc::vec::Vec<u8>;
    type Body = alloc::vec::Vec<u8>;
    type Scratch = alloc::boxed::Box<[u8]>;
    type DecoderTable = [u8; crate::h2::hpack::DEFAULT_TABLE_SIZE];
    type EncoderTable = [u8; crate::h2::hpack::DEFAULT_TABLE_SIZE];
    type BlockOut = alloc::boxed::Box<[u8]>;
    type Streams = RecyclingStreams;
    type Control = BoundedControl;

    fn into_parts(self, config: &Config) -> Result<Parts<Self>, ConfigError> {
        let list = config.max_header_list_size as usize;
        let control = config.max_pending_control.min(GrowableStorage::MAX_CONTROL);
        Ok(Parts {
            scratch: alloc::vec![0; 2 * list].into_boxed_slice(),
            decoder_table: [0; crate::h2::hpack::DEFAULT_TABLE_SIZE],
            encoder_table: [0; crate::h2::hpack::DEFAULT_TABLE_SIZE],
            block_out: alloc::vec![0; list].into_boxed_slice(),
            streams: RecyclingStreams::default(),
            control: BoundedControl {
                queue: alloc::collections::VecDeque::with_capacity(control),
                limit: control,
            },
        })
    }
}

/// Most buffer sets a growable connection keeps from finished streams for
/// the next ones, so calls in steady state allocate no stream buffers, many
/// in flight at once included (within [`SPARE_BUFFER_BYTES`]).
#[cfg(feature = "alloc")]
pub const SPARE_STREAM_BUFFERS: usize = 128;

/// Most bytes of capacity the kept buffer sets hold together.
#[cfg(feature = "alloc")]
pub const SPARE_BUFFER_BYTES: usize = 64 * 1024;

/// Largest buffer kept for reuse: bigger ones (a large message's) are freed
/// with their stream, so what a connection keeps idle stays small.
#[cfg(feature = "alloc")]
pub const SPARE_BUFFER_CAPACITY: usize = 4096;

/// The growable stream table: streams in a `Vec`, and the buffers of
/// finished streams (each at most [`SPARE_BUFFER_CAPACITY`], at most
/// [`SPARE_STREAM_BUFFERS`] sets and [`SPARE_BUFFER_BYTES`] in all) kept,
/// emptied, for the next.
#[cfg(feature = "alloc")]
#[derive(Default)]
pub struct RecyclingStreams {
    streams: alloc::vec::Vec<Stream<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>>>,
    spare: alloc::vec::Vec<[alloc::vec::Vec<u8>; 3]>,
    /// Capacity of the buffers in `spare`.
    spare_bytes: usize,
    /// Largest capacity each of the three buffers of a kept set has had:
    /// every kept set is grown to it, so with messages of mixed sizes the
    /// sets stop growing once the largest has been seen, not once each set
    /// has met it.
    high_water: [usize; 3],
}

/// Capacity of a set of stream buffers.
#[cfg(feature = "alloc")]
fn set_capacity(set: &[alloc::vec::Vec<u8>; 3]) -> usize {
    set.iter().map(alloc::vec::Vec::capacity).sum()
}

#[cfg(feature = "alloc")]
impl StreamTable<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>> for RecyclingStreams {
    fn as_slice(&self) -> &[Stream<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>>] {
        &self.streams
    }
    fn as_mut_slice(&mut self) -> &mut [Stream<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>>] {
        &mut self.streams
    }
    fn try_push(
        &mut self,
        mut stream: Stream<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>>,
    ) -> Result<(), Stream<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>>> {
        if let Some(set) = self.spare.pop() {
            self.spare_bytes -= set_capacity(&set);
            let [headers, body, send] = set;
            stream.headers = headers;
            stream.body = body;
            stream.send = send;
        }
        self.streams.push(stream);
        Ok(())
    }
    fn swap_remove(&mut self, index: usize) -> Stream<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>> {
        let mut stream = self.streams.swap_remove(index);
        let small = |b: &alloc::vec::Vec<u8>| b.capacity() <= SPARE_BUFFER_CAPACITY;
        let bytes = stream.headers.capacity() + stream.body.capacity() + stream.send.capacity();
        if self.spare.len() < SPARE_STREAM_BUFFERS
            && self.spare_bytes + bytes <= SPARE_BUFFER_BYTES
            && small(&stream.headers)
            && small(&stream.body)
            && small(&stream.send)
        {
            let mut set = [
                mem::take(&mut stream.headers),
                mem::take(&mut stream.body),
                mem::take(&mut stream.send),
            ];
            for (buf, high) in set.iter_mut().zip(&mut self.high_water) {
                buf.clear();
                *high = (*high).max(buf.capacity());
            }
            if self.spare_bytes + self.high_water.iter().sum::<usize>() <= SPARE_BUFFER_BYTES {
                for (buf, &high) in set.iter_mut().zip(&self.high_water) {
                    buf.reserve_exact(high);
                }
            }
            self.spare_bytes += set_capacity(&set);
            self.spare.push(set);
        }
        stream
    }
    fn has_room(&self) -> bool {
        true
    }
}

#[cfg(feature = "alloc")]
impl GrowableStorage {
    /// Most control frames a growable connection queues, whatever its config.
    pub const MAX_CONTROL: usize = 4096;

    /// Most heap one `Connection<GrowableStorage>` with `config` holds,
    /// whatever its peer sends, while its application polls events, consumes
    /// bodies and releases finished streams between inputs. Derived from the
    /// limits alone:
    /// - the connection itself, the receive scratch (twice
    ///   `max_header_list_size`), the block going out
    ///   (`max_header_list_size`), the control queue (`max_pending_control`
    ///   frames);
    /// - the stream table: open streams, and as many the application saw
    ///   before they closed;
    /// - stored headers (`max_connection_header_size`; a refused block
    ///   leaves no spare capacity behind) and bodies
    ///   (`max_connection_body_size`), each twice while a `Vec` doubles;
    /// - the buffers kept from finished streams ([`SPARE_BUFFER_BYTES`],
    ///   in at most [`SPARE_STREAM_BUFFERS`] sets of three).
    ///
    /// What the application queues to send comes on top (it is its own).
    pub fn heap_bound(config: &Config) -> usize {
        let list = config.max_header_list_size as usize;
        // Open streams, and as many the application saw before they closed
        // (peer-opened streams it never saw are dropped when they close).
        let streams = 2 * config.max_concurrent_streams as usize + 2;
        let stream_size = mem::size_of::<Stream<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>>>();
        let bodies = config.max_connection_body_size.max(config.max_body_size);
        let control = config.max_pending_control.min(Self::MAX_CONTROL) + 1;
        mem::size_of::<super::Connection<Self>>()
            + 3 * list
            + 2 * control * mem::size_of::<Control>()
            + 2 * streams * stream_size
            + 2 * config.max_connection_header_size.max(2 * list)
            + 2 * bodies
            + 8 * streams
            + SPARE_BUFFER_BYTES
            + SPARE_STREAM_BUFFERS * mem::size_of::<[alloc::vec::Vec<u8>; 3]>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_cut_as_its_layout_says_and_streams_reuse_their_buffers() {
        let layout = LentLayout {
            scratch: 64,
            decoder_table: 128,
            streams: 2,
            headers: 32,
            body: 16,
            send: 8,
        };
        assert_eq!(layout.total(), 64 + 128 + 2 * 56);
        let mut region = [0u8; 400];
        let storage = LentStorage::<2>::from_region(&mut region, &layout).unwrap();
        let parts = storage.into_parts(&Config::embedded()).unwrap();
        assert_eq!(parts.scratch.len(), 64);
        assert_eq!(parts.decoder_table.len(), 128);
        let mut streams = parts.streams;
        for id in [1, 3] {
            assert!(streams.has_room());
            assert!(streams.try_push(Stream::new(id, 0, 0)).is_ok());
        }
        assert!(!streams.has_room());
        assert!(streams.try_push(Stream::new(5, 0, 0)).is_err());
        assert_eq!(streams.as_slice()[0].body.max_capacity(), 16);
        assert_eq!(streams.as_slice()[1].send.max_capacity(), 8);
        streams.swap_remove(0);
        assert!(streams.try_push(Stream::new(7, 0, 0)).is_ok());
        assert_eq!(streams.as_slice()[1].headers.max_capacity(), 32);

        let mut small = [0u8; 10];
        assert!(LentStorage::<2>::from_region(&mut small, &layout).is_err());
        let too_many = LentLayout {
            streams: 3,
            ..layout
        };
        let mut other = [0u8; 400];
        assert!(LentStorage::<2>::from_region(&mut other, &too_many).is_err());
    }
}
