//! The dynamic table (RFC 7541 §2.3.2, §4) in fixed, inline storage.
//!
//! Field bytes live in a byte ring of `BYTES` bytes and entry descriptors in a
//! ring of `ENTRIES` slots. Because every entry costs 32 bytes of table size
//! beyond its name and value, a table whose maximum size is at most `BYTES`
//! never holds more than `BYTES` field bytes or `BYTES / 32` entries, so with
//! `ENTRIES >= BYTES / 32` storage can never run out before HPACK's own
//! accounting says the table is full. That is what lets us decode exactly as
//! the peer encodes without allocating.

/// Per-entry overhead defined by RFC 7541 §4.1.
pub const ENTRY_OVERHEAD: usize = 32;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Offset of the name in the byte ring; the value follows it (possibly wrapping).
    off: u32,
    name_len: u32,
    value_len: u32,
    /// Hashes for the encoder's lookups; zero when inserted by a decoder.
    name_hash: u32,
    field_hash: u32,
}

/// A field as stored in the ring: each part may wrap around the end of the
/// ring, so it is given as two slices to be read in order.
#[derive(Clone, Copy, Debug)]
pub struct SplitField<'a> {
    /// Name, first part.
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

/// An HPACK dynamic table with room for `BYTES` bytes of table size and
/// `ENTRIES` entries. `ENTRIES` must be at least `BYTES / 32`.
#[derive(Clone, Debug)]
pub struct DynamicTable<const BYTES: usize, const ENTRIES: usize> {
    data: [u8; BYTES],
    slots: [Slot; ENTRIES],
    /// Ring index of the oldest slot.
    head: usize,
    /// Number of live entries.
    len: usize,
    /// Ring offset of the oldest entry's bytes and the count of live bytes.
    data_start: usize,
    data_len: usize,
    /// HPACK size (§4.1) of the live entries.
    size: usize,
    /// Current maximum size (§4.2); never above `BYTES`.
    max_size: usize,
}

impl<const BYTES: usize, const ENTRIES: usize> Default for DynamicTable<BYTES, ENTRIES> {
    fn default() -> Self {
        Self::new(BYTES)
    }
}

impl<const BYTES: usize, const ENTRIES: usize> DynamicTable<BYTES, ENTRIES> {
    /// Rejected at compile time when too few slots are provided to honour the size.
    const CAPACITY_OK: () = assert!(
        ENTRIES * ENTRY_OVERHEAD >= BYTES && BYTES <= u32::MAX as usize,
        "DynamicTable needs ENTRIES >= BYTES / 32"
    );

    /// An empty table with the given maximum size, clamped to `BYTES`.
    pub fn new(max_size: usize) -> Self {
        let () = Self::CAPACITY_OK;
        DynamicTable {
            data: [0; BYTES],
            slots: [Slot::default(); ENTRIES],
            head: 0,
            len: 0,
            data_start: 0,
            data_len: 0,
            size: 0,
            max_size: max_size.min(BYTES),
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

    /// The largest maximum size this storage supports.
    pub const fn capacity(&self) -> usize {
        BYTES
    }

    /// Changes the maximum size (clamped to `BYTES`), evicting as §4.3 says.
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size.min(BYTES);
        while self.size > self.max_size {
            self.evict_oldest();
        }
    }

    /// Removes every entry, keeping the maximum size.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.data_start = 0;
        self.data_len = 0;
        self.size = 0;
    }

    fn evict_oldest(&mut self) {
        let Some(slot) = self.slots.get(self.head).copied() else {
            return;
        };
        if self.len == 0 {
            return;
        }
        let n = (slot.name_len + slot.value_len) as usize;
        self.data_start = (self.data_start + n) % BYTES.max(1);
        self.data_len -= n;
        self.size -= n + ENTRY_OVERHEAD;
        self.head = (self.head + 1) % ENTRIES;
        self.len -= 1;
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
        let off = (self.data_start + self.data_len) % BYTES;
        self.write_at(off, name);
        self.write_at((off + name.len()) % BYTES, value);
        self.data_len += n;
        self.size += n + ENTRY_OVERHEAD;
        let idx = (self.head + self.len) % ENTRIES;
        if let Some(s) = self.slots.get_mut(idx) {
            // Lengths are below BYTES, which CAPACITY_OK bounds by u32::MAX.
            *s = Slot {
                off: off as u32,
                name_len: name.len() as u32,
                value_len: value.len() as u32,
                name_hash: nh,
                field_hash: fh,
            };
        }
        self.len += 1;
    }

    fn write_at(&mut self, off: usize, src: &[u8]) {
        let first = src.len().min(BYTES - off);
        let (a, b) = src.split_at(first);
        if let Some(d) = self.data.get_mut(off..off + a.len()) {
            d.copy_from_slice(a);
        }
        if let Some(d) = self.data.get_mut(..b.len()) {
            d.copy_from_slice(b);
        }
    }

    fn read_at(&self, off: usize, len: usize) -> (&[u8], &[u8]) {
        let first = len.min(BYTES - off);
        let a = self.data.get(off..off + first).unwrap_or(&[]);
        let b = self.data.get(..len - first).unwrap_or(&[]);
        (a, b)
    }

    fn slot(&self, index: usize) -> Option<&Slot> {
        if index >= self.len {
            return None;
        }
        self.slots.get((self.head + self.len - 1 - index) % ENTRIES)
    }

    /// The entry at 0-based `index` (0 is the newest), as possibly-wrapped parts.
    pub fn get(&self, index: usize) -> Option<SplitField<'_>> {
        let s = self.slot(index)?;
        let off = s.off as usize;
        let (nl, vl) = (s.name_len as usize, s.value_len as usize);
        Some(SplitField {
            name: self.read_at(off, nl),
            value: self.read_at((off + nl) % BYTES, vl),
        })
    }

    /// The entry's (name hash, field hash) as recorded at insertion.
    pub(super) fn hashes(&self, index: usize) -> Option<(u32, u32)> {
        self.slot(index).map(|s| (s.name_hash, s.field_hash))
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

    fn entry(t: &DynamicTable<256, 8>, i: usize) -> ([u8; 64], usize, usize) {
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
        let mut t = DynamicTable::<256, 8>::new(256);
        for i in 0..50u8 {
            let v = [b'a' + (i % 26); 20];
            t.insert(b"name", &v);
            assert!(t.size() <= 256);
            let (buf, nl, vl) = entry(&t, 0);
            assert_eq!(&buf[..nl], b"name");
            assert_eq!(&buf[nl..nl + vl], &v);
            assert!(split_eq(t.get(0).unwrap().value, &v));
        }
        // Each entry is 4 + 20 + 32 = 56 bytes, so 4 fit in 256.
        assert_eq!(t.len(), 4);
        assert_eq!(t.size(), 224);
        t.set_max_size(100);
        assert_eq!(t.len(), 1);
        t.insert(&[b'x'; 60], &[b'y'; 20]);
        assert!(t.is_empty());
        assert!(t.get(0).is_none());
        t.set_max_size(10_000);
        assert_eq!(t.max_size(), 256);
    }
}
