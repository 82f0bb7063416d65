//! `arkwire serve --upstream` in front of a fake arkouda_server built on
//! pyzmq (libzmq): exact replies, a restart of the upstream, a silent
//! upstream, and concurrency through the connection pool.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use arkwire::grpc::Code;
use arkwire::net::{CallFailure, Client, ClientConfig};
use arkwire::proto::ArkoudaRequest;
use common::*;

fn available() -> bool {
    python_has("grpc, grpc_tools, zmq")
}

fn fake_server(port: Option<u16>) -> Peer {
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/zmtp/fake_arkouda_server.py"
    ));
    if let Some(p) = port {
        cmd.args(["--port", &p.to_string()]);
    }
    start(cmd, "PORT")
}

fn proxy_to(upstream_port: u16, extra: &[&str]) -> Peer {
    let upstream = format!("tcp://127.0.0.1:{upstream_port}");
    let mut args = vec!["--upstream", upstream.as_str()];
    args.extend_from_slice(extra);
    arkwire_serve(&args)
}

fn client(port: u16) -> Client {
    Client::connect(
        format!("127.0.0.1:{port}").parse().unwrap(),
        ClientConfig::default(),
    )
    .unwrap()
}

fn echo(args: &str) -> ArkoudaRequest {
    ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "echo".into(),
        format: "STRING".into(),
        size: -1,
        args: args.into(),
        ..Default::default()
    }
}

fn status_of(result: Result<arkwire::proto::ArkoudaResponse, CallFailure>) -> Option<Code> {
    match result {
        Ok(_) => None,
        Err(CallFailure::Status { code, .. }) => Some(code),
        Err(other) => panic!("unexpected failure {other}"),
    }
}

#[test]
fn a_grpcio_client_gets_the_upstreams_exact_replies() {
    if !available() {
        return;
    }
    let upstream = fake_server(None);
    let proxy = proxy_to(upstream.port, &[]);
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/upstream_client.py"
        ))
        .args(["--target", &format!("127.0.0.1:{}", proxy.port)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("8 passed, 0 failed"), "{text}");
}

#[test]
fn calls_fail_unavailable_while_the_upstream_is_down_and_recover_after() {
    if !available() {
        return;
    }
    let upstream = fake_server(None);
    let port = upstream.port;
    let proxy = proxy_to(port, &[]);
    let mut c = client(proxy.port);
    let timeout = Some(Duration::from_secs(5));
    let reply = c.call(&echo("before"), timeout).unwrap();
    assert!(reply.message.contains("\"before\""), "{}", reply.message);

    drop(upstream);
    for i in 0..3 {
        let started = Instant::now();
        assert_eq!(
            status_of(c.call(&echo(&format!("down {i}")), timeout)),
            Some(Code::Unavailable)
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a down upstream must fail fast"
        );
    }

    let _restarted = fake_server(Some(port));
    let give_up = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        n += 1;
        let args = format!("after restart {n}");
        match c.call(&echo(&args), timeout) {
            // Every reply is the answer to its own request.
            Ok(reply) => {
                assert!(
                    reply.message.contains(&format!("\"{args}\"")),
                    "{}",
                    reply.message
                );
                break;
            }
            Err(CallFailure::Status {
                code: Code::Unavailable,
                ..
            }) if Instant::now() < give_up => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => panic!("no recovery: {e}"),
        }
    }
    for i in 0..20 {
        let args = format!("steady {i}");
        let reply = c.call(&echo(&args), timeout).unwrap();
        assert!(
            reply.message.contains(&format!("\"{args}\"")),
            "{}",
            reply.message
        );
    }
}

/// Accepts connections and never says a word.
fn silent_upstream() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let l = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut buf = [0u8; 1024];
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    (listener, port)
}

#[test]
fn a_silent_upstream_ends_in_deadline_exceeded() {
    let (_listener, port) = silent_upstream();
    let proxy = proxy_to(port, &["--upstream-timeout-ms", "500"]);
    let mut c = client(proxy.port);
    // The client's own deadline reaches the upstream call.
    let started = Instant::now();
    assert_eq!(
        status_of(c.call(&echo("x"), Some(Duration::from_millis(300)))),
        Some(Code::DeadlineExceeded)
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
    // Without one, the proxy's default deadline applies.
    let started = Instant::now();
    assert_eq!(
        status_of(c.call(&echo("y"), None)),
        Some(Code::DeadlineExceeded)
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn an_unreachable_upstream_is_unavailable_with_one_clear_message() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = proxy_to(port, &[]);
    let mut c = client(proxy.port);
    match c.call(&echo("x"), Some(Duration::from_secs(5))) {
        Err(CallFailure::Status { code, message }) => {
            assert_eq!(code, Code::Unavailable);
            assert!(
                message.contains(&format!(
                    "arkouda_server at 127.0.0.1:{port} is unavailable"
                )),
                "{message}"
            );
        }
        other => panic!("expected UNAVAILABLE, got {other:?}"),
    }
}
