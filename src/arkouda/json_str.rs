use core::fmt;

/// A JSON string as it appeared in the input, escapes and all.
///
/// Deserializing one never allocates. [`as_str`](Self::as_str) borrows when
/// the text needs no unescaping; [`unescape_into`](Self::unescape_into)
/// decodes `\n`, `\"`, `\uXXXX` and UTF-16 surrogate pairs into caller storage.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonStr<'a> {
    raw: &'a str,
}

/// The string holds an escape JSON does not define, or the caller's buffer is short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnescapeError {
    /// An unknown escape, a malformed `\u` sequence or an unpaired surrogate.
    InvalidEscape,
    /// The unescaped text does not fit the buffer.
    BufferTooSmall,
}

impl fmt::Display for UnescapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnescapeError::InvalidEscape => "invalid JSON string escape",
            UnescapeError::BufferTooSmall => "buffer too small for the unescaped string",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UnescapeError {}

impl<'a> JsonStr<'a> {
    /// Wraps the raw (still escaped) contents of a JSON string, without its quotes.
    pub const fn from_raw(raw: &'a str) -> Self {
        JsonStr { raw }
    }

    /// The text exactly as it appeared between the quotes.
    pub const fn raw(&self) -> &'a str {
        self.raw
    }

    /// The text, borrowed, when it contains no escapes.
    pub fn as_str(&self) -> Option<&'a str> {
        (!self.raw.contains('\\')).then_some(self.raw)
    }

    /// The unescaped characters, one at a time.
    pub fn chars(&self) -> Chars<'a> {
        Chars { rest: self.raw }
    }

    /// Decodes into `buf` and returns the text; borrows nothing from `self`.
    pub fn unescape_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, UnescapeError> {
        let mut len = 0;
        for c in self.chars() {
            let c = c?;
            let dst = buf
                .get_mut(len..len + c.len_utf8())
                .ok_or(UnescapeError::BufferTooSmall)?;
            c.encode_utf8(dst);
            len += c.len_utf8();
        }
        // Only whole chars were written, so this cannot fail; map rather than unwrap.
        core::str::from_utf8(&buf[..len]).map_err(|_| UnescapeError::InvalidEscape)
    }

    /// Decodes into an owned string.
    #[cfg(feature = "alloc")]
    pub fn to_string(&self) -> Result<alloc::string::String, UnescapeError> {
        self.chars().collect()
    }

    /// Whether the unescaped text equals `other`, without decoding into a buffer.
    pub fn eq_str(&self, other: &str) -> bool {
        let mut mine = self.chars();
        let mut theirs = other.chars();
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (Some(Ok(a)), Some(b)) if a == b => {}
                _ => return false,
            }
        }
    }
}

impl fmt::Debug for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.raw)
    }
}

/// Writes the unescaped text; an invalid escape is shown as U+FFFD.
impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.chars() {
            f.write_char(c.unwrap_or(char::REPLACEMENT_CHARACTER))?;
        }
        Ok(())
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // serde-json-core hands out the raw text only through its EscapedStr;
        // a plain &str would silently skip unescaping.
        serde_json_core::str::EscapedStr::deserialize(d).map(|e| JsonStr { raw: e.0 })
    }
}

/// Iterator over the unescaped characters of a [`JsonStr`].
pub struct Chars<'a> {
    rest: &'a str,
}

impl Chars<'_> {
    fn hex4(&mut self) -> Result<u32, UnescapeError> {
        let digits = self.rest.get(..4).ok_or(UnescapeError::InvalidEscape)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(UnescapeError::InvalidEscape);
        }
        self.rest = &self.rest[4..];
        u32::from_str_radix(digits, 16).map_err(|_| UnescapeError::InvalidEscape)
    }

    fn unicode_escape(&mut self) -> Result<char, UnescapeError> {
        let first = self.hex4()?;
        let code = match first {
            // A high surrogate must be followed by `\u` and a low surrogate (RFC 8259 §7).
            0xD800..=0xDBFF => {
                self.rest = self
                    .rest
                    .strip_prefix("\\u")
                    .ok_or(UnescapeError::InvalidEscape)?;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(UnescapeError::InvalidEscape);
                }
                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(UnescapeError::InvalidEscape),
            c => c,
        };
        char::from_u32(code).ok_or(UnescapeError::InvalidEscape)
    }
}

impl Iterator for Chars<'_> {
    type Item = Result<char, UnescapeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut it = self.rest.chars();
        let c = it.next()?;
        self.rest = it.as_str();
        if c != '\\' {
            return Some(Ok(c));
        }
        let mut it = self.rest.chars();
        let escaped = it.next();
        self.rest = it.as_str();
        Some(match escaped {
            Some('"') => Ok('"'),
            Some('\\') => Ok('\\'),
            Some('/') => Ok('/'),
            Some('b') => Ok('\u{8}'),
            Some('f') => Ok('\u{c}'),
            Some('n') => Ok('\n'),
            Some('r') => Ok('\r'),
            Some('t') => Ok('\t'),
            Some('u') => self.unicode_escape(),
            _ => {
                // Stop after an error so a caller that ignores it does not loop on garbage.
                self.rest = "";
                Err(UnescapeError::InvalidEscape)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_borrows() {
        let s = JsonStr::from_raw("connected to arkouda server tcp://*:5555");
        assert_eq!(s.as_str(), Some("connected to arkouda server tcp://*:5555"));
    }

    #[test]
    fn escapes_decode_per_rfc_8259() {
        // RFC 8259 §7: G clef U+1D11E is "\uD834\uDD1E".
        let s = JsonStr::from_raw(r#"a\"b\\c\/d\n\t\u00e9\uD834\uDD1E"#);
        assert_eq!(s.as_str(), None);
        let mut buf = [0u8; 32];
        assert_eq!(s.unescape_into(&mut buf), Ok("a\"b\\c/d\n\té\u{1D11E}"));
        assert!(s.eq_str("a\"b\\c/d\n\té\u{1D11E}"));
        assert!(!s.eq_str("a\"b"));
    }

    #[test]
    fn bad_escapes_are_errors() {
        let mut buf = [0u8; 16];
        for raw in [
            r"\x",
            r"\u12",
            r"\uZZZZ",
            r"\uD834",
            r"\uD834\u0041",
            r"\uDD1E",
            "\\",
        ] {
            assert_eq!(
                JsonStr::from_raw(raw).unescape_into(&mut buf),
                Err(UnescapeError::InvalidEscape),
                "{raw}"
            );
        }
    }

    #[test]
    fn short_buffer_is_an_error() {
        let mut buf = [0u8; 3];
        assert_eq!(
            JsonStr::from_raw(r"\u00e9\u00e9").unescape_into(&mut buf),
            Err(UnescapeError::BufferTooSmall)
        );
    }
}
