//! The `arkwire` command line.

use std::process::ExitCode;

use arkwire::arkouda::parse_reply;
use arkwire::proto::{ArkoudaRequestRef, ArkoudaResponseRef};
use clap::{Parser, Subcommand};

/// Tools for the Arkouda gRPC proxy protocol.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
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
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arkwire: {e}");
            ExitCode::FAILURE
        }
    }
}
