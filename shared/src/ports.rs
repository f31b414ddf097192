//! Ports: the small traits the ledger needs from the outside world. Adapters implement them over the
//! embedded SQLite store ([`crate::adapters::embedded`]), DynamoDB and SQS ([`crate::adapters::aws`])
//! and plain maps ([`crate::adapters::memory`]).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::domain::account::{Account, AccountId};
use crate::domain::audit::Rollups;
use crate::domain::balance::BalanceHistory;
pub use crate::domain::consolidation::{Applied, Rejection};
use crate::domain::entry::{Entry, EntryId, Posting};
use crate::domain::idempotency::{IdempotencyKey, StoredResponse};

/// The error under a [`PortError`]: the SDK's, SQLite's or a decoder's, kept whole for logs.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// A store or queue failed: what the adapter was doing, and the error that stopped it. The chain is
/// for logs ([`PortError::chain`]); clients see a generic 503 or 500.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PortError {
    /// The backend is overloaded or briefly unreachable; retrying later may succeed.
    #[error("backend unavailable: {what}")]
    Unavailable {
        what: Cow<'static, str>,
        #[source]
        cause: Option<Cause>,
    },
    /// Stored data or a backend answer could not be understood, or the backend refused for good.
    #[error("backend failure: {what}")]
    Failure {
        what: Cow<'static, str>,
        #[source]
        cause: Option<Cause>,
    },
}

impl PortError {
    /// Worth retrying later: `what` names the step that could not be done.
    pub fn unavailable(what: impl Into<Cow<'static, str>>) -> Self {
        Self::Unavailable { what: what.into(), cause: None }
    }

    /// Not worth retrying: `what` names the step that failed.
    pub fn failure(what: impl Into<Cow<'static, str>>) -> Self {
        Self::Failure { what: what.into(), cause: None }
    }

    /// The same error, with the error that caused it.
    #[must_use]
    pub fn caused_by(self, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        let cause = Some(Arc::new(error) as Cause);
        match self {
            Self::Unavailable { what, .. } => Self::Unavailable { what, cause },
            Self::Failure { what, .. } => Self::Failure { what, cause },
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// The error and each of its causes, `: `-separated, for a log line.
    pub fn chain(&self) -> String {
        crate::logs::chain(self)
    }
}

/// The result of storing an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutAccount {
    Created(Account),
    Unchanged(Account),
    Renamed(Account),
    /// Currency or time zone would change; the stored account is returned untouched.
    Conflict(Account),
}

/// A new entry to record atomically with its idempotency record (and, where the store keeps one,
/// its outbox row: the posting relay publishes).
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub entry: Entry,
    pub key: IdempotencyKey,
    pub response: StoredResponse,
}

/// The result of recording an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Written: the entry and its key are durable.
    New,
    /// The key was already used; its stored response is returned and nothing was written. A store
    /// whose write committed but whose answer was lost, and whose retry met that write, answers
    /// `New`: it tells its own write from another request's.
    Existing(StoredResponse),
    /// The key's slot holds an entry another key of the account recorded (74-bit digests that
    /// collide: about one chance in four million for an account with a hundred million keys); nothing was written.
    KeyCollision,
    /// For a reversal: the original was reversed in the meantime.
    AlreadyReversed,
    /// For a reversal: the original no longer exists or is not this account's.
    OriginalMissing,
}

/// One page of entries of a business date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPage {
    pub items: Vec<Entry>,
    /// The last id of this page when more entries follow it.
    pub more_after: Option<EntryId>,
}

impl EntryPage {
    /// A page of at most `limit` entries from a read of up to `limit + 1`: the extra entry only tells
    /// that more follow.
    pub fn from_fetched(mut items: Vec<Entry>, limit: usize) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let more_after = if more { items.last().map(|e| e.id) } else { None };
        Self { items, more_after }
    }
}

/// A page of entries with the ids of those consolidation has applied: what the audit reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedPage {
    pub page: EntryPage,
    pub applied: HashSet<EntryId>,
}

/// Accounts and entries, with idempotency.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Creates an account, or renames it, or reports a conflicting change.
    async fn put_account(&self, account: &Account) -> Result<PutAccount, PortError>;

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, PortError>;

    /// Looks up a used idempotency key.
    async fn find_key(&self, account: &AccountId, key: &IdempotencyKey) -> Result<Option<StoredResponse>, PortError>;

    /// Records an entry and its idempotency key in one atomic write. A reversal (an entry whose
    /// `reverses` is set) also marks its original, on condition that the original is not reversed yet.
    /// Concurrent writes with one key record exactly one entry.
    async fn record(&self, new: &NewEntry) -> Result<Recorded, PortError>;

    async fn get_entry(&self, account: &AccountId, id: &EntryId) -> Result<Option<Entry>, PortError>;

    /// Entries of one business date in id order, strictly after `after`, at most `limit`.
    async fn list_entries(
        &self,
        account: &AccountId,
        date: Date,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<EntryPage, PortError>;

    /// [`LedgerStore::list_entries`], with which of the entries are applied.
    async fn list_marked(
        &self,
        account: &AccountId,
        date: Date,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<MarkedPage, PortError>;

    /// Account ids in order, strictly after `after`, at most `limit`: what reconciliation walks.
    async fn accounts(&self, after: Option<&AccountId>, limit: usize) -> Result<Vec<AccountId>, PortError>;

    /// How many entries of one business date the store holds. It may trail the latest writes by a
    /// moment (DynamoDB reads its date index eventually consistent): reconciliation allows for that.
    async fn entry_count(&self, account: &AccountId, date: Date) -> Result<i64, PortError>;

    /// The postings of the entries of one business date that are not applied yet, in id order.
    async fn unapplied(&self, account: &AccountId, date: Date) -> Result<Vec<Posting>, PortError>;

    /// Opens the store's connection before the first request needs it, with the cheapest request
    /// the store answers. A store without a connection has nothing to open.
    async fn connect(&self) -> Result<(), PortError> {
        Ok(())
    }
}

/// Postings recorded and not yet on the queue, with the position that acknowledges them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    pub postings: Vec<Posting>,
    /// Every posting up to this position is in `postings`.
    pub position: u64,
}

/// The outbox of a store that keeps one: each entry's posting, written in the same transaction as
/// the entry, waits here until relay has put it on the queue. (On DynamoDB the table's stream is
/// the outbox: the runner reads it through [`ChangeStream`], Lambda through its event source mapping.)
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` waiting postings, oldest first.
    async fn pending(&self, limit: usize) -> Result<Pending, PortError>;

    /// Forgets every posting up to `position`: they are on the queue.
    async fn published(&self, position: u64) -> Result<(), PortError>;
}

/// A batch of change records of one stream shard, as Lambda's event source mapping hands them to
/// `relay`, with where reading goes on once they are handled.
#[derive(Debug, Clone)]
pub struct StreamBatch {
    pub shard: String,
    pub event: aws_lambda_events::event::dynamodb::Event,
    /// The iterator after these records; `None` once the shard is closed and read to its end.
    pub next: Option<String>,
}

/// A table's change stream read the way Lambda's event source mapping reads it: the runner's
/// stand-in for that mapping.
#[async_trait]
pub trait ChangeStream: Send + Sync {
    /// The next records of some shard (possibly none).
    async fn next(&self) -> Result<StreamBatch, PortError>;

    /// Moves past `batch`, once relay has handled all of it; until then the same records come again.
    async fn advance(&self, batch: &StreamBatch) -> Result<(), PortError>;
}

/// Daily balances, moved only by consolidation.
#[async_trait]
pub trait BalanceStore: Send + Sync {
    /// Applies postings, each exactly once in effect: applying an entry and marking it applied is one
    /// atomic step. Returns one outcome per posting, in order. What applies is decided by
    /// [`crate::domain::consolidation::plan`]; the store only reads its snapshot and commits its plan,
    /// one account at a time, so an account it cannot commit now ([`Applied::Deferred`]) holds back no
    /// other account's postings.
    async fn apply(&self, postings: &[Posting], now: Timestamp) -> Result<Vec<Applied>, PortError>;

    /// Reads the rollups needed for the balances of `from` onwards up to `to`.
    async fn history(&self, account: &AccountId, from: Date, to: Date) -> Result<BalanceHistory, PortError>;

    /// Reads every stored rollup from `from` to `to` (days by date, months by their first day) and
    /// the closing balance of the month before `from`'s: what the audit compares.
    async fn rollups(&self, account: &AccountId, from: Date, to: Date) -> Result<Rollups, PortError>;
}

/// The queue postings travel on from relay to consolidation.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publishes postings; all of them are on the queue when this returns `Ok`.
    async fn publish(&self, postings: &[Posting]) -> Result<(), PortError>;
}

/// A received queue message, with the receipt that deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: i64,
    pub sent_ms: i64,
    pub first_receive_ms: i64,
}

/// How many messages wait, are in flight, and were dead-lettered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepths {
    pub visible: i64,
    pub in_flight: i64,
    pub dead: i64,
}

/// The consuming side of the queue, as the local runner polls it in place of the SQS event source
/// mapping that feeds `consolidate` in AWS.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Receives up to `max` messages and hides them for the visibility timeout.
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>, PortError>;

    /// Deletes delivered messages by receipt; a stale receipt deletes nothing.
    async fn delete(&self, receipts: Vec<String>) -> Result<(), PortError>;

    async fn depths(&self) -> Result<QueueDepths, PortError>;

    /// Resolves when a message may have arrived (never, for queues that long-poll instead).
    async fn arrived(&self);

    /// Makes the messages in flight visible again, for a consumer that starts where a dead one left
    /// off. Only a queue whose one consumer is this process does anything (the embedded queue under
    /// the runner); a shared queue (SQS) leaves them to their visibility timeout.
    async fn release_in_flight(&self) -> Result<usize, PortError> {
        Ok(0)
    }
}

/// The time, injected so that tests can hold it still.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Now, to the microsecond: finer digits would only add noise to every stored timestamp.
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        now.round(jiff::Unit::Microsecond).unwrap_or(now)
    }
}
