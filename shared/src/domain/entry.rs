//! Entries ("lançamentos"): one debit or credit of an account, immutable once recorded. A mistake is
//! corrected by a reversal, a new entry of the opposite type that points back at the original.

use std::fmt;

#[cfg(test)]
use jiff::SignedDuration;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::account::{AccountId, Currency};
use super::money::Amount;
use super::{Invalid, has_control};

/// An entry id: a UUIDv7, so ids sort by the time they were minted. The ledger mints each id from
/// the instant it records the entry and the [`Slot`] of the request's account and idempotency key,
/// so the slot of any id names the key that recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntryId(Uuid);

impl EntryId {
    /// Mints a new time-ordered id with random bits: for tests and postings that name no key.
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }

    /// The id of an entry recorded at `at` under `slot`: `at`'s Unix milliseconds, then the slot's
    /// 74 bits where a UUIDv7 keeps its random bits.
    pub fn mint(slot: Slot, at: Timestamp) -> Self {
        let ms = u64::try_from(at.as_millisecond()).unwrap_or(0);
        Self(uuid::Builder::from_unix_timestamp_millis(ms, &slot.0).into_uuid())
    }

    /// The 74 bits after the id's timestamp: the slot of the key that recorded the entry.
    pub fn slot(&self) -> Slot {
        let bytes = self.0.as_bytes();
        let mut tail = [0u8; 10];
        tail.copy_from_slice(&bytes[6..]);
        Slot::masked(tail)
    }

    /// Parses an id in its hyphenated form.
    ///
    /// # Errors
    /// When the text is not a hyphenated UUID of version 7.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let uuid = (raw.len() == 36)
            .then(|| Uuid::try_parse(raw).ok())
            .flatten()
            .filter(|u| u.get_version_num() == 7)
            .ok_or_else(|| Invalid::new("must be an entry id (a UUIDv7)"))?;
        Ok(Self(uuid))
    }
}

/// 74 bits of the digest of an account and an idempotency key
/// ([`crate::domain::idempotency::KeyDigest`]): the same for every request that carries the key,
/// whenever it is sent. A store that keys an entry by its slot finds it from the key alone, and from
/// the entry's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot([u8; 10]);

impl Slot {
    /// The slot of 10 digest bytes, without the bits a UUIDv7 spends on its version and variant.
    pub(crate) fn masked(mut bytes: [u8; 10]) -> Self {
        bytes[0] &= 0x0f;
        bytes[2] &= 0x3f;
        Self(bytes)
    }

    /// One of `shards` partitions (1 to 256), chosen by the slot's last byte: uniform, since the
    /// slot is a digest.
    pub fn shard(self, shards: u16) -> u16 {
        u16::from(self.0[9]) % shards.clamp(1, 256)
    }

    /// The slot as 20 lowercase hex digits.
    pub fn to_hex(self) -> String {
        super::hex(&self.0)
    }

    /// The slot's 10 bytes, as a store keeps it.
    pub fn to_bytes(self) -> [u8; 10] {
        self.0
    }

    /// The slot a store kept as its 10 bytes ([`Slot::to_bytes`]); `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self::masked)
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Whether an entry adds to the balance (credit) or takes from it (debit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    Credit,
    Debit,
}

impl EntryType {
    /// Parses `credit` or `debit`.
    ///
    /// # Errors
    /// On any other text.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "credit" => Ok(Self::Credit),
            "debit" => Ok(Self::Debit),
            _ => Err(Invalid::new("must be \"credit\" or \"debit\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credit => "credit",
            Self::Debit => "debit",
        }
    }

    /// The type a reversal of this entry takes.
    pub fn opposite(self) -> Self {
        match self {
            Self::Credit => Self::Debit,
            Self::Debit => Self::Credit,
        }
    }
}

/// Free text of at most 280 characters and 400 bytes in UTF-8, without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub const CHARS_MAX: usize = 280;
    /// Bounds the stored size as well: with it, an entry's DynamoDB item stays under 1 KB, one write
    /// unit, at the largest inputs the contract allows (`adapters::aws::item` tests the worst case).
    pub const BYTES_MAX: usize = 400;

    /// Parses a description.
    ///
    /// # Errors
    /// When it is longer than 280 characters or 400 bytes, or holds control or format characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > Self::CHARS_MAX {
            return Err(Invalid::new("must be at most 280 characters"));
        }
        if raw.len() > Self::BYTES_MAX {
            return Err(Invalid::new("must be at most 400 bytes in UTF-8"));
        }
        if has_control(raw) {
            return Err(Invalid::new("must not contain control or format characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A recorded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: EntryId,
    pub account_id: AccountId,
    pub kind: EntryType,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<Description>,
    pub occurred_at: Timestamp,
    pub business_date: Date,
    pub recorded_at: Timestamp,
    pub reverses: Option<EntryId>,
    pub reversed_by: Option<EntryId>,
}

impl Entry {
    /// What consolidation needs of this entry, as published on the queue.
    pub fn posting(&self) -> Posting {
        Posting {
            account_id: self.account_id.clone(),
            entry_id: self.id,
            kind: self.kind,
            amount: self.amount,
            business_date: self.business_date,
            recorded_at: self.recorded_at,
        }
    }
}

/// Why an entry cannot be reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalRefused {
    /// It was reversed already (409).
    AlreadyReversed,
    /// It is itself a reversal (422).
    IsReversal,
}

/// Builds the reversal of `original`: the opposite type, the same amount, dated `now`.
///
/// # Errors
/// When the original is a reversal or already reversed.
pub fn reverse(
    original: &Entry,
    id: EntryId,
    description: Option<Description>,
    now: Timestamp,
    business_date: Date,
) -> Result<Entry, ReversalRefused> {
    if original.reverses.is_some() {
        return Err(ReversalRefused::IsReversal);
    }
    if original.reversed_by.is_some() {
        return Err(ReversalRefused::AlreadyReversed);
    }
    Ok(Entry {
        id,
        account_id: original.account_id.clone(),
        kind: original.kind.opposite(),
        amount: original.amount,
        currency: original.currency,
        description,
        occurred_at: now,
        business_date,
        recorded_at: now,
        reverses: Some(original.id),
        reversed_by: None,
    })
}

/// One entry's effect on its account's daily balance: the unit consolidation applies exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account_id: AccountId,
    pub entry_id: EntryId,
    pub kind: EntryType,
    pub amount: Amount,
    pub business_date: Date,
    pub recorded_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_are_uuid_v7_only() {
        let id = EntryId::new_v7();
        assert_eq!(EntryId::parse(&id.to_string()), Ok(id));
        for bad in ["", "not-a-uuid", "550e8400-e29b-41d4-a716-446655440000", "../../x"] {
            assert!(EntryId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn descriptions_are_bounded_in_characters_and_in_bytes() {
        assert!(Description::parse(&"d".repeat(280)).is_ok());
        assert!(Description::parse(&"d".repeat(281)).is_err());
        assert!(Description::parse(&"ç".repeat(200)).is_ok(), "400 bytes");
        assert!(Description::parse(&"ç".repeat(201)).is_err(), "402 bytes in 201 characters");
        assert!(Description::parse(&"👍".repeat(101)).is_err(), "404 bytes in 101 characters");
        assert!(Description::parse("line\nbreak").is_err());
    }

    #[test]
    fn a_minted_id_is_a_uuid_v7_that_keeps_its_instant_and_its_slot() {
        let slot = Slot::masked([0xff; 10]);
        let at: Timestamp = "2026-11-23T15:00:00.123Z".parse().expect("instant");
        let id = EntryId::mint(slot, at);
        assert_eq!(EntryId::parse(&id.to_string()), Ok(id), "a valid UUIDv7");
        assert_eq!(id.slot(), slot);
        assert!(id.to_string().starts_with("01a208eb-c9fb-7"), "{id}: the instant's milliseconds come first");
        let later = EntryId::mint(slot, at.checked_add(SignedDuration::from_millis(1)).expect("instant"));
        assert!(later > id && later.slot() == slot, "ids of one slot sort by time");
        assert_eq!(slot.to_hex().len(), 20);
        assert!(slot.shard(16) < 16);
    }
}
