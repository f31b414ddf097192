//! Daily balances ("consolidado diário") and the rollups that keep reading them bounded.
//!
//! The store keeps one [`Movement`] per account and business date, and one [`MonthRollup`] per account
//! and month that also carries the month's closing balance. The opening balance of any date is then
//! the closing balance of the latest month before it plus that month's days before it: at most one
//! monthly record and 31 daily records, however long the account's history is.

use std::collections::BTreeMap;

use jiff::civil::Date;

use super::calendar::DateRange;
use super::entry::{EntryType, Posting};
use super::money::{self, Overflow};

/// Credits, debits and entry count over some period, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Movement {
    pub credits: i64,
    pub debits: i64,
    pub entry_count: i64,
}

impl Movement {
    /// The movement of one posting.
    pub fn of(posting: &Posting) -> Self {
        let amount = posting.amount.minor();
        match posting.kind {
            EntryType::Credit => Self { credits: amount, debits: 0, entry_count: 1 },
            EntryType::Debit => Self { credits: 0, debits: amount, entry_count: 1 },
        }
    }

    /// The sum of two movements.
    ///
    /// # Errors
    /// On overflow of any total.
    pub fn plus(self, other: Self) -> Result<Self, Overflow> {
        Ok(Self {
            credits: money::add(self.credits, other.credits)?,
            debits: money::add(self.debits, other.debits)?,
            entry_count: money::add(self.entry_count, other.entry_count)?,
        })
    }

    /// Credits minus debits.
    ///
    /// # Errors
    /// On overflow.
    pub fn net(self) -> Result<i64, Overflow> {
        money::sub(self.credits, self.debits)
    }

    /// The sum of the movements of many postings.
    ///
    /// # Errors
    /// On overflow.
    pub fn of_all<'a>(postings: impl IntoIterator<Item = &'a Posting>) -> Result<Self, Overflow> {
        postings.into_iter().try_fold(Self::default(), |sum, p| sum.plus(Self::of(p)))
    }
}

/// A month's movement and the account's balance at the end of that month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthRollup {
    /// The first day of the month.
    pub month: Date,
    pub movement: Movement,
    pub closing: i64,
}

/// Folds `delta` into the rollup of `month`.
///
/// `prior_closing` is the closing balance of the latest month before `month` (0 when there is none),
/// and `later` holds the stored rollups of `month` and every month after it, in order. Returns the
/// rollups to write: the month's own (created when missing) and every later one, whose closing moves
/// by the same net.
///
/// # Errors
/// On overflow of any total.
pub fn roll_months(
    prior_closing: i64,
    later: &[MonthRollup],
    month: Date,
    delta: Movement,
) -> Result<Vec<MonthRollup>, Overflow> {
    let net = delta.net()?;
    let mut out = Vec::with_capacity(later.len() + 1);
    if later.first().is_none_or(|r| r.month != month) {
        let closing = money::add(prior_closing, net)?;
        out.push(MonthRollup { month, movement: delta, closing });
    }
    for rollup in later {
        let movement = if rollup.month == month { rollup.movement.plus(delta)? } else { rollup.movement };
        let closing = money::add(rollup.closing, net)?;
        out.push(MonthRollup { month: rollup.month, movement, closing });
    }
    Ok(out)
}

/// What the store reads to answer a balance query: the balance at the start of the month of the
/// first date asked for, and the movement of every day from that month's start on that had any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BalanceHistory {
    pub opening: i64,
    pub days: BTreeMap<Date, Movement>,
}

/// One account's consolidated balance for one business date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyBalance {
    pub date: Date,
    pub opening: i64,
    pub credits: i64,
    pub debits: i64,
    pub net: i64,
    pub closing: i64,
    pub entry_count: i64,
}

/// Computes the daily balance of every date of `range` from the history read for it.
/// Days without movement carry the previous closing balance.
///
/// # Errors
/// On overflow.
pub fn daily_balances(history: &BalanceHistory, range: DateRange) -> Result<Vec<DailyBalance>, Overflow> {
    let before = history.days.range(..range.from()).map(|(_, m)| *m);
    let mut balance = before.map(|m| m.net()).try_fold(history.opening, |sum, net| money::add(sum, net?))?;
    range
        .days()
        .map(|date| {
            let m = history.days.get(&date).copied().unwrap_or_default();
            let net = m.net()?;
            let opening = balance;
            balance = money::add(balance, net)?;
            Ok(DailyBalance {
                date,
                opening,
                credits: m.credits,
                debits: m.debits,
                net,
                closing: balance,
                entry_count: m.entry_count,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::account::AccountId;
    use crate::domain::calendar::month_of;
    use crate::domain::entry::EntryId;
    use crate::domain::money::Amount;

    fn posting(kind: EntryType, amount: i64, day: Date) -> Posting {
        Posting {
            account_id: AccountId::parse("acc").expect("id"),
            entry_id: EntryId::new_v7(),
            kind,
            amount: Amount::from_minor(amount).expect("amount"),
            business_date: day,
            recorded_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    /// An in-memory store of daily and monthly rollups, folded the way the adapters fold them.
    #[derive(Default)]
    struct Rollups {
        days: BTreeMap<Date, Movement>,
        months: BTreeMap<Date, MonthRollup>,
    }

    impl Rollups {
        fn apply(&mut self, p: &Posting) -> Result<(), Overflow> {
            let m = Movement::of(p);
            let day = self.days.entry(p.business_date).or_default();
            *day = day.plus(m)?;
            let month = month_of(p.business_date);
            let prior = self.months.range(..month).next_back().map_or(0, |(_, r)| r.closing);
            let later: Vec<_> = self.months.range(month..).map(|(_, r)| *r).collect();
            for r in roll_months(prior, &later, month, m)? {
                self.months.insert(r.month, r);
            }
            Ok(())
        }

        /// Reads only what an adapter reads: one month rollup and the days from the month's start.
        fn history(&self, from: Date) -> BalanceHistory {
            let start = month_of(from);
            let opening = self.months.range(..start).next_back().map_or(0, |(_, r)| r.closing);
            let days = self.days.range(start..).map(|(d, m)| (*d, *m)).collect();
            BalanceHistory { opening, days }
        }
    }

    #[test]
    fn a_quiet_day_carries_the_previous_closing_balance() {
        let mut store = Rollups::default();
        store.apply(&posting(EntryType::Credit, 1_000, date(2026, 1, 30))).expect("apply");
        store.apply(&posting(EntryType::Debit, 300, date(2026, 3, 2))).expect("apply");
        let range = DateRange::new(date(2026, 2, 10), date(2026, 3, 3)).expect("range");
        let days = daily_balances(&store.history(range.from()), range).expect("balances");
        assert_eq!(days[0].opening, 1_000);
        assert_eq!(days[0].entry_count, 0);
        let march_2 = days.iter().find(|d| d.date == date(2026, 3, 2)).expect("day");
        assert_eq!((march_2.opening, march_2.debits, march_2.closing), (1_000, 300, 700));
        assert_eq!(days.last().map(|d| d.closing), Some(700));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let huge = Movement { credits: i64::MAX, debits: 0, entry_count: 1 };
        assert_eq!(huge.plus(Movement { credits: 1, debits: 0, entry_count: 1 }), Err(Overflow));
        assert_eq!(
            roll_months(i64::MAX, &[], date(2026, 1, 1), Movement { credits: 1, debits: 0, entry_count: 1 }),
            Err(Overflow)
        );
    }

    fn arb_posting() -> impl Strategy<Value = Posting> {
        (any::<bool>(), 1..=Amount::MAX_MINOR, 0..400i32).prop_map(|(credit, amount, offset)| {
            let kind = if credit { EntryType::Credit } else { EntryType::Debit };
            let day = date(2025, 1, 1).checked_add(jiff::Span::new().days(offset)).expect("day");
            posting(kind, amount, day)
        })
    }

    proptest! {
        /// GIVEN postings applied in any order WHEN any date's balance is read from the rollups
        /// THEN it equals the naive sum over every posting.
        #[test]
        fn rollups_agree_with_the_naive_sum(postings in prop::collection::vec(arb_posting(), 0..60), probe in 0..420i32) {
            let mut store = Rollups::default();
            for p in &postings {
                store.apply(p).expect("no overflow at these sizes");
            }
            let day = date(2025, 1, 1).checked_add(jiff::Span::new().days(probe)).expect("day");
            let range = DateRange::new(day, day).expect("range");
            let got = daily_balances(&store.history(day), range).expect("balances")[0];
            let net_of = |p: &Posting| Movement::of(p).net().expect("net");
            let opening: i64 = postings.iter().filter(|p| p.business_date < day).map(net_of).sum();
            let on_day: Vec<_> = postings.iter().filter(|p| p.business_date == day).collect();
            let credits: i64 = on_day.iter().filter(|p| p.kind == EntryType::Credit).map(|p| p.amount.minor()).sum();
            let debits: i64 = on_day.iter().filter(|p| p.kind == EntryType::Debit).map(|p| p.amount.minor()).sum();
            prop_assert_eq!(got.opening, opening);
            prop_assert_eq!((got.credits, got.debits), (credits, debits));
            prop_assert_eq!(got.entry_count, on_day.len() as i64);
            prop_assert_eq!(got.closing, opening + credits - debits);
        }

        /// GIVEN a sequence of postings WHEN they are applied in two different orders THEN every
        /// monthly rollup ends the same: consolidation order does not matter.
        #[test]
        fn application_order_does_not_matter(postings in prop::collection::vec(arb_posting(), 0..40)) {
            let mut forward = Rollups::default();
            let mut backward = Rollups::default();
            for p in &postings {
                forward.apply(p).expect("apply");
            }
            for p in postings.iter().rev() {
                backward.apply(p).expect("apply");
            }
            prop_assert_eq!(forward.months, backward.months);
            prop_assert_eq!(forward.days, backward.days);
        }
    }
}
