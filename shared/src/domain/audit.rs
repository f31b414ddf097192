//! The audit's policy: what an account's stored rollups must hold, given its entries. Pure: the audit
//! use case (`crate::audit`) reads the entries and the rollups through the ports, and this module
//! says which entries count, how the days and months must add up, and what every difference is.
//!
//! The books agree when, over whole months:
//! - every day's stored credits, debits and entry count are the sums of its entries;
//! - every month's stored movement is the sum of its days, and its closing balance the previous
//!   month's closing plus its net (from 0 before the account's first entry);
//! - every entry recorded longer ago than the grace period is applied (marked, and so never applied
//!   again); younger unapplied ones are on their way and counted apart;
//! - every reversal names a real original of the same account, of the opposite type and the same
//!   amount, whose mark names it back; and every marked original is named by its reversal.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;

use super::balance::{MonthRollup, Movement};
use super::calendar::month_of;
use super::entry::{Entry, EntryId};
use super::money::{self, Overflow};

/// What a store holds of one account's rollups over a range of dates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollups {
    /// The closing balance of the latest month before the range's first month, or 0.
    pub prior_closing: i64,
    /// The stored totals of every date of the range that has them.
    pub days: BTreeMap<Date, Movement>,
    /// The stored rollups of every month of the range that has one, keyed by their first day.
    pub months: BTreeMap<Date, MonthRollup>,
}

/// How one entry stands with its day's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Applied: it must be in its day's totals.
    Applied,
    /// Not applied yet, and recorded within the grace period: on its way through the queue, in no
    /// total yet. Not a difference.
    Pending,
    /// Not applied, and recorded before the grace period: it must be in its day's totals by now.
    Overdue,
}

impl Standing {
    /// The standing of an entry recorded at `recorded_at`, applied or not, when entries recorded
    /// before `cutoff` must be applied.
    pub fn of(recorded_at: Timestamp, applied: bool, cutoff: Timestamp) -> Self {
        match (applied, recorded_at < cutoff) {
            (true, _) => Self::Applied,
            (false, true) => Self::Overdue,
            (false, false) => Self::Pending,
        }
    }

    /// Whether the entry must be in its day's totals.
    pub fn counts(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

/// A total the audit compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    Opening,
    Credits,
    Debits,
    EntryCount,
    Closing,
}

impl Total {
    fn as_str(self) -> &'static str {
        match self {
            Self::Opening => "opening balance",
            Self::Credits => "credits",
            Self::Debits => "debits",
            Self::EntryCount => "entry count",
            Self::Closing => "closing balance",
        }
    }
}

/// What is wrong with a reversal or its original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalFault {
    /// The reversal names an original that does not exist in its account.
    OriginalMissing,
    /// The original is not marked as reversed by this reversal (unmarked, or marked by another).
    OriginalNotMarked,
    /// The reversal is not the opposite of its original: another type, amount or currency.
    NotOpposite,
    /// An original is marked reversed by an entry that does not exist or does not name it.
    ReversalMissing,
}

impl ReversalFault {
    fn as_str(self) -> &'static str {
        match self {
            Self::OriginalMissing => "names an original that does not exist",
            Self::OriginalNotMarked => "is not named by its original's reversal mark",
            Self::NotOpposite => "is not the opposite of its original",
            Self::ReversalMissing => "is marked reversed by an entry that does not name it",
        }
    }
}

/// One difference between the books and their entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A day's stored total differs from its entries'.
    Day { date: Date, total: Total, stored: i64, expected: i64 },
    /// A month's stored rollup differs from its days' (its first day names it).
    Month { month: Date, total: Total, stored: i64, expected: i64 },
    /// An entry recorded before the grace period is in no balance.
    NotApplied { date: Date, entry: EntryId, recorded_at: Timestamp },
    /// A reversal and its original disagree. `entry` is the one read; `other` the one it names.
    Reversal { entry: EntryId, other: EntryId, fault: ReversalFault },
    /// The entries of a day add up past the range of a balance: they cannot all be in the books.
    Overflow { date: Date },
}

impl Finding {
    /// The business date whose entries this finding is about, if it is about one date.
    pub fn date(&self) -> Option<Date> {
        match self {
            Self::Day { date, .. } | Self::NotApplied { date, .. } | Self::Overflow { date } => Some(*date),
            Self::Month { .. } | Self::Reversal { .. } => None,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Day { date, total, stored, expected } => {
                write!(f, "{date}: {} stored {stored}, entries say {expected}", total.as_str())
            }
            Self::Month { month, total, stored, expected } => {
                let name = month.strftime("%Y-%m");
                write!(f, "month {name}: {} stored {stored}, entries say {expected}", total.as_str())
            }
            Self::NotApplied { date, entry, recorded_at } => {
                write!(f, "{date}: entry {entry} recorded {recorded_at} is in no balance")
            }
            Self::Reversal { entry, other, fault } => write!(f, "entry {entry} {} ({other})", fault.as_str()),
            Self::Overflow { date } => write!(f, "{date}: the entries overflow a balance"),
        }
    }
}

/// The fault of a reversal `reversal` given its original as read (`None`: missing).
pub fn check_reversal(reversal: &Entry, original: Option<&Entry>) -> Option<ReversalFault> {
    let Some(original) = original else { return Some(ReversalFault::OriginalMissing) };
    if original.account_id != reversal.account_id {
        return Some(ReversalFault::OriginalMissing);
    }
    if original.reversed_by != Some(reversal.id) {
        return Some(ReversalFault::OriginalNotMarked);
    }
    let opposite = original.kind.opposite() == reversal.kind
        && original.amount == reversal.amount
        && original.currency == reversal.currency;
    (!opposite).then_some(ReversalFault::NotOpposite)
}

/// The fault of an original marked reversed, given the reversal its mark names as read.
pub fn check_reversed(original: &Entry, reversal: Option<&Entry>) -> Option<ReversalFault> {
    let named = reversal.is_some_and(|r| r.reverses == Some(original.id) && r.account_id == original.account_id);
    (!named).then_some(ReversalFault::ReversalMissing)
}

/// Compares the stored rollups of whole months with the totals the entries give.
///
/// `counted` holds, per date, the movement of the entries that must be in the totals (see
/// [`Standing::counts`]); `opening` is the balance before the first month when the audit knows it
/// (from the account's first possible day: 0), or `None` to take the stored one as given. `months`
/// are the first days of the audited months, in order. A month whose expected totals overflow is
/// reported as [`Finding::Overflow`], and the months after it are compared from its stored closing.
pub fn compare(
    stored: &Rollups,
    counted: &BTreeMap<Date, Movement>,
    opening: Option<i64>,
    months: &[Date],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut closing = stored.prior_closing;
    if let (Some(month), Some(expected)) = (months.first(), opening) {
        if expected != stored.prior_closing {
            let found = Finding::Month { month: *month, total: Total::Opening, stored: stored.prior_closing, expected };
            findings.push(found);
        }
        closing = expected;
    }
    let dates = stored.days.keys().chain(counted.keys()).copied().collect::<std::collections::BTreeSet<_>>();
    for date in dates {
        let have = stored.days.get(&date).copied().unwrap_or_default();
        let want = counted.get(&date).copied().unwrap_or_default();
        let diffs = movement_diff(have, want);
        findings.extend(diffs.map(|(total, stored, expected)| Finding::Day { date, total, stored, expected }));
    }
    for &month in months {
        let have = stored.months.get(&month);
        let Ok((movement, expected_closing)) = month_expected(counted, month, closing) else {
            findings.push(Finding::Overflow { date: month });
            closing = have.map_or(closing, |r| r.closing);
            continue;
        };
        closing = expected_closing;
        let have = match have {
            Some(r) => *r,
            // No rollup: right only when nothing moved the month.
            None if movement == Movement::default() => continue,
            None => MonthRollup { month, movement: Movement::default(), closing },
        };
        let closing_diff = (have.closing != closing).then_some((Total::Closing, have.closing, closing));
        let diffs = movement_diff(have.movement, movement).chain(closing_diff);
        findings.extend(diffs.map(|(total, stored, expected)| Finding::Month { month, total, stored, expected }));
    }
    findings
}

/// A month's movement from its days in `counted`, and its closing balance after `prior_closing`.
fn month_expected(
    counted: &BTreeMap<Date, Movement>,
    month: Date,
    prior_closing: i64,
) -> Result<(Movement, i64), Overflow> {
    let movement = month_movement(counted, month)?;
    Ok((movement, money::add(prior_closing, movement.net()?)?))
}

/// The movement of the days of `month` in `counted`.
fn month_movement(counted: &BTreeMap<Date, Movement>, month: Date) -> Result<Movement, Overflow> {
    let end = month.last_of_month();
    counted.range(month..=end).try_fold(Movement::default(), |sum, (_, m)| sum.plus(*m))
}

/// The totals on which two movements differ: (total, stored, expected).
fn movement_diff(have: Movement, want: Movement) -> impl Iterator<Item = (Total, i64, i64)> {
    [
        (Total::Credits, have.credits, want.credits),
        (Total::Debits, have.debits, want.debits),
        (Total::EntryCount, have.entry_count, want.entry_count),
    ]
    .into_iter()
    .filter(|(_, a, b)| a != b)
}

/// The first days of the months from the month of `from` to the month of `to`, in order.
pub fn months_between(from: Date, to: Date) -> Vec<Date> {
    let last = month_of(to);
    let mut month = month_of(from);
    let mut months = Vec::new();
    while month <= last {
        months.push(month);
        let Ok(next) = month.checked_add(jiff::Span::new().months(1)) else { break };
        month = next;
    }
    months
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::domain::account::{AccountId, Currency};
    use crate::domain::entry::EntryType;
    use crate::domain::money::Amount;

    fn m(credits: i64, debits: i64, entry_count: i64) -> Movement {
        Movement { credits, debits, entry_count }
    }

    fn books(days: &[(Date, Movement)]) -> (Rollups, BTreeMap<Date, Movement>) {
        let counted: BTreeMap<Date, Movement> = days.iter().copied().collect();
        let mut stored = Rollups { days: counted.clone(), ..Rollups::default() };
        let mut closing = 0;
        for month in months_between(date(2026, 10, 1), date(2026, 11, 30)) {
            let movement = month_movement(&counted, month).expect("sum");
            closing += movement.net().expect("net");
            stored.months.insert(month, MonthRollup { month, movement, closing });
        }
        (stored, counted)
    }

    const MONTHS: [Date; 2] = [date(2026, 10, 1), date(2026, 11, 1)];

    #[test]
    fn books_that_add_up_have_no_findings() {
        let (stored, counted) = books(&[(date(2026, 10, 30), m(500, 100, 2)), (date(2026, 11, 2), m(0, 50, 1))]);
        assert_eq!(compare(&stored, &counted, Some(0), &MONTHS), vec![]);
    }

    #[test]
    fn a_day_counted_twice_differs_on_its_day_and_nowhere_else_it_was_not_rolled() {
        let day = date(2026, 11, 2);
        let (mut stored, counted) = books(&[(date(2026, 10, 30), m(500, 100, 2)), (day, m(70, 0, 1))]);
        stored.days.insert(day, m(140, 0, 2));
        let findings = compare(&stored, &counted, Some(0), &MONTHS);
        assert_eq!(
            findings,
            [
                Finding::Day { date: day, total: Total::Credits, stored: 140, expected: 70 },
                Finding::Day { date: day, total: Total::EntryCount, stored: 2, expected: 1 },
            ]
        );
        assert_eq!(findings[0].to_string(), "2026-11-02: credits stored 140, entries say 70");
    }

    #[test]
    fn an_overwritten_month_shows_its_closing_and_a_wrong_opening_shows_first() {
        let (mut stored, counted) = books(&[(date(2026, 10, 30), m(500, 100, 2))]);
        let october = stored.months.get_mut(&MONTHS[0]).expect("october");
        october.closing = 1;
        stored.prior_closing = 9;
        let findings = compare(&stored, &counted, Some(0), &MONTHS);
        assert_eq!(
            findings,
            [
                Finding::Month { month: MONTHS[0], total: Total::Opening, stored: 9, expected: 0 },
                Finding::Month { month: MONTHS[0], total: Total::Closing, stored: 1, expected: 400 },
            ]
        );
        // Taking the stored opening as given, November's closing still follows October's entries.
        let trusted = compare(&stored, &counted, None, &MONTHS);
        assert_eq!(trusted.len(), 2, "{trusted:?}");
    }

    #[test]
    fn a_lost_day_shows_on_its_day_and_its_month() {
        let day = date(2026, 11, 2);
        let (mut stored, counted) = books(&[(day, m(70, 0, 1))]);
        stored.days.clear();
        stored.months.clear();
        let findings = compare(&stored, &counted, Some(0), &MONTHS);
        assert_eq!(findings.len(), 4, "{findings:?}");
        assert!(findings.iter().all(|f| matches!(f, Finding::Day { .. } | Finding::Month { .. })));
    }

    #[test]
    fn an_entry_counts_when_applied_or_overdue_and_waits_when_young() {
        let cutoff: Timestamp = "2026-11-23T15:00:00Z".parse().expect("ts");
        let early: Timestamp = "2026-11-23T14:00:00Z".parse().expect("ts");
        let late: Timestamp = "2026-11-23T15:30:00Z".parse().expect("ts");
        assert_eq!(Standing::of(late, true, cutoff), Standing::Applied);
        assert_eq!(Standing::of(early, false, cutoff), Standing::Overdue);
        assert_eq!(Standing::of(late, false, cutoff), Standing::Pending);
        assert!(!Standing::Pending.counts() && Standing::Overdue.counts());
    }

    #[test]
    fn a_month_that_overflows_is_named_and_the_next_is_compared_from_its_stored_closing() {
        let (mut stored, mut counted) = books(&[(date(2026, 11, 2), m(10, 0, 1))]);
        counted.insert(date(2026, 10, 2), m(i64::MAX, 0, 1));
        counted.insert(date(2026, 10, 3), m(i64::MAX, 0, 1));
        stored.days.clone_from(&counted);
        let findings = compare(&stored, &counted, Some(0), &MONTHS);
        assert_eq!(findings, [Finding::Overflow { date: MONTHS[0] }]);
    }

    fn recorded(kind: EntryType, amount: i64) -> Entry {
        Entry {
            id: EntryId::new_v7(),
            account_id: AccountId::parse("shop").expect("id"),
            kind,
            amount: Amount::from_minor(amount).expect("amount"),
            currency: Currency::parse("BRL").expect("currency"),
            description: None,
            occurred_at: Timestamp::UNIX_EPOCH,
            business_date: date(2026, 11, 2),
            recorded_at: Timestamp::UNIX_EPOCH,
            reverses: None,
            reversed_by: None,
        }
    }

    #[test]
    fn a_reversal_and_its_original_must_name_each_other_and_be_opposite() {
        let mut original = recorded(EntryType::Credit, 500);
        let mut reversal = recorded(EntryType::Debit, 500);
        reversal.reverses = Some(original.id);
        assert_eq!(check_reversal(&reversal, None), Some(ReversalFault::OriginalMissing));
        assert_eq!(check_reversal(&reversal, Some(&original)), Some(ReversalFault::OriginalNotMarked));
        assert_eq!(check_reversed(&original, None), Some(ReversalFault::ReversalMissing));
        original.reversed_by = Some(reversal.id);
        assert_eq!(check_reversal(&reversal, Some(&original)), None);
        assert_eq!(check_reversed(&original, Some(&reversal)), None);
        let mut other_shop = original.clone();
        other_shop.account_id = AccountId::parse("elsewhere").expect("id");
        assert_eq!(check_reversal(&reversal, Some(&other_shop)), Some(ReversalFault::OriginalMissing));
        reversal.amount = Amount::from_minor(499).expect("amount");
        assert_eq!(check_reversal(&reversal, Some(&original)), Some(ReversalFault::NotOpposite));
        reversal.reverses = None;
        assert_eq!(check_reversed(&original, Some(&reversal)), Some(ReversalFault::ReversalMissing));
    }

    #[test]
    fn months_between_spans_the_year_end() {
        let months = months_between(date(2026, 11, 20), date(2027, 1, 3));
        assert_eq!(months, [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)]);
    }
}
