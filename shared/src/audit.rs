//! The audit: an account's balances recomputed from its entries and compared with what the store
//! holds, day by day and month by month, through the ports and the policy of [`crate::domain::audit`].
//!
//! It reads each business date's entries a page at a time (with whether each is applied) and each
//! reversal's other half by id, and the stored rollups once per account: memory follows the number
//! of dates audited, not of entries. Books still being written can show a difference on the dates
//! being written between the two reads; a second audit of those dates tells.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::StreamExt;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::domain::account::{Account, AccountId};
use crate::domain::audit::{
    Finding, ReversalFault, Rollups, Standing, check_reversal, check_reversed, compare, months_between,
};
use crate::domain::balance::Movement;
use crate::domain::calendar::{BACKDATE_MAX, FUTURE_SKEW_MAX, business_date, month_of};
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

/// What a walk over some dates read: per date, what its entries say.
#[derive(Debug, Default)]
struct Walk {
    dates: BTreeMap<Date, DateAudit>,
}

impl Walk {
    fn counted(&self) -> BTreeMap<Date, Movement> {
        let moved = self.dates.iter().filter(|(_, d)| d.counted != Movement::default());
        moved.map(|(date, d)| (*date, d.counted)).collect()
    }

    /// Every date's own findings, in date order.
    fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.dates.values().flat_map(|d| &d.findings)
    }
}

/// The dates, months and opening an account's audit covers.
struct Span {
    from: Date,
    to: Date,
    /// The last date that can hold entries now; later dates are not read, their rollups are.
    last_entry_date: Date,
    opening: Option<i64>,
    cutoff: Timestamp,
}

impl Span {
    fn of(account: &Account, scope: Scope) -> Self {
        let first = first_date(account);
        let from = month_of(scope.from.unwrap_or(first).max(first));
        let to = scope.to.unwrap_or_else(|| business_date(scope.now, &account.zone)).last_of_month();
        let latest = scope.now.checked_add(FUTURE_SKEW_MAX).unwrap_or(scope.now);
        Self {
            from,
            to,
            last_entry_date: business_date(latest, &account.zone).min(to),
            opening: (from <= month_of(first)).then_some(0),
            cutoff: scope.now.checked_sub(scope.grace).unwrap_or(Timestamp::MIN),
        }
    }

    fn dates(&self) -> Vec<Date> {
        self.from.series(jiff::Span::new().days(1)).take_while(|d| *d <= self.last_entry_date).collect()
    }
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
    /// Books still being written can differ for a moment between reading a date's entries and
    /// reading the rollups: when the first pass finds differences, the dates they name and the
    /// rollups are read again, and only the differences both passes find are reported.
    ///
    /// # Errors
    /// When a store fails; a difference in the books is a [`Finding`], not an error.
    pub async fn audit(
        &self,
        account: &Account,
        scope: Scope,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<AccountAudit, PortError> {
        let span = Span::of(account, scope);
        let id = &account.id;
        let mut audit = AccountAudit {
            account: id.clone(),
            from: span.from,
            to: span.to,
            dates: 0,
            entries: 0,
            pending: 0,
            findings: Vec::new(),
        };
        if span.from > span.to {
            return Ok(audit);
        }
        let dates = span.dates();
        audit.dates = dates.len();
        let stored = self.balances.rollups(id, span.from, span.to).await?;
        let mut walk = self.walk(id, &dates, span.cutoff, progress).await?;
        let first = findings(&stored, &walk, &span);
        if !first.is_empty() {
            let again: Vec<Date> =
                first.iter().filter_map(Finding::date).collect::<BTreeSet<_>>().into_iter().collect();
            let stored = self.balances.rollups(id, span.from, span.to).await?;
            walk.dates.extend(self.walk(id, &again, span.cutoff, &|_| {}).await?.dates);
            let second = findings(&stored, &walk, &span);
            audit.findings = second.into_iter().filter(|f| first.contains(f)).collect();
        }
        audit.entries = walk.dates.values().map(|d| d.entries).sum();
        audit.pending = walk.dates.values().map(|d| d.pending).sum();
        Ok(audit)
    }

    /// Reads `dates`, a few at a time, reporting progress after each.
    async fn walk(
        &self,
        account: &AccountId,
        dates: &[Date],
        cutoff: Timestamp,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<Walk, PortError> {
        let mut walk = Walk::default();
        let mut read = futures_util::stream::iter(dates.iter().copied())
            .map(|date| self.audit_date(account, date, cutoff))
            .buffered(DATES_PARALLEL);
        let mut entries = 0;
        while let Some(date_audit) = read.next().await {
            let (date, day) = date_audit?;
            entries += day.entries;
            walk.dates.insert(date, day);
            progress(Progress { account, dates_done: walk.dates.len(), dates: dates.len(), entries });
        }
        Ok(walk)
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

/// The differences between the rollups and what the walk counted, then the walk's own.
fn findings(stored: &Rollups, walk: &Walk, span: &Span) -> Vec<Finding> {
    let months = months_between(span.from, span.to);
    let mut findings = compare(stored, &walk.counted(), span.opening, &months);
    findings.extend(walk.findings().cloned());
    findings
}

/// The account's first possible business date: entries may be backdated by [`BACKDATE_MAX`] from
/// the moment they are recorded, and none is recorded before the account exists.
pub fn first_date(account: &Account) -> Date {
    let earliest = account.created_at.checked_sub(BACKDATE_MAX).unwrap_or(account.created_at);
    business_date(earliest, &account.zone)
}
