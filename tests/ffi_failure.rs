//! The C ABI when the network fails: `tests/c/failure.c` against a real
//! `arkwire serve` that this test starts, kills (SIGKILL) and restarts on
//! the same port when the program asks ("STEP ..." lines): the server
//! killed mid-call and while idle, reconnects after a restart (explicit and
//! automatic), sizes around every limit on a used session and connection,
//! concurrent operations with one failing, results that keep their bytes,
//! misuse reported as documented, and two sans-IO connections with the
//! default seed. The program runs plainly, built with
//! `-fsanitize=address,undefined`, and under valgrind (`--error-exitcode=1`).
//! Without gcc a test prints `SKIP:`; without valgrind too, unless
//! `ARKWIRE_REQUIRE_VALGRIND` is set.
#![cfg(feature = "ffi")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// libarkwire.a, built once into this test's profile directory.
fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
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
            "cargo build -p arkwire-capi"
        );
        profile
    })
}

fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            tool != "valgrind" || std::env::var_os("ARKWIRE_REQUIRE_VALGRIND").is_none(),
            "valgrind is required (ARKWIRE_REQUIRE_VALGRIND is set)"
        );
        eprintln!("SKIP: {tool} is not installed");
    }
    ok
}

/// Compiles tests/c/failure.c for `run` (with the sanitizers for
/// [`Run::Sanitized`]), each run to its own file: the tests run at once, and
/// one must not rewrite the program another is executing.
fn compile(run: Run) -> PathBuf {
    let sanitize = matches!(run, Run::Sanitized);
    let name = match run {
        Run::Plain => "failure-plain",
        Run::Sanitized => "failure-asan",
        Run::Valgrind => "failure-valgrind",
    };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let mut cc = Command::new("gcc");
    cc.args(["-Wall", "-Wextra", "-Werror", "-std=c11", "-g"]);
    if sanitize {
        cc.args(["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]);
    }
    let output = cc
        .arg(format!("-I{ROOT}/include"))
        .arg(format!("{ROOT}/tests/c/failure.c"))
        .arg(lib_dir().join("libarkwire.a"))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "gcc failure.c:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// `arkwire serve` on `port` (0: any), in `mode`.
fn serve(port: u16, mode: &str) -> common::Peer {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkwire"));
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--mode",
        mode,
    ]);
    // A port just freed may still be bound for a moment.
    for _ in 0..50 {
        let mut attempt = Command::new(env!("CARGO_BIN_EXE_arkwire"));
        attempt.args(cmd.get_args());
        let peer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            common::start(attempt, "listening on")
        }));
        match peer {
            Ok(peer) => return peer,
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    panic!("arkwire serve could not listen on port {port}");
}

#[derive(Clone, Copy)]
enum Run {
    Plain,
    Sanitized,
    Valgrind,
}

/// Runs `failure <mode> ...` against a server in `server_mode`, acting on
/// its steps; returns its output.
fn play(run: Run, mode: &str, server_mode: &str) -> String {
    let exe = compile(run);
    let mut server = serve(0, server_mode);
    let port = server.port;
    let args: Vec<String> = match mode {
        "conn" | "seed" => vec![mode.into(), "127.0.0.1".into(), port.to_string()],
        _ => vec![mode.into(), format!("127.0.0.1:{port}")],
    };
    let mut cmd = match run {
        Run::Valgrind => {
            let mut c = Command::new("valgrind");
            c.args([
                "--quiet",
                "--error-exitcode=1",
                "--leak-check=full",
                "--show-leak-kinds=definite,indirect,possible",
                "--errors-for-leak-kinds=definite,indirect,possible",
            ])
            .arg(&exe);
            c
        }
        _ => Command::new(&exe),
    };
    cmd.args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if matches!(run, Run::Sanitized) {
        cmd.env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
            .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1");
    }
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => break other.unwrap(),
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let ack = |stdin: &mut std::process::ChildStdin| {
        stdin.write_all(b"ok\n").unwrap();
        stdin.flush().unwrap();
    };
    for line in stdout.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        let Some(step) = line.strip_prefix("STEP ") else {
            continue;
        };
        match step {
            "kill-mid-call" => {
                // Let the call reach the server first.
                std::thread::sleep(Duration::from_millis(500));
                drop(server);
                server = serve_dead();
            }
            "kill-idle" => {
                drop(server);
                server = serve_dead();
                ack(&mut stdin);
            }
            "restart" => {
                server = serve(port, server_mode);
                ack(&mut stdin);
            }
            "kill-and-restart" => {
                drop(server);
                // The kernel's FIN or RST reaches the client's socket
                // asynchronously; on a loaded host give it time, so the
                // program's next call finds the connection dead before
                // sending (the case under test) rather than sending into it.
                std::thread::sleep(Duration::from_millis(300));
                server = serve(port, server_mode);
                ack(&mut stdin);
            }
            "kill-mid-call-and-restart" => {
                std::thread::sleep(Duration::from_millis(500));
                drop(server);
                server = serve(port, server_mode);
            }
            other => panic!("unknown step {other}"),
        }
    }
    let output = child.wait_with_output().unwrap();
    drop(server);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && seen.contains("all checks passed"),
        "failure {mode} ({}):\n{seen}\n{stderr}",
        output.status
    );
    print!("{seen}");
    seen
}

/// Stands in for a killed server: nothing to kill on drop.
fn serve_dead() -> common::Peer {
    let child = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    common::Peer { child, port: 0 }
}

fn all_cases(run: Run) {
    play(run, "session", "sync");
    play(run, "conn", "sync");
    play(run, "seed", "async");
}

#[test]
fn c_failure_cases() {
    if have("gcc") {
        all_cases(Run::Plain);
    }
}

#[test]
fn c_failure_cases_with_address_and_undefined_sanitizers() {
    if have("gcc") {
        all_cases(Run::Sanitized);
    }
}

#[test]
fn c_failure_cases_under_valgrind() {
    if have("gcc") && have("valgrind") {
        all_cases(Run::Valgrind);
    }
}

#[test]
fn the_shared_library_names_its_abi_and_the_pkg_config_file_its_version() {
    let so = lib_dir().join("libarkwire.so");
    match Command::new("readelf").arg("-d").arg(&so).output() {
        Ok(out) if out.status.success() => {
            let dynamic = String::from_utf8_lossy(&out.stdout);
            assert!(
                dynamic.contains("Library soname: [libarkwire.so.0]"),
                "{dynamic}"
            );
        }
        _ => eprintln!("SKIP: readelf is not installed"),
    }
    let pc = std::fs::read_to_string(format!("{ROOT}/capi/arkwire.pc.in")).unwrap();
    let version = format!("Version: {}", env!("CARGO_PKG_VERSION"));
    assert!(
        pc.lines().any(|l| l == version),
        "capi/arkwire.pc.in: {version}"
    );
}
