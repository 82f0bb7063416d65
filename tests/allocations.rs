//! No heap allocation per call in steady state, std tier: `net::Client`
//! calling `net::Server` (the synchronous proxy over the built-in backend,
//! metrics on) in one process, counted by a global allocator. The client
//! runs on the test's thread, the server on its loop thread, so the two are
//! told apart.
//!
//! What makes it zero: the client decodes each reply into the response it
//! is given (`call_into`) and keeps its completed calls in a set that keeps
//! its memory; the service decodes each request into one its handler gave
//! back, writes the reply JSON into an earlier reply's memory, and queues
//! answers in a queue that keeps its memory; both ends' HTTP/2 streams take
//! the buffers of finished ones. Sequential calls and 16 or 64 in flight.

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
    let client_n = thread_allocations() - mine;
    let server_n = allocations() - all - client_n;
    eprintln!("allocations in {CALLS} sequential calls: client {client_n}, server {server_n}");
    assert_eq!(
        client_n, 0,
        "client allocations in {CALLS} sequential calls"
    );
    assert_eq!(
        server_n, 0,
        "server allocations in {CALLS} sequential calls"
    );

    // Many calls in flight on the connection: each stream's buffers, each
    // request and each reply buffer come from calls answered before. The
    // first two rounds are the warm-up: kept buffers grow to the largest
    // message they meet, one at a time, as they meet it.
    let mut in_flight = std::collections::VecDeque::with_capacity(64);
    for (round, k) in [64usize, 64, 16, 64].into_iter().enumerate() {
        let (all, mine) = (allocations(), thread_allocations());
        for request in requests.iter().cycle().take(CALLS) {
            if in_flight.len() == k {
                let call = in_flight.pop_front().unwrap();
                client.wait_into(call, &mut reply).unwrap();
                assert!(reply.message.contains("NORMAL"), "{}", reply.message);
            }
            in_flight.push_back(client.start(request, &[], None).unwrap());
        }
        while let Some(call) = in_flight.pop_front() {
            client.wait_into(call, &mut reply).unwrap();
        }
        let client_n = thread_allocations() - mine;
        let server_n = allocations() - all - client_n;
        eprintln!(
            "allocations in {CALLS} calls, {k} in flight: client {client_n}, server {server_n}"
        );
        // How many replies pile up between turns varies with timing, so a
        // queue or set may meet a new high-water mark and grow once more;
        // an allocation per call would be thousands.
        if round > 1 {
            assert!(
                client_n <= 2,
                "client: {client_n} allocations, {k} in flight"
            );
            assert!(
                server_n <= 2,
                "server: {server_n} allocations, {k} in flight"
            );
        }
    }
}
