//! The tonic bench driver. One HTTP/2 connection, a current_thread runtime.
//!
//! `tonic-client --addr HOST:PORT --name NAME --mode seq|inflight|large [...]`
//! - `seq --warm N --calls N`: sequential connect calls; p50, p99, calls/s.
//! - `inflight --inflight K --calls N`: K connect calls in flight; calls/s.
//! - `large --size BYTES --reps N`: `noop` with BYTES of args (client→server)
//!   and `echo` of BYTES (both ways); median MB/s.
//! - `up|down --size BYTES --reps N`: `noop` with a binary `payload` of BYTES, or `bytes`
//!   (a reply whose `payload` is BYTES); median MB/s after one warm-up.
//! - `echo --args TEXT`: one `echo` call; prints `REPLY <message>`, or
//!   `FAILED <gRPC code>: <message>` and exits with status 1 (the interop
//!   tests' probe).
//!
//! TLS: `--tls-ca FILE` speaks TLS (tonic's rustls with ring, ALPN h2) and
//! trusts that CA; `--server-name NAME` is the name the server's
//! certificate must carry (default `localhost`); `--tls-cert FILE --tls-key
//! FILE` present a client certificate. A connection that fails (a refused
//! handshake) prints `FAILED connect: <why>` and exits with status 1.

use std::time::{Duration, Instant};

use arkwire_bench::pb::arkouda_client::ArkoudaClient;
use arkwire_bench::pb::ArkoudaRequest;
use arkwire_bench::{
    arg, connect_request_pb, echo_args, large_report, median_after_warmup, report, summarise,
    transfer_report, MIB,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

type Client = ArkoudaClient<Channel>;

async fn seq(client: &mut Client, name: &str) {
    let warm: usize = arg("--warm", 2000);
    let calls: usize = arg("--calls", 20000);
    let req = connect_request_pb();
    for _ in 0..warm {
        client.handle_request(req.clone()).await.expect("call");
    }
    let mut lat = Vec::with_capacity(calls);
    let start = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        let resp = client.handle_request(req.clone()).await.expect("call");
        lat.push(t.elapsed());
        std::hint::black_box(resp);
    }
    report(name, &summarise(lat, start.elapsed()));
}

async fn inflight(client: &Client, name: &str) {
    let k: usize = arg("--inflight", 64);
    let calls: usize = arg("--calls", 50000);
    let run = |n: usize| {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..k {
            let mut c = client.clone();
            let share = n / k + usize::from(i < n % k);
            tasks.spawn(async move {
                let req = connect_request_pb();
                let mut lat = Vec::with_capacity(share);
                for _ in 0..share {
                    let t = Instant::now();
                    c.handle_request(req.clone()).await.expect("call");
                    lat.push(t.elapsed());
                }
                lat
            });
        }
        tasks
    };
    run(k * 20).join_all().await;
    let start = Instant::now();
    let lat: Vec<Duration> = run(calls).join_all().await.into_iter().flatten().collect();
    report(name, &summarise(lat, start.elapsed()));
}

/// `--size` bytes client→server (`noop` carrying that many bytes as its binary `payload`) or
/// server→client (`bytes`: a reply whose `payload` is that many bytes), one
/// warm-up and `--reps` timed calls.
async fn transfer(client: &mut Client, name: &str, up: bool) {
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
    let mut times = Vec::new();
    for _ in 0..=reps {
        // The clone (a copy of the args) is made outside the timing.
        let r = req.clone();
        let t = Instant::now();
        let resp = client.handle_request(r).await.expect("call").into_inner();
        times.push(t.elapsed());
        if !up {
            assert_eq!(resp.payload.len(), size, "short payload");
        }
        drop(resp);
    }
    transfer_report(name, size, times);
}

async fn large(client: &mut Client, name: &str) {
    let size: usize = arg("--size", 8 * MIB);
    let reps: usize = arg("--reps", 5);
    let args = echo_args(size);
    let up = timed(client, "noop", &args, reps).await;
    let echo = timed(client, "echo", &args, reps).await;
    large_report(name, size, up, echo);
}

/// The median time of `reps` calls of `cmd` with `args` (after one warm-up call).
async fn timed(client: &mut Client, cmd: &str, args: &str, reps: usize) -> Duration {
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
        let r = req.clone();
        let t = Instant::now();
        let resp = client.handle_request(r).await.expect("call").into_inner();
        times.push(t.elapsed());
        let want = if cmd == "echo" { args.len() } else { 1 };
        assert!(resp.message.len() >= want, "short reply");
    }
    median_after_warmup(times)
}

/// One `echo` call: prints the reply, or why it failed and exits 1.
async fn echo(client: &mut Client) {
    let args: String = arg("--args", "hi".to_string());
    let req = ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "echo".into(),
        format: "STRING".into(),
        size: -1,
        args,
        ..Default::default()
    };
    match client.handle_request(req).await {
        Ok(resp) => println!("REPLY {}", resp.into_inner().message),
        Err(status) => {
            println!("FAILED {:?}: {}", status.code(), status.message());
            std::process::exit(1);
        }
    }
}

/// A PEM file's bytes, or exit status 2 with why.
fn read_pem(flag: &str, path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("tonic-client: {flag} {path}: {e}");
        std::process::exit(2)
    })
}

/// The TLS settings of `--tls-ca`, `--server-name`, `--tls-cert`/`--tls-key`.
fn tls_config() -> Option<ClientTlsConfig> {
    let ca: String = arg("--tls-ca", String::new());
    if ca.is_empty() {
        return None;
    }
    let name: String = arg("--server-name", "localhost".to_string());
    let mut config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read_pem("--tls-ca", &ca)))
        .domain_name(name);
    let cert: String = arg("--tls-cert", String::new());
    let key: String = arg("--tls-key", String::new());
    if !cert.is_empty() || !key.is_empty() {
        config = config.identity(Identity::from_pem(
            read_pem("--tls-cert", &cert),
            read_pem("--tls-key", &key),
        ));
    }
    Some(config)
}

fn main() {
    let addr: String = arg("--addr", String::new());
    let name: String = arg("--name", "tonic".to_string());
    let mode: String = arg("--mode", "seq".to_string());
    let limit: usize = arg("--max-message-size", 80 * MIB);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tls = tls_config();
    rt.block_on(async move {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .expect("address")
            .tcp_nodelay(true)
            .initial_stream_window_size(1u32 << 20)
            .initial_connection_window_size(1u32 << 24);
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls).unwrap_or_else(|e| {
                eprintln!("tonic-client: TLS: {e}");
                std::process::exit(2)
            });
        }
        let channel = endpoint.connect().await.unwrap_or_else(|e| {
            // The transport error's sources say why (the TLS alert, ...).
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why.push_str(&format!(": {s}"));
                source = s.source();
            }
            println!("FAILED connect: {why}");
            std::process::exit(1)
        });
        let mut client = ArkoudaClient::new(channel)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        match mode.as_str() {
            "seq" => seq(&mut client, &name).await,
            "inflight" => inflight(&client, &name).await,
            "large" => large(&mut client, &name).await,
            "up" => transfer(&mut client, &name, true).await,
            "down" => transfer(&mut client, &name, false).await,
            "echo" => echo(&mut client).await,
            other => panic!("unknown --mode {other}"),
        }
    });
}
