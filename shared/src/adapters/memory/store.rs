//! The in-memory ledger store: accounts, entries with their keys, outbox and applied marks, and the
//! rollups, in maps behind one mutex.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::domain::account::{Account, AccountChange, AccountId};
use crate::domain::audit::Rollups;
use crate::domain::balance::{BalanceHistory, MonthRollup, Movement};
use crate::domain::calendar::month_of;
use crate::domain::consolidation::{self, Needs, Plan, Snapshot, Stored};
use crate::domain::entry::{Entry, EntryId, Posting};
use crate::domain::idempotency::{IdempotencyKey, StoredResponse};
use crate::ports::{
    Applied, BalanceStore, EntryPage, LedgerStore, MarkedPage, NewEntry, Outbox, Pending, PortError, PutAccount,
    Recorded,
};

/// The in-memory ledger store. Clones share one state, as clones of the other stores share one
/// database.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<Books>>,
}

/// Everything the store holds: one book per account, and the outbox across accounts.
#[derive(Default)]
struct Books {
    books: BTreeMap<AccountId, Book>,
    /// Postings recorded and not yet published, by their position.
    outbox: BTreeMap<u64, Posting>,
    /// The position of the last outbox row written.
    written: u64,
}

/// One account's data.
#[derive(Default)]
struct Book {
    account: Option<Account>,
    entries: HashMap<EntryId, Row>,
    by_date: BTreeMap<Date, BTreeSet<EntryId>>,
    keys: HashMap<String, StoredResponse>,
    days: BTreeMap<Date, Movement>,
    /// Keyed by the first day of the month.
    months: BTreeMap<Date, MonthRollup>,
}

/// An entry with the store's bookkeeping beside it.
struct Row {
    entry: Entry,
    applied_at: Option<Timestamp>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes a monthly rollup directly, under the ports: for tests that need a history no test
    /// could record, such as a closing balance near the `i64` limit.
    ///
    /// # Errors
    /// When the store's lock was poisoned by a panic.
    pub fn put_month(&self, account: &AccountId, rollup: MonthRollup) -> Result<(), PortError> {
        let mut state = self.lock()?;
        state.books.entry(account.clone()).or_default().months.insert(rollup.month, rollup);
        Ok(())
    }

    /// Damages the books under the ports, for the audit's tests: overwrites a day's totals.
    ///
    /// # Errors
    /// When the store's lock was poisoned by a panic.
    pub fn put_day(&self, account: &AccountId, date: Date, movement: Movement) -> Result<(), PortError> {
        self.lock()?.books.entry(account.clone()).or_default().days.insert(date, movement);
        Ok(())
    }

    /// Damages the books under the ports, for the audit's tests: forgets that an entry was applied
    /// (`applied`) or reversed (`reversed`).
    ///
    /// # Errors
    /// When the store's lock was poisoned by a panic.
    pub fn forget(&self, account: &AccountId, id: &EntryId, applied: bool, reversed: bool) -> Result<(), PortError> {
        let mut state = self.lock()?;
        if let Some(row) = state.books.get_mut(account).and_then(|b| b.entries.get_mut(id)) {
            if applied {
                row.applied_at = None;
            }
            if reversed {
                row.entry.reversed_by = None;
            }
        }
        Ok(())
    }

    fn lock(&self) -> Result<MutexGuard<'_, Books>, PortError> {
        self.state.lock().map_err(|_| PortError::failure("the in-memory store was poisoned by a panic"))
    }
}

#[async_trait]
impl LedgerStore for MemoryStore {
    async fn put_account(&self, account: &Account) -> Result<PutAccount, PortError> {
        let mut state = self.lock()?;
        let book = state.books.entry(account.id.clone()).or_default();
        let Some(existing) = &mut book.account else {
            book.account = Some(account.clone());
            return Ok(PutAccount::Created(account.clone()));
        };
        Ok(match existing.compare(account) {
            AccountChange::Unchanged => PutAccount::Unchanged(existing.clone()),
            AccountChange::Conflict => PutAccount::Conflict(existing.clone()),
            AccountChange::Renamed => {
                existing.name = account.name.clone();
                PutAccount::Renamed(existing.clone())
            }
        })
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, PortError> {
        Ok(self.lock()?.books.get(id).and_then(|b| b.account.clone()))
    }

    async fn find_key(&self, account: &AccountId, key: &IdempotencyKey) -> Result<Option<StoredResponse>, PortError> {
        Ok(self.lock()?.books.get(account).and_then(|b| b.keys.get(key.as_str()).cloned()))
    }

    async fn record(&self, new: &NewEntry) -> Result<Recorded, PortError> {
        let mut state = self.lock()?;
        let Books { books, outbox, written } = &mut *state;
        let e = &new.entry;
        let book = match books.get_mut(&e.account_id) {
            Some(book) => book,
            None => books.entry(e.account_id.clone()).or_default(),
        };
        if let Some(stored) = book.keys.get(new.key.as_str()) {
            return Ok(Recorded::Existing(stored.clone()));
        }
        // The other stores refuse a second row under one id by primary key or condition.
        if book.entries.contains_key(&e.id) {
            return Err(PortError::failure(format!("entry {} is recorded already", e.id)));
        }
        if let Some(original) = e.reverses {
            // Marked on the same condition as the other stores: neither reversed nor a reversal.
            match book.entries.get_mut(&original) {
                Some(row) if row.entry.reversed_by.is_none() && row.entry.reverses.is_none() => {
                    row.entry.reversed_by = Some(e.id);
                }
                Some(_) => return Ok(Recorded::AlreadyReversed),
                None => return Ok(Recorded::OriginalMissing),
            }
        }
        *written += 1;
        outbox.insert(*written, e.posting());
        book.by_date.entry(e.business_date).or_default().insert(e.id);
        book.keys.insert(new.key.as_str().to_owned(), new.response.clone());
        book.entries.insert(e.id, Row { entry: e.clone(), applied_at: None });
        Ok(Recorded::New)
    }

    async fn get_entry(&self, account: &AccountId, id: &EntryId) -> Result<Option<Entry>, PortError> {
        Ok(self.lock()?.books.get(account).and_then(|b| b.entries.get(id)).map(|row| row.entry.clone()))
    }

    async fn list_entries(
        &self,
        account: &AccountId,
        date: Date,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<EntryPage, PortError> {
        let state = self.lock()?;
        let Some(book) = state.books.get(account) else { return Ok(EntryPage::from_fetched(Vec::new(), limit)) };
        let Some(ids) = book.by_date.get(&date) else { return Ok(EntryPage::from_fetched(Vec::new(), limit)) };
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let items = ids
            .range((lower, Bound::Unbounded))
            .take(limit.saturating_add(1))
            .filter_map(|id| book.entries.get(id).map(|row| row.entry.clone()))
            .collect();
        Ok(EntryPage::from_fetched(items, limit))
    }

    async fn list_marked(
        &self,
        account: &AccountId,
        date: Date,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<MarkedPage, PortError> {
        let page = self.list_entries(account, date, after, limit).await?;
        let state = self.lock()?;
        let rows = state.books.get(account).map(|b| &b.entries);
        let applied = page
            .items
            .iter()
            .filter(|e| rows.and_then(|r| r.get(&e.id)).is_some_and(|row| row.applied_at.is_some()))
            .map(|e| e.id)
            .collect();
        Ok(MarkedPage { page, applied })
    }

    async fn accounts(&self, after: Option<&AccountId>, limit: usize) -> Result<Vec<AccountId>, PortError> {
        let state = self.lock()?;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let accounts = state.books.range::<AccountId, _>((lower, Bound::Unbounded));
        Ok(accounts.filter(|(_, b)| b.account.is_some()).take(limit).map(|(id, _)| id.clone()).collect())
    }

    async fn entry_count(&self, account: &AccountId, date: Date) -> Result<i64, PortError> {
        let state = self.lock()?;
        let count = state.books.get(account).and_then(|b| b.by_date.get(&date)).map_or(0, BTreeSet::len);
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    async fn unapplied(&self, account: &AccountId, date: Date) -> Result<Vec<Posting>, PortError> {
        let state = self.lock()?;
        let Some(book) = state.books.get(account) else { return Ok(Vec::new()) };
        let ids = book.by_date.get(&date).into_iter().flatten();
        let rows = ids.filter_map(|id| book.entries.get(id)).filter(|row| row.applied_at.is_none());
        Ok(rows.map(|row| row.entry.posting()).collect())
    }
}

#[async_trait]
impl Outbox for MemoryStore {
    async fn pending(&self, limit: usize) -> Result<Pending, PortError> {
        let state = self.lock()?;
        let rows: Vec<(u64, Posting)> = state.outbox.iter().take(limit).map(|(at, p)| (*at, p.clone())).collect();
        let position = rows.last().map_or(0, |(at, _)| *at);
        Ok(Pending { postings: rows.into_iter().map(|(_, p)| p).collect(), position })
    }

    async fn published(&self, position: u64) -> Result<(), PortError> {
        let mut state = self.lock()?;
        state.outbox = state.outbox.split_off(&position.saturating_add(1));
        Ok(())
    }
}

#[async_trait]
impl BalanceStore for MemoryStore {
    async fn apply(&self, postings: &[Posting], now: Timestamp) -> Result<Vec<Applied>, PortError> {
        let mut state = self.lock()?;
        Ok(state.apply(postings, now))
    }

    async fn history(&self, account: &AccountId, from: Date, to: Date) -> Result<BalanceHistory, PortError> {
        let state = self.lock()?;
        let Some(book) = state.books.get(account) else { return Ok(BalanceHistory::default()) };
        let start = month_of(from);
        let opening = prior_closing(book, start);
        let days =
            if to < start { BTreeMap::new() } else { book.days.range(start..=to).map(|(d, m)| (*d, *m)).collect() };
        Ok(BalanceHistory { opening, days })
    }

    async fn rollups(&self, account: &AccountId, from: Date, to: Date) -> Result<Rollups, PortError> {
        let state = self.lock()?;
        let Some(book) = state.books.get(account) else { return Ok(Rollups::default()) };
        if to < from {
            return Ok(Rollups { prior_closing: prior_closing(book, month_of(from)), ..Rollups::default() });
        }
        Ok(Rollups {
            prior_closing: prior_closing(book, month_of(from)),
            days: book.days.range(from..=to).map(|(d, m)| (*d, *m)).collect(),
            months: book.months.range(month_of(from)..=month_of(to)).map(|(d, r)| (*d, *r)).collect(),
        })
    }
}

impl Books {
    /// Applies a batch one account at a time: reads each account's snapshot, plans it with the
    /// domain's policy and commits the plan.
    fn apply(&mut self, postings: &[Posting], now: Timestamp) -> Vec<Applied> {
        let mut outcomes = vec![Applied::Duplicate; postings.len()];
        for (account, members) in consolidation::by_account(postings) {
            let batch: Vec<&Posting> = members.iter().map(|&i| &postings[i]).collect();
            let Some(needs) = Needs::of(batch.iter().copied()) else { continue };
            let plan = consolidation::plan(&batch, &self.snapshot(account, &needs));
            self.commit(account, &plan, now);
            for (i, outcome) in members.into_iter().zip(plan.outcomes) {
                outcomes[i] = outcome;
            }
        }
        outcomes
    }

    fn snapshot(&self, account: &AccountId, needs: &Needs) -> Snapshot {
        let Some(book) = self.books.get(account) else { return Snapshot::default() };
        let entries = needs
            .entries
            .iter()
            .filter_map(|id| book.entries.get(id).map(|row| (*id, Stored::of(&row.entry, row.applied_at.is_some()))))
            .collect();
        let days = needs.dates.iter().filter_map(|d| book.days.get(d).map(|m| (*d, *m))).collect();
        let months = book.months.range(needs.first_month..).map(|(m, r)| (*m, *r)).collect();
        Snapshot { entries, days, prior_closing: prior_closing(book, needs.first_month), months }
    }

    fn commit(&mut self, account: &AccountId, plan: &Plan, now: Timestamp) {
        let Some(book) = self.books.get_mut(account) else { return };
        book.days.extend(plan.days.iter().map(|(d, m)| (*d, *m)));
        book.months.extend(plan.months.iter().map(|(m, r)| (*m, *r)));
        for id in &plan.applied {
            if let Some(row) = book.entries.get_mut(id) {
                row.applied_at = Some(now);
            }
        }
    }
}

/// The closing balance of the latest month before `month`, or 0.
fn prior_closing(book: &Book, month: Date) -> i64 {
    book.months.range(..month).next_back().map_or(0, |(_, r)| r.closing)
}
