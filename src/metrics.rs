//! What the proxy counts, in the Prometheus/OpenMetrics text format, and the
//! small HTTP endpoint that serves it (`arkwire serve --metrics ADDR`).
//!
//! Every label takes values from a fixed set (commands Arkouda's client
//! sends plus `other`, gRPC codes, the defences' own names), so the number
//! of series is bounded whatever clients send. Series are created when the
//! [`Metrics`] is, so recording on the call path is an atomic update with no
//! allocation.

use std::boxed::Box;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use std::vec::Vec;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::grpc::Code;

/// Commands counted under their own name; any other is `other`, so a
/// client cannot grow the label set.
pub const KNOWN_COMMANDS: [&str; 16] = [
    "connect",
    "disconnect",
    "getconfig",
    "getRegistrationConfig",
    "getrequeststatus",
    "ruok",
    "noop",
    "echo",
    "sleep",
    "array",
    "tondarray",
    "create",
    "delete",
    "info",
    "set",
    "shutdown",
];

/// A command as a label value: one of [`KNOWN_COMMANDS`] or `other`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CommandLabel(&'static str);

impl CommandLabel {
    /// The label for `cmd`; Arkouda's typed commands (`create<int64,1>`)
    /// count under their name before `<`.
    pub fn of(cmd: &str) -> Self {
        let name = cmd.split('<').next().unwrap_or(cmd);
        CommandLabel(
            KNOWN_COMMANDS
                .iter()
                .find(|&&k| k == name)
                .copied()
                .unwrap_or("other"),
        )
    }
}

impl EncodeLabelValue for CommandLabel {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), core::fmt::Error> {
        EncodeLabelValue::encode(&self.0, encoder)
    }
}

/// A gRPC status code as a label value (`OK`, `NOT_FOUND`, …).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CodeLabel(pub Code);

impl EncodeLabelValue for CodeLabel {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), core::fmt::Error> {
        EncodeLabelValue::encode(&self.0.name(), encoder)
    }
}

/// Labels of a finished call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    command: CommandLabel,
    code: CodeLabel,
}

/// Labels of a defence that fired: the reason it gives.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DefenceLabels {
    reason: &'static str,
}

/// Labels of the async registry's requests by state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Registry states counted by [`Metrics::set_registry_size`].
pub const REGISTRY_STATES: [&str; 4] = ["pending", "running", "finished", "failed"];

/// Every metric of one process.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Histogram,
    upstream_latency: Histogram,
    in_flight: Gauge,
    connections: Gauge,
    upstream_connections: Gauge,
    upstream_reconnects: Counter,
    registry_size: Family<StateLabels, Gauge>,
    defences: Family<DefenceLabels, Counter>,
    /// Run before each encoding, to sample what is cheaper to read than to
    /// track (the async registry's size by state).
    collectors: Mutex<Vec<Collector>>,
}

/// Sets gauges from their source just before the metrics are encoded.
pub type Collector = Box<dyn Fn(&Metrics) + Send + Sync>;

impl core::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Latency buckets in seconds: 100 µs to about 100 s, doubling.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 21)
}

const CODES: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl Metrics {
    /// A fresh set of metrics with every bounded series created.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("arkwire");
        let calls = Family::<CallLabels, Counter>::default();
        let latency = Histogram::new(latency_buckets());
        let upstream_latency = Histogram::new(latency_buckets());
        let (in_flight, connections) = (Gauge::default(), Gauge::default());
        let upstream_connections = Gauge::default();
        let upstream_reconnects = Counter::default();
        let registry_size = Family::<StateLabels, Gauge>::default();
        let defences = Family::<DefenceLabels, Counter>::default();
        for command in KNOWN_COMMANDS.iter().copied().chain(["other"]) {
            for code in CODES {
                let _ = calls.get_or_create(&CallLabels {
                    command: CommandLabel(command),
                    code: CodeLabel(code),
                });
            }
        }
        for state in REGISTRY_STATES {
            let _ = registry_size.get_or_create(&StateLabels { state });
        }
        registry.register(
            "calls",
            "Calls answered, by command and gRPC status",
            calls.clone(),
        );
        registry.register(
            "call_duration_seconds",
            "Time from request to answer, as the client sees it",
            latency.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Time arkouda_server took to answer a forwarded call",
            upstream_latency.clone(),
        );
        registry.register("calls_in_flight", "Calls being answered", in_flight.clone());
        registry.register(
            "connections",
            "Open client connections",
            connections.clone(),
        );
        registry.register(
            "upstream_connections",
            "Open connections to arkouda_server",
            upstream_connections.clone(),
        );
        registry.register(
            "upstream_reconnects",
            "Connections to arkouda_server opened after one was lost",
            upstream_reconnects.clone(),
        );
        registry.register(
            "registry_requests",
            "Asynchronous requests held, by state",
            registry_size.clone(),
        );
        registry.register(
            "defences",
            "Times a limit or attack defence ended a connection or call, by reason",
            defences.clone(),
        );
        Metrics {
            registry,
            calls,
            latency,
            upstream_latency,
            in_flight,
            connections,
            upstream_connections,
            upstream_reconnects,
            registry_size,
            defences,
            collectors: Mutex::new(Vec::new()),
        }
    }

    /// Runs `collect` before each encoding (each scrape), to set gauges
    /// from their source, such as [`set_registry_size`](Self::set_registry_size)
    /// from the async registry.
    pub fn on_encode(&self, collect: Collector) {
        if let Ok(mut c) = self.collectors.lock() {
            c.push(collect);
        }
    }

    /// A call started.
    pub fn call_started(&self) {
        self.in_flight.inc();
    }

    /// A call of `cmd` ended with `code` after `elapsed`.
    pub fn call_finished(&self, cmd: &str, code: Code, elapsed: Duration) {
        self.in_flight.dec();
        let labels = CallLabels {
            command: CommandLabel::of(cmd),
            code: CodeLabel(code),
        };
        self.calls.get_or_create(&labels).inc();
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// arkouda_server answered a forwarded call after `elapsed`.
    pub fn upstream_answered(&self, elapsed: Duration) {
        self.upstream_latency.observe(elapsed.as_secs_f64());
    }

    /// A client connection opened (`+1`) or closed (`-1`).
    pub fn connections_changed(&self, by: i64) {
        self.connections.inc_by(by);
    }

    /// An upstream connection opened (`+1`) or closed (`-1`); `reconnect`
    /// when it replaces one that was lost.
    pub fn upstream_changed(&self, by: i64, reconnect: bool) {
        self.upstream_connections.inc_by(by);
        if reconnect {
            self.upstream_reconnects.inc();
        }
    }

    /// The async registry holds `count` requests in `state` (one of
    /// [`REGISTRY_STATES`]; others are ignored).
    pub fn set_registry_size(&self, state: &str, count: usize) {
        if let Some(&state) = REGISTRY_STATES.iter().find(|&&s| s == state) {
            self.registry_size
                .get_or_create(&StateLabels { state })
                .set(count as i64);
        }
    }

    /// A defence fired; `reason` is its fixed text (such as an HTTP/2
    /// connection error's reason), so the label set stays bounded.
    pub fn defence(&self, reason: &'static str) {
        self.defences.get_or_create(&DefenceLabels { reason }).inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        if let Ok(collectors) = self.collectors.lock() {
            for collect in collectors.iter() {
                collect(self);
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's metrics, created on first use.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Longest request head the endpoint reads; scrapers send a few hundred bytes.
const MAX_REQUEST_HEAD: u64 = 8 * 1024;
/// How long a scraper may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `GET /metrics` over plain HTTP/1.1 on `addr` from a thread of its
/// own; other paths get 404. Returns the bound address.
pub fn serve(addr: SocketAddr, metrics: &'static Metrics) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("arkwire-metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = answer(stream, metrics) {
                    log::debug!("metrics request failed: {e}");
                }
            }
        })?;
    Ok(local)
}

fn answer(stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?.take(MAX_REQUEST_HEAD));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The rest of the head, up to the blank line.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next(), parts.next());
    let (status, kind, body) = match (method, path) {
        (Some("GET"), Some("/metrics")) => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

/// Shares one [`Metrics`] between threads that were handed an `Arc`.
pub type Shared = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_outside_the_known_set_count_as_other() {
        assert_eq!(CommandLabel::of("connect").0, "connect");
        assert_eq!(CommandLabel::of("create<int64,1>").0, "create");
        assert_eq!(CommandLabel::of("x".repeat(1000).as_str()).0, "other");
    }

    #[test]
    fn a_call_is_counted_under_its_command_and_code() {
        let m = Metrics::new();
        m.call_started();
        m.call_finished("connect", Code::Ok, Duration::from_millis(3));
        m.call_started();
        m.call_finished("nonsense", Code::NotFound, Duration::from_millis(3));
        let text = m.encode();
        assert!(
            text.contains("arkwire_calls_total{command=\"connect\",code=\"OK\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("arkwire_calls_total{command=\"other\",code=\"NOT_FOUND\"} 1"),
            "{text}"
        );
        assert!(text.contains("arkwire_calls_in_flight 0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
