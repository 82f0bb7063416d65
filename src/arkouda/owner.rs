//! Who a request belongs to: its user name plus a keyed hash of its token.
//!
//! The asynchronous registry files each request under its [`Owner`], so one
//! user's request ids mean nothing to another. The token itself is never
//! kept: the owner holds the first 16 bytes of HMAC-SHA256 of the token
//! under a key drawn from the operating system when the proxy starts, so a
//! registry dump, a log line or a timing difference says nothing about a
//! token, and two proxies give the same token different owners.
//!
//! Without tokens the user name alone decides; it is then only a claim.

use std::string::String;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::request_id::NoEntropy;

/// Bytes of the token's keyed hash an owner keeps (128 bits).
pub const TAG_LEN: usize = 16;

/// The owner of a request: user name and token tag. Two requests have the
/// same owner exactly when they name the same user with the same token.
/// Cloning one (a dispatcher keys its queues and counts by it) copies no
/// text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    user: Arc<str>,
    tag: [u8; TAG_LEN],
}

impl Owner {
    /// The user name the requests gave.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The token's keyed hash (what a state file keeps instead of the token).
    pub(crate) fn tag(&self) -> &[u8; TAG_LEN] {
        &self.tag
    }

    /// The owner with this user name and token tag, as a state file kept it.
    pub(crate) fn from_parts(user: String, tag: [u8; TAG_LEN]) -> Self {
        Owner {
            user: user.into(),
            tag,
        }
    }
}

impl core::fmt::Debug for Owner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The tag is not secret, but a log needs only the user.
        f.debug_struct("Owner")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Turns (user, token) into an [`Owner`] with a key of its own.
#[derive(Clone)]
pub struct OwnerKeys {
    key: [u8; 32],
}

impl core::fmt::Debug for OwnerKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("OwnerKeys { .. }")
    }
}

impl OwnerKeys {
    /// Keys drawn from the operating system: what a proxy uses.
    pub fn from_os() -> Result<Self, NoEntropy> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|_| NoEntropy)?;
        Ok(OwnerKeys { key })
    }

    /// Keys from the caller, for tests and for proxies that must agree.
    pub fn from_key(key: [u8; 32]) -> Self {
        OwnerKeys { key }
    }

    /// The owner of a request from `user` with `token`.
    pub fn owner(&self, user: &str, token: &str) -> Owner {
        let mut tag = [0u8; TAG_LEN];
        // Any key length is accepted by HMAC; the error arm cannot happen.
        if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key) {
            mac.update(token.as_bytes());
            let full = mac.finalize().into_bytes();
            tag.copy_from_slice(&full[..TAG_LEN]);
        }
        Owner {
            user: user.into(),
            tag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_user_and_token_is_the_same_owner() {
        let keys = OwnerKeys::from_key([1; 32]);
        assert_eq!(keys.owner("ann", "t1"), keys.owner("ann", "t1"));
        assert_ne!(keys.owner("ann", "t1"), keys.owner("ann", "t2"));
        assert_ne!(keys.owner("ann", "t1"), keys.owner("bob", "t1"));
        assert_ne!(keys.owner("ann", ""), keys.owner("bob", ""));
        assert_eq!(keys.owner("ann", "t1").user(), "ann");
    }

    #[test]
    fn another_key_gives_another_owner_and_the_token_is_not_shown() {
        let a = OwnerKeys::from_key([1; 32]).owner("ann", "secret-token");
        let b = OwnerKeys::from_key([2; 32]).owner("ann", "secret-token");
        assert_ne!(a, b);
        let shown = std::format!("{a:?}");
        assert!(
            shown.contains("ann") && !shown.contains("secret"),
            "{shown}"
        );
        let k = OwnerKeys::from_os().unwrap();
        assert!(!std::format!("{k:?}").contains(char::is_numeric));
    }
}
