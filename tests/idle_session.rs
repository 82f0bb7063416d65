//! A session opened and left idle before its first call (Arkouda's client
//! connects long before its first command) is still up when the call comes:
//! the HTTP/2 handshake is done at connect, so the proxy is not left waiting
//! for the preface or its SETTINGS acknowledgement past its timeouts.

use std::sync::Arc;
use std::time::Duration;

use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
use arkwire::arkouda::ChannelConfig;
use arkwire::grpc::Options;
use arkwire::h2::Config;
use arkwire::net::{ClientConfig, Server, ServerConfig, Session, SessionOutcome};

#[test]
fn a_session_idle_past_the_proxys_handshake_timeouts_still_calls() {
    // The proxy gives a peer 300 ms for its preface and for acknowledging
    // SETTINGS (10 s each by default).
    let quick = Duration::from_millis(300);
    let config = ServerConfig {
        threads: 1,
        options: Options {
            h2: Config {
                handshake_timeout: quick,
                settings_timeout: quick,
                ..Config::default()
            },
            ..Options::default()
        },
        ..ServerConfig::default()
    };
    let proxy = Arc::new(SyncProxy::new(BuiltinBackend, 1));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), proxy, config).unwrap();
    let mut session = Session::connect(
        server.local_addr(),
        "kjyost",
        "",
        ClientConfig::default(),
        ChannelConfig::default(),
    )
    .unwrap();
    std::thread::sleep(4 * quick);
    match session.call("ruok", "") {
        Ok(SessionOutcome::Reply { msg, .. }) => assert_eq!(msg, "imok"),
        other => panic!("an idle session's first call: {other:?}"),
    }
}
