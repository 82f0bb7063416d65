//! Binary payloads and replies through the call patterns: `Session::command`
//! (over `arkouda::Channel`) against arkwire's own sync and async proxies in
//! process, with a backend that answers like arkouda_server's binary path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arkwire::arkouda::proxy::{AsyncConfig, AsyncProxy, Backend, BackendError, SyncProxy};
use arkwire::arkouda::upstream_msg::Reply;
use arkwire::arkouda::{builtin, ChannelConfig, Command, MsgType, Pattern, PollConfig};
use arkwire::net::{
    ClientConfig, Handler, Server, ServerConfig, Session, SessionError, SessionOutcome,
};
use arkwire::proto::ArkoudaRequest;

/// `binecho` returns the payload as a binary reply (when asked `recv_binary`),
/// `binlen` its length as text, `binerror` an Arkouda ERROR.
struct BinaryBackend;

impl Backend for BinaryBackend {
    fn execute(
        &self,
        request: &ArkoudaRequest,
        _: Option<Instant>,
    ) -> Result<String, BackendError> {
        Ok(builtin::envelope(
            &format!("{} bytes, format {}", request.payload.len(), request.format),
            MsgType::Normal,
            &request.user,
        ))
    }

    fn execute_reply(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<Instant>,
    ) -> Result<Reply, BackendError> {
        match request.cmd.as_str() {
            "binecho" if request.recv_binary => Ok(Reply::Binary(request.payload.clone())),
            "binerror" => Ok(Reply::Json(builtin::envelope(
                "Error: no such array",
                MsgType::Error,
                &request.user,
            ))),
            _ => self.execute(request, deadline).map(Reply::Json),
        }
    }
}

fn serve(handler: impl Handler) -> Server {
    let config = ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    };
    Server::bind("127.0.0.1:0".parse().unwrap(), Arc::new(handler), config).unwrap()
}

fn session(server: &Server) -> Session {
    let channel = ChannelConfig {
        call_timeout: Some(Duration::from_secs(10)),
        poll: PollConfig {
            interval: Duration::from_millis(5),
            backoff: 2,
            max_interval: Duration::from_millis(50),
            deadline: Duration::from_secs(10),
        },
        ordered: true,
    };
    let addr = server.local_addr();
    Session::connect(addr, "kjyost", "", ClientConfig::default(), channel).unwrap()
}

fn check(server: &Server) {
    let mut s = session(server);
    let payload: Vec<u8> = (0..=255u8).rev().cycle().take(200_000).collect();
    for pattern in [Pattern::Blocking, Pattern::Polling] {
        let echo = Command {
            payload: &payload,
            recv_binary: true,
            ..Command::new("binecho", "")
        };
        assert_eq!(
            s.command(pattern, &echo).unwrap(),
            SessionOutcome::Binary(payload.clone().into()),
            "{pattern:?}"
        );
        let len = Command {
            payload: &payload[..3],
            size: 1,
            ..Command::new("binlen", "[]")
        };
        assert_eq!(
            s.command(pattern, &len).unwrap(),
            SessionOutcome::Reply {
                msg: "3 bytes, format BINARY".into(),
                warning: false
            }
        );
        // An empty binary reply is still binary.
        let empty = Command {
            recv_binary: true,
            ..Command::new("binecho", "")
        };
        assert_eq!(
            s.command(pattern, &empty).unwrap(),
            SessionOutcome::Binary(Vec::new().into())
        );
        let error = Command {
            recv_binary: true,
            ..Command::new("binerror", "")
        };
        match s.command(pattern, &error) {
            Err(SessionError::Arkouda(msg)) => assert_eq!(msg, "Error: no such array"),
            other => panic!("expected an Arkouda error, got {other:?}"),
        }
    }
    assert!(s.command(Pattern::Status, &Command::new("x", "")).is_err());
}

#[test]
fn binary_commands_through_the_sync_proxy() {
    check(&serve(SyncProxy::new(BinaryBackend, 2)));
}

#[test]
fn binary_commands_through_the_async_proxy() {
    check(&serve(
        AsyncProxy::new(BinaryBackend, AsyncConfig::default()).expect("OS entropy"),
    ));
}
