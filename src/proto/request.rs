use super::wire::{self, FieldValue, WireType};
use super::{check_capacity, DecodeError, EncodeError};

/// A borrowed `ArkoudaRequest`: every string points into the decoded input.
///
/// Field numbers follow `proto/arkouda.proto`: `user=1, token=2, cmd=3,
/// format=4, size=5, args=6, optional request_id=7` from the seed schema, and
/// the binary extension `recv_binary=8, payload=9`, which peers generated from
/// the seed schema skip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArkoudaRequestRef<'a> {
    /// The Arkouda user name.
    pub user: &'a str,
    /// The session token, empty when the server runs without authentication.
    pub token: &'a str,
    /// The Arkouda command, such as `connect` or `getconfig`.
    pub cmd: &'a str,
    /// The argument format, `STRING` or `BINARY`.
    pub format: &'a str,
    /// Size hint of the arguments; Arkouda clients send `-1` for "not given".
    pub size: i32,
    /// The command's arguments.
    pub args: &'a str,
    /// The asynchronous request id, if the call belongs to one.
    pub request_id: Option<&'a str>,
    /// The caller expects a binary reply: its bytes come back in
    /// [`ArkoudaResponseRef::payload`](super::ArkoudaResponseRef::payload).
    pub recv_binary: bool,
    /// The command's binary payload (an array for `ak.array`), any bytes;
    /// empty for a string command.
    pub payload: &'a [u8],
}

/// Where a request's payload lies, found from the message's first bytes
/// (see [`find_payload`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadAt {
    /// Bytes before the payload field's key: every other field that
    /// precedes it, decodable on their own.
    pub head_len: usize,
    /// Where the payload's bytes begin (after its key and length).
    pub start: usize,
    /// The payload's length, as announced.
    pub len: u64,
}

/// Finds the payload field (9) of a request from the first bytes of the
/// message, before the rest (and the payload itself) arrives: the fields
/// before it are walked, checked as [`ArkoudaRequestRef::decode`] checks
/// them, and skipped. `Ok(None)`: `prefix` ends before the payload's key
/// and length do (or the message has no payload at all). A payload that
/// is not the last field is for the caller to see: `start + len` then
/// falls short of the message's length.
pub fn find_payload(prefix: &[u8]) -> Result<Option<PayloadAt>, DecodeError> {
    let mut rest = prefix;
    loop {
        let at = prefix.len() - rest.len();
        if rest.is_empty() {
            return Ok(None);
        }
        let mut cursor = rest;
        let (field, wire_type) = match wire::read_key(&mut cursor) {
            Ok(key) => key,
            Err(DecodeError::Truncated) => return Ok(None),
            Err(e) => return Err(e),
        };
        if field == 9 && wire_type == WireType::LengthDelimited {
            return match wire::read_varint(&mut cursor) {
                Ok(len) => Ok(Some(PayloadAt {
                    head_len: at,
                    start: prefix.len() - cursor.len(),
                    len,
                })),
                Err(DecodeError::Truncated) => Ok(None),
                Err(e) => Err(e),
            };
        }
        // A field before the payload: whole, or wait for more.
        let mut next = rest;
        match skip_one(&mut next) {
            Ok(()) => rest = next,
            Err(DecodeError::Truncated) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// Skips one field of a request, checking it as the decoder would.
fn skip_one(buf: &mut &[u8]) -> Result<(), DecodeError> {
    let (field, wire_type) = wire::read_key(buf)?;
    let expected = match field {
        1..=4 | 6 | 7 | 9 => Some(WireType::LengthDelimited),
        5 | 8 => Some(WireType::Varint),
        _ => None,
    };
    match expected {
        None => wire::skip_field(field, wire_type, buf),
        Some(e) if e != wire_type => Err(DecodeError::WrongWireType {
            field,
            expected: e,
            found: wire_type,
        }),
        Some(WireType::Varint) => wire::read_varint(buf).map(|_| ()),
        Some(_) => {
            let value = wire::read_len_delimited(buf)?;
            if field != 9 {
                wire::utf8(field, value)?;
            }
            Ok(())
        }
    }
}

impl<'a> ArkoudaRequestRef<'a> {
    /// Decodes a request from `buf` without allocating; strings borrow from `buf`.
    ///
    /// Unknown fields are skipped; when a field repeats, the last value wins.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut req = ArkoudaRequestRef::default();
        wire::for_each_field(
            buf,
            |field| match field {
                1..=4 | 6 | 7 | 9 => Some(WireType::LengthDelimited),
                5 | 8 => Some(WireType::Varint),
                _ => None,
            },
            |field, value| {
                match value {
                    // A bool is any varint, true when not zero, as protobuf specifies.
                    FieldValue::Varint(v) if field == 8 => req.recv_binary = v != 0,
                    // int32 keeps the low 32 bits of the varint, as protobuf specifies.
                    FieldValue::Varint(v) => req.size = v as i32,
                    // bytes, not a string: no UTF-8 check.
                    FieldValue::Bytes(b) if field == 9 => req.payload = b,
                    FieldValue::Bytes(b) => {
                        let s = wire::utf8(field, b)?;
                        match field {
                            1 => req.user = s,
                            2 => req.token = s,
                            3 => req.cmd = s,
                            4 => req.format = s,
                            6 => req.args = s,
                            _ => req.request_id = Some(s),
                        }
                    }
                }
                Ok(())
            },
        )?;
        Ok(req)
    }

    /// Exact number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let s = |field, v: &str| {
            if v.is_empty() {
                0
            } else {
                wire::str_field_len(field, v)
            }
        };
        s(1, self.user)
            + s(2, self.token)
            + s(3, self.cmd)
            + s(4, self.format)
            + if self.size == 0 {
                0
            } else {
                wire::int32_field_len(5, self.size)
            }
            + s(6, self.args)
            + self.request_id.map_or(0, |v| wire::str_field_len(7, v))
            + if self.recv_binary {
                wire::bool_field_len(8)
            } else {
                0
            }
            + if self.payload.is_empty() {
                0
            } else {
                wire::bytes_field_len(9, self.payload)
            }
    }

    /// Encodes in field order, omitting proto3 defaults, exactly as prost does.
    /// Nothing is written when `out` lacks room.
    pub fn encode(&self, out: &mut impl bytes::BufMut) -> Result<(), EncodeError> {
        check_capacity(self.encoded_len(), out)?;
        for (field, value) in [
            (1, self.user),
            (2, self.token),
            (3, self.cmd),
            (4, self.format),
        ] {
            if !value.is_empty() {
                wire::put_str_field(field, value, out);
            }
        }
        if self.size != 0 {
            wire::put_int32_field(5, self.size, out);
        }
        if !self.args.is_empty() {
            wire::put_str_field(6, self.args, out);
        }
        if let Some(id) = self.request_id {
            wire::put_str_field(7, id, out);
        }
        if self.recv_binary {
            wire::put_bool_field(8, out);
        }
        if !self.payload.is_empty() {
            wire::put_bytes_field(9, self.payload, out);
        }
        Ok(())
    }

    /// Appends the encoding to a [`Buffer`](crate::buf::Buffer), all or nothing.
    pub fn encode_to_buffer(
        &self,
        out: &mut impl crate::buf::Buffer,
    ) -> Result<(), crate::buf::BufferFull> {
        let len = self.encoded_len();
        if out.free() < len {
            return Err(crate::buf::BufferFull);
        }
        /// One field: its key and length (or varint value), then its bytes.
        fn put<B: crate::buf::Buffer>(
            out: &mut B,
            field: u32,
            value: Result<&[u8], i32>,
        ) -> Result<(), crate::buf::BufferFull> {
            let mut head = [0u8; 20];
            let mut h = &mut head[..];
            match value {
                Ok(v) => {
                    wire::write_varint((u64::from(field) << 3) | 2, &mut h);
                    wire::write_varint(v.len() as u64, &mut h);
                }
                Err(n) => wire::put_int32_field(field, n, &mut h),
            }
            let n = 20 - h.len();
            out.try_extend(&head[..n])?;
            out.try_extend(value.unwrap_or_default())
        }
        for (field, value) in [
            (1, self.user),
            (2, self.token),
            (3, self.cmd),
            (4, self.format),
        ] {
            if !value.is_empty() {
                put(out, field, Ok(value.as_bytes()))?;
            }
        }
        if self.size != 0 {
            put(out, 5, Err(self.size))?;
        }
        if !self.args.is_empty() {
            put(out, 6, Ok(self.args.as_bytes()))?;
        }
        if let Some(id) = self.request_id {
            put(out, 7, Ok(id.as_bytes()))?;
        }
        if self.recv_binary {
            put(out, 8, Err(1))?;
        }
        if !self.payload.is_empty() {
            put(out, 9, Ok(self.payload))?;
        }
        Ok(())
    }

    /// Bytes of the encoding that precede a payload of `payload_len` bytes
    /// (see [`encode_head`](Self::encode_head)).
    pub fn head_len(&self, payload_len: usize) -> usize {
        let text = ArkoudaRequestRef {
            payload: &[],
            ..*self
        };
        text.encoded_len() + payload_key_len(payload_len)
    }

    /// Encodes into the front of `buf` what precedes a payload of
    /// `payload_len` bytes: every other field, then the payload's key and
    /// length. The payload is the last field we write, so its bytes can
    /// follow from wherever they are, in parts, and the whole is what
    /// [`encode`](Self::encode) writes with that payload. `self.payload`
    /// is not read. Returns the bytes written ([`head_len`](Self::head_len)).
    pub fn encode_head(&self, payload_len: usize, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let text = ArkoudaRequestRef {
            payload: &[],
            ..*self
        };
        let len = self.head_len(payload_len);
        let mut out = &mut buf[..];
        check_capacity(len, &out)?;
        text.encode(&mut out)?;
        if payload_len > 0 {
            wire::write_varint((9 << 3) | 2, &mut out);
            wire::write_varint(payload_len as u64, &mut out);
        }
        Ok(len)
    }

    /// Encodes into the front of `buf`, returning the number of bytes written.
    pub fn encode_to_slice(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut out = &mut buf[..];
        self.encode(&mut out)?;
        Ok(self.encoded_len())
    }

    /// Copies the view into the owned prost type.
    #[cfg(feature = "alloc")]
    pub fn to_owned(&self) -> super::ArkoudaRequest {
        let mut out = super::ArkoudaRequest::default();
        self.copy_into(&mut out);
        out
    }

    /// What [`to_owned`](Self::to_owned) gives, written over `out` in the
    /// memory its strings and payload already hold: a request decoded
    /// into the same `out` call after call allocates only to grow.
    #[cfg(feature = "alloc")]
    pub fn copy_into(&self, out: &mut super::ArkoudaRequest) {
        use super::{set_bytes, set_optional, set_str};
        set_str(&mut out.user, self.user);
        set_str(&mut out.token, self.token);
        set_str(&mut out.cmd, self.cmd);
        set_str(&mut out.format, self.format);
        out.size = self.size;
        set_str(&mut out.args, self.args);
        set_optional(&mut out.request_id, self.request_id);
        out.recv_binary = self.recv_binary;
        set_bytes(&mut out.payload, self.payload);
    }
}

/// The payload field's key and length, or nothing for no payload.
fn payload_key_len(payload_len: usize) -> usize {
    if payload_len == 0 {
        0
    } else {
        wire::varint_len(9 << 3) + wire::varint_len(payload_len as u64)
    }
}

#[cfg(feature = "alloc")]
impl<'a> From<&'a super::ArkoudaRequest> for ArkoudaRequestRef<'a> {
    fn from(r: &'a super::ArkoudaRequest) -> Self {
        ArkoudaRequestRef {
            user: &r.user,
            token: &r.token,
            cmd: &r.cmd,
            format: &r.format,
            size: r.size,
            args: &r.args,
            request_id: r.request_id.as_deref(),
            recv_binary: r.recv_binary,
            payload: &r.payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(req: &ArkoudaRequestRef<'_>) -> std::vec::Vec<u8> {
        let mut out = std::vec::Vec::new();
        req.encode(&mut out).unwrap();
        out
    }

    #[test]
    fn the_payload_is_found_from_the_first_bytes_and_the_head_decodes_alone() {
        let payload = [7u8; 300];
        let req = ArkoudaRequestRef {
            user: "kjyost",
            token: "secret",
            cmd: "array",
            format: "BINARY",
            size: 3,
            args: "{\"dtype\":\"int64\"}",
            request_id: Some("r1"),
            recv_binary: true,
            payload: &payload,
        };
        let bytes = encoded(&req);
        let mut found_at = None;
        for cut in 0..=bytes.len() {
            match find_payload(&bytes[..cut]).unwrap() {
                None => assert!(found_at.is_none(), "found, then lost at {cut}"),
                Some(at) => {
                    found_at.get_or_insert(cut);
                    assert_eq!(at.len, 300);
                    assert_eq!(at.start + 300, bytes.len(), "our encoder writes it last");
                    let head = ArkoudaRequestRef::decode(&bytes[..at.head_len]).unwrap();
                    assert_eq!(
                        head,
                        ArkoudaRequestRef {
                            payload: &[],
                            ..req
                        }
                    );
                }
            }
        }
        // The key and a two-byte length must be in; no payload byte is needed.
        assert_eq!(found_at, Some(bytes.len() - 300));
    }

    #[test]
    fn the_head_then_the_payload_is_what_prost_encodes() {
        use prost::Message;
        for n in [0usize, 1, 127, 128, 300, 70_000] {
            let payload = std::vec![0xa5u8; n];
            let req = ArkoudaRequestRef {
                user: "kjyost",
                token: "secret",
                cmd: "array",
                format: "BINARY",
                size: -1,
                args: "int64 1",
                request_id: None,
                recv_binary: false,
                payload: &payload,
            };
            let golden = req.to_owned().encode_to_vec();
            let mut head = std::vec![0u8; req.head_len(n)];
            let without = ArkoudaRequestRef {
                payload: &[],
                ..req
            };
            assert_eq!(without.encode_head(n, &mut head), Ok(head.len()));
            head.extend_from_slice(&payload);
            assert_eq!(head, golden, "payload of {n} bytes");
        }
        let mut short = [0u8; 4];
        let req = ArkoudaRequestRef {
            user: "kjyost",
            ..Default::default()
        };
        assert!(req.encode_head(10, &mut short).is_err());
    }

    #[test]
    fn a_payload_before_other_fields_is_reported_where_it_is() {
        // Field 9 first, then user: a peer that orders fields its own way.
        let mut bytes = std::vec![0x4a, 2, 0xff, 0xfe];
        bytes.extend_from_slice(&[0x0a, 1, b'u']);
        let at = find_payload(&bytes).unwrap().unwrap();
        assert_eq!((at.head_len, at.start, at.len), (0, 2, 2));
        assert!(at.start as u64 + at.len < bytes.len() as u64);
    }

    #[test]
    fn bad_fields_before_the_payload_are_errors_and_no_payload_is_none() {
        // user (field 1) with invalid UTF-8.
        assert_eq!(
            find_payload(&[0x0a, 1, 0xff, 0x4a, 0]),
            Err(DecodeError::InvalidUtf8 { field: 1 })
        );
        // size (field 5) sent length-delimited.
        assert!(matches!(
            find_payload(&[0x2a, 0]),
            Err(DecodeError::WrongWireType { field: 5, .. })
        ));
        assert_eq!(find_payload(&[0x0a, 1, b'u']), Ok(None));
        // Unknown fields before the payload are skipped.
        let at = find_payload(&[0x50, 1, 0x4a, 3]).unwrap().unwrap();
        assert_eq!((at.head_len, at.start, at.len), (2, 4, 3));
    }
}
