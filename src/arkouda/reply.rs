use core::fmt;

use serde::Deserialize;

use super::JsonStr;

/// Arkouda's `msgType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum MsgType {
    /// The command succeeded.
    #[serde(rename = "NORMAL")]
    Normal,
    /// The command succeeded with a warning in `msg`.
    #[serde(rename = "WARNING")]
    Warning,
    /// The command failed; `msg` says why.
    #[serde(rename = "ERROR")]
    Error,
}

/// Arkouda's `msgFormat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum MsgFormat {
    /// `msg` is text.
    #[default]
    #[serde(rename = "STRING")]
    String,
    /// A binary payload follows the JSON.
    #[serde(rename = "BINARY")]
    Binary,
}

/// Arkouda's reply: `{"msg", "msgType", "msgFormat", "user"}`.
///
/// Unknown keys are ignored. `msgFormat` defaults to `STRING` and `user` to
/// empty when a server leaves them out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct ArkoudaReply<'a> {
    /// The reply text (often itself JSON, as for `getconfig`).
    #[serde(borrow)]
    pub msg: JsonStr<'a>,
    /// Whether the command succeeded.
    #[serde(rename = "msgType")]
    pub msg_type: MsgType,
    /// Text or binary.
    #[serde(rename = "msgFormat", default)]
    pub msg_format: MsgFormat,
    /// The user the reply is for.
    #[serde(borrow, default)]
    pub user: JsonStr<'a>,
}

/// The asynchronous proxy's status reply:
/// `{"request_id", "request_status"}` while a request runs and
/// `{"request_id", "request_result": {...}}` once it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct AsyncStatus<'a> {
    /// The id the request was submitted under.
    #[serde(borrow)]
    pub request_id: JsonStr<'a>,
    /// `PENDING`, `RUNNING`, `FAILED`, …, absent once a result is present.
    #[serde(borrow, default)]
    pub request_status: Option<JsonStr<'a>>,
    /// The finished request's Arkouda reply.
    #[serde(borrow, default)]
    pub request_result: Option<ArkoudaReply<'a>>,
    /// Why a FAILED request failed.
    #[serde(borrow, default)]
    pub error: Option<JsonStr<'a>>,
}

/// Where an asynchronous request stands, as typed values rather than JSON text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState<'a> {
    /// Accepted, not yet started.
    Submitted,
    /// Waiting to run.
    Pending,
    /// Running.
    Running,
    /// Done; here is Arkouda's reply.
    Finished(ArkoudaReply<'a>),
    /// The proxy reports the request failed.
    Failed,
    /// A status this crate does not know, or none at all.
    Unknown(JsonStr<'a>),
}

impl<'a> AsyncStatus<'a> {
    /// Classifies the status; a result wins over any status text.
    pub fn state(&self) -> RequestState<'a> {
        if let Some(reply) = self.request_result {
            return RequestState::Finished(reply);
        }
        let status = self.request_status.unwrap_or_default();
        [
            ("SUBMITTED", RequestState::Submitted),
            ("PENDING", RequestState::Pending),
            ("RUNNING", RequestState::Running),
            ("FAILED", RequestState::Failed),
        ]
        .into_iter()
        .find(|(name, _)| status.eq_str(name))
        .map_or(RequestState::Unknown(status), |(_, state)| state)
    }
}

/// The reply is not the JSON this crate expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError(serde_json_core::de::Error);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Arkouda reply JSON: {}", self.0)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for JsonError {}

fn parse<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Result<T, JsonError> {
    let (value, used) = serde_json_core::from_slice::<T>(json).map_err(JsonError)?;
    let rest = json.get(used..).unwrap_or_default();
    if !rest.iter().all(u8::is_ascii_whitespace) {
        return Err(JsonError(serde_json_core::de::Error::TrailingCharacters));
    }
    Ok(value)
}

/// Parses Arkouda's reply JSON (the text of `ArkoudaResponse.message`) without allocating.
pub fn parse_reply(json: &[u8]) -> Result<ArkoudaReply<'_>, JsonError> {
    parse(json)
}

/// Parses the asynchronous proxy's status JSON without allocating.
pub fn parse_async_status(json: &[u8]) -> Result<AsyncStatus<'_>, JsonError> {
    parse(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_reply_parses_and_borrows() {
        let json = br#"{"msg": "connected to arkouda server tcp://*:5555", "msgType": "NORMAL", "msgFormat": "STRING", "user": "kjyost"}"#;
        let reply = parse_reply(json).unwrap();
        assert_eq!(
            reply.msg.as_str(),
            Some("connected to arkouda server tcp://*:5555")
        );
        assert_eq!(reply.msg_type, MsgType::Normal);
        assert_eq!(reply.msg_format, MsgFormat::String);
        assert_eq!(reply.user.as_str(), Some("kjyost"));
    }

    #[test]
    fn unknown_keys_of_every_json_kind_are_ignored() {
        let json = br#"{"extra": {"a": [1, "x\"y", null]}, "n": -1.5e3, "t": true,
            "msg": "ok", "msgType": "WARNING", "s": "esc\n", "msgFormat": "BINARY", "user": ""}"#;
        let reply = parse_reply(json).unwrap();
        assert_eq!(reply.msg_type, MsgType::Warning);
        assert_eq!(reply.msg_format, MsgFormat::Binary);
        assert_eq!(reply.msg.as_str(), Some("ok"));
    }

    #[test]
    fn escaped_msg_is_decoded_not_borrowed() {
        // getconfig's msg is itself JSON, so its quotes arrive escaped.
        let json = br#"{"msg": "{\"serverHostname\": \"h\u00e9\"}", "msgType": "NORMAL", "msgFormat": "STRING", "user": "u"}"#;
        let reply = parse_reply(json).unwrap();
        assert_eq!(reply.msg.as_str(), None);
        let mut buf = [0u8; 64];
        assert_eq!(
            reply.msg.unescape_into(&mut buf),
            Ok(r#"{"serverHostname": "hé"}"#)
        );
    }

    #[test]
    fn error_reply_and_bad_inputs() {
        let json = br#"{"msg": "Unrecognized command: bogus", "msgType": "ERROR", "msgFormat": "STRING", "user": "u"}"#;
        assert_eq!(parse_reply(json).unwrap().msg_type, MsgType::Error);
        for bad in [
            &br#"{"msg": "x", "msgType": "FATAL"}"#[..],
            br#"{"msgType": "NORMAL"}"#,
            br#"{"msg": "x", "msgType": "NORMAL"} trailing"#,
            br#"{"msg": "x", "msgType": "NORMAL""#,
            b"",
            b"[]",
        ] {
            assert!(parse_reply(bad).is_err(), "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn async_status_states() {
        let pending =
            parse_async_status(br#"{"request_id": "abc123", "request_status": "PENDING"}"#)
                .unwrap();
        assert_eq!(pending.request_id.as_str(), Some("abc123"));
        assert_eq!(pending.state(), RequestState::Pending);

        let done = parse_async_status(
            br#"{"request_id": "abc123", "request_result": {"msg": "imok", "msgType": "NORMAL", "msgFormat": "STRING", "user": "u"}}"#,
        )
        .unwrap();
        let RequestState::Finished(reply) = done.state() else {
            panic!("expected a finished request, got {:?}", done.state());
        };
        assert_eq!(reply.msg.as_str(), Some("imok"));

        let odd = parse_async_status(br#"{"request_id": "x", "request_status": "LOST"}"#).unwrap();
        assert_eq!(
            odd.state(),
            RequestState::Unknown(JsonStr::from_raw("LOST"))
        );
    }
}
