//! No heap allocation per call in steady state, std tier: `net::Client`
//! calling `net::Server` (the synchronous proxy over the built-in backend,
//! metrics on) in one process, counted by a global allocator. The client
//! runs on the test's thread, the server on its loop thread, so the two are
//! told apart.
//!
//! What makes it zero: the client decodes each reply into the response it
//! is given (`call_into`); the service decodes each request into the one
//! its handler gave back, writes the reply JSON into the last reply's
//! memory, and queues answers in a queue that keeps its memory.

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::sync::Arc;

use arkwire::arkouda::proxy::{BuiltinBackend, SyncProxy};
use arkwire::net::{Client, ClientConfig, Server, ServerConfig};
use arkwire::proto::ArkoudaRequest;
use counting_alloc::{allocations, thread_allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_call_allocates_nothing_once_warm() {
    let config = ServerConfig {
        threads: 1,
        metrics: Some(arkwire::metrics::global()),
        ..ServerConfig::default()
    };
    let proxy = Arc::new(SyncProxy::new(BuiltinBackend, 1));
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), proxy, config).unwrap();
    let mut client = Client::connect(server.local_addr(), ClientConfig::default()).unwrap();
    // Different users, commands and lengths, as a connection carries: the
    // strings grow to the longest once, then every call reuses them.
    let requests: Vec<ArkoudaRequest> = [
        ("kjyost", "connect", ""),
        (
            "a-much-longer-user-name",
            "echo",
            "some arguments to echo back",
        ),
        ("u", "noop", ""),
    ]
    .iter()
    .map(|(user, cmd, args)| ArkoudaRequest {
        user: (*user).into(),
        token: "a-token".into(),
        cmd: (*cmd).into(),
        format: "STRING".into(),
        args: (*args).into(),
        size: -1,
        ..Default::default()
    })
    .collect();
    let mut reply = Default::default();
    for request in requests.iter().cycle().take(300) {
        client.call_into(request, None, &mut reply).unwrap();
    }
    const CALLS: usize = 3000;
    let (all, mine) = (allocations(), thread_allocations());
    for (i, request) in requests.iter().cycle().take(CALLS).enumerate() {
        client.call_into(request, None, &mut reply).unwrap();
        assert_eq!(reply.user.as_deref(), Some(&*request.user), "call {i}");
        assert!(
            reply.message.contains("NORMAL"),
            "call {i}: {}",
            reply.message
        );
    }
    let client = thread_allocations() - mine;
    let server = allocations() - all - client;
    eprintln!("allocations in {CALLS} calls: client {client}, server {server}");
    assert_eq!(client, 0, "client allocations in {CALLS} calls");
    assert_eq!(server, 0, "server allocations in {CALLS} calls");
}
