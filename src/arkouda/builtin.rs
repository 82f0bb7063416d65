//! The built-in Arkouda backend that `arkwire serve` answers from when no
//! upstream arkouda_server is given: enough of Arkouda's command set for a
//! client to connect, check health and exchange data.

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
    // Serializing four strings cannot fail.
    serde_json::to_string(&e).unwrap_or_default()
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

/// Answers one command: `connect`, `getconfig`, `ruok`, `noop`, `echo`,
/// `sleep MILLIS`; anything else is an Arkouda ERROR reply.
pub fn answer(user: &str, cmd: &str, args: &str) -> Action {
    use super::MsgType::{Error, Normal};
    let normal = |msg: &str| Action::Reply(envelope(msg, Normal, user));
    match cmd {
        "connect" => normal("connected to arkouda server tcp://*:5555"),
        "getconfig" => normal(&config_json()),
        "ruok" => normal("imok"),
        "noop" => normal("noop"),
        "echo" => normal(args),
        "sleep" => match args.trim().parse::<u64>() {
            Ok(ms) if ms <= 60_000 => Action::Sleep(ms, envelope("slept", Normal, user)),
            _ => Action::Reply(envelope(
                "sleep takes a number of milliseconds up to 60000",
                Error,
                user,
            )),
        },
        other => Action::Reply(envelope(
            &format!("Unrecognized command: {other}"),
            Error,
            user,
        )),
    }
}

/// A configuration in the shape Arkouda's `getconfig` returns.
fn config_json() -> String {
    serde_json::json!({
        "arkoudaVersion": concat!("arkwire-", env!("CARGO_PKG_VERSION")),
        "serverHostname": "localhost",
        "ServerPort": 5555,
        "numLocales": 1,
        "numPUs": 1,
        "maxTaskPar": 1,
        "physicalMemory": 0,
        "distributionType": "builtin",
        "logLevel": "INFO",
        "authenticate": false,
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
