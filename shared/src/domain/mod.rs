//! The ledger's vocabulary, free of I/O: every type here is parsed once at the edge and trusted after.
//!
//! - [`account`]: account ids, names, currencies and IANA time zones.
//! - [`money`]: amounts in integer minor units and checked balance arithmetic.
//! - [`entry`]: the immutable debit or credit entry and its business date.
//! - [`balance`]: daily movements, monthly rollups and the daily balance computed from them.
//! - [`consolidation`]: the consolidation policy: a pure planner from a store's snapshot to a plan.
//! - [`calendar`]: business dates and the limits on when an entry may have occurred.
//! - [`idempotency`]: idempotency keys and request fingerprints.

pub mod account;
pub mod balance;
pub mod calendar;
pub mod consolidation;
pub mod entry;
pub mod idempotency;
pub mod money;

/// Why a value from the outside world was refused. The edge attaches the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// True when `text` holds a character no stored text may contain: a control character (C0, DEL or
/// C1), or a Unicode format character (general category Cf: bidi overrides and isolates, zero-width
/// spaces and joiners, the byte order mark, tags), which can make one text display as another.
pub(crate) fn has_control(text: &str) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    text.chars().any(|c| c.is_control() || c.general_category() == GeneralCategory::Format)
}

/// Lowercase hex by table into one buffer: formatting each byte with `format!` cost as much as a hash.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}
