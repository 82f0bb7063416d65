//! The TLS layer against grpcio over real sockets: `Tls<grpc::Client>`
//! against a grpcio TLS server (`grpc.ssl_server_credentials`), and grpcio's
//! secure channel (`grpc.ssl_channel_credentials`, with and without a client
//! certificate) against `Tls<grpc::Server>`. Each side of ours is driven by a
//! tiny blocking loop here, until the `net` driver wires TLS in.
//!
//! Certificates are made by the test and written to a temporary directory
//! that is removed afterwards. Without python3 and grpcio these tests say
//! SKIP, unless `ARKWIRE_REQUIRE_INTEROP` is set.
#![cfg(feature = "tls")]

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use arkwire::grpc::{Client, ClientEvent, Options, Server, ServerEvent};
use arkwire::h2::conn::GrowableStorage;
use arkwire::proto::{ArkoudaRequest, ArkoudaResponse};
use arkwire::sans_io::SansIo;
use arkwire::time::Instant;
use arkwire::tls::{
    Acceptor, ClientConfig, Connector, ErrorKind, Fault, ServerConfig, Tls, TlsError, TlsEvent,
    Version,
};
use prost::Message;

mod common;
use common::*;

#[path = "tls/pki.rs"]
mod pki;
use pki::{Ca, Leaf, TempDir};

const PATH: &str = "/arkouda.Arkouda/HandleRequest";

fn now_since(start: std::time::Instant) -> Instant {
    Instant::from_micros(start.elapsed().as_micros() as u64)
}

/// One step of a blocking driver: sends what `m` has, waits a little for
/// input, runs due timers. Returns false once the peer closed the socket.
fn step<M: SansIo>(stream: &mut TcpStream, m: &mut M, start: std::time::Instant) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = m.transmit(&mut buf);
        if n == 0 {
            break;
        }
        if stream.write_all(&buf[..n]).is_err() {
            return false;
        }
    }
    let open = match stream.read(&mut buf) {
        Ok(0) => false,
        Ok(n) => {
            let _ = m.recv(&buf[..n], now_since(start));
            true
        }
        Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => true,
        Err(_) => false,
    };
    let now = now_since(start);
    if m.poll_timeout().is_some_and(|t| t <= now) {
        m.handle_timeout(now);
    }
    open
}

fn request(args: &str) -> Vec<u8> {
    ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "echo".into(),
        format: "STRING".into(),
        size: -1,
        args: args.into(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The outcome of one call from our TLS client.
#[derive(Debug)]
enum Outcome {
    Reply(ArkoudaResponse, Version),
    Failed(TlsError),
}

/// Connects to `port`, makes one echo call through `Tls<grpc::Client>`.
fn call_over_tls(port: u16, config: &ClientConfig, args: &str) -> Outcome {
    let start = std::time::Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let client =
        Client::<GrowableStorage>::new("localhost", Options::default(), Instant::from_millis(0))
            .unwrap();
    let mut tls = Connector::new(config)
        .unwrap()
        .connect(client, now_since(start))
        .unwrap();
    let call = tls
        .inner_mut()
        .start_call(
            PATH,
            &request(args),
            &[],
            Some(Duration::from_secs(10)),
            now_since(start),
        )
        .unwrap();
    while start.elapsed() < Duration::from_secs(20) {
        let open = step(&mut stream, &mut tls, start);
        while let Some(event) = tls.poll_event() {
            match event {
                TlsEvent::Failed(e) => return Outcome::Failed(e),
                TlsEvent::Inner(ClientEvent::Complete(c)) if c == call => {
                    let version = tls.handshake().unwrap().version;
                    let body = tls
                        .inner()
                        .response(call)
                        .unwrap_or_else(|s| panic!("call failed: {s:?}"));
                    return Outcome::Reply(ArkoudaResponse::decode(body).unwrap(), version);
                }
                _ => {}
            }
        }
        if !open {
            tls.transport_closed();
        }
    }
    panic!("no outcome within 20 s");
}

struct Pki {
    dir: TempDir,
    ca: Ca,
    devices: Ca,
    server: Leaf,
}

fn pki(tag: &str) -> Pki {
    let ca = Ca::root("interop server CA");
    let devices = Ca::root("interop device CA");
    let server = ca.leaf("interop-server", &["localhost", "127.0.0.1"]);
    Pki {
        dir: TempDir::new(tag),
        ca,
        devices,
        server,
    }
}

fn grpcio_tls_server(pki: &Pki, client_ca: bool) -> Peer {
    let cert = pki.dir.write("server.pem", &pki.server.chain_pem);
    let key = pki.dir.write("server.key", &pki.server.key_pem);
    let mut cmd = Command::new("python3");
    cmd.arg(format!("{DIR}/grpc_server.py")).args([
        "--exit-on-stdin-eof",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    if client_ca {
        cmd.args([
            "--tls-client-ca",
            &pki.dir.write("devices.pem", &pki.devices.pem),
        ]);
    }
    start(cmd, "PORT")
}

#[test]
fn arkwire_tls_client_against_a_grpcio_tls_server() {
    if !python_has("grpc, grpc_tools") {
        return;
    }
    let pki = pki("tls-client");
    let server = grpcio_tls_server(&pki, false);
    let config = ClientConfig::new(pki.ca.pem.as_bytes(), "localhost").unwrap();
    for version in [Version::Tls13, Version::Tls12] {
        let mut config = config.clone();
        config.max_version = version;
        let text = format!("over {version:?} ✓");
        match call_over_tls(server.port, &config, &text) {
            Outcome::Reply(reply, v) => {
                assert_eq!(reply.message, text);
                assert_eq!(reply.user.as_deref(), Some("kjyost"));
                assert_eq!(v, version);
            }
            other => panic!("{other:?}"),
        }
    }
    // Large messages cross many TLS records.
    let big: String = (0..200_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    assert!(
        matches!(call_over_tls(server.port, &config, &big), Outcome::Reply(r, _) if r.message == big)
    );

    // grpcio's certificate is not from a CA we trust: we refuse it.
    let stranger = Ca::root("stranger");
    let untrusting = ClientConfig::new(stranger.pem.as_bytes(), "localhost").unwrap();
    match call_over_tls(server.port, &untrusting, "x") {
        Outcome::Failed(e) => assert_eq!(
            (e.kind, e.fault),
            (ErrorKind::CertificateRejected, Fault::Peer),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn arkwire_tls_client_with_a_certificate_against_grpcio_mutual_tls() {
    if !python_has("grpc, grpc_tools") {
        return;
    }
    let pki = pki("tls-mtls-client");
    let server = grpcio_tls_server(&pki, true);
    let config = ClientConfig::new(pki.ca.pem.as_bytes(), "localhost").unwrap();

    let device = config
        .clone()
        .with_credentials(pki.devices.leaf("device-7", &[]).credentials());
    assert!(
        matches!(call_over_tls(server.port, &device, "mine"), Outcome::Reply(r, _) if r.message == "mine")
    );

    // No certificate, or one from another CA: grpcio refuses us. Under TLS
    // 1.3 it may close the socket before its alert reaches us.
    let impostor = config
        .clone()
        .with_credentials(Ca::root("impostor").leaf("device-7", &[]).credentials());
    for (name, config) in [("no certificate", &config), ("wrong CA", &impostor)] {
        match call_over_tls(server.port, config, "x") {
            Outcome::Failed(e) => {
                println!("{name}: {e}");
                assert!(
                    e.fault == Fault::Refused
                        || (e.kind, e.fault) == (ErrorKind::Truncated, Fault::Peer),
                    "{name}: {e}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// Our TLS server on a thread: one connection at a time, each driven by a
/// blocking loop until it closes. Each request is answered with its args
/// and the client's certificate name (`-` without one). Session failures
/// are sent to `failures`.
struct TlsServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsServer {
    fn start(acceptor: Arc<Acceptor>, failures: mpsc::Sender<TlsError>) -> TlsServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &acceptor, &failures, &stopping),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TlsServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    mut stream: TcpStream,
    acceptor: &Acceptor,
    failures: &mpsc::Sender<TlsError>,
    stop: &AtomicBool,
) {
    let start = std::time::Instant::now();
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let server =
        Server::<GrowableStorage>::new(PATH, Options::default(), Instant::from_millis(0)).unwrap();
    let mut tls: Tls<Server<GrowableStorage>> = acceptor.accept(server, now_since(start)).unwrap();
    while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(30) {
        let open = step(&mut stream, &mut tls, start);
        while let Some(event) = tls.poll_event() {
            match event {
                TlsEvent::Failed(e) => {
                    let _ = failures.send(e);
                }
                TlsEvent::Inner(ServerEvent::Request(id)) => {
                    let who = tls
                        .peer_identity()
                        .map_or("-".to_string(), |p| p.name().to_string());
                    let req = ArkoudaRequest::decode(tls.inner().request(id).unwrap()).unwrap();
                    let reply = ArkoudaResponse {
                        message: format!("{}|{who}", req.args),
                        user: Some(req.user),
                        ..Default::default()
                    };
                    tls.inner_mut().respond(id, &reply.encode_to_vec()).unwrap();
                }
                TlsEvent::Inner(ServerEvent::Closed { .. }) => tls.close(),
                _ => {}
            }
        }
        if !open {
            tls.transport_closed();
            while let Some(TlsEvent::Failed(e)) = tls.poll_event() {
                let _ = failures.send(e);
            }
        }
        if !open || tls.is_closed() {
            // Flush what is left (an alert), then hang up.
            let _ = step(&mut stream, &mut tls, start);
            return;
        }
    }
}

fn grpcio_client(port: u16, args: &[&str]) -> (bool, String) {
    let out = Command::new("python3")
        .arg(format!("{DIR}/tls_client.py"))
        .args(["--target", &format!("127.0.0.1:{port}")])
        .args(args)
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn grpcio_secure_channel_against_arkwire_tls_server() {
    if !python_has("grpc, grpc_tools") {
        return;
    }
    let pki = pki("tls-server");
    let ca = pki.dir.write("ca.pem", &pki.ca.pem);
    let device = pki.devices.leaf("device-42", &["device-42.fleet.example"]);
    let cert = pki.dir.write("device.pem", &device.chain_pem);
    let key = pki.dir.write("device.key", &device.key_pem);
    let impostor = Ca::root("impostor").leaf("device-42", &[]);
    let bad_cert = pki.dir.write("impostor.pem", &impostor.chain_pem);
    let bad_key = pki.dir.write("impostor.key", &impostor.key_pem);

    let plain = ServerConfig::new(pki.server.credentials());
    let acceptor = Arc::new(Acceptor::new(&plain).unwrap());
    let (tx, failures) = mpsc::channel();
    let server = TlsServer::start(acceptor.clone(), tx);
    // Waits for our side's failure of `kind`; a grpcio channel may also
    // reconnect and hang up while giving up, which is reported too (and
    // skipped here).
    let expect_failure = |kind: ErrorKind| loop {
        let e = failures
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no {kind:?} failure on our side"));
        if e.kind == kind {
            break e;
        }
        println!("also seen: {e}");
    };

    // Server authentication only: grpcio trusts our certificate, agrees h2.
    let (ok, out) = grpcio_client(
        server.port,
        &["--ca", &ca, "--args", "hi", "--expect", "hi|-"],
    );
    assert!(ok, "grpcio secure channel failed:\n{out}");

    // grpcio without TLS at our TLS port: it fails, we say why.
    let (ok, out) = grpcio_client(server.port, &["--insecure", "--expect-fail"]);
    assert!(ok, "plaintext grpcio was not refused:\n{out}");
    let e = expect_failure(ErrorKind::NotTls);
    assert_eq!(e.fault, Fault::Peer, "{e}");

    // Mutual TLS turned on by reload (as on SIGHUP).
    let mutual = plain
        .clone()
        .with_client_ca_pem(pki.devices.pem.as_bytes())
        .unwrap();
    acceptor.reload(&mutual).unwrap();
    let (ok, out) = grpcio_client(
        server.port,
        &[
            "--ca",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
            "--args",
            "hi",
            "--expect",
            "hi|device-42",
        ],
    );
    assert!(ok, "grpcio with a client certificate failed:\n{out}");

    // Without a client certificate: refused on both sides.
    let (ok, out) = grpcio_client(server.port, &["--ca", &ca, "--expect-fail"]);
    assert!(
        ok,
        "grpcio without a client certificate was not refused:\n{out}"
    );
    assert!(out.contains("UNAVAILABLE"), "{out}");
    let e = expect_failure(ErrorKind::CertificateRequired);
    assert_eq!(e.fault, Fault::Peer, "{e}");

    // A certificate from another CA: refused on both sides.
    let (ok, out) = grpcio_client(
        server.port,
        &[
            "--ca",
            &ca,
            "--cert",
            &bad_cert,
            "--key",
            &bad_key,
            "--expect-fail",
        ],
    );
    assert!(
        ok,
        "grpcio with an impostor certificate was not refused:\n{out}"
    );
    let e = expect_failure(ErrorKind::CertificateRejected);
    assert_eq!(e.fault, Fault::Peer, "{e}");
}
