//! The queue message: one [`Posting`] as JSON. Ingest and relay write it; consolidate reads it.
//! A message that does not parse is poison: consolidation reports it failed and it ends in the
//! dead-letter queue after the configured number of receives.

use serde::{Deserialize, Serialize};

use crate::domain::Invalid;
use crate::domain::account::AccountId;
use crate::domain::calendar::{parse_date, parse_instant};
use crate::domain::entry::{EntryId, EntryType, Posting};
use crate::domain::money::Amount;

/// The message schema version; a consumer refuses versions it does not know.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u32,
    account_id: String,
    entry_id: String,
    #[serde(rename = "type")]
    kind: EntryType,
    amount: i64,
    business_date: String,
    recorded_at: String,
}

/// Encodes a posting as a message body.
///
/// # Errors
/// Only if serde_json refuses a struct of strings and integers, which it does not: the error is
/// passed on rather than sent as an empty message.
pub fn encode(posting: &Posting) -> Result<String, serde_json::Error> {
    let wire = Wire {
        v: VERSION,
        account_id: posting.account_id.to_string(),
        entry_id: posting.entry_id.to_string(),
        kind: posting.kind,
        amount: posting.amount.minor(),
        business_date: posting.business_date.to_string(),
        recorded_at: posting.recorded_at.to_string(),
    };
    serde_json::to_string(&wire)
}

/// Decodes a message body.
///
/// # Errors
/// When the body is not a posting of a known version.
pub fn decode(body: &str) -> Result<Posting, Invalid> {
    // serde reads a struct from a JSON array too; a message is an object with named fields only.
    if !body.trim_start().starts_with('{') {
        return Err(Invalid::new("not a posting message: not a JSON object"));
    }
    let wire: Wire = serde_json::from_str(body).map_err(|e| Invalid::new(format!("not a posting message: {e}")))?;
    if wire.v != VERSION {
        return Err(Invalid::new(format!("unknown message version {}", wire.v)));
    }
    Ok(Posting {
        account_id: AccountId::parse(&wire.account_id)?,
        entry_id: EntryId::parse(&wire.entry_id)?,
        kind: wire.kind,
        amount: Amount::from_minor(wire.amount)?,
        business_date: parse_date(&wire.business_date)?,
        recorded_at: parse_instant(&wire.recorded_at)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_posting_survives_the_round_trip() {
        let posting = Posting {
            account_id: AccountId::parse("shop").expect("id"),
            entry_id: EntryId::new_v7(),
            kind: EntryType::Debit,
            amount: Amount::from_minor(1234).expect("amount"),
            business_date: jiff::civil::date(2026, 11, 23),
            recorded_at: parse_instant("2026-11-23T12:00:00.5Z").expect("instant"),
        };
        assert_eq!(decode(&encode(&posting).expect("encoded")), Ok(posting));
    }

    #[test]
    fn poison_is_refused() {
        for bad in [
            "",
            "{}",
            "not json",
            r#"{"v":2,"account_id":"a","entry_id":"x","type":"credit","amount":1,"business_date":"2026-01-01","recorded_at":"2026-01-01T00:00:00Z"}"#,
            r#"[1,"a","019aa8c0-0000-7000-8000-000000000001","credit",1,"2026-01-01","2026-01-01T00:00:00Z"]"#,
        ] {
            assert!(decode(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
