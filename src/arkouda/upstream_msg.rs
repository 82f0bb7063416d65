//! Arkouda's binary messages between the proxy and arkouda_server, and how a
//! command's result travels back in an `ArkoudaResponse`.
//!
//! arkouda_server's ZeroMQ shapes (its Python client's `ZmqChannel`):
//! - a string request is one frame of request JSON;
//! - a binary request is two frames: the request JSON with `"format":"BINARY"`
//!   and the text `BINARY_PAYLOAD` appended (sent with the MORE flag), then
//!   the raw payload;
//! - a reply to a client that asked `recv_binary` is one frame of raw bytes,
//!   or an error: a frame starting `Error:`, or (as arkouda_server answers
//!   some failures on that path) Arkouda's reply JSON with msgType ERROR.
//!
//! Only the client knows that it expects binary; the bytes alone cannot tell.
//! So the gRPC request carries `recv_binary`, and a binary result goes back
//! in `ArkoudaResponse.payload` with reply JSON saying msgFormat BINARY in
//! `message`.

use std::string::{String, ToString};
use std::vec::Vec;

use super::builtin::envelope;
use super::proxy::BackendError;
use super::{parse_reply, MsgType};
use crate::grpc::Code;
use crate::proto::{ArkoudaRequest, ArkoudaRequestRef, ArkoudaResponse};

/// The text arkouda_server splits a binary request's first frame at.
pub const BINARY_PAYLOAD_MARKER: &str = "BINARY_PAYLOAD";

/// The prefix of an error arkouda_server sends in place of a binary reply.
pub const ERROR_PREFIX: &[u8] = b"Error:";

/// Default of `--max-binary-size`: 64 MiB each way.
pub const DEFAULT_MAX_BINARY_SIZE: usize = 64 << 20;

/// Largest `--max-binary-size` accepted: 2 GiB, what a gRPC message's
/// 32-bit length prefix (and grpcio) can carry.
pub const MAX_BINARY_SIZE_LIMIT: usize = 2 << 30;

/// A command's result: Arkouda's reply JSON, or the raw bytes of a binary
/// reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Reply JSON `{"msg","msgType","msgFormat","user"}`.
    Json(String),
    /// The bytes of a binary reply (an array for `tondarray`), verbatim.
    Binary(Vec<u8>),
}

impl Reply {
    /// Bytes the result holds.
    pub fn len(&self) -> usize {
        match self {
            Reply::Json(json) => json.len(),
            Reply::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the result holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `ArkoudaResponse` answering `request` with this result: reply
    /// JSON in `message`; or, for a binary reply, the bytes in `payload`
    /// and reply JSON saying msgFormat BINARY in `message`.
    pub fn into_response(self, request: &ArkoudaRequest) -> ArkoudaResponse {
        self.response(request.user.clone(), request.cmd.clone())
    }

    /// [`into_response`](Self::into_response) for a request that is done
    /// with: its user and command move into the response (leaving them
    /// empty in `request`).
    pub fn into_response_of(self, request: &mut ArkoudaRequest) -> ArkoudaResponse {
        self.response(
            core::mem::take(&mut request.user),
            core::mem::take(&mut request.cmd),
        )
    }

    fn response(self, user: String, cmd: String) -> ArkoudaResponse {
        let (message, payload) = match self {
            Reply::Json(json) => (json, Vec::new()),
            Reply::Binary(bytes) => (binary_envelope(&user), bytes),
        };
        ArkoudaResponse {
            message,
            user: Some(user),
            cmd: Some(cmd),
            payload,
            ..Default::default()
        }
    }
}

/// Reply JSON announcing a binary result: empty `msg`, msgType NORMAL,
/// msgFormat BINARY.
pub fn binary_envelope(user: &str) -> String {
    serde_json::json!({"msg": "", "msgType": "NORMAL", "msgFormat": "BINARY", "user": user})
        .to_string()
}

/// Whether `request` is a binary request (it carries a payload, or says
/// format BINARY, as an empty array does).
pub fn is_binary(request: &ArkoudaRequestRef<'_>) -> bool {
    !request.payload.is_empty() || request.format == "BINARY"
}

/// The first frame arkouda_server reads for `request`: the request JSON, and
/// for a binary request the JSON with format BINARY followed by
/// [`BINARY_PAYLOAD_MARKER`]; the payload is then the second frame.
pub fn first_frame(request: &ArkoudaRequestRef<'_>) -> Vec<u8> {
    if !is_binary(request) {
        return crate::zmtp::arkouda::request_json(request).into_bytes();
    }
    let binary = ArkoudaRequestRef {
        format: "BINARY",
        ..*request
    };
    let mut frame = crate::zmtp::arkouda::request_json(&binary).into_bytes();
    frame.extend_from_slice(BINARY_PAYLOAD_MARKER.as_bytes());
    frame
}

/// Refuses a request whose payload is larger than `max_binary_size`.
pub fn check_request(
    request: &ArkoudaRequestRef<'_>,
    max_binary_size: usize,
) -> Result<(), BackendError> {
    if request.payload.len() > max_binary_size {
        return Err(too_large("request", request.payload.len(), max_binary_size));
    }
    Ok(())
}

/// RESOURCE_EXHAUSTED naming the limit and the flag that sets it.
pub fn too_large(what: &str, size: usize, max_binary_size: usize) -> BackendError {
    BackendError::new(
        Code::ResourceExhausted,
        std::format!(
            "binary {what} of {size} bytes exceeds the limit of {max_binary_size} bytes \
             (serve --max-binary-size)"
        ),
    )
}

/// A [`Handler`](super::service::Handler) in front of another that holds each
/// request to two separate limits: its text fields to `max_message_size`
/// (`serve --max-message-size`) and its binary payload to `max_binary_size`
/// (`serve --max-binary-size`), each refused with RESOURCE_EXHAUSTED naming
/// its flag. The gRPC layer underneath must accept messages of both together.
pub struct Limited<H: ?Sized> {
    /// The handler requests within the limits go to.
    pub inner: std::sync::Arc<H>,
    /// Largest request without its payload, in bytes.
    pub max_message_size: usize,
    /// Largest payload, in bytes.
    pub max_binary_size: usize,
}

impl<H: super::service::Handler + ?Sized> super::service::Handler for Limited<H> {
    fn handle(&self, request: ArkoudaRequest, responder: super::service::Responder) {
        let view = ArkoudaRequestRef::from(&request);
        let text = view.encoded_len().saturating_sub(request.payload.len());
        if text > self.max_message_size {
            return responder.error(
                Code::ResourceExhausted,
                &std::format!(
                    "request of {text} bytes (without its binary payload) exceeds the limit of \
                     {} bytes (serve --max-message-size)",
                    self.max_message_size
                ),
            );
        }
        if let Err(e) = check_request(&view, self.max_binary_size) {
            return responder.error(e.code, &e.message);
        }
        self.inner.handle(request, responder)
    }

    fn takes_streamed(&self) -> bool {
        self.inner.takes_streamed()
    }

    fn handle_streamed(
        &self,
        request: ArkoudaRequest,
        upload: super::pipe::Upload,
        responder: super::service::Responder,
    ) {
        let text = ArkoudaRequestRef::from(&request).encoded_len();
        let refusal = if text > self.max_message_size {
            Some(std::format!(
                "request of {text} bytes (without its binary payload) exceeds the limit of \
                 {} bytes (serve --max-message-size)",
                self.max_message_size
            ))
        } else if upload.len > self.max_binary_size as u64 {
            let size = usize::try_from(upload.len).unwrap_or(usize::MAX);
            Some(too_large("request", size, self.max_binary_size).message)
        } else {
            None
        };
        match refusal {
            Some(why) => {
                upload.pipe.abort(Code::ResourceExhausted, &why);
                responder.error(Code::ResourceExhausted, &why)
            }
            None => self.inner.handle_streamed(request, upload, responder),
        }
    }
}

/// Reads arkouda_server's reply frames: for a `recv_binary` request a binary
/// reply (or the error it sends instead), otherwise reply JSON, which must
/// be UTF-8 to fit `ArkoudaResponse.message` (else DATA_LOSS, never mangled).
pub fn read_reply(
    mut frames: Vec<Vec<u8>>,
    recv_binary: bool,
    user: &str,
    max_binary_size: usize,
) -> Result<Reply, BackendError> {
    if frames.len() != 1 {
        return Err(BackendError::new(
            Code::DataLoss,
            std::format!(
                "arkouda_server sent a {}-frame reply; Arkouda replies are one frame",
                frames.len()
            ),
        ));
    }
    let frame = frames.remove(0);
    if recv_binary {
        if frame.starts_with(ERROR_PREFIX) {
            let text = String::from_utf8_lossy(&frame);
            return Ok(Reply::Json(envelope(&text, MsgType::Error, user)));
        }
        // Reply JSON with msgType ERROR: an error answered as a string.
        if frame.first() == Some(&b'{')
            && parse_reply(&frame).is_ok_and(|r| r.msg_type == MsgType::Error)
        {
            if let Ok(json) = String::from_utf8(frame.clone()) {
                return Ok(Reply::Json(json));
            }
        }
        if frame.len() > max_binary_size {
            return Err(too_large("reply", frame.len(), max_binary_size));
        }
        return Ok(Reply::Binary(frame));
    }
    String::from_utf8(frame).map(Reply::Json).map_err(|_| {
        BackendError::new(
            Code::DataLoss,
            "arkouda_server's reply is not UTF-8; a string request's reply goes in \
             ArkoudaResponse.message, a string (ask with recv_binary for bytes)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn request(payload: &[u8]) -> ArkoudaRequestRef<'_> {
        ArkoudaRequestRef {
            user: "kjyost",
            cmd: "array",
            format: "STRING",
            size: 2,
            args: "{\"dtype\":\"int64\"}",
            payload,
            ..Default::default()
        }
    }

    #[test]
    fn binary_request_json_says_binary_and_ends_with_the_marker() {
        let frame = first_frame(&request(&[0xff, 0]));
        let text = core::str::from_utf8(&frame).unwrap();
        let json = text.strip_suffix(BINARY_PAYLOAD_MARKER).unwrap();
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(value["format"], "BINARY");
        assert_eq!(value["cmd"], "array");
        assert_eq!(value["size"], 2);
    }

    #[test]
    fn string_request_is_plain_json() {
        let frame = first_frame(&request(&[]));
        let value: serde_json::Value = serde_json::from_slice(&frame).unwrap();
        assert_eq!(value["format"], "STRING");
    }

    #[test]
    fn binary_replies_are_verbatim_and_errors_become_error_replies() {
        let bytes = vec![0xff, 0xfe, b'{', 0];
        let reply = read_reply(vec![bytes.clone()], true, "u", 1 << 20).unwrap();
        assert_eq!(reply, Reply::Binary(bytes));

        let Reply::Json(json) =
            read_reply(vec![b"Error: no such array".to_vec()], true, "u", 1 << 20).unwrap()
        else {
            panic!("an Error: frame is reply JSON");
        };
        let parsed = parse_reply(json.as_bytes()).unwrap();
        assert_eq!(parsed.msg_type, MsgType::Error);
        assert!(parsed.msg.eq_str("Error: no such array"));

        let error = envelope("bad name", MsgType::Error, "u");
        let reply = read_reply(vec![error.clone().into_bytes()], true, "u", 1 << 20).unwrap();
        assert_eq!(reply, Reply::Json(error));
    }

    #[test]
    fn utf8_bytes_asked_as_binary_stay_binary() {
        // An int64 array whose bytes happen to be text, even JSON-looking text.
        let normal = envelope("x", MsgType::Normal, "u").into_bytes();
        let reply = read_reply(vec![normal.clone()], true, "u", 1 << 20).unwrap();
        assert_eq!(reply, Reply::Binary(normal));
    }

    #[test]
    fn non_utf8_string_reply_is_data_loss_and_limits_are_named() {
        let e = read_reply(vec![vec![0xff]], false, "u", 1 << 20).unwrap_err();
        assert_eq!(e.code, Code::DataLoss);
        let e = read_reply(vec![vec![1, 2], vec![3]], true, "u", 1 << 20).unwrap_err();
        assert_eq!(e.code, Code::DataLoss);
        let e = read_reply(vec![vec![0; 9]], true, "u", 8).unwrap_err();
        assert_eq!(e.code, Code::ResourceExhausted);
        assert!(e.message.contains("--max-binary-size"), "{}", e.message);
        let e = check_request(&request(&[0; 9]), 8).unwrap_err();
        assert_eq!(e.code, Code::ResourceExhausted);
        assert!(check_request(&request(&[0; 8]), 8).is_ok());
    }

    #[test]
    fn a_response_of_a_finished_request_is_the_same_as_one_borrowing_it() {
        let req = request(&[]).to_owned();
        for reply in [Reply::Binary(vec![1, 2]), Reply::Json("{}".into())] {
            let borrowed = match &reply {
                Reply::Binary(b) => Reply::Binary(b.clone()),
                Reply::Json(j) => Reply::Json(j.clone()),
            }
            .into_response(&req);
            assert_eq!(reply.into_response_of(&mut req.clone()), borrowed);
        }
    }

    #[test]
    fn binary_result_goes_in_the_payload() {
        let req = request(&[]).to_owned();
        let resp = Reply::Binary(vec![0xff]).into_response(&req);
        assert_eq!(resp.payload, vec![0xff]);
        let parsed = parse_reply(resp.message.as_bytes()).unwrap();
        assert_eq!(parsed.msg_format, super::super::MsgFormat::Binary);
        let resp = Reply::Json("{}".into()).into_response(&req);
        assert!(resp.payload.is_empty());
        assert_eq!(resp.message, "{}");
    }
}
