//! The `arkwire` binary, run as a user would.

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

mod common;

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
