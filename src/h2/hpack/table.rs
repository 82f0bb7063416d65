//! The dynamic table (RFC 7541 §2.3.2, §4) in one byte ring the owner
//! provides: an inline array, a boxed slice, or a slice a caller lends.
//!
//! Each entry is stored as `[name len][value len][name][value][name hash]
//! [field hash][name len][value len]` (lengths and hashes as big-endian
//! `u32`): 24 bytes besides the field. The lengths at the front let the
//! oldest entry be evicted; those at the back let entries be walked from the
//! newest. HPACK counts 32 bytes of overhead per entry (§4.1), more than the
//! 24 we store, so a ring of `capacity` bytes can always hold a table whose
//! maximum size is at most `capacity`: the storage never runs out before
//! HPACK's own accounting says the table is full. That is what lets us
//! decode exactly as the peer encodes, in memory fixed in advance.

use crate::buf::ByteArray;

/// Per-entry overhead defined by RFC 7541 §4.1.
pub const ENTRY_OVERHEAD: usize = 32;

/// Bytes stored per entry besides its name and value.
const STORED_OVERHEAD: usize = 24;
const HEAD: usize = 8;

/// A field as stored in the ring: each part may wrap around the end of the
/// ring, so it is given as two slices to be read in order.
#[derive(Clone, Copy, Debug)]
pub struct SplitField<'a> {
    /// Name, first part then second.
    pub name: (&'a [u8], &'a [u8]),
    /// Value, first part then second.
    pub value: (&'a [u8], &'a [u8]),
}

impl SplitField<'_> {
    /// Total name length.
    pub fn name_len(&self) -> usize {
        self.name.0.len() + self.name.1.len()
    }
    /// Total value length.
    pub fn value_len(&self) -> usize {
        self.value.0.len() + self.value.1.len()
    }
}

/// An HPACK dynamic table in the byte storage `D` (by default 4096 inline
/// bytes, HTTP/2's initial table size). Its capacity is `D`'s length; a
/// zero-length `D` makes a table that never holds anything (an encoder
/// that never indexes needs no more).
#[derive(Clone, Debug)]
pub struct DynamicTable<D = [u8; super::DEFAULT_TABLE_SIZE]> {
    data: D,
    /// Number of live entries.
    len: usize,
    /// Ring offset of the oldest entry and the count of stored bytes.
    data_start: usize,
    data_len: usize,
    /// HPACK size (§4.1) of the live entries.
    size: usize,
    /// Current maximum size (§4.2); never above the capacity.
    max_size: usize,
}

impl<D: ByteArray> DynamicTable<D> {
    /// An empty table in fresh storage (see [`ByteArray::zeroed`]) with the
    /// given maximum size, clamped to the capacity.
    pub fn new(max_size: usize) -> Self {
        Self::with_storage(D::zeroed(super::DEFAULT_TABLE_SIZE), max_size)
    }
}

impl<D: AsRef<[u8]> + AsMut<[u8]>> DynamicTable<D> {
    /// An empty table in `data` with the given maximum size, clamped to
    /// `data`'s length.
    pub fn with_storage(data: D, max_size: usize) -> Self {
        let capacity = data.as_ref().len().min(u32::MAX as usize);
        DynamicTable {
            data,
            len: 0,
            data_start: 0,
            data_len: 0,
            size: 0,
            max_size: max_size.min(capacity),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Current HPACK size: sum of name + value + 32 over the entries.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Current maximum size.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The largest maximum size this storage supports (its length).
    pub fn capacity(&self) -> usize {
        self.data.as_ref().len().min(u32::MAX as usize)
    }

    /// Changes the maximum size (clamped to the capacity), evicting as §4.3 says.
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size.min(self.capacity());
        while self.size > self.max_size {
            self.evict_oldest();
        }
    }

    /// Removes every entry, keeping the maximum size.
    pub fn clear(&mut self) {
        self.len = 0;
        self.data_start = 0;
        self.data_len = 0;
        self.size = 0;
    }

    fn evict_oldest(&mut self) {
        if self.len == 0 {
            return;
        }
        let (nl, vl) = self.lengths_at(self.data_start);
        let n = nl + vl;
        let stored = n + STORED_OVERHEAD;
        self.data_start = (self.data_start + stored) % self.capacity().max(1);
        self.data_len = self.data_len.saturating_sub(stored);
        self.size = self.size.saturating_sub(n + ENTRY_OVERHEAD);
        self.len -= 1;
        if self.len == 0 {
            self.clear();
        }
    }

    /// Adds an entry at index 0, evicting per §4.4. An entry larger than the
    /// maximum size empties the table and is not added.
    pub fn insert(&mut self, name: &[u8], value: &[u8]) {
        self.insert_hashed(name, value, 0, 0);
    }

    /// [`insert`](Self::insert) recording the encoder's lookup hashes.
    pub(super) fn insert_hashed(&mut self, name: &[u8], value: &[u8], nh: u32, fh: u32) {
        let n = name.len().saturating_add(value.len());
        if n.saturating_add(ENTRY_OVERHEAD) > self.max_size {
            self.clear();
            return;
        }
        while self.size + n + ENTRY_OVERHEAD > self.max_size {
            self.evict_oldest();
        }
        let cap = self.capacity();
        // Lengths are below the capacity, which fits a u32.
        let (nl, vl) = (
            (name.len() as u32).to_be_bytes(),
            (value.len() as u32).to_be_bytes(),
        );
        let mut at = (self.data_start + self.data_len) % cap;
        for part in [
            &nl[..],
            &vl[..],
            name,
            value,
            &nh.to_be_bytes()[..],
            &fh.to_be_bytes()[..],
            &nl[..],
            &vl[..],
        ] {
            self.write_at(at, part);
            at = (at + part.len()) % cap;
        }
        self.data_len += n + STORED_OVERHEAD;
        self.size += n + ENTRY_OVERHEAD;
        self.len += 1;
    }

    fn write_at(&mut self, off: usize, src: &[u8]) {
        let data = self.data.as_mut();
        let first = src.len().min(data.len().saturating_sub(off));
        let (a, b) = src.split_at(first);
        if let Some(d) = data.get_mut(off..off + a.len()) {
            d.copy_from_slice(a);
        }
        if let Some(d) = data.get_mut(..b.len()) {
            d.copy_from_slice(b);
        }
    }

    fn read_at(&self, off: usize, len: usize) -> (&[u8], &[u8]) {
        let data = self.data.as_ref();
        let first = len.min(data.len().saturating_sub(off));
        let a = data.get(off..off + first).unwrap_or(&[]);
        let b = data.get(..len - first).unwrap_or(&[]);
        (a, b)
    }

    fn u32_at(&self, off: usize) -> usize {
        let off = off % self.capacity().max(1);
        // Most words do not wrap around the ring: one load, no copies
        // (a header block's indexed fields walk the table word by word).
        if let Some(&[a, b, c, d]) = self.data.as_ref().get(off..off + 4) {
            return u32::from_be_bytes([a, b, c, d]) as usize;
        }
        let (a, b) = self.read_at(off, 4);
        let mut word = [0u8; 4];
        word[..a.len()].copy_from_slice(a);
        word[a.len()..a.len() + b.len()].copy_from_slice(b);
        u32::from_be_bytes(word) as usize
    }

    /// The (name, value) lengths stored at the front of the entry at `off`.
    fn lengths_at(&self, off: usize) -> (usize, usize) {
        (self.u32_at(off), self.u32_at(off + 4))
    }

    /// The entries from the newest: each one's ring offset and lengths.
    fn walk(&self) -> Walk<'_, D> {
        Walk {
            table: self,
            end: self.data_start + self.data_len,
            left: self.len,
        }
    }

    fn field_at(&self, off: usize, nl: usize, vl: usize) -> SplitField<'_> {
        let cap = self.capacity().max(1);
        SplitField {
            name: self.read_at((off + HEAD) % cap, nl),
            value: self.read_at((off + HEAD + nl) % cap, vl),
        }
    }

    /// The entry at 0-based `index` (0 is the newest), as possibly-wrapped parts.
    pub fn get(&self, index: usize) -> Option<SplitField<'_>> {
        let (off, nl, vl) = self.walk().nth(index)?;
        Some(self.field_at(off, nl, vl))
    }

    /// Every entry from the newest (index 0), with the encoder's hashes.
    pub(super) fn entries(&self) -> impl Iterator<Item = (SplitField<'_>, u32, u32)> {
        self.walk().map(|(off, nl, vl)| {
            let hashes = off + HEAD + nl + vl;
            let (nh, fh) = (self.u32_at(hashes), self.u32_at(hashes + 4));
            (self.field_at(off, nl, vl), nh as u32, fh as u32)
        })
    }
}

/// Walks the ring backwards from its newest entry.
struct Walk<'t, D> {
    table: &'t DynamicTable<D>,
    /// Unwrapped offset just past the next entry to yield.
    end: usize,
    left: usize,
}

impl<D: AsRef<[u8]> + AsMut<[u8]>> Iterator for Walk<'_, D> {
    type Item = (usize, usize, usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let cap = self.table.capacity().max(1);
        // `end` stays at or above `data_start`, which is below `cap`; add
        // `cap` before subtracting so the offsets never underflow.
        let end = self.end + cap;
        let nl = self.table.u32_at(end - 8);
        let vl = self.table.u32_at(end - 4);
        let stored = nl + vl + STORED_OVERHEAD;
        let start = end.checked_sub(stored)?;
        self.end = start.checked_sub(cap)?;
        self.left -= 1;
        Some((start % cap, nl, vl))
    }
}

/// Compares a possibly-wrapped stored string with a contiguous one.
pub(super) fn split_eq(parts: (&[u8], &[u8]), other: &[u8]) -> bool {
    parts.0.len() + parts.1.len() == other.len()
        && other.get(..parts.0.len()) == Some(parts.0)
        && other.get(parts.0.len()..) == Some(parts.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<D: AsRef<[u8]> + AsMut<[u8]>>(
        t: &DynamicTable<D>,
        i: usize,
    ) -> ([u8; 64], usize, usize) {
        let f = t.get(i).unwrap();
        let mut buf = [0u8; 64];
        let parts = [f.name.0, f.name.1, f.value.0, f.value.1];
        let mut n = 0;
        for p in parts {
            buf[n..n + p.len()].copy_from_slice(p);
            n += p.len();
        }
        (buf, f.name_len(), f.value_len())
    }

    #[test]
    fn eviction_wraparound_and_oversized_entries() {
        let mut t = DynamicTable::<[u8; 256]>::new(256);
        for i in 0..50u8 {
            let v = [b'a' + (i % 26); 20];
            t.insert(b"name", &v);
            assert!(t.size() <= 256);
            let (buf, nl, vl) = entry(&t, 0);
            assert_eq!(&buf[..nl], b"name");
            assert_eq!(&buf[nl..nl + vl], &v);
            assert!(split_eq(t.get(0).unwrap().value, &v));
            if i > 0 {
                let (buf, nl, vl) = entry(&t, 1);
                assert_eq!(&buf[nl..nl + vl], &[b'a' + ((i - 1) % 26); 20]);
            }
        }
        // Each entry is 4 + 20 + 32 = 56 bytes, so 4 fit in 256.
        assert_eq!(t.len(), 4);
        assert_eq!(t.size(), 224);
        assert!(t.get(4).is_none());
        t.set_max_size(100);
        assert_eq!(t.len(), 1);
        t.insert(&[b'x'; 60], &[b'y'; 20]);
        assert!(t.is_empty());
        assert!(t.get(0).is_none());
        t.set_max_size(10_000);
        assert_eq!(t.max_size(), 256);
    }

    #[test]
    fn a_full_table_of_the_smallest_entries_fits_its_ring() {
        // 32 bytes of HPACK size per empty field, 24 stored: 8 entries of a
        // 256-byte table use 192 ring bytes, however they wrap.
        let mut t = DynamicTable::<[u8; 256]>::new(256);
        for round in 0..40u8 {
            t.insert(b"", &[]);
            t.insert(b"k", &[round]);
            assert!(t.len() <= 8);
            let (buf, nl, vl) = entry(&t, 0);
            assert_eq!((&buf[..nl], &buf[nl..nl + vl]), (&b"k"[..], &[round][..]));
        }
    }

    #[test]
    fn a_lent_slice_is_a_table_and_an_empty_one_holds_nothing() {
        let mut ring = [0u8; 128];
        let mut t = DynamicTable::with_storage(&mut ring[..], 4096);
        assert_eq!(t.max_size(), 128);
        t.insert(b"a", b"b");
        assert_eq!(t.size(), 34);
        let mut none = DynamicTable::with_storage(&mut [][..], 4096);
        none.insert(b"a", b"b");
        assert!(none.is_empty());
        assert_eq!(none.max_size(), 0);
    }
}
