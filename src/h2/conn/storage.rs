//! Where a connection's memory comes from: fixed capacities without an
//! allocator, or growable buffers with one.

use super::Connection;
use crate::buf::Buffer;
use crate::h2::stream::Stream;
#[cfg(feature = "alloc")]
use crate::h2::Config;

/// Where the connection's memory comes from.
pub trait Storage {
    /// Received header lists (bounded by `max_header_list_size`).
    type Headers: Buffer + Default;
    /// Stream bodies, both directions, and the send queue.
    type Body: Buffer + Default;
    /// The frame decoder's reassembly buffer: at least `max_frame_size` bytes.
    type Frame: ByteArray;
    /// Room for the largest single decoded header field, and for the largest
    /// header block we encode.
    type Scratch: ByteArray;
    /// The stream table.
    type Streams: StreamTable<Self::Headers, Self::Body> + Default;
}

/// The table of live streams.
pub trait StreamTable<H, B> {
    /// The streams, in no particular order.
    fn as_slice(&self) -> &[Stream<H, B>];
    /// The streams, mutably.
    fn as_mut_slice(&mut self) -> &mut [Stream<H, B>];
    /// Adds a stream, or hands it back when the table is full (by value: a
    /// fixed table has nowhere else to put it).
    #[allow(clippy::result_large_err)]
    fn try_push(&mut self, stream: Stream<H, B>) -> Result<(), Stream<H, B>>;
    /// Removes the stream at `index`.
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

/// Fixed capacities, no allocator: `STREAMS` streams, `HEADERS` bytes of
/// received header list per stream, `BODY` bytes per body and send queue.
pub struct FixedStorage<const STREAMS: usize, const HEADERS: usize, const BODY: usize>;

impl<const STREAMS: usize, const HEADERS: usize, const BODY: usize> Storage
    for FixedStorage<STREAMS, HEADERS, BODY>
{
    type Headers = heapless::Vec<u8, HEADERS>;
    type Body = heapless::Vec<u8, BODY>;
    type Frame = [u8; 16_384];
    type Scratch = [u8; HEADERS];
    type Streams = heapless::Vec<Stream<Self::Headers, Self::Body>, STREAMS>;
}

/// Growable buffers from the allocator; limits come from [`Config`] alone.
#[cfg(feature = "alloc")]
pub struct GrowableStorage;

#[cfg(feature = "alloc")]
impl Storage for GrowableStorage {
    type Headers = alloc::vec::Vec<u8>;
    type Body = alloc::vec::Vec<u8>;
    type Frame = alloc::boxed::Box<[u8]>;
    type Scratch = alloc::boxed::Box<[u8]>;
    type Streams = alloc::vec::Vec<Stream<Self::Headers, Self::Body>>;
}

#[cfg(feature = "alloc")]
impl GrowableStorage {
    /// Most heap one `Connection<GrowableStorage>` with `config` holds,
    /// whatever its peer sends, while its application polls events, consumes
    /// bodies and releases finished streams between inputs. Derived from the
    /// limits alone:
    /// - the connection itself, the frame buffer (`max_frame_size`), the
    ///   decoding and encoding scratch and the block being reassembled (each
    ///   `max_header_list_size`, the last twice while its `Vec` doubles);
    /// - the stream table: open streams, and as many the application saw
    ///   before they closed;
    /// - stored headers (`max_connection_header_size`; a refused block
    ///   leaves no spare capacity behind) and bodies
    ///   (`max_connection_body_size`), each twice while a `Vec` doubles.
    ///
    /// What the application queues to send comes on top (it is its own).
    pub fn heap_bound(config: &Config) -> usize {
        let list = config.max_header_list_size as usize;
        // Open streams, and as many the application saw before they closed
        // (peer-opened streams it never saw are dropped when they close).
        let streams = 2 * config.max_concurrent_streams as usize + 2;
        let stream_size = core::mem::size_of::<Stream<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>>>();
        let bodies = config.max_connection_body_size.max(config.max_body_size);
        core::mem::size_of::<Connection<Self>>()
            + config.max_frame_size as usize
            + 4 * list
            + 2 * streams * stream_size
            + 2 * config.max_connection_header_size.max(2 * list)
            + 2 * bodies
            + 8 * streams
    }
}

/// A fixed-size byte array, or a boxed slice sized at construction.
pub trait ByteArray: AsMut<[u8]> + AsRef<[u8]> {
    /// Zeroed storage; fixed arrays ignore `len`, growable ones allocate it.
    fn zeroed(len: usize) -> Self;
}

impl<const N: usize> ByteArray for [u8; N] {
    fn zeroed(_len: usize) -> Self {
        [0; N]
    }
}

#[cfg(feature = "alloc")]
impl ByteArray for alloc::boxed::Box<[u8]> {
    fn zeroed(len: usize) -> Self {
        alloc::vec![0; len].into_boxed_slice()
    }
}
