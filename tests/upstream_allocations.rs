//! Heap allocations of a forwarded call: `net::Client` calling `net::Server`
//! whose sync proxy forwards to a fake arkouda_server (pyzmq) over the ZMTP
//! pool, counted by a global allocator after warm-up. The bound is today's
//! count, so a change that allocates more per forwarded call fails here.
//! What is left, and why, is in the README's performance section: the
//! owner's user name, the boxed job for the worker, the request JSON and
//! the reply frames copied out of the connection.

mod common;
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::process::Command;
use std::sync::Arc;

use arkwire::arkouda::proxy::SyncProxy;
use arkwire::net::{Client, ClientConfig, Server, ServerConfig, UpstreamBackend, UpstreamConfig};
use arkwire::proto::ArkoudaRequest;
use counting_alloc::{allocations, thread_allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations a forwarded call may make in the proxy (loop and worker).
const FORWARDED_BOUND: f64 = 5.05;

#[test]
fn a_forwarded_call_allocates_within_its_bound() {
    if !common::python_has("zmq") {
        return;
    }
    let mut fake = Command::new("python3");
    fake.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/zmtp/fake_arkouda_server.py"
    ));
    let upstream_server = common::start(fake, "PORT");
    let address = format!("tcp://127.0.0.1:{}", upstream_server.port);
    let proxy = Arc::new(SyncProxy::new(
        UpstreamBackend::new(UpstreamConfig::new(&address)),
        4,
    ));
    let config = ServerConfig {
        threads: 1,
        metrics: Some(arkwire::metrics::global()),
        ..ServerConfig::default()
    };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), proxy, config).unwrap();
    let mut client = Client::connect(server.local_addr(), ClientConfig::default()).unwrap();
    let request = ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "connect".into(),
        format: "STRING".into(),
        size: -1,
        ..Default::default()
    };
    let mut reply = Default::default();
    for _ in 0..300 {
        client.call_into(&request, None, &mut reply).unwrap();
    }
    const CALLS: usize = 1000;
    let (all, mine) = (allocations(), thread_allocations());
    for _ in 0..CALLS {
        client.call_into(&request, None, &mut reply).unwrap();
        assert!(reply.message.contains("connected"), "{}", reply.message);
    }
    let client_n = thread_allocations() - mine;
    let proxy_n = allocations() - all - client_n;
    let per_call = proxy_n as f64 / CALLS as f64;
    eprintln!("allocations per forwarded call: client {client_n} in {CALLS}, proxy {per_call:.2}");
    assert_eq!(client_n, 0, "client allocations in {CALLS} forwarded calls");
    assert!(
        per_call <= FORWARDED_BOUND,
        "proxy: {per_call:.2} per forwarded call"
    );
}
