//! The `arkwire` command line: run an Arkouda gRPC proxy endpoint, call one,
//! and look at the protocol's bytes.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use arkwire::arkouda::builtin::{self, Action};
use arkwire::arkouda::{parse_reply, MsgType};
use arkwire::grpc::Options;
use arkwire::net::{CallFailure, Client, ClientConfig, Responder, Server, ServerConfig};
use arkwire::proto::{ArkoudaRequest, ArkoudaRequestRef, ArkoudaResponse, ArkoudaResponseRef};
use clap::{Parser, Subcommand};

/// Speak the Arkouda gRPC proxy protocol.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve arkouda.Arkouda/HandleRequest, answering from the built-in backend.
    Serve {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:50053")]
        listen: SocketAddr,
        /// Largest request or reply message in bytes.
        #[arg(long, default_value_t = 4 * 1024 * 1024)]
        max_message_size: usize,
        /// Event loops (threads); default: one per core.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Send one command to an Arkouda gRPC proxy and print the reply.
    Call {
        /// The proxy's address, `host:port` (an `http://` prefix is accepted).
        #[arg(long, default_value = "127.0.0.1:50053")]
        url: String,
        /// Arkouda user name.
        #[arg(long, default_value = "arkouda")]
        user: String,
        /// Session token.
        #[arg(long, default_value = "")]
        token: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
        /// Print the whole reply as JSON.
        #[arg(long)]
        json: bool,
        /// Largest reply message in bytes.
        #[arg(long, default_value_t = 4 * 1024 * 1024)]
        max_message_size: usize,
        /// The command, such as `connect`.
        cmd: String,
        /// Its arguments.
        #[arg(default_value = "")]
        args: String,
    },
    /// Print the protobuf bytes of an ArkoudaRequest as hex.
    Encode {
        /// Arkouda user name.
        #[arg(long, default_value = "arkouda")]
        user: String,
        /// Session token.
        #[arg(long, default_value = "")]
        token: String,
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

/// The built-in backend as a server handler.
fn builtin_handler(request: ArkoudaRequest, responder: Responder) {
    let respond = |responder: Responder, message: String| {
        responder.reply(ArkoudaResponse {
            message,
            user: Some(request.user.clone()),
            cmd: Some(request.cmd.clone()),
            ..Default::default()
        })
    };
    match builtin::answer(&request.user, &request.cmd, &request.args) {
        Action::Reply(json) => respond(responder, json),
        Action::Sleep(ms, json) => {
            let reply = ArkoudaResponse {
                message: json,
                user: Some(request.user.clone()),
                cmd: Some(request.cmd.clone()),
                ..Default::default()
            };
            // Off the event loop: other calls go on while this one waits.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(ms));
                responder.reply(reply);
            });
        }
    }
}

fn serve(
    listen: SocketAddr,
    max_message_size: usize,
    threads: Option<usize>,
) -> Result<(), String> {
    let mut config = ServerConfig {
        options: Options {
            max_message_size,
            ..Options::default()
        },
        ..ServerConfig::default()
    };
    if let Some(t) = threads {
        config.threads = t.max(1);
    }
    let server = Server::bind(listen, Arc::new(builtin_handler), config)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    println!("arkwire: listening on {}", server.local_addr());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    server.wait();
    Ok(())
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

struct CallArgs {
    url: String,
    user: String,
    token: String,
    timeout_ms: u64,
    json: bool,
    max_message_size: usize,
    cmd: String,
    args: String,
}

fn call(a: CallArgs) -> Result<(), String> {
    let addr = resolve(&a.url)?;
    let timeout = Duration::from_millis(a.timeout_ms);
    let config = ClientConfig {
        options: Options {
            max_message_size: a.max_message_size,
            ..Options::default()
        },
        connect_timeout: timeout.min(Duration::from_secs(10)),
    };
    let mut client =
        Client::connect(addr, config).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let request = ArkoudaRequest {
        user: a.user,
        token: a.token,
        cmd: a.cmd,
        format: "STRING".into(),
        size: -1,
        args: a.args,
        request_id: None,
    };
    let response = client.call(&request, Some(timeout)).map_err(|e| match e {
        CallFailure::Status { code, message } if message.is_empty() => {
            format!("call failed: {code}")
        }
        CallFailure::Status { code, message } => format!("call failed: {code}: {message}"),
        other => format!("call failed: {other}"),
    })?;
    if a.json {
        let value = serde_json::json!({
            "message": response.message,
            "request_id": response.request_id,
            "request_status": response.request_status,
            "user": response.user,
            "cmd": response.cmd,
            "args": response.args,
        });
        println!("{value}");
        return Ok(());
    }
    match parse_reply(response.message.as_bytes()) {
        Ok(reply) => {
            let msg = reply
                .msg
                .to_string()
                .map_err(|e| format!("reply text: {e}"))?;
            match reply.msg_type {
                MsgType::Error => return Err(format!("Arkouda error: {msg}")),
                MsgType::Warning => eprintln!("arkwire: Arkouda warning"),
                MsgType::Normal => {}
            }
            println!("{msg}");
        }
        // Not Arkouda's envelope: print the message as it came.
        Err(_) => println!("{}", response.message),
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            listen,
            max_message_size,
            threads,
        } => serve(listen, max_message_size, threads),
        Command::Call {
            url,
            user,
            token,
            timeout_ms,
            json,
            max_message_size,
            cmd,
            args,
        } => call(CallArgs {
            url,
            user,
            token,
            timeout_ms,
            json,
            max_message_size,
            cmd,
            args,
        }),
        Command::Encode {
            user,
            token,
            format,
            size,
            cmd,
            args,
        } => {
            let req = ArkoudaRequestRef {
                user: &user,
                token: &token,
                cmd: &cmd,
                format: &format,
                size,
                args: &args,
                request_id: None,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    env_logger::Builder::new().filter_level(level).init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arkwire: {e}");
            ExitCode::FAILURE
        }
    }
}
