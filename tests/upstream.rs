//! `arkwire serve --upstream` in front of a fake arkouda_server built on
//! pyzmq (libzmq): exact replies, a restart of the upstream, a silent
//! upstream, and concurrency through the connection pool.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use arkwire::arkouda::{parse_async_status, parse_reply, MsgFormat, MsgType};
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

fn binary(cmd: &str, args: &str, payload: &[u8], recv_binary: bool) -> ArkoudaRequest {
    ArkoudaRequest {
        cmd: cmd.into(),
        args: args.into(),
        format: if payload.is_empty() {
            "STRING"
        } else {
            "BINARY"
        }
        .into(),
        payload: payload.to_vec(),
        recv_binary,
        ..echo("")
    }
}

fn reply_of(resp: &arkwire::proto::ArkoudaResponse) -> (MsgType, MsgFormat, String) {
    let r = parse_reply(resp.message.as_bytes()).unwrap();
    (r.msg_type, r.msg_format, r.msg.to_string().unwrap())
}

#[test]
fn binary_payloads_go_upstream_as_two_frames_and_binary_replies_come_back_verbatim() {
    if !available() {
        return;
    }
    let upstream = fake_server(None);
    let proxy = proxy_to(upstream.port, &[]);
    let mut c = client(proxy.port);
    let t = Some(Duration::from_secs(10));
    // Bytes that are not UTF-8, and bytes that are (even JSON-looking).
    let not_utf8: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let utf8 = br#"{"msg":"x","msgType":"ERROR"} and more"#.to_vec();
    for payload in [not_utf8, utf8] {
        let r = c.call(&binary("binlen", "", &payload, false), t).unwrap();
        let (ty, _, msg) = reply_of(&r);
        assert_eq!(
            (ty, msg),
            (
                MsgType::Normal,
                format!("{} bytes, format BINARY", payload.len())
            )
        );
        let r = c.call(&binary("binecho", "", &payload, true), t).unwrap();
        assert_eq!(r.payload, payload);
        assert_eq!(reply_of(&r).1, MsgFormat::Binary);
    }
    // A binary reply to a string request.
    let r = c.call(&binary("bytes", "1000", &[], true), t).unwrap();
    assert_eq!(
        r.payload,
        (0..1000).map(|i| (i % 251) as u8).collect::<Vec<_>>()
    );
    // An empty binary reply is still a binary reply.
    let r = c.call(&binary("bytes", "0", &[], true), t).unwrap();
    assert!(r.payload.is_empty());
    assert_eq!(reply_of(&r).1, MsgFormat::Binary);
    // arkouda_server's errors on the binary path: an `Error:` frame, or reply JSON.
    let r = c.call(&binary("binerror", "", &[], true), t).unwrap();
    assert_eq!(
        reply_of(&r),
        (
            MsgType::Error,
            MsgFormat::String,
            "Error: no such array".into()
        )
    );
    let r = c.call(&binary("bogus", "", &[], true), t).unwrap();
    assert_eq!(reply_of(&r).0, MsgType::Error);
    assert!(r.payload.is_empty());
    // Raw bytes answering a string request stay DATA_LOSS, never mangled.
    assert_eq!(
        status_of(c.call(&binary("nonutf8", "", &[], false), t)),
        Some(Code::DataLoss)
    );
}

#[test]
fn binary_payloads_past_max_binary_size_are_resource_exhausted_naming_the_flag() {
    if !available() {
        return;
    }
    let upstream = fake_server(None);
    let proxy = proxy_to(
        upstream.port,
        &["--max-binary-size", "1000", "--max-message-size", "4096"],
    );
    let mut c = client(proxy.port);
    let t = Some(Duration::from_secs(10));
    for request in [
        binary("binlen", "", &[7; 1001], false),
        binary("bytes", "1001", &[], true),
    ] {
        match c.call(&request, t) {
            Err(CallFailure::Status { code, message }) => {
                assert_eq!(code, Code::ResourceExhausted, "{message}");
                assert!(message.contains("--max-binary-size"), "{message}");
            }
            other => panic!("expected RESOURCE_EXHAUSTED, got {other:?}"),
        }
    }
    // The text fields keep their own limit, whatever the binary one.
    match c.call(&binary("binlen", &"x".repeat(5000), &[7; 10], false), t) {
        Err(CallFailure::Status { code, message }) => {
            assert_eq!(code, Code::ResourceExhausted, "{message}");
            assert!(message.contains("--max-message-size"), "{message}");
        }
        other => panic!("expected RESOURCE_EXHAUSTED, got {other:?}"),
    }
    // At the limit both ways, and the connection is still good after.
    let r = c.call(&binary("binecho", "", &[7; 1000], true), t).unwrap();
    assert_eq!(r.payload, vec![7; 1000]);
    let r = c.call(&binary("bytes", "1000", &[], true), t).unwrap();
    assert_eq!(r.payload.len(), 1000);
}

#[test]
fn the_async_proxy_returns_binary_results_through_getrequeststatus() {
    if !available() {
        return;
    }
    let upstream = fake_server(None);
    let proxy = proxy_to(upstream.port, &["--mode", "async"]);
    let mut c = client(proxy.port);
    let t = Some(Duration::from_secs(10));
    let payload: Vec<u8> = (0..=255u8).rev().cycle().take(5000).collect();
    let submitted = c.call(&binary("binecho", "", &payload, true), t).unwrap();
    assert_eq!(submitted.request_status.as_deref(), Some("SUBMITTED"));
    let id = submitted.request_id.unwrap();
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let mut status = echo(&id);
        status.cmd = "getrequeststatus".into();
        status.request_id = Some(id.clone());
        let r = c.call(&status, t).unwrap();
        if r.request_status.as_deref() == Some("FINISHED") {
            let s = parse_async_status(r.message.as_bytes()).unwrap();
            let result = s.request_result.expect("a finished request has a result");
            assert_eq!(result.msg_format, MsgFormat::Binary);
            assert_eq!(r.payload, payload);
            break;
        }
        assert!(Instant::now() < give_up, "never finished: {}", r.message);
        std::thread::sleep(Duration::from_millis(20));
    }
}
