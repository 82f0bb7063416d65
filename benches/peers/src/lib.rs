//! Shared pieces of the benchmark drivers: the tonic stubs, the requests,
//! percentiles, and the one-line result format `run.sh` collects.

use std::time::Duration;

/// tonic client and server stubs plus prost types for `arkouda.proto`.
pub mod pb {
    tonic::include_proto!("arkouda");
}

/// The connect request of every latency measurement.
pub fn connect_request() -> arkwire::proto::ArkoudaRequest {
    arkwire::proto::ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "connect".into(),
        format: "STRING".into(),
        size: -1,
        ..Default::default()
    }
}

/// The same request as tonic's prost type.
pub fn connect_request_pb() -> pb::ArkoudaRequest {
    pb::ArkoudaRequest {
        user: "kjyost".into(),
        cmd: "connect".into(),
        format: "STRING".into(),
        size: -1,
        ..Default::default()
    }
}

/// An echo request whose args are `len` bytes.
pub fn echo_args(len: usize) -> String {
    "abcdefghijklmnopqrstuvwxyz0123456789"
        .chars()
        .cycle()
        .take(len)
        .collect()
}

/// Latency summary of a run.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// Median, microseconds.
    pub p50_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// 99.9th percentile, microseconds.
    pub p999_us: f64,
    /// Completed calls per second over the whole measured run.
    pub per_s: f64,
}

/// Summarises per-call latencies measured over `wall`.
pub fn summarise(mut lat: Vec<Duration>, wall: Duration) -> Summary {
    lat.sort_unstable();
    let pick = |q: f64| {
        let i = ((lat.len() as f64 - 1.0) * q).round() as usize;
        lat[i].as_secs_f64() * 1e6
    };
    Summary {
        p50_us: pick(0.50),
        p99_us: pick(0.99),
        p999_us: pick(0.999),
        per_s: lat.len() as f64 / wall.as_secs_f64(),
    }
}

/// Prints `RESULT <name>.<key> <value>` lines for run.sh.
pub fn report(name: &str, s: &Summary) {
    println!("RESULT {name}.p50_us {:.2}", s.p50_us);
    println!("RESULT {name}.p99_us {:.2}", s.p99_us);
    println!("RESULT {name}.p999_us {:.2}", s.p999_us);
    println!("RESULT {name}.per_s {:.0}", s.per_s);
}

/// Prints one `RESULT <name> <value>` line.
pub fn result(name: &str, value: f64) {
    println!("RESULT {name} {value:.2}");
}

/// `--key value` from the command line, parsed, or `default`.
pub fn arg<T: std::str::FromStr>(key: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == key)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{key}: cannot parse {v:?}"))
        })
        .unwrap_or(default)
}

/// Whether `--flag` was given.
pub fn flag(key: &str) -> bool {
    std::env::args().any(|a| a == key)
}

/// Client→server MB/s from the `noop` upload (`up`: BYTES of args, a small
/// reply); the whole echo's MB/s; and server→client MB/s from what the echo
/// (`echo`: BYTES each way) adds on top of the upload.
pub fn large_report(name: &str, size: usize, up: Duration, echo: Duration) {
    let mb = size as f64 / 1e6;
    result(&format!("{name}.up_mb_s"), mb / up.as_secs_f64());
    result(&format!("{name}.echo_mb_s"), mb / echo.as_secs_f64());
    let down = echo.saturating_sub(up).max(Duration::from_micros(1));
    result(&format!("{name}.down_mb_s"), mb / down.as_secs_f64());
}

/// Prints `RESULT <name>.mb_s` for `size` bytes moved in the median of `times`
/// (the first, a warm-up, dropped).
pub fn transfer_report(name: &str, size: usize, times: Vec<Duration>) {
    let t = median_after_warmup(times);
    result(&format!("{name}.mb_s"), size as f64 / 1e6 / t.as_secs_f64());
}

/// Drops the first (warm-up) time and returns the median of the rest.
pub fn median_after_warmup(mut times: Vec<Duration>) -> Duration {
    times.remove(0);
    times.sort();
    times[times.len() / 2]
}

/// One MiB.
pub const MIB: usize = 1024 * 1024;

/// The bytes one steady-state connect call puts on the wire in each
/// direction (request, response), from arkwire's own client and server state
/// machines exchanging in memory, the server answering as `arkwire serve`
/// does. Averaged over 100 calls after 10 warm-up calls (HPACK tables warm,
/// WINDOW_UPDATEs included).
pub fn wire_bytes() -> (usize, usize) {
    use arkwire::grpc::{Client, ClientEvent, Options, Server, ServerEvent};
    use arkwire::h2::conn::GrowableStorage;
    use arkwire::proto::{ArkoudaResponse, HANDLE_REQUEST_PATH};
    use arkwire::time::Instant;
    use prost::Message;

    let now = Instant::from_millis(0);
    let options = Options::default();
    let mut client =
        Client::<GrowableStorage>::new("127.0.0.1:50053", options, now).expect("client");
    let mut server =
        Server::<GrowableStorage>::new(HANDLE_REQUEST_PATH, options, now).expect("server");
    let request = connect_request().encode_to_vec();
    let mut wire = vec![0u8; 64 * 1024];
    let (mut up, mut down) = (0usize, 0usize);
    let (warm, measured) = (10, 100);
    for round in 0..warm + measured {
        let call = client
            .start_call(HANDLE_REQUEST_PATH, &request, &[], None, now)
            .expect("start");
        let (mut sent, mut received) = (0, 0);
        let mut done = false;
        while !done {
            let n = client.transmit(&mut wire);
            sent += n;
            server.recv(&wire[..n], now).expect("server recv");
            while let Some(ev) = server.poll_event() {
                if let ServerEvent::Request(id) = ev {
                    let req = arkwire::proto::ArkoudaRequest::decode(server.request(id).unwrap())
                        .expect("request");
                    let json = match arkwire::arkouda::builtin::answer(&req.user, &req.cmd, "") {
                        arkwire::arkouda::builtin::Action::Reply(j) => j,
                        arkwire::arkouda::builtin::Action::Sleep(_, j) => j,
                    };
                    let resp = ArkoudaResponse {
                        message: json,
                        user: Some(req.user),
                        cmd: Some(req.cmd),
                        ..Default::default()
                    };
                    server.respond(id, &resp.encode_to_vec()).expect("respond");
                }
            }
            let n = server.transmit(&mut wire);
            received += n;
            client.recv(&wire[..n], now).expect("client recv");
            while let Some(ev) = client.poll_event() {
                if ev == ClientEvent::Complete(call) {
                    client.finish_call(call);
                    done = true;
                }
            }
        }
        // Anything left over (WINDOW_UPDATEs, acks) belongs to this call.
        let n = client.transmit(&mut wire);
        sent += n;
        server.recv(&wire[..n], now).expect("server recv");
        if round >= warm {
            up += sent;
            down += received;
        }
    }
    (up / measured, down / measured)
}
