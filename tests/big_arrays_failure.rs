//! Failure in the middle of a big transfer through `arkwire serve
//! --upstream`: a client that disconnects mid-upload, an upstream that dies
//! mid-reply, a deadline that passes mid-transfer. Each must end its call
//! promptly with a clear status, drop the upstream connection that carried
//! half a message, and leave the proxy serving the next call.
//!
//! The upstream is a fake arkouda_server written here on raw TCP (ZMTP 3.1
//! REP, NULL mechanism), so the test controls the bytes exactly: it can stop
//! a reply half-way and close, read a payload slowly, and it records every
//! request per connection, complete or cut, so a half message followed by
//! another request on the same connection would be seen.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use arkwire::arkouda::{ChannelConfig, Command, Pattern};
use arkwire::grpc::{Client, Code, Options};
use arkwire::h2::conn::GrowableStorage;
use arkwire::net::{ClientConfig, Session, SessionError, SessionOutcome};
use arkwire::proto::{ArkoudaRequest, HANDLE_REQUEST_PATH};
use prost::Message;

const MIB: usize = 1 << 20;

/// What the fake upstream saw, per connection (numbered from 0 in order of
/// acceptance).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    /// A whole request: its command and its payload's length (0: none).
    Request {
        conn: usize,
        cmd: String,
        payload: u64,
    },
    /// A request cut off: `got` of the `announced` payload bytes came, then
    /// the connection ended.
    Cut {
        conn: usize,
        cmd: String,
        got: u64,
        announced: u64,
    },
    /// The proxy closed the connection (between messages or not).
    Closed { conn: usize },
}

/// How the fake upstream answers a command.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// Reply JSON with `msg`.
    Reply(&'static str),
    /// Send the header of a one-frame reply of `announced` bytes and `sent`
    /// of them, then close the connection: an arkouda_server that crashed.
    DieMidReply { announced: u64, sent: usize },
    /// Read the payload slowly (64 KiB every 20 ms) until `hurry` is set.
    ReadSlowly,
}

/// A fake arkouda_server: answers with `act(cmd)`, reports what it sees.
struct Fake {
    port: u16,
    seen: mpsc::Receiver<Seen>,
    log: Arc<Mutex<Vec<Seen>>>,
    hurry: Arc<AtomicBool>,
}

impl Fake {
    fn start(act: fn(&str) -> Act) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, seen) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let hurry = Arc::new(AtomicBool::new(false));
        let (l, h) = (log.clone(), hurry.clone());
        std::thread::spawn(move || {
            for (conn, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let (tx, l, h) = (tx.clone(), l.clone(), h.clone());
                std::thread::spawn(move || {
                    let report = |s: Seen| {
                        l.lock().unwrap().push(s.clone());
                        let _ = tx.send(s);
                    };
                    serve(stream, conn, act, &h, &report);
                });
            }
        });
        Fake {
            port,
            seen,
            log,
            hurry,
        }
    }

    /// Waits (at most `limit`) for a report matching `want`.
    fn wait_for(&self, limit: Duration, want: impl Fn(&Seen) -> bool) -> Seen {
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(s) if want(&s) => return s,
                Ok(_) => {}
                Err(_) => panic!(
                    "the fake upstream never saw that; it saw {:?}",
                    self.log.lock().unwrap()
                ),
            }
        }
    }

    /// Every connection's record must end at its first cut message: a
    /// connection that carried half a message carries nothing after it.
    fn assert_no_request_after_a_cut(&self) {
        let log = self.log.lock().unwrap();
        for (i, s) in log.iter().enumerate() {
            if let Seen::Cut { conn, .. } = s {
                let later = log[i + 1..]
                    .iter()
                    .any(|t| matches!(t, Seen::Request { conn: c, .. } | Seen::Cut { conn: c, .. } if c == conn));
                assert!(
                    !later,
                    "connection {conn} carried a request after a cut one: {log:?}"
                );
            }
        }
    }
}

/// The greeting of a ZMTP 3.1 NULL server, and READY as a REP socket.
fn hello() -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    g[32] = 1;
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&3u32.to_be_bytes());
    body.extend_from_slice(b"REP");
    g.extend_from_slice(&[0x04, body.len() as u8]);
    g.extend_from_slice(&body);
    g
}

/// A frame header: flags (MORE 1, LONG 2, COMMAND 4) and size.
fn read_header(s: &mut TcpStream) -> io::Result<(u8, u64)> {
    let mut flags = [0u8; 1];
    s.read_exact(&mut flags)?;
    let size = if flags[0] & 2 != 0 {
        let mut n = [0u8; 8];
        s.read_exact(&mut n)?;
        u64::from_be_bytes(n)
    } else {
        let mut n = [0u8; 1];
        s.read_exact(&mut n)?;
        u64::from(n[0])
    };
    Ok((flags[0], size))
}

fn frame(more: bool, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    let more = u8::from(more);
    if body.len() > 255 {
        f.push(2 | more);
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
    } else {
        f.push(more);
        f.push(body.len() as u8);
    }
    f.extend_from_slice(body);
    f
}

/// The `cmd` of a request's JSON frame.
fn cmd_of(json: &[u8]) -> String {
    let text = String::from_utf8_lossy(json);
    let start = text.find("\"cmd\":\"").map(|i| i + 7).unwrap_or(0);
    text[start..].split('"').next().unwrap_or("").to_string()
}

/// One connection of the fake upstream: handshake, then requests until
/// the proxy closes it.
fn serve(
    mut s: TcpStream,
    conn: usize,
    act: fn(&str) -> Act,
    hurry: &AtomicBool,
    report: &dyn Fn(Seen),
) {
    if s.write_all(&hello()).is_err() {
        return;
    }
    let mut greeting = [0u8; 64];
    if s.read_exact(&mut greeting).is_err() {
        return report(Seen::Closed { conn });
    }
    loop {
        // One request: delimiter, JSON, then maybe a payload frame.
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut payload = (0u64, 0u64); // (announced, got)
        let mut cmd = String::new();
        loop {
            let (flags, size) = match read_header(&mut s) {
                Ok(h) => h,
                Err(_) if frames.is_empty() => return report(Seen::Closed { conn }),
                Err(_) => {
                    return report(Seen::Cut {
                        conn,
                        cmd,
                        got: payload.1,
                        announced: payload.0,
                    })
                }
            };
            if flags & 4 != 0 {
                // READY, PING...: read and ignore (the proxy sends no PING here).
                let mut body = vec![0u8; size as usize];
                if s.read_exact(&mut body).is_err() {
                    return report(Seen::Closed { conn });
                }
                continue;
            }
            if frames.len() == 2 {
                // The payload: counted, not kept.
                payload.0 = size;
                let slow = matches!(act(&cmd), Act::ReadSlowly);
                let mut buf = vec![0u8; 64 * 1024];
                while payload.1 < size {
                    if slow && !hurry.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let want = buf.len().min((size - payload.1) as usize);
                    match s.read(&mut buf[..want]) {
                        Ok(0) | Err(_) => {
                            return report(Seen::Cut {
                                conn,
                                cmd,
                                got: payload.1,
                                announced: size,
                            })
                        }
                        Ok(n) => payload.1 += n as u64,
                    }
                }
                frames.push(Vec::new());
            } else {
                let mut body = vec![0u8; size as usize];
                if s.read_exact(&mut body).is_err() {
                    return report(Seen::Cut {
                        conn,
                        cmd,
                        got: 0,
                        announced: 0,
                    });
                }
                if frames.len() == 1 {
                    cmd = cmd_of(&body);
                }
                frames.push(body);
            }
            if flags & 1 == 0 {
                break;
            }
        }
        report(Seen::Request {
            conn,
            cmd: cmd.clone(),
            payload: payload.0,
        });
        let mut out = frame(true, b"");
        let answer = act(&cmd);
        match answer {
            Act::Reply(_) | Act::ReadSlowly => {
                let msg = match answer {
                    Act::Reply(msg) => msg,
                    _ => "stored",
                };
                let json = format!(
                    r#"{{"msg":"{msg}","msgType":"NORMAL","msgFormat":"STRING","user":"kjyost"}}"#
                );
                out.extend(frame(false, json.as_bytes()));
            }
            Act::DieMidReply { announced, sent } => {
                out.push(2);
                out.extend_from_slice(&announced.to_be_bytes());
                out.extend(std::iter::repeat_n(7u8, sent));
                let _ = s.write_all(&out);
                let _ = s.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
        if s.write_all(&out).is_err() {
            return report(Seen::Closed { conn });
        }
    }
}

fn proxy(fake: &Fake) -> common::Peer {
    common::arkwire_serve(&[
        "--upstream",
        &format!("tcp://127.0.0.1:{}", fake.port),
        "--max-binary-size",
        &(128 * MIB).to_string(),
        "--threads",
        "1",
    ])
}

fn session(port: u16, timeout: Duration) -> Session {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = ClientConfig {
        options: Options {
            max_message_size: 130 * MIB,
            ..Options::default()
        },
        ..ClientConfig::default()
    };
    let channel = ChannelConfig {
        call_timeout: Some(timeout),
        ..ChannelConfig::default()
    };
    Session::connect(addr, "kjyost", "", config, channel).unwrap()
}

/// A small command through a new session: the proxy still serves.
fn ruok(port: u16) -> String {
    let mut s = session(port, Duration::from_secs(10));
    match s.command(Pattern::Blocking, &Command::new("ruok", "")) {
        Ok(SessionOutcome::Reply { msg, .. }) => msg,
        other => panic!("ruok answered {other:?}"),
    }
}

fn act(cmd: &str) -> Act {
    match cmd {
        "tondarray<uint8,1>" => Act::DieMidReply {
            announced: 32 * MIB as u64,
            sent: 4 * MIB,
        },
        "slowarray" => Act::ReadSlowly,
        _ => Act::Reply("imok"),
    }
}

/// Sends the first `send` bytes of a call carrying a 64 MiB payload over
/// a raw socket, then drops the socket: a client that went away.
fn upload_and_vanish(port: u16, send: usize) {
    let request = ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "array<uint8,1>".into(),
        format: "BINARY".into(),
        size: 1,
        args: "[]".into(),
        payload: vec![5u8; 64 * MIB],
        ..Default::default()
    };
    let t0 = arkwire::time::Instant::from_millis(0);
    let options = Options {
        max_message_size: 130 * MIB,
        ..Options::default()
    };
    let mut client = Client::<GrowableStorage>::new("proxy", options, t0).unwrap();
    client
        .start_call(HANDLE_REQUEST_PATH, &request.encode_to_vec(), &[], None, t0)
        .unwrap();
    drop(request);
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let started = Instant::now();
    let mut sent = 0;
    let mut out = vec![0u8; 256 * 1024];
    let mut input = vec![0u8; 64 * 1024];
    while sent < send {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "upload stalled at {sent}"
        );
        let n = client.transmit(&mut out);
        if n > 0 {
            sock.write_all(&out[..n]).unwrap();
            sent += n;
            continue;
        }
        // Waiting for window: read the proxy's SETTINGS and WINDOW_UPDATEs.
        match sock.read(&mut input) {
            Ok(0) => panic!("the proxy closed the connection"),
            Ok(n) => client.recv(&input[..n], t0).unwrap(),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("{e}"),
        }
    }
    // Gone: no RST_STREAM, no GOAWAY, the socket just closes.
}

#[test]
fn a_client_that_vanishes_mid_upload_frees_the_upstream_connection() {
    let fake = Fake::start(act);
    let proxy = proxy(&fake);
    assert_eq!(ruok(proxy.port), "imok");
    let idle_rss = rss_kib(proxy.child.id());
    upload_and_vanish(proxy.port, 16 * MIB);
    // The proxy drops the upstream connection with half the payload sent.
    let cut = fake.wait_for(Duration::from_secs(10), |s| matches!(s, Seen::Cut { .. }));
    let Seen::Cut {
        cmd,
        got,
        announced,
        ..
    } = &cut
    else {
        unreachable!()
    };
    assert_eq!(cmd, "array<uint8,1>");
    assert_eq!(
        *announced,
        64 * MIB as u64,
        "the payload frame announced its length"
    );
    assert!(*got < *announced, "{cut:?}");
    // The next call, on a new client, is answered.
    assert_eq!(ruok(proxy.port), "imok");
    fake.assert_no_request_after_a_cut();
    // The 64 MiB never sat in the proxy: its memory is near idle.
    let rss = rss_kib(proxy.child.id());
    assert!(
        rss < idle_rss + 32 * 1024,
        "proxy RSS {rss} KiB after the abandoned upload, idle {idle_rss} KiB"
    );
}

#[test]
fn an_upstream_that_dies_mid_reply_ends_the_call_unavailable_at_once() {
    let fake = Fake::start(act);
    let proxy = proxy(&fake);
    let mut s = session(proxy.port, Duration::from_secs(30));
    let cmd = Command {
        recv_binary: true,
        size: 1,
        ..Command::new("tondarray<uint8,1>", "[]")
    };
    let asked = Instant::now();
    let outcome = s.command(Pattern::Blocking, &cmd);
    let took = asked.elapsed();
    match outcome {
        Err(SessionError::Status { code, message }) => {
            assert_eq!(code, Code::Unavailable, "{message}");
            assert!(message.contains("arkouda_server"), "{message}");
        }
        other => panic!("a cut reply answered {:?}", other.map(|_| "a reply")),
    }
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: a hang, not an end"
    );
    // The upstream broke, so the proxy backs off before it connects again
    // (100 ms at first): calls meanwhile are UNAVAILABLE at once; then the
    // same client, and a new one, are answered.
    let broke = Instant::now();
    loop {
        match s.command(Pattern::Blocking, &Command::new("ruok", "")) {
            Ok(SessionOutcome::Reply { msg, .. }) => {
                assert_eq!(msg, "imok");
                break;
            }
            Err(SessionError::Status {
                code: Code::Unavailable,
                ..
            }) if broke.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => panic!("after the cut reply: {other:?}"),
        }
    }
    assert_eq!(ruok(proxy.port), "imok");
    // Only the cut reply's connection was lost; the upstream never saw a
    // request on it after the reply began.
    fake.assert_no_request_after_a_cut();
}

#[test]
fn a_deadline_mid_upload_is_deadline_exceeded_and_the_next_call_works() {
    let fake = Fake::start(act);
    let proxy = proxy(&fake);
    let mut s = session(proxy.port, Duration::from_millis(1500));
    let payload = vec![9u8; 32 * MIB];
    let cmd = Command {
        payload: &payload,
        size: 1,
        ..Command::new("slowarray", "[]")
    };
    let asked = Instant::now();
    let outcome = s.command(Pattern::Blocking, &cmd);
    let took = asked.elapsed();
    match outcome {
        Err(SessionError::Status { code, .. }) => assert_eq!(code, Code::DeadlineExceeded),
        Err(SessionError::DeadlineExceeded) => {}
        other => panic!("a slow upload answered {:?}", other.map(|_| "a reply")),
    }
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // The proxy drops the half-written upstream connection.
    fake.hurry.store(true, Ordering::Relaxed);
    let cut = fake.wait_for(Duration::from_secs(10), |s| matches!(s, Seen::Cut { .. }));
    assert!(
        matches!(&cut, Seen::Cut { cmd, got, announced, .. } if cmd == "slowarray" && got < announced),
        "{cut:?}"
    );
    assert_eq!(ruok(proxy.port), "imok");
    fake.assert_no_request_after_a_cut();
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

#[test]
fn a_proxy_that_dies_mid_upload_fails_the_sessions_call_at_once() {
    // The session streams its payload from the caller's memory; the proxy
    // (killed) goes away with 32 MiB still to send.
    let fake = Fake::start(act);
    let mut proxy = proxy(&fake);
    let mut s = session(proxy.port, Duration::from_secs(60));
    let payload = vec![9u8; 32 * MIB];
    let cmd = Command {
        payload: &payload,
        size: 1,
        ..Command::new("slowarray", "[]")
    };
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let _ = proxy.child.kill();
        let _ = proxy.child.wait();
    });
    let asked = Instant::now();
    let outcome = s.command(Pattern::Blocking, &cmd);
    let took = asked.elapsed();
    killer.join().unwrap();
    assert!(
        matches!(outcome, Err(SessionError::Closed(_) | SessionError::Io(_))),
        "a dead proxy answered {:?}",
        outcome.map(|_| "a reply")
    );
    assert!(
        took < Duration::from_secs(5),
        "noticed after {took:?}, not at once"
    );
}
