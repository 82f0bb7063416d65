//! Header block encoding (RFC 7541 §6) into a caller's buffer.

use super::static_table::{self, StaticMatch};
use super::table::{split_eq, DynamicTable, ENTRY_OVERHEAD};
use super::{huffman, integer, Header, HpackError, DEFAULT_TABLE_SIZE};
use crate::buf::ByteArray;

/// When string literals are Huffman-coded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HuffmanPolicy {
    /// Always raw.
    Never,
    /// Always Huffman, as RFC 7541 Appendix C.4 and C.6 do.
    Always,
    /// Huffman only when strictly shorter than raw.
    #[default]
    WhenShorter,
}

/// Which literals are added to the dynamic table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IndexingPolicy {
    /// Never index: no dynamic table state, at the cost of ratio.
    Never,
    /// Index every non-sensitive field, as RFC 7541 Appendix C does.
    All,
    /// Index fields likely to repeat: skip values that change with every
    /// request and fields too big to earn their table space.
    #[default]
    Selective,
}

/// An HPACK encoder whose dynamic table lives in the byte storage `D`
/// (see [`DynamicTable`]). With no storage (`[u8; 0]` or an empty slice, see
/// [`Encoder::never_indexing`]) it never indexes: every field is a static
/// reference or a literal without indexing (RFC 7541 §6.2.2), or never
/// indexed (§6.2.3) when sensitive, so it keeps no state at all and a block
/// may be encoded again, identically, whenever there is room for it.
///
/// Names must already be lowercase (RFC 9113 §8.2); that is the HTTP layer's check.
#[derive(Clone, Debug)]
pub struct Encoder<D = [u8; DEFAULT_TABLE_SIZE]> {
    table: DynamicTable<D>,
    huffman: HuffmanPolicy,
    indexing: IndexingPolicy,
    /// Smallest table size since the last block, if a size update is owed.
    pending_min: Option<usize>,
}

impl<D: ByteArray> Default for Encoder<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: ByteArray> Encoder<D> {
    /// An encoder using min(4096, capacity) of the peer's initial 4096-byte table.
    ///
    /// Using less than the peer allows needs no signal: our table then always
    /// holds the newest entries of the peer's, under the same indices.
    pub fn new() -> Self {
        Self::with_table(D::zeroed(DEFAULT_TABLE_SIZE))
    }
}

impl Encoder<[u8; 0]> {
    /// An encoder with no table, which never indexes (see [`Encoder`]).
    pub fn never_indexing() -> Self {
        let mut e = Self::with_table([]);
        e.indexing = IndexingPolicy::Never;
        e
    }
}

impl<D: AsRef<[u8]> + AsMut<[u8]>> Encoder<D> {
    /// An encoder whose table lives in `storage`; an empty one never indexes.
    pub fn with_table(storage: D) -> Self {
        let table = DynamicTable::with_storage(storage, DEFAULT_TABLE_SIZE);
        let indexing = if table.capacity() == 0 {
            IndexingPolicy::Never
        } else {
            IndexingPolicy::default()
        };
        Encoder {
            table,
            huffman: HuffmanPolicy::default(),
            indexing,
            pending_min: None,
        }
    }

    /// Whether encoding changes nothing in the encoder (it has no table), so
    /// a block that did not fit may simply be encoded again later.
    pub fn is_stateless(&self) -> bool {
        // With no table no size update is ever owed (the peer's limit is
        // clamped to 0, which the table already has), so the capacity alone
        // decides, and a fixed zero-length storage makes it a constant.
        self.table.capacity() == 0
    }

    /// Sets the Huffman policy.
    pub fn set_huffman(&mut self, policy: HuffmanPolicy) {
        self.huffman = policy;
    }

    /// Sets the indexing policy.
    pub fn set_indexing(&mut self, policy: IndexingPolicy) {
        self.indexing = policy;
    }

    /// Applies the peer's SETTINGS_HEADER_TABLE_SIZE (clamped to the
    /// capacity); the next block starts with the size update(s) §4.2 requires.
    pub fn set_max_table_size(&mut self, size: usize) {
        let size = size.min(self.table.capacity());
        if size == self.table.max_size() && self.pending_min.is_none() {
            return;
        }
        self.pending_min = Some(self.pending_min.map_or(size, |m| m.min(size)));
        self.table.set_max_size(size);
    }

    /// The dynamic table, for inspection.
    pub fn table(&self) -> &DynamicTable<D> {
        &self.table
    }

    /// Encodes `headers` as one header block into `out`, returning its length.
    ///
    /// On [`HpackError::BufferTooSmall`] nothing usable was written; the
    /// encoder empties its table and the next block begins by telling the
    /// peer to do the same, so the two contexts stay in step.
    pub fn encode<'h, I>(&mut self, headers: I, out: &mut [u8]) -> Result<usize, HpackError>
    where
        I: IntoIterator<Item = Header<'h>>,
    {
        match self.encode_inner(headers, out) {
            Ok(n) => Ok(n),
            // A table that may have changed halfway is emptied, and the
            // next block says so; an encoder without one has nothing to undo.
            Err(e) if self.table.capacity() == 0 => Err(e),
            Err(e) => {
                self.table.clear();
                self.pending_min = Some(0);
                Err(e)
            }
        }
    }

    fn encode_inner<'h, I>(&mut self, headers: I, out: &mut [u8]) -> Result<usize, HpackError>
    where
        I: IntoIterator<Item = Header<'h>>,
    {
        let mut pos = 0;
        if let Some(min) = self.pending_min {
            let max = self.table.max_size();
            if min < max {
                pos += size_update(min, out)?;
            }
            pos += size_update(max, out.get_mut(pos..).unwrap_or(&mut []))?;
            self.pending_min = None;
        }
        for h in headers {
            pos += self.encode_field(h, out.get_mut(pos..).unwrap_or(&mut []))?;
        }
        Ok(pos)
    }

    fn encode_field(&mut self, h: Header<'_>, out: &mut [u8]) -> Result<usize, HpackError> {
        let sensitive = h.sensitive || never_index(h.name, h.value);
        let stat = static_table::find(h.name, h.value);
        if let Some(StaticMatch::Full(i)) = stat {
            if !sensitive {
                return integer::encode(i as u32, 7, 0x80, out);
            }
        }
        let use_dynamic = self.indexing != IndexingPolicy::Never && !self.is_stateless();
        let (nh, fh) = if use_dynamic {
            hashes(h.name, h.value)
        } else {
            (0, 0)
        };
        let mut name_index = match stat {
            Some(StaticMatch::Name(i) | StaticMatch::Full(i)) => i,
            None => 0,
        };
        if use_dynamic {
            for (i, (f, enh, efh)) in self.table.entries().enumerate() {
                if enh != nh || !split_eq(f.name, h.name) {
                    continue;
                }
                let index = static_table::LEN + 1 + i;
                if !sensitive && efh == fh && split_eq(f.value, h.value) {
                    return integer::encode(index as u32, 7, 0x80, out);
                }
                if name_index == 0 {
                    name_index = index;
                }
            }
        }
        let index_it = !sensitive && !self.is_stateless() && self.should_index(&h);
        let (flags, prefix) = if sensitive {
            (0x10, 4)
        } else if index_it {
            (0x40, 6)
        } else {
            (0x00, 4)
        };
        let mut n = integer::encode(name_index as u32, prefix, flags, out)?;
        if name_index == 0 {
            n += self.string(h.name, out.get_mut(n..).unwrap_or(&mut []))?;
        }
        n += self.string(h.value, out.get_mut(n..).unwrap_or(&mut []))?;
        if index_it {
            self.table.insert_hashed(h.name, h.value, nh, fh);
        }
        Ok(n)
    }

    fn should_index(&self, h: &Header<'_>) -> bool {
        match self.indexing {
            IndexingPolicy::Never => false,
            IndexingPolicy::All => true,
            IndexingPolicy::Selective => {
                // A field larger than 3/4 of the table would flush most of it.
                h.name.len() + h.value.len() + ENTRY_OVERHEAD <= self.table.max_size() / 4 * 3
                    && !matches!(
                        h.name,
                        b":path"
                            | b"content-length"
                            | b"location"
                            | b"etag"
                            | b"if-modified-since"
                            | b"if-none-match"
                            | b"set-cookie"
                            | b"grpc-message"
                    )
            }
        }
    }

    fn string(&self, s: &[u8], out: &mut [u8]) -> Result<usize, HpackError> {
        let hlen = match self.huffman {
            HuffmanPolicy::Never => None,
            HuffmanPolicy::Always => Some(huffman::encoded_len(s)),
            HuffmanPolicy::WhenShorter => Some(huffman::encoded_len(s)).filter(|&h| h < s.len()),
        };
        let len_u32 = |n: usize| u32::try_from(n).map_err(|_| HpackError::BufferTooSmall);
        match hlen {
            Some(h) => {
                let n = integer::encode(len_u32(h)?, 7, 0x80, out)?;
                let m = huffman::encode(s, out.get_mut(n..).unwrap_or(&mut []))?;
                Ok(n + m)
            }
            None => {
                let n = integer::encode(len_u32(s.len())?, 7, 0x00, out)?;
                let dst = out
                    .get_mut(n..n + s.len())
                    .ok_or(HpackError::BufferTooSmall)?;
                dst.copy_from_slice(s);
                Ok(n + s.len())
            }
        }
    }
}

fn size_update(size: usize, out: &mut [u8]) -> Result<usize, HpackError> {
    // The table size is at most BYTES, a u32 (checked by DynamicTable).
    integer::encode(size as u32, 5, 0x20, out)
}

/// Fields that must stay out of the table even without the caller's flag:
/// credentials, and short cookies, which are cheap to guess byte by byte
/// through compression side channels (RFC 7541 §7.1.3).
fn never_index(name: &[u8], value: &[u8]) -> bool {
    match name {
        b"authorization" | b"proxy-authorization" => true,
        b"cookie" => value.len() < 20,
        _ => false,
    }
}

/// FNV-1a over the name, then continued over the value, so a table scan
/// compares integers and touches bytes only on a likely match.
fn hashes(name: &[u8], value: &[u8]) -> (u32, u32) {
    const PRIME: u32 = 0x0100_0193;
    let mut h: u32 = 0x811c_9dc5;
    for &b in name {
        h = (h ^ u32::from(b)).wrapping_mul(PRIME);
    }
    let nh = h;
    h = (h ^ 0xff).wrapping_mul(PRIME);
    for &b in value {
        h = (h ^ u32::from(b)).wrapping_mul(PRIME);
    }
    (nh, h)
}
