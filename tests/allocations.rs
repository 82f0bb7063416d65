//! Heap allocations per call in steady state, std tier: `net::Client`
//! calling `net::Server` (the synchronous proxy over the built-in backend,
//! metrics on) in one process, counted by a global allocator. The client
//! runs on the test's thread, the server on its loop thread, so the two are
//! told apart. The bounds are today's counts: a change that allocates more
//! per call fails here (the goal, and where the allocations are, is in the
//! README's performance section).

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::sync::Arc;

use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
use arkwire::net::{Client, ClientConfig, Server, ServerConfig};
use arkwire::proto::ArkoudaRequest;
use counting_alloc::{allocations, thread_allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Most allocations one call may make on the client's thread: the owned
/// `ArkoudaResponse`'s three strings (`message`, `user`, `cmd`). Stream
/// buffers, the request's encoding and the driver's lists are reused.
const CLIENT_BOUND: f64 = 3.05;
/// Most allocations one call may make in the server: the owned
/// `ArkoudaRequest`'s strings (`user`, `cmd`, `format`; the response takes
/// `user` and `cmd` from it rather than copies), the reply JSON, and the
/// answer channel's block per 31 answers.
const SERVER_BOUND: f64 = 4.1;

#[test]
fn allocations_per_call_stay_within_their_bounds() {
    let config = ServerConfig {
        threads: 1,
        metrics: Some(arkwire::metrics::global()),
        ..ServerConfig::default()
    };
    let proxy = Arc::new(SyncProxy::new(BuiltinBackend, 1));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), proxy, config).unwrap();
    let mut client = Client::connect(server.local_addr(), ClientConfig::default()).unwrap();
    let request = ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "connect".into(),
        format: "STRING".into(),
        size: -1,
        ..Default::default()
    };
    for _ in 0..500 {
        client.call(&request, None).unwrap();
    }
    const CALLS: usize = 2000;
    let (all, mine) = (allocations(), thread_allocations());
    for _ in 0..CALLS {
        let reply = client.call(&request, None).unwrap();
        assert!(reply.message.contains("connected"));
    }
    let client_per_call = (thread_allocations() - mine) as f64 / CALLS as f64;
    let all_per_call = (allocations() - all) as f64 / CALLS as f64;
    let server_per_call = all_per_call - client_per_call;
    eprintln!(
        "allocations per call: client {client_per_call:.2}, server {server_per_call:.2}, \
         total {all_per_call:.2}"
    );
    assert!(
        client_per_call <= CLIENT_BOUND,
        "client: {client_per_call:.2} per call"
    );
    assert!(
        server_per_call <= SERVER_BOUND,
        "server: {server_per_call:.2} per call"
    );
}
