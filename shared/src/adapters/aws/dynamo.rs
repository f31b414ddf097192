//! The ledger store on DynamoDB: one table, keys and items as documented in [`super::item`].
//!
//! Recording an entry is one conditional `PutItem` of one item, the entry and its idempotency record
//! together, at the key its idempotency key decides: concurrent duplicates produce one entry, and a
//! retry reads the stored entry from the failed condition (`ALL_OLD`) without a second request. A
//! reversal is one `TransactWriteItems` (the reversal and the original's `reversed_by`).
//! Consolidation runs in rounds per account ([`super::round`]): the rollups commit in one transaction
//! guarded by the account's rollup version, and each applied entry's mark follows as an item of its
//! own.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, Select, TransactWriteItem, Update,
};
use jiff::Timestamp;
use jiff::civil::Date;

use super::errors::{backoff, build, sdk};
use super::item::{self, Item, s};
use crate::adapters::corrupt;
use crate::domain::account::{Account, AccountChange, AccountId};
use crate::domain::audit::Rollups;
use crate::domain::balance::BalanceHistory;
use crate::domain::calendar::month_of;
use crate::domain::consolidation;
use crate::domain::entry::{Entry, EntryId, Posting};
use crate::domain::idempotency::{IdempotencyKey, KeyDigest, StoredResponse};
use crate::ledger::recorded_response;
use crate::ports::{
    Applied, BalanceStore, EntryPage, LedgerStore, MarkedPage, NewEntry, PortError, PutAccount, Recorded,
};

/// DynamoDB's limit of items in one transaction and keys in one `BatchGetItem`.
pub(super) const TRANSACTION_ITEMS_MAX: usize = 100;
/// Pages one count reads at most: a date of a million entries is about 400 pages of 1 MB.
const PAGES_MAX: usize = 10_000;
/// Attempts at a consolidation round that lost its optimistic lock to a concurrent one.
pub(super) const ROUND_ATTEMPTS_MAX: usize = 8;

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub(super) async fn get(&self, key: Item) -> Result<Option<Item>, PortError> {
        let out = self.client.get_item().table_name(&self.table).set_key(Some(key)).consistent_read(true).send().await;
        Ok(out.map_err(sdk)?.item)
    }

    /// Runs a query to the end (or `limit` items) and returns its items.
    pub(super) async fn query(&self, q: Query<'_>, limit: Option<usize>) -> Result<Vec<Item>, PortError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(q.condition)
                .set_expression_attribute_values(Some(q.values.clone()))
                .scan_index_forward(q.forward)
                .set_exclusive_start_key(start.take());
            if let Some(index) = q.index {
                req = req.index_name(index);
            } else {
                req = req.consistent_read(true);
            }
            if let Some(limit) = limit {
                req = req.limit(i32::try_from(limit.saturating_sub(items.len())).unwrap_or(i32::MAX));
            }
            let out = req.send().await.map_err(sdk)?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            let full = limit.is_some_and(|l| items.len() >= l);
            if start.is_none() || full {
                return Ok(items);
            }
        }
    }

    /// Reads of many keys (strongly consistent when `consistent`), following `UnprocessedKeys` until
    /// every key is answered.
    pub(super) async fn batch_get(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, PortError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(TRANSACTION_ITEMS_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(consistent)
                    .build()
                    .map_err(build)?,
            );
            for attempt in 0..ROUND_ATTEMPTS_MAX {
                let Some(request) = pending.take() else { break };
                // Keys left unprocessed were throttled: give the partition a moment before asking again.
                if attempt > 0 {
                    backoff(attempt).await;
                }
                let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(sdk)?;
                found.extend(out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
                pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).filter(|k| !k.keys.is_empty());
            }
            if pending.is_some() {
                return Err(PortError::unavailable("BatchGetItem left keys unprocessed"));
            }
        }
        Ok(found)
    }

    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Result<(), Vec<String>>, PortError> {
        let error = match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => return Ok(Ok(())),
            Err(error) => error,
        };
        // A timeout or a dispatch failure is no service error: `sdk` reads it as worth retrying.
        match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                Ok(Err(c.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_owned()).collect()))
            }
            _ => Err(sdk(error)),
        }
    }

    pub(super) fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, PortError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned));
        Ok(TransactWriteItem::builder().put(put.build().map_err(build)?).build())
    }

    pub(super) fn update(
        &self,
        key: Item,
        expression: &str,
        condition: &str,
        values: Item,
    ) -> Result<TransactWriteItem, PortError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values));
        Ok(TransactWriteItem::builder().update(update.build().map_err(build)?).build())
    }
}

/// A key condition with its values, on the table or one of its indexes.
pub(super) struct Query<'a> {
    pub(super) index: Option<&'a str>,
    pub(super) condition: &'a str,
    pub(super) values: Item,
    pub(super) forward: bool,
}

pub(super) fn values(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

#[async_trait]
impl LedgerStore for DynamoStore {
    async fn put_account(&self, account: &Account) -> Result<PutAccount, PortError> {
        let created = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::account_item(account)))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match created {
            Ok(_) => return Ok(PutAccount::Created(account.clone())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(sdk(e)),
        }
        let stored = self.get_account(&account.id).await?.ok_or_else(|| PortError::unavailable("account vanished"))?;
        match stored.compare(account) {
            AccountChange::Unchanged => Ok(PutAccount::Unchanged(stored)),
            AccountChange::Conflict => Ok(PutAccount::Conflict(stored)),
            AccountChange::Renamed => {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(item::key(item::pk(&account.id), item::ACCOUNT_SK.into())))
                    .update_expression("SET #name = :name")
                    .expression_attribute_names("#name", "name")
                    .expression_attribute_values(":name", s(account.name.as_str()))
                    .send()
                    .await
                    .map_err(sdk)?;
                Ok(PutAccount::Renamed(Account { name: account.name.clone(), ..stored }))
            }
        }
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, PortError> {
        let found = self.get(item::key(item::pk(id), item::ACCOUNT_SK.into())).await?;
        found.as_ref().map(item::account_from).transpose()
    }

    async fn find_key(&self, account: &AccountId, key: &IdempotencyKey) -> Result<Option<StoredResponse>, PortError> {
        let digest = KeyDigest::of(account, key);
        let Some(found) = self.get(item::entry_key(account, digest.slot())).await? else { return Ok(None) };
        let record = item::key_record_from(&found)?;
        // Another key whose slot collides recorded this item: this key has recorded nothing.
        if record.key_digest != digest.to_hex() {
            return Ok(None);
        }
        rendered(&record).map(Some)
    }

    #[tracing::instrument(name = "dynamodb.record", skip_all, fields(entry_id = %new.entry.id))]
    async fn record(&self, new: &NewEntry) -> Result<Recorded, PortError> {
        let e = &new.entry;
        let digest = KeyDigest::of(&e.account_id, &new.key);
        let token = write_token()?;
        let entry = item::entry_item(new, &digest, &token);
        match e.reverses {
            None => self.put_entry(entry, &digest, &token).await,
            Some(original) => self.record_reversal(entry, &original, new, &digest, &token).await,
        }
    }

    async fn get_entry(&self, account: &AccountId, id: &EntryId) -> Result<Option<Entry>, PortError> {
        let Some(found) = self.get(item::entry_key(account, id.slot())).await? else { return Ok(None) };
        // The slot holds the entry its key recorded; an id of the same slot and another instant is
        // no entry.
        Ok(Some(item::entry_from(&found)?).filter(|e| e.id == *id))
    }

    async fn list_entries(
        &self,
        account: &AccountId,
        date: Date,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<EntryPage, PortError> {
        let mut vals = values(&[(":pk", s(item::by_date(account, date)))]);
        let condition = match after {
            Some(id) => {
                vals.insert(":after".into(), s(id.to_string()));
                "GSI1PK = :pk AND GSI1SK > :after"
            }
            // DynamoDB refuses an empty string in a key condition: the first page has none.
            None => "GSI1PK = :pk",
        };
        let q = Query { index: Some("GSI1"), condition, values: vals, forward: true };
        let items = self.query(q, Some(limit.saturating_add(1))).await?;
        let entries = items.iter().map(item::entry_from).collect::<Result<Vec<_>, _>>()?;
        Ok(EntryPage::from_fetched(entries, limit))
    }

    async fn list_marked(
        &self,
        account: &AccountId,
        date: Date,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<MarkedPage, PortError> {
        let page = self.list_entries(account, date, after, limit).await?;
        self.marked_page(account, page).await
    }

    async fn accounts(&self, after: Option<&AccountId>, limit: usize) -> Result<Vec<AccountId>, PortError> {
        let mut vals = values(&[(":pk", s(item::ACCOUNTS_PK))]);
        let condition = match after {
            Some(id) => {
                vals.insert(":after".into(), s(id.as_str()));
                "GSI2PK = :pk AND GSI2SK > :after"
            }
            None => "GSI2PK = :pk",
        };
        let q = Query { index: Some("GSI2"), condition, values: vals, forward: true };
        let found = self.query(q, Some(limit)).await?;
        found
            .iter()
            .map(|i| AccountId::parse(item::get_s(i, "GSI2SK")?).map_err(|e| corrupt("account id", e)))
            .collect()
    }

    /// Counts the date index's entries of one date (eventually consistent), following every page.
    async fn entry_count(&self, account: &AccountId, date: Date) -> Result<i64, PortError> {
        let mut count = 0i64;
        let mut start: Option<Item> = None;
        for _ in 0..PAGES_MAX {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(item::by_date(account, date)))
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            count = count.saturating_add(i64::from(out.count));
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
        Err(PortError::unavailable(format!("counting the entries of {date} took over {PAGES_MAX} pages")))
    }

    /// The date's entries from the date index, then their applied marks and the account's pending
    /// slots, then the items of those still unmarked (eventually consistent: a mark that lags only
    /// makes an entry published once more, and counted once).
    async fn unapplied(&self, account: &AccountId, date: Date) -> Result<Vec<Posting>, PortError> {
        let q = Query {
            index: Some("GSI1"),
            condition: "GSI1PK = :pk",
            values: values(&[(":pk", s(item::by_date(account, date)))]),
            forward: true,
        };
        let listed = self.query(q, None).await?.iter().map(item::entry_from).collect::<Result<Vec<_>, _>>()?;
        let applied = self.applied_among(account, &listed).await?;
        Ok(listed.into_iter().filter(|e| !applied.contains(&e.id)).map(|e| e.posting()).collect())
    }

    /// An eventually consistent read of a key no record has: half a read unit, and the connection
    /// (DNS, TCP, TLS, the SDK's endpoint and credentials) is open for the next request.
    async fn connect(&self) -> Result<(), PortError> {
        let out = self.client.get_item().table_name(&self.table).set_key(Some(item::absent_key())).send().await;
        out.map(drop).map_err(sdk)
    }
}

#[async_trait]
impl BalanceStore for DynamoStore {
    #[tracing::instrument(name = "dynamodb.apply", skip_all, fields(postings = postings.len()))]
    async fn apply(&self, postings: &[Posting], now: Timestamp) -> Result<Vec<Applied>, PortError> {
        let mut outcomes = vec![Applied::Duplicate; postings.len()];
        for (account, members) in consolidation::by_account(postings) {
            // Leave room in each transaction for the lock, the days and the months it touches.
            for chunk in members.chunks(TRANSACTION_ITEMS_MAX / 2) {
                let batch: Vec<&Posting> = chunk.iter().map(|&i| &postings[i]).collect();
                let done = match self.apply_account(account, &batch, now).await {
                    Ok(done) => done,
                    Err(error) => {
                        // Only this account's postings wait for their redelivery; the others go on.
                        tracing::warn!(%account, error = %error.chain(), postings = batch.len(), "account's postings deferred");
                        vec![Applied::Deferred; batch.len()]
                    }
                };
                for (i, outcome) in chunk.iter().zip(done) {
                    outcomes[*i] = outcome;
                }
            }
        }
        Ok(outcomes)
    }

    #[tracing::instrument(name = "dynamodb.history", skip_all, fields(account_id = %account))]
    async fn history(&self, account: &AccountId, from: Date, to: Date) -> Result<BalanceHistory, PortError> {
        let start = month_of(from);
        let opening = self.prior_closing(account, start).await?;
        let q = Query {
            index: None,
            condition: "PK = :pk AND SK BETWEEN :lo AND :hi",
            values: values(&[
                (":pk", s(item::pk(account))),
                (":lo", s(item::day_sk(start))),
                (":hi", s(item::day_sk(to))),
            ]),
            forward: true,
        };
        let days = self.query(q, None).await?.iter().map(item::day_from).collect::<Result<BTreeMap<_, _>, _>>()?;
        Ok(BalanceHistory { opening, days })
    }

    async fn rollups(&self, account: &AccountId, from: Date, to: Date) -> Result<Rollups, PortError> {
        self.rollups_between(account, from, to).await
    }
}

impl DynamoStore {
    /// Writes a new entry item unless its slot holds one; a failed condition returns the stored item.
    async fn put_entry(&self, entry: Item, digest: &KeyDigest, token: &str) -> Result<Recorded, PortError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match put {
            Ok(_) => return Ok(Recorded::New),
            Err(error) => error,
        };
        match error.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failed)) => match &failed.item {
                Some(found) => met(found, digest, token),
                None => Err(PortError::failure("a failed condition returned no item")),
            },
            _ => Err(sdk(error)),
        }
    }

    /// Writes a reversal and marks its original in one transaction, on condition that the original
    /// exists, is not reversed and is no reversal itself.
    async fn record_reversal(
        &self,
        reversal: Item,
        original: &EntryId,
        new: &NewEntry,
        digest: &KeyDigest,
        token: &str,
    ) -> Result<Recorded, PortError> {
        let account = &new.entry.account_id;
        let items = vec![
            self.put(reversal, Some("attribute_not_exists(PK)"))?,
            self.update(
                item::entry_key(account, original.slot()),
                "SET reversed_by = :by",
                "GSI1SK = :original AND attribute_not_exists(reversed_by) AND attribute_not_exists(reverses)",
                values(&[(":by", s(new.entry.id.to_string())), (":original", s(original.to_string()))]),
            )?,
        ];
        let mut reasons = Vec::new();
        for attempt in 0..ROUND_ATTEMPTS_MAX {
            reasons = match self.transact(items.clone()).await? {
                Ok(()) => return Ok(Recorded::New),
                Err(reasons) => reasons,
            };
            // A concurrent transaction on the same key or original: try again, and the loser then
            // meets the winner's condition and answers with its stored entry.
            if !reasons.iter().any(|c| c == "TransactionConflict") {
                break;
            }
            backoff(attempt).await;
        }
        let failed = |i: usize| reasons.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
        if failed(0) {
            let found = self.get(item::entry_key(account, digest.slot())).await?;
            return found
                .map_or_else(|| Err(PortError::unavailable("recorded item vanished")), |f| met(&f, digest, token));
        }
        if failed(1) {
            let exists = self.get_entry(account, original).await?.is_some();
            return Ok(if exists { Recorded::AlreadyReversed } else { Recorded::OriginalMissing });
        }
        Err(PortError::unavailable(format!("recording transaction cancelled: {reasons:?}")))
    }
}

/// What a write that met a stored item under its key answers: `New` when the item is this very
/// write's (its answer was lost and the SDK's retry met it), a collision when another key recorded
/// it, else the stored entry's answer.
fn met(found: &Item, digest: &KeyDigest, token: &str) -> Result<Recorded, PortError> {
    let record = item::key_record_from(found)?;
    if record.token == token {
        return Ok(Recorded::New);
    }
    if record.key_digest != digest.to_hex() {
        return Ok(Recorded::KeyCollision);
    }
    rendered(&record).map(Recorded::Existing)
}

/// A random token that tells one recording write from every other: 64 bits, in hex.
fn write_token() -> Result<String, PortError> {
    let mut bytes = [0u8; 8];
    // getrandom's error implements std's Error only with its `std` feature, which the Lambda builds
    // leave off: its text is the cause here.
    getrandom::fill(&mut bytes).map_err(|e| PortError::failure(format!("no randomness for a write token: {e}")))?;
    Ok(crate::domain::hex(&bytes))
}

/// The stored answer to the request that recorded `record`'s entry.
fn rendered(record: &item::KeyRecord) -> Result<StoredResponse, PortError> {
    recorded_response(&record.entry, record.fingerprint.clone())
        .map_err(|e| PortError::failure("a recorded entry could not be rendered").caused_by(e))
}
