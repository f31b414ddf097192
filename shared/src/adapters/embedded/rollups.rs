//! Consolidation's writes and the rollup reads on SQLite: a batch planned with the domain's policy per
//! account and committed in the writer's transaction, and the daily and monthly totals read back.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use rusqlite::{Connection, OptionalExtension, params};

use crate::adapters::corrupt;
use crate::domain::account::AccountId;
use crate::domain::balance::{MonthRollup, Movement};
use crate::domain::calendar::parse_date;
use crate::domain::consolidation::{self, Needs, Plan, Snapshot, Stored};
use crate::domain::entry::{EntryType, Posting};
use crate::domain::money::Amount;
use crate::ports::{Applied, PortError};

/// Applies a batch in the writer's transaction, one account at a time: reads each account's
/// snapshot, plans it with the domain's policy and commits the plan.
pub(super) fn apply_postings(tx: &Connection, postings: &[Posting], now: Timestamp) -> Result<Vec<Applied>, PortError> {
    let mut outcomes = vec![Applied::Duplicate; postings.len()];
    for (account, members) in consolidation::by_account(postings) {
        let batch: Vec<&Posting> = members.iter().map(|&i| &postings[i]).collect();
        let Some(needs) = Needs::of(batch.iter().copied()) else { continue };
        let plan = consolidation::plan(&batch, &snapshot(tx, account, &needs)?);
        commit(tx, account, &plan, now)?;
        for (i, outcome) in members.into_iter().zip(plan.outcomes) {
            outcomes[i] = outcome;
        }
    }
    Ok(outcomes)
}

/// What the planner needs of one account: the named entries, the days, the months from the first.
fn snapshot(tx: &Connection, account: &AccountId, needs: &Needs) -> Result<Snapshot, PortError> {
    let mut entries = std::collections::HashMap::with_capacity(needs.entries.len());
    let mut entry = tx.prepare_cached(
        "SELECT type, amount, business_date, applied_at IS NOT NULL FROM entries WHERE account_id = ?1 AND id = ?2",
    )?;
    for id in &needs.entries {
        let row = entry
            .query_row(params![account.as_str(), id.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, bool>(3)?))
            })
            .optional()?;
        let Some((kind, amount, date, applied)) = row else { continue };
        let stored = Stored {
            kind: EntryType::parse(&kind).map_err(|e| corrupt("entry type", e))?,
            amount: Amount::from_minor(amount).map_err(|e| corrupt("amount", e))?,
            business_date: parse_date(&date).map_err(|e| corrupt("date", e))?,
            applied,
        };
        entries.insert(*id, stored);
    }
    let mut day =
        tx.prepare_cached("SELECT credits, debits, entry_count FROM daily_totals WHERE account_id = ?1 AND date = ?2")?;
    let mut days = BTreeMap::new();
    for date in &needs.dates {
        let found = day
            .query_row(params![account.as_str(), date.to_string()], |r| {
                Ok(Movement { credits: r.get(0)?, debits: r.get(1)?, entry_count: r.get(2)? })
            })
            .optional()?;
        days.extend(found.map(|m| (*date, m)));
    }
    let prior_closing = prior_closing(tx, account, needs.first_month)?;
    let months = months_from(tx, account, needs.first_month)?.into_iter().map(|r| (r.month, r)).collect();
    Ok(Snapshot { entries, days, prior_closing, months })
}

/// Writes a plan: the days' and months' new totals, and each applied entry's mark.
fn commit(tx: &Connection, account: &AccountId, plan: &Plan, now: Timestamp) -> Result<(), PortError> {
    let mut day = tx.prepare_cached(
        "INSERT OR REPLACE INTO daily_totals (account_id, date, credits, debits, entry_count) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (date, m) in &plan.days {
        day.execute(params![account.as_str(), date.to_string(), m.credits, m.debits, m.entry_count])?;
    }
    let mut month = tx.prepare_cached(
        "INSERT OR REPLACE INTO monthly_totals (account_id, month, credits, debits, entry_count, closing) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for r in plan.months.values() {
        let m = r.movement;
        month.execute(params![account.as_str(), r.month.to_string(), m.credits, m.debits, m.entry_count, r.closing])?;
    }
    let mut mark = tx.prepare_cached(
        "UPDATE entries SET applied_at = ?3 WHERE account_id = ?1 AND id = ?2 AND applied_at IS NULL",
    )?;
    for id in &plan.applied {
        mark.execute(params![account.as_str(), id.to_string(), now.to_string()])?;
    }
    Ok(())
}

/// The closing balance of the latest month before `month`, or 0.
pub(super) fn prior_closing(conn: &Connection, account: &AccountId, month: Date) -> Result<i64, PortError> {
    let closing = conn
        .prepare_cached(
            "SELECT closing FROM monthly_totals WHERE account_id = ?1 AND month < ?2 ORDER BY month DESC LIMIT 1",
        )?
        .query_row(params![account.as_str(), month.to_string()], |r| r.get(0))
        .optional()?;
    Ok(closing.unwrap_or(0))
}

/// The stored totals of the dates from `from` to `to`.
pub(super) fn days_between(
    conn: &Connection,
    account: &AccountId,
    from: Date,
    to: Date,
) -> Result<BTreeMap<Date, Movement>, PortError> {
    let mut stmt = conn.prepare_cached(
        "SELECT date, credits, debits, entry_count FROM daily_totals
         WHERE account_id = ?1 AND date >= ?2 AND date <= ?3 ORDER BY date",
    )?;
    let rows = stmt.query_map(params![account.as_str(), from.to_string(), to.to_string()], |r| {
        Ok((r.get::<_, String>(0)?, Movement { credits: r.get(1)?, debits: r.get(2)?, entry_count: r.get(3)? }))
    })?;
    let mut days = BTreeMap::new();
    for row in rows {
        let (date, movement) = row?;
        days.insert(parse_date(&date).map_err(|e| corrupt("date", e))?, movement);
    }
    Ok(days)
}

pub(super) fn months_from(conn: &Connection, account: &AccountId, month: Date) -> Result<Vec<MonthRollup>, PortError> {
    let mut stmt = conn.prepare_cached(
        "SELECT month, credits, debits, entry_count, closing FROM monthly_totals WHERE account_id = ?1 AND month >= ?2 ORDER BY month",
    )?;
    let rows = stmt.query_map(params![account.as_str(), month.to_string()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Movement { credits: r.get(1)?, debits: r.get(2)?, entry_count: r.get(3)? },
            r.get::<_, i64>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (month, movement, closing) = row?;
        Ok(MonthRollup { month: parse_date(&month).map_err(|e| corrupt("month", e))?, movement, closing })
    })
    .collect()
}
