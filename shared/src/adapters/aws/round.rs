//! One consolidation round on DynamoDB: one account's postings, planned by the domain
//! ([`consolidation::plan`]) against what the table holds, and the plan committed.
//!
//! A round reads the account's rollup lock first, in a request of its own (a strongly consistent
//! `GetItem`). Then one `BatchGetItem` reads the entries its postings name, their applied marks, the
//! marks of the entries the last round applied (the lock's `pending` slots), the days and the months
//! it may move. A pending entry whose mark is still missing gets it now, before anything else: the
//! round that applied it ended before writing it. The plan is committed in one transaction guarded
//! by the lock's version: the lock (the next version, this round's applied slots as `pending`, the
//! latest month), the days and the months. Only then are the applied entries' marks written, one
//! small item each, by `BatchWriteItem`: one write unit each, where a mark inside the transaction
//! costs two; a round that ends before writing them leaves them to the next one.
//!
//! Why each entry counts once: an entry is applied when its mark exists or its slot is pending in the
//! lock. A slot leaves `pending` only in a round that committed at the version it read, after it had
//! found or written the slot's mark. A round reads the lock before the marks, so if a slot has left
//! `pending` by the time it reads the lock, its mark is there to be read. And every round commits at
//! the version it read: one that planned from a state another round has changed since plans again.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use aws_sdk_dynamodb::types::{PutRequest, TransactWriteItem, WriteRequest};
use jiff::Timestamp;
use jiff::civil::Date;

use super::dynamo::{DynamoStore, ROUND_ATTEMPTS_MAX, TRANSACTION_ITEMS_MAX, values};
use super::errors::{backoff, build, sdk};
use super::item::{self, Item, RollupLock, n, s};
use crate::adapters::corrupt;
use crate::domain::account::AccountId;
use crate::domain::balance::MonthRollup;
use crate::domain::consolidation::{self, Needs, Plan, Snapshot};
use crate::domain::entry::{EntryId, Posting, Slot};
use crate::ports::{Applied, PortError};

/// DynamoDB's limit of requests in one `BatchWriteItem`.
const BATCH_WRITE_MAX: usize = 25;
/// Months a round reads by key at most; a posting dated further back reads its months by query.
const MONTHS_READ_MAX: usize = 36;

impl DynamoStore {
    /// Applies one account's postings in rounds: reads, plans, commits at the version it read, and
    /// plans again when a concurrent consumer committed first. `Deferred` when the rounds kept losing.
    pub(super) async fn apply_account(
        &self,
        account: &AccountId,
        batch: &[&Posting],
        now: Timestamp,
    ) -> Result<Vec<Applied>, PortError> {
        let Some(needs) = Needs::of(batch.iter().copied()) else { return Ok(Vec::new()) };
        for attempt in 0..ROUND_ATTEMPTS_MAX {
            let lock = item::lock_from(self.get(item::lock_key(account)).await?.as_ref())?;
            let snapshot = self.snapshot(account, &needs, &lock, now).await?;
            let plan = consolidation::plan(batch, &snapshot);
            if !plan.writes() {
                return Ok(plan.outcomes);
            }
            let Some(writes) = self.commit_items(account, &lock, &snapshot, &plan)? else {
                // Postings spread over many days and months: apply the batch in two halves.
                let (left, right) = batch.split_at(batch.len() / 2);
                let mut outcomes = Box::pin(self.apply_account(account, left, now)).await?;
                outcomes.extend(Box::pin(self.apply_account(account, right, now)).await?);
                return Ok(outcomes);
            };
            match self.transact(writes).await? {
                Ok(()) => {
                    let slots: Vec<Slot> = plan.applied.iter().map(EntryId::slot).collect();
                    if let Err(error) = self.write_marks(account, &slots, now).await {
                        // Applied all the same: the lock keeps them pending until the next round.
                        tracing::warn!(%account, error = %error.chain(), marks = slots.len(), "applied marks left to the next round");
                    }
                    return Ok(plan.outcomes);
                }
                Err(reasons) => {
                    tracing::debug!(attempt, ?reasons, %account, "consolidation round lost its lock; retrying");
                    backoff(attempt).await;
                }
            }
        }
        tracing::warn!(%account, postings = batch.len(), "consolidation kept conflicting; postings deferred");
        Ok(vec![Applied::Deferred; batch.len()])
    }

    /// What the planner needs, read after the lock: entries, marks, days and months in one
    /// `BatchGetItem` (months by query while the lock does not know its latest month). Writes
    /// any missing mark of a pending entry first, so the commit can drop it from `pending`.
    async fn snapshot(
        &self,
        account: &AccountId,
        needs: &Needs,
        lock: &RollupLock,
        now: Timestamp,
    ) -> Result<Snapshot, PortError> {
        let slots: BTreeSet<Slot> = needs.entries.iter().map(EntryId::slot).collect();
        let months = months_to_read(needs.first_month, lock.month_last);
        let mut keys: Vec<Item> = slots.iter().map(|slot| item::entry_key(account, *slot)).collect();
        keys.extend(slots.union(&lock.pending).map(|slot| item::mark_key(account, *slot)));
        keys.extend(needs.dates.iter().map(|d| item::key(item::pk(account), item::day_sk(*d))));
        keys.extend(months.iter().flatten().map(|m| item::key(item::pk(account), item::month_sk(*m))));
        let mut snapshot = Snapshot::default();
        let mut marked = HashSet::new();
        let mut stored_months = BTreeMap::new();
        for found in self.batch_get(keys, true).await? {
            let sk = item::opt_s(&found, "SK").ok_or_else(|| corrupt("item", "without a sort key"))?;
            if let Some(hex) = sk.strip_prefix(item::MARK_PREFIX) {
                marked.insert(hex.to_owned());
            } else if sk.starts_with("D#") {
                let (date, movement) = item::day_from(&found)?;
                snapshot.days.insert(date, movement);
            } else if sk.starts_with("M#") {
                let month = item::month_from(&found)?;
                stored_months.insert(month.month, month);
            } else {
                let (id, stored) = item::stored_from(&found)?;
                snapshot.entries.insert(id, stored);
            }
        }
        let unmarked: Vec<Slot> = lock.pending.iter().copied().filter(|s| !marked.contains(&s.to_hex())).collect();
        if !unmarked.is_empty() {
            tracing::info!(%account, marks = unmarked.len(), "writing the applied marks an earlier round left");
            self.write_marks(account, &unmarked, now).await?;
        }
        for (id, stored) in &mut snapshot.entries {
            stored.applied |= lock.applied(id.slot(), &marked);
        }
        (snapshot.prior_closing, snapshot.months) = match (months, lock.month_last) {
            (Some(_), Some(last)) if !stored_months.contains_key(&last) => {
                return Err(corrupt("month_last", "names a month without a rollup"));
            }
            (Some(_), _) => split_months(needs.first_month, stored_months)?,
            (None, _) => self.months_by_query(account, needs.first_month).await?,
        };
        Ok(snapshot)
    }

    /// The closing before `first_month` and the rollups from it on, by two queries: for a lock that
    /// does not know its latest month, or a posting dated more than [`MONTHS_READ_MAX`] months back.
    async fn months_by_query(
        &self,
        account: &AccountId,
        first_month: Date,
    ) -> Result<(i64, BTreeMap<Date, MonthRollup>), PortError> {
        let prior = self.prior_closing(account, first_month).await?;
        let months = self.months_from(account, first_month).await?;
        Ok((prior, months.into_iter().map(|m| (m.month, m)).collect()))
    }

    /// The transaction that commits a plan: the lock, the days and the months; `None` when it would
    /// exceed DynamoDB's 100 items, so the caller applies fewer postings at once.
    fn commit_items(
        &self,
        account: &AccountId,
        lock: &RollupLock,
        snapshot: &Snapshot,
        plan: &Plan,
    ) -> Result<Option<Vec<TransactWriteItem>>, PortError> {
        let written =
            [lock.month_last, snapshot.months.keys().next_back().copied(), plan.months.keys().next_back().copied()];
        let month_last = written.into_iter().flatten().max().ok_or_else(|| corrupt("plan", "moves no month"))?;
        let mut vals = vec![
            (":next", n(lock.version + 1)),
            (":seen", n(lock.version)),
            (":pending", item::pending_value(plan.applied.iter().map(EntryId::slot))),
            (":last", s(month_last.to_string())),
        ];
        // A lock of the earlier design moves to `rounds` with this commit (see `RollupLock`).
        let (set, condition) = if lock.legacy {
            (
                "SET rounds = :next, pending = :pending, month_last = :last REMOVE version",
                "attribute_not_exists(rounds) AND version = :seen",
            )
        } else {
            vals.push((":zero", n(0)));
            (
                "SET rounds = :next, pending = :pending, month_last = :last",
                "(attribute_not_exists(rounds) AND attribute_not_exists(version) AND :seen = :zero) OR rounds = :seen",
            )
        };
        let mut items = vec![self.update(item::lock_key(account), set, condition, values(&vals))?];
        for (date, day) in &plan.days {
            items.push(self.put(item::day_item(account, *date, *day), None)?);
        }
        for month in plan.months.values() {
            items.push(self.put(item::month_item(account, month), None)?);
        }
        if items.len() <= TRANSACTION_ITEMS_MAX {
            return Ok(Some(items));
        }
        if plan.applied.len() <= 1 {
            let needed = items.len();
            return Err(PortError::failure(format!("one posting needs {needed} transaction items, over the limit")));
        }
        Ok(None)
    }

    /// Writes the applied marks of `slots`, 25 to a `BatchWriteItem`, until DynamoDB has taken each.
    pub(super) async fn write_marks(
        &self,
        account: &AccountId,
        slots: &[Slot],
        now: Timestamp,
    ) -> Result<(), PortError> {
        for chunk in slots.chunks(BATCH_WRITE_MAX) {
            let mut requests = chunk
                .iter()
                .map(|slot| {
                    let put = PutRequest::builder().set_item(Some(item::mark_item(account, *slot, now))).build();
                    Ok(WriteRequest::builder().put_request(put.map_err(build)?).build())
                })
                .collect::<Result<Vec<_>, PortError>>()?;
            for attempt in 0..ROUND_ATTEMPTS_MAX {
                let out =
                    self.client.batch_write_item().request_items(&self.table, requests).send().await.map_err(sdk)?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                backoff(attempt).await;
            }
            if !requests.is_empty() {
                return Err(PortError::unavailable("BatchWriteItem left applied marks unwritten"));
            }
        }
        Ok(())
    }

    /// The closing balance of the latest month before `month`, or 0: one query of one item.
    pub(super) async fn prior_closing(&self, account: &AccountId, month: Date) -> Result<i64, PortError> {
        let q = super::dynamo::Query {
            index: None,
            condition: "PK = :pk AND SK BETWEEN :lo AND :hi",
            values: values(&[
                (":pk", s(item::pk(account))),
                (":lo", s("M#")),
                (":hi", s(item::month_sk(month.yesterday().unwrap_or(month)))),
            ]),
            forward: false,
        };
        let found = self.query(q, Some(1)).await?;
        found.first().map(|i| item::get_n(i, "closing")).transpose().map(Option::unwrap_or_default)
    }

    async fn months_from(&self, account: &AccountId, month: Date) -> Result<Vec<MonthRollup>, PortError> {
        let q = super::dynamo::Query {
            index: None,
            condition: "PK = :pk AND SK BETWEEN :lo AND :hi",
            values: values(&[(":pk", s(item::pk(account))), (":lo", s(item::month_sk(month))), (":hi", s("M#~"))]),
            forward: true,
        };
        self.query(q, None).await?.iter().map(item::month_from).collect()
    }
}

/// The months a round reads by key: from `first_month` to the latest month with a rollup, or that
/// latest month alone when it is earlier (its closing is the balance before `first_month`). `None`
/// when they must be read by query instead: the lock does not know its latest month (an account's
/// first round, or rollups written another way, as a restore does), or there are more than
/// [`MONTHS_READ_MAX`] of them.
fn months_to_read(first_month: Date, month_last: Option<Date>) -> Option<Vec<Date>> {
    let last = month_last?;
    if last < first_month {
        return Some(vec![last]);
    }
    let mut months = Vec::new();
    let mut month = first_month;
    while month <= last {
        if months.len() == MONTHS_READ_MAX {
            return None;
        }
        months.push(month);
        month = month.checked_add(jiff::Span::new().months(1)).ok()?;
    }
    Some(months)
}

/// The closing before `first_month` and the rollups from it on, from the months read by key. A
/// month's closing is the closing before it plus its own net, so the earliest rollup from
/// `first_month` on tells the closing before `first_month`; without one, the latest earlier month's
/// closing does.
fn split_months(
    first_month: Date,
    mut stored: BTreeMap<Date, MonthRollup>,
) -> Result<(i64, BTreeMap<Date, MonthRollup>), PortError> {
    let later = stored.split_off(&first_month);
    let prior = match later.values().next() {
        Some(r) => {
            let net = r.movement.net().map_err(|e| corrupt("month", e))?;
            r.closing.checked_sub(net).ok_or_else(|| corrupt("month", "closing out of range"))?
        }
        None => stored.values().next_back().map_or(0, |r| r.closing),
    };
    Ok((prior, later))
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::domain::balance::Movement;

    fn rollup(month: Date, credits: i64, closing: i64) -> MonthRollup {
        MonthRollup { month, movement: Movement { credits, debits: 0, entry_count: 1 }, closing }
    }

    #[test]
    fn a_round_reads_from_its_first_month_to_the_latest_or_the_latest_alone() {
        let (jan, feb, mar) = (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1));
        assert_eq!(months_to_read(feb, None), None, "the latest month unknown: by query");
        assert_eq!(months_to_read(mar, Some(jan)), Some(vec![jan]), "an earlier latest month gives the prior closing");
        assert_eq!(months_to_read(jan, Some(mar)), Some(vec![jan, feb, mar]));
        assert_eq!(months_to_read(date(2020, 1, 1), Some(mar)), None, "over 36 months back: by query");
    }

    #[test]
    fn the_closing_before_a_month_comes_from_the_first_rollup_from_it_or_the_last_before_it() {
        let (jan, feb, mar) = (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1));
        let stored = BTreeMap::from([(jan, rollup(jan, 100, 100)), (mar, rollup(mar, 30, 130))]);
        let (prior, later) = split_months(feb, stored.clone()).expect("split");
        assert_eq!((prior, later.keys().copied().collect::<Vec<_>>()), (100, vec![mar]), "March's 130 less its 30");
        let (prior, later) = split_months(date(2026, 4, 1), stored).expect("split");
        assert_eq!((prior, later.len()), (130, 0), "March's closing");
        assert_eq!(split_months(feb, BTreeMap::new()).expect("split"), (0, BTreeMap::new()));
    }
}
