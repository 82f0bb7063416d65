//! A real Arkouda session through arkwire: Arkouda's own Python client
//! (`ak.connect`, `ak.ones(10).to_ndarray()`, `ak.array(...)` round trips of
//! arrays whose bytes are and are not UTF-8, a server-side error, Ctrl-C,
//! `ak.disconnect()`) with `ArkwireChannel` in each mode, through
//! `arkwire serve --upstream` in sync and async mode, in front of a stand-in
//! arkouda_server (`tests/arkouda/stand_in_server.py`). The same session over
//! Arkouda's `ZmqChannel` straight to the stand-in must print the same lines.
//! Against the built-in backend, `ak.connect` and `ak.get_config()` succeed.
//!
//! Needs python3 with arkouda (the client in ../shared/testdata/arkouda-client,
//! installed by `.ci/run`), numpy and pyzmq; without them the test prints
//! `SKIP:`, unless `ARKWIRE_REQUIRE_INTEROP` is set, which makes it fail.
//! libarkwire.so is built here with `cargo build -p arkwire-capi`.
#![cfg(feature = "ffi")]

mod common;

use std::path::PathBuf;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import numpy, zmq, arkouda.client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("ARKWIRE_REQUIRE_INTEROP").is_none(),
            "python3 with arkouda (../shared/testdata/arkouda-client), numpy and pyzmq is required"
        );
        eprintln!(
            "SKIP: python3 cannot import arkouda, numpy and zmq; the Arkouda session did not run"
        );
    }
    ok
}

/// Builds libarkwire.so into this test's target directory and returns its path.
fn libarkwire() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let mut cmd = common::nested_cargo();
    cmd.args(["build", "--quiet", "-p", "arkwire-capi", "--manifest-path"])
        .arg(format!("{ROOT}/Cargo.toml"))
        .arg("--target-dir")
        .arg(profile.parent().unwrap());
    if profile.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    assert!(
        cmd.status().unwrap().success(),
        "cargo build -p arkwire-capi failed"
    );
    profile.join("libarkwire.so")
}

fn stand_in() -> common::Peer {
    let mut cmd = Command::new("python3");
    cmd.arg(format!("{ROOT}/tests/arkouda/stand_in_server.py"));
    common::start(cmd, "PORT")
}

/// Runs `tests/arkouda/session.py` and returns its STEP lines.
fn session(lib: &PathBuf, args: &[&str]) -> Vec<String> {
    let out = Command::new("python3")
        .arg(format!("{ROOT}/tests/arkouda/session.py"))
        .args(args)
        .env("PYTHONPATH", format!("{ROOT}/bindings/python"))
        .env("ARKWIRE_LIB", lib)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("SESSION DONE"),
        "session {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
        .lines()
        .filter(|l| l.starts_with("STEP "))
        .map(str::to_string)
        .collect()
}

#[test]
fn arkoudas_client_runs_the_same_session_through_arkwire_as_over_zeromq() {
    if !available() {
        return;
    }
    let lib = libarkwire();
    let server = stand_in();
    let direct = session(&lib, &["zmq", &format!("127.0.0.1:{}", server.port)]);
    for step in [
        "ones",
        "arange",
        "utf8_bytes",
        "non_utf8_bytes",
        "server_error",
        "binary_error",
    ] {
        assert!(
            direct
                .iter()
                .any(|l| l.starts_with(&format!("STEP {step} "))),
            "{direct:?}"
        );
    }
    assert!(
        direct
            .iter()
            .any(|l| l == "STEP interrupt KeyboardInterrupt imok"),
        "{direct:?}"
    );
    let upstream = format!("tcp://127.0.0.1:{}", server.port);
    for proxy_mode in ["sync", "async"] {
        // The session's 80 MB array passes the default 64 MiB binary limit
        // (and, kept by the async proxy for a minute after each read, the
        // default room for results).
        let proxy = common::arkwire_serve(&[
            "--upstream",
            &upstream,
            "--mode",
            proxy_mode,
            "--max-binary-size",
            "134217728",
            "--result-bytes",
            "1073741824",
            "--user-result-bytes",
            "1073741824",
        ]);
        let addr = format!("127.0.0.1:{}", proxy.port);
        for channel_mode in ["blocking", "polling", "async"] {
            let through = session(&lib, &["arkwire", &addr, channel_mode]);
            assert_eq!(
                through, direct,
                "proxy {proxy_mode}, channel {channel_mode}: not what ZmqChannel got"
            );
        }
    }
}

#[test]
fn arkoudas_client_connects_to_the_builtin_backend() {
    if !available() {
        return;
    }
    let lib = libarkwire();
    for proxy_mode in ["sync", "async"] {
        let proxy = common::arkwire_serve(&["--mode", proxy_mode]);
        let addr = format!("127.0.0.1:{}", proxy.port);
        for channel_mode in ["blocking", "polling", "async"] {
            let steps = session(&lib, &["arkwire", &addr, channel_mode, "builtin"]);
            assert_eq!(
                steps,
                [
                    "STEP connect ok",
                    "STEP get_config ['byteorder', 'numLocales', 'regexMaxCaptures']",
                    "STEP disconnect ok"
                ],
                "proxy {proxy_mode}, channel {channel_mode}"
            );
        }
    }
}
