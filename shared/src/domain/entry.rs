//! Entries ("lançamentos"): one debit or credit of an account, immutable once recorded. A mistake is
//! corrected by a reversal, a new entry of the opposite type that points back at the original.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::account::{AccountId, Currency};
use super::money::Amount;
use super::{Invalid, has_control};

/// An entry id: a UUIDv7, so ids sort by the time they were minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntryId(Uuid);

impl EntryId {
    /// Mints a new time-ordered id.
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
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

/// Free text of at most 280 characters, without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub const CHARS_MAX: usize = 280;

    /// Parses a description.
    ///
    /// # Errors
    /// When it is longer than 280 characters or holds control characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > Self::CHARS_MAX {
            return Err(Invalid::new("must be at most 280 characters"));
        }
        if has_control(raw) {
            return Err(Invalid::new("must not contain control characters"));
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
    fn descriptions_count_characters_not_bytes() {
        assert!(Description::parse(&"ç".repeat(280)).is_ok());
        assert!(Description::parse(&"ç".repeat(281)).is_err());
        assert!(Description::parse("line\nbreak").is_err());
    }
}
