//! The edge–data-center pattern: an edge device sends `handshake`, `normal`,
//! `prep_retraining` and `retraining` requests with a table of readings in
//! `args`; the data-center server handles each in a callback and answers
//! whether the model should be retrained and where the checkpoint is.
//!
//! Run: `cargo run --example edge_datacenter` (server and edge in one process).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arkwire::arkouda::builtin::envelope;
use arkwire::arkouda::{ChannelConfig, MsgType};
use arkwire::net::{ClientConfig, Responder, Server, ServerConfig, Session, SessionOutcome};
use arkwire::proto::{ArkoudaRequest, ArkoudaResponse};

/// Readings above this mean the model has drifted.
const DRIFT_LIMIT: f64 = 0.8;

/// The data center's callback: one decision per request.
fn datacenter(request: ArkoudaRequest, responder: Responder, retrained: &AtomicUsize) {
    let rows: Vec<Vec<f64>> = serde_json::from_str(&request.args).unwrap_or_default();
    let worst = rows.iter().flatten().copied().fold(0.0, f64::max);
    let answer = match request.cmd.as_str() {
        "handshake" => serde_json::json!({"accepted": true, "device": request.user}),
        "normal" => serde_json::json!({"rows": rows.len(), "retrain": worst > DRIFT_LIMIT}),
        "prep_retraining" => serde_json::json!({"ready": true, "rows": rows.len()}),
        "retraining" => {
            let n = retrained.fetch_add(1, Ordering::Relaxed) + 1;
            serde_json::json!({"retrain": false, "checkpoint": format!("/models/{}/ckpt-{n:04}.pt", request.user)})
        }
        other => {
            let msg = envelope(
                &format!("Unrecognized command: {other}"),
                MsgType::Error,
                &request.user,
            );
            return responder.reply(ArkoudaResponse {
                message: msg,
                ..Default::default()
            });
        }
    };
    let message = envelope(&answer.to_string(), MsgType::Normal, &request.user);
    responder.reply(ArkoudaResponse {
        message,
        user: Some(request.user),
        cmd: Some(request.cmd),
        ..Default::default()
    });
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let retrained = Arc::new(AtomicUsize::new(0));
    let counter = retrained.clone();
    let handler = move |req, resp| datacenter(req, resp, &counter);
    let config = ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    };
    let server = Server::bind("127.0.0.1:0".parse()?, Arc::new(handler), config)?;
    println!("data center listening on {}", server.local_addr());

    let channel = ChannelConfig {
        call_timeout: Some(Duration::from_secs(5)),
        ..ChannelConfig::default()
    };
    let mut edge = Session::connect(
        server.local_addr(),
        "edge-7",
        "",
        ClientConfig::default(),
        channel,
    )?;
    let calm = "[[0.1, 0.2], [0.3, 0.2]]";
    let drifting = "[[0.1, 0.95], [0.9, 0.2]]";
    for (cmd, table) in [
        ("handshake", "[]"),
        ("normal", calm),
        ("normal", drifting),
        ("prep_retraining", drifting),
        ("retraining", drifting),
    ] {
        match edge.call(cmd, table)? {
            SessionOutcome::Reply { msg, .. } => println!("{cmd:>15} -> {msg}"),
            other => println!("{cmd:>15} -> {other:?}"),
        }
    }
    assert_eq!(retrained.load(Ordering::Relaxed), 1);
    Ok(())
}
