//! The 64-byte greeting each peer sends first (RFC 23 "Version Negotiation",
//! "Security Handshakes"; unchanged in RFC 37).
//!
//! ```text
//! offset  len  field
//!      0    1  signature start, FF
//!      1    8  padding (any value; ZMTP 1.0 peers put a length here)
//!      9    1  signature end, 7F
//!     10    1  version major (3)
//!     11    1  version minor (0 or 1)
//!     12   20  mechanism name, ASCII, zero-padded ("NULL")
//!     32    1  as-server (0 or 1)
//!     33   31  filler, zero
//! ```

use super::ZmtpError;

/// Length of a ZMTP 3 greeting.
pub const GREETING_LEN: usize = 64;

/// A security mechanism name as it sits in the greeting: 20 bytes, zero-padded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mechanism(pub [u8; 20]);

impl Mechanism {
    /// The NULL mechanism (RFC 23): no authentication, no encryption.
    pub const NULL: Mechanism = Mechanism(*b"NULL\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
}

/// The greeting's fields: the Repr for both parsing and emitting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Greeting {
    /// Major version; we only speak 3.
    pub major: u8,
    /// Minor version: 0 for ZMTP 3.0, 1 for 3.1.
    pub minor: u8,
    /// The security mechanism.
    pub mechanism: Mechanism,
    /// Whether the sender takes the server role of the mechanism (unused by NULL).
    pub as_server: bool,
}

impl Greeting {
    /// What a ZMTP 3.1 REQ client with the NULL mechanism sends.
    pub const CLIENT: Greeting = Greeting {
        major: 3,
        minor: 1,
        mechanism: Mechanism::NULL,
        as_server: false,
    };

    /// Checks as much of a greeting as `prefix` holds (up to 64 bytes), so a
    /// wrong peer is refused as soon as its first byte arrives rather than
    /// after waiting for 64 bytes it may never send.
    pub fn check_prefix(prefix: &[u8]) -> Result<(), ZmtpError> {
        let at = |i: usize| prefix.get(i).copied();
        if at(0).is_some_and(|b| b != 0xff) || at(9).is_some_and(|b| b != 0x7f) {
            return Err(ZmtpError::WrongSignature);
        }
        // A 1.x/2.x peer is identified by the major byte alone; the minor may
        // never come, because such peers wait for us to downgrade.
        if let Some(major) = at(10) {
            if major != 3 {
                let minor = at(11).unwrap_or(0);
                return Err(ZmtpError::UnsupportedVersion { major, minor });
            }
        }
        if let Some(m) = prefix.get(12..32) {
            let mut mechanism = [0; 20];
            mechanism.copy_from_slice(m);
            if Mechanism(mechanism) != Mechanism::NULL {
                return Err(ZmtpError::UnsupportedMechanism { mechanism });
            }
        }
        Ok(())
    }

    /// Parses a whole greeting. Any minor version of major 3 is accepted: RFC 23
    /// says a peer seeing a higher minor keeps talking its own, lower, one.
    /// The padding and filler are not checked (RFC 23 allows any padding; the
    /// filler is reserved and ignoring it keeps us compatible with its future use).
    pub fn parse(bytes: &[u8; GREETING_LEN]) -> Result<Greeting, ZmtpError> {
        Self::check_prefix(bytes)?;
        let mut mechanism = [0; 20];
        mechanism.copy_from_slice(&bytes[12..32]);
        Ok(Greeting {
            major: bytes[10],
            minor: bytes[11],
            mechanism: Mechanism(mechanism),
            as_server: bytes[32] == 1,
        })
    }

    /// The 64 wire bytes.
    pub fn to_bytes(&self) -> [u8; GREETING_LEN] {
        let mut out = [0u8; GREETING_LEN];
        out[0] = 0xff;
        out[9] = 0x7f;
        out[10] = self.major;
        out[11] = self.minor;
        out[12..32].copy_from_slice(&self.mechanism.0);
        out[32] = u8::from(self.as_server);
        out
    }

    /// Writes the 64 bytes at the start of `buf`; returns 64.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ZmtpError> {
        let out = buf
            .first_chunk_mut::<GREETING_LEN>()
            .ok_or(ZmtpError::BufferFull)?;
        *out = self.to_bytes();
        Ok(GREETING_LEN)
    }
}

impl Default for GreetingDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Collects a peer's greeting from bytes that arrive in any split.
#[derive(Clone, Debug)]
pub struct GreetingDecoder {
    buf: [u8; GREETING_LEN],
    len: usize,
}

impl GreetingDecoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        GreetingDecoder {
            buf: [0; GREETING_LEN],
            len: 0,
        }
    }

    /// How many of the greeting's 64 bytes are in.
    pub fn received(&self) -> usize {
        self.len
    }

    /// Takes bytes from `input`; returns how many it used and, once all 64 are
    /// in, the greeting. Errors are raised as early as the bytes allow.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Result<Option<Greeting>, ZmtpError>) {
        let take = input.len().min(GREETING_LEN - self.len);
        self.buf[self.len..self.len + take].copy_from_slice(&input[..take]);
        self.len += take;
        if self.len < GREETING_LEN {
            return (
                take,
                Greeting::check_prefix(&self.buf[..self.len]).map(|_| None),
            );
        }
        (take, Greeting::parse(&self.buf).map(Some))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ZMTP 3.0 NULL greeting laid out by hand from RFC 23, not by our encoder.
    fn rfc_greeting(minor: u8) -> [u8; 64] {
        let mut g = [0u8; 64];
        g[0] = 0xff; // signature
        g[9] = 0x7f;
        g[10] = 3; // version-major
        g[11] = minor;
        g[12..16].copy_from_slice(b"NULL"); // mechanism, zero-padded to 20
        g[32] = 0; // as-server; 31 filler zeros follow
        g
    }

    #[test]
    fn parses_hand_built_rfc_greeting() {
        let g = Greeting::parse(&rfc_greeting(0)).unwrap();
        assert_eq!((g.major, g.minor), (3, 0));
        assert_eq!(g.mechanism, Mechanism::NULL);
        assert!(!g.as_server);
        // Our own greeting is the same bytes but for the minor version.
        assert_eq!(Greeting::CLIENT.to_bytes(), rfc_greeting(1));
    }

    #[test]
    fn any_padding_is_accepted() {
        let mut g = rfc_greeting(1);
        g[1..9].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // libzmq sends a v1 length here
        assert!(Greeting::parse(&g).is_ok());
    }

    #[test]
    fn wrong_signature_version_and_mechanism() {
        let mut g = rfc_greeting(0);
        g[0] = 0x01;
        assert_eq!(Greeting::parse(&g), Err(ZmtpError::WrongSignature));
        let mut g = rfc_greeting(0);
        g[9] = 0x7e;
        assert_eq!(Greeting::parse(&g), Err(ZmtpError::WrongSignature));
        let mut g = rfc_greeting(0);
        g[10] = 2;
        assert_eq!(
            Greeting::parse(&g),
            Err(ZmtpError::UnsupportedVersion { major: 2, minor: 0 })
        );
        let mut g = rfc_greeting(0);
        g[12..17].copy_from_slice(b"PLAIN");
        assert!(matches!(
            Greeting::parse(&g),
            Err(ZmtpError::UnsupportedMechanism { mechanism }) if &mechanism[..5] == b"PLAIN"
        ));
    }

    #[test]
    fn decoder_fails_early_and_handles_any_split() {
        let mut d = GreetingDecoder::new();
        assert_eq!(d.feed(b"HTTP/1.1"), (8, Err(ZmtpError::WrongSignature)));

        let bytes = rfc_greeting(1);
        for split in 0..=64 {
            let mut d = GreetingDecoder::new();
            let (a, r) = d.feed(&bytes[..split]);
            assert_eq!(
                (a, r.clone().ok().flatten().is_some()),
                (split, split == 64)
            );
            let (b, r2) = d.feed(&bytes[split..]);
            assert_eq!(a + b, 64);
            assert!(r.unwrap().is_some() || r2.unwrap().is_some());
        }
        // One byte at a time, with trailing bytes left unused.
        let mut d = GreetingDecoder::new();
        for (i, byte) in bytes.iter().enumerate() {
            let (used, r) = d.feed(core::slice::from_ref(byte));
            assert_eq!(used, 1);
            assert_eq!(r.unwrap().is_some(), i == 63);
        }
        assert_eq!(d.feed(b"xyz").0, 0);
    }
}
