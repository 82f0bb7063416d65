//! `arkwire serve` run as an operator runs it: SIGTERM drains (calls in
//! flight finish, direct and forwarded; past the grace they are
//! UNAVAILABLE; a second signal exits at once), async results survive a
//! restart, grpcio's health client sees SERVING and NOT_SERVING, the
//! metrics endpoint parses and counts the calls made, per-call JSON logs
//! carry no token, and keepalives find a silent client and a silent
//! upstream.
//!
//! These run real processes, so they wait in real time; every wait is
//! bounded and generous.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arkwire::grpc::Code;
use arkwire::net::{CallFailure, Client, ClientConfig};
use arkwire::proto::{ArkoudaRequest, ArkoudaResponse};

/// A running `arkwire serve`, its stderr kept in a file; killed when dropped.
struct Serve {
    child: Child,
    port: u16,
    log: PathBuf,
}

fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("arkwire-operate-{}-{n}-{name}", std::process::id()))
}

fn serve(args: &[&str]) -> Serve {
    let log = scratch("stderr");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkwire"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut attempts = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other.expect("start arkwire serve"),
        }
    };
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("serve printed nothing").unwrap();
    assert!(line.contains("listening on"), "{line}");
    let port = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    // Keep reading, so the server never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Serve { child, port, log }
}

/// `arkwire serve --listen 127.0.0.1:0 ARGS`.
fn serve_with(args: &[&str]) -> Serve {
    let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    serve(&all)
}

impl Serve {
    fn addr(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.port).parse().unwrap()
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    /// The exit status, if the process ends within `limit`.
    fn exits_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let give_up = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= give_up {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the listening socket refuses connections (the drain
    /// has started).
    fn wait_refusing(&self) {
        let give_up = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(self.addr()).is_ok() {
            assert!(Instant::now() < give_up, "still accepting after SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn client(addr: SocketAddr) -> Client {
    Client::connect(addr, ClientConfig::default()).unwrap()
}

fn request(cmd: &str, args: &str, token: &str) -> ArkoudaRequest {
    ArkoudaRequest {
        user: "ann".into(),
        token: token.into(),
        cmd: cmd.into(),
        format: "STRING".into(),
        size: -1,
        args: args.into(),
        ..Default::default()
    }
}

fn code_of(result: &Result<ArkoudaResponse, CallFailure>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(CallFailure::Status { code, .. }) => *code,
        Err(other) => panic!("unexpected failure {other}"),
    }
}

/// Starts `call` on its own connection, and returns once the server counts
/// it in flight (read from its metrics endpoint).
fn call_in_flight(
    server: &Serve,
    metrics: SocketAddr,
    call: ArkoudaRequest,
) -> std::thread::JoinHandle<Result<ArkoudaResponse, CallFailure>> {
    let mut c = client(server.addr());
    let running = std::thread::spawn(move || c.call(&call, Some(Duration::from_secs(60))));
    let give_up = Instant::now() + Duration::from_secs(10);
    while !scrape(metrics).contains("arkwire_calls_in_flight 1") {
        assert!(Instant::now() < give_up, "the call never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    running
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scrape(addr: SocketAddr) -> String {
    let give_up = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < give_up, "metrics endpoint: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn fake_arkouda_server(port: Option<u16>) -> common::Peer {
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/zmtp/fake_arkouda_server.py"
    ));
    if let Some(p) = port {
        cmd.args(["--port", &p.to_string()]);
    }
    common::start(cmd, "PORT")
}

/// SIGTERM while `call` is in flight: it completes with `expect` in its
/// reply, new connections are refused, and the server exits 0 within the grace.
fn drain_during(extra: &[&str], call: ArkoudaRequest, expect: &str) {
    let metrics = format!("127.0.0.1:{}", free_port());
    let metrics_addr: SocketAddr = metrics.parse().unwrap();
    let mut args = vec!["--shutdown-grace-ms", "20000", "--metrics", &metrics];
    args.extend_from_slice(extra);
    let mut server = serve_with(&args);
    let running = call_in_flight(&server, metrics_addr, call);
    let signalled = Instant::now();
    server.signal("TERM");
    server.wait_refusing();
    let reply = running
        .join()
        .unwrap()
        .expect("the call in flight completed");
    assert!(reply.message.contains(expect), "{}", reply.message);
    let status = server
        .exits_within(Duration::from_secs(20))
        .expect("exits within the grace");
    assert!(status.success(), "{status:?}\n{}", server.stderr());
    // Once the call is answered nothing holds the drain: no wait for the grace.
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "{:?}",
        signalled.elapsed()
    );
}

#[test]
fn sigterm_lets_a_direct_call_in_flight_finish_and_exits_zero() {
    drain_during(&[], request("sleep", "1500", ""), "slept");
}

#[test]
fn sigterm_lets_a_forwarded_call_in_flight_finish_and_exits_zero() {
    if !common::python_has("zmq") {
        return;
    }
    let upstream = fake_arkouda_server(None);
    let address = format!("tcp://127.0.0.1:{}", upstream.port);
    drain_during(
        &["--upstream", &address],
        request("slow", "1500", ""),
        "slept",
    );
}

#[test]
fn past_the_grace_calls_are_unavailable_and_a_second_signal_exits_at_once() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let metrics_addr: SocketAddr = metrics.parse().unwrap();
    let mut server = serve_with(&["--shutdown-grace-ms", "300", "--metrics", &metrics]);
    let running = call_in_flight(&server, metrics_addr, request("sleep", "20000", ""));
    let signalled = Instant::now();
    server.signal("TERM");
    let result = running.join().unwrap();
    assert_eq!(code_of(&result), Code::Unavailable, "{result:?}");
    let status = server.exits_within(Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );

    // A second signal during the drain does not wait for the grace.
    let metrics = format!("127.0.0.1:{}", free_port());
    let metrics_addr: SocketAddr = metrics.parse().unwrap();
    let mut server = serve_with(&["--shutdown-grace-ms", "60000", "--metrics", &metrics]);
    let _running = call_in_flight(&server, metrics_addr, request("sleep", "20000", ""));
    server.signal("TERM");
    server.wait_refusing();
    let again = Instant::now();
    server.signal("INT");
    let status = server
        .exits_within(Duration::from_secs(5))
        .expect("exits at once");
    assert_eq!(status.code(), Some(1));
    assert!(again.elapsed() < Duration::from_secs(5));
}

fn submit(c: &mut Client, cmd: &str, args: &str, token: &str) -> String {
    let reply = c
        .call(&request(cmd, args, token), Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(reply.request_status.as_deref(), Some("SUBMITTED"));
    reply.request_id.unwrap()
}

fn status(c: &mut Client, id: &str, token: &str) -> Result<ArkoudaResponse, CallFailure> {
    let mut ask = request("getrequeststatus", "", token);
    ask.request_id = Some(id.into());
    c.call(&ask, Some(Duration::from_secs(10)))
}

#[test]
fn async_results_survive_a_drain_and_a_restart() {
    let dir = scratch("state");
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let state_arg = state.to_str().unwrap();
    let args = ["--mode", "async", "--state-file", state_arg];
    let mut server = serve_with(&args);
    let mut c = client(server.addr());
    let quick = submit(&mut c, "echo", "kept across restarts", "tok-ann");
    // Still running when the signal comes: the drain lets it finish.
    let slow = submit(&mut c, "sleep", "700", "tok-ann");
    drop(c);
    server.signal("TERM");
    let status_code = server.exits_within(Duration::from_secs(30)).expect("exits");
    assert!(status_code.success(), "{}", server.stderr());
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(!text.contains("tok-ann"), "a token in the state file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [state.clone(), dir.join("state.json.key")] {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", f.display());
        }
    }
    drop(server);

    let metrics = format!("127.0.0.1:{}", free_port());
    let mut restart = args.to_vec();
    restart.extend_from_slice(&["--metrics", &metrics]);
    let server = serve_with(&restart);
    // Both results were loaded (the metrics count the registry by state).
    let counted = scrape(metrics.parse().unwrap());
    assert!(
        counted.contains("arkwire_registry_requests{state=\"finished\"} 2"),
        "{counted}"
    );
    let mut c = client(server.addr());
    let got = status(&mut c, &quick, "tok-ann").unwrap();
    assert_eq!(got.request_status.as_deref(), Some("FINISHED"), "{got:?}");
    assert!(
        got.message.contains("kept across restarts"),
        "{}",
        got.message
    );
    let got = status(&mut c, &slow, "tok-ann").unwrap();
    assert_eq!(got.request_status.as_deref(), Some("FINISHED"), "{got:?}");
    assert!(got.message.contains("slept"), "{}", got.message);
    // Another token is another owner, after the restart too.
    assert_eq!(code_of(&status(&mut c, &quick, "tok-bob")), Code::NotFound);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// grpcio's health client, one check per line of input: a service name
/// (`-` for the server as a whole) or `watch`; prints the status or the
/// error code.
const HEALTH_CLIENT: &str = r#"
import sys, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(sys.argv[1]))
for line in sys.stdin:
    ask = line.strip()
    try:
        if ask == "watch":
            next(iter(stub.Watch(health_pb2.HealthCheckRequest(), timeout=5)))
            print("STREAMED", flush=True)
            continue
        service = "" if ask == "-" else ask
        r = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        print(health_pb2.HealthCheckResponse.ServingStatus.Name(r.status), flush=True)
    except grpc.RpcError as e:
        print(e.code().name, flush=True)
"#;

struct HealthClient {
    child: Child,
    out: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl HealthClient {
    fn new(addr: SocketAddr) -> Self {
        let mut child = Command::new("python3")
            .args(["-c", HEALTH_CLIENT, &addr.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        HealthClient { child, out }
    }

    fn ask(&mut self, what: &str) -> String {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{what}").unwrap();
        stdin.flush().unwrap();
        self.out.next().unwrap().unwrap()
    }

    /// Asks until the answer is `want`, for at most 15 s.
    fn until(&mut self, want: &str) {
        let give_up = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.ask("-");
            if got == want {
                return;
            }
            assert!(Instant::now() < give_up, "health stayed {got}, not {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for HealthClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn grpcio_health_client_sees_serving_and_not_serving_as_the_upstream_comes_and_goes() {
    if !common::python_has("grpc, grpc_health.v1, zmq") {
        return;
    }
    // The built-in backend is always there.
    let builtin = serve_with(&[]);
    let mut h = HealthClient::new(builtin.addr());
    assert_eq!(h.ask("-"), "SERVING");
    assert_eq!(h.ask("arkouda.Arkouda"), "SERVING");
    assert_eq!(h.ask("other.Service"), "NOT_FOUND");
    // Watch's first message is the status now.
    assert_eq!(h.ask("watch"), "STREAMED");
    drop(h);
    drop(builtin);

    let upstream = fake_arkouda_server(None);
    let port = upstream.port;
    let address = format!("tcp://127.0.0.1:{port}");
    let server = serve_with(&["--upstream", &address, "--health-check-ms", "100"]);
    let mut h = HealthClient::new(server.addr());
    h.until("SERVING");
    drop(upstream);
    h.until("NOT_SERVING");
    let _upstream = fake_arkouda_server(Some(port));
    h.until("SERVING");
}

/// grpcio's health `Watch`: prints each status streamed, then the code the
/// stream ended with.
const WATCH_CLIENT: &str = r#"
import sys, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(sys.argv[1]))
try:
    for r in stub.Watch(health_pb2.HealthCheckRequest(), timeout=60):
        print(health_pb2.HealthCheckResponse.ServingStatus.Name(r.status), flush=True)
    print("END OK", flush=True)
except grpc.RpcError as e:
    print("END", e.code().name, flush=True)
"#;

#[test]
fn grpcio_health_watch_streams_each_change_until_the_drain() {
    if !common::python_has("grpc, grpc_health.v1, zmq") {
        return;
    }
    let upstream = fake_arkouda_server(None);
    let port = upstream.port;
    let address = format!("tcp://127.0.0.1:{port}");
    let mut server = serve_with(&["--upstream", &address, "--health-check-ms", "100"]);
    let mut child = Command::new("python3")
        .args(["-c", WATCH_CLIENT, &server.addr().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = move || lines.next().unwrap().unwrap();
    // The first status may come before the first upstream check.
    let mut first = next();
    if first != "SERVING" {
        first = next();
    }
    assert_eq!(first, "SERVING");
    drop(upstream);
    assert_eq!(next(), "NOT_SERVING");
    let _upstream = fake_arkouda_server(Some(port));
    assert_eq!(next(), "SERVING");
    // The drain ends the stream, after NOT_SERVING.
    server.signal("TERM");
    assert_eq!(next(), "NOT_SERVING");
    assert_eq!(next(), "END UNAVAILABLE");
    assert!(server
        .exits_within(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    let _ = child.wait();
}

/// The prometheus_client OpenMetrics parser's value of each of `keys`
/// (`name{label=value,...}`, labels sorted), or `None`.
fn parsed(text: &str, keys: &[&str]) -> Vec<Option<f64>> {
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        key = s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
        samples[key] = s.value
for key in sys.argv[1:]:
    print(samples.get(key))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .args(keys)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the parser refused:\n{text}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().ok())
        .collect()
}

#[test]
fn the_metrics_endpoint_parses_and_counts_the_calls_made() {
    if !common::python_has("prometheus_client") {
        return;
    }
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = serve_with(&["--metrics", &metrics]);
    let mut c = client(server.addr());
    for _ in 0..3 {
        assert!(c.call(&request("ruok", "", ""), None).is_ok());
    }
    for _ in 0..2 {
        assert!(c.call(&request("echo", "x", ""), None).is_ok());
    }
    let late = c.call(
        &request("sleep", "3000", ""),
        Some(Duration::from_millis(100)),
    );
    assert_eq!(code_of(&late), Code::DeadlineExceeded);
    assert!(c.call(&request("no-such-command", "", ""), None).is_ok());
    // Not HTTP/2 at all: a connection-level defence.
    let mut raw = TcpStream::connect(server.addr()).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let _ = raw.read(&mut [0u8; 256]);
    drop(raw);
    // The refused connection goes once its loop has run again: on a busy
    // machine that may be after the first scrape.
    let give_up = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = scrape(metrics.parse().unwrap());
        if text.contains("arkwire_connections 1\n") || Instant::now() > give_up {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let keys = [
        "arkwire_calls_total{code=OK,command=ruok}",
        "arkwire_calls_total{code=OK,command=echo}",
        "arkwire_calls_total{code=DEADLINE_EXCEEDED,command=sleep}",
        "arkwire_calls_total{code=OK,command=other}",
        "arkwire_call_duration_seconds_count{}",
        "arkwire_calls_in_flight{}",
        "arkwire_connections{}",
    ];
    let values = parsed(&text, &keys);
    let expect = [3.0, 2.0, 1.0, 1.0, 7.0, 0.0, 1.0];
    for ((key, got), want) in keys.iter().zip(&values).zip(expect) {
        assert_eq!(*got, Some(want), "{key}\n{text}");
    }
    let defences: f64 = text
        .lines()
        .filter(|l| l.starts_with("arkwire_defences_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(defences, 1.0, "{text}");
}

#[test]
fn json_logs_have_per_call_fields_and_never_the_token() {
    let mut server = serve(&[
        "-v",
        "--log-format",
        "json",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    let mut c = client(server.addr());
    let secret = "hunter2-never-logged";
    assert!(c.call(&request("echo", "hello", secret), None).is_ok());
    drop(c);
    server.signal("TERM");
    assert!(server
        .exits_within(Duration::from_secs(30))
        .unwrap()
        .success());
    let text = server.stderr();
    assert!(!text.contains(secret), "the token was logged:\n{text}");
    let call = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect(l))
        .find(|v| v["target"] == "arkwire::call")
        .unwrap_or_else(|| panic!("no call line in\n{text}"));
    assert_eq!(call["level"], "INFO");
    assert_eq!(call["user"], "ann");
    assert_eq!(call["cmd"], "echo");
    assert_eq!(call["status"], "OK");
    assert!(call["duration_ms"].is_u64(), "{call}");
}

/// The client preface and an empty SETTINGS frame: a connection that then
/// says nothing more.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[test]
fn a_silent_client_is_closed_after_the_idle_timeout() {
    let server = serve_with(&["--idle-timeout-ms", "500"]);
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(PREFACE).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => panic!("not closed: {e}"),
        }
    }
    // The idle check runs each second.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// The timer of the server's end of a connection from `client_port` to
/// `server_port`, from /proc/net/tcp: (timer kind, jiffies or ms left).
#[cfg(target_os = "linux")]
fn server_side_timer(server_port: u16, client_port: u16) -> Option<(u8, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!(":{server_port:04X}");
    let remote = format!(":{client_port:04X}");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 5 && f[1].ends_with(&local) && f[2].ends_with(&remote) {
            let (kind, when) = f[5].split_once(':')?;
            Some((kind.parse().ok()?, u64::from_str_radix(when, 16).ok()?))
        } else {
            None
        }
    })
}

#[cfg(target_os = "linux")]
#[test]
fn accepted_connections_carry_tcp_keepalive() {
    // Kind 2 is the keepalive timer: the kernel probes a silent peer and
    // drops the connection of a half-open one.
    for (flag, want) in [("7000", 2u8), ("0", 0u8)] {
        let server = serve_with(&["--tcp-keepalive-ms", flag]);
        let s = TcpStream::connect(server.addr()).unwrap();
        let mine = s.local_addr().unwrap().port();
        let give_up = Instant::now() + Duration::from_secs(5);
        let timer = loop {
            match server_side_timer(server.port, mine) {
                Some(t) => break t,
                None => {
                    assert!(Instant::now() < give_up, "connection not in /proc/net/tcp");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        assert_eq!(timer.0, want, "--tcp-keepalive-ms {flag}: {timer:?}");
    }
}

/// A ZMTP 3.1 REP peer that completes the handshake on each connection and
/// then says nothing more, as a dead host looks from the proxy.
fn silent_zmtp_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = conn;
                let mut greeting = vec![0u8; 64];
                greeting[0] = 0xff;
                greeting[9] = 0x7f;
                greeting[10] = 3;
                greeting[11] = 1;
                greeting[12..16].copy_from_slice(b"NULL");
                greeting.extend_from_slice(b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REP");
                let _ = s.write_all(&greeting);
                let mut sink = [0u8; 1024];
                while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

#[test]
fn a_silent_upstream_is_found_by_the_heartbeat_before_the_call_deadline() {
    let port = silent_zmtp_upstream();
    let address = format!("tcp://127.0.0.1:{port}");
    let server = serve_with(&[
        "--upstream",
        &address,
        "--upstream-timeout-ms",
        "60000",
        "--upstream-heartbeat-ms",
        "100",
        "--upstream-heartbeat-timeout-ms",
        "300",
    ]);
    let mut c = client(server.addr());
    let started = Instant::now();
    let result = c.call(&request("echo", "x", ""), None);
    assert_eq!(code_of(&result), Code::Unavailable, "{result:?}");
    let Err(CallFailure::Status { message, .. }) = result else {
        unreachable!()
    };
    assert!(message.contains("heartbeat"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
