//! The ledger's vocabulary, free of I/O: every type here is parsed once at the edge and trusted after.
//!
//! - [`account`]: account ids, names, currencies and IANA time zones.
//! - [`money`]: amounts in integer minor units and checked balance arithmetic.
//! - [`batch`]: a batch of entries sent in one request: its size and distinct keys.
//! - [`entry`]: the immutable debit or credit entry and its business date.
//! - [`balance`]: daily movements, monthly rollups and the daily balance computed from them.
//! - [`consolidation`]: the consolidation policy: a pure planner from a store's snapshot to a plan.
//! - [`audit`]: what the stored rollups must hold given the entries, and every kind of difference.
//! - [`calendar`]: business dates and the limits on when an entry may have occurred.
//! - [`idempotency`]: idempotency keys and request fingerprints.

pub mod account;
pub mod audit;
pub mod balance;
pub mod batch;
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
    text.chars().any(|c| c.is_control() || is_format(c))
}

/// The code points of general category Cf. A table of its own rather than a crate's table of every
/// category (which would put 70 KB into each package for this one question); a test holds it to
/// `unicode-properties`, so a new Unicode version cannot leave it behind unnoticed.
const FORMAT: [(char, char); 21] = [
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

fn is_format(c: char) -> bool {
    FORMAT.iter().any(|(first, last)| (*first..=*last).contains(&c))
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

#[cfg(test)]
mod format_tests {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

    #[test]
    fn the_format_table_is_exactly_unicode_general_category_cf() {
        let differ: Vec<String> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| super::is_format(*c) != (c.general_category() == GeneralCategory::Format))
            .map(|c| format!("U+{:04X}", u32::from(c)))
            .collect();
        assert!(differ.is_empty(), "the table and Unicode disagree on {differ:?}");
    }
}
