//! The ledger's use cases: each composes the ports with the domain. Handlers parse a request into
//! domain types, call one method here, and render what it returns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::domain::Invalid;
use crate::domain::account::{Account, AccountId, AccountName, Currency, Zone};
use crate::domain::balance::{DailyBalance, daily_balances};
use crate::domain::batch::{self, BatchRefused};
use crate::domain::calendar::{DateRange, business_date, check_occurred_at};
use crate::domain::entry::{Description, Entry, EntryId, EntryType, Posting, ReversalRefused, reverse};
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, KeyDigest, Replay, StoredResponse};
use crate::domain::money::Amount;
use crate::ports::{
    Applied, BalanceStore, Clock, EntryPage, LedgerStore, NewEntry, Outbox, PortError, Publisher, PutAccount, Recorded,
};
use crate::views::{EntryView, RenderError, to_json};

/// Why a use case did not complete. Each variant maps to one HTTP status at the edge.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    Unprocessable(&'static str),
    #[error("invalid field {field}: {reason}")]
    Field { field: &'static str, reason: Invalid },
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("stored balances overflowed")]
    Overflow,
    #[error("the batch {0}")]
    Batch(BatchRefused),
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Entries of one batch written at the same time at most: enough to hide DynamoDB's per-write
/// latency (a batch of 500 in about 32 round trips), few enough that one batch does not take every
/// connection of the client's pool.
pub const BATCH_WRITES_PARALLEL: usize = 16;

/// How relay and reconciliation run.
#[derive(Debug, Clone, Copy)]
pub struct RelayPolicy {
    /// Postings one relay pass takes from the outbox at most.
    pub batch_max: usize,
    /// Business dates a reconciliation pass checks, back from today in each account's time zone:
    /// one more than the backdating window, so every date still open to new entries is checked.
    pub reconcile_days: u16,
    /// How long after recording an unapplied entry is left to the outbox before reconciliation
    /// publishes it again.
    pub reconcile_grace: SignedDuration,
}

impl Default for RelayPolicy {
    fn default() -> Self {
        Self { batch_max: 500, reconcile_days: 32, reconcile_grace: SignedDuration::from_mins(10) }
    }
}

/// A parsed request to record an entry.
#[derive(Debug, Clone)]
pub struct EntryRequest {
    pub kind: EntryType,
    pub amount: Amount,
    pub description: Option<Description>,
    pub occurred_at: Option<Timestamp>,
    pub currency: Option<Currency>,
}

/// A write's answer: the stored response, and whether it is a replay of an earlier request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub response: StoredResponse,
    pub replayed: bool,
}

/// What a relay pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    /// Postings put on the queue.
    pub published: usize,
}

/// What a reconciliation pass found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReconcileReport {
    pub accounts: usize,
    /// Account days whose entries were counted against their balance.
    pub days: usize,
    /// Entries recorded more than the grace period ago and still in no balance, published again.
    pub republished: usize,
}

/// Accounts as first read, kept per execution environment: an account's currency and time zone
/// never change, so recording and reading need not read its item again. Only the account route
/// reads the account afresh, for its name. Bounded: past [`AccountCache::ACCOUNTS_MAX`] accounts it
/// starts over.
#[derive(Clone, Default)]
pub struct AccountCache(Arc<Mutex<HashMap<AccountId, Account>>>);

impl AccountCache {
    pub const ACCOUNTS_MAX: usize = 10_000;

    fn get(&self, id: &AccountId) -> Option<Account> {
        self.0.lock().ok()?.get(id).cloned()
    }

    fn keep(&self, account: &Account) {
        let Ok(mut accounts) = self.0.lock() else { return };
        if accounts.len() >= Self::ACCOUNTS_MAX {
            accounts.clear();
        }
        accounts.insert(account.id.clone(), account.clone());
    }
}

/// The ledger over its ports.
#[derive(Clone)]
pub struct Ledger {
    pub store: Arc<dyn LedgerStore>,
    pub balances: Arc<dyn BalanceStore>,
    pub publisher: Arc<dyn Publisher>,
    pub clock: Arc<dyn Clock>,
    pub relay: RelayPolicy,
    pub accounts: AccountCache,
}

impl Ledger {
    /// The ledger over these ports, with an empty account cache.
    pub fn new(
        store: Arc<dyn LedgerStore>,
        balances: Arc<dyn BalanceStore>,
        publisher: Arc<dyn Publisher>,
        clock: Arc<dyn Clock>,
        relay: RelayPolicy,
    ) -> Self {
        Self { store, balances, publisher, clock, relay, accounts: AccountCache::default() }
    }

    /// Creates or renames an account; currency and time zone never change once set.
    pub async fn put_account(
        &self,
        id: AccountId,
        name: AccountName,
        currency: Currency,
        zone: Zone,
    ) -> Result<PutAccount, LedgerError> {
        let requested = Account { id, name, currency, zone, created_at: self.clock.now() };
        match self.store.put_account(&requested).await? {
            PutAccount::Conflict(_) => Err(LedgerError::Conflict("an account's currency and timezone cannot change")),
            done => Ok(done),
        }
    }

    /// The account as stored now, or `NotFound`.
    pub async fn account(&self, id: &AccountId) -> Result<Account, LedgerError> {
        let account = self.store.get_account(id).await?.ok_or(LedgerError::NotFound("account"))?;
        self.accounts.keep(&account);
        Ok(account)
    }

    /// The account for its currency and time zone, which never change: from the cache when it was
    /// read before in this execution environment (its name may be older than the stored one).
    async fn terms(&self, id: &AccountId) -> Result<Account, LedgerError> {
        match self.accounts.get(id) {
            Some(account) => Ok(account),
            None => self.account(id).await,
        }
    }

    /// Records an entry once per idempotency key. Its posting reaches the queue through the store's
    /// outbox (on DynamoDB, the table's stream) and relay: recording never waits for the queue.
    #[tracing::instrument(name = "ledger.record_entry", skip_all, fields(account_id = %account_id))]
    pub async fn record_entry(
        &self,
        account_id: &AccountId,
        key: IdempotencyKey,
        req: EntryRequest,
    ) -> Result<Written, LedgerError> {
        let account = self.terms(account_id).await?;
        self.record_on(&account, key, req).await
    }

    /// Records a batch of entries on one account, reading the account once and writing up to
    /// [`BATCH_WRITES_PARALLEL`] entries at a time, each exactly as [`Ledger::record_entry`] would:
    /// its own idempotency key, its own conditional write. Returns one outcome per entry, in order;
    /// an entry refused does not hold back the others.
    ///
    /// # Errors
    /// The account is unknown or cannot be read; the batch is empty, too big or repeats a key
    /// (nothing is written).
    #[tracing::instrument(name = "ledger.record_batch", skip_all, fields(account_id = %account_id, entries = items.len()))]
    pub async fn record_batch(
        &self,
        account_id: &AccountId,
        items: Vec<(IdempotencyKey, EntryRequest)>,
    ) -> Result<Vec<Result<Written, LedgerError>>, LedgerError> {
        batch::check(items.iter().map(|(key, _)| Some(key))).map_err(LedgerError::Batch)?;
        let account = self.terms(account_id).await?;
        let writes = items.into_iter().map(|(key, req)| self.record_on(&account, key, req));
        Ok(futures_util::stream::iter(writes).buffered(BATCH_WRITES_PARALLEL).collect().await)
    }

    async fn record_on(
        &self,
        account: &Account,
        key: IdempotencyKey,
        req: EntryRequest,
    ) -> Result<Written, LedgerError> {
        let account_id = &account.id;
        let fingerprint = entry_fingerprint(account_id, &req);
        let now = self.clock.now();
        if let Err(reason) = self.check_entry(account, &req, now) {
            // A retry of a request that was accepted earlier may fall outside the time window now.
            return match self.replay(account_id, &key, &fingerprint).await? {
                Some(written) => Ok(written),
                None => Err(reason),
            };
        }
        let occurred_at = req.occurred_at.unwrap_or(now);
        let entry = Entry {
            id: EntryId::mint(KeyDigest::of(account_id, &key).slot(), now),
            account_id: account.id.clone(),
            kind: req.kind,
            amount: req.amount,
            currency: account.currency,
            description: req.description,
            occurred_at,
            business_date: business_date(occurred_at, &account.zone),
            recorded_at: now,
            reverses: None,
            reversed_by: None,
        };
        self.write(entry, key, fingerprint).await
    }

    /// Records the reversal of an entry: the opposite type and the same amount, dated now.
    #[tracing::instrument(name = "ledger.reverse_entry", skip_all, fields(account_id = %account_id, original = %original_id))]
    pub async fn reverse_entry(
        &self,
        account_id: &AccountId,
        original_id: &EntryId,
        key: IdempotencyKey,
        description: Option<Description>,
    ) -> Result<Written, LedgerError> {
        let account = self.terms(account_id).await?;
        let desc = description.as_ref().map_or("\u{0}", |d| d.as_str());
        let fingerprint = Fingerprint::of(&["reversal", account_id.as_str(), &original_id.to_string(), desc]);
        if let Some(written) = self.replay(account_id, &key, &fingerprint).await? {
            return Ok(written);
        }
        let original = self.store.get_entry(account_id, original_id).await?.ok_or(LedgerError::NotFound("entry"))?;
        let now = self.clock.now();
        let id = EntryId::mint(KeyDigest::of(account_id, &key).slot(), now);
        let reversal = reverse(&original, id, description, now, business_date(now, &account.zone)).map_err(
            |refused| match refused {
                ReversalRefused::AlreadyReversed => LedgerError::Conflict("the entry was already reversed"),
                ReversalRefused::IsReversal => LedgerError::Unprocessable("a reversal cannot be reversed"),
            },
        )?;
        self.write(reversal, key, fingerprint).await
    }

    pub async fn entry(&self, account_id: &AccountId, id: &EntryId) -> Result<Entry, LedgerError> {
        self.terms(account_id).await?;
        self.store.get_entry(account_id, id).await?.ok_or(LedgerError::NotFound("entry"))
    }

    /// One page of the entries of a business date.
    pub async fn entries(
        &self,
        account_id: &AccountId,
        date: Date,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<EntryPage, LedgerError> {
        self.terms(account_id).await?;
        Ok(self.store.list_entries(account_id, date, after, limit).await?)
    }

    /// The daily balances of every date of `range`, with the instant they were read.
    pub async fn daily(
        &self,
        account_id: &AccountId,
        range: DateRange,
    ) -> Result<(Account, Vec<DailyBalance>, Timestamp), LedgerError> {
        let account = self.terms(account_id).await?;
        let as_of = self.clock.now();
        let history = self.balances.history(account_id, range.from(), range.to()).await?;
        let days = daily_balances(&history, range).map_err(|_| LedgerError::Overflow)?;
        Ok((account, days, as_of))
    }

    /// Applies postings to their daily balances, each exactly once in effect.
    #[tracing::instrument(name = "ledger.consolidate", skip_all, fields(postings = postings.len()))]
    pub async fn consolidate(&self, postings: &[Posting]) -> Result<Vec<Applied>, PortError> {
        self.balances.apply(postings, self.clock.now()).await
    }

    /// Moves postings from an outbox to the queue, oldest first: one pass of at most the policy's
    /// batch. A posting published twice (the pass died between publishing and acknowledging) is
    /// counted once by consolidation.
    #[tracing::instrument(name = "ledger.relay", skip_all)]
    pub async fn relay_outbox(&self, outbox: &dyn Outbox) -> Result<RelayReport, PortError> {
        let pending = outbox.pending(self.relay.batch_max).await?;
        if pending.postings.is_empty() {
            return Ok(RelayReport::default());
        }
        self.publish(&pending.postings).await?;
        outbox.published(pending.position).await?;
        Ok(RelayReport { published: pending.postings.len() })
    }

    /// Puts postings on the queue, for relay.
    pub async fn publish(&self, postings: &[Posting]) -> Result<(), PortError> {
        self.publisher.publish(postings).await?;
        crate::telemetry::relay_published(postings.len());
        Ok(())
    }

    /// Finds entries recorded more than the grace period ago that are in no balance yet, and
    /// publishes them again: for each account and each business date of the window, the entries
    /// the store holds are counted against the day's applied count, and only a day that differs is
    /// read entry by entry. Whatever was down for however long, an acknowledged entry is not left
    /// out of its balance.
    #[tracing::instrument(name = "ledger.reconcile", skip_all)]
    pub async fn reconcile(&self) -> Result<ReconcileReport, PortError> {
        const PAGE: usize = 100;
        let mut report = ReconcileReport::default();
        let mut after: Option<AccountId> = None;
        loop {
            let accounts = self.store.accounts(after.as_ref(), PAGE).await?;
            for id in &accounts {
                self.reconcile_account(id, &mut report).await?;
            }
            report.accounts += accounts.len();
            match accounts.last() {
                Some(last) if accounts.len() == PAGE => after = Some(last.clone()),
                _ => break,
            }
        }
        if report.republished > 0 {
            crate::telemetry::relay_republished(report.republished);
        }
        Ok(report)
    }

    async fn reconcile_account(&self, id: &AccountId, report: &mut ReconcileReport) -> Result<(), PortError> {
        let Some(account) = self.store.get_account(id).await? else { return Ok(()) };
        let now = self.clock.now();
        let today = business_date(now, &account.zone);
        // Not from the account's creation: entries may be backdated to before it.
        let back = jiff::Span::new().days(i64::from(self.relay.reconcile_days.saturating_sub(1)));
        let from = today.checked_sub(back).unwrap_or(today);
        let applied = self.balances.history(id, from, today).await?.days;
        let cutoff = now.checked_sub(self.relay.reconcile_grace).unwrap_or(now);
        let range =
            DateRange::new(from, today).map_err(|e| PortError::failure(format!("reconciliation window: {}", e.0)))?;
        for date in range.days() {
            report.days += 1;
            let count = self.store.entry_count(id, date).await?;
            if count <= applied.get(&date).map_or(0, |m| m.entry_count) {
                continue;
            }
            let overdue: Vec<Posting> =
                self.store.unapplied(id, date).await?.into_iter().filter(|p| p.recorded_at <= cutoff).collect();
            if !overdue.is_empty() {
                tracing::warn!(account_id = %id, %date, entries = overdue.len(), "reconciliation publishes entries missing from their balance");
                self.publisher.publish(&overdue).await?;
                report.republished += overdue.len();
            }
        }
        Ok(())
    }

    fn check_entry(&self, account: &Account, req: &EntryRequest, now: Timestamp) -> Result<(), LedgerError> {
        if req.currency.is_some_and(|c| c != account.currency) {
            let reason = Invalid::new(format!("must be the account's currency, {}", account.currency.code()));
            return Err(LedgerError::Field { field: "currency", reason });
        }
        if let Some(at) = req.occurred_at {
            check_occurred_at(at, now).map_err(|reason| LedgerError::Field { field: "occurred_at", reason })?;
        }
        Ok(())
    }

    async fn replay(
        &self,
        account_id: &AccountId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Written>, LedgerError> {
        match self.store.find_key(account_id, key).await? {
            None => Ok(None),
            Some(stored) => answer_replay(stored, fingerprint).map(Some),
        }
    }

    async fn write(&self, entry: Entry, key: IdempotencyKey, fingerprint: Fingerprint) -> Result<Written, LedgerError> {
        let response = recorded_response(&entry, fingerprint.clone())?;
        let new = NewEntry { entry, key, response };
        match self.store.record(&new).await? {
            Recorded::New => Ok(self.recorded(new)),
            Recorded::Existing(stored) => answer_replay(stored, &fingerprint),
            Recorded::KeyCollision => Err(LedgerError::Conflict(
                "the Idempotency-Key collides with another key of this account; send the request with a new key",
            )),
            Recorded::AlreadyReversed => Err(LedgerError::Conflict("the entry was already reversed")),
            Recorded::OriginalMissing => Err(LedgerError::NotFound("entry")),
        }
    }

    fn recorded(&self, new: NewEntry) -> Written {
        crate::telemetry::entry_recorded();
        // The request's own line carries the entry id; this one is for debugging.
        tracing::debug!(entry_id = %new.entry.id, account_id = %new.entry.account_id, "entry recorded");
        Written { response: new.response, replayed: false }
    }
}

/// The 201 answer to the request that recorded `entry`, as stored with its key and replayed to its
/// retries: the entry as it was when recorded.
///
/// # Errors
/// When the entry's view cannot be rendered ([`RenderError`]).
pub fn recorded_response(entry: &Entry, fingerprint: Fingerprint) -> Result<StoredResponse, RenderError> {
    Ok(StoredResponse {
        fingerprint,
        body: to_json(&EntryView::from(&Entry { reversed_by: None, ..entry.clone() }))?,
        location: format!("/v1/accounts/{}/entries/{}", entry.account_id, entry.id),
    })
}

fn answer_replay(stored: StoredResponse, fingerprint: &Fingerprint) -> Result<Written, LedgerError> {
    match stored.replay_for(fingerprint) {
        Replay::Same(response) => {
            crate::telemetry::idempotent_replay();
            Ok(Written { response, replayed: true })
        }
        Replay::KeyReused => Err(LedgerError::Conflict("the Idempotency-Key was used for a different request")),
    }
}

/// The fingerprint of an entry request: every field as parsed, with absent fields marked as such.
fn entry_fingerprint(account_id: &AccountId, req: &EntryRequest) -> Fingerprint {
    const ABSENT: &str = "\u{0}";
    let amount = req.amount.minor().to_string();
    let occurred = req.occurred_at.map(|t| t.to_string());
    Fingerprint::of(&[
        "entry",
        account_id.as_str(),
        req.kind.as_str(),
        &amount,
        req.description.as_ref().map_or(ABSENT, |d| d.as_str()),
        occurred.as_deref().unwrap_or(ABSENT),
        req.currency.map_or(ABSENT, |c| c.code()),
    ])
}
