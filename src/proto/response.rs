use super::wire::{self, WireType};
use super::{check_capacity, DecodeError, EncodeError};

/// A borrowed `ArkoudaResponse`: every string points into the decoded input.
///
/// Field numbers follow `proto/arkouda.proto`: `message=1`, then the optional
/// `request_id=2, request_status=3, user=4, cmd=5, args=6` of the seed schema,
/// and the binary extension `payload=7`, which seed-schema peers skip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArkoudaResponseRef<'a> {
    /// Arkouda's reply JSON (see [`crate::arkouda::ArkoudaReply`]).
    pub message: &'a str,
    /// The asynchronous request id, when the proxy runs requests asynchronously.
    pub request_id: Option<&'a str>,
    /// The asynchronous request status, such as `SUBMITTED`.
    pub request_status: Option<&'a str>,
    /// The user the reply is for.
    pub user: Option<&'a str>,
    /// The command the reply answers.
    pub cmd: Option<&'a str>,
    /// The arguments of that command.
    pub args: Option<&'a str>,
    /// A binary reply's bytes, verbatim (then `message` says msgFormat
    /// BINARY); empty otherwise.
    pub payload: &'a [u8],
}

impl<'a> ArkoudaResponseRef<'a> {
    /// Decodes a response from `buf` without allocating; strings borrow from `buf`.
    ///
    /// Unknown fields are skipped; when a field repeats, the last value wins;
    /// an optional field present with an empty value decodes as `Some("")`.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut resp = ArkoudaResponseRef::default();
        wire::for_each_field(
            buf,
            |field| {
                (1..=7)
                    .contains(&field)
                    .then_some(WireType::LengthDelimited)
            },
            |field, value| {
                let wire::FieldValue::Bytes(b) = value else {
                    return Err(DecodeError::InvalidKey);
                };
                if field == 7 {
                    // bytes, not a string: no UTF-8 check.
                    resp.payload = b;
                    return Ok(());
                }
                let s = wire::utf8(field, b)?;
                match field {
                    1 => resp.message = s,
                    2 => resp.request_id = Some(s),
                    3 => resp.request_status = Some(s),
                    4 => resp.user = Some(s),
                    5 => resp.cmd = Some(s),
                    _ => resp.args = Some(s),
                }
                Ok(())
            },
        )?;
        Ok(resp)
    }

    fn optional_fields(&self) -> [(u32, Option<&'a str>); 5] {
        [
            (2, self.request_id),
            (3, self.request_status),
            (4, self.user),
            (5, self.cmd),
            (6, self.args),
        ]
    }

    /// Exact number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let message = if self.message.is_empty() {
            0
        } else {
            wire::str_field_len(1, self.message)
        };
        message
            + self
                .optional_fields()
                .iter()
                .filter_map(|&(field, v)| v.map(|v| wire::str_field_len(field, v)))
                .sum::<usize>()
            + if self.payload.is_empty() {
                0
            } else {
                wire::bytes_field_len(7, self.payload)
            }
    }

    /// Encodes in field order, omitting an empty `message`, absent
    /// optionals and an empty `payload`, exactly as prost does. Nothing is written when `out` lacks room.
    pub fn encode(&self, out: &mut impl bytes::BufMut) -> Result<(), EncodeError> {
        check_capacity(self.encoded_len(), out)?;
        if !self.message.is_empty() {
            wire::put_str_field(1, self.message, out);
        }
        for (field, value) in self.optional_fields() {
            if let Some(v) = value {
                wire::put_str_field(field, v, out);
            }
        }
        if !self.payload.is_empty() {
            wire::put_bytes_field(7, self.payload, out);
        }
        Ok(())
    }

    /// Encodes into the front of `buf`, returning the number of bytes written.
    pub fn encode_to_slice(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut out = &mut buf[..];
        self.encode(&mut out)?;
        Ok(self.encoded_len())
    }

    /// Copies the view into the owned prost type.
    #[cfg(feature = "alloc")]
    pub fn to_owned(&self) -> super::ArkoudaResponse {
        let mut out = super::ArkoudaResponse::default();
        self.copy_into(&mut out);
        out
    }

    /// What [`to_owned`](Self::to_owned) gives, written over `out` in the
    /// memory its strings and payload already hold: a response decoded
    /// into the same `out` call after call allocates only to grow.
    #[cfg(feature = "alloc")]
    pub fn copy_into(&self, out: &mut super::ArkoudaResponse) {
        use super::{set_bytes, set_optional, set_str};
        set_str(&mut out.message, self.message);
        set_optional(&mut out.request_id, self.request_id);
        set_optional(&mut out.request_status, self.request_status);
        set_optional(&mut out.user, self.user);
        set_optional(&mut out.cmd, self.cmd);
        set_optional(&mut out.args, self.args);
        set_bytes(&mut out.payload, self.payload);
    }
}

#[cfg(feature = "alloc")]
impl<'a> From<&'a super::ArkoudaResponse> for ArkoudaResponseRef<'a> {
    fn from(r: &'a super::ArkoudaResponse) -> Self {
        ArkoudaResponseRef {
            message: &r.message,
            request_id: r.request_id.as_deref(),
            request_status: r.request_status.as_deref(),
            user: r.user.as_deref(),
            cmd: r.cmd.as_deref(),
            args: r.args.as_deref(),
            payload: &r.payload,
        }
    }
}
