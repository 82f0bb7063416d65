//! The built-in Arkouda backend that `arkwire serve` answers from when no
//! upstream arkouda_server is given: enough of Arkouda's command set for a
//! client to connect (Arkouda's own `ak.connect` included), check health and
//! exchange text; it stores no arrays.

use alloc::format;
use alloc::string::{String, ToString};

use serde::Serialize;

/// Arkouda's reply JSON, as the server writes it.
#[derive(Serialize)]
struct Envelope<'a> {
    msg: &'a str,
    #[serde(rename = "msgType")]
    msg_type: &'a str,
    #[serde(rename = "msgFormat")]
    msg_format: &'a str,
    user: &'a str,
}

/// Wraps `msg` in Arkouda's reply JSON (`msg`, `msgType`, `msgFormat`, `user`).
pub fn envelope(msg: &str, msg_type: super::MsgType, user: &str) -> String {
    envelope_in(String::new(), msg, msg_type, user)
}

/// [`envelope`], written into `buffer` (emptied first): in its memory
/// when it has enough.
pub fn envelope_in(buffer: String, msg: &str, msg_type: super::MsgType, user: &str) -> String {
    let msg_type = match msg_type {
        super::MsgType::Normal => "NORMAL",
        super::MsgType::Warning => "WARNING",
        super::MsgType::Error => "ERROR",
    };
    let e = Envelope {
        msg,
        msg_type,
        msg_format: "STRING",
        user,
    };
    let mut bytes = buffer.into_bytes();
    bytes.clear();
    // Serializing four strings into memory cannot fail, and gives UTF-8.
    let _ = serde_json::to_writer(&mut bytes, &e);
    String::from_utf8(bytes).unwrap_or_default()
}

/// What the built-in backend does with a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Reply at once with this JSON.
    Reply(String),
    /// Reply with `slept` after this many milliseconds (the `sleep` command,
    /// for testing deadlines).
    Sleep(u64, String),
}

/// The ERROR text of an array command sent to the built-in backend.
pub const NO_ARRAYS: &str = "the built-in backend stores no arrays; use --upstream";

/// Whether `cmd` works on arrays: Arkouda's array commands are instantiated
/// per type and rank (`create<int64,1>`, `tondarray<float64,1>`), and a few
/// take an array's name.
pub fn is_array_command(cmd: &str) -> bool {
    cmd.contains('<') || matches!(cmd, "delete" | "info" | "str" | "repr" | "set" | "getattr")
}

/// Arkouda's ERROR reply for an array command: [`NO_ARRAYS`].
pub fn no_arrays(user: &str, cmd: &str) -> String {
    envelope(&no_arrays_text(cmd), super::MsgType::Error, user)
}

/// The `msg` of [`no_arrays`].
fn no_arrays_text(cmd: &str) -> String {
    format!("{cmd}: {NO_ARRAYS}")
}

/// Answers one command: `connect`, `disconnect`, `getconfig` (every key
/// Arkouda's client reads), `getRegistrationConfig`, `ruok`, `noop`, `echo`,
/// `sleep MILLIS`; array commands are an ERROR saying there are no arrays
/// here ([`NO_ARRAYS`]); anything else is an ERROR naming the command.
pub fn answer(user: &str, cmd: &str, args: &str) -> Action {
    answer_in(user, cmd, args, String::new())
}

/// [`answer`], with the reply JSON written into `buffer` (see
/// [`envelope_in`]).
pub fn answer_in(user: &str, cmd: &str, args: &str, buffer: String) -> Action {
    use super::MsgType::{Error, Normal};
    // The reply text when it is made rather than fixed.
    let text: String;
    let (msg, msg_type, sleep) = match cmd {
        "connect" => ("connected to arkouda server tcp://*:5555", Normal, None),
        "disconnect" => (
            "disconnected from arkouda server tcp://*:5555",
            Normal,
            None,
        ),
        "getconfig" => {
            text = config_json();
            (&*text, Normal, None)
        }
        "getRegistrationConfig" => {
            text = registration_json();
            (&*text, Normal, None)
        }
        "ruok" => ("imok", Normal, None),
        "noop" => ("noop", Normal, None),
        "echo" => (args, Normal, None),
        "sleep" => match args.trim().parse::<u64>() {
            Ok(ms) if ms <= 60_000 => ("slept", Normal, Some(ms)),
            _ => (
                "sleep takes a number of milliseconds up to 60000",
                Error,
                None,
            ),
        },
        array if is_array_command(array) => {
            text = no_arrays_text(array);
            (&*text, Error, None)
        }
        other => {
            text = format!("Unrecognized command: {other}");
            (&*text, Error, None)
        }
    };
    let json = envelope_in(buffer, msg, msg_type, user);
    match sleep {
        Some(ms) => Action::Sleep(ms, json),
        None => Action::Reply(json),
    }
}

/// A configuration in the shape Arkouda's `getconfig` returns, with every
/// key its Python client reads (`arkoudaVersion` and `regexMaxCaptures` in
/// `ak.connect`, `byteorder`, `numLocales`, `physicalMemory`, `pythonVersion`).
fn config_json() -> String {
    serde_json::json!({
        "arkoudaVersion": concat!("arkwire-", env!("CARGO_PKG_VERSION")),
        "chplVersion": "none",
        "ZMQVersion": "none",
        "serverHostname": "localhost",
        "ServerPort": 5555,
        "numLocales": 1,
        "numPUs": 1,
        "maxTaskPar": 1,
        "physicalMemory": 0,
        "distributionType": "builtin",
        "LocaleConfigs": [{"id": 0, "name": "localhost", "numPUs": 1, "maxTaskPar": 1, "physicalMemory": 0}],
        "authenticate": false,
        "logLevel": "INFO",
        "logChannel": "CONSOLE",
        "regexMaxCaptures": 20,
        "byteorder": "little",
        "autoShutdown": false,
        "serverInfoNoSplash": false,
        "pythonVersion": "none",
    })
    .to_string()
}

/// The command registration Arkouda's client reads at connect
/// (`parameter_classes.array.nd` and `.dtype`).
fn registration_json() -> String {
    serde_json::json!({
        "parameter_classes": {
            "array": {
                "nd": [1],
                "dtype": ["int64", "uint64", "uint8", "float64", "bool", "bigint"],
            }
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arkouda::{parse_reply, MsgType};

    fn reply(cmd: &str, args: &str) -> String {
        match answer("kjyost", cmd, args) {
            Action::Reply(json) => json,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn commands_answer_as_documented() {
        let connect = reply("connect", "");
        let r = parse_reply(connect.as_bytes()).unwrap();
        assert!(r.msg.eq_str("connected to arkouda server tcp://*:5555"));
        assert_eq!(r.msg_type, MsgType::Normal);
        assert!(r.user.eq_str("kjyost"));
        assert!(parse_reply(reply("ruok", "").as_bytes())
            .unwrap()
            .msg
            .eq_str("imok"));
        assert!(parse_reply(reply("noop", "").as_bytes())
            .unwrap()
            .msg
            .eq_str("noop"));
        let cfg = reply("getconfig", "");
        let r = parse_reply(cfg.as_bytes()).unwrap();
        let inner: serde_json::Value = serde_json::from_str(&r.msg.to_string().unwrap()).unwrap();
        assert_eq!(inner["numLocales"], 1);
        for key in [
            "arkoudaVersion",
            "regexMaxCaptures",
            "byteorder",
            "physicalMemory",
        ] {
            assert!(inner.get(key).is_some(), "getconfig lacks {key}");
        }
        let reg = reply("getRegistrationConfig", "");
        let r = parse_reply(reg.as_bytes()).unwrap();
        let inner: serde_json::Value = serde_json::from_str(&r.msg.to_string().unwrap()).unwrap();
        assert_eq!(inner["parameter_classes"]["array"]["nd"][0], 1);
        let r = reply("disconnect", "");
        assert_eq!(parse_reply(r.as_bytes()).unwrap().msg_type, MsgType::Normal);
    }

    #[test]
    fn array_commands_say_there_are_no_arrays() {
        for cmd in [
            "create<int64,1>",
            "tondarray<int64,1>",
            "array<int64,1>",
            "delete",
        ] {
            let r = reply(cmd, "{}");
            let parsed = parse_reply(r.as_bytes()).unwrap();
            assert_eq!(parsed.msg_type, MsgType::Error);
            assert!(parsed.msg.to_string().unwrap().contains(NO_ARRAYS), "{cmd}");
        }
    }

    #[test]
    fn echo_survives_quotes_and_unicode() {
        let text = "a \"quoted\" \\ ✓ 😀\n";
        let r = reply("echo", text);
        assert!(parse_reply(r.as_bytes()).unwrap().msg.eq_str(text));
    }

    #[test]
    fn unknown_commands_are_arkouda_errors() {
        let r = reply("bogus", "");
        let parsed = parse_reply(r.as_bytes()).unwrap();
        assert_eq!(parsed.msg_type, MsgType::Error);
        assert!(parsed.msg.eq_str("Unrecognized command: bogus"));
    }

    #[test]
    fn sleep_is_bounded() {
        assert!(matches!(answer("u", "sleep", "250"), Action::Sleep(250, _)));
        assert!(matches!(answer("u", "sleep", "9999999"), Action::Reply(_)));
        assert!(matches!(answer("u", "sleep", "x"), Action::Reply(_)));
    }
}
