//! The client's heap while it uploads an array: `net::Session` sends a
//! binary payload from the caller's memory, so its heap grows by its send
//! queue and connection buffers, not by the payload. Counted by a global
//! allocator on the client's thread (the server runs on its own thread, in
//! this process, and assembles the request whole there).

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::sync::Arc;

use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
use arkwire::net::{ClientConfig, Server, ServerConfig};
use counting_alloc::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Most the client's heap may grow while it uploads a 64 MiB payload: its
/// stream's send queue (the part queued ahead and what waits for the
/// window), the connection's buffers, not the payload again.
const UPLOAD_HEAP_BOUND: usize = 4 << 20;

#[test]
fn a_session_uploads_an_array_from_the_callers_memory() {
    use arkwire::arkouda::{ChannelConfig, Command, Pattern};
    use arkwire::net::{Session, SessionOutcome};
    const LIMIT: usize = 80 << 20;
    let options = arkwire::grpc::Options {
        max_message_size: LIMIT,
        ..Default::default()
    };
    let config = ServerConfig {
        threads: 1,
        options,
        service: arkwire::arkouda::service::ServiceOptions {
            max_assembled: LIMIT,
            // The built-in backend takes whole requests only.
            stream_above: usize::MAX,
            ..Default::default()
        },
        ..ServerConfig::default()
    };
    let proxy = Arc::new(SyncProxy::new(BuiltinBackend, 1));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), proxy, config).unwrap();
    let client = ClientConfig {
        options,
        ..ClientConfig::default()
    };
    let mut session = Session::connect(
        server.local_addr(),
        "kjyost",
        "",
        client,
        ChannelConfig::default(),
    )
    .unwrap();
    let payload = vec![0x5au8; 64 << 20];
    let command = Command {
        payload: &payload,
        ..Command::new("noop", "")
    };
    counting_alloc::thread_start();
    let outcome = session.command(Pattern::Blocking, &command).unwrap();
    let growth = counting_alloc::thread_peak_growth();
    eprintln!("client heap growth during a 64 MiB upload: {growth} bytes");
    assert!(
        matches!(&outcome, SessionOutcome::Reply { msg, .. } if msg == "noop"),
        "{outcome:?}"
    );
    assert!(
        growth <= UPLOAD_HEAP_BOUND,
        "the client's heap grew {growth} bytes for a 64 MiB payload"
    );
}
