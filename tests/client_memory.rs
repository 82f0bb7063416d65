//! The client's heap while it moves an array: `net::Session` sends a binary
//! payload from the caller's memory, so its heap grows by its send queue
//! and connection buffers, not by the payload; and it hands a binary reply
//! over in the buffer it was received into, so a download costs the reply
//! once, not twice. Counted by a global allocator on the client's thread
//! (the server runs on its own thread, in this process).

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::sync::Arc;

use std::time::Instant;

use arkwire::arkouda::proxy::{Backend, BackendError, BuiltinBackend, SyncProxy};
use arkwire::arkouda::upstream_msg::Reply;
use arkwire::arkouda::{builtin, ChannelConfig, Command, MsgType, Pattern};
use arkwire::net::{ClientConfig, Server, ServerConfig};
use arkwire::net::{Session, SessionOutcome};
use arkwire::proto::ArkoudaRequest;
use counting_alloc::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Most the client's heap may grow while it uploads a 64 MiB payload: its
/// stream's send queue (the part queued ahead and what waits for the
/// window), the connection's buffers, not the payload again.
const UPLOAD_HEAP_BOUND: usize = 4 << 20;

#[test]
fn a_session_uploads_an_array_from_the_callers_memory() {
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

/// `zeros N` answers N zero bytes as a binary reply.
struct Zeros;

impl Backend for Zeros {
    fn execute(
        &self,
        request: &ArkoudaRequest,
        _: Option<Instant>,
    ) -> Result<String, BackendError> {
        Ok(builtin::envelope("text", MsgType::Normal, &request.user))
    }

    fn execute_reply(
        &self,
        request: &ArkoudaRequest,
        _: Option<Instant>,
    ) -> Result<Reply, BackendError> {
        let n = request.args.parse().unwrap_or(0);
        Ok(Reply::Binary(vec![0u8; n]))
    }
}

/// Most the client's heap may grow beyond the reply itself while it
/// downloads one: the connection's buffers, not a second copy.
const DOWNLOAD_EXTRA_BOUND: usize = 4 << 20;

#[test]
fn a_session_hands_a_download_over_in_the_buffer_it_arrived_in() {
    const LEN: usize = 64 << 20;
    let options = arkwire::grpc::Options {
        max_message_size: LEN + (1 << 20),
        ..Default::default()
    };
    let config = ServerConfig {
        threads: 1,
        options,
        ..ServerConfig::default()
    };
    let proxy = Arc::new(SyncProxy::new(Zeros, 1));
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
    let args = LEN.to_string();
    let command = Command {
        recv_binary: true,
        ..Command::new("zeros", &args)
    };
    counting_alloc::thread_start();
    let outcome = session.command(Pattern::Blocking, &command).unwrap();
    let growth = counting_alloc::thread_peak_growth();
    eprintln!("client heap growth during a 64 MiB download: {growth} bytes");
    let SessionOutcome::Binary(bytes) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(bytes.len(), LEN);
    assert!(bytes.iter().all(|&b| b == 0));
    assert!(
        growth <= LEN + DOWNLOAD_EXTRA_BOUND,
        "the client's heap grew {growth} bytes for a {LEN}-byte reply"
    );
    // A Vec of its own, when the caller wants one, is the same bytes.
    let vec = bytes.clone().into_vec();
    assert!(vec == *bytes);
}
