//! Interoperability with peers we did not write: grpcio (client and server)
//! and python-hyper's `h2`, driven by the scripts in `tests/interop/`.
//!
//! Without the Python packages these tests say SKIP and pass, so `cargo test`
//! works on a bare machine; `.ci/run` installs them and sets
//! `ARKWIRE_REQUIRE_INTEROP=1`, which turns a missing peer into a failure.

use std::process::Command;
use std::time::{Duration, Instant};

use arkwire::grpc::{Code, Options};
use arkwire::net::{CallFailure, Client, ClientConfig};
use arkwire::proto::ArkoudaRequest;

mod common;
use common::*;

fn python(script: &str, args: &[String]) -> (bool, String) {
    let out = Command::new("python3")
        .arg(format!("{DIR}/{script}"))
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
fn grpcio_client_battery_against_arkwire_serve() {
    if !peers_available() {
        return;
    }
    let limit = (9 * 1024 * 1024).to_string();
    let server = arkwire_serve(&["--max-message-size", &limit]);
    let target = format!("127.0.0.1:{}", server.port);
    let (ok, out) = python(
        "grpc_client.py",
        &[
            "--target".into(),
            target,
            "--big".into(),
            "--limit".into(),
            limit,
        ],
    );
    println!("{out}");
    assert!(ok, "grpcio client battery failed:\n{out}");
    assert!(out.contains("17 passed, 0 failed"), "{out}");
}

#[test]
fn h2_edge_cases_against_arkwire_serve() {
    if !peers_available() {
        return;
    }
    let server = arkwire_serve(&[]);
    let target = format!("127.0.0.1:{}", server.port);
    for case in [
        "ping",
        "settings-change",
        "zero-window",
        "goaway-during-call",
    ] {
        let (ok, out) = python(
            "h2_peer.py",
            &["--target".into(), target.clone(), case.into()],
        );
        println!("{out}");
        assert!(ok, "h2 case {case} failed:\n{out}");
    }
}

fn client_to(peer: &Peer, max_message_size: usize) -> Client {
    let config = ClientConfig {
        options: Options {
            max_message_size,
            ..Options::default()
        },
        ..ClientConfig::default()
    };
    Client::connect(format!("127.0.0.1:{}", peer.port).parse().unwrap(), config).unwrap()
}

fn request(cmd: &str, args: &str) -> ArkoudaRequest {
    ArkoudaRequest {
        user: "kjyost".into(),
        cmd: cmd.into(),
        format: "STRING".into(),
        size: -1,
        args: args.into(),
        ..Default::default()
    }
}

#[test]
fn arkwire_client_against_a_grpcio_server() {
    if !peers_available() {
        return;
    }
    let server = grpcio_server();
    let mut client = client_to(&server, 64 << 20);
    let timeout = Some(Duration::from_secs(30));

    for size in [0, 1, 16 * 1024 - 1, 16 * 1024 + 1, 1 << 20, 8 << 20] {
        let args: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let reply = client.call(&request("echo", &args), timeout).unwrap();
        assert_eq!(reply.message.len(), size, "echo of {size} bytes");
        assert_eq!(reply.message, args);
        assert_eq!(reply.user.as_deref(), Some("kjyost"));
    }
    let text = "héllo wörld ✓ 😀 \"quoted\"";
    assert_eq!(
        client
            .call(&request("echo", text), timeout)
            .unwrap()
            .message,
        text
    );

    // Every field reaches grpcio as sent, including an empty optional.
    let mut fields = request("fields", "[]");
    fields.token = "tok".into();
    fields.request_id = Some(String::new());
    let reply = client.call(&fields, timeout).unwrap();
    let seen: serde_json::Value = serde_json::from_str(&reply.message).unwrap();
    assert_eq!(seen["size"], -1);
    assert_eq!(seen["token"], "tok");
    assert_eq!(seen["request_id"], "");
}

#[test]
fn grpcio_statuses_reach_the_arkwire_client_intact() {
    if !peers_available() {
        return;
    }
    let server = grpcio_server();
    let mut client = client_to(&server, 4 << 20);
    let timeout = Some(Duration::from_secs(30));
    match client.call(&request("abort", "5:not found é 100%"), timeout) {
        Err(CallFailure::Status { code, message }) => {
            assert_eq!(code, Code::NotFound);
            assert_eq!(message, "not found é 100%");
        }
        other => panic!("expected NOT_FOUND, got {other:?}"),
    }
    // A reply over our 4 MiB limit.
    match client.call(&request("size", &(5 << 20).to_string()), timeout) {
        Err(CallFailure::Status { code, .. }) => assert_eq!(code, Code::ResourceExhausted),
        other => panic!("expected RESOURCE_EXHAUSTED, got {other:?}"),
    }
    // The connection survives both.
    assert_eq!(
        client
            .call(&request("echo", "still here"), timeout)
            .unwrap()
            .message,
        "still here"
    );
}

#[test]
fn deadlines_expire_against_grpcio() {
    if !peers_available() {
        return;
    }
    let server = grpcio_server();
    let mut client = client_to(&server, 4 << 20);
    let started = Instant::now();
    match client.call(&request("sleep", "2000"), Some(Duration::from_millis(300))) {
        Err(CallFailure::Status { code, .. }) => assert_eq!(code, Code::DeadlineExceeded),
        other => panic!("expected DEADLINE_EXCEEDED, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "deadline took {took:?}");
    assert_eq!(
        client
            .call(&request("echo", "after"), None)
            .unwrap()
            .message,
        "after"
    );
}

#[test]
fn metadata_reaches_grpcio() {
    if !peers_available() {
        return;
    }
    let server = grpcio_server();
    let mut client = client_to(&server, 4 << 20);
    let call = client
        .start(
            &request("meta", ""),
            &[
                ("x-device", b"edge-7"),
                ("trace-bin", &[0, 1, 2, 0xfe, 0xff]),
            ],
            None,
        )
        .unwrap();
    let reply = client.wait(call).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&reply.message).unwrap();
    assert_eq!(meta["x-device"], "edge-7");
    assert_eq!(meta["trace-bin"], "AAEC/v8=");
    assert!(
        meta["user-agent"].as_str().unwrap().contains("arkwire/"),
        "{meta}"
    );
}

#[test]
fn a_hundred_concurrent_calls_on_one_connection_to_grpcio() {
    if !peers_available() {
        return;
    }
    let server = grpcio_server();
    let mut client = client_to(&server, 4 << 20);
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let args = format!("call number {i}");
            (
                client
                    .start(&request("echo", &args), &[], Some(Duration::from_secs(30)))
                    .unwrap(),
                args,
            )
        })
        .collect();
    for (call, args) in calls.into_iter().rev() {
        assert_eq!(client.wait(call).unwrap().message, args);
    }
}

fn arkwire_call(port: u16, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arkwire"))
        .args(["call", "--url", &format!("127.0.0.1:{port}")])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn arkwire_call_against_arkwire_serve() {
    let server = arkwire_serve(&[]);
    let (ok, out, _) = arkwire_call(server.port, &["--user", "kjyost", "connect"]);
    assert!(ok);
    assert_eq!(out.trim(), "connected to arkouda server tcp://*:5555");
    let (ok, out, _) = arkwire_call(server.port, &["ruok"]);
    assert!(ok && out.trim() == "imok", "{out}");
    let (ok, out, _) = arkwire_call(server.port, &["--json", "echo", "a\"b"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cmd"], "echo");

    let (ok, _, err) = arkwire_call(server.port, &["bogus"]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Unrecognized command: bogus"), "{err}");

    let (ok, _, err) = arkwire_call(server.port, &["--timeout-ms", "200", "sleep", "2000"]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("DEADLINE_EXCEEDED"), "{err}");
}

#[test]
fn arkwire_call_reports_a_refused_connection_in_one_line() {
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ok, _, err) = arkwire_call(port, &["connect"]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn arkwire_call_modes_and_status_against_an_async_serve() {
    let server = arkwire_serve(&["--mode", "async"]);
    for mode in ["blocking", "polling"] {
        let (ok, out, err) = arkwire_call(
            server.port,
            &["--mode", mode, "--user", "kjyost", "connect"],
        );
        assert!(ok, "{mode}: {err}");
        assert_eq!(
            out.trim(),
            "connected to arkouda server tcp://*:5555",
            "{mode}"
        );
    }
    let (ok, id, err) = arkwire_call(server.port, &["--mode", "async", "echo", "fire and forget"]);
    assert!(ok, "{err}");
    let id = id.trim().to_string();
    assert!(
        arkwire::arkouda::request_id::is_valid_request_id(&id),
        "{id}"
    );
    let status = |id: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_arkwire"))
            .args(["status", "--url", &format!("127.0.0.1:{}", server.port), id])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mut last = String::new();
    for _ in 0..100 {
        let (ok, out, err) = status(&id);
        assert!(ok, "{err}");
        last = out.trim().to_string();
        if last.starts_with("FINISHED") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(last, "FINISHED fire and forget");
    let (ok, _, err) = status("nosuchid");
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("NOT_FOUND"), "{err}");
}
