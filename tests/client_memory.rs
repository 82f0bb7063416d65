//! The client's heap while it moves an array: `net::Session` and
//! `net::Client` send a binary payload from the caller's memory, so their
//! heap grows by the send queue and connection buffers, not by the payload;
//! and they hand a binary reply over in the buffer it was received into, so
//! a download costs the reply once, not twice. Counted by a global
//! allocator on the client's thread (the server runs on its own thread, in
//! this process).

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::sync::Arc;
use std::time::Instant;

use arkwire::arkouda::proxy::{Backend, BackendError, BuiltinBackend, SyncProxy};
use arkwire::arkouda::upstream_msg::Reply;
use arkwire::arkouda::{ChannelConfig, Command, Pattern};
use arkwire::net::{Client, ClientConfig, Server, ServerConfig, Session, SessionOutcome};
use arkwire::proto::ArkoudaRequest;
use counting_alloc::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The payload each test moves.
const LEN: usize = 64 << 20;

/// Most the client's heap may grow while it uploads a 64 MiB payload: its
/// stream's send queue (the part queued ahead and what waits for the
/// window), the connection's buffers, not the payload again.
const UPLOAD_HEAP_BOUND: usize = 4 << 20;

/// Most the client's heap may grow beyond the reply itself while it
/// downloads one: the connection's buffers, not a second copy.
const DOWNLOAD_EXTRA_BOUND: usize = 4 << 20;

/// `zeros N` answers N zero bytes as a binary reply; everything else (a
/// `noop` with a payload) as the built-in backend does.
struct Zeros;

impl Backend for Zeros {
    fn execute(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<Instant>,
    ) -> Result<String, BackendError> {
        BuiltinBackend.execute(request, deadline)
    }

    fn execute_reply(
        &self,
        request: &ArkoudaRequest,
        deadline: Option<Instant>,
    ) -> Result<Reply, BackendError> {
        if request.cmd != "zeros" {
            return self.execute(request, deadline).map(Reply::Json);
        }
        let n = request.args.parse().unwrap_or(0);
        Ok(Reply::Binary(vec![0u8; n]))
    }
}

/// A server taking and answering messages of the test's size, assembled
/// whole (the built-in backend takes no streamed payloads), and the
/// client settings to reach it.
fn serve() -> (Server, ClientConfig) {
    let options = arkwire::grpc::Options {
        max_message_size: LEN + (1 << 20),
        ..Default::default()
    };
    let config = ServerConfig {
        threads: 1,
        options,
        service: arkwire::arkouda::service::ServiceOptions {
            max_assembled: LEN + (1 << 20),
            stream_above: usize::MAX,
            ..Default::default()
        },
        ..ServerConfig::default()
    };
    let proxy = Arc::new(SyncProxy::new(Zeros, 1));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), proxy, config).unwrap();
    let client = ClientConfig {
        options,
        ..ClientConfig::default()
    };
    (server, client)
}

fn session(server: &Server, client: ClientConfig) -> Session {
    Session::connect(
        server.local_addr(),
        "kjyost",
        "",
        client,
        ChannelConfig::default(),
    )
    .unwrap()
}

/// Runs `f` and returns what it gave with how far the heap of this thread
/// grew meanwhile.
fn measured<T>(what: &str, f: impl FnOnce() -> T) -> (T, usize) {
    counting_alloc::thread_start();
    let out = f();
    let growth = counting_alloc::thread_peak_growth();
    eprintln!("client heap growth during {what}: {growth} bytes");
    (out, growth)
}

#[test]
fn a_session_uploads_an_array_from_the_callers_memory() {
    let (server, client) = serve();
    let mut session = session(&server, client);
    let payload = vec![0x5au8; LEN];
    let command = Command {
        payload: &payload,
        ..Command::new("noop", "")
    };
    let (outcome, growth) = measured("a 64 MiB Session upload", || {
        session.command(Pattern::Blocking, &command).unwrap()
    });
    assert!(
        matches!(&outcome, SessionOutcome::Reply { msg, .. } if msg == "noop"),
        "{outcome:?}"
    );
    assert!(
        growth <= UPLOAD_HEAP_BOUND,
        "the client's heap grew {growth} bytes for a 64 MiB payload"
    );
}

#[test]
fn a_session_hands_a_download_over_in_the_buffer_it_arrived_in() {
    let (server, client) = serve();
    let mut session = session(&server, client);
    let args = LEN.to_string();
    let command = Command {
        recv_binary: true,
        ..Command::new("zeros", &args)
    };
    let (outcome, growth) = measured("a 64 MiB Session download", || {
        session.command(Pattern::Blocking, &command).unwrap()
    });
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

fn request(cmd: &str, args: &str, payload: Vec<u8>) -> ArkoudaRequest {
    ArkoudaRequest {
        user: "kjyost".into(),
        cmd: cmd.into(),
        format: if payload.is_empty() {
            "STRING"
        } else {
            "BINARY"
        }
        .into(),
        size: -1,
        args: args.into(),
        payload,
        ..Default::default()
    }
}

#[test]
fn a_client_streams_a_requests_payload_and_keeps_a_replys_buffer() {
    let (server, config) = serve();
    let mut client = Client::connect(server.local_addr(), config).unwrap();
    let upload = request("noop", "", vec![0x5au8; LEN]);
    let (reply, growth) = measured("a 64 MiB Client upload", || {
        client.call(&upload, None).unwrap()
    });
    assert!(reply.message.contains("noop"), "{}", reply.message);
    assert!(
        growth <= UPLOAD_HEAP_BOUND,
        "the client's heap grew {growth} bytes for a 64 MiB payload"
    );

    let download = request("zeros", &LEN.to_string(), Vec::new());
    let (reply, growth) = measured("a 64 MiB Client download", || {
        client.call(&download, None).unwrap()
    });
    assert_eq!(reply.payload.len(), LEN);
    assert!(reply.payload.iter().all(|&b| b == 0));
    assert!(
        growth <= LEN + DOWNLOAD_EXTRA_BOUND,
        "the client's heap grew {growth} bytes for a {LEN}-byte reply"
    );
}

#[test]
fn a_client_that_downloads_again_receives_into_the_reply_it_passes() {
    let (server, config) = serve();
    let mut client = Client::connect(server.local_addr(), config).unwrap();
    let download = request("zeros", &LEN.to_string(), Vec::new());
    let mut reply = Default::default();
    client.call_into(&download, None, &mut reply).unwrap();
    assert_eq!(reply.payload.len(), LEN);
    let first = reply.payload.as_ptr();
    // The second download is received into the first one's buffer: the
    // heap does not grow by another reply.
    let ((), growth) = measured(
        "a second 64 MiB Client download into the same reply",
        || client.call_into(&download, None, &mut reply).unwrap(),
    );
    assert_eq!(reply.payload.len(), LEN);
    assert!(reply.payload.iter().all(|&b| b == 0));
    assert_eq!(
        reply.payload.as_ptr(),
        first,
        "received into another buffer"
    );
    assert!(
        growth <= DOWNLOAD_EXTRA_BOUND,
        "the client's heap grew {growth} bytes for a download into a reply it had"
    );
    // A small reply after it keeps the buffer too, and says what it says.
    let small = request("ruok", "", Vec::new());
    client.call_into(&small, None, &mut reply).unwrap();
    assert!(reply.message.contains("imok"), "{}", reply.message);
    assert!(reply.payload.is_empty());
    assert_eq!(reply.payload.as_ptr(), first);
    client.call_into(&download, None, &mut reply).unwrap();
    assert_eq!(reply.payload.len(), LEN);
    assert_eq!(reply.payload.as_ptr(), first);
}
