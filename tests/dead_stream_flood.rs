//! Memory and fairness against hostile peers over real sockets:
//! - the dead-stream header-block flood against a `net::Server`: a stream is
//!   opened and reset, then thousands of 13-byte HEADERS frames arrive on
//!   it, each four references to one ~4 KB dynamic-table entry. The server
//!   answers GOAWAY ENHANCE_YOUR_CALM, its heap stays within the bound its
//!   config gives, it stays up, and a good client on the same loop keeps
//!   getting answers throughout;
//! - the same flood from a hostile server against a `net::Client`: the
//!   client's heap stays within its bound and the call fails with an error;
//! - a peer that never stops sending, on the same single-threaded loop as a
//!   good client whose calls keep completing quickly.
//!
//! Heap is measured by a counting allocator over the whole process, so the
//! tests run one at a time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
use arkwire::grpc;
use arkwire::h2::frame::PREFACE;
use arkwire::h2::hpack::{Encoder, Header, HuffmanPolicy, IndexingPolicy};
use arkwire::h2::Config;
use arkwire::net::{CallFailure, Client, ClientConfig, Server, ServerConfig};
use arkwire::proto::ArkoudaRequest;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, LIVE, PEAK};

#[global_allocator]
static GLOBAL: Counting = Counting;

static SERIAL: Mutex<()> = Mutex::new(());

/// HEADERS frames in the flood: 13 bytes each, ~65 KB on the wire, one
/// read turn's worth. Stored, they would be ~16 KB each: ~80 MB.
const FLOOD_FRAMES: usize = 5000;
/// GOAWAY's ENHANCE_YOUR_CALM code.
const CALM: u32 = 0xb;

/// Limits of both ends: small bodies, so the bound is a few MB and any
/// growth with the flood's length is plain.
fn options() -> grpc::Options {
    grpc::Options {
        h2: Config {
            max_concurrent_streams: 10,
            max_connection_body_size: 256 << 10,
            handshake_timeout: Duration::from_millis(500),
            header_block_timeout: Duration::from_millis(500),
            send_stall_timeout: Duration::from_millis(500),
            ..Config::default()
        },
        max_message_size: 64 << 10,
        ..grpc::Options::default()
    }
}

fn server(threads: usize) -> Server {
    let config = ServerConfig {
        options: options(),
        threads,
        max_connections: 64,
        idle_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    };
    Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(SyncProxy::new(BuiltinBackend, 2)),
        config,
    )
    .unwrap()
}

fn client_config() -> ClientConfig {
    ClientConfig {
        options: options(),
        ..ClientConfig::default()
    }
}

fn request(args: &str) -> ArkoudaRequest {
    ArkoudaRequest {
        user: "good".into(),
        cmd: "echo".into(),
        format: "STRING".into(),
        size: -1,
        args: args.into(),
        ..Default::default()
    }
}

/// One HTTP/2 frame.
fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = (payload.len() as u32).to_be_bytes();
    out.extend_from_slice(&[len[1], len[2], len[3], kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// The peer's HPACK encoder and the big entry: four references to it are
/// as much as one header list may hold (`max_header_list_size`), and its
/// size is the most one entry of the default 4096-byte table can have.
struct Flood {
    hpack: Encoder,
    value: Vec<u8>,
}

impl Flood {
    fn new() -> Flood {
        let mut hpack = Encoder::new();
        hpack.set_huffman(HuffmanPolicy::Never);
        hpack.set_indexing(IndexingPolicy::Never);
        let list = options().h2.max_header_list_size as usize;
        // RFC 7541 §4.1: an entry's size is name + value + 32.
        let entry = (list / 4).min(4096);
        let value = vec![b'v'; entry - 32 - b"x-bulk".len()];
        Flood { hpack, value }
    }

    fn block(&mut self, fields: &[(&[u8], &[u8])], index: bool) -> Vec<u8> {
        self.hpack.set_indexing(if index {
            IndexingPolicy::All
        } else {
            IndexingPolicy::Never
        });
        let mut out = vec![0u8; 32 << 10];
        let n = self
            .hpack
            .encode(fields.iter().map(|(n, v)| Header::new(n, v)), &mut out)
            .unwrap();
        out.truncate(n);
        out
    }

    /// A block that indexes the big entry (with `fields` before it).
    fn index_big(&mut self, fields: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut block = self.block(fields, false);
        let value = self.value.clone();
        block.extend(self.block(&[(b"x-bulk", &value)], true));
        block
    }

    /// `FLOOD_FRAMES` HEADERS frames on `stream`, each four references to
    /// the big entry: 4 bytes of block, 13 bytes of frame. References leave
    /// the dynamic table as it is, so one encoded block serves for all.
    fn refs(&mut self, out: &mut Vec<u8>, stream: u32, flags: u8) {
        let value = self.value.clone();
        let big: (&[u8], &[u8]) = (b"x-bulk", &value);
        let block = self.block(&[big; 4], true);
        assert_eq!(block.len(), 4, "four one-byte references");
        for _ in 0..FLOOD_FRAMES {
            frame(out, HEADERS, flags, stream, &block);
        }
    }
}

/// Frames read from a peer: (type, flags, stream, payload).
fn read_frame(s: &mut TcpStream) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).ok()?;
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).ok()?;
    Some((head[3], head[4], stream, payload))
}

/// Reads until GOAWAY and returns its code (None at EOF or timeout).
fn goaway_code(s: &mut TcpStream) -> Option<u32> {
    loop {
        let (kind, _, _, payload) = read_frame(s)?;
        if kind == GOAWAY {
            return Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
        }
    }
}

/// A good client calling until stopped; the latency of each call.
fn good_client(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pause: Duration,
) -> std::thread::JoinHandle<Vec<Result<Duration, String>>> {
    std::thread::spawn(move || {
        let mut client = Client::connect(addr, client_config()).unwrap();
        let mut calls = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let outcome = match client.call(&request("still here"), Some(Duration::from_secs(5))) {
                Ok(r) if r.message.contains("still here") => Ok(started.elapsed()),
                Ok(r) => Err(format!("wrong reply {r:?}")),
                Err(e) => Err(e.to_string()),
            };
            calls.push(outcome);
            std::thread::sleep(pause);
        }
        calls
    })
}

/// Heap the server may hold during the flood above what it held before: the
/// attacker's connection and the good client's, each at most the bound of
/// their options, and the good client's own connection in this process.
fn server_side_bound() -> usize {
    3 * options().heap_bound()
}

#[test]
fn a_dead_stream_header_flood_is_cut_off_with_the_heap_bounded() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(1);
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let good = good_client(addr, stop.clone(), Duration::from_millis(20));
    std::thread::sleep(Duration::from_millis(200));
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);

    // Built first: the handshake must not wait for it.
    let mut flood = Flood::new();
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    frame(&mut out, SETTINGS, ACK, 0, &[]);
    // Open stream 1 (indexing the big entry on the way), reset it, then flood it.
    let request_headers: [(&[u8], &[u8]); 6] = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", b"/arkouda.Arkouda/HandleRequest"),
        (b":authority", b"x"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ];
    let block = flood.index_big(&request_headers);
    frame(&mut out, HEADERS, END_HEADERS, 1, &block);
    frame(&mut out, RST_STREAM, 0, 1, &8u32.to_be_bytes());
    flood.refs(&mut out, 1, END_HEADERS);
    let mut a = TcpStream::connect(addr).unwrap();
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The server may close before it has read everything: that is an answer too.
    let _ = a.write_all(&out);
    let goaway = goaway_code(&mut a);
    drop(a);

    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let calls = good.join().unwrap();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    let bound = server_side_bound();
    assert!(
        peak <= bound,
        "heap grew by {peak} bytes during the flood (bound {bound} from the config)"
    );
    let failed: Vec<_> = calls.iter().filter_map(|c| c.as_ref().err()).collect();
    assert!(failed.is_empty(), "the good client failed: {failed:?}");
    assert!(
        calls.len() >= 3,
        "the good client made only {} calls",
        calls.len()
    );
    assert_eq!(goaway, Some(CALM), "GOAWAY ENHANCE_YOUR_CALM");
    // Still up: a new client gets an answer.
    let mut c = Client::connect(addr, client_config()).unwrap();
    let reply = c
        .call(&request("after the flood"), Some(Duration::from_secs(5)))
        .unwrap();
    assert!(reply.message.contains("after the flood"));
}

#[test]
fn a_hostile_server_flooding_dead_stream_headers_cannot_grow_the_client() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hostile = std::thread::spawn(move || {
        // Built first: the client's handshake must not wait for it.
        let mut flood = Flood::new();
        let mut out = Vec::new();
        frame(&mut out, SETTINGS, 0, 0, &[]);
        frame(&mut out, SETTINGS, ACK, 0, &[]);
        // Response headers that index the big entry, then blocks of
        // references: trailers without END_STREAM, then blocks on a stream
        // that was reset for them.
        let head: [(&[u8], &[u8]); 2] =
            [(b":status", b"200"), (b"content-type", b"application/grpc")];
        let block = flood.index_big(&head);
        frame(&mut out, HEADERS, END_HEADERS, 1, &block);
        flood.refs(&mut out, 1, END_HEADERS);
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut preface = [0u8; 24];
        s.read_exact(&mut preface).unwrap();
        assert_eq!(&preface[..], PREFACE);
        // Wait for the call's HEADERS.
        while let Some((kind, _, stream, _)) = read_frame(&mut s) {
            if kind == HEADERS && stream == 1 {
                break;
            }
        }
        let _ = s.write_all(&out);
        // Read until the client goes; its GOAWAY code, if it sent one.
        let mut code = None;
        while let Some((kind, _, _, payload)) = read_frame(&mut s) {
            if kind == GOAWAY {
                code = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
            }
        }
        code
    });

    let mut client = Client::connect(addr, client_config()).unwrap();
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let result = client.call(&request("hello"), Some(Duration::from_secs(5)));
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    let bound = options().heap_bound();
    assert!(
        peak <= bound,
        "the client's heap grew by {peak} bytes (bound {bound} from the config)"
    );
    match result {
        Err(CallFailure::Status { code, .. }) => assert_ne!(code, grpc::Code::Ok),
        Err(CallFailure::Io(e)) => assert!(!e.to_string().is_empty()),
        other => panic!("expected the call to fail, got {other:?}"),
    }
    // The client ended the connection with ENHANCE_YOUR_CALM: a later
    // call fails at once.
    let second = client.call(&request("again"), Some(Duration::from_secs(5)));
    assert!(
        second.is_err(),
        "the flooding server's connection is still in use"
    );
    drop(client);
    assert_eq!(
        hostile.join().unwrap(),
        Some(CALM),
        "GOAWAY ENHANCE_YOUR_CALM"
    );
}

#[test]
fn a_peer_that_never_stops_sending_does_not_starve_the_loop() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(1);
    let addr = server.local_addr();
    // Before: how fast calls are on a quiet loop.
    let mut c = Client::connect(addr, client_config()).unwrap();
    for _ in 0..5 {
        c.call(&request("warm"), Some(Duration::from_secs(5)))
            .unwrap();
    }
    drop(c);

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let flooder = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let mut out = PREFACE.to_vec();
            frame(&mut out, SETTINGS, 0, 0, &[]);
            frame(&mut out, SETTINGS, ACK, 0, &[]);
            s.write_all(&out).unwrap();
            // PING acknowledgements nobody asked for: legal, ignored, and
            // counted by no flood limit, so the server must keep reading them.
            let mut burst = Vec::new();
            while burst.len() < 64 << 10 {
                frame(&mut burst, PING, ACK, 0, &[0; 8]);
            }
            while !stop.load(Ordering::Relaxed) {
                match s.write_all(&burst) {
                    Ok(()) => sent.fetch_add(burst.len(), Ordering::Relaxed),
                    Err(_) => break,
                };
            }
        })
    };
    // Let the flood reach full speed.
    while sent.load(Ordering::Relaxed) < 4 << 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = sent.load(Ordering::Relaxed);
    let mut c = Client::connect(addr, client_config()).unwrap();
    let mut slowest = Duration::ZERO;
    let calls = 20;
    for i in 0..calls {
        let started = Instant::now();
        let reply = c
            .call(&request(&format!("call {i}")), Some(Duration::from_secs(5)))
            .unwrap();
        assert!(reply.message.contains(&format!("call {i}")));
        slowest = slowest.max(started.elapsed());
    }
    let during = sent.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    flooder.join().unwrap();
    // The loop kept reading the flood while the calls ran (more than the
    // socket buffers hold: several of its 256 KiB read slices), and still
    // every call finished well within 1 s.
    assert!(
        during >= 4 * (256 << 10),
        "the flooder sent only {during} bytes during {calls} calls: it was not being read"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a call took {slowest:?} while a peer flooded the loop"
    );
}
