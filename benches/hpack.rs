//! HPACK throughput: decoding every nghttp2 story of hpack-test-case, Huffman
//! decoding of realistic strings, and encoding the raw-data stories.

use arkwire::h2::hpack::{huffman, Decoder, Encoder, Header, HpackError};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/testdata/hpack-test-case"
);
const VENDORED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hpack");

fn root() -> &'static Path {
    if Path::new(CORPUS).is_dir() {
        Path::new(CORPUS)
    } else {
        Path::new(VENDORED)
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn story_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

fn cases(path: &Path) -> Vec<Value> {
    let json: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    json["cases"].as_array().unwrap().clone()
}

/// Wire blocks per story, and the header count.
fn nghttp2_blocks() -> (Vec<Vec<Vec<u8>>>, usize) {
    let mut headers = 0;
    let stories = story_files("nghttp2")
        .iter()
        .map(|p| {
            cases(p)
                .iter()
                .map(|c| {
                    headers += c["headers"].as_array().unwrap().len();
                    unhex(c["wire"].as_str().unwrap())
                })
                .collect()
        })
        .collect();
    (stories, headers)
}

/// One header list: (name, value) pairs.
type List = Vec<(Vec<u8>, Vec<u8>)>;

/// Header lists per story from raw-data.
fn raw_lists() -> Vec<Vec<List>> {
    story_files("raw-data")
        .iter()
        .map(|p| {
            cases(p)
                .iter()
                .map(|c| {
                    c["headers"]
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
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn decode_stories(stories: &[Vec<Vec<u8>>], scratch: &mut [u8]) -> usize {
    let mut n = 0;
    for story in stories {
        let mut d: Decoder = Decoder::new();
        d.set_max_header_list_size(usize::MAX);
        for block in story {
            d.decode(block, scratch, |h: Header<'_>| {
                n += h.value.len();
                Ok::<(), HpackError>(())
            })
            .unwrap();
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let (stories, headers) = nghttp2_blocks();
    let wire_bytes: usize = stories.iter().flatten().map(Vec::len).sum();
    let mut scratch = vec![0u8; 64 * 1024];

    let mut g = c.benchmark_group("hpack_decode_nghttp2");
    g.throughput(Throughput::Bytes(wire_bytes as u64));
    g.bench_function("bytes", |b| {
        b.iter(|| decode_stories(black_box(&stories), &mut scratch))
    });
    g.throughput(Throughput::Elements(headers as u64));
    g.bench_function("headers", |b| {
        b.iter(|| decode_stories(black_box(&stories), &mut scratch))
    });
    g.finish();

    // Realistic strings: every distinct value of the raw-data stories, Huffman-coded.
    let lists = raw_lists();
    let mut strings: Vec<Vec<u8>> = lists
        .iter()
        .flatten()
        .flatten()
        .map(|(_, v)| v.clone())
        .collect();
    strings.sort();
    strings.dedup();
    let encoded: Vec<Vec<u8>> = strings
        .iter()
        .map(|s| {
            let mut e = vec![0u8; huffman::encoded_len(s)];
            huffman::encode(s, &mut e).unwrap();
            e
        })
        .collect();
    let enc_bytes: usize = encoded.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("huffman_decode");
    g.throughput(Throughput::Bytes(enc_bytes as u64));
    g.bench_function("raw_data_values", |b| {
        b.iter(|| {
            let mut total = 0;
            for e in black_box(&encoded) {
                total += huffman::decode(e, &mut scratch).unwrap();
            }
            total
        })
    });
    g.finish();

    let input_bytes: usize = lists
        .iter()
        .flatten()
        .flatten()
        .map(|(n, v)| n.len() + v.len())
        .sum();
    let n_headers: usize = lists.iter().flatten().map(Vec::len).sum();
    let mut out = vec![0u8; 256 * 1024];
    let encode_all = |out: &mut [u8]| {
        let mut total = 0;
        for story in &lists {
            let mut e: Encoder = Encoder::new();
            for list in story {
                total += e
                    .encode(list.iter().map(|(n, v)| Header::new(n, v)), out)
                    .unwrap();
            }
        }
        total
    };
    let mut g = c.benchmark_group("hpack_encode_raw_data");
    g.throughput(Throughput::Bytes(input_bytes as u64));
    g.bench_function("bytes", |b| b.iter(|| encode_all(black_box(&mut out))));
    g.throughput(Throughput::Elements(n_headers as u64));
    g.bench_function("headers", |b| b.iter(|| encode_all(black_box(&mut out))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
