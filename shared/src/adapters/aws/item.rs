//! DynamoDB item mapping: the only place that knows the table's key shapes and attribute names.
//!
//! One table holds every record of an account under `PK = A#{account}`:
//!
//! | record | SK | attributes |
//! |---|---|---|
//! | account | `#ACCOUNT` | name, currency, timezone, created_at |
//! | rollup lock | `#ROLLUP` | version (optimistic lock of the account's rollups) |
//! | daily totals | `D#{date}` | credits, debits, entry_count |
//! | entry | `E#{entry id}` | the entry; `GSI1PK = {account}#{date}`, `GSI1SK = id`; while unapplied `GSI2PK = P#{shard}`, `GSI2SK = relay due ms` |
//! | idempotency key | `K#{key}` | fingerprint, status, body, location, expires_at (TTL) |
//! | monthly rollup | `M#{first day}` | credits, debits, entry_count, closing |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::civil::Date;

use crate::adapters::corrupt;
use crate::domain::account::{Account, AccountId, AccountName, Currency, Zone};
use crate::domain::balance::{MonthRollup, Movement};
use crate::domain::calendar::{parse_date, parse_instant};
use crate::domain::consolidation::Stored;
use crate::domain::entry::{Description, Entry, EntryId, EntryType, Posting};
use crate::domain::idempotency::{Fingerprint, StoredResponse};
use crate::domain::money::Amount;
use crate::ports::PortError;

pub type Item = HashMap<String, AttributeValue>;

/// The sparse relay index is spread over this many partitions so a write burst has no hot key.
pub const PENDING_SHARDS: u8 = 16;

pub const ACCOUNT_SK: &str = "#ACCOUNT";
pub const ROLLUP_SK: &str = "#ROLLUP";

pub fn pk(account: &AccountId) -> String {
    format!("A#{account}")
}

pub fn entry_sk(id: &EntryId) -> String {
    format!("E#{id}")
}

pub fn key_sk(key: &str) -> String {
    format!("K#{key}")
}

pub fn day_sk(date: Date) -> String {
    format!("D#{date}")
}

pub fn month_sk(month: Date) -> String {
    format!("M#{month}")
}

pub fn by_date(account: &AccountId, date: Date) -> String {
    format!("{account}#{date}")
}

pub fn pending_shard(id: &EntryId) -> String {
    let last = id.to_string().bytes().last().unwrap_or(0);
    format!("P#{}", last % PENDING_SHARDS)
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The primary key of a record.
pub fn key(pk: String, sk: String) -> Item {
    HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

/// Reads a string attribute.
pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, PortError> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str).ok_or_else(|| corrupt(name, "missing string"))
}

/// Reads an optional string attribute.
pub fn opt_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// Reads a number attribute as `i64`.
pub fn get_n(item: &Item, name: &str) -> Result<i64, PortError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|raw| raw.parse().ok())
        .ok_or_else(|| corrupt(name, "missing integer"))
}

pub fn account_item(a: &Account) -> Item {
    let mut item = key(pk(&a.id), ACCOUNT_SK.to_owned());
    item.insert("name".into(), s(a.name.as_str()));
    item.insert("currency".into(), s(a.currency.code()));
    item.insert("timezone".into(), s(a.zone.name()));
    item.insert("created_at".into(), s(a.created_at.to_string()));
    item
}

pub fn account_from(item: &Item) -> Result<Account, PortError> {
    let id = get_s(item, "PK")?.trim_start_matches("A#");
    Ok(Account {
        id: AccountId::parse(id).map_err(|e| corrupt("account id", e))?,
        name: AccountName::parse(get_s(item, "name")?).map_err(|e| corrupt("name", e))?,
        currency: Currency::parse(get_s(item, "currency")?).map_err(|e| corrupt("currency", e))?,
        zone: Zone::parse(get_s(item, "timezone")?).map_err(|e| corrupt("timezone", e))?,
        created_at: parse_instant(get_s(item, "created_at")?).map_err(|e| corrupt("created_at", e))?,
    })
}

/// An entry as first written: unapplied, and due for relay at `relay_due_ms`.
pub fn entry_item(e: &Entry, relay_due_ms: i64) -> Item {
    let mut item = key(pk(&e.account_id), entry_sk(&e.id));
    item.insert("type".into(), s(e.kind.as_str()));
    item.insert("amount".into(), n(e.amount.minor()));
    item.insert("currency".into(), s(e.currency.code()));
    if let Some(d) = &e.description {
        item.insert("description".into(), s(d.as_str()));
    }
    item.insert("occurred_at".into(), s(e.occurred_at.to_string()));
    item.insert("business_date".into(), s(e.business_date.to_string()));
    item.insert("recorded_at".into(), s(e.recorded_at.to_string()));
    if let Some(r) = e.reverses {
        item.insert("reverses".into(), s(r.to_string()));
    }
    item.insert("GSI1PK".into(), s(by_date(&e.account_id, e.business_date)));
    item.insert("GSI1SK".into(), s(e.id.to_string()));
    item.insert("GSI2PK".into(), s(pending_shard(&e.id)));
    item.insert("GSI2SK".into(), n(relay_due_ms));
    item
}

pub fn entry_from(item: &Item) -> Result<Entry, PortError> {
    let id = |raw: &str| EntryId::parse(raw).map_err(|e| corrupt("entry id", e));
    let instant = |name: &str| parse_instant(get_s(item, name)?).map_err(|e| corrupt(name, e));
    Ok(Entry {
        id: id(get_s(item, "SK")?.trim_start_matches("E#"))?,
        account_id: AccountId::parse(get_s(item, "PK")?.trim_start_matches("A#")).map_err(|e| corrupt("account", e))?,
        kind: EntryType::parse(get_s(item, "type")?).map_err(|e| corrupt("type", e))?,
        amount: Amount::from_minor(get_n(item, "amount")?).map_err(|e| corrupt("amount", e))?,
        currency: Currency::parse(get_s(item, "currency")?).map_err(|e| corrupt("currency", e))?,
        description: opt_s(item, "description")
            .map(Description::parse)
            .transpose()
            .map_err(|e| corrupt("description", e))?,
        occurred_at: instant("occurred_at")?,
        business_date: parse_date(get_s(item, "business_date")?).map_err(|e| corrupt("business_date", e))?,
        recorded_at: instant("recorded_at")?,
        reverses: opt_s(item, "reverses").map(id).transpose()?,
        reversed_by: opt_s(item, "reversed_by").map(id).transpose()?,
    })
}

/// What consolidation needs of a stored entry: its id and its [`Stored`] state.
pub fn stored_from(item: &Item) -> Result<(EntryId, Stored), PortError> {
    let id = EntryId::parse(get_s(item, "SK")?.trim_start_matches("E#")).map_err(|e| corrupt("entry id", e))?;
    let stored = Stored {
        kind: EntryType::parse(get_s(item, "type")?).map_err(|e| corrupt("type", e))?,
        amount: Amount::from_minor(get_n(item, "amount")?).map_err(|e| corrupt("amount", e))?,
        business_date: parse_date(get_s(item, "business_date")?).map_err(|e| corrupt("business_date", e))?,
        applied: item.contains_key("applied_at"),
    };
    Ok((id, stored))
}

pub fn response_item(account: &AccountId, key: &str, r: &StoredResponse, expires_at: i64) -> Item {
    let mut item = self::key(pk(account), key_sk(key));
    item.insert("fingerprint".into(), s(r.fingerprint.as_str()));
    item.insert("status".into(), n(i64::from(r.status)));
    item.insert("body".into(), s(&r.body));
    item.insert("location".into(), s(&r.location));
    item.insert("expires_at".into(), n(expires_at));
    item
}

pub fn response_from(item: &Item) -> Result<StoredResponse, PortError> {
    Ok(StoredResponse {
        fingerprint: Fingerprint::from_stored(get_s(item, "fingerprint")?.to_owned()),
        status: u16::try_from(get_n(item, "status")?).map_err(|e| corrupt("status", e))?,
        body: get_s(item, "body")?.to_owned(),
        location: get_s(item, "location")?.to_owned(),
    })
}

pub fn movement_from(item: &Item) -> Result<Movement, PortError> {
    Ok(Movement {
        credits: get_n(item, "credits")?,
        debits: get_n(item, "debits")?,
        entry_count: get_n(item, "entry_count")?,
    })
}

pub fn day_item(account: &AccountId, date: Date, m: Movement) -> Item {
    let mut item = key(pk(account), day_sk(date));
    item.insert("credits".into(), n(m.credits));
    item.insert("debits".into(), n(m.debits));
    item.insert("entry_count".into(), n(m.entry_count));
    item
}

pub fn month_item(account: &AccountId, r: &MonthRollup) -> Item {
    let mut item = day_item(account, r.month, r.movement);
    item.insert("SK".into(), s(month_sk(r.month)));
    item.insert("closing".into(), n(r.closing));
    item
}

pub fn month_from(item: &Item) -> Result<MonthRollup, PortError> {
    let month = parse_date(get_s(item, "SK")?.trim_start_matches("M#")).map_err(|e| corrupt("month", e))?;
    Ok(MonthRollup { month, movement: movement_from(item)?, closing: get_n(item, "closing")? })
}

/// The date of a daily totals record.
pub fn day_from(item: &Item) -> Result<(Date, Movement), PortError> {
    let date = parse_date(get_s(item, "SK")?.trim_start_matches("D#")).map_err(|e| corrupt("date", e))?;
    Ok((date, movement_from(item)?))
}

/// The posting of an entry record.
pub fn posting_from(item: &Item) -> Result<Posting, PortError> {
    entry_from(item).map(|e| e.posting())
}
