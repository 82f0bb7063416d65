//! Helpers shared by the tests that run peers in other processes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");

pub fn peers_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools, h2"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("ARKWIRE_REQUIRE_INTEROP").is_none(),
            "python3 with grpcio, grpcio-tools and h2 is required (pip install grpcio grpcio-tools h2)"
        );
        eprintln!("SKIP: python3 with grpcio, grpcio-tools and h2 is not installed");
    }
    ok
}

/// A child process killed when the test ends, however it ends.
pub struct Peer {
    pub child: Child,
    pub port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` and reads the port from the first stdout line containing `marker`.
pub fn start(mut cmd: Command, marker: &str) -> Peer {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start peer");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .next()
        .expect("peer printed nothing")
        .expect("read peer output");
    assert!(line.contains(marker), "unexpected first line: {line}");
    let port = line
        .rsplit([':', ' '])
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Peer { child, port }
}

pub fn arkwire_serve(args: &[&str]) -> Peer {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkwire"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(args);
    start(cmd, "listening on")
}

pub fn grpcio_server() -> Peer {
    let mut cmd = Command::new("python3");
    cmd.arg(format!("{DIR}/grpc_server.py"))
        .arg("--exit-on-stdin-eof");
    start(cmd, "PORT")
}
