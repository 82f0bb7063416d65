//! The C, C++ and Python hosts in `bindings/`, built against
//! `include/arkwire.h` and libarkwire, and run against `arkwire serve` (also
//! over TLS, with and without a client certificate) and the C data-center
//! server; the C programs also under valgrind.
//!
//! libarkwire.a/.so come from the `arkwire-capi` package, built here with
//! `cargo build -p arkwire-capi` into this test's target directory.
//! Without gcc, g++ or python3 a test prints `SKIP:`; without valgrind the
//! valgrind runs print `SKIP:` unless `ARKWIRE_REQUIRE_VALGRIND` is set.
#![cfg(feature = "ffi")]

mod common;

#[path = "tls/pki.rs"]
mod pki;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The profile directory (target/debug) this test binary was built into.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/ffi_bindings-HASH → target/debug
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Builds libarkwire.a and libarkwire.so once and returns their directory.
fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let profile = profile_dir();
        let target = profile.parent().unwrap();
        let mut cmd = common::nested_cargo();
        cmd.args(["build", "--quiet", "-p", "arkwire-capi", "--manifest-path"])
            .arg(format!("{ROOT}/Cargo.toml"))
            .arg("--target-dir")
            .arg(target);
        if profile.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build -p arkwire-capi");
        assert!(status.success(), "cargo build -p arkwire-capi failed");
        for lib in ["libarkwire.a", "libarkwire.so"] {
            assert!(
                profile.join(lib).exists(),
                "{lib} missing in {}",
                profile.display()
            );
        }
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
        eprintln!("SKIP: {tool} is not installed");
    }
    ok
}

fn valgrind() -> bool {
    let ok = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("ARKWIRE_REQUIRE_VALGRIND").is_none(),
            "valgrind is required (ARKWIRE_REQUIRE_VALGRIND is set)"
        );
        eprintln!("SKIP: valgrind is not installed; the C programs ran without it");
    }
    ok
}

/// Runs a program just built by `compile`, retrying while the kernel still
/// reports it busy (ETXTBSY right after linking while other tests spawn).
fn output(mut cmd: Command) -> Output {
    for _ in 0..50 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.expect("run the program"),
        }
    }
    cmd.output().expect("run the program")
}

/// Compiles `bindings/<src>` against the header and the static library.
/// Each call writes its own executable: two tests compiling the same
/// source at once (with and without valgrind) must not run a file the
/// other's linker is still writing.
fn compile(compiler: &str, src: &str, std: &str) -> PathBuf {
    static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let build = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{}-{build}",
        Path::new(src).file_stem().unwrap().to_string_lossy()
    ));
    let output = Command::new(compiler)
        .args(["-Wall", "-Wextra", "-Werror", std, "-g"])
        .arg(format!("-I{ROOT}/include"))
        .arg(format!("-I{ROOT}/bindings/cpp"))
        .arg(format!("{ROOT}/bindings/{src}"))
        .arg(lib_dir().join("libarkwire.a"))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .output()
        .expect("run the compiler");
    assert!(
        output.status.success(),
        "{compiler} {src} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

const VALGRIND: &[&str] = &[
    "valgrind",
    "--quiet",
    "--error-exitcode=1",
    "--leak-check=full",
    "--show-leak-kinds=definite,indirect,possible",
    "--errors-for-leak-kinds=definite,indirect,possible",
];

/// `program args`, under valgrind when asked.
fn command(program: &Path, args: &[&str], under_valgrind: bool) -> Command {
    command_with(program, args, under_valgrind, &[])
}

/// [`command`] with more valgrind options.
fn command_with(
    program: &Path,
    args: &[&str],
    under_valgrind: bool,
    valgrind_options: &[&str],
) -> Command {
    let mut cmd = if under_valgrind {
        let mut c = Command::new(VALGRIND[0]);
        c.args(&VALGRIND[1..]).args(valgrind_options).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args);
    cmd
}

fn check(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    print!("{stdout}");
    stdout
}

/// Starts the C data-center server (under valgrind when asked).
fn datacenter(under_valgrind: bool) -> common::Peer {
    let exe = compile("gcc", "c/datacenter_server.c", "-std=c11");
    common::start(command(&exe, &[], under_valgrind), "listening on")
}

/// Stops the data-center server by closing its stdin; it must exit 0.
fn stop(mut dc: common::Peer) {
    drop(dc.child.stdin.take());
    let status = dc.child.wait().unwrap();
    assert!(
        status.success(),
        "the data-center server exited with {status}"
    );
}

fn edge_device(under_valgrind: bool) {
    let dc = datacenter(under_valgrind);
    let proxy = common::arkwire_serve(&["--mode", "async"]);
    let exe = compile("gcc", "c/edge_device.c", "-std=c11");
    let dc_addr = format!("127.0.0.1:{}", dc.port);
    let proxy_addr = format!("127.0.0.1:{}", proxy.port);
    let out = output(command(&exe, &[&dc_addr, &proxy_addr], under_valgrind));
    let stdout = check("edge_device", out);
    assert!(
        stdout.contains("/checkpoints/edge-7/epoch-12.ckpt"),
        "{stdout}"
    );
    assert!(stdout.contains("all checks passed"));
    stop(dc);
}

fn sans_io_client(under_valgrind: bool) {
    let proxy = common::arkwire_serve(&[]);
    let exe = compile("gcc", "c/sans_io_client.c", "-std=c11");
    let port = proxy.port.to_string();
    let out = output(command(&exe, &["127.0.0.1", &port], under_valgrind));
    let stdout = check("sans_io_client", out);
    assert!(stdout.contains("all checks passed"));
}

/// `tls_session.c` against `arkwire serve --tls-*`: one proxy with server
/// authentication only, one requiring a client certificate.
fn tls_session(under_valgrind: bool) {
    let dir = pki::TempDir::new(if under_valgrind { "c-tls-vg" } else { "c-tls" });
    let ca = pki::Ca::root("C socket tier proxy CA");
    let devices = pki::Ca::root("C socket tier device CA");
    let server = ca.leaf("proxy", &["localhost", "127.0.0.1"]);
    let device = devices.leaf("kjyost", &[]);
    let ca_file = dir.write("ca.pem", &ca.pem);
    let cert = dir.write("server.pem", &server.chain_pem);
    let key = dir.write("server.key", &server.key_pem);
    let devices_file = dir.write("devices.pem", &devices.pem);
    let device_cert = dir.write("device.pem", &device.chain_pem);
    let device_key = dir.write("device.key", &device.key_pem);
    let tls = common::arkwire_serve(&["--tls-cert", &cert, "--tls-key", &key]);
    let mtls = common::arkwire_serve(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-client-ca",
        &devices_file,
    ]);
    let exe = compile("gcc", "c/tls_session.c", "-std=c11");
    let tls_addr = format!("127.0.0.1:{}", tls.port);
    let mtls_addr = format!("127.0.0.1:{}", mtls.port);
    let args = [
        tls_addr.as_str(),
        &mtls_addr,
        &ca_file,
        &device_cert,
        &device_key,
    ];
    // ring's AES-GCM assembly and x509-parser's static registry: the
    // file says exactly what it suppresses.
    let supp = format!("--suppressions={ROOT}/tests/c/tls.supp");
    let run = command_with(&exe, &args, under_valgrind, &[&supp]);
    let stdout = check("tls_session", output(run));
    assert!(stdout.contains("all checks passed"));
}

#[test]
fn c_tls_session_against_arkwire_serve_tls() {
    if have("gcc") {
        tls_session(false);
    }
}

#[test]
fn c_tls_session_under_valgrind() {
    if have("gcc") && valgrind() {
        tls_session(true);
        println!("valgrind: no errors, nothing definitely, indirectly or possibly lost");
    }
}

#[test]
fn c_edge_device_against_the_c_datacenter_and_arkwire_serve() {
    if have("gcc") {
        edge_device(false);
    }
}

#[test]
fn c_sans_io_client_against_arkwire_serve() {
    if have("gcc") {
        sans_io_client(false);
    }
}

#[test]
fn c_programs_under_valgrind() {
    if have("gcc") && valgrind() {
        edge_device(true);
        sans_io_client(true);
        println!("valgrind: no errors, nothing definitely, indirectly or possibly lost");
    }
}

#[test]
fn cpp_example() {
    if !have("g++") {
        return;
    }
    let proxy = common::arkwire_serve(&[]);
    let exe = compile("g++", "cpp/example.cpp", "-std=c++17");
    let addr = format!("127.0.0.1:{}", proxy.port);
    let mut run = Command::new(exe);
    run.arg(addr);
    let stdout = check("example.cpp", output(run));
    assert!(stdout.contains("all checks passed"));
}

#[test]
fn python_ctypes_binding() {
    if !have("python3") {
        return;
    }
    let proxy = common::arkwire_serve(&[]);
    let out = Command::new("python3")
        .arg(format!("{ROOT}/bindings/python/test_arkwire_ctypes.py"))
        .env("ARKWIRE_LIB", lib_dir().join("libarkwire.so"))
        .env("ARKWIRE_ADDR", format!("127.0.0.1:{}", proxy.port))
        .output()
        .unwrap();
    let stdout = check("test_arkwire_ctypes.py", out);
    assert!(stdout.contains("all checks passed"));
}
