//! The `arkwire` binary, run as a user would.

mod common;

use std::process::Command;

fn arkwire(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_arkwire"))
        .args(args)
        .output()
        .expect("run arkwire")
}

#[test]
fn encode_prints_the_documented_connect_bytes() {
    let out = arkwire(&["encode", "--user", "kjyost", "connect"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "0a066b6a796f73741a07636f6e6e6563742206535452494e4728ffffffffffffffffff01"
    );
}

#[test]
fn decode_reports_bad_bytes_on_one_line_and_fails() {
    let out = arkwire(&["decode", "0e"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("wire type 6"), "{err}");
}

#[test]
fn decode_response_shows_the_reply_json() {
    // message = {"msg":"imok","msgType":"NORMAL"} (field 1, 34 bytes)
    let json = r#"{"msg":"imok","msgType":"NORMAL"}"#;
    let hex: String = [0x0a, json.len() as u8]
        .iter()
        .chain(json.as_bytes())
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = arkwire(&["decode", "--response", &hex]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("msg_type: Normal"), "{text}");
}

/// Runs `arkwire` with `args` and waits at most `limit` for it to exit.
fn exits_within(args: &[&str], limit: std::time::Duration) -> Option<std::process::Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arkwire"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run arkwire");
    let give_up = std::time::Instant::now() + limit;
    while std::time::Instant::now() < give_up {
        if child.try_wait().expect("wait").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_second_server_on_a_port_in_use_exits_with_one_line() {
    let first = common::arkwire_serve(&[]);
    let addr = format!("127.0.0.1:{}", first.port);
    let out = exits_within(
        &["serve", "--listen", &addr],
        std::time::Duration::from_secs(20),
    )
    .expect("the second server kept running on a port in use");
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim(), format!("arkwire: {addr} is already in use"));
}

#[test]
fn a_zero_timeout_is_refused_with_a_clear_message() {
    let out = arkwire(&["call", "--timeout-ms", "0", "ruok"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("at least 1 millisecond"), "{err}");
}

#[test]
fn the_token_comes_from_a_file_or_the_environment_and_decides_the_owner() {
    let server = common::arkwire_serve(&["--mode", "async"]);
    let url = format!("127.0.0.1:{}", server.port);
    let dir = std::env::temp_dir().join(format!("arkwire-cli-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "s3cret\n").unwrap();
    let file = file.to_str().unwrap();
    let out = arkwire(&[
        "call",
        "--url",
        &url,
        "--user",
        "ann",
        "--token-file",
        file,
        "--mode",
        "async",
        "echo",
        "hello",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // The same token through ARKWIRE_TOKEN finds it (once it has run).
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_arkwire"))
            .args(["status", "--url", &url, "--user", "ann", &id])
            .env("ARKWIRE_TOKEN", "s3cret")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if text.starts_with("FINISHED") {
            assert!(text.contains("hello"), "{text}");
            break;
        }
        assert!(std::time::Instant::now() < give_up, "{text}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Another token is another owner: the id means nothing to it.
    let out = Command::new(env!("CARGO_BIN_EXE_arkwire"))
        .args([
            "status", "--url", &url, "--user", "ann", "--token", "guess", &id,
        ])
        .env_remove("ARKWIRE_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("NOT_FOUND") || err.contains("not found"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn fake_arkouda_server() -> common::Peer {
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/zmtp/fake_arkouda_server.py"
    ));
    common::start(cmd, "PORT")
}

#[test]
fn call_sends_a_payload_file_and_writes_a_binary_reply_to_out() {
    if !common::python_has("zmq") {
        return;
    }
    let upstream = fake_arkouda_server();
    let proxy =
        common::arkwire_serve(&["--upstream", &format!("tcp://127.0.0.1:{}", upstream.port)]);
    let url = format!("127.0.0.1:{}", proxy.port);
    let dir = std::env::temp_dir().join(format!("arkwire-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.bin"), dir.join("out.bin"));
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    std::fs::write(&input, &bytes).unwrap();
    let input_arg = input.to_str().unwrap();
    for mode in ["blocking", "polling"] {
        let out = arkwire(&[
            "call",
            "--url",
            &url,
            "--mode",
            mode,
            "--payload-file",
            input_arg,
            "--recv-binary",
            "--out",
            output.to_str().unwrap(),
            "binecho",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&output).unwrap(), bytes, "{mode}");
    }
    // A payload with a string reply, printed.
    let out = arkwire(&["call", "--url", &url, "--payload-file", input_arg, "binlen"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "70000 bytes, format BINARY"
    );
    // An `Error:` frame is an Arkouda error, and the exit status says so.
    let out = arkwire(&["call", "--url", &url, "--recv-binary", "binerror"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("Arkouda error: Error: no such array"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_builtin_backend_refuses_array_commands_naming_upstream() {
    let proxy = common::arkwire_serve(&[]);
    let url = format!("127.0.0.1:{}", proxy.port);
    let out = arkwire(&["call", "--url", &url, "--recv-binary", "tondarray<int64,1>"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("stores no arrays; use --upstream"), "{err}");
}

/// A config file in a fresh directory.
fn config_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("arkwire-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("serve.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn serve_options_come_from_file_environment_and_flags_in_that_order() {
    let path = config_file(
        "precedence",
        "workers = 7\nupstream-pool = 2\nresult_grace_ms = 5000\nmode = \"async\"\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_arkwire"))
        .args([
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--print-config",
        ])
        .args(["--upstream-pool", "3"])
        .env("ARKWIRE_WORKERS", "5")
        .env("ARKWIRE_RESULT_GRACE_MS", "6000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .to_string()
    };
    assert_eq!(line("mode"), "mode = \"async\"  # config file");
    assert_eq!(line("workers"), "workers = 5  # environment");
    assert_eq!(
        line("result-grace-ms"),
        "result-grace-ms = 6000  # environment"
    );
    assert_eq!(line("upstream-pool"), "upstream-pool = 3  # command line");
    assert_eq!(
        line("registry-capacity"),
        "registry-capacity = 1024  # default"
    );
}

#[test]
fn a_bad_config_item_stops_serve_with_one_line_naming_it() {
    for (text, expect) in [
        (
            "workers = \"many\"\n",
            "option `workers`: invalid value 'many'",
        ),
        ("wokers = 4\n", "unknown option `wokers`"),
        ("mode = \"fast\"\n", "option `mode`: invalid value 'fast'"),
        ("workers = 4\nworkers = 5\n", "is not valid TOML"),
    ] {
        let path = config_file("bad", text);
        let out = Command::new(env!("CARGO_BIN_EXE_arkwire"))
            .args(["serve", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("arkwire: config file {}", path.display())),
            "{err}"
        );
        assert!(err.contains(expect), "{err}");
    }
}

#[test]
fn a_server_runs_from_its_config_file() {
    let path = config_file("run", "mode = \"async\"\nworkers = 2\n");
    let server = common::arkwire_serve(&["--config", path.to_str().unwrap()]);
    let url = format!("127.0.0.1:{}", server.port);
    // Async mode from the file: the call answers with a request id.
    let out = arkwire(&["call", "--url", &url, "--mode", "async", "echo", "hi"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap();
    assert_eq!(id.trim().len(), 32, "{id}");
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = arkwire(&["status", "--url", &url, id.trim()]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.starts_with("FINISHED") {
            assert!(text.contains("hi"), "{text}");
            break;
        }
        assert!(std::time::Instant::now() < give_up, "{text}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn json_logs_are_one_object_a_line() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkwire"));
    cmd.args([
        "-v",
        "--log-format",
        "json",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ])
    .args(["--upstream", "tcp://127.0.0.1:9"])
    .stderr(std::process::Stdio::piped());
    let mut server = common::start(cmd, "listening on");
    let text = String::from_utf8(killed_stderr(&mut server.child)).unwrap();
    let first = text.lines().next().expect("an info line at start");
    let line: serde_json::Value = serde_json::from_str(first).expect(first);
    assert_eq!(line["level"], "INFO");
    assert!(
        line["msg"]
            .as_str()
            .unwrap()
            .contains("forwarding to arkouda_server"),
        "{line}"
    );
    assert!(line["ts"].as_f64().unwrap() > 1.7e9, "{line}");
}

/// What a child wrote to its piped stderr, once it has been killed.
fn killed_stderr(child: &mut std::process::Child) -> Vec<u8> {
    use std::io::Read;
    let _ = child.kill();
    let _ = child.wait();
    let mut err = Vec::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_end(&mut err);
    }
    err
}

#[test]
fn the_readme_sample_config_is_valid_and_every_key_is_taken() {
    let readme = include_str!("../README.md");
    let section = &readme[readme.find("## Operating the proxy").expect("the section")..];
    let start = section.find("```toml\n").expect("a TOML sample") + 8;
    let sample = &section[start..start + section[start..].find("```").unwrap()];
    let path = config_file("readme", sample);
    let out = arkwire(&[
        "serve",
        "--config",
        path.to_str().unwrap(),
        "--print-config",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Vec<&str> = sample
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .collect();
    assert!(keys.len() > 10, "{keys:?}");
    for key in keys {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{key} = ")) && l.ends_with("# config file")),
            "{key} not taken from the file:\n{text}"
        );
    }
}
