//! The audit: an account's balances recomputed from its entries and compared with what the store
//! holds, day by day and month by month, through the ports and the policy of [`crate::domain::audit`].
//!
//! It reads each business date's entries a page at a time (with whether each is applied) and each
//! reversal's other half by id, and the stored rollups once per account: memory follows the number
//! of dates audited, not of entries. Books still being written can show a difference on the dates
//! being written between the two reads; a second audit of those dates tells.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::domain::account::{Account, AccountId};
use crate::domain::audit::{Finding, ReversalFault, Standing, check_reversal, check_reversed, compare, months_between};
use crate::domain::balance::Movement;
use crate::domain::calendar::{BACKDATE_MAX, business_date, month_of};
use crate::domain::entry::{Entry, EntryId};
use crate::ports::{BalanceStore, LedgerStore, PortError};

/// Entries read per page.
const PAGE: usize = 500;

/// Dates read at the same time at most: enough to hide a remote store's latency.
const DATES_PARALLEL: usize = 8;

/// The stores an audit reads.
#[derive(Clone)]
pub struct Books {
    pub store: Arc<dyn LedgerStore>,
    pub balances: Arc<dyn BalanceStore>,
}

/// What to audit and as of when.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// The first date; by default the account's first possible business date. The audit starts at
    /// its month's first day, from that month's stored opening unless it is the account's first.
    pub from: Option<Date>,
    /// The last date; by default today in the account's time zone. The audit ends at its month's
    /// last day, so that every month it compares is whole.
    pub to: Option<Date>,
    pub now: Timestamp,
    /// Entries recorded this recently may still be on their way to their balance.
    pub grace: SignedDuration,
}

/// One account's audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAudit {
    pub account: AccountId,
    pub from: Date,
    pub to: Date,
    pub dates: usize,
    pub entries: u64,
    /// Entries within the grace period and not applied yet: in no total, not a difference.
    pub pending: u64,
    pub findings: Vec<Finding>,
}

/// How far an account's audit is: dates done of dates, entries read so far.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub account: &'a AccountId,
    pub dates_done: usize,
    pub dates: usize,
    pub entries: u64,
}

/// What one date's entries say.
#[derive(Debug, Default)]
struct DateAudit {
    counted: Movement,
    entries: u64,
    pending: u64,
    findings: Vec<Finding>,
}

impl Books {
    /// Every account id, in order, a page at a time.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn accounts(&self) -> Result<Vec<AccountId>, PortError> {
        let mut all: Vec<AccountId> = Vec::new();
        loop {
            let page = self.store.accounts(all.last(), PAGE).await?;
            let done = page.len() < PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Audits one account over `scope`, reporting progress after each date.
    ///
    /// # Errors
    /// When a store fails; a difference in the books is a [`Finding`], not an error.
    pub async fn audit(
        &self,
        account: &Account,
        scope: Scope,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<AccountAudit, PortError> {
        let first = first_date(account);
        let from = month_of(scope.from.unwrap_or(first).max(first));
        let to = scope.to.unwrap_or_else(|| business_date(scope.now, &account.zone)).last_of_month();
        let opening = (from <= month_of(first)).then_some(0);
        let stored = self.balances.rollups(&account.id, from, to).await?;
        let cutoff = scope.now.checked_sub(scope.grace).unwrap_or(scope.now);
        let dates: Vec<Date> = from.series(jiff::Span::new().days(1)).take_while(|d| *d <= to).collect();
        let mut audit = AccountAudit {
            account: account.id.clone(),
            from,
            to,
            dates: dates.len(),
            entries: 0,
            pending: 0,
            findings: Vec::new(),
        };
        let mut counted = BTreeMap::new();
        let mut read = futures_util::stream::iter(dates.iter().copied())
            .map(|date| self.audit_date(&account.id, date, cutoff))
            .buffered(DATES_PARALLEL);
        let mut done = 0;
        while let Some(date_audit) = read.next().await {
            let (date, day) = date_audit?;
            done += 1;
            audit.entries += day.entries;
            audit.pending += day.pending;
            audit.findings.extend(day.findings);
            if day.counted != Movement::default() {
                counted.insert(date, day.counted);
            }
            progress(Progress { account: &account.id, dates_done: done, dates: audit.dates, entries: audit.entries });
        }
        let months = months_between(from, to);
        match compare(&stored, &counted, opening, &months) {
            Ok(mut found) => {
                found.append(&mut audit.findings);
                audit.findings = found;
            }
            Err(_) => audit.findings.push(Finding::Overflow { date: from }),
        }
        Ok(audit)
    }

    /// Reads one date's entries, page by page, and checks each.
    async fn audit_date(
        &self,
        account: &AccountId,
        date: Date,
        cutoff: Timestamp,
    ) -> Result<(Date, DateAudit), PortError> {
        let mut day = DateAudit::default();
        let mut after = None;
        loop {
            let marked = self.store.list_marked(account, date, after, PAGE).await?;
            for entry in &marked.page.items {
                let standing = Standing::of(entry.recorded_at, marked.applied.contains(&entry.id), cutoff);
                self.check(entry, standing, &mut day).await?;
            }
            match marked.page.more_after {
                Some(last) => after = Some(last),
                None => return Ok((date, day)),
            }
        }
    }

    /// Counts one entry into its date and checks its reversal marks.
    async fn check(&self, entry: &Entry, standing: Standing, day: &mut DateAudit) -> Result<(), PortError> {
        day.entries += 1;
        match standing {
            Standing::Pending => day.pending += 1,
            Standing::Overdue => day.findings.push(Finding::NotApplied {
                date: entry.business_date,
                entry: entry.id,
                recorded_at: entry.recorded_at,
            }),
            Standing::Applied => {}
        }
        if standing.counts() {
            let posting = entry.posting();
            match day.counted.plus(Movement::of(&posting)) {
                Ok(sum) => day.counted = sum,
                Err(_) => day.findings.push(Finding::Overflow { date: entry.business_date }),
            }
        }
        if let Some(original) = entry.reverses {
            let found = self.other(entry, original).await?;
            note(entry, original, check_reversal(entry, found.as_ref()), day);
        }
        if let Some(reversal) = entry.reversed_by {
            let found = self.other(entry, reversal).await?;
            note(entry, reversal, check_reversed(entry, found.as_ref()), day);
        }
        Ok(())
    }

    async fn other(&self, entry: &Entry, id: EntryId) -> Result<Option<Entry>, PortError> {
        self.store.get_entry(&entry.account_id, &id).await
    }
}

fn note(entry: &Entry, other: EntryId, fault: Option<ReversalFault>, day: &mut DateAudit) {
    if let Some(fault) = fault {
        day.findings.push(Finding::Reversal { entry: entry.id, other, fault });
    }
}

/// The account's first possible business date: entries may be backdated by [`BACKDATE_MAX`] from
/// the moment they are recorded, and none is recorded before the account exists.
pub fn first_date(account: &Account) -> Date {
    let earliest = account.created_at.checked_sub(BACKDATE_MAX).unwrap_or(account.created_at);
    business_date(earliest, &account.zone)
}
