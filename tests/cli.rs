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
