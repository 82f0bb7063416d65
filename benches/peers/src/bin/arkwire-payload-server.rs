//! The arkwire side of the large-message rows: `net::Server` (the same event
//! loop `arkwire serve` runs) with a handler that answers `bytes N` with a
//! reply whose `payload` is N fresh bytes, and everything else (`noop` with a
//! binary payload included) as the built-in backend does
//! (`builtin::answer`), inline on the loop as `tonic-server` answers.
//! Requests are assembled whole (`stream_above` off), as tonic does.
//! `arkwire serve` without an upstream has no command that returns a binary
//! payload, and its built-in backend refuses payloads above 1 MiB
//! (RESOURCE_EXHAUSTED: it stores no arrays), hence this bin.
//!
//! `arkwire-payload-server [--listen ADDR] [--threads N] [--max-message-size BYTES]`
//! prints `arkwire-payload-server: listening on ADDR` once serving, then
//! serves until killed.

use std::sync::Arc;

use arkwire::arkouda::builtin::{answer, envelope, Action};
use arkwire::arkouda::service::{Responder, ServiceOptions};
use arkwire::arkouda::MsgType;
use arkwire::grpc::{Code, Options};
use arkwire::net::{Server, ServerConfig};
use arkwire::proto::{ArkoudaRequest, ArkoudaResponse};
use arkwire_bench::{arg, MIB};

fn handle(r: ArkoudaRequest, responder: Responder) {
    if r.cmd == "bytes" {
        let Ok(n) = r.args.trim().parse::<usize>() else {
            return responder.error(Code::InvalidArgument, "bytes takes a number");
        };
        return responder.reply(ArkoudaResponse {
            message: envelope("payload BINARY_PAYLOAD", MsgType::Normal, &r.user),
            payload: vec![0x5a; n],
            user: Some(r.user),
            cmd: Some(r.cmd),
            ..Default::default()
        });
    }
    match answer(&r.user, &r.cmd, &r.args) {
        Action::Reply(message) => responder.reply(ArkoudaResponse {
            message,
            user: Some(r.user),
            cmd: Some(r.cmd),
            ..Default::default()
        }),
        Action::Sleep(_, _) => responder.error(Code::Unimplemented, "sleep"),
    }
}

fn main() {
    let listen: std::net::SocketAddr = arg("--listen", "127.0.0.1:0".parse().unwrap());
    let threads: usize = arg("--threads", 1);
    let limit: usize = arg("--max-message-size", 80 * MIB);
    let config = ServerConfig {
        options: Options {
            max_message_size: limit,
            ..Options::default()
        },
        threads,
        // Requests are assembled whole before the handler sees them, as
        // tonic does: no payload is streamed to the handler in parts.
        service: ServiceOptions {
            stream_above: usize::MAX,
            ..ServiceOptions::default()
        },
        ..ServerConfig::default()
    };
    // As `arkwire serve` does: the budget for received messages holds one.
    arkwire::net::BODY_BUDGET.set_limit((128 * MIB).max(limit.saturating_add(5)));
    let server = Server::bind(listen, Arc::new(handle), config).expect("bind");
    println!(
        "arkwire-payload-server: listening on {}",
        server.local_addr()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    server.wait();
}
