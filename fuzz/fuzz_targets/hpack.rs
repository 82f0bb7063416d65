//! HPACK decoder on several header blocks sharing one dynamic table, with a
//! small scratch buffer; every block that decodes is re-encoded with our
//! Encoder and decoded by a second decoder, which must give the same list.
//!
//! Input layout: byte 0 = control (bits 0-2: number of block-length bytes,
//! bits 3-4: scratch size 64 << n, bits 5-7: if non-zero, lower our table
//! size to 512 * n before the second block), then that many length bytes
//! (one block each), and the rest is the last block.
#![no_main]

use arkwire::h2::hpack::{Decoder, Encoder, Header, HpackError};
use libfuzzer_sys::fuzz_target;

type Field = (Vec<u8>, Vec<u8>, bool);

fn decode_block(
    d: &mut Decoder,
    block: &[u8],
    scratch: &mut [u8],
) -> Result<Vec<Field>, HpackError> {
    let mut fields = Vec::new();
    d.decode(block, scratch, |h: Header<'_>| {
        fields.push((h.name.to_vec(), h.value.to_vec(), h.sensitive));
        Ok::<(), HpackError>(())
    })?;
    Ok(fields)
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let n_lengths = usize::from(control & 7).min(rest.len());
    let (lengths, mut body) = rest.split_at(n_lengths);
    let mut blocks = Vec::new();
    for &l in lengths {
        let (block, after) = body.split_at(usize::from(l).min(body.len()));
        blocks.push(block);
        body = after;
    }
    blocks.push(body);
    let mut scratch = vec![0u8; 64 << ((control >> 3) & 3)];
    let shrink = usize::from(control >> 5) * 512;

    let mut d: Decoder = Decoder::new();
    let mut enc: Encoder = Encoder::new();
    let mut check: Decoder = Decoder::new();
    let mut check_scratch = vec![0u8; 32 * 1024];
    for (i, block) in blocks.iter().enumerate() {
        if i == 1 && shrink != 0 {
            d.set_max_table_size(shrink);
        }
        let fields = match decode_block(&mut d, block, &mut scratch) {
            Ok(fields) => fields,
            Err(e) if e.is_connection_error() => return,
            Err(_) => continue,
        };
        let headers = fields.iter().map(|(n, v, s)| Header {
            name: n,
            value: v,
            sensitive: *s,
        });
        let room: usize = fields
            .iter()
            .map(|(n, v, _)| n.len() + v.len() + 16)
            .sum::<usize>()
            + 32;
        let mut out = vec![0u8; room];
        let len = enc.encode(headers, &mut out).expect("room suffices");
        let again = decode_block(&mut check, &out[..len], &mut check_scratch)
            .unwrap_or_else(|e| panic!("our own encoding of {fields:?} fails to decode: {e:?}"));
        assert_eq!(fields.len(), again.len(), "field count changed");
        for (a, b) in fields.iter().zip(&again) {
            assert_eq!((&a.0, &a.1), (&b.0, &b.1), "field changed in a round trip");
            assert!(!a.2 || b.2, "a sensitive field lost its never-indexed flag");
        }
    }
});
