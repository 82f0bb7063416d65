//! Request ids for the asynchronous proxy: 32 characters of `[a-z0-9]`.

/// A request id as the asynchronous proxy uses it.
pub type RequestId = heapless::String<32>;

/// Length of a generated id.
pub const REQUEST_ID_LEN: usize = 32;

/// Makes request ids from a caller-seeded generator: the core has no entropy
/// source of its own, and ids need to be unique, not secret.
#[derive(Clone, Debug)]
pub struct RequestIdGenerator {
    state: u64,
}

impl RequestIdGenerator {
    /// A generator; give each process or device a different seed.
    pub const fn new(seed: u64) -> Self {
        // xorshift must not start at zero.
        RequestIdGenerator { state: seed | 1 }
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift generators").
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A fresh id.
    pub fn generate(&mut self) -> RequestId {
        const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut id = RequestId::new();
        while id.len() < REQUEST_ID_LEN {
            let mut bits = self.next_u64();
            // Ten 6-bit draws per word; values >= 36 are skipped to stay uniform.
            for _ in 0..10 {
                let v = (bits & 63) as usize;
                bits >>= 6;
                if v < ALPHABET.len() && id.len() < REQUEST_ID_LEN {
                    let _ = id.push(ALPHABET[v] as char);
                }
            }
        }
        id
    }
}

/// Whether `id` has the shape of a request id.
pub fn is_valid_request_id(id: &str) -> bool {
    id.len() == REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_documented_shape_and_differ() {
        let mut g = RequestIdGenerator::new(42);
        let a = g.generate();
        let b = g.generate();
        assert!(is_valid_request_id(&a), "{a}");
        assert!(is_valid_request_id(&b), "{b}");
        assert_ne!(a, b);
        assert!(!is_valid_request_id("ABC"));
        assert!(!is_valid_request_id(&std::format!("{}X", &a[..31])));
    }

    #[test]
    fn a_thousand_ids_are_distinct() {
        let mut g = RequestIdGenerator::new(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(g.generate()));
        }
    }
}
