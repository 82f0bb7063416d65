//! The request JSON arkouda_server reads from its REP socket (the first, and
//! usually only, frame of a request).

use serde::Serialize;
use std::string::String;

use crate::proto::ArkoudaRequestRef;

/// The keys arkouda_server's message loop reads, in the order its Python
/// client writes them. `size` is a number, not a string.
#[derive(Serialize)]
struct RequestJson<'a> {
    user: &'a str,
    token: &'a str,
    cmd: &'a str,
    format: &'a str,
    size: i32,
    args: &'a str,
}

/// `{"user":..,"token":..,"cmd":..,"format":..,"size":..,"args":..}` for `req`,
/// escaped by serde_json. `request_id` belongs to the gRPC proxy, not to
/// arkouda_server, and is left out.
pub fn request_json(req: &ArkoudaRequestRef<'_>) -> String {
    let json = RequestJson {
        user: req.user,
        token: req.token,
        cmd: req.cmd,
        format: req.format,
        size: req.size,
        args: req.args,
    };
    // Serializing &str and i32 fields cannot fail (no maps with non-string
    // keys, no fallible Serialize impls); an empty string is never produced.
    serde_json::to_string(&json).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_and_escaping() {
        let req = ArkoudaRequestRef {
            user: "kjyost",
            token: "",
            cmd: "echo",
            format: "STRING",
            size: -1,
            args: "say \"hi\"\n\\ \u{1} ünï",
            request_id: Some("ignored"),
            ..Default::default()
        };
        let json = request_json(&req);
        assert_eq!(
            json,
            "{\"user\":\"kjyost\",\"token\":\"\",\"cmd\":\"echo\",\"format\":\"STRING\",\
             \"size\":-1,\"args\":\"say \\\"hi\\\"\\n\\\\ \\u0001 ünï\"}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["args"], req.args);
        assert_eq!(back["size"], -1);
    }
}
