//! RFC 7541 Appendix C vectors, hostile inputs and property tests.

extern crate std;

mod hostile;
mod props;
mod rfc;

use super::{Decoder, DynamicTable, Header, HpackError};
use std::string::{String, ToString};
use std::vec::Vec;

/// A decoded field, owned.
pub(super) type Owned = (Vec<u8>, Vec<u8>, bool);

pub(super) fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    s.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

pub(super) fn decode_all<D: AsRef<[u8]> + AsMut<[u8]>>(
    d: &mut Decoder<D>,
    block: &[u8],
) -> Result<Vec<Owned>, HpackError> {
    let mut scratch = [0u8; 4096];
    let mut out = Vec::new();
    d.decode(block, &mut scratch, |h: Header<'_>| {
        out.push((h.name.to_vec(), h.value.to_vec(), h.sensitive));
        Ok::<(), HpackError>(())
    })?;
    Ok(out)
}

/// The table as "name: value" lines, newest first.
pub(super) fn table_lines<D: AsRef<[u8]> + AsMut<[u8]>>(t: &DynamicTable<D>) -> Vec<String> {
    (0..t.len())
        .map(|i| {
            let f = t.get(i).unwrap();
            let mut s = Vec::new();
            s.extend_from_slice(f.name.0);
            s.extend_from_slice(f.name.1);
            s.extend_from_slice(b": ");
            s.extend_from_slice(f.value.0);
            s.extend_from_slice(f.value.1);
            s.escape_ascii().to_string()
        })
        .collect()
}

pub(super) fn plain(list: &[(&str, &str)]) -> Vec<Owned> {
    list.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec(), false))
        .collect()
}
