//! Byte storage that the state machines are generic over, so one
//! implementation serves every tier: fixed capacity without an allocator
//! (`heapless::Vec<u8, N>`), growable with one (`Vec<u8>`).

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
    /// Makes room for `additional` more bytes at once, when the final size
    /// is known early (a growable buffer then grows once, not by doubling).
    fn reserve(&mut self, _additional: usize) {}
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
    fn reserve(&mut self, additional: usize) {
        alloc::vec::Vec::reserve(self, additional)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(b: &mut impl Buffer) {
        b.try_extend(b"hello").unwrap();
        b.try_extend(b" world").unwrap();
        b.consume(6);
        assert_eq!(b.as_slice(), b"world");
        b.consume(99);
        assert!(b.is_empty());
    }

    #[test]
    fn fixed_and_growable_behave_alike() {
        exercise(&mut heapless::Vec::<u8, 16>::new());
        exercise(&mut std::vec::Vec::new());
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
