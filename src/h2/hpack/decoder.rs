//! Header block decoding (RFC 7541 §3, §6).

use super::static_table::{self, STATIC};
use super::table::{DynamicTable, ENTRY_OVERHEAD};
use super::{huffman, integer, Header, HpackError, DEFAULT_TABLE_SIZE};
use crate::buf::ByteArray;

/// Default limit on a decoded header list (name + value + 32 per field).
/// RFC 9113 leaves SETTINGS_MAX_HEADER_LIST_SIZE unlimited by default; an
/// embedded peer cannot afford that, and 16 KiB covers real gRPC traffic.
pub const DEFAULT_MAX_HEADER_LIST_SIZE: usize = 16 * 1024;

/// Where a decoded string lives until it is handed out.
#[derive(Clone, Copy)]
enum Loc {
    Input(usize, usize),
    Scratch(usize),
    Static(&'static [u8]),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Literal {
    Incremental,
    WithoutIndexing,
    NeverIndexed,
}

/// An HPACK decoder whose dynamic table lives in the byte storage `D`:
/// 4096 inline bytes by default, or a boxed or lent slice (see
/// [`DynamicTable`]).
///
/// Any error except [`HpackError::HeaderListTooLarge`] leaves the table out of
/// step with the peer's encoder: treat it as a connection error. The same
/// holds when the callback fails.
///
/// A block is decoded whole with [`decode`](Self::decode), or as it arrives
/// with [`begin_block`](Self::begin_block), [`decode_part`](Self::decode_part)
/// and [`end_block`](Self::end_block).
///
/// Type defaults apply only in type position, so write
/// `let d: Decoder = Decoder::new();` for the default 4096-byte table.
#[derive(Clone, Debug)]
pub struct Decoder<D = [u8; DEFAULT_TABLE_SIZE]> {
    table: DynamicTable<D>,
    /// The SETTINGS_HEADER_TABLE_SIZE in force: size updates may not exceed it.
    advertised: usize,
    /// Set when our limit dropped below the table's size since the last block:
    /// the next block must start with an update no larger than this.
    required_update: Option<usize>,
    max_header_list_size: usize,
    /// The block being decoded.
    block: BlockState,
}

/// Where decoding of the current block stands.
#[derive(Clone, Copy, Debug, Default)]
struct BlockState {
    /// No field yet: a size update is still allowed.
    at_start: bool,
    list_size: usize,
    too_large: bool,
    /// Bytes of an oversized literal still to skip, and whether its value
    /// (length, then bytes) follows them.
    skip: usize,
    skip_value_next: bool,
}

impl<D: ByteArray> Default for Decoder<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: ByteArray> Decoder<D> {
    /// A decoder at the HTTP/2 initial table size (4096, or the storage's
    /// capacity if smaller).
    ///
    /// With a capacity below 4096, advertise it in the first SETTINGS
    /// frame: a peer may use the full 4096 until it sees that setting.
    pub fn new() -> Self {
        Self::with_table(D::zeroed(DEFAULT_TABLE_SIZE))
    }
}

impl<D: AsRef<[u8]> + AsMut<[u8]>> Decoder<D> {
    /// A decoder whose table lives in `storage` (its length is the largest
    /// table it can keep), at the HTTP/2 initial size or that capacity.
    pub fn with_table(storage: D) -> Self {
        let table = DynamicTable::with_storage(storage, DEFAULT_TABLE_SIZE);
        let size = table.max_size();
        Decoder {
            table,
            advertised: size,
            required_update: None,
            max_header_list_size: DEFAULT_MAX_HEADER_LIST_SIZE,
            block: BlockState::default(),
        }
    }

    /// Sets the header-list limit we advertise as SETTINGS_MAX_HEADER_LIST_SIZE.
    pub fn set_max_header_list_size(&mut self, limit: usize) {
        self.max_header_list_size = limit;
    }

    /// The header-list limit.
    pub fn max_header_list_size(&self) -> usize {
        self.max_header_list_size
    }

    /// Applies our SETTINGS_HEADER_TABLE_SIZE once the peer has acknowledged it.
    /// Values above the capacity are clamped, so never advertise more than
    /// [`DynamicTable::capacity`]. Returns the limit now in force.
    ///
    /// When the limit drops below the table's current maximum, the peer's next
    /// block must open with a size update to at most the smallest limit set
    /// since the previous block (§4.2).
    pub fn set_max_table_size(&mut self, size: usize) -> usize {
        let size = size.min(self.table.capacity());
        self.advertised = size;
        if size < self.table.max_size() {
            let min = self.required_update.map_or(size, |r| r.min(size));
            self.required_update = Some(min);
        }
        size
    }

    /// The SETTINGS_HEADER_TABLE_SIZE currently in force.
    pub fn advertised_table_size(&self) -> usize {
        self.advertised
    }

    /// The dynamic table, for inspection.
    pub fn table(&self) -> &DynamicTable<D> {
        &self.table
    }

    /// Decodes one complete header block (HEADERS plus any CONTINUATION
    /// payloads, concatenated), calling `on_header` for each field in order.
    ///
    /// `scratch` holds Huffman-decoded strings and table entries that wrap in
    /// the ring; it is reused for every field, so it needs room for the
    /// largest single field, not the whole list.
    ///
    /// A field is handed out before the next representation is read, so the
    /// callback sees it before any table change it could be affected by.
    pub fn decode<E, F>(&mut self, block: &[u8], scratch: &mut [u8], on_header: F) -> Result<(), E>
    where
        E: From<HpackError>,
        F: FnMut(Header<'_>) -> Result<(), E>,
    {
        self.begin_block();
        let used = self.decode_part(block, true, scratch, on_header)?;
        if used < block.len() {
            return Err(HpackError::Truncated.into());
        }
        self.end_block().map_err(E::from)
    }

    /// Starts a header block that will arrive in pieces.
    pub fn begin_block(&mut self) {
        self.block = BlockState {
            at_start: true,
            ..BlockState::default()
        };
    }

    /// Decodes the representations that lie whole at the front of `input`
    /// (the block's bytes not yet used, in order) and returns how many bytes
    /// they took: the caller keeps the rest and calls again with more bytes
    /// appended. Fields go to `on_header` as in [`decode`](Self::decode).
    ///
    /// With `last`, `input` ends the block and must end with a whole
    /// representation. A caller whose buffer fills up with the start of one
    /// representation (0 bytes used) hands it to
    /// [`skip_oversized`](Self::skip_oversized). A field whose decoded name
    /// and value do not fit `scratch` is treated the same way: skipped, the
    /// block ending as [`HpackError::HeaderListTooLarge`], unless the table
    /// needs it ([`HpackError::FieldTooLarge`]).
    pub fn decode_part<E, F>(
        &mut self,
        input: &[u8],
        last: bool,
        scratch: &mut [u8],
        mut on_header: F,
    ) -> Result<usize, E>
    where
        E: From<HpackError>,
        F: FnMut(Header<'_>) -> Result<(), E>,
    {
        let mut pos = 0usize;
        loop {
            pos += self.skip(input.get(pos..).unwrap_or_default())?;
            if self.block.skip > 0 || self.block.skip_value_next {
                return if last {
                    Err(HpackError::Truncated.into())
                } else {
                    Ok(pos)
                };
            }
            let rest = input.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(pos);
            }
            match self.decode_one(rest, scratch, &mut on_header) {
                Ok(n) => pos += n,
                Err(Step::Hpack(HpackError::Truncated)) if !last && pos > 0 => return Ok(pos),
                Err(Step::Hpack(HpackError::Truncated)) if !last => {
                    // Only the caller knows whether more fits: it says so by
                    // calling again with `more`; here a whole buffer of one
                    // representation is all there is.
                    return Ok(0);
                }
                Err(Step::Hpack(e)) => return Err(e.into()),
                Err(Step::Callback(e)) => return Err(e),
            }
        }
    }

    /// The caller's buffer holds nothing but the start of one representation
    /// and cannot take more: skips it if the table does not need it (see
    /// [`decode_part`](Self::decode_part)). Returns the bytes of `input`
    /// used.
    pub fn skip_oversized(&mut self, input: &[u8]) -> Result<usize, HpackError> {
        let first = *input.first().ok_or(HpackError::Truncated)?;
        if first & 0x80 != 0 || first & 0xe0 == 0x20 {
            // An index or a size update is a few bytes: never oversized.
            return Err(HpackError::FieldTooLarge);
        }
        if first & 0xc0 == 0x40 {
            // Incremental indexing: the table needs the whole field.
            return Err(HpackError::FieldTooLarge);
        }
        if self.block.at_start {
            self.block.at_start = false;
            if self.required_update.is_some() {
                return Err(HpackError::SizeUpdateRequired);
            }
        }
        let (index, mut pos) = integer::decode(input, 4)?;
        if index == 0 {
            let (len, n) = integer::decode(input.get(pos..).unwrap_or_default(), 7)?;
            pos += n;
            self.block.skip = len as usize;
            self.block.skip_value_next = true;
        } else {
            self.name_by_index_len(index)?;
            let (len, n) = integer::decode(input.get(pos..).unwrap_or_default(), 7)?;
            pos += n;
            self.block.skip = len as usize;
        }
        self.block.too_large = true;
        let skipped = self.skip(input.get(pos..).unwrap_or_default())?;
        Ok(pos + skipped)
    }

    /// Skips what remains of an oversized literal; returns the bytes used.
    fn skip(&mut self, input: &[u8]) -> Result<usize, HpackError> {
        let mut pos = 0;
        loop {
            let n = self.block.skip.min(input.len() - pos);
            self.block.skip -= n;
            pos += n;
            if self.block.skip > 0 || !self.block.skip_value_next {
                return Ok(pos);
            }
            match integer::decode(input.get(pos..).unwrap_or_default(), 7) {
                Ok((len, used)) => {
                    pos += used;
                    self.block.skip = len as usize;
                    self.block.skip_value_next = false;
                }
                Err(HpackError::Truncated) => return Ok(pos),
                Err(e) => return Err(e),
            }
        }
    }

    /// Ends the block: reports a missing size update, or a list past the limit.
    pub fn end_block(&mut self) -> Result<(), HpackError> {
        let block = core::mem::take(&mut self.block);
        if block.skip > 0 || block.skip_value_next {
            return Err(HpackError::Truncated);
        }
        if block.at_start && self.required_update.is_some() {
            return Err(HpackError::SizeUpdateRequired);
        }
        if block.too_large {
            return Err(HpackError::HeaderListTooLarge);
        }
        Ok(())
    }

    /// Decodes the representation at the front of `rest`; returns its length.
    /// Nothing changes unless it lies whole in `rest`.
    fn decode_one<E, F>(
        &mut self,
        rest: &[u8],
        scratch: &mut [u8],
        on_header: &mut F,
    ) -> Result<usize, Step<E>>
    where
        F: FnMut(Header<'_>) -> Result<(), E>,
    {
        let first = rest[0];
        if first & 0xe0 == 0x20 {
            let (size, n) = integer::decode(rest, 5)?;
            self.size_update(size, self.block.at_start)?;
            return Ok(n);
        }
        if self.block.at_start && self.required_update.is_some() {
            return Err(HpackError::SizeUpdateRequired.into());
        }
        if first & 0x80 != 0 {
            let (index, n) = integer::decode(rest, 7)?;
            self.block.at_start = false;
            let field_size = self.indexed_size(index)?;
            self.block.list_size = self.block.list_size.saturating_add(field_size);
            if self.block.list_size > self.max_header_list_size {
                // Keep decoding to keep the table in step, but never copy.
                self.block.too_large = true;
            }
            if !self.block.too_large {
                let h = self.indexed(index, scratch)?;
                on_header(h).map_err(Step::Callback)?;
            }
            return Ok(n);
        }
        let (kind, prefix) = match first & 0xf0 {
            0x00 => (Literal::WithoutIndexing, 4),
            0x10 => (Literal::NeverIndexed, 4),
            _ => (Literal::Incremental, 6),
        };
        let (index, mut pos) = integer::decode(rest, prefix)?;
        // Find the whole representation before decoding any of it.
        let name_at = pos;
        if index == 0 {
            string_end(rest, &mut pos)?;
        } else {
            self.name_by_index_len(index)?;
        }
        let value_at = pos;
        string_end(rest, &mut pos)?;
        self.block.at_start = false;
        let mut at = name_at;
        let name = if index == 0 {
            read_string(rest, &mut at, scratch)
        } else {
            self.name_by_index(index, scratch)
        };
        let name = match name {
            Ok(name) => name,
            Err(HpackError::ScratchTooSmall) if kind != Literal::Incremental => {
                self.block.too_large = true;
                return Ok(pos);
            }
            Err(HpackError::ScratchTooSmall) => return Err(HpackError::FieldTooLarge.into()),
            Err(e) => return Err(e.into()),
        };
        let name_used = match name {
            Loc::Scratch(len) => len,
            _ => 0,
        };
        let (name_buf, value_buf) = scratch.split_at_mut(name_used);
        let mut at = value_at;
        let value = match read_string(rest, &mut at, value_buf) {
            Ok(value) => value,
            Err(HpackError::ScratchTooSmall) if kind != Literal::Incremental => {
                self.block.too_large = true;
                return Ok(pos);
            }
            Err(HpackError::ScratchTooSmall) => return Err(HpackError::FieldTooLarge.into()),
            Err(e) => return Err(e.into()),
        };
        let name = resolve(name, rest, name_buf);
        let value = resolve(value, rest, value_buf);
        self.block.list_size = self
            .block
            .list_size
            .saturating_add(name.len() + value.len() + ENTRY_OVERHEAD);
        if self.block.list_size > self.max_header_list_size {
            self.block.too_large = true;
        }
        if kind == Literal::Incremental {
            self.table.insert(name, value);
        }
        if !self.block.too_large {
            let sensitive = kind == Literal::NeverIndexed;
            on_header(Header {
                name,
                value,
                sensitive,
            })
            .map_err(Step::Callback)?;
        }
        Ok(pos)
    }

    fn size_update(&mut self, size: u32, at_start: bool) -> Result<(), HpackError> {
        if !at_start {
            return Err(HpackError::SizeUpdateNotAtStart);
        }
        let size_usize = size as usize;
        if size_usize > self.advertised {
            return Err(HpackError::SizeUpdateTooLarge(size));
        }
        if self.required_update.is_some_and(|r| size_usize <= r) {
            self.required_update = None;
        }
        self.table.set_max_size(size_usize);
        Ok(())
    }

    /// The accounting size of the field at `index`, checked before any copy.
    fn indexed_size(&self, index: u32) -> Result<usize, HpackError> {
        let i = index as usize;
        if i == 0 {
            return Err(HpackError::InvalidIndex(index));
        }
        if let Some((n, v)) = STATIC.get(i - 1) {
            return Ok(n.len() + v.len() + ENTRY_OVERHEAD);
        }
        let f = self
            .table
            .get(i - 1 - static_table::LEN)
            .ok_or(HpackError::InvalidIndex(index))?;
        Ok(f.name_len() + f.value_len() + ENTRY_OVERHEAD)
    }

    fn indexed<'s>(&'s self, index: u32, scratch: &'s mut [u8]) -> Result<Header<'s>, HpackError> {
        let i = index as usize;
        if let Some(&(name, value)) = i.checked_sub(1).and_then(|i| STATIC.get(i)) {
            return Ok(Header {
                name,
                value,
                sensitive: false,
            });
        }
        let f = i
            .checked_sub(1 + static_table::LEN)
            .and_then(|i| self.table.get(i))
            .ok_or(HpackError::InvalidIndex(index))?;
        if f.name.1.is_empty() && f.value.1.is_empty() {
            return Ok(Header {
                name: f.name.0,
                value: f.value.0,
                sensitive: false,
            });
        }
        // The entry wraps around the ring: gather it into scratch.
        let (nl, vl) = (f.name_len(), f.value_len());
        let dst = scratch
            .get_mut(..nl + vl)
            .ok_or(HpackError::ScratchTooSmall)?;
        let mut at = 0;
        for part in [f.name.0, f.name.1, f.value.0, f.value.1] {
            if let Some(d) = dst.get_mut(at..at + part.len()) {
                d.copy_from_slice(part);
            }
            at += part.len();
        }
        let (name, value) = dst.split_at(nl);
        Ok(Header {
            name,
            value,
            sensitive: false,
        })
    }

    /// Checks a literal's name index without copying the name.
    fn name_by_index_len(&self, index: u32) -> Result<usize, HpackError> {
        let i = index as usize;
        if let Some(&(name, _)) = i.checked_sub(1).and_then(|i| STATIC.get(i)) {
            return Ok(name.len());
        }
        i.checked_sub(1 + static_table::LEN)
            .and_then(|i| self.table.get(i))
            .map(|f| f.name_len())
            .ok_or(HpackError::InvalidIndex(index))
    }

    /// A literal's indexed name. Dynamic names are copied into scratch because
    /// inserting the new entry may evict the one the name came from.
    fn name_by_index(&self, index: u32, scratch: &mut [u8]) -> Result<Loc, HpackError> {
        let i = index as usize;
        if let Some(&(name, _)) = i.checked_sub(1).and_then(|i| STATIC.get(i)) {
            return Ok(Loc::Static(name));
        }
        let f = i
            .checked_sub(1 + static_table::LEN)
            .and_then(|i| self.table.get(i))
            .ok_or(HpackError::InvalidIndex(index))?;
        let (a, b) = f.name;
        let dst = scratch
            .get_mut(..a.len() + b.len())
            .ok_or(HpackError::ScratchTooSmall)?;
        let (da, db) = dst.split_at_mut(a.len());
        da.copy_from_slice(a);
        db.copy_from_slice(b);
        Ok(Loc::Scratch(a.len() + b.len()))
    }
}

/// One representation could not be decoded: an HPACK error, or the callback's.
enum Step<E> {
    Hpack(HpackError),
    Callback(E),
}

impl<E> From<HpackError> for Step<E> {
    fn from(e: HpackError) -> Self {
        Step::Hpack(e)
    }
}

/// Moves `*pos` past the string literal there, checking it lies whole in `block`.
fn string_end(block: &[u8], pos: &mut usize) -> Result<(), HpackError> {
    let rest = block.get(*pos..).unwrap_or(&[]);
    let (len, n) = integer::decode(rest, 7)?;
    let end = (*pos + n)
        .checked_add(len as usize)
        .ok_or(HpackError::Truncated)?;
    if end > block.len() {
        return Err(HpackError::Truncated);
    }
    *pos = end;
    Ok(())
}

/// Reads a string literal (§5.2) at `*pos`; Huffman strings go to `scratch`.
fn read_string(block: &[u8], pos: &mut usize, scratch: &mut [u8]) -> Result<Loc, HpackError> {
    let rest = block.get(*pos..).unwrap_or(&[]);
    let first = *rest.first().ok_or(HpackError::Truncated)?;
    let (len, n) = integer::decode(rest, 7)?;
    let start = *pos + n;
    let end = start
        .checked_add(len as usize)
        .ok_or(HpackError::Truncated)?;
    let bytes = block.get(start..end).ok_or(HpackError::Truncated)?;
    *pos = end;
    if first & 0x80 == 0 {
        return Ok(Loc::Input(start, end));
    }
    let out = huffman::decode(bytes, scratch)?;
    Ok(Loc::Scratch(out))
}

fn resolve<'a>(loc: Loc, block: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
    match loc {
        Loc::Input(s, e) => block.get(s..e).unwrap_or(&[]),
        Loc::Scratch(len) => scratch.get(..len).unwrap_or(&[]),
        Loc::Static(s) => s,
    }
}
