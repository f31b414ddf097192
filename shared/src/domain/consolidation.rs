//! Consolidation's policy, written once: which postings of a batch apply, which are duplicates, which
//! are rejected and why, and how the rollups they touch move. A pure planner from a [`Snapshot`] of
//! what a store holds to a [`Plan`] the store commits atomically; every adapter reads the snapshot
//! its own way and writes the plan its own way, and decides nothing.
//!
//! Exactly once holds by construction: a posting applies only if its stored entry is not applied
//! yet, the plan marks every entry it applies, and each store commits the marks and the rollups in
//! one atomic write guarded against a concurrent consumer (a transaction, or a lock version). On
//! DynamoDB that write holds the marks as the applied entries' slots in the account's rollup lock;
//! each becomes an item of its own after the commit (`adapters::aws::round`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::civil::Date;

use super::account::AccountId;
use super::balance::{MonthRollup, Movement, roll_months};
use super::calendar::month_of;
use super::entry::{Entry, EntryId, EntryType, Posting};
use super::money::Amount;

/// Why a posting can never apply. Such a posting is reported failed and ends in the dead-letter
/// queue after the queue's maximum receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Rejection {
    /// No entry with this id exists in this account.
    #[error("no such entry")]
    UnknownEntry,
    /// The message's type, amount or business date differ from the stored entry's.
    #[error("message does not match the stored entry")]
    Mismatch,
    /// Applying it would overflow a balance.
    #[error("balance overflow")]
    Overflow,
}

/// How applying one posting ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The posting moved its daily balance now.
    Applied,
    /// It had been applied before: a redelivery or a relay duplicate, counted once.
    Duplicate,
    /// It can never apply.
    Rejected(Rejection),
    /// Not decided this time: its account's rollups were busy (another consumer won the race for
    /// them every time, or the store throttled). Only this account's postings wait; the message
    /// comes back and applies later.
    Deferred,
}

/// What a store knows of the entry a posting names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub kind: EntryType,
    pub amount: Amount,
    pub business_date: Date,
    pub applied: bool,
}

impl Stored {
    /// The stored state of `entry`, applied or not.
    pub fn of(entry: &Entry, applied: bool) -> Self {
        Self { kind: entry.kind, amount: entry.amount, business_date: entry.business_date, applied }
    }

    fn matches(&self, p: &Posting) -> bool {
        self.kind == p.kind && self.amount == p.amount && self.business_date == p.business_date
    }
}

/// What a store must read before planning one account's postings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// The entries the postings name.
    pub entries: BTreeSet<EntryId>,
    /// The business dates whose totals may move.
    pub dates: BTreeSet<Date>,
    /// The first month whose rollup may move: the snapshot holds the stored rollups of this month
    /// and every later one, and the closing balance of the latest month before it.
    pub first_month: Date,
}

impl Needs {
    /// What planning `postings` needs; `None` for no postings.
    pub fn of<'a>(postings: impl IntoIterator<Item = &'a Posting>) -> Option<Self> {
        let mut entries = BTreeSet::new();
        let mut dates = BTreeSet::new();
        for p in postings {
            entries.insert(p.entry_id);
            dates.insert(p.business_date);
        }
        let first_month = month_of(*dates.first()?);
        Some(Self { entries, dates, first_month })
    }
}

/// One account's state as far as a batch of its postings needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The stored entries among [`Needs::entries`]; a missing one does not exist.
    pub entries: HashMap<EntryId, Stored>,
    /// The stored totals of [`Needs::dates`]; a missing date has none yet.
    pub days: BTreeMap<Date, Movement>,
    /// The closing balance of the latest month before [`Needs::first_month`], or 0.
    pub prior_closing: i64,
    /// The stored rollups of [`Needs::first_month`] and every later month.
    pub months: BTreeMap<Date, MonthRollup>,
}

/// What to commit for one account, all of it or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One outcome per posting, in the order given.
    pub outcomes: Vec<Applied>,
    /// The new totals of every date that moved.
    pub days: BTreeMap<Date, Movement>,
    /// The new rollups of every month that moved.
    pub months: BTreeMap<Date, MonthRollup>,
    /// The entries to mark applied, each on condition that it is not applied yet.
    pub applied: Vec<EntryId>,
}

impl Plan {
    /// Whether committing this plan writes anything.
    pub fn writes(&self) -> bool {
        !self.applied.is_empty()
    }
}

/// Plans one account's postings against what its store holds.
///
/// A posting is rejected when its entry is unknown or differs from the message, a duplicate when its
/// entry is applied already or it came earlier in the same batch; the others are grouped by business
/// date and each group moves its day and months once. A group that would overflow is applied one
/// posting at a time instead, so only the postings that overflow are rejected.
pub fn plan(postings: &[&Posting], snapshot: &Snapshot) -> Plan {
    let mut plan = Plan { outcomes: Vec::with_capacity(postings.len()), ..Plan::default() };
    let mut groups: BTreeMap<Date, Vec<usize>> = BTreeMap::new();
    let mut seen = HashSet::with_capacity(postings.len());
    for (i, p) in postings.iter().enumerate() {
        let outcome = match snapshot.entries.get(&p.entry_id) {
            None => Applied::Rejected(Rejection::UnknownEntry),
            Some(stored) if !stored.matches(p) => Applied::Rejected(Rejection::Mismatch),
            Some(stored) if stored.applied => Applied::Duplicate,
            Some(_) if !seen.insert(p.entry_id) => Applied::Duplicate,
            Some(_) => {
                groups.entry(p.business_date).or_default().push(i);
                Applied::Applied
            }
        };
        plan.outcomes.push(outcome);
    }
    let mut months = snapshot.months.clone();
    for (date, members) in groups {
        let stored = snapshot.days.get(&date).copied().unwrap_or_default();
        let group: Vec<&Posting> = members.iter().map(|&i| postings[i]).collect();
        if let Some(day) = fold(&group, stored, snapshot.prior_closing, &mut months, date) {
            plan.take(date, day, &group);
            continue;
        }
        let mut day = stored;
        for (i, p) in members.into_iter().zip(group) {
            match fold(&[p], day, snapshot.prior_closing, &mut months, date) {
                Some(next) => {
                    day = next;
                    plan.take(date, day, &[p]);
                }
                None => plan.outcomes[i] = Applied::Rejected(Rejection::Overflow),
            }
        }
    }
    plan.months = months.into_iter().filter(|(m, r)| snapshot.months.get(m) != Some(r)).collect();
    plan
}

impl Plan {
    fn take(&mut self, date: Date, day: Movement, postings: &[&Posting]) {
        self.days.insert(date, day);
        self.applied.extend(postings.iter().map(|p| p.entry_id));
    }
}

/// Folds one day's postings into its stored totals and into `months`; on overflow it changes
/// nothing and returns `None`.
fn fold(
    group: &[&Posting],
    stored: Movement,
    prior_closing: i64,
    months: &mut BTreeMap<Date, MonthRollup>,
    date: Date,
) -> Option<Movement> {
    let delta = Movement::of_all(group.iter().copied()).ok()?;
    let day = stored.plus(delta).ok()?;
    let month = month_of(date);
    let prior = months.range(..month).next_back().map_or(prior_closing, |(_, r)| r.closing);
    let later: Vec<MonthRollup> = months.range(month..).map(|(_, r)| *r).collect();
    let rolled = roll_months(prior, &later, month, delta).ok()?;
    for r in rolled {
        months.insert(r.month, r);
    }
    Some(day)
}

/// The positions of a batch's postings, per account, so each account is planned and committed on
/// its own: contention on one account never holds back another's postings.
pub fn by_account(postings: &[Posting]) -> BTreeMap<&AccountId, Vec<usize>> {
    let mut accounts: BTreeMap<&AccountId, Vec<usize>> = BTreeMap::new();
    for (i, p) in postings.iter().enumerate() {
        accounts.entry(&p.account_id).or_default().push(i);
    }
    accounts
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn posting(kind: EntryType, amount: i64, day: Date) -> Posting {
        Posting {
            account_id: AccountId::parse("shop").expect("id"),
            entry_id: EntryId::new_v7(),
            kind,
            amount: Amount::from_minor(amount).expect("amount"),
            business_date: day,
            recorded_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    fn stored(p: &Posting, applied: bool) -> Stored {
        Stored { kind: p.kind, amount: p.amount, business_date: p.business_date, applied }
    }

    #[test]
    fn each_outcome_is_named_and_only_fresh_postings_move_the_rollups() {
        let day = date(2026, 11, 23);
        let fresh = posting(EntryType::Credit, 500, day);
        let applied = posting(EntryType::Debit, 70, day);
        let unknown = posting(EntryType::Credit, 1, day);
        let mut forged = posting(EntryType::Credit, 9, day);
        let mut snapshot = Snapshot::default();
        snapshot.entries.insert(fresh.entry_id, stored(&fresh, false));
        snapshot.entries.insert(applied.entry_id, stored(&applied, true));
        snapshot.entries.insert(forged.entry_id, stored(&forged, false));
        forged.amount = Amount::from_minor(9_000).expect("amount");
        let batch = [&fresh, &applied, &unknown, &forged, &fresh];
        let plan = plan(&batch, &snapshot);
        assert_eq!(
            plan.outcomes,
            [
                Applied::Applied,
                Applied::Duplicate,
                Applied::Rejected(Rejection::UnknownEntry),
                Applied::Rejected(Rejection::Mismatch),
                Applied::Duplicate,
            ]
        );
        assert_eq!(plan.applied, [fresh.entry_id]);
        assert_eq!(plan.days.get(&day), Some(&Movement { credits: 500, debits: 0, entry_count: 1 }));
        let november = plan.months.get(&date(2026, 11, 1)).expect("the month moved");
        assert_eq!(november.closing, 500);
    }

    #[test]
    fn an_overflowing_posting_is_rejected_alone_and_the_rest_of_its_day_applies() {
        let day = date(2026, 11, 23);
        let near_max = i64::MAX - 50;
        let over = posting(EntryType::Credit, 100, day);
        let fits = posting(EntryType::Credit, 10, day);
        let mut snapshot = Snapshot { prior_closing: near_max, ..Snapshot::default() };
        snapshot.entries.insert(over.entry_id, stored(&over, false));
        snapshot.entries.insert(fits.entry_id, stored(&fits, false));
        let plan = plan(&[&over, &fits], &snapshot);
        assert_eq!(plan.outcomes, [Applied::Rejected(Rejection::Overflow), Applied::Applied]);
        assert_eq!(plan.applied, [fits.entry_id]);
        assert_eq!(plan.months.get(&date(2026, 11, 1)).map(|m| m.closing), Some(near_max + 10));
    }

    #[test]
    fn a_backdated_posting_moves_its_month_and_every_later_stored_one_and_nothing_else() {
        let october = date(2026, 10, 1);
        let november = date(2026, 11, 1);
        let untouched = MonthRollup { month: november, movement: Movement::default(), closing: 0 };
        let late = posting(EntryType::Credit, 40, date(2026, 10, 30));
        let mut snapshot = Snapshot { prior_closing: 100, ..Snapshot::default() };
        snapshot.entries.insert(late.entry_id, stored(&late, false));
        snapshot.months.insert(november, MonthRollup { closing: 100, ..untouched });
        let plan = plan(&[&late], &snapshot);
        assert_eq!(plan.months.get(&october).map(|m| m.closing), Some(140));
        assert_eq!(plan.months.get(&november).map(|m| m.closing), Some(140));
        assert_eq!(plan.months.len(), 2);
    }

    #[test]
    fn nothing_to_apply_writes_nothing() {
        let p = posting(EntryType::Credit, 5, date(2026, 11, 23));
        let mut snapshot = Snapshot::default();
        snapshot.entries.insert(p.entry_id, stored(&p, true));
        let plan = plan(&[&p], &snapshot);
        assert!(!plan.writes());
        assert!(plan.days.is_empty() && plan.months.is_empty());
    }

    #[test]
    fn needs_name_every_entry_and_date_and_the_first_month() {
        let a = posting(EntryType::Credit, 5, date(2026, 11, 2));
        let b = posting(EntryType::Debit, 5, date(2026, 10, 31));
        let needs = Needs::of([&a, &b]).expect("needs");
        assert_eq!(needs.first_month, date(2026, 10, 1));
        assert_eq!(needs.dates.len(), 2);
        assert_eq!(needs.entries.len(), 2);
        assert!(Needs::of([]).is_none());
    }
}
