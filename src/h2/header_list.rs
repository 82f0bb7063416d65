//! A decoded header list stored in one byte buffer, so a stream's headers
//! need no allocation per field: each field is `[name_len u32][value_len u32][name][value]`.

use crate::buf::{Buffer, BufferFull};

/// Appends one field.
pub fn push(buf: &mut impl Buffer, name: &[u8], value: &[u8]) -> Result<(), BufferFull> {
    let (n, v) = (name.len() as u32, value.len() as u32);
    if buf.free() < 8 + name.len() + value.len() {
        return Err(BufferFull);
    }
    buf.try_extend(&n.to_be_bytes())?;
    buf.try_extend(&v.to_be_bytes())?;
    buf.try_extend(name)?;
    buf.try_extend(value)
}

/// Appends a field's lengths and name; the caller appends exactly
/// `value_len` value bytes next.
pub fn push_prefix(buf: &mut impl Buffer, name: &[u8], value_len: usize) -> Result<(), BufferFull> {
    let value_len32 = u32::try_from(value_len).map_err(|_| BufferFull)?;
    if buf.free() < 8 + name.len() + value_len {
        return Err(BufferFull);
    }
    buf.try_extend(&(name.len() as u32).to_be_bytes())?;
    buf.try_extend(&value_len32.to_be_bytes())?;
    buf.try_extend(name)
}

/// Bytes one field takes in a stored list.
pub const fn stored_len(name: &[u8], value: &[u8]) -> usize {
    8 + name.len() + value.len()
}

/// The fields of a stored header list, in order.
#[derive(Clone, Debug)]
pub struct HeaderIter<'a> {
    rest: &'a [u8],
}

impl<'a> HeaderIter<'a> {
    /// Iterates a list written by [`push`].
    pub fn new(stored: &'a [u8]) -> Self {
        HeaderIter { rest: stored }
    }

    /// The value of the first field named `name`.
    pub fn get(self, name: &[u8]) -> Option<&'a [u8]> {
        self.into_iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let len = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if self.rest.len() < 8 {
            return None;
        }
        let (n, v) = (len(&self.rest[..4]), len(&self.rest[4..8]));
        let body = self.rest.get(8..8 + n + v)?;
        self.rest = &self.rest[8 + n + v..];
        Some((&body[..n], &body[n..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_back_in_order() {
        let mut buf = heapless::Vec::<u8, 64>::new();
        push(&mut buf, b":status", b"200").unwrap();
        push(&mut buf, b"grpc-status", b"").unwrap();
        let all: std::vec::Vec<_> = HeaderIter::new(&buf).collect();
        assert_eq!(
            all,
            [
                (&b":status"[..], &b"200"[..]),
                (&b"grpc-status"[..], &b""[..])
            ]
        );
        assert_eq!(HeaderIter::new(&buf).get(b":status"), Some(&b"200"[..]));
        assert_eq!(HeaderIter::new(&buf).get(b"x"), None);
    }

    #[test]
    fn a_field_that_does_not_fit_leaves_the_list_unchanged() {
        let mut buf = heapless::Vec::<u8, 16>::new();
        push(&mut buf, b"a", b"b").unwrap();
        assert_eq!(push(&mut buf, b"name", b"value"), Err(BufferFull));
        assert_eq!(buf.len(), 10);
    }
}
