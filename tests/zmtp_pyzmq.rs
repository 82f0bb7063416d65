//! `ReqConnection` against a real libzmq REP socket (pyzmq), a peer we did not
//! write: `tests/zmtp/fake_arkouda_server.py` answers like arkouda_server.
//!
//! The driver is the smallest one possible: a blocking `TcpStream`, transmit →
//! write_all, read → recv, with the read timeout set from `poll_timeout`.
//! Without pyzmq this test says SKIP and passes, unless `ARKWIRE_REQUIRE_INTEROP`
//! is set, in which case a missing pyzmq is a failure.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use arkwire::proto::ArkoudaRequestRef;
use arkwire::time::Instant;
use arkwire::zmtp::arkouda::request_json;
use arkwire::zmtp::{ReqConnection, ZmtpConfig, ZmtpEvent};
use serde_json::Value;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/zmtp/fake_arkouda_server.py"
);
/// No step of this test should take anywhere near this long.
const STEP_LIMIT: Duration = Duration::from_secs(10);

fn pyzmq_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import zmq"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("ARKWIRE_REQUIRE_INTEROP").is_none(),
            "python3 with pyzmq is required (pip install pyzmq)"
        );
        eprintln!("SKIP: pyzmq not installed");
    }
    ok
}

/// The fake server, killed when the test ends however it ends (and it exits
/// by itself when its stdin, which we hold, closes).
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(args: &[&str]) -> Server {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start fake_arkouda_server.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read PORT line");
    let port = line
        .strip_prefix("PORT ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    Server { child, port }
}

/// A blocking driver around the sans-IO connection.
struct Driver {
    stream: TcpStream,
    conn: ReqConnection<Vec<u8>>,
    origin: std::time::Instant,
}

impl Driver {
    fn connect(port: u16) -> Driver {
        Self::connect_with(
            port,
            ZmtpConfig {
                max_message_size: 1 << 20,
                handshake_timeout: Duration::from_secs(5),
                ..ZmtpConfig::default()
            },
        )
    }

    fn connect_with(port: u16, config: ZmtpConfig) -> Driver {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).unwrap();
        let origin = std::time::Instant::now();
        let conn = ReqConnection::new(config, Instant::from_micros(0)).unwrap();
        let mut d = Driver {
            stream,
            conn,
            origin,
        };
        assert_eq!(d.next_event(), ZmtpEvent::Ready);
        d
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }

    fn flush(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            let n = self.conn.transmit(&mut buf);
            if n == 0 {
                return;
            }
            self.stream.write_all(&buf[..n]).expect("write");
        }
    }

    /// Runs the loop until the connection has something to say.
    fn next_event(&mut self) -> ZmtpEvent {
        let give_up = std::time::Instant::now() + STEP_LIMIT;
        let mut buf = [0u8; 8192];
        loop {
            self.flush();
            if let Some(event) = self.conn.poll_event() {
                return event;
            }
            assert!(std::time::Instant::now() < give_up, "no event in time");
            let wait = match self.conn.poll_timeout() {
                Some(t) => t.saturating_duration_since(self.now()),
                None => STEP_LIMIT,
            };
            self.stream
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
                .unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("server closed the connection"),
                Ok(n) => {
                    let now = self.now();
                    self.conn.recv(&buf[..n], now).expect("recv");
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    let now = self.now();
                    self.conn.handle_timeout(now);
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Runs the loop with nothing to send for `span`; the first event, if any.
    fn idle(&mut self, span: Duration) -> Option<ZmtpEvent> {
        let until = std::time::Instant::now() + span;
        let mut buf = [0u8; 8192];
        while std::time::Instant::now() < until {
            self.flush();
            if let Some(event) = self.conn.poll_event() {
                return Some(event);
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            let wait = match self.conn.poll_timeout() {
                Some(t) => t.saturating_duration_since(self.now()).min(left),
                None => left,
            };
            self.stream
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
                .unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return Some(self.conn.poll_event().unwrap_or(ZmtpEvent::TimedOut)),
                Ok(n) => {
                    let now = self.now();
                    let _ = self.conn.recv(&buf[..n], now);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    let now = self.now();
                    self.conn.handle_timeout(now);
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        self.conn.poll_event()
    }

    /// One request; the reply's frames, or the event that ended the wait.
    fn call(
        &mut self,
        frames: &[&[u8]],
        timeout: Option<Duration>,
    ) -> Result<Vec<Vec<u8>>, ZmtpEvent> {
        let deadline = timeout.map(|t| self.now() + t);
        self.conn
            .send_request(frames, deadline)
            .expect("send_request");
        match self.next_event() {
            ZmtpEvent::Reply => {
                let frames = self.conn.reply_frames().map(<[u8]>::to_vec).collect();
                self.conn.release_reply();
                Ok(frames)
            }
            other => Err(other),
        }
    }

    /// An Arkouda command; the reply's single JSON frame.
    fn arkouda(&mut self, cmd: &str, args: &str) -> Value {
        let json = request(cmd, args);
        let frames = self.call(&[json.as_bytes()], None).expect("reply");
        assert_eq!(frames.len(), 1, "{frames:?}");
        serde_json::from_slice(&frames[0]).expect("reply JSON")
    }
}

fn request(cmd: &str, args: &str) -> String {
    request_json(&ArkoudaRequestRef {
        user: "kjyost",
        token: "",
        cmd,
        format: "STRING",
        size: -1,
        args,
        request_id: None,
        ..Default::default()
    })
}

#[test]
fn req_connection_against_pyzmq_rep() {
    if !pyzmq_available() {
        return;
    }
    let server = start_server(&[]);
    let mut d = Driver::connect(server.port);
    assert_eq!(
        d.conn.peer_minor_version(),
        Some(1),
        "libzmq 4.x speaks ZMTP 3.1"
    );

    let r = d.arkouda("connect", "");
    assert_eq!(r["msg"], "connected to arkouda server tcp://*:5555");
    assert_eq!(r["msgType"], "NORMAL");
    assert_eq!(r["user"], "kjyost");

    let r = d.arkouda("getconfig", "");
    let config: Value = serde_json::from_str(r["msg"].as_str().unwrap()).unwrap();
    assert_eq!(config["ServerPort"], 5555);

    // Quotes, backslashes, control characters and non-ASCII survive both ways.
    let tricky = "héllo \"wörld\" ✓ \\ \n\t\u{1} 🦀";
    assert_eq!(d.arkouda("echo", tricky)["msg"], tricky);

    // Long frames (8-byte sizes) both ways.
    let big = "x".repeat(200_000);
    assert_eq!(d.arkouda("echo", &big)["msg"], big.as_str());

    let r = d.arkouda("frobnicate", "");
    assert_eq!(r["msgType"], "ERROR");
    assert_eq!(r["msg"], "Unrecognized command: frobnicate");

    // A multipart request: the server reads the JSON from the first frame.
    let json = request("echo", "two parts");
    let frames = d.call(&[json.as_bytes(), b"\x00\x01\xff"], None).unwrap();
    let r: Value = serde_json::from_slice(&frames[0]).unwrap();
    assert_eq!(r["msg"], "two parts");

    // Replies need not be UTF-8.
    let json = request("nonutf8", "");
    let frames = d.call(&[json.as_bytes()], None).unwrap();
    assert_eq!(frames, [b"\xff\xfe{not utf8".to_vec()]);

    // A two-frame binary reply arrives as two frames, bytes intact.
    let json = request("binary", "");
    let frames = d.call(&[json.as_bytes()], None).unwrap();
    assert_eq!(frames.len(), 2);
    let head: Value = serde_json::from_slice(&frames[0]).unwrap();
    assert!(head["msg"].as_str().unwrap().ends_with("BINARY_PAYLOAD"));
    assert_eq!(head["msgFormat"], "BINARY");
    assert_eq!(frames[1], (0..=255u8).collect::<Vec<u8>>());

    // A deadline shorter than the server's work: TimedOut, and the connection is done.
    let json = request("slow", "1500");
    let started = std::time::Instant::now();
    let outcome = d.call(&[json.as_bytes()], Some(Duration::from_millis(200)));
    assert_eq!(outcome, Err(ZmtpEvent::TimedOut));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_millis(1400),
        "{waited:?}"
    );
    assert!(d.conn.is_closed());
    drop(d);

    // As documented, the caller reconnects; the new connection is answered
    // once the REP socket has finished (and discarded) the slow reply.
    let mut d = Driver::connect(server.port);
    assert_eq!(
        d.arkouda("echo", "after reconnect")["msg"],
        "after reconnect"
    );
}

/// libzmq PINGs every 50 ms and drops a peer that stays silent for 150 ms. A
/// request the server takes 600 ms over is answered on the same connection
/// only if our PONGs kept it alive while we had nothing else to send.
#[test]
fn pongs_keep_a_heartbeating_libzmq_peer_alive() {
    if !pyzmq_available() {
        return;
    }
    let server = start_server(&["--heartbeat-ms", "50"]);
    let mut d = Driver::connect(server.port);
    let r = d.arkouda("slow", "600");
    assert_eq!(r["msg"], "slept 600 ms");
    assert_eq!(d.arkouda("echo", "still here")["msg"], "still here");
}

fn heartbeats(interval_ms: u64, timeout_ms: u64) -> ZmtpConfig {
    ZmtpConfig {
        max_message_size: 1 << 20,
        handshake_timeout: Duration::from_secs(5),
        heartbeat_interval: Some(Duration::from_millis(interval_ms)),
        heartbeat_timeout: Duration::from_millis(timeout_ms),
    }
}

#[test]
fn libzmq_answers_our_heartbeats_and_the_idle_connection_lives() {
    if !pyzmq_available() {
        return;
    }
    let server = start_server(&[]);
    // A PING every 50 ms of silence, answered within 250 ms or we give up:
    // a second of idling only survives if libzmq answers each PING.
    let mut d = Driver::connect_with(server.port, heartbeats(50, 250));
    assert_eq!(d.idle(Duration::from_secs(1)), None);
    assert!(d.conn.is_ready());
    assert_eq!(d.arkouda("connect", "")["msgType"], "NORMAL");
}

#[test]
fn a_peer_that_goes_silent_is_found_by_the_heartbeat() {
    // A ZMTP 3.1 REP that completes the handshake and then says nothing more,
    // as a host that died or a dropped NAT mapping looks from here.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut greeting = vec![0u8; 64];
        greeting[0] = 0xff;
        greeting[9] = 0x7f;
        greeting[10] = 3;
        greeting[11] = 1;
        greeting[12..16].copy_from_slice(b"NULL");
        let mut ready = b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REP".to_vec();
        greeting.append(&mut ready);
        s.write_all(&greeting).unwrap();
        let mut sink = [0u8; 1024];
        // Read (and ignore) what the client sends until it hangs up.
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    });
    let mut d = Driver::connect_with(port, heartbeats(50, 200));
    let started = std::time::Instant::now();
    let event = d.idle(Duration::from_secs(5));
    assert_eq!(
        event,
        Some(ZmtpEvent::Closed {
            error: arkwire::zmtp::ZmtpError::HeartbeatTimeout
        })
    );
    // About 50 ms to the PING and 200 ms for its answer; never the 5 s.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(d);
    peer.join().unwrap();
}
