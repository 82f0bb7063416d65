//! `arkwire serve --route`: users routed to their own stand-in
//! arkouda_servers (one down, one silent: the other users' calls are
//! unaffected), the in-flight cap per arkouda_server across event loops
//! and routes, and throttled connection attempts to a failing upstream.
//!
//! Assertions compare outcomes, orders and generous bounds, never speeds.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
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

fn client(port: u16) -> Client {
    Client::connect(
        format!("127.0.0.1:{port}").parse().unwrap(),
        ClientConfig::default(),
    )
    .unwrap()
}

fn request(user: &str, cmd: &str, args: &str) -> ArkoudaRequest {
    ArkoudaRequest {
        user: user.into(),
        cmd: cmd.into(),
        format: "STRING".into(),
        size: -1,
        args: args.into(),
        ..Default::default()
    }
}

fn call(
    c: &mut Client,
    r: &ArkoudaRequest,
    timeout: Duration,
) -> Result<ArkoudaResponse, (Code, String)> {
    match c.call(r, Some(timeout)) {
        Ok(resp) => Ok(resp),
        Err(CallFailure::Status { code, message }) => Err((code, message)),
        Err(other) => panic!("unexpected failure {other}"),
    }
}

/// The `msg` of a reply, as JSON.
fn msg_json(resp: &ArkoudaResponse) -> serde_json::Value {
    let outer: serde_json::Value = serde_json::from_str(&resp.message).unwrap();
    serde_json::from_str(outer["msg"].as_str().unwrap()).unwrap()
}

/// Everything a stand-in received, as (user, cmd, args), asked through a
/// proxy of its own so the proxy under test is not involved.
fn seen_by(upstream: u16) -> Vec<(String, String, String)> {
    let address = format!("tcp://127.0.0.1:{upstream}");
    let proxy = arkwire_serve(&["--upstream", &address]);
    let mut c = client(proxy.port);
    let resp = call(&mut c, &request("probe", "seen", ""), LONG).unwrap();
    serde_json::from_value(msg_json(&resp)).unwrap()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
fn users_reach_their_own_upstream_and_a_dead_route_fails_only_its_users() {
    if !python_has("zmq") {
        return;
    }
    let alices = fake_server(&[]);
    let everyone_elses = fake_server(&[]);
    let down = closed_port();
    let (_silent, silent) = silent_upstream();
    let route = |who: &str, port: u16| format!("{who}=tcp://127.0.0.1:{port}");
    let default = format!("tcp://127.0.0.1:{}", everyone_elses.port);
    let proxy = arkwire_serve(&[
        "--threads",
        "2",
        "--upstream",
        &default,
        "--route",
        &route("alice", alices.port),
        "--route",
        &route("bob", down),
        "--route",
        &route("team-*", silent),
        "--workers",
        "2",
    ]);

    // The silent route's users hang until their deadline, holding every
    // worker of their route (and more calls queue behind them).
    let port = proxy.port;
    let hanging: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = client(port);
                let r = request(&format!("team-{i}"), "echo", "hang");
                call(&mut c, &r, Duration::from_secs(3))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    let mut c = client(proxy.port);
    let t = Duration::from_secs(10);
    for i in 0..5 {
        // bob's upstream is down: UNAVAILABLE at once, naming his route.
        let (code, message) = call(&mut c, &request("bob", "echo", "b"), t).unwrap_err();
        assert_eq!(code, Code::Unavailable, "{message}");
        assert!(message.contains("route \"bob\""), "{message}");
        assert!(
            message.contains(&format!("arkouda_server at 127.0.0.1:{down}")),
            "{message}"
        );
        // alice and everyone else are answered by their own upstreams,
        // while bob's calls fail and team-*'s hang.
        let started = Instant::now();
        let reply = call(&mut c, &request("alice", "echo", &format!("a{i}")), t).unwrap();
        assert!(
            reply.message.contains(&format!("\"a{i}\"")),
            "{}",
            reply.message
        );
        let reply = call(&mut c, &request("zed", "echo", &format!("z{i}")), t).unwrap();
        assert!(
            reply.message.contains(&format!("\"z{i}\"")),
            "{}",
            reply.message
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "another route's trouble held up alice or zed: {:?}",
            started.elapsed()
        );
    }
    for h in hanging {
        let (code, _) = h.join().unwrap().unwrap_err();
        assert_eq!(code, Code::DeadlineExceeded);
    }

    let users = |seen: Vec<(String, String, String)>| {
        let mut u: Vec<String> = seen.into_iter().map(|(u, _, _)| u).collect();
        u.dedup();
        u
    };
    assert_eq!(users(seen_by(alices.port)), ["alice"]);
    assert_eq!(users(seen_by(everyone_elses.port)), ["zed"]);
}

#[test]
fn a_user_without_a_route_and_no_default_is_refused() {
    let port = closed_port();
    let alice = format!("alice=tcp://127.0.0.1:{port}");
    let proxy = arkwire_serve(&["--route", &alice]);
    let mut c = client(proxy.port);
    let (code, message) = call(&mut c, &request("mallory", "echo", "x"), LONG).unwrap_err();
    assert_eq!(code, Code::PermissionDenied, "{message}");
    assert!(
        message.contains("no route for user \"mallory\""),
        "{message}"
    );
}

#[test]
fn the_inflight_cap_holds_across_event_loops_and_routes_to_one_server() {
    if !python_has("zmq") {
        return;
    }
    // A stand-in that answers concurrently, so only the proxy limits overlap.
    let up = fake_server(&["--concurrent"]);
    let address = format!("tcp://127.0.0.1:{}", up.port);
    let team = format!("team-*={address},max-inflight=3,pool=8");
    let proxy = arkwire_serve(&[
        "--threads",
        "2",
        "--workers",
        "8",
        "--upstream-pool",
        "8",
        "--upstream-max-inflight",
        "2",
        "--upstream",
        &address,
        "--route",
        &team,
    ]);
    const CALLS: u32 = 8;
    const SLOW_MS: u32 = 400;
    let started = Instant::now();
    let port = proxy.port;
    // Each caller has its own connection, so the calls arrive on both loops;
    // half take the default route, half the team route, to the same server.
    let callers: Vec<_> = (0..CALLS)
        .map(|i| {
            std::thread::spawn(move || {
                let user = if i % 2 == 0 {
                    "ann".into()
                } else {
                    format!("team-{i}")
                };
                let mut c = client(port);
                call(&mut c, &request(&user, "slow", &SLOW_MS.to_string()), LONG)
            })
        })
        .collect();
    // While they run, a call whose deadline passes waiting for a place is
    // DEADLINE_EXCEEDED and never sent.
    std::thread::sleep(Duration::from_millis(100));
    let mut c = client(proxy.port);
    let late = call(
        &mut c,
        &request("ann", "echo", "too late"),
        Duration::from_millis(150),
    );
    assert_eq!(late.unwrap_err().0, Code::DeadlineExceeded);
    for h in callers {
        h.join().unwrap().expect("every capped call is answered");
    }
    let took = started.elapsed();
    // Two at a time: at least CALLS / 2 rounds of SLOW_MS (less a margin).
    let floor = Duration::from_millis(u64::from(CALLS / 2 * SLOW_MS) * 9 / 10);
    assert!(
        took >= floor,
        "{took:?} < {floor:?}: more than 2 ran at once"
    );
    let peak = msg_json(&call(&mut c, &request("ann", "peak", ""), LONG).unwrap());
    let peak = peak["peak"].as_u64().unwrap();
    assert!(
        (1..=2).contains(&peak),
        "peak in flight at the server: {peak}"
    );
    let seen = seen_by(up.port);
    assert!(
        !seen.iter().any(|(_, _, a)| a == "too late"),
        "a call that waited past its deadline reached arkouda_server: {seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|(_, cmd, _)| cmd == "slow").count(),
        CALLS as usize
    );
}

/// Accepts connections and closes each at once (an upstream that cannot
/// serve), recording when each connection arrived.
fn slamming_upstream() -> (u16, Arc<Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let log = attempts.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            log.lock().unwrap().push(Instant::now());
            drop(conn);
        }
    });
    (port, attempts)
}

#[test]
fn connection_attempts_to_a_failing_upstream_grow_apart_and_stay_bounded() {
    let (port, attempts) = slamming_upstream();
    let address = format!("tcp://127.0.0.1:{port}");
    let proxy = arkwire_serve(&[
        "--upstream",
        &address,
        "--upstream-backoff-ms",
        "100",
        "--upstream-max-backoff-ms",
        "800",
        "--workers",
        "4",
    ]);
    // Two callers keep asking, far more often than attempts are allowed.
    let stop = Instant::now() + Duration::from_millis(5500);
    let port = proxy.port;
    // The second starts later: the very first attempts, while nothing has
    // failed yet, may run side by side (a pool opening).
    let callers: Vec<_> = (0..2)
        .map(|i| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500 * i));
                let mut c = client(port);
                let mut calls = 0;
                while Instant::now() < stop {
                    let r = call(&mut c, &request("ann", "echo", "x"), Duration::from_secs(2));
                    assert_eq!(r.unwrap_err().0, Code::Unavailable);
                    calls += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                calls
            })
        })
        .collect();
    let calls: u32 = callers.into_iter().map(|h| h.join().unwrap()).sum();
    let at = attempts.lock().unwrap().clone();
    let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    println!("{calls} calls, {} attempts, gaps (ms): {gaps:?}", at.len());
    // 100, 200, 400, then 800 ms apart: 6 or more attempts in 5.5 s,
    // and far fewer attempts than calls.
    assert!(at.len() >= 6, "{gaps:?}");
    assert!(
        calls as usize > 3 * at.len(),
        "{calls} calls, {} attempts",
        at.len()
    );
    for (i, gap) in gaps.iter().enumerate() {
        let least = (100u128 << i.min(3)).min(800);
        // Never sooner than the interval (less a little for the accept
        // thread's own scheduling), never much later than the cap.
        assert!(
            *gap >= least * 8 / 10,
            "gap {i} of {gap} ms < {least} ms: {gaps:?}"
        );
        assert!(
            *gap <= 800 + 1500,
            "gap {i} of {gap} ms is unbounded: {gaps:?}"
        );
    }
}
