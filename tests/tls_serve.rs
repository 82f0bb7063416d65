//! `arkwire serve --tls-*` and `arkwire call --tls` end to end: grpcio's
//! secure channel (with and without a client certificate) against the
//! proxy, `arkwire call --tls` against a grpcio TLS server, the user name
//! proven by the client certificate, certificates reloaded on SIGHUP, and a
//! plaintext client at a TLS port (and the other way round) failing fast.
//!
//! Certificates are made by the test and written to a temporary directory
//! that is removed afterwards. The grpcio cases say SKIP without python3
//! and grpcio, unless `ARKWIRE_REQUIRE_INTEROP` is set.
#![cfg(feature = "tls")]

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arkwire::arkouda::ChannelConfig;
use arkwire::net::{ClientConfig, Session, SessionError, SessionOptions, SessionOutcome};
use arkwire::tls::{self, Connector, Credentials};

mod common;
use common::*;

#[path = "tls/pki.rs"]
mod pki;
use pki::{pki, Ca, Leaf, Pki};

/// A failure must be reported well within this (never a hang).
const FAST: Duration = Duration::from_secs(8);

impl Pki {
    /// A device certificate naming `user`, written as `<user>.pem`/`.key`.
    fn device(&self, user: &str) -> (String, String, Leaf) {
        let leaf = self.devices.leaf(user, &[]);
        let cert = self.dir.write(&format!("{user}.pem"), &leaf.chain_pem);
        let key = self.dir.write(&format!("{user}.key"), &leaf.key_pem);
        (cert, key, leaf)
    }
}

fn serve_tls(p: &Pki, extra: &[&str]) -> Peer {
    let mut args = vec!["--tls-cert", &p.cert_file, "--tls-key", &p.key_file];
    args.extend_from_slice(extra);
    arkwire_serve(&args)
}

/// Runs `arkwire ARGS`, returning its output and how long it took.
fn arkwire(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_arkwire"))
        .args(args)
        .env_remove("ARKWIRE_TOKEN")
        .output()
        .expect("run arkwire");
    (out, start.elapsed())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// grpcio's `tls_client.py` with `args`; its success and output.
fn grpcio(port: u16, args: &[&str]) -> (bool, String, Duration) {
    let start = Instant::now();
    let out = Command::new("python3")
        .arg(format!("{DIR}/tls_client.py"))
        .args(["--target", &format!("127.0.0.1:{port}")])
        .args(args)
        .output()
        .expect("run python");
    (out.status.success(), text(&out), start.elapsed())
}

fn session(port: u16, user: &str, connector: Arc<Connector>) -> std::io::Result<Session> {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    Session::connect_tls(
        addr,
        user,
        "",
        ClientConfig::default(),
        ChannelConfig::default(),
        SessionOptions::default(),
        connector,
    )
}

fn connector(ca_pem: &str, credentials: Option<Credentials>) -> Arc<Connector> {
    let mut config = tls::ClientConfig::new(ca_pem.as_bytes(), "localhost").unwrap();
    if let Some(c) = credentials {
        config = config.with_credentials(c);
    }
    Arc::new(Connector::new(&config).unwrap())
}

fn echo(s: &mut Session, text: &str) -> Result<String, SessionError> {
    match s.call("echo", text)? {
        SessionOutcome::Reply { msg, .. } => Ok(msg),
        other => panic!("{other:?}"),
    }
}

#[test]
fn grpcio_secure_channel_reaches_arkwire_serve_over_tls() {
    if !python_has("grpc, grpc_tools") {
        return;
    }
    let p = pki("serve-tls");
    let server = serve_tls(&p, &[]);
    let (ok, out, _) = grpcio(
        server.port,
        &[
            "--ca",
            &p.ca_file,
            "--args",
            "over TLS ✓",
            "--expect-contains",
            "over TLS ✓",
        ],
    );
    assert!(ok, "{out}");
    // A client that trusts another CA refuses the proxy's certificate.
    let stranger = p.dir.write("stranger.pem", &Ca::root("stranger").pem);
    let (ok, out, took) = grpcio(server.port, &["--ca", &stranger, "--expect-fail"]);
    assert!(ok && out.contains("FAILED UNAVAILABLE"), "{out}");
    assert!(took < FAST, "{took:?}");
    // Plaintext HTTP/2 to the TLS port: a clear failure, at once.
    let (ok, out, took) = grpcio(server.port, &["--insecure", "--expect-fail"]);
    assert!(ok && out.contains("FAILED UNAVAILABLE"), "{out}");
    assert!(took < FAST, "{took:?}");
}

#[test]
fn arkwire_call_tls_reaches_arkwire_serve_and_plaintext_is_refused_fast() {
    let p = pki("call-tls");
    let server = serve_tls(&p, &[]);
    let url = format!("127.0.0.1:{}", server.port);
    let (out, _) = arkwire(&[
        "call", "--url", &url, "--tls", "--ca", &p.ca_file, "echo", "hi",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi");
    // --json goes through the plain client, over TLS too; the name defaults
    // to the host of --url, here an IP address the certificate carries.
    let (out, _) = arkwire(&[
        "call", "--url", &url, "--tls", "--ca", &p.ca_file, "--json", "echo", "j",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"message\""));
    // A name the certificate does not carry.
    let (out, took) = arkwire(&[
        "call",
        "--url",
        &url,
        "--tls",
        "--ca",
        &p.ca_file,
        "--server-name",
        "elsewhere",
        "--timeout-ms",
        "20000",
        "echo",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("certificate"), "{}", text(&out));
    assert!(took < FAST, "{took:?}");
    // Plaintext at the TLS port: the proxy answers in HTTP/2 that it wants TLS.
    let (out, took) = arkwire(&["call", "--url", &url, "--timeout-ms", "20000", "echo", "x"]);
    assert!(!out.status.success());
    assert!(took < FAST, "{took:?}: {}", text(&out));
    eprintln!("plaintext client at the TLS port: {}", text(&out));
}

#[test]
fn a_tls_client_at_a_plaintext_port_fails_fast_and_says_so() {
    let p = pki("tls-at-plain");
    let server = arkwire_serve(&[]);
    let url = format!("127.0.0.1:{}", server.port);
    let (out, took) = arkwire(&[
        "call",
        "--url",
        &url,
        "--tls",
        "--ca",
        &p.ca_file,
        "--timeout-ms",
        "20000",
        "echo",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(took < FAST, "{took:?}");
    assert!(text(&out).contains("does not speak TLS"), "{}", text(&out));
    // The server is unharmed.
    let (out, _) = arkwire(&["call", "--url", &url, "echo", "still here"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn mutual_tls_proves_the_user_name() {
    let p = pki("serve-mtls");
    let server = serve_tls(
        &p,
        &[
            "--tls-client-ca",
            &p.devices_file,
            "--tls-require-user-match",
            "--mode",
            "async",
        ],
    );
    let url = format!("127.0.0.1:{}", server.port);
    let (ann_cert, ann_key, ann) = p.device("ann");
    let (_, _, bob) = p.device("bob");

    // The certificate's name as the user: served, and async ownership
    // follows it (a status query by the same proven user works).
    let call = |user: &str, cert: &str, key: &str, rest: &[&str]| {
        let mut args = vec![
            "call",
            "--url",
            &url,
            "--tls",
            "--ca",
            &p.ca_file,
            "--cert",
            cert,
            "--key",
            key,
            "--user",
            user,
            "--timeout-ms",
            "20000",
        ];
        args.extend_from_slice(rest);
        arkwire(&args)
    };
    let (out, _) = call("ann", &ann_cert, &ann_key, &["echo", "mine"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "mine");
    let (out, _) = call(
        "ann",
        &ann_cert,
        &ann_key,
        &["--mode", "async", "echo", "later"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (out, _) = arkwire(&[
        "status", "--url", &url, "--tls", "--ca", &p.ca_file, "--cert", &ann_cert, "--key",
        &ann_key, "--user", "ann", &id,
    ]);
    assert!(out.status.success(), "{}", text(&out));

    // Another user name with ann's certificate: refused before the handler.
    let (out, took) = call("bob", &ann_cert, &ann_key, &["echo", "not mine"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("PERMISSION_DENIED"), "{}", text(&out));
    assert!(took < FAST);

    // The library sees the same, and the connection stays usable.
    let mut s = session(
        server.port,
        "bob",
        connector(&p.ca.pem, Some(ann.credentials())),
    )
    .unwrap();
    match echo(&mut s, "x") {
        Err(SessionError::Status { code, .. }) => assert_eq!(code.name(), "PERMISSION_DENIED"),
        other => panic!("{other:?}"),
    }
    let mut s = session(
        server.port,
        "bob",
        connector(&p.ca.pem, Some(bob.credentials())),
    )
    .unwrap();
    assert!(echo(&mut s, "bob's").unwrap().contains("bob's"));

    // No client certificate: the handshake fails, clearly and fast.
    let start = Instant::now();
    let failed = session(server.port, "ann", connector(&p.ca.pem, None))
        .map_err(SessionError::Io)
        .and_then(|mut s| echo(&mut s, "x"));
    assert!(failed.is_err(), "{failed:?}");
    assert!(start.elapsed() < FAST);

    if !python_has("grpc, grpc_tools") {
        return;
    }
    // grpcio's secure channel with a client certificate naming the user...
    let (ok, out, _) = grpcio(
        server.port,
        &[
            "--ca",
            &p.ca_file,
            "--cert",
            &ann_cert,
            "--key",
            &ann_key,
            "--user",
            "ann",
            // An asynchronous proxy answers a blocking call SUBMITTED.
            "--args",
            "grpcio mtls",
            "--expect-contains",
            "submitted",
        ],
    );
    assert!(ok, "{out}");
    // ...naming another user...
    let (ok, out, _) = grpcio(
        server.port,
        &[
            "--ca",
            &p.ca_file,
            "--cert",
            &ann_cert,
            "--key",
            &ann_key,
            "--user",
            "kjyost",
            "--expect-fail",
        ],
    );
    assert!(ok && out.contains("PERMISSION_DENIED"), "{out}");
    // ...and without one.
    let (ok, out, took) = grpcio(server.port, &["--ca", &p.ca_file, "--expect-fail"]);
    assert!(ok && out.contains("FAILED UNAVAILABLE"), "{out}");
    assert!(took < FAST, "{took:?}");
}

#[test]
fn sighup_reloads_the_certificate_and_open_connections_keep_working() {
    let p = pki("serve-reload");
    let server = serve_tls(&p, &[]);
    let old = connector(&p.ca.pem, None);
    let mut open = session(server.port, "ann", old.clone()).unwrap();
    assert!(echo(&mut open, "before").unwrap().contains("before"));

    // A certificate from another CA replaces the files; SIGHUP.
    let ca2 = Ca::root("proxy CA 2");
    let server2 = ca2.leaf("proxy", &["localhost", "127.0.0.1"]);
    p.dir.write("server.pem", &server2.chain_pem);
    p.dir.write("server.key", &server2.key_pem);
    let pid = server.child.id().to_string();
    let hup = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(hup.success());

    let new = connector(&ca2.pem, None);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let served = session(server.port, "ann", new.clone())
            .map_err(SessionError::Io)
            .and_then(|mut s| echo(&mut s, "after"));
        match served {
            Ok(msg) => {
                assert!(msg.contains("after"));
                break;
            }
            Err(e) if Instant::now() < until => {
                eprintln!("not reloaded yet: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("new connections never saw the new certificate: {e}"),
        }
    }
    // The connection opened before the reload is still served, and a
    // keepalive PING goes through its TLS session (written in the clear,
    // it would break the session).
    open.check(Some(Duration::from_secs(5))).unwrap();
    assert!(echo(&mut open, "still").unwrap().contains("still"));
    // New connections trusting only the old CA now refuse the proxy.
    let refused = session(server.port, "ann", old)
        .map_err(SessionError::Io)
        .and_then(|mut s| echo(&mut s, "x"));
    match refused {
        Err(e) => assert!(e.to_string().contains("certificate"), "{e}"),
        Ok(m) => panic!("served with the old certificate: {m}"),
    }

    // A broken key file: the reload is refused and the server keeps serving.
    p.dir.write("server.key", "not a key");
    let hup = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(hup.success());
    std::thread::sleep(Duration::from_millis(300));
    let mut s = session(server.port, "ann", new).unwrap();
    assert!(echo(&mut s, "kept").unwrap().contains("kept"));
}

#[test]
fn arkwire_call_tls_against_a_grpcio_tls_server() {
    if !python_has("grpc, grpc_tools") {
        return;
    }
    let p = pki("call-grpcio");
    for mutual in [false, true] {
        let mut cmd = Command::new("python3");
        cmd.arg(format!("{DIR}/grpc_server.py")).args([
            "--exit-on-stdin-eof",
            "--tls-cert",
            &p.cert_file,
            "--tls-key",
            &p.key_file,
        ]);
        if mutual {
            cmd.args(["--tls-client-ca", &p.devices_file]);
        }
        let peer = start(cmd, "PORT");
        let url = format!("localhost:{}", peer.port);
        let (cert, key, _) = p.device("device-1");
        let mut args = vec!["call", "--url", &url, "--tls", "--ca", &p.ca_file, "--json"];
        if mutual {
            args.extend_from_slice(&["--cert", &cert, "--key", &key]);
        }
        args.extend_from_slice(&["echo", "to grpcio"]);
        let (out, _) = arkwire(&args);
        assert!(out.status.success(), "mutual {mutual}: {}", text(&out));
        let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(reply["message"], "to grpcio");
        if mutual {
            // Without a certificate grpcio refuses us: clearly and fast.
            let (out, took) = arkwire(&[
                "call",
                "--url",
                &url,
                "--tls",
                "--ca",
                &p.ca_file,
                "--json",
                "--timeout-ms",
                "20000",
                "echo",
                "x",
            ]);
            assert!(!out.status.success());
            assert!(took < FAST, "{took:?}");
            eprintln!("no client certificate at grpcio: {}", text(&out));
        }
    }
}
