//! Request ids for the asynchronous proxy: 32 characters of `[a-z0-9]`.
//!
//! Ids come from ChaCha20 used as a generator, so one id says nothing about
//! the next: 32 characters of a 36-letter alphabet carry about 165 bits. The
//! core has no entropy source of its own: a no-alloc caller gives a 32-byte
//! seed ([`RequestIdGenerator::from_seed`], from a hardware random number
//! generator); with `std`, [`RequestIdGenerator::from_os`] asks the
//! operating system.

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// A request id as the asynchronous proxy uses it.
pub type RequestId = heapless::String<32>;

/// Length of a generated id.
pub const REQUEST_ID_LEN: usize = 32;

/// Length of a generator's seed in bytes.
pub const SEED_LEN: usize = 32;

/// Makes request ids from a ChaCha20 stream. There is no default and no
/// fixed seed: each generator is seeded by the caller or the operating system.
pub struct RequestIdGenerator {
    rng: ChaCha20Rng,
}

impl core::fmt::Debug for RequestIdGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The state would predict every later id.
        f.write_str("RequestIdGenerator { .. }")
    }
}

/// The operating system could not give random bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoEntropy;

impl core::fmt::Display for NoEntropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the operating system gave no random bytes")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NoEntropy {}

impl RequestIdGenerator {
    /// A generator from 32 bytes of entropy (a hardware random number
    /// generator, say). Two generators with the same seed make the same ids:
    /// give each device and each boot its own.
    pub fn from_seed(seed: [u8; SEED_LEN]) -> Self {
        RequestIdGenerator {
            rng: ChaCha20Rng::from_seed(seed),
        }
    }

    /// A generator seeded with 32 bytes from the operating system.
    #[cfg(feature = "std")]
    pub fn from_os() -> Result<Self, NoEntropy> {
        let mut seed = [0u8; SEED_LEN];
        getrandom::fill(&mut seed).map_err(|_| NoEntropy)?;
        Ok(Self::from_seed(seed))
    }

    /// A fresh id.
    pub fn generate(&mut self) -> RequestId {
        const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut id = RequestId::new();
        while id.len() < REQUEST_ID_LEN {
            let mut bits = self.rng.next_u64();
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
        let mut g = RequestIdGenerator::from_seed([42; SEED_LEN]);
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
        let mut g = RequestIdGenerator::from_seed([7; SEED_LEN]);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(g.generate()));
        }
    }

    #[test]
    fn seeds_that_differ_in_one_bit_share_no_ids() {
        let mut seed = [0u8; SEED_LEN];
        let mut a = RequestIdGenerator::from_seed(seed);
        seed[31] = 1;
        let mut b = RequestIdGenerator::from_seed(seed);
        let a: std::vec::Vec<_> = (0..100).map(|_| a.generate()).collect();
        for _ in 0..100 {
            assert!(!a.contains(&b.generate()));
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn generators_from_the_os_differ() {
        let mut a = RequestIdGenerator::from_os().unwrap();
        let mut b = RequestIdGenerator::from_os().unwrap();
        assert_ne!(a.generate(), b.generate());
        assert!(!std::format!("{a:?}").contains(char::is_numeric));
    }
}
