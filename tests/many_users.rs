//! Several users on one `arkwire serve`: each user's asynchronous requests
//! belong to them (another user's id is NOT_FOUND, ids cannot be squatted,
//! a re-submit is idempotent, quotas are per user), with the built-in
//! backend and through a pyzmq upstream; and the forwarding path is fair
//! and deadline-true (a call expired in the queue never reaches the
//! upstream, a slow user does not hold up another, the first call after an
//! upstream restart succeeds, an upstream asking for PLAIN is named).
//!
//! Assertions compare orders and outcomes, never speeds.

mod common;

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arkwire::grpc::Code;
use arkwire::net::{CallFailure, Client, ClientConfig};
use arkwire::proto::{ArkoudaRequest, ArkoudaResponse};
use common::*;

const LONG: Duration = Duration::from_secs(30);

fn fake_server(args: &[&str]) -> Peer {
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/zmtp/fake_arkouda_server.py"
    ))
    .args(args);
    start(cmd, "PORT")
}

/// A proxy with the built-in backend, or in front of a fresh pyzmq
/// upstream (None when pyzmq is missing and the test should skip).
struct Setup {
    proxy: Peer,
    upstream: Option<Peer>,
}

fn setup(upstream: bool, args: &[&str]) -> Option<Setup> {
    if !upstream {
        return Some(Setup {
            proxy: arkwire_serve(args),
            upstream: None,
        });
    }
    if !python_has("zmq") {
        return None;
    }
    let up = fake_server(&[]);
    let address = format!("tcp://127.0.0.1:{}", up.port);
    let mut all = vec!["--upstream", address.as_str()];
    all.extend_from_slice(args);
    Some(Setup {
        proxy: arkwire_serve(&all),
        upstream: Some(up),
    })
}

fn client(port: u16) -> Client {
    Client::connect(
        format!("127.0.0.1:{port}").parse().unwrap(),
        ClientConfig::default(),
    )
    .unwrap()
}

fn request(who: (&str, &str), cmd: &str, args: &str, id: Option<&str>) -> ArkoudaRequest {
    ArkoudaRequest {
        user: who.0.into(),
        token: who.1.into(),
        cmd: cmd.into(),
        format: "STRING".into(),
        size: -1,
        args: args.into(),
        request_id: id.map(Into::into),
        ..Default::default()
    }
}

fn call(c: &mut Client, r: &ArkoudaRequest) -> Result<ArkoudaResponse, (Code, String)> {
    match c.call(r, Some(LONG)) {
        Ok(resp) => Ok(resp),
        Err(CallFailure::Status { code, message }) => Err((code, message)),
        Err(other) => panic!("unexpected failure {other}"),
    }
}

fn submit(c: &mut Client, who: (&str, &str), cmd: &str, args: &str, id: Option<&str>) -> String {
    let resp = call(c, &request(who, cmd, args, id)).expect("submit");
    assert_eq!(resp.request_status.as_deref(), Some("SUBMITTED"));
    resp.request_id.expect("a request id")
}

fn status(c: &mut Client, who: (&str, &str), id: &str) -> Result<ArkoudaResponse, (Code, String)> {
    call(c, &request(who, "getrequeststatus", "", Some(id)))
}

/// Polls until the request is FINISHED; returns the status message.
fn result_of(c: &mut Client, who: (&str, &str), id: &str) -> String {
    let give_up = Instant::now() + LONG;
    loop {
        let resp = status(c, who, id).expect("status of one's own request");
        if resp.request_status.as_deref() == Some("FINISHED") {
            return resp.message;
        }
        assert!(Instant::now() < give_up, "never finished: {}", resp.message);
        std::thread::sleep(Duration::from_millis(20));
    }
}

const ANN: (&str, &str) = ("ann", "ann-token");
const BOB: (&str, &str) = ("bob", "bob-token");

/// Everything the upstream received, as [user, cmd, args] triples.
fn seen_by(upstream: u16) -> Vec<(String, String, String)> {
    let mut c = client_to_upstream_through_new_proxy(upstream);
    let resp = call(&mut c.1, &request(("probe", ""), "seen", "", None)).unwrap();
    let outer: serde_json::Value = serde_json::from_str(&resp.message).unwrap();
    serde_json::from_str(outer["msg"].as_str().unwrap()).unwrap()
}

/// A fresh sync proxy to `upstream`, to ask it `seen` without touching the
/// proxy under test.
fn client_to_upstream_through_new_proxy(upstream: u16) -> (Peer, Client) {
    let address = format!("tcp://127.0.0.1:{upstream}");
    let proxy = arkwire_serve(&["--upstream", &address]);
    let c = client(proxy.port);
    (proxy, c)
}

fn owners_keep_their_requests(upstream: bool) {
    let Some(s) = setup(upstream, &["--mode", "async"]) else {
        return;
    };
    let mut c = client(s.proxy.port);

    // Another owner's id is NOT_FOUND, exactly like an id that never existed.
    let id = submit(&mut c, ANN, "echo", "ann's secret", None);
    let unknown = "0123456789abcdefghijklmnopqrstuv";
    let (code, never) = status(&mut c, BOB, unknown).unwrap_err();
    assert_eq!(code, Code::NotFound);
    let (code, theirs) = status(&mut c, BOB, &id).unwrap_err();
    assert_eq!(code, Code::NotFound);
    assert_eq!(theirs, never.replace(unknown, &id));
    // The same user name with another token is another owner.
    let (code, _) = status(&mut c, ("ann", "guessed"), &id).unwrap_err();
    assert_eq!(code, Code::NotFound);
    // The owner still reads her own result.
    assert!(result_of(&mut c, ANN, &id).contains("ann's secret"));

    // Squatting: bob takes an id first; ann's request under it is her own.
    let shared = "chosen-by-both";
    assert_eq!(submit(&mut c, BOB, "echo", "bob's", Some(shared)), shared);
    assert_eq!(submit(&mut c, ANN, "echo", "ann's", Some(shared)), shared);
    let ann = result_of(&mut c, ANN, shared);
    let bob = result_of(&mut c, BOB, shared);
    assert!(ann.contains("ann's") && !ann.contains("bob's"), "{ann}");
    assert!(bob.contains("bob's") && !bob.contains("ann's"), "{bob}");

    // A re-submit by the owner is idempotent; another command under the id is refused.
    assert_eq!(submit(&mut c, ANN, "echo", "ann's", Some(shared)), shared);
    let (code, message) = call(&mut c, &request(ANN, "echo", "other", Some(shared))).unwrap_err();
    assert_eq!(code, Code::AlreadyExists, "{message}");

    if let Some(up) = &s.upstream {
        let seen = seen_by(up.port);
        let ran = |who: &str, args: &str| {
            seen.iter()
                .filter(|(u, cmd, a)| u == who && cmd == "echo" && a == args)
                .count()
        };
        assert_eq!(ran("ann", "ann's"), 1, "{seen:?}");
        assert_eq!(ran("bob", "bob's"), 1, "{seen:?}");
        assert_eq!(ran("ann", "other"), 0, "{seen:?}");
    }
}

#[test]
fn owners_keep_their_requests_with_the_builtin_backend() {
    owners_keep_their_requests(false);
}

#[test]
fn owners_keep_their_requests_through_a_pyzmq_upstream() {
    owners_keep_their_requests(true);
}

fn quotas_are_per_user(upstream: bool) {
    // 8 entries, a quarter (2) per user.
    let Some(s) = setup(upstream, &["--mode", "async", "--registry-capacity", "8"]) else {
        return;
    };
    let mut c = client(s.proxy.port);
    submit(&mut c, ANN, "echo", "1", None);
    submit(&mut c, ANN, "echo", "2", None);
    let (code, message) = call(&mut c, &request(ANN, "echo", "3", None)).unwrap_err();
    assert_eq!(code, Code::ResourceExhausted, "{message}");
    // bob is not locked out by ann.
    let id = submit(&mut c, BOB, "echo", "bob", None);
    assert!(result_of(&mut c, BOB, &id).contains("bob"));
}

#[test]
fn quotas_are_per_user_with_the_builtin_backend() {
    quotas_are_per_user(false);
}

#[test]
fn quotas_are_per_user_through_a_pyzmq_upstream() {
    quotas_are_per_user(true);
}

#[test]
fn a_slow_user_does_not_delay_another_users_calls() {
    // Two workers; each user may occupy one.
    let proxy = arkwire_serve(&["--workers", "2"]);
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    for i in 0..4 {
        let (tx, port) = (tx.clone(), proxy.port);
        threads.push(std::thread::spawn(move || {
            let mut c = client(port);
            call(&mut c, &request(ANN, "sleep", "3000", None)).unwrap();
            tx.send(format!("ann {i}")).unwrap();
        }));
    }
    // Give ann's calls a generous head start into the queue.
    std::thread::sleep(Duration::from_millis(500));
    let mut c = client(proxy.port);
    call(&mut c, &request(BOB, "sleep", "10", None)).unwrap();
    tx.send("bob".into()).unwrap();
    let first = rx.recv_timeout(LONG).unwrap();
    assert_eq!(first, "bob", "bob waited behind ann's calls");
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_call_expired_in_the_queue_never_reaches_the_upstream() {
    if !python_has("zmq") {
        return;
    }
    let up = fake_server(&[]);
    let address = format!("tcp://127.0.0.1:{}", up.port);
    let proxy = arkwire_serve(&[
        "--upstream",
        &address,
        "--upstream-pool",
        "1",
        "--workers",
        "1",
    ]);
    let port = proxy.port;
    let slow = std::thread::spawn(move || {
        let mut c = client(port);
        call(&mut c, &request(ANN, "slow", "2500", None)).unwrap();
    });
    // Give ann's call a generous head start to the only worker.
    std::thread::sleep(Duration::from_millis(500));
    let mut c = client(proxy.port);
    let late = request(BOB, "echo", "too late", None);
    match c.call(&late, Some(Duration::from_millis(300))) {
        Err(CallFailure::Status { code, .. }) => assert_eq!(code, Code::DeadlineExceeded),
        other => panic!("expected DEADLINE_EXCEEDED, got {other:?}"),
    }
    slow.join().unwrap();
    // By now the worker has taken bob's expired job from the queue: a call
    // of ann's goes through the same single worker after it.
    let mut c = client(proxy.port);
    call(&mut c, &request(ANN, "echo", "after", None)).unwrap();
    let seen = seen_by(up.port);
    assert!(seen.iter().any(|(_, cmd, _)| cmd == "slow"), "{seen:?}");
    assert!(
        !seen.iter().any(|(_, _, a)| a == "too late"),
        "the expired call reached arkouda_server: {seen:?}"
    );
}

#[test]
fn the_first_call_after_an_upstream_restart_succeeds() {
    if !python_has("zmq") {
        return;
    }
    let up = fake_server(&[]);
    let port = up.port;
    let address = format!("tcp://127.0.0.1:{port}");
    let proxy = arkwire_serve(&["--upstream", &address]);
    let mut c = client(proxy.port);
    assert!(call(&mut c, &request(ANN, "echo", "before", None))
        .unwrap()
        .message
        .contains("before"));
    drop(up);
    let port_text = port.to_string();
    let _restarted = fake_server(&["--port", &port_text]);
    let reply = call(&mut c, &request(ANN, "echo", "after", None));
    assert!(
        reply.as_ref().is_ok_and(|r| r.message.contains("after")),
        "{reply:?}"
    );
}

#[test]
fn an_upstream_asking_for_plain_is_named() {
    if !python_has("zmq") {
        return;
    }
    let up = fake_server(&["--plain"]);
    let address = format!("tcp://127.0.0.1:{}", up.port);
    let proxy = arkwire_serve(&["--upstream", &address]);
    let mut c = client(proxy.port);
    let (code, message) = call(&mut c, &request(ANN, "echo", "x", None)).unwrap_err();
    assert_eq!(code, Code::Unavailable, "{message}");
    assert!(
        message.contains("unsupported ZMTP security mechanism \"PLAIN\""),
        "{message}"
    );
}
