//! DynamoDB item mapping: the only place that knows the table's key shapes and attribute names.
//!
//! An account's own records sit under `PK = A#{account}`; its entries are spread over
//! [`ENTRY_SHARDS`] partitions `A#{account}#{shard}`, so one busy merchant's writes reach many
//! partitions:
//!
//! | record | PK | SK | attributes |
//! |---|---|---|---|
//! | account | `A#{account}` | `#ACCOUNT` | name, currency, timezone, created_at; `GSI2PK = ACCOUNTS`, `GSI2SK = {account}` |
//! | rollup lock | `A#{account}` | `#ROLLUP` | rounds (optimistic lock of the account's rollups), pending (slots the last round applied), month_last |
//! | daily totals | `A#{account}` | `D#{date}` | credits, debits, entry_count |
//! | monthly rollup | `A#{account}` | `M#{first day}` | credits, debits, entry_count, closing |
//! | entry and its idempotency record | `A#{account}#{shard}` | `E#{slot}` | the entry; key_digest, fingerprint, token; `GSI1PK = {account}#{date}`, `GSI1SK = {entry id}` |
//! | applied mark | `A#{account}#{shard}` | `X#{slot}` | applied_at |
//!
//! An entry's slot ([`Slot`]) is a digest of its account and idempotency key, and part of its id:
//! the key finds the item when a request is retried, and so does the id.

use std::collections::{BTreeSet, HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::adapters::corrupt;
use crate::domain::account::{Account, AccountId, AccountName, Currency, Zone};
use crate::domain::balance::{MonthRollup, Movement};
use crate::domain::calendar::{parse_date, parse_instant};
use crate::domain::consolidation::Stored;
use crate::domain::entry::{Description, Entry, EntryId, EntryType, Posting, Slot};
use crate::domain::idempotency::{Fingerprint, KeyDigest};
use crate::domain::money::Amount;
use crate::ports::NewEntry;
use crate::ports::PortError;

pub type Item = HashMap<String, AttributeValue>;

/// The one partition of the account directory (`GSI2`, sparse: account items only), which
/// reconciliation walks. Written once per account, when it is created.
pub const ACCOUNTS_PK: &str = "ACCOUNTS";

pub const ACCOUNT_SK: &str = "#ACCOUNT";

/// A key no record has: what a function reads at init to open its connection to the table.
pub fn absent_key() -> Item {
    key("#CONNECT".to_owned(), "#CONNECT".to_owned())
}
pub const ROLLUP_SK: &str = "#ROLLUP";

pub fn pk(account: &AccountId) -> String {
    format!("A#{account}")
}

/// Partitions each account's entries are spread over, by their slot.
pub const ENTRY_SHARDS: u16 = 16;

/// The partition of the entries (and their applied marks) whose slot is `slot`.
fn entry_pk(account: &AccountId, slot: Slot) -> String {
    format!("A#{account}#{}", slot.shard(ENTRY_SHARDS))
}

/// The primary key of the entry recorded under `slot`.
pub fn entry_key(account: &AccountId, slot: Slot) -> Item {
    key(entry_pk(account, slot), format!("E#{}", slot.to_hex()))
}

/// The sort keys of applied marks begin with this.
pub const MARK_PREFIX: &str = "X#";

/// The primary key of the applied mark of the entry recorded under `slot`, in its entry's partition.
pub fn mark_key(account: &AccountId, slot: Slot) -> Item {
    key(entry_pk(account, slot), format!("{MARK_PREFIX}{}", slot.to_hex()))
}

/// The applied mark of the entry recorded under `slot`: written once, after the round that applied
/// the entry committed, and never changed or deleted. About 100 bytes, one write unit.
pub fn mark_item(account: &AccountId, slot: Slot, now: Timestamp) -> Item {
    let mut item = mark_key(account, slot);
    item.insert("applied_at".into(), n(now.as_millisecond()));
    item
}

/// An account's rollup lock (`#ROLLUP`), as one consolidation round reads it.
///
/// Its counter is kept as `rounds`, not as the `version` that locks written before applied marks
/// were items of their own carry: a function of that earlier design (a rollback, or an invocation
/// still running during a deployment) reads `version`, finds none, and fails the round instead of
/// planning without the pending slots and marks it cannot see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupLock {
    /// Bumped by every round that commits; a round commits only at the count it read.
    pub version: i64,
    /// Whether the count was read from an earlier design's `version`, which the commit removes.
    pub legacy: bool,
    /// The slots of the entries the last committed round applied. Their marks are written after
    /// that round's commit, so until the next round has checked them they count as applied here.
    pub pending: BTreeSet<Slot>,
    /// The latest month with a rollup, which bounds the months a round reads; `None` before the
    /// account's first round (and on a lock written before it was kept).
    pub month_last: Option<Date>,
}

/// The primary key of an account's rollup lock.
pub fn lock_key(account: &AccountId) -> Item {
    key(pk(account), ROLLUP_SK.into())
}

impl RollupLock {
    /// Whether the entry recorded under `slot` is applied, given the slots (in hex) whose mark items
    /// were read: its mark exists, or its slot is pending in this lock.
    pub fn applied(&self, slot: Slot, marked: &HashSet<String>) -> bool {
        marked.contains(&slot.to_hex()) || self.pending.contains(&slot)
    }
}

/// The rollup lock of `found` (absent before an account's first round).
pub fn lock_from(found: Option<&Item>) -> Result<RollupLock, PortError> {
    let Some(item) = found else { return Ok(RollupLock::default()) };
    let pending = match item.get("pending") {
        None => BTreeSet::new(),
        Some(AttributeValue::Bs(blobs)) => blobs
            .iter()
            .map(|b| Slot::from_bytes(b.as_ref()).ok_or_else(|| corrupt("pending", "a slot of another length")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(corrupt("pending", "not a binary set")),
    };
    let month_last = opt_s(item, "month_last").map(parse_date).transpose().map_err(|e| corrupt("month_last", e))?;
    let (version, legacy) = match item.contains_key(LOCK_ROUNDS) {
        true => (get_n(item, LOCK_ROUNDS)?, false),
        false => (get_n(item, "version")?, true),
    };
    Ok(RollupLock { version, legacy, pending, month_last })
}

/// The rollup lock's counter of committed rounds.
pub const LOCK_ROUNDS: &str = "rounds";

/// The lock's `pending` value: a binary set of 10-byte slots (at most 50 of them, about 600 bytes).
pub fn pending_value(slots: impl IntoIterator<Item = Slot>) -> AttributeValue {
    AttributeValue::Bs(slots.into_iter().map(|s| aws_sdk_dynamodb::primitives::Blob::new(s.to_bytes())).collect())
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
    item.insert("GSI2PK".into(), s(ACCOUNTS_PK));
    item.insert("GSI2SK".into(), s(a.id.as_str()));
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

/// An entry as first written, with its idempotency record: the digest of its key, the request's
/// fingerprint and the write's `token`; unapplied.
pub fn entry_item(new: &NewEntry, digest: &KeyDigest, token: &str) -> Item {
    let e = &new.entry;
    let mut item = entry_key(&e.account_id, e.id.slot());
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
    if let Some(r) = e.reversed_by {
        item.insert("reversed_by".into(), s(r.to_string()));
    }
    item.insert("key_digest".into(), s(digest.to_hex()));
    item.insert("fingerprint".into(), s(new.response.fingerprint.as_str()));
    item.insert("token".into(), s(token));
    item.insert("GSI1PK".into(), s(by_date(&e.account_id, e.business_date)));
    item.insert("GSI1SK".into(), s(e.id.to_string()));
    item
}

/// Whether a stream image is an entry's item (its sort key is an entry slot's).
pub fn is_entry(item: &Item) -> bool {
    opt_s(item, "SK").is_some_and(|sk| sk.starts_with("E#"))
}

/// The attributes the date index (`GSI1`) carries besides the keys: an entry as listed. The applied
/// mark and the idempotency record stay out, so marking an entry applied writes no index.
pub const LISTED: [&str; 9] = [
    "type",
    "amount",
    "currency",
    "description",
    "occurred_at",
    "business_date",
    "recorded_at",
    "reverses",
    "reversed_by",
];

/// An entry item's idempotency record: what a retry of its key is answered from.
pub struct KeyRecord {
    pub entry: Entry,
    pub key_digest: String,
    pub fingerprint: Fingerprint,
    pub token: String,
}

pub fn key_record_from(item: &Item) -> Result<KeyRecord, PortError> {
    Ok(KeyRecord {
        entry: entry_from(item)?,
        key_digest: get_s(item, "key_digest")?.to_owned(),
        fingerprint: Fingerprint::from_stored(get_s(item, "fingerprint")?.to_owned()),
        token: get_s(item, "token")?.to_owned(),
    })
}

/// The account of an entry's partition key `A#{account}#{shard}`.
fn entry_account(item: &Item) -> Result<AccountId, PortError> {
    let pk = get_s(item, "PK")?;
    let account = pk.strip_prefix("A#").and_then(|rest| rest.rsplit_once('#')).map_or("", |(a, _)| a);
    AccountId::parse(account).map_err(|e| corrupt("account", e))
}

fn entry_id(item: &Item) -> Result<EntryId, PortError> {
    EntryId::parse(get_s(item, "GSI1SK")?).map_err(|e| corrupt("entry id", e))
}

pub fn entry_from(item: &Item) -> Result<Entry, PortError> {
    let id = |raw: &str| EntryId::parse(raw).map_err(|e| corrupt("entry id", e));
    let instant = |name: &str| parse_instant(get_s(item, name)?).map_err(|e| corrupt(name, e));
    Ok(Entry {
        id: entry_id(item)?,
        account_id: entry_account(item)?,
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

/// What consolidation needs of a stored entry: its id and its [`Stored`] state. Applied here only
/// when the item itself carries the mark (`applied_at`), as items applied before marks became items
/// of their own do; the caller adds the entry's mark item and its rollup lock's pending slots.
pub fn stored_from(item: &Item) -> Result<(EntryId, Stored), PortError> {
    let id = entry_id(item)?;
    let stored = Stored {
        kind: EntryType::parse(get_s(item, "type")?).map_err(|e| corrupt("type", e))?,
        amount: Amount::from_minor(get_n(item, "amount")?).map_err(|e| corrupt("amount", e))?,
        business_date: parse_date(get_s(item, "business_date")?).map_err(|e| corrupt("business_date", e))?,
        applied: item.contains_key("applied_at"),
    };
    Ok((id, stored))
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

/// An item's size as DynamoDB bills it: each attribute's name in UTF-8 bytes plus its value's size
/// (a string's UTF-8 bytes, a number's one byte per two significant digits plus one, a binary's
/// bytes, 1 for a boolean or null, 3 plus 1 per element for a list or map). One write unit covers 1 KB.
pub fn size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => number_size(number),
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::Ss(texts) => texts.iter().map(String::len).sum(),
        AttributeValue::Ns(numbers) => numbers.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(blobs) => blobs.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(values) => 3 + values.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        _ => 1,
    }
}

fn number_size(number: &str) -> usize {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1);
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::domain::idempotency::{IdempotencyKey, StoredResponse};

    /// GIVEN the largest entry the contract allows (a 64-character account, a 255-character key, a
    /// 400-byte description, the largest amount, instants with nine fraction digits, a reversal mark,
    /// and the `applied_at` that items applied before marks were items of their own carry)
    /// WHEN it is stored THEN its item stays within one write unit, 1 KB.
    #[test]
    fn the_largest_entry_item_stays_within_one_write_unit() {
        let account = AccountId::parse(&"a".repeat(AccountId::LEN_MAX)).expect("id");
        let key = IdempotencyKey::parse(&"k".repeat(IdempotencyKey::LEN_MAX)).expect("key");
        let digest = KeyDigest::of(&account, &key);
        let at: Timestamp = "2026-11-23T23:59:59.123456789Z".parse().expect("instant");
        let description = "👍".repeat(Description::BYTES_MAX / 4);
        let entry = Entry {
            id: EntryId::mint(digest.slot(), at),
            account_id: account,
            kind: EntryType::Credit,
            amount: Amount::from_minor(Amount::MAX_MINOR).expect("amount"),
            currency: Currency::parse("BRL").expect("currency"),
            description: Some(Description::parse(&description).expect("the longest description")),
            occurred_at: at,
            business_date: jiff::civil::date(2026, 11, 23),
            recorded_at: at,
            reverses: None,
            reversed_by: Some(EntryId::new_v7()),
        };
        let response =
            StoredResponse { fingerprint: Fingerprint::of(&["entry"]), body: String::new(), location: String::new() };
        let new = NewEntry { entry, key, response };
        let mut item = entry_item(&new, &digest, "0123456789abcdef");
        item.insert("applied_at".into(), n(at.as_millisecond()));
        let bytes = size(&item);
        assert!(bytes <= 1024, "the largest entry item is {bytes} bytes");
        eprintln!("the largest entry item: {bytes} bytes");
    }

    /// GIVEN the longest account id WHEN an entry is marked applied THEN the mark is one write unit
    /// and a rollup lock pending 50 slots stays within one too.
    #[test]
    fn a_mark_and_a_full_lock_stay_within_one_write_unit() {
        let account = AccountId::parse(&"a".repeat(AccountId::LEN_MAX)).expect("id");
        let slot = EntryId::new_v7().slot();
        let mark = mark_item(&account, slot, Timestamp::now());
        assert!(size(&mark) <= 1024, "a mark is {} bytes", size(&mark));
        let mut lock = lock_key(&account);
        lock.insert(LOCK_ROUNDS.into(), n(i64::MAX));
        lock.insert("pending".into(), pending_value((0..50).map(|_| EntryId::new_v7().slot())));
        lock.insert("month_last".into(), s("2026-12-01"));
        assert!(size(&lock) <= 1024, "a lock pending 50 slots is {} bytes", size(&lock));
        let read = lock_from(Some(&lock)).expect("lock");
        assert_eq!((read.pending.len(), read.month_last), (50, Some(jiff::civil::date(2026, 12, 1))));
    }

    #[test]
    fn sizes_follow_dynamodb_rules() {
        let item = HashMap::from([
            ("ab".to_owned(), s("çé")),
            ("n".to_owned(), AttributeValue::N("-00123.4500".into())),
            ("m".to_owned(), AttributeValue::M(HashMap::from([("x".to_owned(), AttributeValue::Bool(true))]))),
        ]);
        // "ab" + 4 bytes; "n" + (5 significant digits, 12345: 3 bytes, + 1); "m" + 3 + (1 + "x" + 1).
        assert_eq!(size(&item), 6 + 5 + 7);
    }
}
