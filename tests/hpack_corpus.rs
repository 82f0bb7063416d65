//! The hpack-test-case corpus (github.com/http2jp/hpack-test-case).
//!
//! Every encoder's stories must decode to exactly their header lists, in
//! order, with one decoding context per story; and the raw-data stories,
//! encoded by our encoder, must decode back unchanged. The vendored stories
//! in `tests/data/hpack` always run; the whole corpus runs when it is present
//! next to the crate.

use arkwire::h2::hpack::{Decoder, Encoder, Header, HpackError, HuffmanPolicy, IndexingPolicy};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/testdata/hpack-test-case"
);
const VENDORED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hpack");

type Field = (Vec<u8>, Vec<u8>);

struct Case {
    table_size: Option<usize>,
    wire: Option<Vec<u8>>,
    headers: Vec<Field>,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn load_story(path: &Path) -> Vec<Case> {
    let text = fs::read_to_string(path).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            table_size: c["header_table_size"].as_u64().map(|v| v as usize),
            wire: c["wire"].as_str().map(unhex),
            headers: c["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    let (k, v) = h.as_object().unwrap().iter().next().unwrap();
                    (
                        k.as_bytes().to_vec(),
                        v.as_str().unwrap().as_bytes().to_vec(),
                    )
                })
                .collect(),
        })
        .collect()
}

fn stories(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

fn implementations(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().unwrap() != "raw-data")
        .collect();
    v.sort();
    v
}

fn decode_block(
    d: &mut Decoder,
    wire: &[u8],
    scratch: &mut [u8],
) -> Result<Vec<Field>, HpackError> {
    let mut out = Vec::new();
    d.decode(wire, scratch, |h: Header<'_>| {
        out.push((h.name.to_vec(), h.value.to_vec()));
        Ok::<(), HpackError>(())
    })?;
    Ok(out)
}

/// Decodes `wire` as a connection does: in pieces of `chunk` bytes appended
/// to a carry of `carry_cap` bytes, each whole representation decoded as
/// soon as it is there.
fn decode_incremental(
    d: &mut Decoder,
    wire: &[u8],
    chunk: usize,
    carry_cap: usize,
) -> Result<Vec<Field>, HpackError> {
    let mut out = Vec::new();
    let mut carry = vec![0u8; carry_cap];
    let mut len = 0;
    let mut strings = vec![0u8; 64 * 1024];
    d.begin_block();
    for mut piece in wire.chunks(chunk) {
        while !piece.is_empty() {
            let n = (carry_cap - len).min(piece.len());
            carry[len..len + n].copy_from_slice(&piece[..n]);
            len += n;
            piece = &piece[n..];
            loop {
                let used = d.decode_part(&carry[..len], false, &mut strings, |h: Header<'_>| {
                    out.push((h.name.to_vec(), h.value.to_vec()));
                    Ok::<(), HpackError>(())
                })?;
                let used = if used == 0 && len == carry_cap {
                    d.skip_oversized(&carry[..len])?
                } else {
                    used
                };
                carry.copy_within(used..len, 0);
                len -= used;
                if used == 0 || len == 0 {
                    break;
                }
            }
        }
    }
    let used = d.decode_part(&carry[..len], true, &mut strings, |h: Header<'_>| {
        out.push((h.name.to_vec(), h.value.to_vec()));
        Ok::<(), HpackError>(())
    })?;
    assert_eq!(used, len, "the last representation ends the block");
    d.end_block()?;
    Ok(out)
}

/// Decodes one story with one context, and again with another context as
/// it would arrive (a few bytes at a time through a small carry); returns
/// the number of cases.
fn decode_story(path: &Path) -> usize {
    let cases = load_story(path);
    let mut d: Decoder = Decoder::new();
    d.set_max_header_list_size(usize::MAX);
    let mut pieces: Decoder = Decoder::new();
    pieces.set_max_header_list_size(usize::MAX);
    let mut scratch = vec![0u8; 64 * 1024];
    for (i, case) in cases.iter().enumerate() {
        if let Some(size) = case.table_size {
            d.set_max_table_size(size);
            pieces.set_max_table_size(size);
        }
        let wire = case
            .wire
            .as_ref()
            .unwrap_or_else(|| panic!("{}: case {i} has no wire", path.display()));
        let got = decode_block(&mut d, wire, &mut scratch)
            .unwrap_or_else(|e| panic!("{} case {i}: {e:?}", path.display()));
        assert!(
            got == case.headers,
            "{} case {i}: decoded headers differ",
            path.display()
        );
        // The largest field of the corpus is under 2 KiB encoded.
        let chunk = 1 + i % 13;
        let got = decode_incremental(&mut pieces, wire, chunk, 2048)
            .unwrap_or_else(|e| panic!("{} case {i} in pieces: {e:?}", path.display()));
        assert!(
            got == case.headers,
            "{} case {i}: decoded in pieces of {chunk}, headers differ",
            path.display()
        );
    }
    cases.len()
}

/// Encodes a raw-data story with our encoder under several policies and table
/// sizes, and decodes it back; returns the number of cases.
fn round_trip_story(path: &Path) -> usize {
    let cases = load_story(path);
    let configs = [
        (
            HuffmanPolicy::WhenShorter,
            IndexingPolicy::Selective,
            [4096, 4096, 4096],
        ),
        (
            HuffmanPolicy::Always,
            IndexingPolicy::All,
            [4096, 512, 2048],
        ),
        (HuffmanPolicy::Never, IndexingPolicy::Never, [4096, 0, 100]),
    ];
    let mut out = vec![0u8; 256 * 1024];
    let mut scratch = vec![0u8; 64 * 1024];
    for (huffman, indexing, sizes) in configs {
        let mut e: Encoder = Encoder::new();
        e.set_huffman(huffman);
        e.set_indexing(indexing);
        let mut d: Decoder = Decoder::new();
        d.set_max_header_list_size(usize::MAX);
        for (i, case) in cases.iter().enumerate() {
            // Change SETTINGS_HEADER_TABLE_SIZE now and then, as a peer might.
            if i % 7 == 3 {
                let size = d.set_max_table_size(sizes[(i / 7) % 3]);
                e.set_max_table_size(size);
            }
            let fields = case.headers.iter().map(|(n, v)| Header::new(n, v));
            let n = e.encode(fields, &mut out).unwrap();
            let got = decode_block(&mut d, &out[..n], &mut scratch)
                .unwrap_or_else(|err| panic!("{} case {i} ({huffman:?}): {err:?}", path.display()));
            assert!(
                got == case.headers,
                "{} case {i}: round trip differs",
                path.display()
            );
        }
    }
    cases.len()
}

/// Encodes a raw-data story with an encoder that has no table (it never
/// indexes, RFC 7541 §6.2.2) and decodes it back with one context, whose
/// table must stay empty; returns the number of cases.
fn never_indexing_story(path: &Path) -> usize {
    let cases = load_story(path);
    let mut e = Encoder::never_indexing();
    assert!(e.is_stateless());
    let mut d: Decoder = Decoder::new();
    d.set_max_header_list_size(usize::MAX);
    let mut out = vec![0u8; 256 * 1024];
    let mut scratch = vec![0u8; 64 * 1024];
    for (i, case) in cases.iter().enumerate() {
        let fields = case.headers.iter().map(|(n, v)| Header::new(n, v));
        let n = e.encode(fields, &mut out).unwrap();
        let got = decode_block(&mut d, &out[..n], &mut scratch)
            .unwrap_or_else(|err| panic!("{} case {i}: {err:?}", path.display()));
        assert!(got == case.headers, "{} case {i}: differs", path.display());
        assert!(d.table().is_empty(), "{} case {i}: indexed", path.display());
        assert!(e.is_stateless());
    }
    cases.len()
}

fn decode_all_implementations(root: &Path) -> (usize, usize) {
    let (mut n_stories, mut n_cases) = (0, 0);
    for dir in implementations(root) {
        let (mut s, mut c) = (0, 0);
        for story in stories(&dir) {
            c += decode_story(&story);
            s += 1;
        }
        assert!(s > 0, "{}: no stories", dir.display());
        println!(
            "{}: {s} stories, {c} cases decoded",
            dir.file_name().unwrap().to_string_lossy()
        );
        n_stories += s;
        n_cases += c;
    }
    (n_stories, n_cases)
}

fn round_trip_raw_data(root: &Path) -> (usize, usize) {
    let (mut s, mut c) = (0, 0);
    for story in stories(&root.join("raw-data")) {
        c += round_trip_story(&story);
        never_indexing_story(&story);
        s += 1;
    }
    assert!(s > 0, "no raw-data stories");
    println!("raw-data: {s} stories, {c} cases encoded and decoded (x3 configurations)");
    (s, c)
}

#[test]
fn vendored_stories_decode() {
    let (s, c) = decode_all_implementations(Path::new(VENDORED));
    assert!(s >= 6 && c > 0);
}

#[test]
fn vendored_raw_data_round_trips() {
    round_trip_raw_data(Path::new(VENDORED));
}

#[test]
fn full_corpus_decodes() {
    let root = Path::new(CORPUS);
    if !root.is_dir() {
        println!("corpus not found at {CORPUS}; vendored stories only");
        return;
    }
    let (s, c) = decode_all_implementations(root);
    println!("corpus total: {s} stories, {c} cases decoded");
    assert!(s >= 150);
}

#[test]
fn full_corpus_raw_data_round_trips() {
    let root = Path::new(CORPUS);
    if !root.is_dir() {
        println!("corpus not found at {CORPUS}; vendored stories only");
        return;
    }
    round_trip_raw_data(root);
}
