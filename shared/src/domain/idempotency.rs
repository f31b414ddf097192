//! Idempotency: a client's key for one write, and the fingerprint that tells a retry of the same
//! request from a different request that reuses the key.

use sha2::{Digest, Sha256};

use super::account::AccountId;
use super::entry::Slot;
use super::{Invalid, hex};

/// An `Idempotency-Key`: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const LEN_MAX: usize = 255;

    /// Parses a key.
    ///
    /// # Errors
    /// When it is empty, longer than 255 characters or holds anything but printable ASCII.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > Self::LEN_MAX {
            return Err(Invalid::new("Idempotency-Key must be 1 to 255 characters long"));
        }
        if !raw.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(Invalid::new("Idempotency-Key must be printable ASCII"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The SHA-256 digest of an account and one of its idempotency keys. Its [`Slot`] is part of the id
/// of the entry the key records; the stores that find an entry by its slot keep the digest beside
/// it, so two keys whose slots collide are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    /// Digests an account and a key, each length-prefixed.
    pub fn of(account: &AccountId, key: &IdempotencyKey) -> Self {
        let mut hasher = Sha256::new();
        for part in ["entry-key", account.as_str(), key.as_str()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        Self(hasher.finalize().into())
    }

    /// The 74 bits of the digest an entry id carries.
    pub fn slot(&self) -> Slot {
        let mut head = [0u8; 10];
        head.copy_from_slice(&self.0[..10]);
        Slot::masked(head)
    }

    /// The first 128 bits in hex: enough to tell any two keys of an account apart.
    pub fn to_hex(&self) -> String {
        hex(&self.0[..16])
    }
}

/// A digest of what a write asked for: operation, target and every field as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Digests the parts of a request. Each part is length-prefixed so no two lists collide.
    pub fn of(parts: &[&str]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        Self(hex(&hasher.finalize()))
    }

    /// Rebuilds a fingerprint read back from a store.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The response a write gave, kept with its key so a retry gets the identical answer. Every stored
/// response answered 201 (a refused request stores nothing), so no status is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub fingerprint: Fingerprint,
    pub body: String,
    pub location: String,
}

/// What a retry with a known key gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The same request again: answer with the stored response.
    Same(StoredResponse),
    /// Another request under a used key (409).
    KeyReused,
}

impl StoredResponse {
    /// Decides how a request with `fingerprint` that found this stored response is answered.
    pub fn replay_for(self, fingerprint: &Fingerprint) -> Replay {
        if &self.fingerprint == fingerprint { Replay::Same(self) } else { Replay::KeyReused }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("order-123 retry").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "tab\there", "ção", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_key_digest_depends_on_account_and_key_only() {
        let shop = AccountId::parse("shop").expect("id");
        let other = AccountId::parse("other").expect("id");
        let key = IdempotencyKey::parse("order-1").expect("key");
        assert_eq!(KeyDigest::of(&shop, &key), KeyDigest::of(&shop, &key));
        assert_ne!(KeyDigest::of(&shop, &key).slot(), KeyDigest::of(&other, &key).slot());
        let again = IdempotencyKey::parse("order-2").expect("key");
        assert_ne!(KeyDigest::of(&shop, &key).to_hex(), KeyDigest::of(&shop, &again).to_hex());
        assert_eq!(KeyDigest::of(&shop, &key).to_hex().len(), 32);
    }

    #[test]
    fn fingerprints_separate_their_parts() {
        assert_ne!(Fingerprint::of(&["ab", "c"]), Fingerprint::of(&["a", "bc"]));
        assert_eq!(Fingerprint::of(&["x"]), Fingerprint::of(&["x"]));
    }

    /// Stored idempotency records hold this text: its form must never change.
    #[test]
    fn a_fingerprint_is_the_lowercase_hex_of_the_length_prefixed_sha256() {
        let want = "ee9fd1c001917ff17fa3ff8edb69f9e23511ce23c9a5469d4bd59d14da6e52d7";
        assert_eq!(Fingerprint::of(&["entry", "shop"]).as_str(), want);
    }
}
