//! Known HTTP/2 attack classes played against a real server socket. For each:
//! the server answers as RFC 9113 says (GOAWAY with the right code, or
//! RST_STREAM), a well-behaved client keeps getting answers during the
//! attack, and the heap stays bounded (measured by a counting allocator).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};

use counting_alloc::{LIVE, PEAK};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
use arkwire::grpc::{self, Code};
use arkwire::h2::frame::{
    self, Continuation, Data, Headers, Ping, RstStream, Setting, SettingId, WindowUpdate,
};
use arkwire::h2::hpack::{Encoder, Header, HuffmanPolicy};
use arkwire::h2::{Config, ErrorCode};
use arkwire::net::{CallFailure, Client, ClientConfig, Server, ServerConfig};
use arkwire::proto::ArkoudaRequest;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Tests measure the shared heap, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn limits() -> Config {
    Config {
        handshake_timeout: Duration::from_millis(500),
        header_block_timeout: Duration::from_millis(500),
        send_stall_timeout: Duration::from_millis(500),
        max_concurrent_streams: 10,
        ..Config::default()
    }
}

fn server(h2: Config, max_connections: usize) -> Server {
    let config = ServerConfig {
        options: grpc::Options {
            h2,
            max_message_size: 2 << 20,
            ..grpc::Options::default()
        },
        threads: 1,
        max_connections,
        idle_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(SyncProxy::new(BuiltinBackend, 2)),
        config,
    )
    .unwrap()
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

/// A well-behaved client calling every 20 ms until stopped; returns how many
/// calls succeeded and how many failed.
fn good_client(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, usize)> {
    std::thread::spawn(move || {
        let mut client = Client::connect(addr, ClientConfig::default()).unwrap();
        let (mut ok, mut failed) = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            match client.call(&request("still here"), Some(Duration::from_secs(5))) {
                Ok(r) if r.message.contains("still here") => ok += 1,
                _ => failed += 1,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (ok, failed)
    })
}

/// Runs `attack` while a good client calls; checks the client never failed
/// and the heap stayed under `bound` bytes above where it started.
fn under_attack(server: &Server, bound: usize, attack: impl FnOnce(SocketAddr)) {
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let good = good_client(addr, stop.clone());
    std::thread::sleep(Duration::from_millis(100));
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    attack(addr);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = good.join().unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    assert_eq!(
        failed, 0,
        "the good client failed {failed} calls during the attack"
    );
    assert!(ok >= 3, "the good client made only {ok} calls");
    assert!(
        peak <= bound,
        "heap grew by {peak} bytes during the attack (bound {bound})"
    );
}

/// An attacker's connection: preface and SETTINGS sent, HPACK encoder ready.
struct Attacker {
    s: TcpStream,
    hpack: Encoder,
    next_stream: u32,
}

impl Attacker {
    fn connect(addr: SocketAddr, settings: &[Setting]) -> Attacker {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = frame::PREFACE.to_vec();
        let mut f = [0u8; 64];
        let n = frame::emit_settings(settings, &mut f).unwrap();
        buf.extend_from_slice(&f[..n]);
        s.write_all(&buf).unwrap();
        let mut hpack = Encoder::new();
        hpack.set_huffman(HuffmanPolicy::Never);
        Attacker {
            s,
            hpack,
            next_stream: 1,
        }
    }

    fn headers_block(&mut self) -> Vec<u8> {
        let fields = [
            (&b":method"[..], &b"POST"[..]),
            (b":scheme", b"http"),
            (b":path", b"/arkouda.Arkouda/HandleRequest"),
            (b":authority", b"x"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ];
        let mut out = vec![0u8; 512];
        let n = self
            .hpack
            .encode(fields.iter().map(|(n, v)| Header::new(n, v)), &mut out)
            .unwrap();
        out.truncate(n);
        out
    }

    /// HEADERS opening a new stream (without END_STREAM); returns its id.
    fn open_stream(&mut self, out: &mut Vec<u8>) -> u32 {
        let id = self.next_stream;
        self.next_stream += 2;
        let block = self.headers_block();
        let mut f = vec![0u8; 9 + block.len()];
        let n = Headers::new(id, &block, false, true).emit(&mut f).unwrap();
        out.extend_from_slice(&f[..n]);
        id
    }

    fn send(&mut self, bytes: &[u8]) {
        // The server may already have closed: that is a valid answer too.
        let _ = self.s.write_all(bytes);
    }

    /// Reads frames until GOAWAY (its code), RST_STREAM on `rst_stream`, or EOF.
    fn read_until(&mut self, rst_stream: Option<u32>) -> Option<(u8, u32, u32)> {
        let mut head = [0u8; 9];
        loop {
            if self.s.read_exact(&mut head).is_err() {
                return None;
            }
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let kind = head[3];
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let mut payload = vec![0u8; len];
            if self.s.read_exact(&mut payload).is_err() {
                return None;
            }
            let code = |at: usize| {
                u32::from_be_bytes([
                    payload[at],
                    payload[at + 1],
                    payload[at + 2],
                    payload[at + 3],
                ])
            };
            match kind {
                7 => return Some((7, stream, code(4))),
                3 if rst_stream.is_none_or(|s| s == stream) => return Some((3, stream, code(0))),
                _ => {}
            }
        }
    }

    fn goaway_code(&mut self) -> u32 {
        match self.read_until(Some(u32::MAX)) {
            Some((7, _, code)) => code,
            other => panic!("expected GOAWAY, got {other:?}"),
        }
    }
}

const CALM: u32 = 0xb;

#[test]
fn rapid_reset_is_cut_off() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 64);
    under_attack(&server, 16 << 20, |addr| {
        let mut a = Attacker::connect(addr, &[]);
        let mut out = Vec::new();
        for _ in 0..2000 {
            let id = a.open_stream(&mut out);
            let mut f = [0u8; 16];
            let n = RstStream::new(id, ErrorCode::Cancel).emit(&mut f).unwrap();
            out.extend_from_slice(&f[..n]);
        }
        a.send(&out);
        assert_eq!(a.goaway_code(), CALM);
    });
}

#[test]
fn ping_and_settings_floods_are_cut_off() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 64);
    under_attack(&server, 16 << 20, |addr| {
        let mut a = Attacker::connect(addr, &[]);
        let mut out = Vec::new();
        for i in 0..10_000u64 {
            let mut f = [0u8; 17];
            let n = Ping::new(i.to_be_bytes()).emit(&mut f).unwrap();
            out.extend_from_slice(&f[..n]);
        }
        a.send(&out);
        assert_eq!(a.goaway_code(), CALM);

        let mut a = Attacker::connect(addr, &[]);
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let mut f = [0u8; 32];
            let n = frame::emit_settings(&[Setting::new(SettingId::HeaderTableSize, 4096)], &mut f)
                .unwrap();
            out.extend_from_slice(&f[..n]);
        }
        a.send(&out);
        assert_eq!(a.goaway_code(), CALM);
    });
}

#[test]
fn an_empty_frame_flood_is_cut_off() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 64);
    under_attack(&server, 16 << 20, |addr| {
        let mut a = Attacker::connect(addr, &[]);
        let mut out = Vec::new();
        let id = a.open_stream(&mut out);
        for _ in 0..10_000 {
            out.extend_from_slice(&Data::header_only(id, 0, false).unwrap());
        }
        a.send(&out);
        assert_eq!(a.goaway_code(), CALM);
    });
}

#[test]
fn a_continuation_flood_is_cut_off() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 64);
    under_attack(&server, 16 << 20, |addr| {
        let mut a = Attacker::connect(addr, &[]);
        let block = a.headers_block();
        let mut out = vec![0u8; 9 + block.len()];
        let n = Headers::new(1, &block, false, false)
            .emit(&mut out)
            .unwrap();
        out.truncate(n);
        for _ in 0..1000 {
            let mut f = [0u8; 16];
            // A literal header never finished: keeps the block open.
            let n = Continuation {
                stream_id: 1,
                end_headers: false,
                fragment: &[0x00, 0x01, b'x', 0x01, b'y'],
            }
            .emit(&mut f)
            .unwrap();
            out.extend_from_slice(&f[..n]);
        }
        a.send(&out);
        assert_eq!(a.goaway_code(), CALM);
    });
}

#[test]
fn an_hpack_bomb_refuses_the_stream_not_the_server() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 64);
    under_attack(&server, 16 << 20, |addr| {
        let mut a = Attacker::connect(addr, &[]);
        // RFC 7541 §6.2.1: literal with incremental indexing, new name "x-bomb", 4000-byte value…
        let mut block = a.headers_block();
        block.extend_from_slice(&[0x40, 0x06]);
        block.extend_from_slice(b"x-bomb");
        block.extend_from_slice(&[0x7f, 0xa1, 0x1e]); // 4000 = 127 + 3873 (§5.1)
        block.extend(std::iter::repeat_n(b'b', 4000));
        // …then indexed references to it (dynamic index 62, §2.3.3), 100 times: 400 KB decoded.
        block.extend(std::iter::repeat_n(0xbe, 100));
        let mut out = vec![0u8; 9 + block.len()];
        let n = Headers::new(1, &block, true, true).emit(&mut out).unwrap();
        a.send(&out[..n]);
        match a.read_until(Some(1)) {
            Some((3, 1, code)) => assert_eq!(code, 1, "RST_STREAM PROTOCOL_ERROR"),
            other => panic!("expected RST_STREAM on stream 1, got {other:?}"),
        }
    });
}

#[test]
fn streams_past_the_limit_are_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 64);
    under_attack(&server, 16 << 20, |addr| {
        let mut a = Attacker::connect(addr, &[]);
        let mut out = Vec::new();
        let ids: Vec<u32> = (0..50).map(|_| a.open_stream(&mut out)).collect();
        a.send(&out);
        // limits() allows 10 concurrent streams: the 11th is refused (§5.1.2).
        match a.read_until(Some(ids[10])) {
            Some((3, _, code)) => assert_eq!(code, 0x7, "REFUSED_STREAM"),
            other => panic!("expected RST_STREAM, got {other:?}"),
        }
    });
}

#[test]
fn data_stalled_behind_a_zero_window_is_dropped() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 64);
    under_attack(&server, 48 << 20, |addr| {
        // A window of 0: the server must queue every reply and cannot send it.
        let mut a = Attacker::connect(addr, &[Setting::new(SettingId::InitialWindowSize, 0)]);
        let body = {
            // Half a MiB each: within the server's 1 MiB stream window, so
            // the attacker breaks no rule the server could reject it for.
            let req = prost::Message::encode_to_vec(&request(&"z".repeat(512 << 10)));
            let mut framed = grpc::message::prefix(req.len() as u32).to_vec();
            framed.extend_from_slice(&req);
            framed
        };
        let mut out = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..10 {
            let id = a.open_stream(&mut out);
            for chunk in body.chunks(16_384) {
                let mut f = vec![0u8; 9 + chunk.len()];
                let n = Data::new(id, chunk, false).emit(&mut f).unwrap();
                out.extend_from_slice(&f[..n]);
            }
            out.extend_from_slice(&Data::header_only(id, 0, true).unwrap());
            ids.push(id);
        }
        // Only the stream windows are 0; the connection window is open wide.
        let mut f = [0u8; 13];
        let n = WindowUpdate::new(0, 1 << 30).emit(&mut f).unwrap();
        a.send(&f[..n]);
        a.send(&out);
        // Past the stall timeout each stuck reply is reset with CANCEL.
        let started = Instant::now();
        match a.read_until(Some(ids[0])) {
            Some((3, _, code)) => assert_eq!(code, 0x8, "RST_STREAM CANCEL"),
            other => panic!("expected RST_STREAM, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn oversized_messages_are_resource_exhausted() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 64);
    under_attack(&server, 48 << 20, |addr| {
        let config = ClientConfig {
            options: grpc::Options {
                max_message_size: 64 << 20,
                ..grpc::Options::default()
            },
            ..ClientConfig::default()
        };
        let mut c = Client::connect(addr, config).unwrap();
        // The server's limit is 2 MiB.
        match c.call(
            &request(&"o".repeat(3 << 20)),
            Some(Duration::from_secs(10)),
        ) {
            Err(CallFailure::Status { code, .. }) => assert_eq!(code, Code::ResourceExhausted),
            other => panic!("expected RESOURCE_EXHAUSTED, got {other:?}"),
        }
    });
}

#[test]
fn slow_and_idle_connections_time_out() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 64);
    under_attack(&server, 16 << 20, |addr| {
        // Slowloris: the preface one byte every 100 ms never finishes in time.
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        for &b in &frame::PREFACE[..10] {
            let _ = slow.write_all(&[b]);
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut a = Attacker {
            s: slow,
            hpack: Encoder::new(),
            next_stream: 1,
        };
        assert_eq!(a.goaway_code(), 0x4, "GOAWAY SETTINGS_TIMEOUT");
        assert!(started.elapsed() < Duration::from_secs(3));
        // Idle after the handshake: GOAWAY NO_ERROR after the idle timeout (1 s here).
        let mut idle = Attacker::connect(addr, &[]);
        let started = Instant::now();
        assert_eq!(idle.goaway_code(), 0x0, "GOAWAY NO_ERROR");
        assert!(started.elapsed() >= Duration::from_millis(900));
    });
}

#[test]
fn a_connection_flood_is_refused_past_the_limit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 8);
    let addr = server.local_addr();
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let mut flood: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Connections past the limit are closed at once.
    let mut closed = 0;
    for s in &mut flood {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut b = [0u8; 1];
        if matches!(s.read(&mut b), Ok(0)) {
            closed += 1;
        }
    }
    assert!(
        closed >= 90,
        "only {closed} of 100 flood connections were refused"
    );
    // The ones that got in never finish their handshake and are dropped,
    // so a real client gets through soon after.
    std::thread::sleep(Duration::from_millis(800));
    let mut c = Client::connect(addr, ClientConfig::default()).unwrap();
    let reply = c
        .call(&request("after the flood"), Some(Duration::from_secs(5)))
        .unwrap();
    assert!(reply.message.contains("after the flood"));
    drop(flood);
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    assert!(peak < 16 << 20, "heap grew by {peak} bytes");
}

#[test]
fn a_soak_with_clients_vanishing_mid_call_loses_nothing_and_frees_everything() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = server(limits(), 64);
    let addr = server.local_addr();
    std::thread::sleep(Duration::from_millis(100));
    let baseline = LIVE.load(Ordering::Relaxed);
    let workers: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut done = 0;
                for round in 0..5 {
                    let mut c = Client::connect(addr, ClientConfig::default()).unwrap();
                    let mut pending = Vec::new();
                    for i in 0..10 {
                        let args = format!("client {t} round {round} call {i}");
                        let call = c
                            .start(&request(&args), &[], Some(Duration::from_secs(10)))
                            .unwrap();
                        pending.push((call, args));
                    }
                    if (t + round) % 3 == 0 {
                        // Vanish with ten calls in flight.
                        drop(c);
                        continue;
                    }
                    for (call, args) in pending {
                        let reply = c.wait(call).unwrap();
                        assert!(
                            reply.message.contains(&format!("\"{args}\"")),
                            "{args}: {}",
                            reply.message
                        );
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    let completed: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(completed >= 200, "only {completed} calls completed");
    // Give the loop a moment to notice the vanished clients.
    std::thread::sleep(Duration::from_millis(500));
    let grown = LIVE.load(Ordering::Relaxed).saturating_sub(baseline);
    assert!(
        grown < 1 << 20,
        "the server still holds {grown} more bytes than before the soak"
    );
}
