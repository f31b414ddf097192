//! The ledger's use cases: each composes the ports with the domain. Handlers parse a request into
//! domain types, call one method here, and render what it returns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::domain::Invalid;
use crate::domain::account::{Account, AccountId, AccountName, Currency, Zone};
use crate::domain::balance::{DailyBalance, daily_balances};
use crate::domain::calendar::{DateRange, business_date, check_occurred_at};
use crate::domain::entry::{Description, Entry, EntryId, EntryType, Posting, ReversalRefused, reverse};
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, KeyDigest, Replay, StoredResponse};
use crate::domain::money::Amount;
use crate::ports::{
    Applied, BalanceStore, Clock, EntryPage, LedgerStore, NewEntry, PortError, Publisher, PutAccount, Recorded,
};
use crate::views::{EntryView, to_json};

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
}

/// When relay re-publishes entries that are not consolidated yet.
#[derive(Debug, Clone, Copy)]
pub struct RelayPolicy {
    /// How long after recording an entry may wait for its own publish and consolidation.
    pub grace: SignedDuration,
    /// How long after a re-publish an entry still unconsolidated is re-published again.
    pub interval: SignedDuration,
    /// How many entries one relay run handles at most.
    pub batch_max: usize,
    /// How many times one entry is re-published before relay gives up on it.
    pub attempts_max: u32,
}

impl Default for RelayPolicy {
    fn default() -> Self {
        Self {
            grace: SignedDuration::from_secs(60),
            interval: SignedDuration::from_mins(5),
            batch_max: 500,
            attempts_max: 12,
        }
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

/// What a relay run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
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

    /// Records an entry once per idempotency key, then publishes it for consolidation. A failed
    /// publish is logged and left to relay: the entry is durable and the client gets its 201.
    #[tracing::instrument(name = "ledger.record_entry", skip_all, fields(account_id = %account_id))]
    pub async fn record_entry(
        &self,
        account_id: &AccountId,
        key: IdempotencyKey,
        req: EntryRequest,
    ) -> Result<Written, LedgerError> {
        let account = self.terms(account_id).await?;
        let fingerprint = entry_fingerprint(account_id, &req);
        let now = self.clock.now();
        if let Err(reason) = self.check_entry(&account, &req, now) {
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

    /// Re-publishes entries whose consolidation is overdue.
    #[tracing::instrument(name = "ledger.relay", skip_all)]
    pub async fn run_relay(&self) -> Result<RelayReport, PortError> {
        let now = self.clock.now();
        let next = now.saturating_add(self.relay.interval).unwrap_or(now);
        let due = self.store.claim_due(now, next, self.relay.batch_max, self.relay.attempts_max).await?;
        if !due.is_empty() {
            self.publisher.publish(&due).await?;
            crate::telemetry::relay_republished(due.len());
        }
        Ok(RelayReport { republished: due.len() })
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
        let response = recorded_response(&entry, fingerprint.clone());
        let relay_due_at = entry.recorded_at.saturating_add(self.relay.grace).unwrap_or(entry.recorded_at);
        let new = NewEntry { entry, key, response, relay_due_at };
        match self.store.record(&new).await? {
            Recorded::New => Ok(self.recorded(new).await),
            Recorded::Existing(stored) => answer_replay(stored, &fingerprint),
            Recorded::KeyCollision => Err(LedgerError::Conflict(
                "the Idempotency-Key collides with another key of this account; send the request with a new key",
            )),
            Recorded::AlreadyReversed => Err(LedgerError::Conflict("the entry was already reversed")),
            Recorded::OriginalMissing => Err(LedgerError::NotFound("entry")),
        }
    }

    async fn recorded(&self, new: NewEntry) -> Written {
        crate::telemetry::entry_recorded();
        tracing::info!(entry_id = %new.entry.id, account_id = %new.entry.account_id, "entry recorded");
        self.publish_once(&new.entry).await;
        Written { response: new.response, replayed: false }
    }

    async fn publish_once(&self, entry: &Entry) {
        if let Err(error) = self.publisher.publish(&[entry.posting()]).await {
            tracing::warn!(entry_id = %entry.id, account_id = %entry.account_id, %error, "publish failed; relay will re-publish the entry");
        }
    }
}

/// The 201 answer to the request that recorded `entry`, as stored with its key and replayed to its
/// retries: the entry as it was when recorded.
pub fn recorded_response(entry: &Entry, fingerprint: Fingerprint) -> StoredResponse {
    StoredResponse {
        fingerprint,
        status: 201,
        body: to_json(&EntryView::from(&Entry { reversed_by: None, ..entry.clone() })),
        location: format!("/v1/accounts/{}/entries/{}", entry.account_id, entry.id),
    }
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
