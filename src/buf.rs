//! Byte storage that the state machines are generic over, so one
//! implementation serves every tier: fixed capacity without an allocator
//! (`heapless::Vec<u8, N>`), memory the caller lends ([`LentBuf`], over a
//! `&mut [u8]`, which is how a C host hands in its own bytes), growable with
//! an allocator (`Vec<u8>`).

/// The buffer is full: its fixed capacity cannot take the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferFull;

/// Contiguous byte storage with append-at-back and remove-from-front.
pub trait Buffer {
    /// The stored bytes.
    fn as_slice(&self) -> &[u8];
    /// The stored bytes, mutably.
    fn as_mut_slice(&mut self) -> &mut [u8];
    /// Keeps the first `len` bytes.
    fn truncate(&mut self, len: usize);
    /// Appends `data`, all or nothing.
    fn try_extend(&mut self, data: &[u8]) -> Result<(), BufferFull>;
    /// Removes the first `n` bytes (all of them when `n` exceeds the length).
    fn consume(&mut self, n: usize);
    /// Removes everything.
    fn clear(&mut self);
    /// Most bytes this buffer can ever hold.
    fn max_capacity(&self) -> usize;
    /// Number of stored bytes.
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    /// Whether no bytes are stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes that can still be appended.
    fn free(&self) -> usize {
        self.max_capacity() - self.len()
    }
    /// The buffer is expected to reach `total` bytes (a message whose
    /// length was announced): a growable buffer grows toward it, to at most
    /// twice what it holds or 4 KiB more (an announcement alone gets no
    /// memory that the bytes have not earned) and never past it (a message
    /// that ends where it said leaves no spare capacity). Fixed and lent
    /// buffers ignore it.
    fn grow_toward(&mut self, _total: usize) {}
    /// Gives back spare capacity a growable buffer holds beyond its bytes
    /// (fixed and lent buffers keep theirs).
    fn shrink_to_fit(&mut self) {}
    /// Appends `n` zero bytes, all or nothing (room for a caller to write
    /// into in place).
    fn try_extend_zeroed(&mut self, n: usize) -> Result<(), BufferFull> {
        if self.free() < n {
            return Err(BufferFull);
        }
        const ZEROS: [u8; 256] = [0; 256];
        let mut left = n;
        while left > 0 {
            let k = left.min(ZEROS.len());
            self.try_extend(&ZEROS[..k])?;
            left -= k;
        }
        Ok(())
    }
}

/// A [`Buffer`] over bytes the caller lends: its capacity is the slice's
/// length, and it never allocates. The empty default lends nothing.
#[derive(Debug, Default)]
pub struct LentBuf<'a> {
    bytes: &'a mut [u8],
    len: usize,
}

impl<'a> LentBuf<'a> {
    /// An empty buffer over `bytes`.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        LentBuf { bytes, len: 0 }
    }

    /// The whole lent slice back.
    pub fn into_inner(self) -> &'a mut [u8] {
        self.bytes
    }
}

impl Buffer for LentBuf<'_> {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self.bytes.get_mut(..self.len).unwrap_or_default()
    }
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
    fn try_extend(&mut self, data: &[u8]) -> Result<(), BufferFull> {
        let end = self.len.checked_add(data.len()).ok_or(BufferFull)?;
        let dst = self.bytes.get_mut(self.len..end).ok_or(BufferFull)?;
        dst.copy_from_slice(data);
        self.len = end;
        Ok(())
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.bytes.copy_within(n..self.len, 0);
        self.len -= n;
    }
    fn clear(&mut self) {
        self.len = 0;
    }
    fn max_capacity(&self) -> usize {
        self.bytes.len()
    }
}

/// A fixed-size byte array, a boxed slice sized at construction, or a lent
/// slice: the storage of a buffer that is used whole (a table, a scratch).
pub trait ByteArray: AsMut<[u8]> + AsRef<[u8]> {
    /// Zeroed storage; fixed arrays ignore `len`, growable ones allocate
    /// it, lent slices cannot be made and are empty.
    fn zeroed(len: usize) -> Self;
}

impl<const N: usize> ByteArray for [u8; N] {
    fn zeroed(_len: usize) -> Self {
        [0; N]
    }
}

impl ByteArray for &mut [u8] {
    fn zeroed(_len: usize) -> Self {
        &mut []
    }
}

#[cfg(feature = "alloc")]
impl ByteArray for alloc::boxed::Box<[u8]> {
    fn zeroed(len: usize) -> Self {
        alloc::vec![0; len].into_boxed_slice()
    }
}

impl<const N: usize> Buffer for heapless::Vec<u8, N> {
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self
    }
    fn truncate(&mut self, len: usize) {
        heapless::Vec::truncate(self, len)
    }
    fn try_extend(&mut self, data: &[u8]) -> Result<(), BufferFull> {
        self.extend_from_slice(data).map_err(|_| BufferFull)
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.len());
        self.copy_within(n.., 0);
        self.truncate(self.len() - n);
    }
    fn clear(&mut self) {
        heapless::Vec::clear(self)
    }
    fn max_capacity(&self) -> usize {
        N
    }
}

#[cfg(feature = "alloc")]
impl Buffer for alloc::vec::Vec<u8> {
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self
    }
    fn truncate(&mut self, len: usize) {
        alloc::vec::Vec::truncate(self, len)
    }
    fn try_extend(&mut self, data: &[u8]) -> Result<(), BufferFull> {
        self.extend_from_slice(data);
        Ok(())
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.len());
        self.drain(..n);
    }
    fn clear(&mut self) {
        alloc::vec::Vec::clear(self)
    }
    fn max_capacity(&self) -> usize {
        isize::MAX as usize
    }
    fn grow_toward(&mut self, total: usize) {
        let (len, capacity) = (self.len(), self.capacity());
        // Grown only once less than half of what it holds is free, so each
        // growth but the last (cut at `total`) is by a third at least:
        // amortised like doubling.
        if total <= capacity || capacity - len >= len / 2 {
            return;
        }
        let target = total.min(len.saturating_mul(2).max(len + 4096));
        if target > capacity {
            self.reserve_exact(target - len);
        }
    }
    fn shrink_to_fit(&mut self) {
        alloc::vec::Vec::shrink_to_fit(self)
    }
    fn try_extend_zeroed(&mut self, n: usize) -> Result<(), BufferFull> {
        if n > Buffer::free(self) {
            return Err(BufferFull);
        }
        // One memset, not a loop of small copies (a large message's room).
        self.resize(self.len() + n, 0);
        Ok(())
    }
}

/// Where `inner` lies within `outer`, when it is a part of it (a field
/// of a message decoded in place, say): the range of `outer` it covers.
pub fn range_within(outer: &[u8], inner: &[u8]) -> Option<core::ops::Range<usize>> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some(start..end)
}

/// `buffer` cut down to its bytes at `range` (clamped to the buffer), moved
/// to its front: a large message's payload made a `Vec` of its own without
/// a new allocation (moving bytes within memory already touched costs far
/// less than faulting in fresh pages for a copy).
#[cfg(feature = "alloc")]
pub fn carve(
    mut buffer: alloc::vec::Vec<u8>,
    range: core::ops::Range<usize>,
) -> alloc::vec::Vec<u8> {
    let end = range.end.min(buffer.len());
    buffer.truncate(end);
    buffer.drain(..range.start.min(end));
    buffer
}

#[cfg(test)]
mod tests {
    #[test]
    fn range_within_finds_a_part_and_refuses_anything_else() {
        let outer = [1u8, 2, 3, 4, 5];
        assert_eq!(super::range_within(&outer, &outer[1..4]), Some(1..4));
        assert_eq!(super::range_within(&outer, &outer[5..]), Some(5..5));
        // Before the outer slice, or running past its end: not a part.
        assert_eq!(super::range_within(&outer[2..], &outer[..3]), None);
        assert_eq!(super::range_within(&outer[..3], &outer[1..5]), None);
    }

    #[test]
    fn carve_keeps_the_range_moved_to_the_front_and_never_panics() {
        let v = std::vec::Vec::from(&b"headPAYLOADtail"[..]);
        assert_eq!(super::carve(v.clone(), 4..11), b"PAYLOAD");
        assert_eq!(super::carve(v.clone(), 0..4), b"head");
        assert_eq!(super::carve(v.clone(), 11..40), b"tail");
        assert!(super::carve(v, 30..40).is_empty());
    }

    use super::*;

    fn exercise(b: &mut impl Buffer) {
        b.try_extend(b"hello").unwrap();
        b.try_extend(b" world").unwrap();
        b.consume(6);
        assert_eq!(b.as_slice(), b"world");
        b.consume(99);
        assert!(b.is_empty());
        b.try_extend(b"ab").unwrap();
        b.try_extend_zeroed(600.min(b.free())).unwrap();
        assert!(b.as_slice()[2..].iter().all(|&x| x == 0));
        assert_eq!(&b.as_slice()[..2], b"ab");
        if b.max_capacity() < 1 << 20 {
            assert!(b.try_extend_zeroed(b.free() + 1).is_err());
        }
        b.clear();
    }

    #[test]
    fn fixed_lent_and_growable_behave_alike() {
        exercise(&mut heapless::Vec::<u8, 16>::new());
        exercise(&mut std::vec::Vec::new());
        let mut bytes = [0u8; 16];
        exercise(&mut LentBuf::new(&mut bytes));
    }

    #[test]
    fn a_lent_buffer_holds_what_its_slice_holds() {
        let mut bytes = [0u8; 4];
        let mut b = LentBuf::new(&mut bytes);
        b.try_extend(b"abc").unwrap();
        assert_eq!(b.try_extend(b"de"), Err(BufferFull));
        assert_eq!(b.as_slice(), b"abc");
        b.consume(1);
        b.try_extend(b"de").unwrap();
        assert_eq!(b.as_slice(), b"bcde");
        assert_eq!(b.free(), 0);
        assert_eq!(LentBuf::default().try_extend(b"x"), Err(BufferFull));
    }

    #[test]
    fn fixed_buffer_refuses_whole_appends_past_capacity() {
        let mut b = heapless::Vec::<u8, 4>::new();
        b.try_extend(b"abc").unwrap();
        assert_eq!(b.try_extend(b"de"), Err(BufferFull));
        assert_eq!(b.as_slice(), b"abc");
        assert_eq!(b.free(), 1);
    }
}
