//! The proxy side of the array benchmark (`benches/arkouda_arrays.py
//! --client rust`): one `net::Session` to `arkwire serve --upstream`, an
//! int64 array of `--mib` MiB uploaded as `ak.array` sends it
//! (`array<int64,1>`, a binary payload) and fetched back as `to_ndarray`
//! does (`tondarray<int64,1>`, a binary reply).
//!
//! `arkwire-arrays --addr HOST:PORT --mib N`: prints `READY`, then for each
//! line read from standard input runs one round and prints
//! `TIMES <upload seconds> <download seconds> <array name>`; the array is made once,
//! outside the timing.

use std::io::BufRead;
use std::time::{Duration, Instant};

use arkwire::arkouda::{ChannelConfig, Command, Pattern};
use arkwire::grpc::Options;
use arkwire::net::{ClientConfig, Session, SessionOutcome};
use arkwire_bench::{arg, MIB};

fn main() {
    let addr: std::net::SocketAddr = arg("--addr", "127.0.0.1:50053".parse().unwrap());
    let mib: usize = arg("--mib", 16);
    let len = mib * MIB;
    let data: Vec<u8> = (0..len / 8)
        .flat_map(|i| (i as i64).to_le_bytes())
        .collect();
    let config = ClientConfig {
        options: Options {
            max_message_size: len + MIB,
            h2: arkwire::h2::Config {
                initial_window_size: arg("--window-mib", 1u32) << 20,
                ..arkwire::h2::Config::default()
            },
            ..Options::default()
        },
        ..ClientConfig::default()
    };
    let channel = ChannelConfig {
        call_timeout: Some(Duration::from_secs(600)),
        ..ChannelConfig::default()
    };
    let mut session = Session::connect(addr, "bench", "", config, channel).expect("connect");
    // Arkouda's args: a JSON list of JSON texts, each one parameter.
    let quote = |v: &str| format!("\"{}\"", v.replace('"', "\\\""));
    let param = |key: &str, dtype: &str, val: &str| {
        quote(&format!(
            r#"{{"key":"{key}","dtype":"{dtype}","val":"{val}"}}"#
        ))
    };
    let upload_args = format!(
        "[{},{},{}]",
        param("dtype", "str", "int64"),
        param("shape", "int64", &(len / 8).to_string()),
        param("seg_string", "bool", "False")
    );
    println!("READY");
    for _ in std::io::stdin().lock().lines() {
        let t0 = Instant::now();
        let up = Command {
            payload: &data,
            size: 3,
            ..Command::new("array<int64,1>", &upload_args)
        };
        let name = match session.command(Pattern::Blocking, &up).expect("upload") {
            SessionOutcome::Reply { msg, .. } => msg.split_whitespace().nth(1).unwrap().to_string(),
            other => panic!("upload answered {other:?}"),
        };
        let t1 = Instant::now();
        let down_args = format!("[{}]", param("array", "pdarray", &name));
        let down = Command {
            recv_binary: true,
            size: 1,
            ..Command::new("tondarray<int64,1>", &down_args)
        };
        let back = match session.command(Pattern::Blocking, &down).expect("download") {
            SessionOutcome::Binary(bytes) => bytes,
            other => panic!("download answered {other:?}"),
        };
        let t2 = Instant::now();
        assert_eq!(back.len(), len);
        assert_eq!(back[len - 8..], data[len - 8..]);
        println!(
            "TIMES {:.6} {:.6} {name}",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64()
        );
    }
}
