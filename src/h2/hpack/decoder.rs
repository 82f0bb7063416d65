//! Header block decoding (RFC 7541 §3, §6).

use super::static_table::{self, STATIC};
use super::table::{DynamicTable, ENTRY_OVERHEAD};
use super::{huffman, integer, Header, HpackError, DEFAULT_TABLE_SIZE};

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

/// An HPACK decoder with a dynamic table of up to `BYTES` bytes (`ENTRIES`
/// must be at least `BYTES / 32`).
///
/// Any error except [`HpackError::HeaderListTooLarge`] leaves the table out of
/// step with the peer's encoder: treat it as a connection error. The same
/// holds when the callback fails.
///
/// Const-generic defaults apply only in type position, so write
/// `let d: Decoder = Decoder::new();` for the default 4096-byte table.
#[derive(Clone, Debug)]
pub struct Decoder<const BYTES: usize = DEFAULT_TABLE_SIZE, const ENTRIES: usize = 128> {
    table: DynamicTable<BYTES, ENTRIES>,
    /// The SETTINGS_HEADER_TABLE_SIZE in force: size updates may not exceed it.
    advertised: usize,
    /// Set when our limit dropped below the table's size since the last block:
    /// the next block must start with an update no larger than this.
    required_update: Option<usize>,
    max_header_list_size: usize,
}

impl<const BYTES: usize, const ENTRIES: usize> Default for Decoder<BYTES, ENTRIES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const BYTES: usize, const ENTRIES: usize> Decoder<BYTES, ENTRIES> {
    /// A decoder at the HTTP/2 initial table size (4096, or `BYTES` if smaller).
    ///
    /// With `BYTES < 4096`, advertise `BYTES` in the first SETTINGS frame: a
    /// peer may use the full 4096 until it sees that setting.
    pub fn new() -> Self {
        let size = DEFAULT_TABLE_SIZE.min(BYTES);
        Decoder {
            table: DynamicTable::new(size),
            advertised: size,
            required_update: None,
            max_header_list_size: DEFAULT_MAX_HEADER_LIST_SIZE,
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
    /// Values above `BYTES` are clamped, so never advertise more than
    /// [`DynamicTable::capacity`]. Returns the limit now in force.
    ///
    /// When the limit drops below the table's current maximum, the peer's next
    /// block must open with a size update to at most the smallest limit set
    /// since the previous block (§4.2).
    pub fn set_max_table_size(&mut self, size: usize) -> usize {
        let size = size.min(BYTES);
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
    pub fn table(&self) -> &DynamicTable<BYTES, ENTRIES> {
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
    pub fn decode<E, F>(
        &mut self,
        block: &[u8],
        scratch: &mut [u8],
        mut on_header: F,
    ) -> Result<(), E>
    where
        E: From<HpackError>,
        F: FnMut(Header<'_>) -> Result<(), E>,
    {
        let mut pos = 0usize;
        let mut at_start = true;
        let mut list_size = 0usize;
        let mut too_large = false;
        while let Some(&first) = block.get(pos) {
            let rest = block.get(pos..).unwrap_or(&[]);
            if first & 0xe0 == 0x20 {
                let (size, n) = integer::decode(rest, 5)?;
                pos += n;
                self.size_update(size, at_start)?;
                continue;
            }
            if at_start {
                at_start = false;
                if self.required_update.is_some() {
                    return Err(HpackError::SizeUpdateRequired.into());
                }
            }
            if first & 0x80 != 0 {
                let (index, n) = integer::decode(rest, 7)?;
                pos += n;
                let field_size = self.indexed_size(index)?;
                list_size = list_size.saturating_add(field_size);
                if list_size > self.max_header_list_size {
                    // Keep decoding to keep the table in step, but never copy.
                    too_large = true;
                }
                if !too_large {
                    let h = self.indexed(index, scratch)?;
                    on_header(h)?;
                }
                continue;
            }
            let (kind, prefix) = match first & 0xf0 {
                0x00 => (Literal::WithoutIndexing, 4),
                0x10 => (Literal::NeverIndexed, 4),
                _ => (Literal::Incremental, 6),
            };
            let (index, n) = integer::decode(rest, prefix)?;
            pos += n;
            let name = if index == 0 {
                read_string(block, &mut pos, scratch)?
            } else {
                self.name_by_index(index, scratch)?
            };
            let name_used = match name {
                Loc::Scratch(len) => len,
                _ => 0,
            };
            let (name_buf, value_buf) = scratch.split_at_mut(name_used);
            let value = read_string(block, &mut pos, value_buf)?;
            let name = resolve(name, block, name_buf);
            let value = resolve(value, block, value_buf);
            list_size = list_size.saturating_add(name.len() + value.len() + ENTRY_OVERHEAD);
            if list_size > self.max_header_list_size {
                too_large = true;
            }
            if kind == Literal::Incremental {
                self.table.insert(name, value);
            }
            if !too_large {
                let sensitive = kind == Literal::NeverIndexed;
                on_header(Header {
                    name,
                    value,
                    sensitive,
                })?;
            }
        }
        if at_start && self.required_update.is_some() {
            return Err(HpackError::SizeUpdateRequired.into());
        }
        if too_large {
            return Err(HpackError::HeaderListTooLarge.into());
        }
        Ok(())
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
