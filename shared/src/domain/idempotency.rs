//! Idempotency: a client's key for one write, and the fingerprint that tells a retry of the same
//! request from a different request that reuses the key.

use sha2::{Digest, Sha256};

use super::Invalid;

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
        // Hex by table into one buffer: formatting each byte with `format!` cost as much as the hash.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digest = hasher.finalize();
        let mut hex = String::with_capacity(digest.len() * 2);
        for b in digest {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        Self(hex)
    }

    /// Rebuilds a fingerprint read back from a store.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The response a write gave, kept with its key so a retry gets the identical answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub fingerprint: Fingerprint,
    pub status: u16,
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
