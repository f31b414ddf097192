//! Accounts: who the entries belong to, in which currency and in which time zone their days fall.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{Invalid, has_control};

/// An account id: 1 to 64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub const LEN_MAX: usize = 64;

    /// Parses an account id.
    ///
    /// # Errors
    /// When the id is empty, longer than 64 characters or holds a character outside `[A-Za-z0-9_-]`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > Self::LEN_MAX {
            return Err(Invalid::new("must be 1 to 64 characters long"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if !raw.chars().all(allowed) {
            return Err(Invalid::new("may hold only letters, digits, '_' and '-'"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: 1 to 200 characters, no control characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName(String);

impl AccountName {
    pub const CHARS_MAX: usize = 200;

    /// Parses a name.
    ///
    /// # Errors
    /// When the name is blank, too long or holds control or format characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return Err(Invalid::new("must not be blank"));
        }
        if raw.chars().count() > Self::CHARS_MAX {
            return Err(Invalid::new("must be at most 200 characters"));
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

/// An active ISO 4217 currency, by its three-letter code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses an ISO 4217 code such as `BRL`. Codes are upper case.
    ///
    /// # Errors
    /// When the code is not a known ISO 4217 currency.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        iso_currency::Currency::from_code(raw)
            .map(Self)
            .ok_or_else(|| Invalid::new("must be an ISO 4217 currency code such as BRL or USD"))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }
}

/// An IANA time zone such as `America/Sao_Paulo`, resolved against the bundled tz database.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// Parses an IANA time zone name.
    ///
    /// # Errors
    /// When the name is not in the bundled tz database.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > 64 || has_control(raw) {
            return Err(Invalid::new("must be an IANA time zone such as America/Sao_Paulo"));
        }
        let tz = TimeZone::get(raw).map_err(|_| Invalid::new("must be an IANA time zone such as America/Sao_Paulo"))?;
        let name = tz.iana_name().unwrap_or(raw).to_owned();
        Ok(Self { name, tz })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: AccountName,
    pub currency: Currency,
    pub zone: Zone,
    pub created_at: Timestamp,
}

/// What a `PUT` of an account did, decided by [`Account::compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// Nothing differs.
    Unchanged,
    /// Only the name differs: the stored account takes the new name.
    Renamed,
    /// Currency or time zone differ: entries already recorded would change meaning, so it is refused.
    Conflict,
}

impl Account {
    /// Compares a requested account with the stored one.
    pub fn compare(&self, requested: &Account) -> AccountChange {
        if self.currency != requested.currency || self.zone != requested.zone {
            AccountChange::Conflict
        } else if self.name != requested.name {
            AccountChange::Renamed
        } else {
            AccountChange::Unchanged
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_accept_the_documented_alphabet_only() {
        assert!(AccountId::parse("shop-42_A").is_ok());
        assert!(AccountId::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "../etc", "a b", "ação", "a/b", "a%2F", &"a".repeat(65)] {
            assert!(AccountId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn currencies_are_iso_4217_codes() {
        assert_eq!(Currency::parse("BRL").map(Currency::code), Ok("BRL"));
        for bad in ["brl", "XXXX", "", "ZZZ"] {
            assert!(Currency::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn zones_come_from_the_tz_database() {
        assert_eq!(Zone::parse("America/Sao_Paulo").map(|z| z.name().to_owned()), Ok("America/Sao_Paulo".to_owned()));
        for bad in ["Mars/Olympus", "", "../../etc/passwd", "UTC\n"] {
            assert!(Zone::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn names_refuse_blank_and_control_characters() {
        assert!(AccountName::parse("Padaria São João").is_ok());
        for bad in ["", "   ", "a\u{0}b", "a\u{7}", &"x".repeat(201)] {
            assert!(AccountName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
