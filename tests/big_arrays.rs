//! Arrays of a gigabyte through `arkwire serve --upstream` in bounded memory:
//! a client uploads an array (`array<uint8,1>` with a binary payload) and
//! downloads it again (`tondarray<uint8,1>`, a binary reply) through the
//! proxy, whose resident memory is sampled all along and must stay within a
//! few flow-control windows of its idle size — one transfer, then two at
//! once. The upstream is the stand-in arkouda_server (pyzmq, numpy) of
//! `tests/arkouda_session.rs`; the payload is checked byte for byte on the
//! way back.
//!
//! `ARKWIRE_BIG_ARRAY_MIB` sets the array size (default 1024).

mod common;

use std::net::SocketAddr;
use std::process::Command as Process;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arkwire::arkouda::{ChannelConfig, Command, Pattern};
use arkwire::grpc::Options;
use arkwire::net::{BinaryReply, ClientConfig, Session, SessionOutcome};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The proxy's resident memory may grow by this much over its idle size
/// while transfers run: per transfer, the client's stream window (1 MiB),
/// the pipe (1 MiB), the ZMTP send queue (256 KiB), one socket read
/// (256 KiB) and the reply's send-ahead (256 KiB), plus the allocator's
/// slack; far below the array.
const MARGIN_MIB: u64 = 48;

fn size() -> usize {
    std::env::var("ARKWIRE_BIG_ARRAY_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1024)
        << 20
}

fn stand_in() -> common::Peer {
    let mut cmd = Process::new("python3");
    cmd.arg(format!("{ROOT}/tests/arkouda/stand_in_server.py"));
    common::start(cmd, "PORT")
}

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Samples the resident memory of `pid` every few milliseconds until
/// dropped; `peak` holds the largest seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Sampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn peak_kib(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

fn session(port: u16) -> Session {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = ClientConfig {
        options: Options {
            max_message_size: size() + (1 << 20),
            ..Options::default()
        },
        ..ClientConfig::default()
    };
    let channel = ChannelConfig {
        // A 1 GiB call takes seconds; a stalled one fails within minutes.
        call_timeout: Some(Duration::from_secs(if size() > (64 << 20) {
            180
        } else {
            30
        })),
        ..ChannelConfig::default()
    };
    Session::connect(addr, "kjyost", "", config, channel).unwrap()
}

/// Uploads `payload` as an array and returns its name.
fn upload(s: &mut Session, payload: &[u8]) -> String {
    let cmd = Command {
        payload,
        size: 1,
        ..Command::new("array<uint8,1>", "[]")
    };
    match s.command(Pattern::Blocking, &cmd).unwrap() {
        SessionOutcome::Reply { msg, .. } => {
            let words: Vec<&str> = msg.split_whitespace().collect();
            assert_eq!(words[0], "created", "{msg}");
            assert_eq!(words[3], payload.len().to_string(), "{msg}");
            words[1].to_string()
        }
        other => panic!("upload answered {other:?}"),
    }
}

/// Downloads the array `name`.
fn download(s: &mut Session, name: &str) -> BinaryReply {
    let args = format!(r#"[{{"key":"array","dtype":"str","val":"{name}"}}]"#);
    let cmd = Command {
        recv_binary: true,
        size: 1,
        ..Command::new("tondarray<uint8,1>", &args)
    };
    match s.command(Pattern::Blocking, &cmd).unwrap() {
        SessionOutcome::Binary(bytes) => bytes,
        other => panic!("download answered {other:?}"),
    }
}

/// `len` bytes that differ at every offset within a MiB and from one MiB
/// to the next, made by copying (fast in a debug build).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let block: Vec<u8> = (0..1usize << 20)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect();
    let mut out = Vec::with_capacity(len);
    let mut mib = 0u64;
    while out.len() < len {
        let start = out.len();
        let take = block.len().min(len - start);
        out.extend_from_slice(&block[..take]);
        // Each MiB carries its index, so a MiB sent twice or skipped shows.
        let stamp = mib.to_le_bytes();
        let n = stamp.len().min(take);
        out[start..start + n].copy_from_slice(&stamp[..n]);
        mib += 1;
    }
    out
}

/// Deletes the array `name` from the stand-in, so arrays do not pile up in
/// its memory.
fn delete(s: &mut Session, name: &str) {
    let args = format!(r#"[{{"key":"name","dtype":"str","val":"{name}"}}]"#);
    s.command(Pattern::Blocking, &Command::new("delete", &args))
        .unwrap();
}

fn round_trip(port: u16, seed: u8) {
    let mut s = session(port);
    // The payload is made again to check the array that comes back, so the
    // test holds one copy at a time (a machine running it holds several GiB
    // in the stand-in and the client already).
    let name = upload(&mut s, &pattern(size(), seed));
    let back = download(&mut s, &name);
    delete(&mut s, &name);
    assert_eq!(back.len(), size());
    assert!(
        *back == pattern(size(), seed),
        "the array came back changed"
    );
}

#[test]
fn a_gigabyte_each_way_through_the_proxy_in_bounded_memory() {
    if !common::python_has("zmq, numpy") {
        return;
    }
    let upstream = stand_in();
    let max = (size() + (1 << 20)).to_string();
    let proxy = common::arkwire_serve(&[
        "--upstream",
        &format!("tcp://127.0.0.1:{}", upstream.port),
        "--max-binary-size",
        &max,
        "--threads",
        "1",
    ]);
    let pid = proxy.child.id();
    // Idle: connected, upstream connection open, one small call answered.
    {
        let mut s = session(proxy.port);
        let small = pattern(1000, 1);
        let name = upload(&mut s, &small);
        assert_eq!(*download(&mut s, &name), small);
    }
    let idle = rss_kib(pid);

    let sampler = Sampler::start(pid);
    round_trip(proxy.port, 2);
    let one = sampler.peak_kib();

    let sampler = Sampler::start(pid);
    let port = proxy.port;
    let other = std::thread::spawn(move || round_trip(port, 3));
    round_trip(proxy.port, 4);
    other.join().unwrap();
    let two = sampler.peak_kib();

    let mib = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "proxy RSS: idle {:.1} MiB, peak with one {} MiB transfer {:.1} MiB, with two {:.1} MiB",
        mib(idle),
        size() >> 20,
        mib(one),
        mib(two)
    );
    assert!(
        one <= idle + (MARGIN_MIB << 10),
        "one transfer: {:.1} MiB over idle",
        mib(one - idle)
    );
    assert!(
        two <= idle + ((2 * MARGIN_MIB) << 10),
        "two transfers: {:.1} MiB over idle",
        mib(two - idle)
    );
}
