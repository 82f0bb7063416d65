//! The `arkwire` command line: run an Arkouda gRPC proxy endpoint, call one,
//! and look at the protocol's bytes.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use arkwire::arkouda::clock::{Clock, SystemClock};
use arkwire::arkouda::dispatch::{FairConfig, FairWorkers};
use arkwire::arkouda::owner::OwnerKeys;
use arkwire::arkouda::proxy::{AsyncParts, AsyncProxy, Backend, BuiltinBackend, SyncProxy};
use arkwire::arkouda::registry::{state_keys, write_state_file, Registry, RegistryLimits};
use arkwire::arkouda::route::RouteSpec;
use arkwire::arkouda::RequestIdGenerator;
use arkwire::arkouda::{
    parse_reply, upstream_msg, ChannelConfig, Command as ArkoudaCommand, Pattern, PollConfig,
};
use arkwire::grpc::Options;
use arkwire::net::{
    build_router, CallFailure, Client, ClientConfig, Handler, Server, ServerConfig, ServerTls,
    Session, SessionError, SessionOptions, SessionOutcome, StatusView, UpstreamBackend,
    UpstreamConfig,
};
use arkwire::ops::health::{Health, ServingStatus};
use arkwire::proto::{ArkoudaRequest, ArkoudaRequestRef, ArkoudaResponseRef};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[path = "arkwire/config.rs"]
mod config;

/// Speak the Arkouda gRPC proxy protocol.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Log lines as text, or as one JSON object each.
    #[arg(long, value_enum, default_value_t = LogFormat::Lines, global = true, env = "ARKWIRE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve arkouda.Arkouda/HandleRequest from the built-in backend, or forward to arkouda_server.
    Serve(ServeArgs),
    /// Send one command to an Arkouda gRPC proxy and print the reply.
    Call(CallArgs),
    /// Ask an asynchronous proxy where a submitted request stands.
    Status {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        who: Identity,
        /// The request id `call --mode async` printed.
        id: String,
    },
    /// Print the protobuf bytes of an ArkoudaRequest as hex.
    Encode {
        #[command(flatten)]
        who: Identity,
        /// Argument format.
        #[arg(long, default_value = "STRING")]
        format: String,
        /// Size hint; Arkouda clients send -1.
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        size: i32,
        /// Command, such as `connect`.
        cmd: String,
        /// Arguments of the command.
        #[arg(default_value = "")]
        args: String,
    },
    /// Decode hex protobuf bytes of an ArkoudaRequest or ArkoudaResponse.
    Decode {
        /// Treat the bytes as an ArkoudaResponse (default: ArkoudaRequest).
        #[arg(long)]
        response: bool,
        /// The message as hex; whitespace is ignored.
        hex: Vec<String>,
    },
}

/// Who is calling.
#[derive(clap::Args, Clone)]
struct Identity {
    /// Arkouda user name.
    #[arg(long, default_value = "arkouda")]
    user: String,
    /// Session token. On a shared machine prefer `ARKWIRE_TOKEN` or
    /// `--token-file`: a command line is visible to every user in `ps`.
    #[arg(
        long,
        env = "ARKWIRE_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    token: String,
    /// Read the session token from this file (its first line).
    #[arg(long, conflicts_with = "token")]
    token_file: Option<std::path::PathBuf>,
}

impl Identity {
    /// The token from `--token-file` when given, else `--token`/`ARKWIRE_TOKEN`.
    fn resolve(mut self) -> Result<Self, String> {
        if let Some(path) = self.token_file.take() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
            self.token = text.lines().next().unwrap_or("").trim().to_string();
        }
        Ok(self)
    }
}

/// A timeout in milliseconds: at least 1.
fn timeout_ms(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => {
            Err("must be at least 1 millisecond (0 would give up before anything is sent)".into())
        }
        Ok(ms) => Ok(ms),
        Err(_) => Err(format!("{text:?} is not a number of milliseconds")),
    }
}

/// Which proxy, and how long to wait for it.
#[derive(clap::Args, Clone)]
struct Target {
    /// The proxy's address, `host:port` (an `http://` prefix is accepted).
    #[arg(long, default_value = "127.0.0.1:50053")]
    url: String,
    /// Give up after this many milliseconds (at least 1).
    #[arg(long, default_value_t = 30_000, value_parser = timeout_ms)]
    timeout_ms: u64,
    /// Speak TLS (ALPN h2) to the proxy.
    #[arg(long)]
    tls: bool,
    /// Trust the CAs in this PEM file (default: `SSL_CERT_FILE`, else the
    /// system bundle).
    #[arg(long, value_name = "FILE", requires = "tls")]
    ca: Option<std::path::PathBuf>,
    /// Present this PEM client certificate chain (mutual TLS).
    #[arg(long, value_name = "FILE", requires_all = ["tls", "key"])]
    cert: Option<std::path::PathBuf>,
    /// The PEM private key of `--cert`.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<std::path::PathBuf>,
    /// The name the proxy's certificate must carry (default: the host of `--url`).
    #[arg(long, value_name = "NAME", requires = "tls")]
    server_name: Option<String>,
}

/// Where a TLS client finds CA roots when `--ca` is not given.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

impl Target {
    /// The TLS session starter of `--tls`, or None.
    fn connector(&self) -> Result<Option<Arc<arkwire::tls::Connector>>, String> {
        if !self.tls {
            return Ok(None);
        }
        let ca = match &self.ca {
            Some(path) => path.clone(),
            None => std::env::var_os("SSL_CERT_FILE")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    SYSTEM_CA_BUNDLES
                        .iter()
                        .map(std::path::PathBuf::from)
                        .find(|p| p.exists())
                })
                .ok_or("--tls: no CA roots; give --ca FILE")?,
        };
        let roots = std::fs::read(&ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => host_of(&self.url),
        };
        let mut config = arkwire::tls::ClientConfig::new(&roots, &name)
            .map_err(|e| format!("--ca {}: {e}", ca.display()))?;
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            let credentials = arkwire::tls::Credentials::from_pem_files(cert, key)
                .map_err(|e| format!("--cert/--key: {e}"))?;
            config = config.with_credentials(credentials);
        }
        arkwire::tls::Connector::new(&config)
            .map(|c| Some(Arc::new(c)))
            .map_err(|e| format!("TLS: {e}"))
    }
}

/// The host of a `host:port` address (brackets of an IPv6 address removed).
fn host_of(url: &str) -> String {
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("grpc://"))
        .unwrap_or(url)
        .trim_end_matches('/');
    let host = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Lines,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ServeMode {
    Sync,
    Async,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum CallMode {
    Blocking,
    Polling,
    Async,
}

fn parse_hex(parts: &[String]) -> Result<Vec<u8>, String> {
    let digits: String = parts
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err("hex input has an odd number of digits".into());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| format!("not hex: {:?}", &digits[i..i + 2]))
        })
        .collect()
}

/// `arkwire serve` options.
#[derive(clap::Args)]
struct ServeArgs {
    /// Read options from this TOML file (keys are the long option names);
    /// the environment (`ARKWIRE_<OPTION>`) and the command line override it.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Print the effective configuration as TOML (secrets redacted) and exit.
    #[arg(long)]
    print_config: bool,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:50053")]
    listen: SocketAddr,
    /// Largest request or reply message in bytes, binary payloads aside.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    max_message_size: usize,
    /// Bytes of received messages all connections may hold together; past
    /// it calls get RESOURCE_EXHAUSTED. Never below one message.
    #[arg(long, default_value_t = 128 * 1024 * 1024)]
    memory_budget: usize,
    /// Largest binary payload (an array) in bytes, each way; at most 2 GiB.
    #[arg(long, default_value_t = upstream_msg::DEFAULT_MAX_BINARY_SIZE,
          value_parser = parse_binary_size)]
    max_binary_size: usize,
    /// Event loops (threads); default: one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// `sync` answers each call with its result; `async` answers SUBMITTED
    /// and serves results through `getrequeststatus`.
    #[arg(long, value_enum, default_value_t = ServeMode::Sync)]
    mode: ServeMode,
    /// Worker threads running commands.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Workers one user (user name and token) may occupy at once; default
    /// one less than `--workers`, at least 1.
    #[arg(long)]
    user_workers: Option<usize>,
    /// Async mode: requests the registry holds at once.
    #[arg(long, default_value_t = 1024)]
    registry_capacity: usize,
    /// Async mode: requests one user may hold; default a quarter of the capacity.
    #[arg(long)]
    user_entries: Option<usize>,
    /// Async mode: bytes of results the registry holds at once.
    #[arg(long, default_value_t = 256 << 20)]
    result_bytes: usize,
    /// Async mode: bytes of results one user may hold; default a quarter of `--result-bytes`.
    #[arg(long)]
    user_result_bytes: Option<usize>,
    /// Async mode: how long a result stays fetchable after its first read.
    #[arg(long, default_value_t = 60_000)]
    result_grace_ms: u64,
    /// Async mode: how long a result nobody read is kept.
    #[arg(long, default_value_t = 3_600_000)]
    result_max_age_ms: u64,
    /// Forward to arkouda_server's ZeroMQ socket (`tcp://HOST:5555`)
    /// instead of answering from the built-in backend; with `--route`, the
    /// default route (users no route names).
    #[arg(long, env = "ARKWIRE_UPSTREAM")]
    upstream: Option<String>,
    /// Route a user, or users matching a glob (`*`, `?`), to their own
    /// arkouda_server: `USER=tcp://HOST:PORT`, optionally followed by
    /// `,pool=N`, `,timeout-ms=N`, `,max-inflight=N` overriding the
    /// `--upstream-*` flags for that route. Repeatable; exact names win,
    /// then patterns in the order given, then `--upstream`.
    #[arg(long, value_name = "USER=tcp://HOST:PORT")]
    route: Vec<RouteSpec>,
    /// Persistent connections to the upstream (each route has its own pool).
    #[arg(long, default_value_t = 4)]
    upstream_pool: usize,
    /// Deadline of a forwarded call whose client sent none.
    #[arg(long, default_value_t = 60_000)]
    upstream_timeout_ms: u64,
    /// ZMTP heartbeat (PING) on an upstream connection after this many
    /// milliseconds without input from arkouda_server; 0: none.
    #[arg(long, default_value_t = 10_000)]
    upstream_heartbeat_ms: u64,
    /// How long arkouda_server has to answer a heartbeat before its
    /// connection is dropped (and the call on it fails UNAVAILABLE).
    #[arg(long, default_value_t = 30_000, value_parser = timeout_ms)]
    upstream_heartbeat_timeout_ms: u64,
    /// How often the upstream is checked for the health service (NOT_SERVING
    /// while it cannot be reached).
    #[arg(long, default_value_t = 5_000, value_parser = timeout_ms)]
    health_check_ms: u64,
    /// On SIGTERM or SIGINT, how long calls in progress have to finish
    /// before they are cancelled with UNAVAILABLE (a second signal exits at once).
    #[arg(long, default_value_t = 30_000)]
    shutdown_grace_ms: u64,
    /// Async mode: write unfetched results here on shutdown and load them at
    /// start (mode 0600; the key naming owners is kept in FILE.key).
    #[arg(long, value_name = "FILE")]
    state_file: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (off by default).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Close a client connection with no call in progress after this many
    /// milliseconds without a byte.
    #[arg(long, default_value_t = 300_000, value_parser = timeout_ms)]
    idle_timeout_ms: u64,
    /// TCP keepalive on client connections: first probe after this many
    /// milliseconds of silence (at least 1 s), a dead peer found after about
    /// twice it; 0: off.
    #[arg(long, default_value_t = 60_000)]
    tcp_keepalive_ms: u64,
    /// HTTP/2 keepalive: after this many milliseconds without a byte from a
    /// client, a PING goes out; 0: none.
    #[arg(long, default_value_t = 60_000)]
    keepalive_ms: u64,
    /// How long a client has to answer the keepalive PING before its
    /// connection is closed.
    #[arg(long, default_value_t = 20_000, value_parser = timeout_ms)]
    keepalive_timeout_ms: u64,
    /// Calls in flight at once to one arkouda_server, across every event
    /// loop and every route to its address; more wait within their deadline.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    upstream_max_inflight: u32,
    /// Least time between connection attempts to an upstream once one
    /// failed; doubles with each failure up to `--upstream-max-backoff-ms`.
    #[arg(long, default_value_t = 100)]
    upstream_backoff_ms: u64,
    /// Longest time between connection attempts to a failing upstream.
    #[arg(long, default_value_t = 5_000)]
    upstream_max_backoff_ms: u64,
    /// Serve TLS (1.2 and 1.3, ALPN h2) with this PEM certificate chain;
    /// re-read with `--tls-key` and `--tls-client-ca` on SIGHUP (new
    /// connections get the new certificate, open ones keep theirs).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Require a client certificate signed by a CA in this PEM file (mutual
    /// TLS); its verified name is handed to the service.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<std::path::PathBuf>,
    /// Refuse (PERMISSION_DENIED) a request whose `user` is not the name in
    /// the client certificate: the user name is then proven, not claimed.
    #[arg(long, requires = "tls_client_ca")]
    tls_require_user_match: bool,
}

fn parse_binary_size(text: &str) -> Result<usize, String> {
    let n: usize = text.parse().map_err(|e| format!("{e}"))?;
    if n > upstream_msg::MAX_BINARY_SIZE_LIMIT {
        return Err(format!(
            "at most {} bytes (2 GiB)",
            upstream_msg::MAX_BINARY_SIZE_LIMIT
        ));
    }
    Ok(n)
}

/// The async registry, shared with the shutdown that saves it.
type SharedRegistry = Arc<std::sync::Mutex<Registry>>;

/// The proxy for `--mode`, in front of `backend`, and in async mode its
/// registry (loaded from `--state-file` when there is one); `workers` threads run
/// its commands.
fn proxy<B: Backend>(
    backend: B,
    a: &ServeArgs,
    workers: usize,
) -> Result<(Arc<dyn Handler>, Option<SharedRegistry>), String> {
    let mut dispatch = FairConfig::new(workers);
    if let Some(n) = a.user_workers {
        dispatch.per_owner = n.max(1);
    }
    Ok(match a.mode {
        ServeMode::Sync => (Arc::new(SyncProxy::with_dispatch(backend, dispatch)), None),
        ServeMode::Async => {
            let mut registry = RegistryLimits::new(a.registry_capacity);
            if let Some(n) = a.user_entries {
                registry.per_owner_entries = n;
            }
            registry.result_bytes = a.result_bytes;
            registry.per_owner_result_bytes = a.user_result_bytes.unwrap_or(a.result_bytes / 4);
            registry.result_grace = Duration::from_millis(a.result_grace_ms);
            registry.result_max_age = Duration::from_millis(a.result_max_age_ms);
            let owners = match &a.state_file {
                Some(path) => state_keys(path)?,
                None => OwnerKeys::from_os().map_err(|e| e.to_string())?,
            };
            let parts = AsyncParts {
                workers: FairWorkers::new(dispatch),
                clock: Arc::new(SystemClock),
                ids: RequestIdGenerator::from_os().map_err(|e| e.to_string())?,
                owners,
            };
            let proxy = AsyncProxy::with_parts(backend, registry, parts);
            let shared = proxy.registry();
            if let Some(path) = &a.state_file {
                load_state(path, &shared)?;
            }
            (Arc::new(proxy), Some(shared))
        }
    })
}

/// Loads `--state-file` into the registry, when the file exists.
fn load_state(path: &std::path::Path, registry: &SharedRegistry) -> Result<(), String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    let loaded = reg
        .load(&bytes, SystemClock.now())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    log::info!(
        "loaded {} request(s) from {} ({} expired or past the limits)",
        loaded.kept,
        path.display(),
        loaded.dropped
    );
    Ok(())
}

/// After a drain: lets the async work still queued or running finish until
/// `deadline`, then writes the registry to `path`.
fn save_state(
    path: &std::path::Path,
    registry: &SharedRegistry,
    deadline: std::time::Instant,
) -> Result<(), String> {
    let lock = || registry.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let counts = lock().counts();
        if counts[0] + counts[1] == 0 || std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (bytes, held) = {
        let reg = lock();
        (reg.save(SystemClock.now()), reg.len())
    };
    write_state_file(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    log::info!("saved {held} request(s) to {}", path.display());
    Ok(())
}

/// Sets `health` from whether the upstream can be reached, every `every`.
fn watch_upstream(upstream: Arc<UpstreamBackend>, health: &'static Health, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("arkwire-health".into())
        .spawn(move || {
            let mut was = None;
            loop {
                // The first check waits one period too: at start the first
                // calls try the upstream anyway, and two attempts at once
                // would slip past the throttle, which only knows of failures.
                std::thread::sleep(every);
                let result =
                    upstream.check(std::time::Instant::now() + every.min(Duration::from_secs(5)));
                let ok = result.is_ok();
                health.set(if ok {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                });
                if was != Some(ok) {
                    match result {
                        Ok(()) => log::info!("upstream reachable: health SERVING"),
                        Err(why) => log::warn!("health NOT_SERVING: {why}"),
                    }
                    was = Some(ok);
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the upstream health check: {e}");
    }
}

fn serve(a: ServeArgs) -> Result<(), String> {
    let (listen, max_message_size, threads) = (a.listen, a.max_message_size, a.threads);
    let metrics_addr = a.metrics;
    let a_max_binary_size = a.max_binary_size;
    // Signals are caught before anything is served, so a SIGTERM that
    // comes as soon as the port is announced drains rather than kills.
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(|e| format!("cannot catch signals: {e}"))?;
    let health: &'static Health = Box::leak(Box::new(Health::new(ServingStatus::Serving)));
    let metrics = arkwire::metrics::global();
    let mut config = ServerConfig {
        options: Options {
            // A message is its text fields and at most one binary payload;
            // the payload alone is checked against --max-binary-size.
            max_message_size: max_message_size.saturating_add(a.max_binary_size),
            ..Options::default()
        },
        idle_timeout: Duration::from_millis(a.idle_timeout_ms),
        tcp_keepalive: (a.tcp_keepalive_ms > 0).then(|| Duration::from_millis(a.tcp_keepalive_ms)),
        service: arkwire::arkouda::service::ServiceOptions {
            keepalive_interval: (a.keepalive_ms > 0).then(|| Duration::from_millis(a.keepalive_ms)),
            keepalive_timeout: Duration::from_millis(a.keepalive_timeout_ms),
            // A request that cannot pass through in parts is held whole
            // only within the text limit; the async proxy, which keeps
            // whole results, takes whole binary requests too.
            max_assembled: match a.mode {
                ServeMode::Sync => max_message_size,
                ServeMode::Async => max_message_size.saturating_add(a.max_binary_size),
            },
            ..Default::default()
        },
        metrics: Some(metrics),
        health: Some(health),
        ..ServerConfig::default()
    };
    if let Some(t) = threads {
        config.threads = t.max(1);
    }
    // The process-wide budget for received messages holds at least one.
    // Binary payloads larger than ServiceOptions::stream_above pass through
    // in parts and are never held whole, so one message is its text.
    let one_message = max_message_size.saturating_add(5);
    arkwire::net::BODY_BUDGET.set_limit(a.memory_budget.max(one_message));
    let (grace, state_file) = (
        Duration::from_millis(a.shutdown_grace_ms),
        a.state_file.clone(),
    );
    if state_file.is_some() && a.mode != ServeMode::Async {
        log::warn!("--state-file is kept only in async mode; ignored");
    }
    let (handler, registry) = if a.upstream.is_some() || !a.route.is_empty() {
        let mut base = UpstreamConfig::new("");
        base.pool_size = a.upstream_pool.max(1);
        base.default_deadline = Duration::from_millis(a.upstream_timeout_ms);
        base.max_binary_size = a.max_binary_size;
        base.zmtp.max_message_size = a.max_binary_size.max(max_message_size);
        base.zmtp.heartbeat_interval =
            (a.upstream_heartbeat_ms > 0).then(|| Duration::from_millis(a.upstream_heartbeat_ms));
        base.zmtp.heartbeat_timeout = Duration::from_millis(a.upstream_heartbeat_timeout_ms);
        base.max_inflight = a.upstream_max_inflight as usize;
        base.initial_backoff = Duration::from_millis(a.upstream_backoff_ms);
        base.max_backoff = Duration::from_millis(a.upstream_max_backoff_ms);
        // Each route has its own dispatcher (and, in async mode, registry);
        // each forwarded call holds one of its workers while it waits.
        let mut registries = Vec::new();
        let mut backends = Vec::new();
        let router = build_router(&base, a.upstream.as_deref(), &a.route, |backend| {
            let workers = a.workers.max(backend.config().pool_size);
            backends.push(backend.clone());
            let (handler, registry) = proxy(backend, &a, workers)?;
            registries.extend(registry);
            Ok(handler)
        })?;
        for route in router.health() {
            let address = route.address.unwrap_or_default();
            log::info!(
                "forwarding to arkouda_server at {address} (route {:?})",
                route.name
            );
        }
        if state_file.is_some() && registries.len() > 1 {
            return Err(
                "--state-file keeps one registry; with --route every route has its own \
                 (run one proxy per route to keep async state across restarts)"
                    .into(),
            );
        }
        // Overall health follows the default route (the last one built), as
        // the health service reports the server as a whole.
        if let (Some(_), Some(default)) = (&a.upstream, backends.last()) {
            watch_upstream(
                default.clone(),
                health,
                Duration::from_millis(a.health_check_ms),
            );
        }
        let router: Arc<dyn Handler> = Arc::new(router);
        (router, registries.pop())
    } else {
        proxy(BuiltinBackend, &a, a.workers)?
    };
    if let Some(registry) = &registry {
        let registry = registry.clone();
        metrics.on_encode(Box::new(move |m| {
            let counts = registry.lock().unwrap_or_else(|p| p.into_inner()).counts();
            for (state, n) in arkwire::metrics::REGISTRY_STATES.iter().zip(counts) {
                m.set_registry_size(state, n);
            }
        }));
    }
    let handler = Arc::new(upstream_msg::Limited {
        inner: handler,
        max_message_size,
        max_binary_size: a_max_binary_size,
    });
    let (tls, reload) = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => {
            let files = (cert.clone(), key.clone(), a.tls_client_ca.clone());
            let load = move || {
                arkwire::tls::ServerConfig::from_pem_files(&files.0, &files.1, files.2.as_deref())
            };
            let acceptor = arkwire::tls::Acceptor::new(&load().map_err(|e| format!("TLS: {e}"))?)
                .map_err(|e| format!("TLS: {e}"))?;
            let acceptor = Arc::new(acceptor);
            let reloading = acceptor.clone();
            let reload: Reload = Box::new(move || {
                let config = load()?;
                reloading.reload(&config)
            });
            let mutual = if a.tls_client_ca.is_some() {
                ", client certificates required"
            } else {
                ""
            };
            log::info!("serving TLS with {}{mutual}", cert.display());
            let tls = ServerTls {
                acceptor,
                require_user_match: a.tls_require_user_match,
            };
            (Some(tls), Some(reload))
        }
        _ => (None, None),
    };
    let bound = match tls {
        Some(tls) => Server::bind_tls(listen, handler, config, tls),
        None => Server::bind(listen, handler, config),
    };
    let server = bound.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => format!("{listen} is already in use"),
        _ => format!("cannot listen on {listen}: {e}"),
    })?;
    if let Some(addr) = metrics_addr {
        let bound = arkwire::metrics::serve(addr, metrics)
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        log::info!("metrics at http://{bound}/metrics");
    }
    let shutdown = server.shutdown_handle();
    on_signals(signals, shutdown.clone(), grace, reload)?;
    println!("arkwire: listening on {}", server.local_addr());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    server.wait();
    if let (Some(path), Some(registry)) = (&state_file, &registry) {
        let deadline = shutdown.deadline().unwrap_or_else(std::time::Instant::now);
        save_state(path, registry, deadline)?;
    }
    log::info!("drained; exiting");
    Ok(())
}

/// Re-reads the TLS certificate, key and client CA (SIGHUP).
type Reload = Box<dyn Fn() -> Result<(), arkwire::tls::ConfigError> + Send>;

/// The first SIGTERM or SIGINT starts the drain; a second one exits at
/// once. SIGHUP reloads the TLS files; a set that fails to load is logged
/// and the one in use stays.
fn on_signals(
    mut signals: signal_hook::iterator::Signals,
    shutdown: arkwire::net::Shutdown,
    grace: Duration,
    reload: Option<Reload>,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name("arkwire-signals".into())
        .spawn(move || {
            let mut draining = false;
            for signal in signals.forever() {
                if signal == signal_hook::consts::SIGHUP {
                    match &reload {
                        Some(reload) => match reload() {
                            Ok(()) => log::warn!(
                                "SIGHUP: TLS certificate reloaded; new connections use it"
                            ),
                            Err(e) => {
                                log::error!("SIGHUP: TLS reload failed, keeping the old one: {e}")
                            }
                        },
                        None => log::info!("SIGHUP: nothing to reload (no TLS)"),
                    }
                    continue;
                }
                if draining {
                    eprintln!("arkwire: second signal ({signal}): exiting at once");
                    std::process::exit(1);
                }
                draining = true;
                log::warn!(
                    "signal {signal}: draining, {} ms for the calls in progress; \
                     a second signal exits at once",
                    grace.as_millis()
                );
                shutdown.start(grace);
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the signal thread: {e}"))
}

fn resolve(url: &str) -> Result<SocketAddr, String> {
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("grpc://"))
        .unwrap_or(url)
        .trim_end_matches('/');
    host.to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))
}

/// `arkwire call` options.
#[derive(clap::Args)]
struct CallArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    who: Identity,
    /// Print the whole reply as JSON.
    #[arg(long)]
    json: bool,
    /// Largest reply message in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    max_message_size: usize,
    /// `blocking`: one call; `polling`: submit then poll for the result;
    /// `async`: submit and print the request id.
    #[arg(long, value_enum, default_value_t = CallMode::Blocking)]
    mode: CallMode,
    /// Send this file's bytes as the command's binary payload (format BINARY,
    /// as Arkouda's `send_binary_message`).
    #[arg(long, value_name = "FILE")]
    payload_file: Option<std::path::PathBuf>,
    /// Expect a binary reply (Arkouda's `recv_binary`); its bytes go to
    /// `--out`, or to standard output.
    #[arg(long)]
    recv_binary: bool,
    /// Where a binary reply's bytes go.
    #[arg(long, value_name = "FILE", requires = "recv_binary")]
    out: Option<std::path::PathBuf>,
    /// Arkouda's argument count (`size`).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    size: i32,
    /// Largest binary payload in bytes, each way.
    #[arg(long, default_value_t = upstream_msg::DEFAULT_MAX_BINARY_SIZE,
          value_parser = parse_binary_size)]
    max_binary_size: usize,
    /// The command, such as `connect`.
    cmd: String,
    /// Its arguments.
    #[arg(default_value = "")]
    args: String,
}

fn session(target: &Target, who: &Identity, max_message_size: usize) -> Result<Session, String> {
    let addr = resolve(&target.url)?;
    let timeout = Duration::from_millis(target.timeout_ms);
    let config = ClientConfig {
        options: Options {
            max_message_size,
            ..Options::default()
        },
        connect_timeout: timeout.min(Duration::from_secs(10)),
    };
    let channel = ChannelConfig {
        call_timeout: Some(timeout),
        poll: PollConfig {
            deadline: timeout,
            ..PollConfig::default()
        },
        ordered: true,
    };
    let connected = match target.connector()? {
        Some(tls) => Session::connect_tls(
            addr,
            &who.user,
            &who.token,
            config,
            channel,
            SessionOptions::default(),
            tls,
        ),
        None => Session::connect(addr, &who.user, &who.token, config, channel),
    };
    connected.map_err(|e| format!("cannot connect to {addr}: {e}"))
}

fn failed(e: SessionError) -> String {
    match e {
        SessionError::Arkouda(msg) => format!("Arkouda error: {msg}"),
        other => format!("call failed: {other}"),
    }
}

/// `arkwire call` through the call patterns (a blocking call that an
/// asynchronous proxy answers SUBMITTED is followed up by polling).
fn call_session(a: &CallArgs) -> Result<(), String> {
    let mut s = session(
        &a.target,
        &a.who,
        a.max_message_size.saturating_add(a.max_binary_size),
    )?;
    if a.payload_file.is_some() || a.recv_binary || a.size != -1 {
        return call_binary(a, &mut s);
    }
    if a.mode == CallMode::Async {
        let id = s.submit(&a.cmd, &a.args).map_err(failed)?;
        println!("{id}");
        return Ok(());
    }
    let outcome = match a.mode {
        CallMode::Polling => s.call_polling(&a.cmd, &a.args),
        _ => s.call(&a.cmd, &a.args),
    };
    match outcome.map_err(failed)? {
        SessionOutcome::Reply { msg, warning } => {
            if warning {
                eprintln!("arkwire: Arkouda warning");
            }
            println!("{msg}");
            Ok(())
        }
        other => Err(format!("unexpected outcome {other:?}")),
    }
}

/// `arkwire call` with a payload, a binary reply or a size.
fn call_binary(a: &CallArgs, s: &mut Session) -> Result<(), String> {
    let payload = match &a.payload_file {
        Some(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    let pattern = match a.mode {
        CallMode::Blocking => Pattern::Blocking,
        CallMode::Polling => Pattern::Polling,
        CallMode::Async => {
            return Err("--mode async cannot carry a payload or a binary reply".into())
        }
    };
    let command = ArkoudaCommand {
        cmd: &a.cmd,
        args: &a.args,
        size: a.size,
        payload: &payload,
        recv_binary: a.recv_binary,
    };
    match s.command(pattern, &command).map_err(failed)? {
        SessionOutcome::Binary(bytes) => match &a.out {
            Some(path) => {
                std::fs::write(path, &bytes)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                eprintln!("arkwire: {} bytes to {}", bytes.len(), path.display());
                Ok(())
            }
            None => {
                use std::io::Write;
                std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| format!("cannot write the reply: {e}"))
            }
        },
        SessionOutcome::Reply { msg, warning } => {
            if warning {
                eprintln!("arkwire: Arkouda warning");
            }
            println!("{msg}");
            Ok(())
        }
        other => Err(format!("unexpected outcome {other:?}")),
    }
}

fn status(target: &Target, who: &Identity, id: &str) -> Result<(), String> {
    let mut s = session(target, who, 4 * 1024 * 1024)?;
    match s.status(id).map_err(failed)? {
        StatusView::Finished { msg, error: false } => println!("FINISHED {msg}"),
        StatusView::Finished { msg, error: true } => return Err(format!("Arkouda error: {msg}")),
        StatusView::Failed => return Err("request FAILED".into()),
        other => println!("{}", format!("{other:?}").to_uppercase()),
    }
    Ok(())
}

fn call(a: CallArgs) -> Result<(), String> {
    if !a.json {
        return call_session(&a);
    }
    let addr = resolve(&a.target.url)?;
    let timeout = Duration::from_millis(a.target.timeout_ms);
    let config = ClientConfig {
        options: Options {
            max_message_size: a.max_message_size,
            ..Options::default()
        },
        connect_timeout: timeout.min(Duration::from_secs(10)),
    };
    let connected = match a.target.connector()? {
        Some(tls) => Client::connect_tls(addr, config, tls),
        None => Client::connect(addr, config),
    };
    let mut client = connected.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let request = ArkoudaRequest {
        user: a.who.user,
        token: a.who.token,
        cmd: a.cmd,
        format: "STRING".into(),
        size: -1,
        args: a.args,
        request_id: None,
        ..Default::default()
    };
    let response = client.call(&request, Some(timeout)).map_err(|e| match e {
        CallFailure::Status { code, message } if message.is_empty() => {
            format!("call failed: {code}")
        }
        CallFailure::Status { code, message } => format!("call failed: {code}: {message}"),
        other => format!("call failed: {other}"),
    })?;
    // --json: the whole ArkoudaResponse, for machines.
    let value = serde_json::json!({
        "message": response.message,
        "request_id": response.request_id,
        "request_status": response.request_status,
        "user": response.user,
        "cmd": response.cmd,
        "args": response.args,
    });
    println!("{value}");
    Ok(())
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(a) => serve(a),
        Command::Status { target, who, id } => status(&target, &who.resolve()?, &id),
        Command::Call(mut a) => {
            a.who = a.who.resolve()?;
            call(a)
        }
        Command::Encode {
            who,
            format,
            size,
            cmd,
            args,
        } => {
            let who = who.resolve()?;
            let req = ArkoudaRequestRef {
                user: &who.user,
                token: &who.token,
                cmd: &cmd,
                format: &format,
                size,
                args: &args,
                request_id: None,
                ..Default::default()
            };
            let mut out = Vec::with_capacity(req.encoded_len());
            req.encode(&mut out).map_err(|e| e.to_string())?;
            let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
            println!("{hex}");
            Ok(())
        }
        Command::Decode { response, hex } => {
            let bytes = parse_hex(&hex)?;
            if response {
                let resp = ArkoudaResponseRef::decode(&bytes).map_err(|e| e.to_string())?;
                println!("{resp:#?}");
                if let Ok(reply) = parse_reply(resp.message.as_bytes()) {
                    println!("{reply:#?}");
                }
            } else {
                let req = ArkoudaRequestRef::decode(&bytes).map_err(|e| e.to_string())?;
                println!("{req:#?}");
            }
            Ok(())
        }
    }
}

/// Parses the command line over the environment and a config file.
fn parse() -> Result<(Cli, Option<String>), String> {
    let cmd = config::with_env(Cli::command());
    let layered = config::layered(&cmd, std::env::args_os().collect())?;
    let matches = cmd
        .clone()
        .try_get_matches_from(layered.argv)
        .unwrap_or_else(|e| e.exit());
    let printed = match matches.subcommand() {
        Some(("serve", serve)) if serve.get_flag("print_config") => {
            let serve_cmd = cmd.find_subcommand("serve").ok_or("no serve subcommand")?;
            Some(config::print(serve_cmd, serve, &layered.from_file))
        }
        _ => None,
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    Ok((cli, printed))
}

/// Copies a log record's structured fields into a JSON object; the fixed
/// keys (`ts`, `level`, `target`, `msg`) are not overwritten.
struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let value = match value.to_u64() {
            Some(n) => serde_json::Value::from(n),
            None => serde_json::Value::from(value.to_string()),
        };
        self.0.entry(key.as_str().to_string()).or_insert(value);
        Ok(())
    }
}

fn init_logging(verbose: u8, format: LogFormat) {
    let level = match verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level);
    if format == LogFormat::Json {
        use std::io::Write;
        builder.format(|out, record| {
            let mut line = serde_json::json!({
                "ts": std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                "level": record.level().as_str(),
                "target": record.target(),
                "msg": record.args().to_string(),
            });
            // Structured fields (a call's user, cmd, status, duration_ms)
            // become keys of their own.
            if let Some(object) = line.as_object_mut() {
                let _ = record.key_values().visit(&mut JsonFields(object));
            }
            writeln!(out, "{line}")
        });
    }
    builder.init();
}

fn main() -> ExitCode {
    let (cli, printed) = match parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("arkwire: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(text) = printed {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    init_logging(cli.verbose, cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arkwire: {e}");
            ExitCode::FAILURE
        }
    }
}
