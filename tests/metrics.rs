//! The metrics endpoint as a Prometheus scraper sees it: parsed by the
//! Python `prometheus_client` OpenMetrics parser, counts matching what was
//! recorded; and recording a call allocates nothing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use arkwire::grpc::Code;
use arkwire::metrics::{self, Metrics};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

mod common;

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_endpoint_parses_as_openmetrics_and_counts_what_happened() {
    let m: &'static Metrics = Box::leak(Box::new(Metrics::new()));
    for _ in 0..3 {
        m.call_started();
        m.call_finished("connect", Code::Ok, Duration::from_millis(2));
    }
    m.call_started();
    m.call_finished(
        "create<int64,1>",
        Code::Unavailable,
        Duration::from_millis(40),
    );
    m.call_started(); // still running
    m.defence("too many RST_STREAM frames");
    m.set_registry_size("pending", 2);
    let addr = metrics::serve("127.0.0.1:0".parse().unwrap(), m).unwrap();
    let reply = get(addr, "/metrics");
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("application/openmetrics-text"), "{head}");
    assert!(get(addr, "/other").starts_with("HTTP/1.1 404"));
    if !common::python_has("prometheus_client") {
        return;
    }
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        key = s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
        samples[key] = s.value
for key in sys.argv[1:]:
    print(key, samples.get(key))
"#;
    let keys = [
        "arkwire_calls_total{code=OK,command=connect}",
        "arkwire_calls_total{code=UNAVAILABLE,command=create}",
        "arkwire_calls_in_flight{}",
        "arkwire_call_duration_seconds_count{}",
        "arkwire_defences_total{reason=too many RST_STREAM frames}",
        "arkwire_registry_requests{state=pending}",
    ];
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(keys)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the parser refused the text:\n{body}");
    let text = String::from_utf8(out.stdout).unwrap();
    let values: Vec<f64> = text
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse().expect(l))
        .collect();
    assert_eq!(values, [3.0, 1.0, 1.0, 4.0, 1.0, 2.0], "{text}");
}

#[test]
fn recording_a_call_allocates_nothing() {
    let m = Metrics::new();
    // Every series exists from the start, so no call creates one.
    let before = counting_alloc::thread_allocations();
    for i in 0..1000 {
        m.call_started();
        let cmd = if i % 2 == 0 { "echo" } else { "anything-else" };
        m.call_finished(cmd, Code::DeadlineExceeded, Duration::from_micros(i));
        m.upstream_answered(Duration::from_micros(i));
    }
    assert_eq!(counting_alloc::thread_allocations() - before, 0);
}
