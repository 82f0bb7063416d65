//! Helpers shared by the tests that run peers in other processes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");

pub fn peers_available() -> bool {
    python_has("grpc, grpc_tools, h2")
}

/// Whether python3 can import `modules` (a comma-separated list). Without
/// them the caller skips, unless `ARKWIRE_REQUIRE_INTEROP` is set.
pub fn python_has(modules: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("ARKWIRE_REQUIRE_INTEROP").is_none(),
            "python3 with {modules} is required (pip install grpcio grpcio-tools h2 pyzmq)"
        );
        eprintln!("SKIP: python3 cannot import {modules}");
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
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    // A program just linked by a compiler that another test thread started
    // can be briefly "busy" (ETXTBSY: a concurrently forked child still holds
    // the linker's write descriptor); that clears within milliseconds.
    let mut attempts = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.expect("start peer"),
        }
    };
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

/// `cargo` for a build a test starts itself (the C libraries, the tonic
/// peers), without the variables cargo set for the test: ring's build
/// script reruns when `CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR` or `OUT_DIR` change, so
/// with them the nested build would rebuild ring and everything above it,
/// and the next plain `cargo build` would rebuild them again.
pub fn nested_cargo() -> Command {
    let mut cmd = Command::new(env!("CARGO"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_for_tests = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"]
            .iter()
            .any(|p| key.starts_with(p))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&key.as_ref());
        if set_for_tests {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}
