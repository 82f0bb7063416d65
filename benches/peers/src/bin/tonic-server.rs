//! A tonic server for `/arkouda.Arkouda/HandleRequest` that answers like
//! `arkwire serve`'s built-in backend (the same `builtin::answer` code, so only
//! the transport differs), plus `bytes N`: a reply whose `payload` is N bytes
//! (the large-message download rows, as `arkwire-payload-server` answers it).
//!
//! `tonic-server [--listen ADDR] [--threads N] [--max-message-size BYTES]
//! [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]`
//! prints `tonic-server: listening on ADDR` once serving. One thread (a
//! current_thread runtime) by default, to compare with `arkwire serve --threads 1`.
//!
//! With `--tls-cert`/`--tls-key` (PEM) it speaks TLS (tonic's rustls with
//! ring, ALPN h2), as `arkwire serve --tls-cert/--tls-key` does; with
//! `--tls-client-ca` a client certificate from that CA is required. A
//! certificate or key that cannot be read ends it with a message and exit
//! status 2 before it listens.

use arkwire::arkouda::builtin::{answer, Action};
use arkwire_bench::pb::arkouda_server::{Arkouda, ArkoudaServer};
use arkwire_bench::pb::{ArkoudaRequest, ArkoudaResponse};
use arkwire_bench::{arg, MIB};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic::{Request, Response, Status};

struct Builtin;

#[tonic::async_trait]
impl Arkouda for Builtin {
    async fn handle_request(
        &self,
        request: Request<ArkoudaRequest>,
    ) -> Result<Response<ArkoudaResponse>, Status> {
        let r = request.into_inner();
        if r.cmd == "bytes" {
            return Ok(Response::new(bytes_reply(&r.user, &r.args)?));
        }
        let message = match answer(&r.user, &r.cmd, &r.args) {
            Action::Reply(json) => json,
            Action::Sleep(_, _) => return Err(Status::unimplemented("sleep")),
        };
        Ok(Response::new(ArkoudaResponse {
            message,
            user: Some(r.user),
            cmd: Some(r.cmd),
            ..Default::default()
        }))
    }
}

/// The `bytes N` command of the large-message rows: a reply whose `payload`
/// is N fresh bytes (as `arkwire-payload-server` answers it).
fn bytes_reply(user: &str, args: &str) -> Result<ArkoudaResponse, Status> {
    let n: usize = args
        .trim()
        .parse()
        .map_err(|_| Status::invalid_argument("bytes takes a number"))?;
    Ok(ArkoudaResponse {
        message: arkwire::arkouda::builtin::envelope(
            "payload BINARY_PAYLOAD",
            arkwire::arkouda::MsgType::Normal,
            user,
        ),
        payload: vec![0x5a; n],
        user: Some(user.into()),
        cmd: Some("bytes".into()),
        ..Default::default()
    })
}

/// A PEM file's bytes, or exit status 2 with why.
fn read_pem(flag: &str, path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("tonic-server: {flag} {path}: {e}");
        std::process::exit(2)
    })
}

/// The TLS settings of `--tls-cert`, `--tls-key`, `--tls-client-ca`, if given.
fn tls_config() -> Option<ServerTlsConfig> {
    let cert: String = arg("--tls-cert", String::new());
    let key: String = arg("--tls-key", String::new());
    let client_ca: String = arg("--tls-client-ca", String::new());
    if cert.is_empty() && key.is_empty() {
        return None;
    }
    if cert.is_empty() || key.is_empty() {
        eprintln!("tonic-server: --tls-cert and --tls-key go together");
        std::process::exit(2);
    }
    let identity = Identity::from_pem(read_pem("--tls-cert", &cert), read_pem("--tls-key", &key));
    let mut config = ServerTlsConfig::new().identity(identity);
    if !client_ca.is_empty() {
        config = config.client_ca_root(Certificate::from_pem(read_pem(
            "--tls-client-ca",
            &client_ca,
        )));
    }
    Some(config)
}

fn main() {
    let tls = tls_config();
    let listen: std::net::SocketAddr = arg("--listen", "127.0.0.1:0".parse().unwrap());
    let threads: usize = arg("--threads", 1);
    let limit: usize = arg("--max-message-size", 80 * MIB);
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    rt.block_on(async move {
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).unwrap_or_else(|e| {
                eprintln!("tonic-server: TLS: {e}");
                std::process::exit(2)
            });
        }
        let incoming = TcpIncoming::bind(listen)
            .expect("bind")
            .with_nodelay(Some(true));
        println!(
            "tonic-server: listening on {}",
            incoming.local_addr().expect("local_addr")
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let service = ArkoudaServer::new(Builtin)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        // The same windows as arkwire's defaults: 1 MiB per stream, 16 MiB per connection.
        builder
            .initial_stream_window_size(1u32 << 20)
            .initial_connection_window_size(1u32 << 24)
            .add_service(service)
            .serve_with_incoming(incoming)
            .await
            .expect("serve");
    });
}
