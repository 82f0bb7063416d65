//! The three call patterns end to end over sockets, against `arkwire`'s own
//! sync and async proxies (in process) and against a grpcio server that
//! answers like the reference asynchronous proxy.
//!
//! The patterns' logic (ordering, polling, registry limits, grace times,
//! lost replies, deadlines) is tested in memory on a fake clock, against the
//! sans-IO service (`src/arkouda/service/tests.rs`); these tests are for the
//! `net` layer and for real peers.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arkwire::arkouda::proxy::{
    AsyncConfig, AsyncProxy, Backend, BackendError, BuiltinBackend, SyncProxy,
};
use arkwire::arkouda::{ChannelConfig, PollConfig};
use arkwire::grpc::Code;
use arkwire::net::{
    ClientConfig, Handler, Server, ServerConfig, Session, SessionError, SessionOutcome, StatusView,
};
use arkwire::proto::ArkoudaRequest;
use common::*;

/// The built-in commands, plus `fail`, which fails with a reason.
struct TestBackend;

impl Backend for TestBackend {
    fn execute(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<Instant>,
    ) -> Result<String, BackendError> {
        if request.cmd == "fail" {
            return Err(BackendError::new(
                Code::Internal,
                "disk on fire: \"quoted\"",
            ));
        }
        BuiltinBackend.execute(request, deadline)
    }
}

fn serve(handler: impl Handler) -> Server {
    let config = ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    };
    Server::bind("127.0.0.1:0".parse().unwrap(), Arc::new(handler), config).unwrap()
}

fn async_proxy(config: AsyncConfig) -> Server {
    serve(AsyncProxy::new(TestBackend, config).unwrap())
}

fn session_to(port: u16, ordered: bool, poll_deadline: Duration) -> Session {
    let channel = ChannelConfig {
        call_timeout: Some(Duration::from_secs(10)),
        poll: PollConfig {
            interval: Duration::from_millis(10),
            backoff: 2,
            max_interval: Duration::from_millis(100),
            deadline: poll_deadline,
        },
        ordered,
    };
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    Session::connect(addr, "kjyost", "", ClientConfig::default(), channel).unwrap()
}

fn session(server: &Server, ordered: bool) -> Session {
    session_to(server.local_addr().port(), ordered, Duration::from_secs(10))
}

fn reply(msg: &str) -> SessionOutcome {
    SessionOutcome::Reply {
        msg: msg.into(),
        warning: false,
    }
}

/// Polls a request's status until it is finished.
fn await_finished(s: &mut Session, id: &str) -> StatusView {
    for _ in 0..200 {
        match s.status(id).unwrap() {
            StatusView::Pending | StatusView::Running | StatusView::Submitted => {
                std::thread::sleep(Duration::from_millis(10))
            }
            done => return done,
        }
    }
    panic!("request {id} never finished");
}

#[test]
fn blocking_and_polling_work_against_both_proxy_modes() {
    for server in [
        serve(SyncProxy::new(TestBackend, 2)),
        async_proxy(AsyncConfig::default()),
    ] {
        let mut s = session(&server, true);
        assert_eq!(
            s.call("connect", "").unwrap(),
            reply("connected to arkouda server tcp://*:5555")
        );
        let text = "a \"quoted\" \\ ✓ {json} 😀";
        assert_eq!(s.call_polling("echo", text).unwrap(), reply(text));
        assert_eq!(s.call("echo", text).unwrap(), reply(text));
        match s.call("bogus", "") {
            Err(SessionError::Arkouda(msg)) => assert_eq!(msg, "Unrecognized command: bogus"),
            other => panic!("expected an Arkouda error, got {other:?}"),
        }
    }
}

fn reference_proxy(args: &[&str]) -> Peer {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(format!("{DIR}/reference_async_proxy.py"))
        .args(args);
    start(cmd, "PORT")
}

#[test]
fn all_patterns_work_against_the_reference_style_async_proxy() {
    if !peers_available() {
        return;
    }
    let proxy = reference_proxy(&["--polls-before-result", "2"]);
    let mut s = session_to(proxy.port, false, Duration::from_secs(10));
    // Blocking: answered SUBMITTED, followed up by polling.
    assert_eq!(s.call("echo", "blocking").unwrap(), reply("blocking"));
    assert_eq!(
        s.call_polling("echo", "polling é").unwrap(),
        reply("polling é")
    );
    let id = s.submit("echo", "later").unwrap();
    assert_eq!(s.status(&id).unwrap(), StatusView::Pending);
    assert_eq!(
        await_finished(&mut s, &id),
        StatusView::Finished {
            msg: "later".into(),
            error: false
        }
    );
    match s.call_polling("bogus", "") {
        Err(SessionError::Arkouda(msg)) => assert_eq!(msg, "Unrecognized command: bogus"),
        other => panic!("expected an Arkouda error, got {other:?}"),
    }
}

#[test]
fn a_lost_status_reply_is_retried() {
    if !peers_available() {
        return;
    }
    let proxy = reference_proxy(&["--drop-first-status"]);
    let mut s = session_to(proxy.port, true, Duration::from_secs(10));
    assert_eq!(
        s.call_polling("echo", "survived").unwrap(),
        reply("survived")
    );
}

#[test]
fn answers_from_workers_reach_their_connection_while_other_connections_are_busy() {
    // One event loop: a worker's answer for one connection must be written
    // out even when the loop collects it while serving another connection.
    let server = serve(SyncProxy::new(TestBackend, 2));
    let addr = server.local_addr();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut s = session_to(addr.port(), false, Duration::from_secs(10));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                s.call("echo", "busy").unwrap();
            }
        })
    };
    let mut slow = session(&server, false);
    // `sleep 0` runs on a worker and answers at once, often while the loop
    // is in the middle of the busy connection's request.
    for _ in 0..300 {
        let started = Instant::now();
        assert_eq!(slow.call("sleep", "0").unwrap(), reply("slept"));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().unwrap();
}

#[test]
fn every_async_reply_carries_request_status_and_escaped_json() {
    use arkwire::net::Client;
    let server = async_proxy(AsyncConfig::default());
    let mut c = Client::connect(server.local_addr(), ClientConfig::default()).unwrap();
    let id = "0123456789abcdefghijklmnopqrstuv";
    let mut submit = ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "echo".into(),
        format: "STRING".into(),
        size: -1,
        args: "a \"quoted\" \\ line\nbreak".into(),
        request_id: Some(id.into()),
        ..Default::default()
    };
    let reply = c.call(&submit, None).unwrap();
    assert_eq!(reply.request_status.as_deref(), Some("SUBMITTED"));
    assert_eq!(reply.request_id.as_deref(), Some(id));
    assert_eq!(reply.message, "submitted request to Arkouda");

    submit.cmd = "getrequeststatus".into();
    submit.args = id.into();
    submit.request_id = None; // the reference client sends the id in args only
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = c.call(&submit, None).unwrap();
        let status = reply
            .request_status
            .clone()
            .expect("request_status on every status reply");
        let body: serde_json::Value = serde_json::from_str(&reply.message).unwrap();
        assert_eq!(body["request_id"], id);
        if status == "FINISHED" {
            // The result is JSON inside JSON, escaped by a serializer.
            assert_eq!(body["request_result"]["msg"], "a \"quoted\" \\ line\nbreak");
            assert_eq!(body["request_result"]["msgType"], "NORMAL");
            break;
        }
        assert!(
            ["PENDING", "RUNNING"].contains(&status.as_str()),
            "{status}"
        );
        assert!(Instant::now() < deadline, "never finished");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_session_whose_server_went_away_fails_instead_of_waiting() {
    let server = serve(SyncProxy::new(TestBackend, 1));
    let channel = ChannelConfig {
        call_timeout: None, // nothing but the socket can end a call
        ..ChannelConfig::default()
    };
    let mut s = Session::connect(
        server.local_addr(),
        "kjyost",
        "",
        ClientConfig::default(),
        channel,
    )
    .unwrap();
    assert_eq!(s.call("ruok", "").unwrap(), reply("imok"));
    drop(server); // its loops end and their connections close
    for _ in 0..2 {
        match s.call("ruok", "") {
            Err(SessionError::Closed(_)) => {}
            other => panic!("expected Closed, got {other:?}"),
        }
    }
}
