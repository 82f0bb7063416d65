//! The arkwire bench driver: `net::Client` (one HTTP/2 connection, a mio loop
//! on the calling thread).
//!
//! `arkwire-client --addr HOST:PORT --name NAME --mode seq|inflight|large [...]`
//! with the same modes and options as `tonic-client` (`up`/`down`
//! `--size BYTES --reps N`: `noop` binary-payload uploads, `bytes` payload downloads); `--tls-ca FILE`
//! (with `--server-name NAME`, default `localhost`) speaks TLS to the server.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arkwire::grpc::Options;
use arkwire::net::{Client, ClientConfig};
use arkwire::proto::ArkoudaRequest;
use arkwire_bench::{
    arg, connect_request, echo_args, large_report, median_after_warmup, report, summarise,
    transfer_report, MIB,
};

fn seq(client: &mut Client, name: &str) {
    let warm: usize = arg("--warm", 2000);
    let calls: usize = arg("--calls", 20000);
    let req = connect_request();
    // Each reply decoded into the same response: no allocation per call.
    let mut resp = Default::default();
    for _ in 0..warm {
        client.call_into(&req, None, &mut resp).expect("call");
    }
    let mut lat = Vec::with_capacity(calls);
    let start = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        client.call_into(&req, None, &mut resp).expect("call");
        lat.push(t.elapsed());
        std::hint::black_box(&resp);
    }
    report(name, &summarise(lat, start.elapsed()));
}

/// `calls` connect calls with `k` in flight, oldest waited for first; each
/// call's latency (start to reply) goes into `lat` when given.
fn pipelined(client: &mut Client, k: usize, calls: usize, mut lat: Option<&mut Vec<Duration>>) {
    let req = connect_request();
    let mut open = VecDeque::with_capacity(k);
    let mut started = 0;
    while started < calls || !open.is_empty() {
        while open.len() < k && started < calls {
            let t = Instant::now();
            open.push_back((client.start(&req, &[], None).expect("start"), t));
            started += 1;
        }
        let (id, t) = open.pop_front().expect("a call in flight");
        std::hint::black_box(client.wait(id).expect("call"));
        if let Some(lat) = lat.as_deref_mut() {
            lat.push(t.elapsed());
        }
    }
}

fn inflight(client: &mut Client, name: &str) {
    let k: usize = arg("--inflight", 64);
    let calls: usize = arg("--calls", 50000);
    pipelined(client, k, k * 20, None);
    let mut lat = Vec::with_capacity(calls);
    let start = Instant::now();
    pipelined(client, k, calls, Some(&mut lat));
    report(name, &summarise(lat, start.elapsed()));
}

/// `--size` bytes client→server (`noop` carrying that many bytes as its binary `payload`) or
/// server→client (`bytes`: a reply whose `payload` is that many bytes; the
/// server must know the command), one warm-up and `--reps` timed calls.
fn transfer(client: &mut Client, name: &str, up: bool) {
    let size: usize = arg("--size", 8 * MIB);
    let reps: usize = arg("--reps", 3);
    let req = if up {
        ArkoudaRequest {
            user: "kjyost".into(),
            cmd: "noop".into(),
            format: "BINARY".into(),
            size: -1,
            payload: vec![0xa5; size],
            ..Default::default()
        }
    } else {
        ArkoudaRequest {
            user: "kjyost".into(),
            cmd: "bytes".into(),
            format: "STRING".into(),
            size: -1,
            args: size.to_string(),
            ..Default::default()
        }
    };
    // One response for every call (`call_into`): a download is received
    // into the payload buffer of the one before, as the TCP floor reuses
    // its buffers.
    let mut resp = Default::default();
    let mut times = Vec::new();
    for _ in 0..=reps {
        let t = Instant::now();
        client.call_into(&req, None, &mut resp).expect("call");
        times.push(t.elapsed());
        if !up {
            assert_eq!(resp.payload.len(), size, "short payload");
        }
    }
    transfer_report(name, size, times);
}

fn large(client: &mut Client, name: &str) {
    let size: usize = arg("--size", 8 * MIB);
    let reps: usize = arg("--reps", 5);
    let args = echo_args(size);
    let up = timed(client, "noop", &args, reps);
    let echo = timed(client, "echo", &args, reps);
    large_report(name, size, up, echo);
}

/// The median time of `reps` calls of `cmd` with `args` (after one warm-up call).
fn timed(client: &mut Client, cmd: &str, args: &str, reps: usize) -> Duration {
    let req = ArkoudaRequest {
        user: "kjyost".into(),
        cmd: cmd.into(),
        format: "STRING".into(),
        size: -1,
        args: args.into(),
        ..Default::default()
    };
    let mut times = Vec::new();
    for _ in 0..=reps {
        let t = Instant::now();
        let resp = client.call(&req, None).expect("call");
        times.push(t.elapsed());
        let want = if cmd == "echo" { args.len() } else { 1 };
        assert!(resp.message.len() >= want, "short reply");
    }
    median_after_warmup(times)
}

fn main() {
    let addr: std::net::SocketAddr = arg("--addr", "127.0.0.1:50053".parse().unwrap());
    let name: String = arg("--name", "arkwire".to_string());
    let mode: String = arg("--mode", "seq".to_string());
    let config = ClientConfig {
        options: Options {
            max_message_size: arg("--max-message-size", 80 * MIB),
            ..Options::default()
        },
        ..ClientConfig::default()
    };
    let ca: String = arg("--tls-ca", String::new());
    let mut client = if ca.is_empty() {
        Client::connect(addr, config).expect("connect")
    } else {
        let name: String = arg("--server-name", "localhost".to_string());
        let roots = std::fs::read(&ca).unwrap_or_else(|e| panic!("--tls-ca {ca}: {e}"));
        let tls = arkwire::tls::ClientConfig::new(&roots, &name).expect("--tls-ca");
        let connector = arkwire::tls::Connector::new(&tls).expect("TLS");
        Client::connect_tls(addr, config, std::sync::Arc::new(connector)).expect("connect")
    };
    match mode.as_str() {
        "seq" => seq(&mut client, &name),
        "inflight" => inflight(&mut client, &name),
        "large" => large(&mut client, &name),
        "up" => transfer(&mut client, &name, true),
        "down" => transfer(&mut client, &name, false),
        other => panic!("unknown --mode {other}"),
    }
}
