//! TLS against tonic both ways: `arkwire call --tls` (and the library's
//! TLS session) against tonic's TLS server, and tonic's TLS client against
//! `arkwire serve --tls-cert/--tls-key`, with and without a client CA.
//!
//! The tonic peers are the `tonic-server` and `tonic-client` programs of
//! the `arkwire-bench` workspace member (benches/peers; tonic 0.14 with its
//! `tls-ring` feature), built here with `cargo build -p arkwire-bench` into
//! this test's target directory. When that build fails (no network for a
//! first fetch of tonic) the tests say SKIP, unless `ARKWIRE_REQUIRE_INTEROP`
//! is set. Certificates are made by the test and removed afterwards.
#![cfg(feature = "tls")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arkwire::arkouda::ChannelConfig;
use arkwire::net::{ClientConfig, Session, SessionOptions, SessionOutcome};
use arkwire::tls::{self, Connector};

mod common;
use common::*;

#[path = "tls/pki.rs"]
mod pki;
use pki::{pki, Ca, Pki};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A failure must be reported well within this (never a hang).
const FAST: Duration = Duration::from_secs(8);

/// The directory holding `tonic-server` and `tonic-client`, built once; None
/// (after a SKIP line) when they cannot be built.
fn tonic_bins() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        // target/debug/deps/tls_tonic-HASH → target/debug
        let exe = std::env::current_exe().unwrap();
        let profile = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let target = profile.parent().unwrap();
        let mut cmd = nested_cargo();
        cmd.args(["build", "--quiet", "-p", "arkwire-bench"])
            .args(["--bin", "tonic-server", "--bin", "tonic-client"])
            .arg("--manifest-path")
            .arg(format!("{ROOT}/Cargo.toml"))
            .arg("--target-dir")
            .arg(target);
        if profile.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let built = cmd.status().is_ok_and(|s| s.success())
            && profile.join("tonic-server").exists()
            && profile.join("tonic-client").exists();
        if !built {
            assert!(
                std::env::var_os("ARKWIRE_REQUIRE_INTEROP").is_none(),
                "cargo build -p arkwire-bench (the tonic peers) failed"
            );
            eprintln!("SKIP: the tonic peers (cargo build -p arkwire-bench) could not be built");
        }
        built.then_some(profile)
    })
    .as_deref()
}

impl Pki {
    /// A certificate naming `cn`, from the device CA (or from `other`),
    /// written as `<file>.pem`/`.key`.
    fn device(&self, file: &str, cn: &str, other: Option<&Ca>) -> (String, String) {
        let leaf = other.unwrap_or(&self.devices).leaf(cn, &[]);
        (
            self.dir.write(&format!("{file}.pem"), &leaf.chain_pem),
            self.dir.write(&format!("{file}.key"), &leaf.key_pem),
        )
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `arkwire ARGS`: its output and how long it took.
fn arkwire(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_arkwire"))
        .args(args)
        .env_remove("ARKWIRE_TOKEN")
        .output()
        .expect("run arkwire");
    (out, start.elapsed())
}

/// tonic's TLS server, with a client CA when given.
fn tonic_server(bins: &Path, p: &Pki, client_ca: bool) -> Peer {
    let mut cmd = Command::new(bins.join("tonic-server"));
    cmd.args(["--listen", "127.0.0.1:0"]).args([
        "--tls-cert",
        &p.cert_file,
        "--tls-key",
        &p.key_file,
    ]);
    if client_ca {
        cmd.args(["--tls-client-ca", &p.devices_file]);
    }
    start(cmd, "listening on")
}

/// One echo call of `args` by tonic's TLS client; its success, output, and
/// how long it took.
fn tonic_client(bins: &Path, port: u16, args: &[&str]) -> (bool, String, Duration) {
    let start = Instant::now();
    let out = Command::new(bins.join("tonic-client"))
        .args(["--addr", &format!("127.0.0.1:{port}"), "--mode", "echo"])
        .args(args)
        .output()
        .expect("run tonic-client");
    (out.status.success(), text(&out), start.elapsed())
}

/// `arkwire call --tls` of `echo ARGS` at `port` with `tls` options.
fn call(port: u16, tls: &[&str], args: &str) -> (Output, Duration) {
    let url = format!("127.0.0.1:{port}");
    let mut all = vec!["call", "--url", &url, "--tls", "--timeout-ms", "20000"];
    all.extend_from_slice(tls);
    all.extend_from_slice(&["--user", "kjyost", "echo", args]);
    arkwire(&all)
}

#[test]
fn arkwire_call_tls_against_a_tonic_tls_server() {
    let Some(bins) = tonic_bins() else { return };
    let p = pki("tonic-server");
    let server = tonic_server(bins, &p, false);

    // `arkwire call --tls` (the session client) and `--json` (the plain one).
    let (out, _) = call(server.port, &["--ca", &p.ca_file], "over TLS ✓");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "over TLS ✓");
    let (out, _) = call(server.port, &["--ca", &p.ca_file, "--json"], "j");
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"message\""));

    // The library's TLS session: many calls on one connection, a large one
    // across many TLS records.
    let roots = std::fs::read(&p.ca_file).unwrap();
    let connector =
        Arc::new(Connector::new(&tls::ClientConfig::new(&roots, "localhost").unwrap()).unwrap());
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let mut s = Session::connect_tls(
        addr,
        "kjyost",
        "",
        ClientConfig::default(),
        ChannelConfig::default(),
        SessionOptions::default(),
        connector,
    )
    .unwrap();
    let big: String = (0..300_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    for args in ["one", "two", big.as_str()] {
        match s.call("echo", args) {
            Ok(SessionOutcome::Reply { msg, .. }) => assert_eq!(msg, args),
            other => panic!("{other:?}"),
        }
    }

    // A CA that did not sign tonic's certificate, and a name it does not
    // carry: refused by us, fast, saying it was the certificate.
    let stranger = p.dir.write("stranger.pem", &Ca::root("stranger").pem);
    for tls in [
        &["--ca", stranger.as_str()][..],
        &["--ca", &p.ca_file, "--server-name", "elsewhere.example"][..],
    ] {
        let (out, took) = call(server.port, tls, "x");
        assert!(!out.status.success(), "{tls:?}: {}", text(&out));
        assert!(
            text(&out).contains("certificate"),
            "{tls:?}: {}",
            text(&out)
        );
        assert!(took < FAST, "{tls:?}: {took:?}");
    }
}

#[test]
fn arkwire_call_with_a_client_certificate_against_tonic_mutual_tls() {
    let Some(bins) = tonic_bins() else { return };
    let p = pki("tonic-mtls-server");
    let server = tonic_server(bins, &p, true);
    let (cert, key) = p.device("device", "kjyost", None);
    let impostor = Ca::root("impostor");
    let (bad_cert, bad_key) = p.device("impostor", "kjyost", Some(&impostor));

    let (out, _) = call(
        server.port,
        &["--ca", &p.ca_file, "--cert", &cert, "--key", &key],
        "mine",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "mine");

    // No certificate, or one from another CA: tonic refuses the handshake
    // and the call fails fast, saying it was TLS.
    for (name, tls) in [
        ("no certificate", &["--ca", p.ca_file.as_str()][..]),
        (
            "wrong CA",
            &["--ca", &p.ca_file, "--cert", &bad_cert, "--key", &bad_key][..],
        ),
    ] {
        let (out, took) = call(server.port, tls, "x");
        assert!(!out.status.success(), "{name}: {}", text(&out));
        assert!(text(&out).contains("tls"), "{name}: {}", text(&out));
        assert!(took < FAST, "{name}: {took:?}");
        eprintln!("{name}: {}", text(&out).trim());
    }
}

#[test]
fn tonic_tls_client_against_arkwire_serve() {
    let Some(bins) = tonic_bins() else { return };
    let p = pki("tonic-client");
    let server = arkwire_serve(&["--tls-cert", &p.cert_file, "--tls-key", &p.key_file]);

    let (ok, out, _) = tonic_client(bins, server.port, &["--tls-ca", &p.ca_file, "--args", "hi"]);
    assert!(ok, "{out}");
    assert!(out.contains(r#"REPLY {"msg":"hi""#), "{out}");

    // tonic refuses our certificate under a CA or a name it does not trust.
    let stranger = p.dir.write("stranger.pem", &Ca::root("stranger").pem);
    for args in [
        &["--tls-ca", stranger.as_str()][..],
        &["--tls-ca", &p.ca_file, "--server-name", "elsewhere.example"][..],
    ] {
        let (ok, out, took) = tonic_client(bins, server.port, args);
        assert!(!ok, "{args:?}: {out}");
        assert!(out.contains("FAILED"), "{args:?}: {out}");
        assert!(took < FAST, "{args:?}: {took:?}");
    }

    // Plaintext tonic at the TLS port fails, and the proxy is unharmed.
    let (ok, out, took) = tonic_client(bins, server.port, &["--args", "x"]);
    assert!(!ok && out.contains("FAILED"), "{out}");
    assert!(took < FAST, "{took:?}");
    let (ok, out, _) = tonic_client(
        bins,
        server.port,
        &["--tls-ca", &p.ca_file, "--args", "after"],
    );
    assert!(ok && out.contains(r#"REPLY {"msg":"after""#), "{out}");
}

#[test]
fn tonic_tls_client_with_and_without_a_certificate_against_arkwire_mutual_tls() {
    let Some(bins) = tonic_bins() else { return };
    let p = pki("tonic-mtls-client");
    let server = arkwire_serve(&[
        "--tls-cert",
        &p.cert_file,
        "--tls-key",
        &p.key_file,
        "--tls-client-ca",
        &p.devices_file,
        "--tls-require-user-match",
    ]);
    // tonic-client calls as user kjyost.
    let (cert, key) = p.device("kjyost", "kjyost", None);
    let (ok, out, _) = tonic_client(
        bins,
        server.port,
        &[
            "--tls-ca",
            &p.ca_file,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--args",
            "proven",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains(r#"REPLY {"msg":"proven""#), "{out}");

    // A certificate naming someone else: the TLS session is fine, the call
    // is refused by the proxy (the user name is proven, not claimed).
    let (bob_cert, bob_key) = p.device("bob", "bob", None);
    let (ok, out, _) = tonic_client(
        bins,
        server.port,
        &[
            "--tls-ca",
            &p.ca_file,
            "--tls-cert",
            &bob_cert,
            "--tls-key",
            &bob_key,
        ],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("FAILED PermissionDenied"), "{out}");

    // No certificate, or one from another CA: the handshake is refused.
    let impostor = Ca::root("impostor");
    let (bad_cert, bad_key) = p.device("impostor", "kjyost", Some(&impostor));
    for (name, args) in [
        ("no certificate", &["--tls-ca", p.ca_file.as_str()][..]),
        (
            "wrong CA",
            &[
                "--tls-ca",
                &p.ca_file,
                "--tls-cert",
                &bad_cert,
                "--tls-key",
                &bad_key,
            ][..],
        ),
    ] {
        let (ok, out, took) = tonic_client(bins, server.port, args);
        assert!(!ok, "{name}: {out}");
        assert!(out.contains("FAILED"), "{name}: {out}");
        assert!(took < FAST, "{name}: {took:?}");
        eprintln!("{name}: {}", out.trim());
    }

    // The proxy still serves the device that proves itself.
    let (ok, out, _) = tonic_client(
        bins,
        server.port,
        &[
            "--tls-ca",
            &p.ca_file,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--args",
            "again",
        ],
    );
    assert!(ok && out.contains(r#"REPLY {"msg":"again""#), "{out}");
}
