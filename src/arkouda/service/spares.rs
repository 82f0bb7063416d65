//! What answered calls leave behind for the next calls on a connection: the
//! requests their handlers gave back and the memory of their replies' text,
//! emptied, so calls in steady state (many in flight included) allocate
//! nothing to be decoded or answered.

use std::string::String;
use std::vec::Vec;

use crate::proto::{ArkoudaRequest, ArkoudaResponse};

/// Largest string or payload, in bytes of capacity, kept; larger ones are
/// freed with their call.
pub(super) const SPARE_KEPT: usize = 4096;
/// Most requests, and most reply buffers, kept.
pub(super) const SPARES_MAX: usize = 128;
/// Most bytes of capacity kept in all.
pub(super) const SPARE_BYTES: usize = 32 * 1024;

/// Emptied requests and reply buffers, within [`SPARES_MAX`] each and
/// [`SPARE_BYTES`] together. What is kept is memory, never text: the next
/// call (another user's, perhaps) cannot read what an earlier one held.
#[derive(Default)]
pub(super) struct Spares {
    requests: Vec<ArkoudaRequest>,
    replies: Vec<String>,
    bytes: usize,
}

impl Spares {
    /// A request to decode into: a kept one, else a new one.
    pub(super) fn request(&mut self) -> ArkoudaRequest {
        let request = self.requests.pop().unwrap_or_default();
        self.bytes -= request_bytes(&request);
        request
    }

    /// An empty string for a reply's text: a kept one, else a new one.
    pub(super) fn reply(&mut self) -> String {
        let reply = self.replies.pop().unwrap_or_default();
        self.bytes -= reply.capacity();
        reply
    }

    /// Keeps what an answered call leaves: the response's text, and the
    /// request when its handler gave it back (its user and command back
    /// from the response they moved into).
    pub(super) fn keep(&mut self, response: ArkoudaResponse, request: Option<ArkoudaRequest>) {
        let reply = emptied(response.message);
        if self.replies.len() < SPARES_MAX && self.bytes + reply.capacity() <= SPARE_BYTES {
            self.bytes += reply.capacity();
            self.replies.push(reply);
        }
        let Some(mut request) = request else {
            return;
        };
        if request.user.capacity() == 0 {
            request.user = response.user.unwrap_or_default();
        }
        if request.cmd.capacity() == 0 {
            request.cmd = response.cmd.unwrap_or_default();
        }
        for s in [
            &mut request.user,
            &mut request.token,
            &mut request.cmd,
            &mut request.format,
            &mut request.args,
        ] {
            *s = emptied(core::mem::take(s));
        }
        request.payload.clear();
        if request.payload.capacity() > SPARE_KEPT {
            request.payload = Vec::new();
        }
        request.request_id = None;
        let bytes = request_bytes(&request);
        if self.requests.len() < SPARES_MAX && self.bytes + bytes <= SPARE_BYTES {
            self.bytes += bytes;
            self.requests.push(request);
        }
    }

    /// Bytes of capacity kept.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

/// `s` emptied, or a new string if it is larger than [`SPARE_KEPT`].
fn emptied(mut s: String) -> String {
    s.clear();
    if s.capacity() <= SPARE_KEPT {
        s
    } else {
        String::new()
    }
}

fn request_bytes(r: &ArkoudaRequest) -> usize {
    [&r.user, &r.token, &r.cmd, &r.format, &r.args]
        .iter()
        .map(|s| s.capacity())
        .sum::<usize>()
        + r.payload.capacity()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(len: usize) -> (ArkoudaResponse, ArkoudaRequest) {
        let request = ArkoudaRequest {
            token: "t".repeat(len),
            format: "STRING".into(),
            ..Default::default()
        };
        let response = ArkoudaResponse {
            message: "m".repeat(len),
            user: Some("u".repeat(len)),
            cmd: Some("c".into()),
            ..Default::default()
        };
        (response, request)
    }

    #[test]
    fn what_is_kept_is_emptied_and_bounded_in_count_and_bytes() {
        let mut spares = Spares::default();
        for _ in 0..1000 {
            let (response, request) = answered(20);
            spares.keep(response, Some(request));
        }
        assert!(spares.requests.len() <= SPARES_MAX && spares.replies.len() <= SPARES_MAX);
        assert!(spares.bytes() <= SPARE_BYTES, "{}", spares.bytes());
        let request = spares.request();
        assert_eq!(request, ArkoudaRequest::default());
        assert!(request.user.capacity() >= 20 && request.token.capacity() >= 20);
        let reply = spares.reply();
        assert!(reply.is_empty() && reply.capacity() >= 20);
        // Large strings are freed, not kept.
        let mut spares = Spares::default();
        let (response, request) = answered(SPARE_KEPT + 1);
        spares.keep(response, Some(request));
        assert_eq!(spares.reply().capacity(), 0);
        assert_eq!(spares.request().token.capacity(), 0);
        // Taking everything back leaves nothing counted.
        let mut spares = Spares::default();
        for n in 1..50 {
            let (response, request) = answered(n);
            spares.keep(response, Some(request));
        }
        while spares.requests.len() + spares.replies.len() > 0 {
            spares.request();
            spares.reply();
        }
        assert_eq!(spares.bytes(), 0);
    }
}
